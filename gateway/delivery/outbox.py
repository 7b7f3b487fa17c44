"""The durable outbox: every document is stored here before it is delivered.

A row holds the destination, the document (name, bytes, SHA-256, media type,
transport hints), its state (``pending`` → ``delivered`` | ``dead``), the
attempts made, when the next is due and the last error (transport errors say
what failed, never patient data). Dispatchers claim due rows with a lease
(``claimed_by``, ``lease_expires``) exactly like workers claim messages, so a
dispatcher that dies hands its rows back when the lease ends.

The SQL is written once for SQLite and PostgreSQL (``?`` placeholders,
``RETURNING``, ``ON CONFLICT``), like :mod:`gateway.store.sqlstore`; it runs
on a :class:`~gateway.store.sqlstore.SQLStore`'s ``read()``/``write()``
transactions. The tables come from migration 2.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.documents import Document
from gateway.store.sqlstore import SQLStore, to_json

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
#: status of journaled clearinghouse responses: kept raw, not for the workers
RESPONSE_STATUS = "stored"
RESPONSE_FORMAT = "x12-response"


@dataclass(frozen=True)
class OutboxItem:
    """A claimed outbox row, ready to deliver."""

    id: int
    destination: str
    attempts: int
    document: Document


@dataclass(frozen=True)
class OutboxRow:
    """An outbox row as operators see it (no content)."""

    id: int
    destination: str
    kind: str
    clinic_id: str
    name: str
    sha256: str
    size: int
    status: str
    attempts: int
    next_attempt: float
    last_error: str | None
    location: str | None
    created_at: float
    delivered_at: float | None
    items: int


_ROW_COLUMNS = (
    "o.id, o.destination, o.kind, o.clinic_id, o.name, o.sha256, o.size, o.status, o.attempts, o.next_attempt, "
    "o.last_error, o.location, o.created_at, o.delivered_at, "
    "(SELECT COUNT(*) FROM claims c WHERE c.outbox_id = o.id) + "
    "(SELECT COUNT(*) FROM statements s WHERE s.outbox_id = o.id)"
)


def node_id(role: str = "dispatch") -> str:
    """``host:pid:role`` — who holds an outbox row."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Outbox:
    """Outbox operations over one store connection (open one per thread)."""

    def __init__(self, store: SQLStore) -> None:
        self.store = store
        self.lock_clause = " FOR UPDATE SKIP LOCKED" if store.dialect == "postgresql" else ""

    # -- adding (inside the batcher's transaction) --------------------------
    def add(self, cur: Any, destination: str, doc: Document, now: float) -> int:
        """Store ``doc`` for ``destination`` in the caller's transaction; its id.

        The same name twice for one destination is one row when the bytes
        are the same; different bytes under one name raise ValueError."""
        cur.execute(
            "INSERT INTO outbox (destination, kind, clinic_id, name, media_type, content, sha256, size, refs, headers, "
            "status, attempts, next_attempt, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?) "
            "ON CONFLICT (destination, name) DO NOTHING RETURNING id",
            (
                destination, doc.kind, doc.clinic_id, doc.name, doc.media_type, doc.content, doc.sha256,
                len(doc.content), to_json(list(doc.refs)), to_json(doc.headers), now, now, now,
            ),
        )  # fmt: skip
        row = cur.fetchone()
        if row is not None:
            return int(row[0])
        cur.execute("SELECT id, sha256 FROM outbox WHERE destination = ? AND name = ?", (destination, doc.name))
        oid, digest = cur.fetchone()
        if digest != doc.sha256:
            raise ValueError(f"outbox already holds a different document named {doc.name} for {destination}")
        return int(oid)

    # -- dispatching -----------------------------------------------------
    def claim(self, worker: str, limit: int, lease: float, now: float | None = None) -> list[OutboxItem]:
        """Take up to ``limit`` due pending rows nobody holds (oldest due first)."""
        now = time.time() if now is None else now
        sql = (
            "UPDATE outbox SET claimed_by = ?, lease_expires = ?, updated_at = ? WHERE id IN ("
            "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt <= ? "
            "AND (lease_expires IS NULL OR lease_expires < ?) ORDER BY next_attempt, id LIMIT ?"
            f"{self.lock_clause}) "
            "RETURNING id, destination, kind, clinic_id, name, media_type, content, refs, headers, attempts"
        )
        with self.store.write() as cur:
            cur.execute(sql, (worker, now + lease, now, now, now, limit))
            rows = cur.fetchall()
        out = []
        for oid, dest, kind, clinic, name, media, content, refs, headers, attempts in rows:
            doc = Document(
                name=name, content=bytes(content), media_type=media, kind=kind, clinic_id=clinic,
                refs=tuple(json.loads(refs)), headers=json.loads(headers),
            )  # fmt: skip
            out.append(OutboxItem(int(oid), dest, int(attempts), doc))
        return sorted(out, key=lambda i: i.id)

    def delivered(self, worker: str, item: OutboxItem, location: str, already_present: bool) -> bool:
        """Record a delivery: the row, its claims/statements and their messages."""
        now = time.time()
        with self.store.write() as cur:
            cur.execute(
                "UPDATE outbox SET status = 'delivered', location = ?, delivered_at = ?, updated_at = ?, "
                "attempts = attempts + 1, last_error = NULL, claimed_by = NULL, lease_expires = NULL "
                "WHERE id = ? AND claimed_by = ? AND status = 'pending'",
                (location, now, now, item.id, worker),
            )
            if cur.rowcount != 1:
                return False
            self._items_delivered(cur, item.id, now)
            self._audit(cur, None, worker, "delivered", {"outbox": item.id, "destination": item.destination,
                                                        "already_present": already_present})  # fmt: skip
        return True

    def _items_delivered(self, cur: Any, outbox_id: int, now: float) -> None:
        cur.execute("UPDATE claims SET status = 'delivered', updated_at = ? WHERE outbox_id = ?", (now, outbox_id))
        cur.execute("UPDATE statements SET status = 'delivered', updated_at = ? WHERE outbox_id = ?", (now, outbox_id))
        cur.execute(
            "SELECT message_id FROM claims WHERE outbox_id = ? "
            "UNION SELECT message_id FROM statements WHERE outbox_id = ?",
            (outbox_id, outbox_id),
        )
        for (mid,) in cur.fetchall():
            cur.execute(
                "UPDATE messages SET status = 'delivered', updated_at = ? WHERE id = ? AND status IN ('claimed', "
                "'batched') AND NOT EXISTS (SELECT 1 FROM claims WHERE message_id = ? AND status <> 'delivered') "
                "AND NOT EXISTS (SELECT 1 FROM statements WHERE message_id = ? AND status <> 'delivered')",
                (now, mid, mid, mid),
            )
            if cur.rowcount:
                self._audit(cur, mid, "delivery", "delivered", {"outbox": outbox_id})

    def failed(self, worker: str, item: OutboxItem, error: str, *, dead: bool, retry_in: float) -> str:
        """Record a failed attempt: dead (a dead letter) or due again in ``retry_in`` s."""
        now = time.time()
        status = DEAD if dead else PENDING
        with self.store.write() as cur:
            cur.execute(
                "UPDATE outbox SET status = ?, attempts = attempts + 1, next_attempt = ?, last_error = ?, "
                "updated_at = ?, claimed_by = NULL, lease_expires = NULL "
                "WHERE id = ? AND claimed_by = ? AND status = 'pending'",
                (status, now + retry_in, error[:500], now, item.id, worker),
            )
            if dead and cur.rowcount:
                self._audit(cur, None, worker, "dead-letter", {"outbox": item.id, "destination": item.destination})
        return status

    def release(self, worker: str, ids: Iterable[int]) -> None:
        """Give rows back unattempted (shutdown)."""
        with self.store.write() as cur:
            for i in ids:
                cur.execute(
                    "UPDATE outbox SET claimed_by = NULL, lease_expires = NULL WHERE id = ? AND claimed_by = ?",
                    (i, worker),
                )

    def release_orphans(self) -> int:
        """Rows held by a process of this host that no longer runs (kill -9):
        back to the pool at once instead of after the lease."""
        prefix = socket.gethostname() + ":"
        with self.store.read() as cur:
            cur.execute("SELECT DISTINCT claimed_by FROM outbox WHERE status = 'pending' AND claimed_by IS NOT NULL")
            holders = [r[0] for r in cur.fetchall()]
        dead = []
        for h in holders:
            if not h.startswith(prefix):
                continue
            pid = h[len(prefix) :].split(":", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                dead.append(h)
        n = 0
        with self.store.write() as cur:
            for h in dead:
                cur.execute(
                    "UPDATE outbox SET claimed_by = NULL, lease_expires = NULL "
                    "WHERE claimed_by = ? AND status = 'pending'",
                    (h,),
                )
                n += cur.rowcount
        return n

    # -- operators -------------------------------------------------------
    def list(self, status: str | None = None, destination: str | None = None, limit: int = 100) -> list[OutboxRow]:
        where, args = [], []
        for column, value in (("o.status", status), ("o.destination", destination)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = f"SELECT {_ROW_COLUMNS} FROM outbox o"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY o.id DESC LIMIT ?"
        with self.store.read() as cur:
            cur.execute(sql, (*args, limit))
            return [OutboxRow(*r) for r in cur.fetchall()]

    def get(self, outbox_id: int) -> OutboxRow | None:
        with self.store.read() as cur:
            cur.execute(f"SELECT {_ROW_COLUMNS} FROM outbox o WHERE o.id = ?", (outbox_id,))
            r = cur.fetchone()
        return OutboxRow(*r) if r else None

    def retry(self, ids: Sequence[int] | None, actor: str) -> list[int]:
        """Dead letters (``ids``, or all when None) back to pending, due now,
        with a fresh attempt count; audited. The ids brought back."""
        now = time.time()
        with self.store.write() as cur:
            if ids is None:
                cur.execute("SELECT id FROM outbox WHERE status = 'dead' ORDER BY id")
                ids = [int(r[0]) for r in cur.fetchall()]
            done = []
            for i in ids:
                cur.execute(
                    "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt = ?, updated_at = ?, "
                    "claimed_by = NULL, lease_expires = NULL WHERE id = ? AND status = 'dead'",
                    (now, now, i),
                )
                if cur.rowcount:
                    done.append(i)
                    self._audit(cur, None, actor, "outbox-retry", {"outbox": i})
        return done

    def counts(self) -> list[tuple[str, str, int]]:
        """``(destination, status, count)``."""
        with self.store.read() as cur:
            cur.execute("SELECT destination, status, COUNT(*) FROM outbox GROUP BY destination, status")
            return sorted((d, s, int(n)) for d, s, n in cur.fetchall())

    def oldest_pending(self) -> float | None:
        """``created_at`` of the oldest document not yet delivered (not dead)."""
        with self.store.read() as cur:
            cur.execute("SELECT MIN(created_at) FROM outbox WHERE status = 'pending'")
            r = cur.fetchone()
        return float(r[0]) if r and r[0] is not None else None

    def pending_count(self) -> int:
        with self.store.read() as cur:
            cur.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
            return int(cur.fetchone()[0])

    def content(self, outbox_id: int) -> bytes | None:
        with self.store.read() as cur:
            cur.execute("SELECT content FROM outbox WHERE id = ?", (outbox_id,))
            r = cur.fetchone()
        return bytes(r[0]) if r else None

    @staticmethod
    def _audit(cur: Any, message_id: int | None, actor: str, action: str, detail: dict[str, Any]) -> None:
        cur.execute(
            "INSERT INTO audit (message_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
            (message_id, time.time(), actor, action, to_json(detail)),
        )


def metric_lines(store: SQLStore) -> list[str]:
    """Prometheus gauges of the outbox: documents per destination and state,
    age of the oldest undelivered one (for ``/metrics``)."""
    from gateway.daemon.metrics import gauge

    box = Outbox(store)
    lines = gauge(
        "gateway_outbox_documents",
        "Outbox documents by destination and state (pending, delivered, dead)",
        (({"destination": d, "status": s}, n) for d, s, n in box.counts()),
    )
    oldest = box.oldest_pending()
    lines += gauge(
        "gateway_outbox_oldest_pending_seconds",
        "Age of the oldest document waiting for delivery",
        [({}, time.time() - oldest if oldest else 0)],
    )
    return lines
