"""SQL of :class:`gateway.store.outbox.DeliveryStore`, shared by both backends
(``?`` placeholders, ``RETURNING``, ``ON CONFLICT``; PostgreSQL adds
``FOR UPDATE SKIP LOCKED`` through :attr:`SQLDelivery.skip_locked`).

A part of :class:`gateway.store.sqlstore.SQLStore`, on the transactions and
helpers of :class:`gateway.store.sqlbase.SQLBase`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from gateway.documents import Document
from gateway.store.codec import ref
from gateway.store.outbox import (
    DEAD,
    PENDING,
    BatchCut,
    BatchItem,
    DeliveryStore,
    OutboxItem,
    OutboxRow,
    WaitingItem,
)
from gateway.store.sqlbase import SQLBase, chunks, lane_clause, to_json
from gateway.store.submissions import KINDS, Kind

#: per kind: the table's key column and JSON column
COLUMNS: dict[str, tuple[str, str]] = {"claims": ("clm01", "claim"), "statements": ("statement_id", "statement")}
_ROW_COLUMNS = (
    "o.id, o.destination, o.kind, o.clinic_id, o.name, o.sha256, o.size, o.status, o.attempts, o.next_attempt, "
    "o.last_error, o.location, o.created_at, o.delivered_at, "
    "(SELECT COUNT(*) FROM claims c WHERE c.outbox_id = o.id) + "
    "(SELECT COUNT(*) FROM statements s WHERE s.outbox_id = o.id)"
)
_ADD = (
    "INSERT INTO outbox (destination, kind, clinic_id, name, media_type, content, sha256, size, refs, headers, lane, "
    "status, attempts, next_attempt, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?) "
    "ON CONFLICT (destination, name) DO NOTHING RETURNING id"
)
#: at most this many names are tried for one changed document
_MAX_NAMES = 1000


def _numbered(name: str, n: int) -> str:
    """``a.pdf`` → ``a-2.pdf`` (n = 2)."""
    p = PurePosixPath(name)
    return f"{p.stem}-{n}{p.suffix}" if p.suffix else f"{name}-{n}"


class _Changed(Exception):
    """Items of a cut were changed by someone else meanwhile."""


class SQLDelivery(SQLBase, DeliveryStore):
    """The SQL half of :class:`DeliveryStore` (see the module doc)."""

    #: appended to a subquery choosing rows to claim (PostgreSQL: skip locked rows)
    skip_locked = ""

    # -- batching ------------------------------------------------------------
    def waiting(self, kind: Kind, lane: str | None = None, limit: int | None = None) -> list[WaitingItem]:
        payer = "payer_id" if kind == "claims" else "NULL"
        where, args = lane_clause(lane)
        if limit is not None:
            args = (*args, limit)
        with self.read() as cur:
            cur.execute(
                f"SELECT id, clinic_id, {payer}, created_at FROM {kind} WHERE status = 'created' AND {where} "
                f"ORDER BY id{' LIMIT ?' if limit is not None else ''}",
                args,
            )
            # row by row, the clinic and payer ids shared: the list is all a large run holds
            same: dict[str, str] = {}
            return [
                WaitingItem(int(r), same.setdefault(c, c), p if p is None else same.setdefault(p, p), float(t))
                for r, c, p, t in iter(cur.fetchone, None)
            ]

    def batch_items(self, kind: Kind, rows: Sequence[int]) -> list[BatchItem]:
        from gateway.store.sql_submissions import ROW_KEY

        column = COLUMNS[kind][1]
        rendered = "rendered" if kind == "claims" else "NULL"
        out: list[BatchItem] = []
        with self.read() as cur:
            for part in chunks(list(rows)):
                cur.execute(
                    f"SELECT id, message_id, {column}, {rendered}, {ROW_KEY[kind]} FROM {kind} "
                    f"WHERE id IN ({', '.join('?' * len(part))})",
                    part,
                )
                for i, m, body, done, *key in cur.fetchall():
                    where = ref(*key)
                    out.append(BatchItem(int(i), int(m), self.open(f"{kind}.{column}", body, where),
                                         self.open("claims.rendered", done, where)))  # fmt: skip
        return sorted(out, key=lambda b: b.row)

    def cut(self, batch: BatchCut) -> list[tuple[int, str]] | None:
        now = time.time()
        kind = batch.kind
        try:
            with self.write() as cur:
                stored = [self._outbox_add(cur, batch.destination, d, now, batch.lane) for d in batch.documents]
                failed = []
                for row in batch.failed:
                    cur.execute(
                        f"UPDATE {kind} SET status = 'failed', updated_at = ? WHERE id = ? AND status = 'created'",
                        (now, row),
                    )
                    failed += [row] * cur.rowcount
                if kind == "claims":  # one update per claim row: its X12 control numbers with its status;
                    # its rendered blocks are spent (they made its 837), so later updates rewrite a smaller row
                    none = (None, None, None, None)
                    cur.executemany(
                        "UPDATE claims SET status = 'batched', outbox_id = ?, updated_at = ?, rendered = NULL, "
                        "x12_interchange = COALESCE(?, x12_interchange), x12_group = COALESCE(?, x12_group), "
                        "x12_transaction = COALESCE(?, x12_transaction), x12_partner = COALESCE(?, x12_partner) "
                        "WHERE id = ? AND status = 'created'",
                        [(stored[i][0], now, *batch.controls.get(row, none), row) for row, i in batch.links],
                    )
                else:
                    cur.executemany(
                        f"UPDATE {kind} SET status = 'batched', outbox_id = ?, updated_at = ? "
                        "WHERE id = ? AND status = 'created'",
                        [(stored[i][0], now, row) for row, i in batch.links],
                    )
                if cur.rowcount != len(batch.links):
                    raise _Changed
                self._events(
                    cur,
                    kind,
                    [(row, "batched", "batched", f"outbox:{stored[i][0]}", batch.actor,
                      {"destination": batch.destination, "document": stored[i][1]}) for row, i in batch.links]
                    + [(row, "failed", "failed", None, batch.actor, {"destination": batch.destination})
                       for row in failed],
                    now,
                )  # fmt: skip
                touched = [row for row, _ in batch.links] + failed
                self._settle_messages(cur, self._message_ids(cur, kind, touched), batch.actor, now)
        except _Changed:
            return None
        return stored

    def _message_ids(self, cur: Any, kind: Kind, rows: Sequence[int]) -> list[int]:
        out: set[int] = set()
        for part in chunks(list(rows)):
            cur.execute(f"SELECT DISTINCT message_id FROM {kind} WHERE id IN ({', '.join('?' * len(part))})", part)
            out |= {int(r[0]) for r in cur.fetchall()}
        return sorted(out)

    def _outbox_add(self, cur: Any, destination: str, doc: Document, now: float, lane: str | None) -> tuple[int, str]:
        """Store ``doc`` for ``destination`` in the caller's transaction: its id
        and the name it is stored under. The same name twice with the same
        bytes is one row; other bytes under a taken name get the next free
        ``-<n>`` name (a changed statement PDF, say)."""
        for n in range(1, _MAX_NAMES + 1):
            name = doc.name if n == 1 else _numbered(doc.name, n)
            where = ref(destination, name)
            cur.execute(
                _ADD,
                (
                    destination, doc.kind, doc.clinic_id, name, doc.media_type,
                    self.seal("outbox.content", doc.content, where), doc.sha256, len(doc.content),
                    to_json(list(doc.refs)), self.seal("outbox.headers", to_json(doc.headers), where), lane, now, now,
                    now,
                ),
            )  # fmt: skip
            row = cur.fetchone()
            if row is not None:
                return int(row[0]), name
            cur.execute("SELECT id, sha256 FROM outbox WHERE destination = ? AND name = ?", (destination, name))
            oid, digest = cur.fetchone()
            if digest == doc.sha256:
                return int(oid), name
        raise ValueError(f"{destination} holds {_MAX_NAMES} different documents named like {doc.name}")

    # -- dispatching -----------------------------------------------------------
    def outbox_claim(self, worker: str, limit: int, lease: float, lane: str | None = None) -> list[OutboxItem]:
        now = time.time()
        where, args = lane_clause(lane)
        sql = (
            "UPDATE outbox SET claimed_by = ?, lease_expires = ?, updated_at = ? WHERE id IN ("
            "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt <= ? "
            f"AND (lease_expires IS NULL OR lease_expires < ?) AND {where} ORDER BY next_attempt, id LIMIT ?"
            f"{self.skip_locked}) "
            "RETURNING id, destination, kind, clinic_id, name, media_type, content, refs, headers, attempts"
        )
        with self.write() as cur:
            cur.execute(sql, (worker, now + lease, now, now, now, *args, limit))
            rows = cur.fetchall()
        out = []
        for oid, dest, kind, clinic, name, media, content, refs, headers, attempts in rows:
            where = ref(dest, name)
            doc = Document(
                name=name, content=self.open("outbox.content", content, where), media_type=media, kind=kind,
                clinic_id=clinic, refs=tuple(json.loads(refs)),
                headers=json.loads(self.open("outbox.headers", headers, where)),
            )  # fmt: skip
            out.append(OutboxItem(int(oid), dest, int(attempts), doc))
        return sorted(out, key=lambda i: i.id)

    def outbox_delivered(self, worker: str, item: OutboxItem, location: str, already_present: bool) -> bool:
        now = time.time()
        with self.write() as cur:
            cur.execute(
                "UPDATE outbox SET status = 'delivered', location = ?, delivered_at = ?, updated_at = ?, "
                "attempts = attempts + 1, last_error = NULL, claimed_by = NULL, lease_expires = NULL "
                "WHERE id = ? AND claimed_by = ? AND status = 'pending'",
                (location, now, now, item.id, worker),
            )
            if cur.rowcount != 1:
                return False
            messages: set[int] = set()
            for kind in KINDS:
                cur.execute(
                    f"UPDATE {kind} SET status = 'delivered', updated_at = ? "
                    "WHERE outbox_id = ? AND status = 'batched' RETURNING id, message_id",
                    (now, item.id),
                )
                rows = cur.fetchall()
                messages |= {int(m) for _, m in rows}
                detail = {"destination": item.destination, "document": item.document.name}
                events = [(int(r), "delivered", "delivered", f"outbox:{item.id}", worker, detail) for r, _ in rows]
                self._events(cur, kind, events, now)
            self._settle_messages(cur, sorted(messages), "delivery", now, {"outbox": item.id})
            self._audit(cur, None, worker, "delivered", {"outbox": item.id, "destination": item.destination,
                                                        "already_present": already_present})  # fmt: skip
        return True

    def outbox_failed(self, worker: str, item: OutboxItem, error: str, *, dead: bool, retry_in: float) -> str:
        now = time.time()
        status = DEAD if dead else PENDING
        with self.write() as cur:
            cur.execute(
                "UPDATE outbox SET status = ?, attempts = attempts + 1, next_attempt = ?, last_error = ?, "
                "updated_at = ?, claimed_by = NULL, lease_expires = NULL "
                "WHERE id = ? AND claimed_by = ? AND status = 'pending'",
                (status, now + retry_in, error[:500], now, item.id, worker),
            )
            if dead and cur.rowcount:
                self._audit(cur, None, worker, "dead-letter", {"outbox": item.id, "destination": item.destination})
        return status

    def outbox_release(self, worker: str, ids: Sequence[int] | None = None) -> int:
        with self.write() as cur:
            if ids is None:
                cur.execute(
                    "UPDATE outbox SET claimed_by = NULL, lease_expires = NULL "
                    "WHERE claimed_by = ? AND status = 'pending'",
                    (worker,),
                )
                return cur.rowcount
            cur.executemany(
                "UPDATE outbox SET claimed_by = NULL, lease_expires = NULL WHERE id = ? AND claimed_by = ?",
                [(i, worker) for i in ids],
            )
            return cur.rowcount

    def outbox_holders(self) -> list[str]:
        with self.read() as cur:
            cur.execute("SELECT DISTINCT claimed_by FROM outbox WHERE status = 'pending' AND claimed_by IS NOT NULL")
            return sorted(r[0] for r in cur.fetchall())

    # -- operators -------------------------------------------------------------
    def outbox_list(
        self, status: str | None = None, destination: str | None = None, limit: int = 100
    ) -> list[OutboxRow]:
        where, args = [], []
        for column, value in (("o.status", status), ("o.destination", destination)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = f"SELECT {_ROW_COLUMNS} FROM outbox o"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY o.id DESC LIMIT ?"
        with self.read() as cur:
            cur.execute(sql, (*args, limit))
            return [OutboxRow(*r) for r in cur.fetchall()]

    def outbox_row(self, outbox_id: int) -> OutboxRow | None:
        with self.read() as cur:
            cur.execute(f"SELECT {_ROW_COLUMNS} FROM outbox o WHERE o.id = ?", (outbox_id,))
            r = cur.fetchone()
        return OutboxRow(*r) if r else None

    def outbox_content(self, outbox_id: int) -> bytes | None:
        with self.read() as cur:
            cur.execute("SELECT content, destination, name FROM outbox WHERE id = ?", (outbox_id,))
            r = cur.fetchone()
        return self.open("outbox.content", r[0], ref(r[1], r[2])) if r else None

    def outbox_retry(self, ids: Sequence[int] | None, actor: str) -> list[int]:
        now = time.time()
        with self.write() as cur:
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

    def outbox_counts(self) -> list[tuple[str, str, int]]:
        with self.read() as cur:
            cur.execute("SELECT destination, status, COUNT(*) FROM outbox GROUP BY destination, status")
            return sorted((d, s, int(n)) for d, s, n in cur.fetchall())

    def outbox_oldest_pending(self) -> float | None:
        with self.read() as cur:
            cur.execute("SELECT MIN(created_at) FROM outbox WHERE status = 'pending'")
            r = cur.fetchone()
        return float(r[0]) if r and r[0] is not None else None

    def outbox_pending(self, lane: str | None = None) -> int:
        where, args = lane_clause(lane)
        with self.read() as cur:
            cur.execute(f"SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND {where}", args)
            return int(cur.fetchone()[0])

    # -- clearinghouse responses ----------------------------------------------
    def response_known(self, scope: str, name: str, size: int) -> bool:
        with self.read() as cur:
            cur.execute("SELECT 1 FROM messages WHERE scope = ? AND name = ? AND size = ?", (scope, name, size))
            return cur.fetchone() is not None
