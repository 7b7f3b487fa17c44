"""Statement PDF rendering speed on one core.

Renders the demo's statements with the ``pdf`` renderer (one PDF per
account, logo and clinic wording) and compares with two baselines measured
in the same run: the ``statements-json`` renderer on the same statements,
and the PDF of a one-line statement (the fixed cost of a page). Also the
64-line two-page statement, the print batch (combined PDF + index) and an
encrypted PDF (AES-256, pypdf).

    .venv/bin/python -m benchmarks.bench_statements [--quick]
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from benchmarks import goals
from benchmarks._util import Measurement, measure, print_table
from gateway.app import Gateway
from gateway.claims import merge_statements
from gateway.documents import MemoryControlNumbers, RenderContext
from gateway.examples import FIXTURES, write_example_deployment
from gateway.model import Statement
from gateway.oneshot import Run

#: issue 18: one-page statement PDFs per second (CPU time: the machine is shared)
GOAL = 300
INPUTS = (
    "riverside-selfpay-long.json",
    "riverside-insured-selfpay-line.json",
    "lakeside-selfpay.json",
    "lakeside-family-selfpay.json",
)


def _statements(gw: Gateway) -> list[Statement]:
    run = Run(gateway=gw, today=date(2026, 11, 27))
    for name in INPUTS:
        run.process_bytes((FIXTURES / "encounters" / name).read_bytes(), name)
    return [st for items in run.statements.values() for st in merge_statements(items)]


def main(quick: bool = False) -> tuple[Measurement, Measurement]:
    """Prints the tables; returns (JSON renderer, one-page PDF) in CPU time,
    statements per second (issue 18's month-end goal: ≥ 300 PDFs/s)."""
    repeat = 3 if quick else 7
    copies = 2 if quick else 10
    with tempfile.TemporaryDirectory() as tmp:
        gw = Gateway.from_config(write_example_deployment(Path(tmp) / "deployment"))
        statements = _statements(gw)
        by_clinic: dict[str, list[Statement]] = {}
        for st in statements:
            by_clinic.setdefault(st.clinic_id, []).append(st)

        def ctx(name: str, **settings: object) -> RenderContext:
            model = gw.registries.renderers[name][0].settings_model
            return RenderContext(
                created=datetime(2026, 11, 27, tzinfo=UTC),
                config=gw.config,
                control_numbers=MemoryControlNumbers(),
                settings=model.model_validate(settings) if model else None,
                clinics=gw.clinics,
            )

        def run(name: str, batches: dict[str, list[Statement]], times: int, **settings: object):
            renderer = gw.registries.renderers[name][0]
            c = ctx(name, **settings)

            def go() -> None:
                for _ in range(times):
                    for items in batches.values():
                        renderer.render(items, c)

            return go

        n = len(statements) * copies
        long = next(st for st in statements if len(st.lines) > 50)
        one = long.model_copy(update={"id": "ONE", "lines": long.lines[:1]})
        rows = [
            measure("baseline: statements-json renderer", run("statements-json", by_clinic, copies), n, repeat),
            measure("baseline: PDF of a one-line statement", run("pdf", {"r": [one]}, n), n, repeat),
            measure("pdf: demo statements (1-2 pages, logo)", run("pdf", by_clinic, copies), n, repeat),
            measure("pdf: 64-line statement (2 pages)", run("pdf", {"r": [long]}, copies * 2), copies * 2, repeat),
            measure("pdf-print-batch: combined PDF + index CSV", run("pdf-print-batch", by_clinic, copies), n, repeat),
        ]
        cpu = [
            measure("statements-json renderer, CPU", run("statements-json", by_clinic, copies), n, repeat,
                    clock=time.process_time),
            measure("pdf: one-page statement, CPU", run("pdf", {"r": [one]}, n), n, repeat, clock=time.process_time),
        ]  # fmt: skip
        gw.clinics["riverside"].resources["statements_pdf"] = _encrypting(gw)
        rows.append(
            measure(
                "pdf: AES-256 encrypted (pypdf)",
                run("pdf", {"r": by_clinic["riverside"]}, copies),
                len(by_clinic["riverside"]) * copies,
                repeat,
            )
        )
    print_table("Statement rendering, one core (statements/s)", rows, baseline=rows[0])
    pdf, one_line = rows[2], rows[1]
    print(f"\n{len(statements)} demo statements; PDF costs {pdf.median / n * 1e3:.1f} ms per statement (median),")
    print(f"{one_line.per_second / pdf.per_second:.2f}x the time of a one-line statement.")
    print_table("The same in CPU time (less disturbed by other processes)", cpu, baseline=cpu[0])
    goal = "meets" if cpu[1].per_second >= GOAL else "MISSES"
    print(f"one-page statement PDFs: {cpu[1].per_second:,.0f}/s of CPU; goal ≥ {GOAL}/s: {goal}")
    wall = rows[1].per_second
    measured = f"{cpu[1].per_second:,.0f}/s CPU, {wall:,.0f}/s wall (JSON {cpu[0].per_second:,.0f}/s)"
    goals.record("statements", measured, cpu[1].per_second >= GOAL)
    return cpu[0], cpu[1]


def _encrypting(gw: Gateway):
    from dataclasses import replace

    brand = gw.clinics["riverside"].resources["statements_pdf"]
    return replace(brand, encryption=brand.encryption.model_copy(update={"enabled": True}))


if __name__ == "__main__":
    main("--quick" in sys.argv)
