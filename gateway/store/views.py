"""Read models for the console, the JSON API and per-clinic metrics.

Every query takes a :class:`Scope` — the clinics a user or token may see —
and filters by it in SQL, so a view cannot forget it. Lists page by keyset
(``id < ?`` newest first), never by OFFSET, so page 1000 costs what page 1
costs. Rule filters use ``message_rules`` (migration 10), an index of every
finding's rule id at message and encounter level.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.store.base import MessageRow
from gateway.store.codec import ref
from gateway.store.outbox import OutboxRow
from gateway.store.sqlstore import _MESSAGE_COLUMNS, SQLStore, _row

#: findings of these severities put a message in quarantine
ERROR = "error"


@dataclass(frozen=True)
class Scope:
    """What a principal may see: ``clinics`` (None = every clinic) and, for
    admins, messages that reached no clinic (GW-ROUTE, GW-FORMAT)."""

    clinics: frozenset[str] | None = None
    unrouted: bool = False

    def allows(self, clinic_id: str | None) -> bool:
        if clinic_id is None:
            return self.unrouted
        return self.clinics is None or clinic_id in self.clinics

    def sql(self, column: str) -> tuple[str, list[Any]]:
        """A WHERE fragment restricting ``column`` to this scope."""
        if self.clinics is None:
            return ("1 = 1", []) if self.unrouted else (f"{column} IS NOT NULL", [])
        if not self.clinics:
            return (f"{column} IS NULL", []) if self.unrouted else ("1 = 0", [])
        marks = ", ".join("?" * len(self.clinics))
        clause = f"{column} IN ({marks})"
        if self.unrouted:
            clause = f"({clause} OR {column} IS NULL)"
        return clause, sorted(self.clinics)


EVERYTHING = Scope(None, True)


@dataclass(frozen=True)
class MessageQuery:
    clinic_id: str | None = None
    status: str | None = None
    since: float | None = None
    until: float | None = None
    control_id: str | None = None
    rule: str | None = None
    before_id: int | None = None
    limit: int = 50


@dataclass
class ClinicOverview:
    clinic_id: str | None
    messages: dict[str, int] = field(default_factory=dict)
    claims: dict[str, int] = field(default_factory=dict)
    outbox: dict[str, int] = field(default_factory=dict)
    oldest_pending_message: float | None = None
    oldest_pending_document: float | None = None


#: messages with an error finding of a rule: driven from the rule index (a rare rule costs its rows, not a scan)
_WITH_RULE = "m.id IN (SELECT r.message_id FROM message_rules r WHERE r.rule = ? AND r.severity = ?)"

_OUTBOX_COLUMNS = (
    "o.id, o.destination, o.kind, o.clinic_id, o.name, o.sha256, o.size, o.status, o.attempts, o.next_attempt, "
    "o.last_error, o.location, o.created_at, o.delivered_at, "
    "(SELECT COUNT(*) FROM claims c WHERE c.outbox_id = o.id) + "
    "(SELECT COUNT(*) FROM statements s WHERE s.outbox_id = o.id)"
)


class Views:
    """Scoped reads (and the two scoped actions) over one store."""

    def __init__(self, store: SQLStore) -> None:
        self.store = store

    # -- messages --------------------------------------------------------------
    def messages(self, scope: Scope, q: MessageQuery) -> list[MessageRow]:
        """Messages matching ``q`` within ``scope``, newest first."""
        where, args = [], []
        clause, sargs = scope.sql("m.clinic_id")
        where.append(clause)
        args += sargs
        for sql, value in (
            ("m.clinic_id = ?", q.clinic_id), ("m.status = ?", q.status), ("m.received_at >= ?", q.since),
            ("m.received_at < ?", q.until), ("m.control_id = ?", q.control_id), ("m.id < ?", q.before_id),
        ):  # fmt: skip
            if value is not None:
                where.append(sql)
                args.append(value)
        if q.rule:
            where.append(_WITH_RULE)
            args += [q.rule, ERROR]
        cols = ", ".join(f"m.{c.strip()}" for c in _MESSAGE_COLUMNS.split(","))
        sql = f"SELECT {cols} FROM messages m WHERE {' AND '.join(where)} ORDER BY m.id DESC LIMIT ?"
        with self.store.read() as cur:
            cur.execute(sql, (*args, q.limit))
            return [_row(r) for r in cur.fetchall()]

    def message(self, scope: Scope, message_id: int) -> MessageRow | None:
        """One message, or None when it does not exist or is out of scope."""
        row = self.store.message(message_id)
        return row if row is not None and scope.allows(row.clinic_id) else None

    def rules(self, message_ids: Sequence[int]) -> dict[int, list[str]]:
        """Rule ids of error findings per message, message and encounter level."""
        out: dict[int, set[str]] = {i: set() for i in message_ids}
        if not message_ids:
            return {}
        with self.store.read() as cur:
            for i in range(0, len(message_ids), 500):
                chunk = list(message_ids[i : i + 500])
                cur.execute(
                    f"SELECT message_id, rule FROM message_rules WHERE message_id IN ({', '.join('?' * len(chunk))}) "
                    "AND severity = ?",
                    (*chunk, ERROR),
                )
                for mid, rule in cur.fetchall():
                    out[int(mid)].add(rule)
        return {k: sorted(v) for k, v in out.items()}

    def quarantine_groups(self, scope: Scope) -> list[tuple[str | None, str, int, float]]:
        """``(clinic, rule, messages, oldest received)`` of quarantined messages
        (a message counts once under each rule that quarantined it)."""
        clause, args = scope.sql("m.clinic_id")
        with self.store.read() as cur:
            cur.execute(
                "SELECT m.clinic_id, r.rule, COUNT(DISTINCT m.id), MIN(m.received_at) FROM messages m "
                "JOIN message_rules r ON r.message_id = m.id AND r.severity = ? "
                f"WHERE m.status = 'quarantined' AND {clause} GROUP BY m.clinic_id, r.rule",
                (ERROR, *args),
            )
            rows = cur.fetchall()
        return sorted(((c, r, int(n), float(t)) for c, r, n, t in rows), key=lambda x: (x[0] or "", -x[2], x[1]))

    def quarantined_with_rule(self, scope: Scope, clinic_id: str | None, rule: str) -> list[int]:
        """Ids of quarantined messages of ``clinic_id`` with an error of ``rule``."""
        if not scope.allows(clinic_id):
            return []
        col = "m.clinic_id IS NULL" if clinic_id is None else "m.clinic_id = ?"
        with self.store.read() as cur:
            cur.execute(
                f"SELECT m.id FROM messages m WHERE m.status = 'quarantined' AND {col} AND {_WITH_RULE} ORDER BY m.id",
                (*([] if clinic_id is None else [clinic_id]), rule, ERROR),
            )
            return [int(r[0]) for r in cur.fetchall()]

    def reprocess_rule(self, scope: Scope, clinic_id: str | None, rule: str, actor: str, reason: str = "") -> list[int]:
        """Reprocess every quarantined message of ``clinic_id`` with ``rule``
        (each audited); the ids queued."""
        done = []
        for mid in self.quarantined_with_rule(scope, clinic_id, rule):
            if self.store.reprocess(mid, actor, reason or f"all quarantined with {rule}"):
                done.append(mid)
        return done

    # -- overview ----------------------------------------------------------------
    def overview(self, scope: Scope) -> list[ClinicOverview]:
        """Per clinic: messages by status, claims by status, outbox by status,
        the oldest waiting message and document."""
        by: dict[str | None, ClinicOverview] = {}

        def get(c: str | None) -> ClinicOverview:
            return by.setdefault(c, ClinicOverview(c))

        with self.store.read() as cur:
            clause, args = scope.sql("clinic_id")
            cur.execute(
                f"SELECT clinic_id, status, COUNT(*) FROM messages WHERE {clause} GROUP BY clinic_id, status", args
            )
            for c, s, n in cur.fetchall():
                get(c).messages[s] = int(n)
            cur.execute(
                f"SELECT clinic_id, status, COUNT(*) FROM claims WHERE {clause} GROUP BY clinic_id, status", args
            )
            for c, s, n in cur.fetchall():
                get(c).claims[s] = int(n)
            cur.execute(
                f"SELECT clinic_id, status, COUNT(*) FROM outbox WHERE {clause} GROUP BY clinic_id, status", args
            )
            for c, s, n in cur.fetchall():
                get(c).outbox[s] = int(n)
            cur.execute(
                f"SELECT clinic_id, MIN(received_at) FROM messages WHERE status = 'received' AND {clause} "
                "GROUP BY clinic_id",
                args,
            )
            for c, t in cur.fetchall():
                get(c).oldest_pending_message = t
            cur.execute(
                f"SELECT clinic_id, MIN(created_at) FROM outbox WHERE status = 'pending' AND {clause} "
                "GROUP BY clinic_id",
                args,
            )
            for c, t in cur.fetchall():
                get(c).oldest_pending_document = t
        return sorted(by.values(), key=lambda o: o.clinic_id or "")

    def series(
        self, scope: Scope, clinic_id: str | None, since: float, bucket: float, buckets: int
    ) -> dict[str, list[int]]:
        """Messages received per time bucket from ``since``, split into
        ``received`` (all) and ``quarantined`` (by their current status)."""
        clause, args = scope.sql("clinic_id")
        extra, eargs = ("", []) if clinic_id is None else (" AND clinic_id = ?", [clinic_id])
        out = {"received": [0] * buckets, "quarantined": [0] * buckets}
        # bucket = floor((received_at - since) / bucket): SQLite's CAST truncates (values are >= 0 here),
        # PostgreSQL's rounds
        bucket_of = (
            "CAST(FLOOR((received_at - ?) / ?) AS INTEGER)"
            if self.store.dialect == "postgresql"
            else "CAST((received_at - ?) / ? AS INTEGER)"
        )
        with self.store.read() as cur:
            cur.execute(
                f"SELECT {bucket_of} AS b, status, COUNT(*) FROM messages "
                f"WHERE received_at >= ? AND {clause}{extra} GROUP BY b, status",
                (since, bucket, since, *args, *eargs),
            )
            for b, status, n in cur.fetchall():
                if 0 <= int(b) < buckets:
                    out["received"][int(b)] += int(n)
                    if status in ("quarantined", "dead"):
                        out["quarantined"][int(b)] += int(n)
        return out

    # -- claims --------------------------------------------------------------------
    def claims(
        self, scope: Scope, clinic_id: str | None = None, status: str | None = None, before_id: int | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Claims newest first (identifiers, payer, charge, status, outbox id)."""
        clause, args = scope.sql("clinic_id")
        where = [clause]
        for sql, value in (("clinic_id = ?", clinic_id), ("status = ?", status), ("id < ?", before_id)):
            if value is not None:
                where.append(sql)
                args.append(value)
        with self.store.read() as cur:
            cur.execute(
                "SELECT id, clinic_id, clm01, message_id, payer_id, total_charge, status, outbox_id, created_at, "
                f"updated_at FROM claims WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            )
            return [_claim(r) for r in cur.fetchall()]

    def claim(self, scope: Scope, claim_id: int) -> dict[str, Any] | None:
        """One claim with its stored JSON (patient data) — None when out of scope."""
        with self.store.read() as cur:
            cur.execute(
                "SELECT id, clinic_id, clm01, message_id, payer_id, total_charge, status, outbox_id, created_at, "
                "updated_at, claim, payer_seq, version FROM claims WHERE id = ?",
                (claim_id,),
            )
            r = cur.fetchone()
        if r is None or not scope.allows(r[1]):
            return None
        out = _claim(r[:10])
        out["claim"] = json.loads(self.store.open("claims.claim", r[10], ref(r[1], r[2], r[11], r[12])))
        return out

    # -- outbox --------------------------------------------------------------------
    def outbox(
        self, scope: Scope, status: str | None = None, before_id: int | None = None, limit: int = 50
    ) -> list[OutboxRow]:
        clause, args = scope.sql("o.clinic_id")
        where = [clause]
        for sql, value in (("o.status = ?", status), ("o.id < ?", before_id)):
            if value is not None:
                where.append(sql)
                args.append(value)
        with self.store.read() as cur:
            cur.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox o WHERE {' AND '.join(where)} ORDER BY o.id DESC LIMIT ?",
                (*args, limit),
            )
            return [OutboxRow(*r) for r in cur.fetchall()]

    def outbox_row(self, scope: Scope, outbox_id: int) -> OutboxRow | None:
        with self.store.read() as cur:
            cur.execute(f"SELECT {_OUTBOX_COLUMNS} FROM outbox o WHERE o.id = ?", (outbox_id,))
            r = cur.fetchone()
        row = OutboxRow(*r) if r else None
        return row if row is not None and scope.allows(row.clinic_id) else None

    def outbox_claims(self, scope: Scope, outbox_id: int) -> list[dict[str, Any]]:
        """The claims a document carries."""
        clause, args = scope.sql("clinic_id")
        with self.store.read() as cur:
            cur.execute(
                "SELECT id, clinic_id, clm01, message_id, payer_id, total_charge, status, outbox_id, created_at, "
                f"updated_at FROM claims WHERE outbox_id = ? AND {clause} ORDER BY clm01",
                (outbox_id, *args),
            )
            return [_claim(r) for r in cur.fetchall()]

    # -- metrics (alerting) ----------------------------------------------------------
    def last_received(self) -> list[tuple[str | None, str, float]]:
        """``(clinic, source type, newest received_at)`` (clinic None: unrouted)."""
        with self.store.read() as cur:
            cur.execute("SELECT clinic_id, source, at FROM last_received ORDER BY clinic_id, source")
            return [(c or None, s, float(t)) for c, s, t in cur.fetchall()]

    def outbox_by_clinic(self) -> list[tuple[str, str, int, float | None]]:
        """``(clinic, status, documents, oldest created_at)``."""
        with self.store.read() as cur:
            cur.execute("SELECT clinic_id, status, COUNT(*), MIN(created_at) FROM outbox GROUP BY clinic_id, status")
            return sorted((c, s, int(n), t) for c, s, n, t in cur.fetchall())


def _claim(r: Sequence[Any]) -> dict[str, Any]:
    keys = ("id", "clinic_id", "clm01", "message_id", "payer_id", "total_charge", "status", "outbox_id",
            "created_at", "updated_at")  # fmt: skip
    return dict(zip(keys, r, strict=True))
