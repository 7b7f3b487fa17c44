"""SQL of :class:`gateway.store.submissions.SubmissionStore` and the duplicate
rule's side of :meth:`gateway.store.Store.complete`, shared by both backends.

Versions of one key are decided under a lock on the key: SQLite's write lock
(one writer at a time), a transaction-scoped advisory lock per key on
PostgreSQL (:meth:`SQLSubmissions._lock_keys`), so two nodes completing the
same CLM01 at once never both take version 1.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.store.codec import ref as row_ref
from gateway.store.sqlbase import Event, SQLBase, chunks, marks, to_json
from gateway.store.submissions import (
    ACTIONS,
    NOT_SENT,
    REJECTED,
    ClaimStatus,
    Decision,
    ItemEvent,
    Kind,
    Known,
    NewClaim,
    NewStatement,
    Resolution,
    ResolveError,
    Submission,
    SubmissionFilter,
    SubmissionStore,
    content_digest,
    decide,
    message_status,
)

#: per kind: key column, JSON column, events table, its row column
TABLES: dict[str, tuple[str, str, str, str]] = {
    "claims": ("clm01", "claim", "claim_events", "claim_row"),
    "statements": ("statement_id", "statement", "statement_events", "statement_row"),
}
#: the columns of a new row, per kind (the order of :meth:`SQLSubmissions._insert_items` rows)
INSERT_COLUMNS: dict[str, tuple[str, ...]] = {
    "claims": (
        "clinic_id", "clm01", "payer_seq", "version", "frequency_code", "original_reference", "digest",
        "encounter_row", "message_id", "payer_id", "total_charge", "status", "claim", "lane", "created_at",
        "updated_at", "account", "rendered",
    ),
    "statements": (
        "clinic_id", "statement_id", "version", "digest", "encounter_row", "message_id", "status", "statement", "lane",
        "created_at", "updated_at",
    ),
}  # fmt: skip
_SELECT = {
    "claims": (
        "id, clinic_id, clm01, payer_seq, version, frequency_code, status, digest, message_id, outbox_id, "
        "original_reference, payer_claim_id, payer_id, total_charge, lane, created_at, updated_at"
    ),
    "statements": (
        "id, clinic_id, statement_id, 1, version, '', status, digest, message_id, outbox_id, NULL, NULL, NULL, "
        "NULL, lane, created_at, COALESCE(updated_at, created_at)"
    ),
}
#: per kind: the columns of a row's natural key, the associated data of its sealed JSON
ROW_KEY: dict[str, str] = {
    "claims": "clinic_id, clm01, payer_seq, version",
    "statements": "clinic_id, statement_id, version",
}
_NOUN = {"claims": "claim", "statements": "statement"}
#: statuses an item leaves behind when its message is reprocessed (nothing of it left the gateway)
REBUILDABLE = ("created", "held", "failed", "discarded", "superseded")


def _submission(kind: Kind, r: Sequence[Any]) -> Submission:
    return Submission(
        int(r[0]), kind, r[1], r[2], int(r[3]), int(r[4]), r[5], r[6], r[7], int(r[8]),
        int(r[9]) if r[9] is not None else None, r[10], r[11], r[12], r[13], r[14], float(r[15]), float(r[16]),
    )  # fmt: skip


@dataclass
class Admitted:
    """One claim or statement of a batch and what the duplicate rule made of it."""

    kind: Kind
    message_id: int
    encounter: Any  # EncounterOutcome
    clinic_id: str
    key: str
    payer_seq: int
    new: NewClaim | NewStatement
    digest: str
    decision: Decision
    #: the row inserted for it (create/hold), shared with later items of the key
    known: Known | None = None
    supersedes: list[Known] = field(default_factory=list)


def _held_finding(a: Admitted) -> dict[str, Any]:
    earlier = a.decision.after
    noun, clm = _NOUN[a.kind], a.key
    actions = "--replace|--void|--discard" if a.kind == "claims" else "--replace|--discard"
    where = f"version {earlier.version}, {earlier.status}" if earlier else "an earlier version"
    return {
        "severity": "error",
        "rule": "GW-DUPLICATE-CLAIM" if a.kind == "claims" else "GW-DUPLICATE-STATEMENT",
        "message": f"{noun} {clm} was already produced with different content ({where}); held as version "
        f"{a.decision.version} for an operator: gateway {a.kind} resolve {clm} --clinic {a.clinic_id} {actions}",
        "location": f"{noun}.id",
        "plugin": "core",
    }


def _resent_finding(a: Admitted) -> dict[str, Any]:
    return {
        "severity": "info",
        "rule": "GW-RESENT-CLAIM" if a.kind == "claims" else "GW-RESENT-STATEMENT",
        "message": f"{_NOUN[a.kind]} {a.key} is identical to version {a.decision.version} already produced; "
        "not billed again",
        "location": f"{_NOUN[a.kind]}.id",
        "plugin": "core",
    }


class SQLSubmissions(SQLBase, SubmissionStore):
    """Claims and statements as submissions (see the module doc)."""

    def _lock_keys(self, cur: Any, keys: Sequence[str]) -> None:
        """Serialise writers of the same keys until the commit (SQLite's write
        lock already does; PostgreSQL takes an advisory lock per key)."""

    # -- the duplicate rule inside Store.complete ------------------------------
    def _admit(self, cur: Any, outcomes: Sequence[Any]) -> list[Admitted]:
        """Decide every claim and statement of ``outcomes`` (in order: a later
        item sees the earlier ones) and set their encounters' and messages'
        statuses and findings accordingly. Nothing is written yet."""
        items: list[tuple[Kind, Any, Any, NewClaim | NewStatement]] = []
        for o in outcomes:
            for e in o.encounters:
                items += [("claims", o, e, c) for c in e.claims]
                items += [("statements", o, e, st) for st in e.statements]
        if not items:
            return []
        self._lock_keys(cur, sorted({f"{k}|{e.clinic_id}|{self._key(n)}" for k, _, e, n in items}))
        known: dict[tuple[str, str, str, int], list[Known]] = {}
        for kind in ("claims", "statements"):
            keys = {(e.clinic_id, self._key(n)) for k, _, e, n in items if k == kind}
            known.update(self._known(cur, kind, keys))  # type: ignore[arg-type]
        out = []
        for kind, o, e, new in items:
            seq = new.payer_seq if isinstance(new, NewClaim) else 1
            key = self._key(new)
            digest = new.digest or content_digest(kind, str(new.body))
            rows = known.setdefault((kind, e.clinic_id, key, seq), [])
            d = decide(rows, digest)
            a = Admitted(kind, o.message_id, e, e.clinic_id, key, seq, new, digest, d)
            if d.action != "duplicate":
                a.known = Known(None, d.version, ClaimStatus.HELD if d.action == "hold" else ClaimStatus.CREATED,
                                digest)  # fmt: skip
                rows.append(a.known)
                for h in d.supersedes:
                    h.status = ClaimStatus.SUPERSEDED
                    a.supersedes.append(h)
            out.append(a)
        self._settle_outcomes(outcomes, out)
        return out

    @staticmethod
    def _key(new: NewClaim | NewStatement) -> str:
        return new.clm01 if isinstance(new, NewClaim) else new.statement_id

    def _known(self, cur: Any, kind: Kind, keys: set[tuple[str, str]]) -> dict[tuple[str, str, str, int], list[Known]]:
        """What the store holds for ``keys`` (clinic, key): per (kind, clinic,
        key, payer place), its submissions."""
        column, body, _, _ = TABLES[kind]
        seq = "payer_seq" if kind == "claims" else "1"
        by_clinic: dict[str, list[str]] = {}
        for clinic, key in keys:
            by_clinic.setdefault(clinic, []).append(key)
        out: dict[tuple[str, str, str, int], list[Known]] = {}
        for clinic, ks in by_clinic.items():
            for part in chunks(sorted(ks)):
                cur.execute(
                    f"SELECT id, {column}, {seq}, version, status, digest, CASE WHEN digest IS NULL THEN {body} END "
                    f"FROM {kind} WHERE clinic_id = ? AND {column} IN ({marks(len(part))})",
                    (clinic, *part),
                )
                for row, key, s, version, status, digest, text in cur.fetchall():
                    if digest is None:  # rows from before migration 5
                        where = row_ref(clinic, key, s, version) if kind == "claims" else row_ref(clinic, key, version)
                        digest = content_digest(kind, self.open(f"{kind}.{_NOUN[kind]}", text, where))
                    known = Known(int(row), int(version), status, digest)
                    out.setdefault((kind, clinic, key, int(s)), []).append(known)
        return out

    @staticmethod
    def _settle_outcomes(outcomes: Sequence[Any], admitted: list[Admitted]) -> None:
        """Encounters with held content are quarantined (with the finding that
        names the command), those whose every item was a resend are
        ``duplicate``; each message's status follows."""
        by_encounter: dict[int, list[Admitted]] = {}
        for a in admitted:
            by_encounter.setdefault(id(a.encounter), []).append(a)
        for o in outcomes:
            new_items: set[str] = set()
            for e in o.encounters:
                mine = by_encounter.get(id(e), [])
                if not mine:
                    continue
                held = [a for a in mine if a.decision.action == "hold"]
                e.findings = [*e.findings, *(_held_finding(a) for a in held)]
                e.findings += [_resent_finding(a) for a in mine if a.decision.action == "duplicate"]
                if held:
                    e.status = "quarantined"
                elif all(a.decision.action == "duplicate" for a in mine):
                    e.status = "duplicate"
                new_items |= {str(a.known.status) for a in mine if a.known is not None}
            if str(o.status) == "claimed":
                o.status = message_status(new_items, [str(e.status) for e in o.encounters])

    def _write_admitted(
        self, cur: Any, admitted: list[Admitted], enc_rows: dict[int, int], lanes: dict[int, str | None], actor: str,
        now: float,
    ) -> None:  # fmt: skip
        """Insert the new rows, supersede older held ones and write the events."""
        for kind in ("claims", "statements"):
            mine = [a for a in admitted if a.kind == kind]
            fresh = [a for a in mine if a.known is not None]
            rows = (self._row_values(a, enc_rows[id(a.encounter)], lanes.get(a.message_id), now) for a in fresh)
            for a, row_id in zip(fresh, self._insert_items(cur, kind, rows), strict=True):  # type: ignore[arg-type]
                a.known.row = row_id  # type: ignore[union-attr]
            stored = [h.row for a in mine for h in a.supersedes if h.row is not None]
            # rows inserted above went in with their final status; these are older rows
            older = [r for r in stored if r not in {a.known.row for a in fresh}]  # type: ignore[union-attr]
            if older:
                cur.executemany(
                    f"UPDATE {kind} SET status = 'superseded', updated_at = ? WHERE id = ? AND status = 'held'",
                    [(now, r) for r in older],
                )
            events: list[Event] = []
            for a in mine:
                source = f"message:{a.message_id}"
                d = a.decision
                if d.action == "duplicate":
                    events.append((d.after.row, "resent", None, source, actor, {}))  # type: ignore[union-attr]
                    continue
                detail: dict[str, Any] = {"version": d.version}
                if d.after is not None:
                    detail["after"] = {"version": d.after.version, "status": str(d.after.status)}
                status = "held" if d.action == "hold" else "created"
                events.append((a.known.row, status, status, source, actor, detail))  # type: ignore[arg-type, union-attr]
                for h in a.supersedes:
                    events.append((h.row, "superseded", "superseded", source, actor, {"by_version": d.version}))  # type: ignore[arg-type]
            self._events(cur, kind, events, now)  # type: ignore[arg-type]

    def _row_values(self, a: Admitted, encounter_row: int, lane: str | None, now: float) -> tuple[Any, ...]:
        status = str(a.known.status)  # type: ignore[union-attr]
        version = a.decision.version
        if isinstance(a.new, NewClaim):
            c = a.new
            where = row_ref(a.clinic_id, c.clm01, c.payer_seq, version)
            body = self.seal("claims.claim", str(c.body), where)
            rendered = None if c.rendered is None else self.seal("claims.rendered", str(c.rendered), where)
            return (a.clinic_id, c.clm01, c.payer_seq, version, "1", None, a.digest, encounter_row, a.message_id,
                    c.payer_id, c.total_charge, status, body, lane, now, now, c.account, rendered)  # fmt: skip
        st = a.new
        body = self.seal("statements.statement", str(st.body), row_ref(a.clinic_id, st.statement_id, version))
        return (a.clinic_id, st.statement_id, version, a.digest, encounter_row, a.message_id, status, body, lane,
                now, now)  # fmt: skip

    def _insert_items(self, cur: Any, kind: Kind, rows: Iterable[tuple[Any, ...]]) -> list[int]:
        """Insert rows (:data:`INSERT_COLUMNS` order, made as they are read); their ids, in order."""
        columns = INSERT_COLUMNS[kind]
        sql = f"INSERT INTO {kind} ({', '.join(columns)}) VALUES ({marks(len(columns))}) RETURNING id"
        out = []
        for r in rows:
            cur.execute(sql, r)
            out.append(int(cur.fetchone()[0]))
        return out

    # -- reading ---------------------------------------------------------------
    def submissions(self, kind: Kind, clinic_id: str, key: str, payer_seq: int | None = None) -> list[Submission]:
        column = TABLES[kind][0]
        sql = f"SELECT {_SELECT[kind]} FROM {kind} WHERE clinic_id = ? AND {column} = ?"
        args: list[Any] = [clinic_id, key]
        if payer_seq is not None and kind == "claims":
            sql += " AND payer_seq = ?"
            args.append(payer_seq)
        with self.read() as cur:
            cur.execute(sql, args)
            rows = [_submission(kind, r) for r in cur.fetchall()]
        return sorted(rows, key=lambda s: (s.payer_seq, s.version))

    def list_submissions(self, kind: Kind, flt: SubmissionFilter) -> list[Submission]:
        where, args = [], []
        for column, op, value in (
            ("clinic_id", "=", flt.clinic_id),
            ("status", "=", flt.status),
            ("payer_id", "=", flt.payer_id if kind == "claims" else None),
            ("created_at", ">=", flt.since),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                args.append(value)
        sql = f"SELECT {_SELECT[kind]} FROM {kind}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self.read() as cur:
            cur.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, flt.limit))
            return [_submission(kind, r) for r in cur.fetchall()]

    def submission_counts(self) -> list[tuple[str, str, str, int]]:
        out = []
        with self.read() as cur:
            for kind in ("claims", "statements"):
                cur.execute(f"SELECT clinic_id, status, COUNT(*) FROM {kind} GROUP BY clinic_id, status")
                out += [(kind, c, s, int(n)) for c, s, n in cur.fetchall()]
        return sorted(out)

    def events(self, kind: Kind, clinic_id: str, key: str) -> list[ItemEvent]:
        column, _, table, row = TABLES[kind]
        seq = "i.payer_seq" if kind == "claims" else "1"
        with self.read() as cur:
            cur.execute(
                f"SELECT e.{row}, i.version, {seq}, e.at, e.kind, e.status, e.source, e.actor, e.detail "
                f"FROM {table} e JOIN {kind} i ON i.id = e.{row} WHERE i.clinic_id = ? AND i.{column} = ? "
                "ORDER BY e.at, e.id",
                (clinic_id, key),
            )
            return [
                ItemEvent(int(r), int(v), int(s), float(at), k, st, src, actor, json.loads(d))
                for r, v, s, at, k, st, src, actor, d in cur.fetchall()
            ]

    # -- transitions -------------------------------------------------------------
    def record_transition(
        self,
        kind: Kind,
        row: int,
        event: str,
        *,
        status: str | None = None,
        expect: frozenset[str] | None = None,
        source: str | None = None,
        actor: str = "gateway",
        detail: dict[str, Any] | None = None,
        payer_claim_id: str | None = None,
    ) -> bool:
        now = time.time()
        with self.write() as cur:
            return self._transition(cur, kind, row, event, now, status=status, expect=expect, source=source,
                                    actor=actor, detail=detail, payer_claim_id=payer_claim_id)  # fmt: skip

    def _transition(
        self, cur: Any, kind: Kind, row: int, event: str, now: float, *, status: str | None = None,
        expect: frozenset[str] | None = None, source: str | None = None, actor: str = "gateway",
        detail: dict[str, Any] | None = None, payer_claim_id: str | None = None,
    ) -> bool:  # fmt: skip
        """:meth:`record_transition` inside the caller's transaction (for store
        methods that move several rows at once, e.g. posting a remit)."""
        cur.execute(f"SELECT status, message_id FROM {kind} WHERE id = ?{self._lock_clause}", (row,))
        found = cur.fetchone()
        if found is None or (expect is not None and found[0] not in expect):
            return False
        sets, args = ["updated_at = ?"], [now]
        if status is not None:
            sets.append("status = ?")
            args.append(str(status))
        if payer_claim_id is not None and kind == "claims":
            sets.append("payer_claim_id = ?")
            args.append(payer_claim_id)
        cur.execute(f"UPDATE {kind} SET {', '.join(sets)} WHERE id = ?", (*args, row))
        self._events(cur, kind, [(row, event, str(status) if status else None, source, actor, detail or {})], now)
        if status is not None:
            self._settle_messages(cur, [int(found[1])], actor, now)
        return True

    #: appended to a SELECT of a row the transaction is about to change
    _lock_clause = ""

    # -- operators' resolutions ----------------------------------------------
    def resolve(
        self,
        kind: Kind,
        clinic_id: str,
        key: str,
        action: str,
        actor: str,
        *,
        reason: str = "",
        icn: str | None = None,
        payer_seq: int | None = None,
    ) -> Resolution:
        if action not in ACTIONS[kind]:
            raise ResolveError(f"{kind} resolve: --{action} is not possible for {kind} ({', '.join(ACTIONS[kind])})")
        noun = _NOUN[kind]
        now = time.time()
        with self.write() as cur:
            self._lock_keys(cur, [f"{kind}|{clinic_id}|{key}"])
            rows = self._rows_in(cur, kind, clinic_id, key)
            held = [r for r in rows if r.status == ClaimStatus.HELD and payer_seq in (None, r.payer_seq)]
            if not held:
                raise ResolveError(
                    f"no held {noun} {key} for clinic {clinic_id} (see gateway {kind} list --status held)"
                )
            if len({h.payer_seq for h in held}) > 1:
                raise ResolveError(f"{noun} {key} is held for several payers; say which with --payer-seq 1|2|3")
            h = max(held, key=lambda r: r.version)
            place = [r for r in rows if r.payer_seq == h.payer_seq and r.version < h.version]
            sent = [r for r in place if r.status not in NOT_SENT]
            earlier = max(sent, key=lambda r: r.version) if sent else None
            never_sent = earlier is None or earlier.status in (ClaimStatus.CREATED, ClaimStatus.FAILED)
            rejected = earlier is not None and earlier.status in REJECTED  # the payer never accepted it
            detail: dict[str, Any] = {"action": action, "reason": reason} if reason else {"action": action}
            created: Submission | None = None
            if action == "discard":
                self._move(cur, kind, h, "discarded", actor, now, {**detail})
            elif action == "replace" and rejected:  # goes out as a new original; the rejected one stays as it is
                self._move(cur, kind, h, "created", actor, now, {"frequency": "1", "after_rejection": earlier.version,  # type: ignore[union-attr]
                           **detail}, event="released")  # fmt: skip
            elif action == "replace" and never_sent:
                if earlier is not None:
                    self._move(cur, kind, earlier, "superseded", actor, now, {"by_version": h.version, **detail})
                self._move(cur, kind, h, "created", actor, now, {"frequency": "1", **detail}, event="released")
            elif action == "replace" and kind == "statements":
                self._move(cur, kind, h, "created", actor, now, {"replaces_version": earlier.version, **detail},  # type: ignore[union-attr]
                           event="released")  # fmt: skip
            elif action == "void" and (never_sent or rejected):
                if earlier is not None:
                    self._move(cur, kind, earlier, "voided", actor, now, {"never_sent": True, **detail})
                self._move(cur, kind, h, "discarded", actor, now, {**detail})
            else:  # a replacement (7) or void (8) of a claim the payer may have: quote its ICN
                assert earlier is not None
                ref = icn or earlier.payer_claim_id or next((r.payer_claim_id for r in reversed(rows)
                                                            if r.payer_claim_id), None)  # fmt: skip
                if not ref:
                    raise ResolveError(
                        f"claim {key} version {earlier.version} is {earlier.status} and no payer claim control "
                        f"number (ICN) is on record for it; a {'replacement' if action == 'replace' else 'void'} "
                        "must quote it: give --icn as printed on the payer's 277CA or 835"
                    )
                if earlier.payer_claim_id is None:
                    cur.execute("UPDATE claims SET payer_claim_id = ? WHERE id = ?", (ref, earlier.row))
                if action == "replace":
                    self._as_frequency(cur, h.row, "7", ref, None, now)
                    self._move(cur, kind, h, "created", actor, now, {"frequency": "7", "icn": ref,
                               "replaces_version": earlier.version, **detail}, event="replacement")  # fmt: skip
                    self._move(cur, kind, earlier, None, actor, now, {"by_version": h.version, "icn": ref},
                               event="replaced")  # fmt: skip
                else:
                    created = self._void(cur, earlier, h, ref, rows, actor, now, detail)
                    self._move(cur, kind, earlier, "voided", actor, now, {"by_version": created.version, "icn": ref})
                    self._move(cur, kind, h, "discarded", actor, now, {**detail})
            if kind == "statements" and action == "replace":  # the account follows the content sent
                self._restate(cur, h.row, actor, now)  # type: ignore[attr-defined]
            self._encounter_after(cur, kind, h.row, action)
            touched = {h.message_id} | ({earlier.message_id} if earlier else set())
            self._settle_messages(cur, sorted(touched), actor, now)
            audit = {noun: key, "version": h.version, "action": action, "reason": reason}
            self._audit(cur, h.message_id, actor, f"{noun}-{action}", {**audit, **({"icn": icn} if icn else {})})
            after = {r.row: r for r in self._rows_in(cur, kind, clinic_id, key)}
        return Resolution(kind, action, after[h.row], after.get(earlier.row) if earlier else None,
                          after.get(created.row) if created else None)  # fmt: skip

    def _rows_in(self, cur: Any, kind: Kind, clinic_id: str, key: str) -> list[Submission]:
        column = TABLES[kind][0]
        cur.execute(f"SELECT {_SELECT[kind]} FROM {kind} WHERE clinic_id = ? AND {column} = ?", (clinic_id, key))
        return sorted((_submission(kind, r) for r in cur.fetchall()), key=lambda s: (s.payer_seq, s.version))

    def _move(
        self, cur: Any, kind: Kind, s: Submission, status: str | None, actor: str, now: float, detail: dict[str, Any],
        event: str | None = None,
    ) -> None:  # fmt: skip
        if status is not None:
            cur.execute(f"UPDATE {kind} SET status = ?, updated_at = ? WHERE id = ?", (status, now, s.row))
        self._events(cur, kind, [(s.row, event or str(status), status, f"operator:{actor}", actor, detail)], now)

    def _as_frequency(self, cur: Any, row: int, frequency: str, original: str, body: str | None, now: float) -> None:
        """Make claim ``row`` a replacement (7) or void (8) quoting ``original``
        (``body``: the claim JSON to use, else its own)."""
        cur.execute(f"SELECT claim, {ROW_KEY['claims']} FROM claims WHERE id = ?", (row,))
        stored, *key = cur.fetchone()
        if body is None:
            body = self.open("claims.claim", stored, row_ref(*key))
        data = json.loads(body)  # type: ignore[arg-type]
        data.update(frequency_code=frequency, original_reference=original)
        cur.execute(
            "UPDATE claims SET frequency_code = ?, original_reference = ?, claim = ?, rendered = NULL, updated_at = ? "
            "WHERE id = ?",
            (frequency, original, self.seal("claims.claim", to_json(data), row_ref(*key)), now, row),
        )

    def _void(
        self, cur: Any, earlier: Submission, held: Submission, ref: str, rows: list[Submission], actor: str,
        now: float, detail: dict[str, Any],
    ) -> Submission:  # fmt: skip
        """A new submission voiding ``earlier`` (its content, frequency 8)."""
        cur.execute(f"SELECT encounter_row, account, claim, {ROW_KEY['claims']} FROM claims WHERE id = ?",
                    (earlier.row,))  # fmt: skip
        encounter_row, account, body, *key = cur.fetchone()
        version = max(r.version for r in rows if r.payer_seq == earlier.payer_seq) + 1
        data = json.loads(self.open("claims.claim", body, row_ref(*key)))
        data.update(frequency_code="8", original_reference=ref)
        sealed = self.seal("claims.claim", to_json(data), row_ref(earlier.clinic_id, earlier.key, earlier.payer_seq,
                                                                  version))  # fmt: skip
        values = (earlier.clinic_id, earlier.key, earlier.payer_seq, version, "8", ref, earlier.digest, encounter_row,
                  earlier.message_id, earlier.payer_id, earlier.total_charge, "created", sealed, held.lane,
                  now, now, account, None)  # fmt: skip
        (row,) = self._insert_items(cur, "claims", [values])
        self._events(cur, "claims", [(row, "void", "created", f"operator:{actor}", actor,
                                      {"voids_version": earlier.version, "icn": ref, **detail})], now)  # fmt: skip
        return replace(earlier, row=row, version=version, frequency_code="8", status="created", lane=held.lane)

    def _encounter_after(self, cur: Any, kind: Kind, row: int, action: str) -> None:
        """The held content's encounter: ``claimed`` again when its content goes
        out, ``discarded`` otherwise."""
        cur.execute(
            f"UPDATE encounters SET status = ? WHERE id = (SELECT encounter_row FROM {kind} WHERE id = ?) "
            "AND status = 'quarantined'",
            ("claimed" if action == "replace" else "discarded", row),
        )
