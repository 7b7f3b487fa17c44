"""The patient side's cost (issue 14): posting an 835 whose claims leave
patient shares (guarantor account rows, ``patient_due``) next to the same
posting with the patient side switched off (the baseline, same run, same
code), and a payment import of N rows applied to those accounts.

    .venv/bin/python -m benchmarks.bench_accounts [--quick]

Wall-clock seconds, medians of 3; a fresh SQLite store per posting (fsync on
commit). The remit is bench_posting's: 2 or 3 lines a claim, CO-45 and
PR-1/PR-2 on some.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from unittest import mock

from benchmarks._util import Measurement, print_table
from benchmarks.bench_posting import Poster
from benchmarks.bench_remit import remit_file
from gateway.app import Gateway
from gateway.examples import write_example_deployment
from gateway.store.accounts import PatientPayment
from gateway.store.sql_accounts import SQLAccounts
from gateway.worker import tune_gc


def _timed(name: str, n: int, runs: list[Callable[[], object]]) -> Measurement:
    times = []
    for fn in runs:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return Measurement(name, n, times)


def _off(poster: Poster) -> Callable[[], object]:
    """Post with the patient side switched off (no account rows, claims left as posting closes them)."""

    def run() -> object:
        with mock.patch.object(SQLAccounts, "_bill_patients", lambda *a: None), \
             mock.patch.object(SQLAccounts, "_unbill_patient", lambda *a: None):  # fmt: skip
            return poster.post()

    return run


def main(quick: bool = False) -> None:
    tune_gc()
    n = 2_000 if quick else 10_000
    repeat = 3
    data = remit_file(n)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gw = Gateway.from_config(write_example_deployment(root / "deploy"))
        posters = []
        for i in range(2 * repeat + 1):
            (root / f"s{i}").mkdir()
            posters.append(Poster(gw, root / f"s{i}", data, n))
        posters[0].post()  # warm-up
        # alternate: on, off, on, off… so both see the same machine
        on_runs, off_runs = posters[1::2], posters[2::2]
        on_times, off_times = [], []
        for on, off in zip(on_runs, off_runs, strict=True):
            t0 = time.perf_counter()
            on.post()
            on_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            _off(off)()
            off_times.append(time.perf_counter() - t0)
        with_patient = Measurement(f"post {n} claims, patient side on", n, on_times)
        baseline = Measurement(f"post {n} claims, patient side off (baseline)", n, off_times)
        store = on_runs[0].store
        due = store.accounts_due("riverside")
        billed = sum(1 for _ in due)
        with store.read() as cur:
            cur.execute("SELECT COUNT(*) FROM account_ledger")
            rows = int(cur.fetchone()[0])
        imports = []
        for k in range(repeat):
            payments = [PatientPayment(i + 2, "riverside", d.account, date(2026, 11, 20), Decimal("1.00"), "check",
                                       f"R{k}-{i}") for i, d in enumerate(due)]  # fmt: skip
            imports.append(lambda p=payments: store.post_payments(p, "bench"))
        imported = _timed(f"payments import, {len(due)} rows (1 per account)", len(due), imports)
        for p in posters:
            p.store.close()
    print_table("835 claims per second (wall clock, median; posting commits with fsync)", [with_patient, baseline],
                baseline)  # fmt: skip
    print(f"runs, seconds: on {[round(t, 2) for t in on_times]}, off {[round(t, 2) for t in off_times]}")
    print(f"{billed} account(s) with a balance, {rows} account ledger row(s) after one posting")
    print_table("payment import rows per second (median, one transaction each)", [imported])


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
