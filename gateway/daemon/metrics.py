"""In-process metrics for the Prometheus text format (no client library).

Counts that live in the store (messages per stage and clinic, queue depth,
processing latency) are read from it at scrape time, so they are right for
every worker process and every node; what only this process sees (MLLP ACK
latency, journal commits) is kept here.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.store.sqlstore import SQLStore

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


def render_metrics(store: SQLStore, clinics: dict[str, Any] | None = None) -> str:
    """The Prometheus text exposition: store-wide metrics (read at scrape time,
    right for every process and node), per-clinic alerting metrics and this
    process's own (docs/console.md, docs/alerts/). ``clinics`` (the config in
    force) gives the payer directories' follow-up days for
    ``gateway_clinic_claims_without_response`` (defaults without it)."""
    from gateway.claim_reports import without_response_counts
    from gateway.delivery.outbox import metric_lines as outbox_metric_lines
    from gateway.store.views import Views

    counts = store.counts()
    lines = gauge(
        "gateway_messages",
        "Messages by clinic and stage (status)",
        (({"clinic": c or "", "status": s}, n) for c, s, n in counts),
    )
    depth = sum(n for _, s, n in counts if s == "received")
    lines += gauge("gateway_queue_depth", "Messages waiting for a worker", [({}, depth)])
    oldest = store.oldest_pending()
    lines += gauge(
        "gateway_oldest_pending_seconds",
        "Age of the oldest waiting message",
        [({}, time.time() - oldest if oldest else 0)],
    )
    cumulative, total, count = store.latency_histogram(LATENCY_BOUNDS)
    per_bucket = [b - a for a, b in zip([0, *cumulative], cumulative, strict=False)] + [
        count - (cumulative[-1] if cumulative else 0)
    ]
    lines += [
        "# HELP gateway_processing_latency_seconds Time from journaled to processed, per message",
        "# TYPE gateway_processing_latency_seconds histogram",
    ]
    lines += histogram_lines("gateway_processing_latency_seconds", {}, LATENCY_BOUNDS, per_bucket, total)
    lines += ACK_LATENCY.render() + JOURNALED.render()
    lines += outbox_metric_lines(store)
    lines += clinic_metric_lines(Views(store))
    lines += gauge(
        "gateway_clinic_claims_without_response",
        "Delivered claims with no 999/277CA (awaiting=ack) or no 835 (awaiting=remit) past their payer's "
        "follow-up days (payer directory follow_up), per clinic",
        without_response_counts(store, clinics or {}),
    )
    return "\n".join(lines) + "\n"


def clinic_metric_lines(views: Any) -> list[str]:
    """Per-clinic series an operator alerts on (docs/alerts/gateway.rules.yml)."""
    from gateway.store.views import EVERYTHING

    now = time.time()
    lines = gauge(
        "gateway_last_received_timestamp_seconds",
        "When the newest message arrived, per clinic and source type (Unix time)",
        (({"clinic": c or "", "source": s}, t) for c, s, t in views.last_received()),
    )
    lines += gauge(
        "gateway_quarantined_messages",
        "Quarantined messages per clinic and rule id (a message counts under each of its error rules)",
        (({"clinic": c or "", "rule": r}, n) for c, r, n, _ in views.quarantine_groups(EVERYTHING)),
    )
    outbox = views.outbox_by_clinic()
    lines += gauge(
        "gateway_clinic_outbox_documents",
        "Outbox documents per clinic and state (pending, delivered, dead)",
        (({"clinic": c, "status": s}, n) for c, s, n, _ in outbox),
    )
    lines += gauge(
        "gateway_clinic_outbox_oldest_pending_seconds",
        "Age of the clinic's oldest document waiting for delivery",
        (({"clinic": c}, now - t) for c, s, _, t in outbox if s == "pending" and t is not None),
    )
    return lines
