"""The SQL shared by the backends: every query is written once, with ``?``
placeholders and SQL that SQLite and PostgreSQL both accept (``ON CONFLICT``,
``RETURNING``). A backend supplies the connection, the transaction and the
claiming subquery (PostgreSQL adds ``FOR UPDATE SKIP LOCKED``)."""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gateway.store import migrations
from gateway.store.base import (
    AuditEntry,
    ClaimedMessage,
    Completed,
    Journaled,
    Lease,
    MessageFilter,
    MessageReport,
    MessageRow,
    NewMessage,
    Outcome,
    Pruned,
    Status,
    Store,
)
from gateway.store.codec import PLAIN, key_id_of, ref
from gateway.store.sql_accounts import SQLAccounts
from gateway.store.sql_cycles import SQLCycles
from gateway.store.sql_delivery import SQLDelivery
from gateway.store.sql_remits import SQLRemits
from gateway.store.sql_secondary import SQLSecondary
from gateway.store.sql_submissions import REBUILDABLE, TABLES, Admitted, SQLSubmissions
from gateway.store.sqlbase import chunks, lane_clause, marks, to_json

_INSERT_MESSAGE = """
INSERT INTO messages (scope, sha256, size, source, name, channel_clinic, clinic_id, format, sender, control_id,
                      message_type, status, ack, findings, received_at, updated_at, processed_at, lane)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (scope, sha256) DO NOTHING
RETURNING id
"""
_MESSAGE_COLUMNS = (
    "id, status, clinic_id, source, name, format, sender, control_id, message_type, sha256, size, attempts, "
    "received_at, updated_at, processed_at, claimed_by, findings"
)
_TAKE_LEASE = """
INSERT INTO leases (name, owner, token, acquired_at, expires) VALUES (?, ?, 1, ?, ?)
ON CONFLICT (name) DO UPDATE SET
    token = leases.token + (CASE WHEN leases.owner = excluded.owner THEN 0 ELSE 1 END),
    acquired_at = CASE WHEN leases.owner = excluded.owner THEN leases.acquired_at ELSE excluded.acquired_at END,
    owner = excluded.owner, expires = excluded.expires
WHERE leases.owner = excluded.owner OR leases.expires < ?
RETURNING token, acquired_at
"""
_NEXT_NUMBER = """
INSERT INTO control_numbers (scope, counter, value) VALUES (?, ?, 1)
ON CONFLICT (scope, counter) DO UPDATE SET value = control_numbers.value + 1
RETURNING value
"""
_COMPLETE_MESSAGE = """
UPDATE messages SET status = ?, findings = ?, clinic_id = COALESCE(?, clinic_id), format = COALESCE(?, format),
       sender = COALESCE(?, sender), control_id = COALESCE(?, control_id), message_type = COALESCE(?, message_type),
       claimed_by = NULL, lease_expires = NULL, updated_at = ?, processed_at = ?
WHERE id = ? AND claimed_by = ? AND status = 'received'
"""
ENCOUNTER_COLUMNS = ("message_id", "idx", "clinic_id", "visit", "status", "encounter", "findings", "created_at")
_INSERT_ENCOUNTER = (
    f"INSERT INTO encounters ({', '.join(ENCOUNTER_COLUMNS)}) VALUES ({', '.join('?' * len(ENCOUNTER_COLUMNS))}) "
    "RETURNING id"
)
_UPSERT_RECORD = (
    "INSERT INTO records (clinic_id, kind, key, value, message_id, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (clinic_id, kind, key) DO UPDATE SET value = excluded.value, "
    "message_id = excluded.message_id, updated_at = excluded.updated_at"
)


@functools.lru_cache(maxsize=64)
def _status_detail(status: str) -> str:
    return to_json({"status": status})


def _processed_detail(o: Outcome) -> str:
    """The ``processed`` audit row's detail."""
    return _status_detail(str(o.status))


def _row(r: Sequence[Any]) -> MessageRow:
    return MessageRow(*r[:-1], findings=json.loads(r[-1]))  # type: ignore[call-arg]


class SQLStore(SQLSubmissions, SQLRemits, SQLSecondary, SQLAccounts, SQLCycles, SQLDelivery, Store):
    """Backend-independent implementation over a DB-API connection."""

    #: appended to a SELECT whose rows the transaction is about to change
    lock_rows = ""
    #: subquery choosing claimable ids (parameters: now, limit)
    claim_subquery = (
        "SELECT id FROM messages WHERE status = 'received' AND {lane} AND (lease_expires IS NULL OR lease_expires < ?) "
        "ORDER BY id LIMIT ?"
    )
    #: run before the claiming statement, in its transaction (planner settings)
    claim_setup: str | None = None

    # -- schema ----------------------------------------------------------
    def _lock_schema(self, cur: Any) -> None:
        """Serialise migrators (two nodes starting at once); SQLite's write lock does."""

    def migrate(self, upto: int | None = None) -> list[int]:
        """Apply pending migrations (each in its own transaction; only those up
        to version ``upto`` when given); their versions."""
        applied: list[int] = []
        with self.write() as cur:
            self._lock_schema(cur)
            cur.execute(migrations.VERSION_TABLE)
        while True:
            with self.write() as cur:
                self._lock_schema(cur)
                cur.execute("SELECT version FROM schema_migrations")
                done = {r[0] for r in cur.fetchall()}
                todo = [m for m in migrations.pending(done) if upto is None or m.version <= upto]
                if not todo:
                    return applied
                m = todo[0]
                if self.dialect not in m.sql:
                    raise RuntimeError(f"migration {m.version} has no SQL for {self.dialect}")
                for stmt in migrations.statements(m.sql[self.dialect]):
                    cur.execute(stmt)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (m.version, m.name, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
                )
                applied.append(m.version)

    def schema_version(self) -> int:
        with self.read() as cur:
            cur.execute("SELECT MAX(version) FROM schema_migrations")
            return int(cur.fetchone()[0] or 0)

    # -- journal ---------------------------------------------------------
    def journal(self, items: Sequence[NewMessage], actor: str = "source", lane: str | None = None) -> list[Journaled]:
        out: list[Journaled] = []
        with self.write() as cur:
            for m in items:
                now = time.time()
                reused = False
                if m.control_id is not None:
                    cur.execute(
                        "SELECT 1 FROM messages WHERE scope = ? AND control_id = ? AND sha256 <> ? LIMIT 1",
                        (m.scope, m.control_id, m.sha256),
                    )
                    reused = cur.fetchone() is not None
                findings = list(m.findings)
                if reused:
                    findings.append(
                        {
                            "severity": "warning",
                            "rule": "GW-CONTROL-ID-REUSED",
                            "message": "the sender reused a control id (MSH-10) for different content",
                            "plugin": "core",
                        }
                    )
                processed = now if m.status != Status.RECEIVED else None
                cur.execute(
                    _INSERT_MESSAGE,
                    (
                        m.scope, m.sha256, len(m.raw), m.source, m.name, m.channel_clinic, m.clinic_id,
                        m.format, m.sender, m.control_id, m.message_type, str(m.status), m.ack,
                        to_json(findings), m.received_at, now, processed, lane,
                    ),
                )  # fmt: skip
                row = cur.fetchone()
                if row is not None:
                    self._insert_raw(cur, int(row[0]), self.seal("messages.raw", m.raw, ref(m.scope, m.sha256)))
                    out.append(Journaled(int(row[0]), False, m.ack, str(m.status), reused))
                    self._audit(cur, int(row[0]), actor, "received", {"source": m.source, "status": str(m.status)})
                    continue
                cur.execute("SELECT id, ack, status FROM messages WHERE scope = ? AND sha256 = ?", (m.scope, m.sha256))
                mid, ack, status = cur.fetchone()
                if lane is not None and status == "received":  # still waiting: this run takes it on
                    cur.execute(
                        "UPDATE messages SET lane = ? WHERE id = ? AND status = 'received' "
                        "AND (claimed_by IS NULL OR lease_expires < ?)",
                        (lane, mid, now),
                    )
                out.append(Journaled(int(mid), True, bytes(ack) if ack is not None else None, status))
                self._audit(cur, int(mid), actor, "resent", {"source": m.source})
        return out

    # -- work queue ------------------------------------------------------
    def claim(self, worker: str, limit: int, lease: float, lane: str | None = None) -> list[ClaimedMessage]:
        """The claiming statement updates only the small ``messages`` rows; the
        raw bytes are read from ``message_raw`` in the same transaction."""
        now = time.time()
        where, args = lane_clause(lane)
        sql = (
            "UPDATE messages SET claimed_by = ?, lease_expires = ?, attempts = attempts + 1, updated_at = ? "
            f"WHERE id IN ({self.claim_subquery.format(lane=where)}) "
            "RETURNING id, source, name, channel_clinic, received_at, attempts, scope, sha256"
        )
        with self.write() as cur:
            if self.claim_setup:
                cur.execute(self.claim_setup)
            cur.execute(sql, (worker, now + lease, now, *args, now, limit))
            rows = sorted(cur.fetchall(), key=lambda r: r[0])
            raws = self._raw_of(cur, [r[0] for r in rows])
        return [ClaimedMessage(r[0], self._opened_raw(raws.pop(r[0], None), r[6], r[7]), *r[1:6]) for r in rows]

    def _insert_raw(self, cur: Any, message_id: int, stored: bytes) -> None:
        """A message's raw bytes (their stored form) into ``message_raw``."""
        cur.execute("INSERT INTO message_raw (message_id, raw) VALUES (?, ?)", (message_id, stored))

    def _raw_of(self, cur: Any, ids: list[int]) -> dict[int, Any]:
        """The stored (sealed) raw bytes of the messages ``ids`` that still have them."""
        out: dict[int, Any] = {}
        for part in chunks(ids):
            cur.execute(f"SELECT message_id, raw FROM message_raw WHERE message_id IN ({marks(len(part))})", part)
            out.update((int(i), b) for i, b in cur.fetchall())
        return out

    def _opened_raw(self, stored: Any, scope: str, sha256: str) -> bytes:
        """A message's raw bytes from their stored form (empty once pruned)."""
        return b"" if stored is None else self.open("messages.raw", stored, ref(scope, sha256))

    def renew(self, worker: str, ids: Iterable[int], lease: float) -> int:
        ids = list(ids)
        if not ids:
            return 0
        with self.write() as cur:
            cur.executemany(
                "UPDATE messages SET lease_expires = ? WHERE id = ? AND claimed_by = ? AND status = 'received'",
                [(time.time() + lease, i, worker) for i in ids],
            )
            return cur.rowcount

    def release(self, worker: str, ids: Iterable[int] | None, failed: bool = False) -> int:
        n = 0
        undo = "" if failed else ", attempts = attempts - 1"
        with self.write() as cur:
            if ids is None:
                cur.execute("SELECT id FROM messages WHERE claimed_by = ? AND status = 'received'", (worker,))
                ids = [int(r[0]) for r in cur.fetchall()]
            for i in ids:
                cur.execute(
                    f"UPDATE messages SET claimed_by = NULL, lease_expires = NULL{undo} "
                    "WHERE id = ? AND claimed_by = ? AND status = 'received'",
                    (i, worker),
                )
                if failed and cur.rowcount:
                    self._audit(cur, i, worker, "failed", {})
                n += cur.rowcount
        return n

    def complete(self, worker: str, outcomes: Sequence[Outcome]) -> list[Completed]:
        """Set-wise: a handful of statements per batch, not per message. Only
        the messages the worker still holds are written (the others' leases
        were lost); their rows stay locked until the commit. Claims and
        statements go through the duplicate rule
        (:func:`gateway.store.submissions.decide`), which may change the
        outcomes' encounter and message statuses and findings."""
        if not outcomes:
            return []
        with self.write() as cur:
            now = time.time()
            lanes = self._held_messages(cur, worker, [o.message_id for o in outcomes])
            todo = [o for o in outcomes if o.message_id in lanes]
            if not todo:
                return []
            admitted = self._admit(cur, todo)
            self._post_responses(cur, todo, worker, now)
            self._finish_messages(cur, worker, todo, now)
            return self._store_results(cur, worker, todo, admitted, lanes, now)

    def _held_messages(self, cur: Any, worker: str, ids: list[int]) -> dict[int, str | None]:
        """The messages of ``ids`` that ``worker`` still holds (locked until the
        commit), with their lanes."""
        cur.execute(
            "SELECT id, lane FROM messages WHERE claimed_by = ? AND status = 'received' "
            f"AND id IN ({', '.join('?' * len(ids))}){self.lock_rows}",
            (worker, *ids),
        )
        return {int(i): lane for i, lane in cur.fetchall()}

    def _finish_messages(self, cur: Any, worker: str, outcomes: Sequence[Outcome], now: float) -> None:
        """Set the status of the held messages ``outcomes``, release them and
        audit them as processed."""
        cur.executemany(
            _COMPLETE_MESSAGE,
            [
                (
                    str(o.status), to_json(o.findings), o.clinic_id, o.format, o.sender, o.control_id,
                    o.message_type, now, now, o.message_id, worker,
                )
                for o in outcomes
            ],
        )  # fmt: skip
        cur.executemany(
            "INSERT INTO audit (message_id, at, actor, action, detail) VALUES (?, ?, ?, 'processed', ?)",
            [(o.message_id, now, worker, _processed_detail(o)) for o in outcomes],
        )

    def _insert_encounters(self, cur: Any, rows: Iterable[tuple[Any, ...]]) -> list[int]:
        """Insert encounter rows ``(message_id, idx, clinic_id, visit, status,
        encounter, findings, created_at)``, made as they are read; their ids, in order."""
        out = []
        for r in rows:
            cur.execute(_INSERT_ENCOUNTER, r)
            out.append(int(cur.fetchone()[0]))
        return out

    def _upsert_records(self, cur: Any, rows: list[tuple[Any, ...]]) -> None:
        """Upsert record rows ``(clinic_id, kind, key, value, message_id,
        updated_at)`` in order: a later row's value wins."""
        cur.executemany(_UPSERT_RECORD, rows)

    def _store_results(
        self, cur: Any, worker: str, todo: list[Outcome], admitted: list[Admitted], lanes: dict[int, str | None],
        now: float,
    ) -> list[Completed]:  # fmt: skip
        encs = [(o, e) for o in todo for e in o.encounters]
        enc_rows = self._insert_encounters(
            cur,
            (  # one row's text unpacked at a time
                (o.message_id, e.idx, e.clinic_id, e.visit, str(e.status),
                 self.seal("encounters.encounter", str(e.encounter), ref(o.message_id, e.idx)), to_json(e.findings),
                 now)
                for o, e in encs
            ),
        )  # fmt: skip
        self._write_admitted(cur, admitted, {id(e): r for (_, e), r in zip(encs, enc_rows, strict=True)}, lanes,
                             worker, now)  # fmt: skip
        self._charge_statements(cur, admitted, worker, now)
        records = [
            (o.clinic_id, u.kind, *self._record_sealed(o.clinic_id, u.kind, u.key, u.value), o.message_id, now)
            for o in todo
            if o.clinic_id
            for u in o.updates
        ]
        if records:  # in order: a later message's value wins
            self._upsert_records(cur, records)
        counts: dict[int, Counter[str]] = {}
        for a in admitted:
            if a.kind == "claims":
                counts.setdefault(a.message_id, Counter())[a.decision.action] += 1
        return [
            Completed(
                o.message_id, str(o.status), counts.get(o.message_id, Counter())["create"],
                counts.get(o.message_id, Counter())["duplicate"], counts.get(o.message_id, Counter())["hold"],
            )
            for o in todo
        ]  # fmt: skip

    def add_audit(self, message_id: int | None, actor: str, action: str, detail: dict[str, Any] | None = None) -> None:
        with self.write() as cur:
            self._audit(cur, message_id, actor, action, detail or {})

    # -- records ---------------------------------------------------------
    def get(self, clinic_id: str, kind: str, key: str) -> Any | None:
        keys = self._record_keys(clinic_id, kind, key)
        with self.read() as cur:
            cur.execute(
                f"SELECT key, value FROM records WHERE clinic_id = ? AND kind = ? AND key IN ({marks(len(keys))}) "
                "ORDER BY updated_at DESC LIMIT 1",
                (clinic_id, kind, *keys),
            )
            row = cur.fetchone()
        return self._record_opened(clinic_id, kind, row[0], row[1])[1] if row else None

    # A record's key may be an identifier (an MRN, a member id): with encryption
    # on it is stored as a keyed hash and the key itself is sealed with the value.
    def _record_sealed(self, clinic_id: str, kind: str, key: str, value: Any) -> tuple[str, str]:
        """The stored ``(key, value)`` columns of a record."""
        if not self.codec.enabled:
            return PLAIN.index("records.key", key), to_json(value)
        stored = self.codec.index("records.key", ref(clinic_id, kind, key))
        return stored, self.seal("records.value", to_json([key, value]), ref(clinic_id, kind, stored))

    def _record_opened(self, clinic_id: str, kind: str, stored_key: str, stored_value: str) -> tuple[str, Any]:
        """A record's ``(key, value)`` from its stored columns."""
        if key_id_of(stored_value) is None:  # a plaintext row
            return PLAIN.open("records.key", stored_key), json.loads(stored_value)
        key, value = json.loads(self.open("records.value", stored_value, ref(clinic_id, kind, stored_key)))
        return key, value

    def _record_keys(self, clinic_id: str, kind: str, key: str) -> list[str]:
        """Every stored form of a record's key: hashed under each configured key, and plain."""
        hashed = [self.codec.index("records.key", ref(clinic_id, kind, key), kid) for kid in self.codec.key_ids]
        return [*hashed, PLAIN.index("records.key", key)]

    # -- operations ------------------------------------------------------
    def counts(self) -> list[tuple[str | None, str, int]]:
        with self.read() as cur:
            cur.execute("SELECT clinic_id, status, COUNT(*) FROM messages GROUP BY clinic_id, status")
            rows = cur.fetchall()
        return sorted(((c, s, int(n)) for c, s, n in rows), key=lambda r: (r[0] or "", r[1]))

    def oldest_pending(self) -> float | None:
        with self.read() as cur:
            cur.execute("SELECT MIN(received_at) FROM messages WHERE status = 'received'")
            row = cur.fetchone()
        return row[0] if row else None

    def message_holders(self, lane: str | None = None) -> list[str]:
        where, args = lane_clause(lane)
        with self.read() as cur:
            cur.execute(
                f"SELECT DISTINCT claimed_by FROM messages WHERE status = 'received' AND claimed_by IS NOT NULL "
                f"AND {where}",
                args,
            )
            return sorted(r[0] for r in cur.fetchall())

    def reports(self, message_ids: Sequence[int]) -> list[MessageReport]:
        out: list[MessageReport] = []
        with self.read() as cur:
            for part in chunks(sorted(set(message_ids))):
                m = marks(len(part))
                cur.execute(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id IN ({m}) ORDER BY id", part)
                rows = [_row(r) for r in cur.fetchall()]
                cur.execute(
                    f"SELECT message_id, idx, visit, status, findings FROM encounters WHERE message_id IN ({m}) "
                    "ORDER BY message_id, idx",
                    part,
                )
                encounters: dict[int, list[dict[str, Any]]] = {}
                for mid, idx, visit, status, findings in cur.fetchall():
                    encounters.setdefault(int(mid), []).append(
                        {"idx": idx, "visit": visit, "status": status, "findings": json.loads(findings)}
                    )
                cur.execute(
                    f"SELECT message_id, 'claims', status FROM claims WHERE message_id IN ({m}) "
                    f"UNION ALL SELECT message_id, 'statements', status FROM statements WHERE message_id IN ({m})",
                    (*part, *part),
                )
                items: dict[int, list[tuple[str, str]]] = {}
                for mid, kind, status in cur.fetchall():
                    items.setdefault(int(mid), []).append((kind, status))
                out += [MessageReport(r, encounters.get(r.id, []), items.get(r.id, [])) for r in rows]
        return out

    def oldest_in_progress(self) -> float | None:
        with self.read() as cur:
            cur.execute("SELECT MIN(received_at) FROM messages WHERE status IN ('received', 'claimed', 'batched')")
            row = cur.fetchone()
        return row[0] if row else None

    def list_messages(self, flt: MessageFilter) -> list[MessageRow]:
        where, args = [], []
        for column, op, value in (
            ("id", "=", flt.id),
            ("status", "=", flt.status),
            ("clinic_id", "=", flt.clinic_id),
            ("received_at", ">=", flt.since),
            ("received_at", "<", flt.until),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                args.append(value)
        sql = f"SELECT {_MESSAGE_COLUMNS} FROM messages"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        with self.read() as cur:
            cur.execute(sql, (*args, flt.limit))
            return [_row(r) for r in cur.fetchall()]

    def message(self, message_id: int) -> MessageRow | None:
        rows = self.list_messages(MessageFilter(id=message_id, limit=1))
        return rows[0] if rows else None

    def raw(self, message_id: int) -> bytes | None:
        with self.read() as cur:
            cur.execute(
                "SELECT r.raw, m.scope, m.sha256 FROM messages m LEFT JOIN message_raw r ON r.message_id = m.id "
                "WHERE m.id = ?",
                (message_id,),
            )
            row = cur.fetchone()
        return self._opened_raw(*row) if row else None

    def encounters(self, message_id: int) -> list[dict[str, Any]]:
        with self.read() as cur:
            cur.execute(
                "SELECT e.id, e.idx, e.visit, e.status, e.findings FROM encounters e WHERE e.message_id = ? "
                "ORDER BY e.idx",
                (message_id,),
            )
            encs = cur.fetchall()
            out = []
            for row_id, idx, visit, status, findings in encs:
                cur.execute("SELECT clm01, status FROM claims WHERE encounter_row = ? ORDER BY clm01", (row_id,))
                claims = [{"clm01": c, "status": s} for c, s in cur.fetchall()]
                out.append(
                    {"idx": idx, "visit": visit, "status": status, "findings": json.loads(findings), "claims": claims}
                )
        return out

    def encounter_json(self, message_id: int, idx: int) -> dict[str, Any] | None:
        """The stored canonical encounter (patient data: for operators who ask)."""
        with self.read() as cur:
            cur.execute("SELECT encounter FROM encounters WHERE message_id = ? AND idx = ?", (message_id, idx))
            row = cur.fetchone()
        return json.loads(self.open("encounters.encounter", row[0], ref(message_id, idx))) if row else None

    def audit_trail(self, message_id: int) -> list[AuditEntry]:
        with self.read() as cur:
            cur.execute(
                "SELECT message_id, at, actor, action, detail FROM audit WHERE message_id = ? ORDER BY id",
                (message_id,),
            )
            return [AuditEntry(m, at, a, act, json.loads(d)) for m, at, a, act, d in cur.fetchall()]

    def reprocess(self, message_id: int, actor: str, reason: str = "", lane: str | None = None) -> bool:
        kept = ", ".join(f"'{s}'" for s in REBUILDABLE)
        with self.write() as cur:
            cur.execute("SELECT status, raw_pruned_at FROM messages WHERE id = ?", (message_id,))
            row = cur.fetchone()
            if row is None or row[1] is not None:
                return False  # unknown, or its raw bytes are gone (retention)
            for kind in TABLES:
                cur.execute(
                    f"SELECT COUNT(*) FROM {kind} WHERE message_id = ? AND status NOT IN ({kept})", (message_id,)
                )
                if cur.fetchone()[0]:
                    return False  # something of it was sent: never rebuilt
            for kind, (_, _, events, column) in TABLES.items():
                rows = f"SELECT id FROM {kind} WHERE message_id = ?"
                cur.execute(f"DELETE FROM {events} WHERE {column} IN ({rows})", (message_id,))
                cur.execute(f"DELETE FROM {kind} WHERE message_id = ?", (message_id,))
            cur.execute("DELETE FROM encounters WHERE message_id = ?", (message_id,))
            cur.execute(
                "UPDATE messages SET status = 'received', attempts = 0, claimed_by = NULL, lease_expires = NULL, "
                "processed_at = NULL, updated_at = ?, lane = COALESCE(?, lane) WHERE id = ?",
                (time.time(), lane, message_id),
            )
            self._audit(cur, message_id, actor, "reprocess", {"from": row[0], "reason": reason})
        return True

    # -- leases ----------------------------------------------------------
    def try_lease(self, name: str, owner: str, ttl: float) -> Lease | None:
        now = time.time()
        with self.write() as cur:
            cur.execute(_TAKE_LEASE, (name, owner, now, now + ttl, now))
            row = cur.fetchone()
        return Lease(name, owner, int(row[0]), float(row[1]), now + ttl) if row else None

    def release_lease(self, name: str, owner: str) -> bool:
        # the row stays (expired) so the next owner's token is higher
        with self.write() as cur:
            cur.execute("UPDATE leases SET expires = 0 WHERE name = ? AND owner = ?", (name, owner))
            return cur.rowcount == 1

    def leases(self) -> list[Lease]:
        with self.read() as cur:
            cur.execute("SELECT name, owner, token, acquired_at, expires FROM leases ORDER BY name")
            return [Lease(n, o, int(t), float(a), float(e)) for n, o, t, a, e in cur.fetchall()]

    # -- control numbers --------------------------------------------------
    def next_number(self, scope: str, counter: str) -> int:
        """Allocate the next control number (first is 1), committed before it
        is returned: never handed out twice, across processes and nodes."""
        with self.write() as cur:
            cur.execute(_NEXT_NUMBER, (scope, counter))
            return int(cur.fetchone()[0])

    def adopt_numbers(self, values: Mapping[tuple[str, str], int]) -> None:
        if not values:
            return
        with self.write() as cur:
            cur.executemany(
                "INSERT INTO control_numbers (scope, counter, value) VALUES (?, ?, ?) ON CONFLICT (scope, counter) "
                "DO UPDATE SET value = CASE WHEN excluded.value > control_numbers.value THEN excluded.value "
                "ELSE control_numbers.value END",
                [(s, c, int(v)) for (s, c), v in sorted(values.items())],
            )

    def number_values(self) -> dict[tuple[str, str], int]:
        with self.read() as cur:
            cur.execute("SELECT scope, counter, value FROM control_numbers")
            return {(s, c): int(v) for s, c, v in cur.fetchall()}

    def current_number(self, scope: str, counter: str) -> int:
        with self.read() as cur:
            cur.execute("SELECT value FROM control_numbers WHERE scope = ? AND counter = ?", (scope, counter))
            row = cur.fetchone()
        return int(row[0]) if row else 0

    # -- retention ---------------------------------------------------------
    def prune_count(self, older_than: float, statuses: Iterable[str]) -> tuple[int, int]:
        statuses = sorted(set(statuses))
        if not statuses:
            return 0, 0
        with self.read() as cur:
            cur.execute(
                "SELECT COUNT(*), SUM(size) FROM messages WHERE raw_pruned_at IS NULL AND processed_at < ? "
                f"AND status IN ({', '.join('?' * len(statuses))})",
                (older_than, *statuses),
            )
            n, size = cur.fetchone()
        return int(n or 0), int(size or 0)

    def prune(
        self, older_than: float, statuses: Iterable[str], actor: str, limit: int | None = None, archive: Any = None
    ) -> Pruned:
        statuses = sorted(set(statuses))
        if not statuses:
            return Pruned([], 0)
        marks = ", ".join("?" * len(statuses))
        ids: list[int] = []
        size = 0
        chunk = 500
        while limit is None or len(ids) < limit:
            n = chunk if limit is None else min(chunk, limit - len(ids))
            with self.write() as cur:
                cur.execute(
                    "SELECT m.id, m.clinic_id, m.sha256, m.received_at, r.raw, m.scope FROM messages m "
                    "LEFT JOIN message_raw r ON r.message_id = m.id WHERE m.raw_pruned_at IS NULL "
                    f"AND m.processed_at < ? AND m.status IN ({marks}) ORDER BY m.id LIMIT ?",
                    (older_than, *statuses, n),
                )
                rows = [(int(i), c, h, float(r), self._opened_raw(b, sc, h)) for i, c, h, r, b, sc in cur.fetchall()]
                if not rows:
                    break
                if archive is not None:
                    archive(rows)
                now = time.time()
                cur.executemany("DELETE FROM message_raw WHERE message_id = ?", [(r[0],) for r in rows])
                cur.executemany("UPDATE messages SET raw_pruned_at = ? WHERE id = ?", [(now, r[0]) for r in rows])
                cur.executemany(
                    "INSERT INTO audit (message_id, at, actor, action, detail) VALUES (?, ?, ?, 'pruned-raw', ?)",
                    [(r[0], now, actor, to_json({"bytes": len(r[4]), "archived": archive is not None})) for r in rows],
                )
            ids += [r[0] for r in rows]
            size += sum(len(r[4]) for r in rows)
        return Pruned(ids, size)

    def claim_count(self) -> int:
        with self.read() as cur:
            cur.execute("SELECT COUNT(*) FROM claims")
            return int(cur.fetchone()[0])

    def latency_histogram(self, bounds: Sequence[float]) -> tuple[list[int], float, int]:
        cols = ", ".join(f"SUM(CASE WHEN processed_at - received_at <= {float(b)!r} THEN 1 ELSE 0 END)" for b in bounds)
        with self.read() as cur:
            cur.execute(
                f"SELECT {cols + ', ' if cols else ''}SUM(processed_at - received_at), COUNT(*) FROM messages "
                "WHERE processed_at IS NOT NULL"
            )
            row = cur.fetchone()
        n = len(bounds)
        return [int(v or 0) for v in row[:n]], float(row[n] or 0.0), int(row[n + 1] or 0)
