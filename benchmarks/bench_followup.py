"""The operator reports on a large store: 200,000 claims in SQLite
(``--quick``: 20,000) over 20 clinics and 5 payers, delivered over 120 days;
85 % closed, 5 % denied, 10 % waiting for a 999/277CA or an 835; 1 % sent
twice (rejected by a 277CA, then again).

Timed, median of 5: the ``gateway_clinic_claims_without_response`` samples a
/metrics scrape computes (``gateway.store.reports_sql``: only the waiting
claims), AR aging and the follow-up list (``open_balances``: every claim
still owed). Baseline in the same run: the metric computed the plain way,
from every open balance.
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks._util import Measurement, measure, print_ms_table
from gateway.adjustment_codes import shipped_codes
from gateway.claim_reports import aging, follow_up_days, follow_up_list, positions, without_response_counts
from gateway.reports import without_response
from gateway.store import SQLiteStore

CLINICS = [f"clinic{i:02d}" for i in range(20)]
PAYERS = [f"PAYER{i}" for i in range(5)]


def fill(store: SQLiteStore, n: int) -> None:
    rnd = random.Random(11)
    now = time.time()
    with store.write() as cur:
        cur.execute("INSERT INTO messages (scope, sha256, size, source, clinic_id, status, findings, received_at, "
                    "updated_at, processed_at) VALUES ('s', 'x', 1, 'bench', 'clinic00', 'processed', '[]', "
                    "?, ?, ?)", (now, now, now))  # fmt: skip
        mid = cur.lastrowid
        cur.execute("INSERT INTO encounters (message_id, idx, clinic_id, status, encounter, findings, created_at) "
                    "VALUES (?, 0, 'clinic00', 'processed', '{}', '[]', ?)", (mid, now))  # fmt: skip
        enc = cur.lastrowid
        outbox: dict[int, int] = {}
        claims, balances = [], []
        for i in range(n):
            day = int(120 * i / n)
            clinic = CLINICS[i % len(CLINICS)]
            if day not in outbox:
                delivered = now - (120 - day) * 86400
                cur.execute("INSERT INTO outbox (destination, kind, clinic_id, name, media_type, content, sha256, "
                            "size, status, next_attempt, created_at, updated_at, delivered_at) VALUES ('d', 'claims', "
                            "?, ?, 'x', X'00', 'x', 1, 'delivered', ?, ?, ?, ?)",
                            (clinic, f"f{day}", delivered, delivered, delivered, delivered))  # fmt: skip
                outbox[day] = cur.lastrowid
            roll = rnd.random()
            status = ("closed" if roll < 0.85 else "denied" if roll < 0.90 else "acknowledged_277" if roll < 0.95
                      else "accepted_999" if roll < 0.98 else "delivered")  # fmt: skip
            clm01 = f"C{i:08d}"
            versions = [("rejected_277", 1), (status, 2)] if rnd.random() < 0.01 else [(status, 1)]
            for st, version in versions:
                claims.append((clinic, clm01, 1, version, "1", enc, mid, rnd.choice(PAYERS), "100.00", st, "{}",
                               outbox[day], now, now))  # fmt: skip
            if status in ("closed", "denied"):
                balance = "0.00" if status == "closed" else "100.00"
                paid = "80.00" if status == "closed" else "0.00"
                balances.append((clinic, clm01, 1, 0, "100.00", paid, balance, now, now))
        cur.executemany(
            "INSERT INTO claims (clinic_id, clm01, payer_seq, version, frequency_code, encounter_row, message_id, "
            "payer_id, total_charge, status, claim, outbox_id, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            claims,
        )
        cur.executemany(
            "INSERT INTO claim_balances (clinic_id, clm01, payer_seq, claim_row, charge, paid, balance, "
            "last_response_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            balances,
        )


def main(quick: bool = False) -> None:
    n = 20_000 if quick else 200_000
    today = datetime.now(UTC).date()
    clinics: dict = {}
    days_for = follow_up_days(clinics)
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "gateway.sqlite")
        t0 = time.perf_counter()
        fill(store, n)
        filled = time.perf_counter() - t0

        def plain() -> object:
            return without_response(positions(store, with_rejected=False, with_denials=False), today, days_for)

        fast = dict(((lb["clinic"], lb["awaiting"]), v) for lb, v in without_response_counts(store, clinics, today))
        slow = plain()
        assert {k: v for k, v in fast.items() if v} == slow, "the two ways disagree"
        cases = [
            ("baseline: metric from every open balance", plain),
            ("metric: waiting claims only (reports_sql)", lambda: without_response_counts(store, clinics, today)),
            ("AR aging (all clinics)", lambda: aging(store, today)),
            ("follow-up list (all clinics)", lambda: follow_up_list(store, clinics, shipped_codes(), today)),
            ("follow-up list (1 clinic)", lambda: follow_up_list(store, clinics, shipped_codes(), today, "clinic07")),
        ]
        rows: list[Measurement] = [measure(name, fn, 1, repeat=5) for name, fn in cases]
        store.close()
    title = f"Operator reports on {n:,} claims (SQLite; filled in {filled:.1f} s; 10 % waiting, 5 % denied)"
    print_ms_table(title, rows)


if __name__ == "__main__":
    import sys

    main("--quick" in sys.argv)
