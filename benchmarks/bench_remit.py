"""835 reading speed and memory: an 835 with 10,000 claims read (parse +
balance checks) into the typed models, next to edi-835-parser's plain parse
of the same file in the same run (the baseline).

    .venv/bin/python -m benchmarks.bench_remit [--quick]

Times are CPU seconds of this process (medians), so other work on the shared
machine disturbs them less. Peak RSS is measured in a fresh process per cell
(``--rss MODE FILE``): how far the peak rises over the RSS before the read,
the file's bytes (the input) already loaded, for 1,000, 10,000 and 50,000
claims, to show what grows with the file. The issue's goal for durable
posting is ≥ 2× edi-835-parser's parse speed with memory flat in the file
size; posting streams (``stream_responses``).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import warnings
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from gateway_plugins.inbound.x12_responses import read_responses, stream_responses
from gateway_plugins.inbound.x12_responses.write import Party, interchange, remit_segments

from benchmarks._util import Measurement, measure, print_table
from gateway.model import (
    Address,
    Adjustment,
    PersonName,
    ProviderAdjustment,
    Remit835,
    RemitClaim,
    RemitLine,
    RemitParty,
    RemitPayment,
    X12Control,
)

CODES = ("99213", "99214", "87880", "36415", "93000", "90686")
DAY = date(2026, 10, 5)


def _line(i: int, k: int) -> RemitLine:
    charge = Decimal(60 + (i * 7 + k * 13) % 140)
    allowed = (charge * Decimal("0.70")).quantize(Decimal("0.01"))
    adj = [Adjustment(group="CO", reason="45", amount=charge - allowed, segment=0)]
    patient = Decimal(0)
    if i % 3 == 1:
        patient = (allowed * Decimal("0.20")).quantize(Decimal("0.01"))
        adj.append(Adjustment(group="PR", reason="2", amount=patient, segment=0))
    elif i % 3 == 2 and k == 0:
        patient = min(Decimal("20.00"), allowed)
        adj.append(Adjustment(group="PR", reason="1", amount=patient, segment=0))
    return RemitLine(
        qualifier="HC", procedure=CODES[(i + k) % len(CODES)], charge=charge, paid=allowed - patient,
        units=Decimal(1), service_date=DAY, control_number=f"B{i:08d}-{k + 1}", allowed=allowed, adjustments=adj,
        segment=0,
    )  # fmt: skip


def remit(claims: int) -> Remit835:
    """A balanced remit: ``claims`` claims of 2 or 3 lines (CO-45, some PR-1/PR-2), one PLB."""
    out = []
    for i in range(claims):
        lines = [_line(i, k) for k in range(2 + i % 2)]
        pr = sum((a.amount for ln in lines for a in ln.adjustments if a.group == "PR"), Decimal(0))
        out.append(
            RemitClaim(
                claim_id=f"B{i:08d}", status="1", status_text="", charge=sum((ln.charge for ln in lines), Decimal(0)),
                paid=sum((ln.paid for ln in lines), Decimal(0)), patient_responsibility=pr, filing_indicator="12",
                payer_claim_id=f"ICN{i:010d}", patient=PersonName(family="EXAMPLE", given="PAT"),
                member_id=f"M{i:09d}", lines=lines, segment=0,
            )
        )  # fmt: skip
    plb = [ProviderAdjustment(provider_id="1234567893", fiscal_period=date(2026, 12, 31), reason="L6",
                              amount=Decimal("-2.50"), segment=0)]  # fmt: skip
    total = sum((c.paid for c in out), Decimal(0)) + Decimal("2.50")
    return Remit835(
        control=X12Control(interchange="", sender="", receiver="", segment=0),
        payment=RemitPayment(handling="I", amount=total, method="ACH", payment_format="CCP",
                             payment_date=date(2026, 11, 1), trace_number="EFT0001", originator="1999999999",
                             segment=0),
        payer=RemitParty(name="EXAMPLE HEALTH PLAN", payer_id="EXPAYER1", segment=0, address=Address(
            lines=["PO BOX 1000"], city="SPRINGFIELD", state="IL", postal_code="62701")),
        payee=RemitParty(name="RIVERSIDE FAMILY PRACTICE", id_qualifier="XX", id="1234567893", npi="1234567893",
                         segment=0),
        claims=out, provider_adjustments=plb,
    )  # fmt: skip


def remit_file(claims: int) -> bytes:
    sets = [remit_segments(remit(claims))]
    created = datetime(2026, 11, 1, 6, 0)
    text = interchange("835", sets, sender=Party("EXPAYER1"), receiver=Party("EXBILL01"), control=1, created=created)
    return text.encode()


def _edi_parse(path: Path) -> int:
    import edi_835_parser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns for every segment it does not handle
        return len(edi_835_parser.parse(str(path)).transaction_sets[0].claims)


def _read(data: bytes) -> int:
    batch = read_responses(data)
    assert not batch.findings and not batch.documents[0].findings, "benchmark file must balance"
    return len(batch.documents[0].claims)  # type: ignore[union-attr]


def _stream(data: bytes) -> int:
    return sum(1 for item in stream_responses(data) if type(item).__name__ == "RemitClaim")


def _status(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS now, VmHWM the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_child(mode: str, path: Path) -> None:
    """Print how far the peak RSS (KiB) rose over the RSS before ``mode`` read
    the file at ``path`` (the peak is reset first: /proc/self/clear_refs)."""
    if mode == "edi":
        import edi_835_parser  # noqa: F401  (imported before the baseline is taken)
    raw = path.read_bytes()  # the input: the store hands the reader these bytes (edi-835-parser reads the path)
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status("VmRSS")
    {"edi": lambda: _edi_parse(path), "read": lambda: _read(raw), "stream": lambda: _stream(raw)}[mode]()
    print(_status("VmHWM") - before)


def _rss(mode: str, path: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_remit", "--rss", mode, str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(out.stdout.split()[-1]) / 1024


def main(quick: bool = False) -> None:
    n = 2_000 if quick else 10_000
    repeat = 3 if quick else 5
    data = remit_file(n)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "remit.835"
        path.write_bytes(data)
        assert _edi_parse(path) == n and _read(data) == n and _stream(data) == n
        cpu = time.process_time
        baseline = measure(f"edi-835-parser parse ({n} claims)", lambda: _edi_parse(path), n, repeat, clock=cpu)
        rows: list[Measurement] = [
            measure(f"read_responses: typed + balanced ({n})", lambda: _read(data), n, repeat, clock=cpu),
            measure(f"stream_responses: claim by claim ({n})", lambda: _stream(data), n, repeat, clock=cpu),
            baseline,
        ]
    print_table("835 claims read per second (one core, CPU time, median)", rows, baseline)
    print(f"\nfile of {n:,} claims: {len(data):,} bytes; goal: well above 2x the baseline")
    print("\npeak RSS growth while reading, MiB (a fresh process per cell; the file's bytes, the input, excluded)")
    sizes = (1_000, n, 5 * n)
    print(f"{'what':<28}" + "".join(f"{f'{size:,} claims':>16}" for size in sizes))
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for size in sizes:
            paths.append(Path(tmp) / f"remit-{size}.835")
            paths[-1].write_bytes(remit_file(size))
        rows_rss = (("read", "read_responses (typed)"), ("stream", "stream_responses"), ("edi", "edi-835-parser"))
        for mode, label in rows_rss:
            # the largest file only streamed: collecting it would take GBs of the shared machine
            cells = [_rss(mode, p) if mode == "stream" or p != paths[-1] else None for p in paths]
            print(f"{label:<28}" + "".join(f"{c:>16.1f}" if c is not None else f"{'—':>16}" for c in cells))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--rss":
        rss_child(sys.argv[2], Path(sys.argv[3]))
    else:
        main(quick="--quick" in sys.argv)
