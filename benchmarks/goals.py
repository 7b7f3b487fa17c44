"""Issue 18's goals (and issue 13's posting goals) in one table: each
benchmark that measures a goal records it here, and ``python -m
benchmarks`` prints the table last.

A goal a run did not measure says so ("not measured here"); nothing is
reported as passed that was not measured in the same run."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from types import ModuleType


@dataclass
class Goal:
    goal: str
    target: str
    measured: str
    passed: bool | None  # None: not measured in this run


#: every goal of issue 18, in the issue's order, with what this run measured
GOALS: dict[str, Goal] = {
    key: Goal(text, target, "not measured here" if key in ("help", "inspect") else "not measured in this run", None)
    for key, text, target in (
        ("hl7", "HL7 v2 → 837P end to end (gateway process, whole process)", "≥ 3× hl7.parse"),
        ("fhir", "FHIR → 837P end to end (Synthea corpus, start-up excluded)", "≤ 1.5× R4B validate"),
        ("help", "start-up: gateway --help (benchmarks/bench_startup.py)", "≤ 3× import click"),
        ("inspect", "start-up: gateway inspect of one HL7 file", "≤ 3× import pydantic"),
        ("daemon1", "durable daemon, 1 worker (gateway run, folder, SQLite, fsync)", "≥ 0.6× one-shot"),
        ("daemon2", "durable daemon, 2 workers", "≥ 1.5× 1 worker"),
        ("memory_process", "memory: gateway process, 1,000,000 messages", "< 300 MB RSS"),
        ("memory_daemon", "memory: daemon RSS over many messages", "flat"),
        ("statements", "statements: one-page PDFs per second", "≥ 300/s"),
        ("scaling", "scaling: 1k/10k/100k messages, 837s of 10/1,000/5,000 claims", "no superlinear step"),
        # issue 13 (benchmarks/bench_posting.py)
        ("posting", "issue 13: post an 835 of 10,000 claims durably (SQLite, fsync)", "≥ 2× edi-835-parser"),
        ("posting_memory", "issue 13: posting memory in the file size (peak RSS rise)", "flat"),
        ("posting_floor", "issue 13: what the store's rows alone allow (bench_posting_floor)", "≥ 2× edi-835-parser"),
    )
}


def record(key: str, measured: str, passed: bool | None) -> None:
    """What a benchmark measured for goal ``key`` (see :data:`GOALS`)."""
    GOALS[key].measured = measured
    GOALS[key].passed = passed


def watch_startup(bench_startup: ModuleType) -> None:
    """Record the start-up goals from benchmarks/bench_startup.py (the
    start-up work's own benchmark) as it runs: its ``run(rounds)`` gives the
    times of ``python -c 'import click'``, ``gateway --help``, ``python -c
    'import pydantic'`` and ``gateway inspect``, in that order. Without that
    benchmark these goals stay "not measured here"."""
    run = getattr(bench_startup, "run", None)
    if run is None:
        return

    def recording(rounds: int) -> dict[str, list[float]]:
        times = run(rounds)
        names = list(times)
        goal = getattr(bench_startup, "GOAL", 3.0)
        for key, what, base in (("help", names[1], names[0]), ("inspect", names[3], names[2])):
            ratio = statistics.median(times[what]) / statistics.median(times[base])
            cpu = getattr(bench_startup, "CPU", {})
            also = f", {statistics.median(cpu[what]) / statistics.median(cpu[base]):.2f}× CPU" if cpu.get(what) else ""
            record(key, f"{ratio:.2f}× wall{also} (median of {rounds})", ratio <= goal)
        return times

    bench_startup.run = recording  # type: ignore[attr-defined]


def print_summary() -> None:
    print("\nIssue 18 (and 13) goals (ratios against baselines measured in the same run)")
    header = f"{'goal':<64} {'target':<22} {'measured':<44} {'result':>6}"
    print(header)
    print("-" * len(header))
    for g in GOALS.values():
        result = "n/a" if g.passed is None else "pass" if g.passed else "FAIL"
        print(f"{g.goal:<64} {g.target:<22} {g.measured:<44} {result:>6}")
