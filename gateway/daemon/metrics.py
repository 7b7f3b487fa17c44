"""In-process metrics for the Prometheus text format (no client library).

Counts that live in the store (messages per stage and clinic, queue depth,
processing latency) are read from it at scrape time, so they are right for
every worker process and every node; what only this process sees (MLLP ACK
latency, journal commits) is kept here.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Sequence

LATENCY_BOUNDS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in sorted(labels.items())
    )
    return "{" + inner + "}"


class Histogram:
    def __init__(self, name: str, help: str, bounds: Sequence[float] = LATENCY_BOUNDS) -> None:
        self.name, self.help, self.bounds = name, help, tuple(bounds)
        self._lock = threading.Lock()
        self._series: dict[tuple[tuple[str, str], ...], list[float]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            s = self._series.setdefault(key, [0.0] * (len(self.bounds) + 2))
            s[bisect.bisect_left(self.bounds, value)] += 1
            s[-1] += value

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            items = [(dict(k), list(v)) for k, v in self._series.items()]
        for labels, s in items:
            out += histogram_lines(self.name, labels, self.bounds, s[: len(self.bounds) + 1], s[-1])
        return out


def histogram_lines(
    name: str, labels: dict[str, str], bounds: Sequence[float], per_bucket: Sequence[float], total: float
) -> list[str]:
    """Histogram series from per-bucket counts (last entry: above every bound)."""
    out, running = [], 0.0
    for b, n in zip((*bounds, float("inf")), per_bucket, strict=True):
        running += n
        le = "+Inf" if b == float("inf") else repr(b)
        out.append(f"{name}_bucket{_labels({**labels, 'le': le})} {int(running)}")
    out.append(f"{name}_sum{_labels(labels)} {total}")
    out.append(f"{name}_count{_labels(labels)} {int(running)}")
    return out


class Counter:
    def __init__(self, name: str, help: str) -> None:
        self.name, self.help = name, help
        self._lock = threading.Lock()
        self._values: dict[tuple[tuple[str, str], ...], float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with self._lock:
            out += [f"{self.name}{_labels(dict(k))} {v:g}" for k, v in self._values.items()]
        return out


def gauge(name: str, help: str, samples: Iterable[tuple[dict[str, str], float]]) -> list[str]:
    return [f"# HELP {name} {help}", f"# TYPE {name} gauge"] + [f"{name}{_labels(lb)} {v:g}" for lb, v in samples]


#: this process's own metrics (sources and the journal report here)
ACK_LATENCY = Histogram("gateway_ack_latency_seconds", "Time from a complete inbound frame to the reply sent")
JOURNALED = Counter("gateway_journaled_total", "Messages journaled, by source type and outcome")
