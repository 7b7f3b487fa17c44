"""The outbox as the delivery code sees it: every document is stored in the
store's ``outbox`` table before it is delivered (see
:class:`gateway.store.outbox.DeliveryStore` for what the store guarantees and
:mod:`gateway.store.sql_delivery` for the SQL). This module holds what is not
SQL: who holds a row, releasing rows of dead processes, the metrics.
"""

from __future__ import annotations

import os
import socket
import time

from gateway.store import Store
from gateway.store.outbox import DEAD, DELIVERED, PENDING, OutboxItem, OutboxRow
from gateway.transport import local_process_gone

__all__ = [
    "DEAD",
    "DELIVERED",
    "PENDING",
    "RESPONSE_FORMAT",
    "RESPONSE_STATUS",
    "OutboxItem",
    "OutboxRow",
    "dead_local_holder",
    "metric_lines",
    "node_id",
    "release_orphans",
]

#: status of journaled clearinghouse responses: the work queue (the workers post them)
RESPONSE_STATUS = "received"
RESPONSE_FORMAT = "x12-response"


def node_id(role: str = "dispatch") -> str:
    """``host:pid:role`` — who holds an outbox row."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}"


def dead_local_holder(holder: str) -> bool:
    """Whether ``holder`` (``host:pid:role``) is a process of this host that
    no longer runs (killed with -9, say)."""
    prefix = socket.gethostname() + ":"
    if not holder.startswith(prefix):
        return False
    pid = holder[len(prefix) :].split(":", 1)[0]
    return local_process_gone(pid)


def release_orphans(store: Store) -> int:
    """Rows held by a process of this host that no longer runs (kill -9):
    back to the pool at once instead of after the lease. How many."""
    return sum(store.outbox_release(h) for h in store.outbox_holders() if dead_local_holder(h))


def metric_lines(store: Store) -> list[str]:
    """Prometheus gauges of the outbox: documents per destination and state,
    age of the oldest undelivered one (for ``/metrics``)."""
    from gateway.daemon.metrics import gauge

    lines = gauge(
        "gateway_outbox_documents",
        "Outbox documents by destination and state (pending, delivered, dead)",
        (({"destination": d, "status": s}, n) for d, s, n in store.outbox_counts()),
    )
    oldest = store.outbox_oldest_pending()
    lines += gauge(
        "gateway_outbox_oldest_pending_seconds",
        "Age of the oldest document waiting for delivery",
        [({}, time.time() - oldest if oldest else 0)],
    )
    return lines
