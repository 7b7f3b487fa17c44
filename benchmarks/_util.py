"""Helpers for benchmarks: repeated timing with medians, and a table printer.

Quote medians and ratios against a baseline measured in the same run; the
machine is shared and noisy.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass
class Measurement:
    name: str
    items: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def per_second(self) -> float:
        return self.items / self.median if self.median else float("inf")


def measure(
    name: str,
    fn: Callable[[], object],
    items: int,
    repeat: int = 5,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> Measurement:
    """Run ``fn`` (which handles ``items`` items) ``repeat`` times after
    warm-up; ``clock`` may be ``time.process_time`` for CPU-bound work."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return Measurement(name, items, times)


def print_table(title: str, rows: list[Measurement], baseline: Measurement | None = None) -> None:
    """Print items/s (median), per-item time and the ratio to ``baseline``."""
    print(f"\n{title}")
    header = f"{'what':<44} {'items/s (median)':>17} {'µs/item':>10} {'vs baseline':>12}"
    print(header)
    print("-" * len(header))
    for m in rows:
        ratio = f"{m.per_second / baseline.per_second:>11.2f}x" if baseline else ""
        print(f"{m.name:<44} {m.per_second:>17,.0f} {1e6 / m.per_second:>10.1f} {ratio:>12}")


def measure_pipeline(gateway: object, messages: Sequence[bytes], meta: object, name: str) -> Measurement:
    """Baseline shared by the I/O benchmarks: the same messages through the
    pure pipeline alone (no store, no transport), three runs."""
    from gateway.messages import MemoryRecords

    def run() -> None:
        records = MemoryRecords()
        for m in messages:
            gateway.pipeline.process(m, meta, records)  # type: ignore[attr-defined]

    return measure(name, run, len(messages), repeat=3)


def print_ms_table(title: str, rows: list[Measurement]) -> None:
    """``title``, then each row's median in ms and its ratio to the first row (the baseline)."""
    print(f"\n{title}")
    print(f"{'what':<46} {'ms (median of 5)':>17} {'vs baseline':>12}")
    base = rows[0].median
    for m in rows:
        print(f"{m.name:<46} {m.median * 1000:>17.1f} {m.median / base:>11.2f}x")
