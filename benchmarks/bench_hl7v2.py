"""HL7 v2 throughput: DFT^P03 → canonical Encounter per second on one core,
next to hl7apy's full parse and python-hl7's parse of the same messages,
measured in the same run (the machine is shared: quote medians and ratios).

    .venv/bin/python -m benchmarks.bench_hl7v2 [--quick]
"""

from __future__ import annotations

import os
import sys
import tracemalloc
from pathlib import Path

import hl7
from gateway_plugins.inbound.hl7v2.fieldmap import default_map
from gateway_plugins.inbound.hl7v2.parse import parse
from gateway_plugins.inbound.hl7v2.settings import Hl7v2Settings
from hl7apy.parser import parse_message

from benchmarks._util import measure, print_table
from gateway.messages import MemoryRecords

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hl7v2"
SAMPLE = FIXTURES / "dft_p03_v25_cpt_modifiers.hl7"


def messages(n: int) -> list[bytes]:
    """``n`` distinct DFT^P03 messages (control id and visit number vary)."""
    base = SAMPLE.read_bytes()
    return [
        base.replace(b"RV-DFT-0001", f"RV-B-{i:06d}".encode()).replace(b"|V10001|", f"|V{i:06d}|".encode())
        for i in range(n)
    ]


def run_gateway(batch: list[bytes]) -> None:
    settings, fm, records = Hl7v2Settings(), default_map(), MemoryRecords()
    for raw in batch:
        result = parse(raw, settings, fm, "riverside", records)
        assert result.encounters


def memory_per_message(batch: list[bytes]) -> tuple[float, float]:
    """Peak traced memory (KiB) while parsing 10 % and 100 % of ``batch``:
    equal figures mean memory per message is flat (nothing accumulates)."""
    out = []
    for part in (batch[: len(batch) // 10], batch):
        tracemalloc.start()
        run_gateway(part)
        out.append(tracemalloc.get_traced_memory()[1] / 1024)
        tracemalloc.stop()
    return out[0], out[1]


def main(quick: bool = False) -> None:
    n_fast, n_mid, n_slow = (500, 100, 5) if quick else (5000, 500, 30)
    repeat = 3 if quick else 5
    fast = messages(n_fast)
    mid, slow = [m.decode() for m in fast[:n_mid]], [m.decode() for m in fast[:n_slow]]
    gateway = measure("gateway hl7v2 plugin: DFT^P03 → Encounter", lambda: run_gateway(fast), n_fast, repeat)
    python_hl7 = measure("python-hl7 hl7.parse (tree only)", lambda: [hl7.parse(t) for t in mid], n_mid, repeat)
    hl7apy = measure("hl7apy parse_message (tree only)", lambda: [parse_message(t) for t in slow], n_slow, repeat)
    print_table("HL7 v2 DFT^P03, one core (baseline: hl7apy full parse)", [gateway, python_hl7, hl7apy], hl7apy)
    small, full = memory_per_message(fast)
    print(f"\npeak memory parsing {n_fast // 10} vs {n_fast} messages: {small:,.0f} KiB vs {full:,.0f} KiB")
    target = 5000
    verdict = "meets" if gateway.per_second >= target else "MISSES"
    print(f"target ≥ {target:,}/s on one core: {verdict} ({gateway.per_second:,.0f}/s)")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main("--quick" in sys.argv)
