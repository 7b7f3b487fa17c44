"""SQL of the closed loop (:mod:`gateway.store.remits`), shared by both
backends: posting answers and remits inside :meth:`Store.complete`, the
ledger, and the read side (a claim's story, remits, open balances).

Writers of one claim are serialised like the duplicate rule's: SQLite's
write lock, a transaction-scoped advisory lock per claim (and per remit
content hash and TRN02) on PostgreSQL, so two nodes posting different
remits for the same claim at once never lose an update, and the same remit
posted by two nodes at once posts once.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from gateway.model import Ack999, ClaimAck277, InterchangeAck, Remit835
from gateway.posting import (
    ADJUSTING,
    CLP_PLACE,
    POSTABLE,
    ZERO,
    Entry,
    PostedAdjustment,
    PostedClaim,
    RemitDigest,
    ResponseItem,
    ack277_reasons,
    ack999_reasons,
    ack_status,
    claim_facts,
    document_hash,
    line_numbers,
    may_move,
    posted_claims,
    remit_entries,
    remit_status,
)
from gateway.responsibility import Adjudication, ClaimFacts, Step, next_step
from gateway.store.codec import ref
from gateway.store.remits import (
    AckRow,
    ClaimStory,
    LedgerEntry,
    Money,
    OpenBalance,
    PostingError,
    ProviderAdjustmentRow,
    RemitClaimRow,
    RemitDetail,
    RemitFilter,
    RemitRow,
    RemitStore,
    Unmatched,
    money_of,
)
from gateway.store.sql_submissions import ROW_KEY
from gateway.store.sqlbase import Event, SQLBase, chunks, marks, to_json
from gateway.store.sqlbase import money_text as _money

_REMIT_COLUMNS = (
    "id, message_id, doc_index, clinic_id, status, payer_id, payer_name, payee_npi, trace_number, originator, amount, "
    "method, payment_date, content_hash, duplicate_of, claims, unmatched, segment, findings, created_at"
)
_REMIT_CLAIM_COLUMNS = (
    "id, remit_id, clinic_id, clm01, claim_row, outcome, status_code, charge, paid, patient_responsibility, "
    "payer_claim_id, adjustments, segment"
)
_LEDGER_COLUMNS = (
    "id, clinic_id, clm01, payer_seq, claim_row, line, kind, group_code, reason, amount, remit_id, source, actor, at, "
    "note"
)
_INSERT_LEDGER = (
    "INSERT INTO ledger (clinic_id, clm01, payer_seq, claim_row, line, kind, group_code, reason, amount, remit_id, "
    "source, actor, note, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_BALANCE = (
    "INSERT INTO claim_balances (clinic_id, clm01, payer_seq, claim_row, charge, paid, balance, last_response_at, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (clinic_id, clm01, payer_seq) DO UPDATE SET "
    "claim_row = excluded.claim_row, charge = excluded.charge, paid = excluded.paid, balance = excluded.balance, "
    "last_response_at = excluded.last_response_at, updated_at = excluded.updated_at"
)
#: since when the payer has a claim (``claims c`` joined to its ``outbox o`` document): its
#: delivery; a crossover never left the gateway, its payer has it since the forwarding 835 posted
PAYER_HAS_IT_SINCE = "COALESCE(o.delivered_at, CASE WHEN c.status = 'crossover' THEN c.created_at END)"
_TOUCH_BALANCE = (
    "INSERT INTO claim_balances (clinic_id, clm01, payer_seq, claim_row, charge, paid, balance, last_response_at, "
    "updated_at) SELECT clinic_id, clm01, payer_seq, id, total_charge, '0.00', total_charge, ?, ? FROM claims "
    "WHERE id = ? ON CONFLICT (clinic_id, clm01, payer_seq) DO UPDATE SET "
    "last_response_at = excluded.last_response_at, "
    "updated_at = excluded.updated_at"
)
#: statuses of a submission a 277CA may still be the answer for
_AWAITING_277 = frozenset({"batched", "delivered", "accepted_999"})
#: statuses of a submission the payer owes nothing more on (the patient may: ``patient_due``)
_SETTLED = ("closed", "patient_due")
#: statuses of a submission that is no longer owed anything (left out of open balances)
_NOT_OWED = ("rejected_999", "rejected_277", "voided")


#: claims are locked in this many buckets per clinic: a 10,000-claim remit takes at most this many
#: PostgreSQL advisory locks (the lock table is shared and small), unrelated claims rarely wait
_LOCK_BUCKETS = 256
#: a remit's CLPs are matched and posted this many at a time (memory stays flat in the remit's size)
_CLP_BATCH = 1000


def _batches(clps: Iterator[PostedClaim]) -> Iterator[list[PostedClaim]]:
    """``clps`` in lists of at most :data:`_CLP_BATCH`."""
    while part := list(islice(clps, _CLP_BATCH)):
        yield part


def _claim_lock(clinic: str, clm01: str) -> str:
    """The lock key serialising writers of one claim's ledger and status."""
    return f"ledger|{clinic}|{zlib.crc32(clm01.encode()) % _LOCK_BUCKETS}"


def _finding(severity: str, rule: str, message: str, location: str | None = None) -> dict[str, Any]:
    out = {"severity": severity, "rule": rule, "message": message, "plugin": "core"}
    if location:
        out["location"] = location
    return out


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else ZERO


@dataclass
class _Sent:
    """The latest sent submission of one payer place of a claim."""

    row: int
    clm01: str
    payer_seq: int
    status: str
    total_charge: str
    message_id: int
    #: the payer's claim control number (ICN) on record, from its 277CA or 835
    payer_claim_id: str | None = None


@dataclass
class _State:
    """A claim's ledger so far, as posting sees it within one transaction."""

    charge: Decimal = ZERO
    paid: Decimal = ZERO
    adjusted: Decimal = ZERO
    #: the payer's (835) entries summed per (line, kind, group, reason): what a correction nets out
    payer: dict[tuple[int | None, str, str | None, str | None], Decimal] = field(default_factory=dict)
    charged: bool = False
    #: a next payer's submission: the earlier payers' part as created (no remit) and as it stands
    prior_created: Decimal = ZERO
    prior: Decimal = ZERO

    @property
    def balance(self) -> Decimal:
        return self.charge - self.paid - self.adjusted

    def add(self, kind: str, amount: Decimal, key: tuple[int | None, str, str | None, str | None] | None) -> None:
        if kind == "charge":
            self.charge += amount
        elif kind == "payment":
            self.paid += amount
        elif kind in ADJUSTING:
            self.adjusted += amount
        if kind == "prior_payer":
            self.prior += amount
        if key is not None:
            self.payer[key] = self.payer.get(key, ZERO) + amount


class SQLRemits(SQLBase, RemitStore):
    """Posting and the ledger (see the module doc)."""

    #: provided by :class:`gateway.store.sql_submissions.SQLSubmissions` (and PostgreSQL's locks)
    _lock_clause: str
    _lock_keys: Any

    # -- posting (inside Store.complete) ------------------------------------------------
    def _post_responses(self, cur: Any, outcomes: Sequence[Any], actor: str, now: float) -> None:
        """Post every response document of ``outcomes`` (their ``responses``)
        and set each message's status and findings from what happened:
        ``duplicate`` when every document was posted before, ``quarantined``
        when one was quarantined."""
        for o in outcomes:
            items: list[ResponseItem] = getattr(o, "responses", None) or []
            if not items:
                continue
            results = self._post_items(cur, o, items, actor, now)
            if str(o.status) in ("quarantined", "dead"):
                continue
            if all(r == "duplicate" for r in results):
                o.status = "duplicate"
            elif "quarantined" in results:
                o.status = "quarantined"

    def _post_items(self, cur: Any, o: Any, items: list[ResponseItem], actor: str, now: float) -> list[str]:
        """Post one message's documents; what happened to each."""
        results = []
        posted = self._forget_unposted(cur, o.message_id)
        for item in items:
            o.findings.extend(item.findings)  # the document's own and routing's, on the message for operators
            source = f"{item.document.kind}:{o.message_id}"
            if item.doc_index in posted:  # reprocessed: this message posted the document already
                doc = item.document
                where = f"segment {doc.control.segment if isinstance(doc, Remit835) else doc.segment}"
                note = f"{doc.kind} document {item.doc_index + 1} of this file was posted before; not posted again"
                o.findings.append(_finding("info", "GW-RESPONSE-POSTED", note, where))
                results.append("duplicate")
                continue
            if item.document.kind == "835":
                results.append(self._post_remit(cur, o, item, source, actor, now))
            else:
                results.append(self._post_ack(cur, o, item, source, actor, now))
        return results

    def _forget_unposted(self, cur: Any, message_id: int) -> set[int]:
        """A message posted again (an operator's reprocess): what its earlier
        attempt stored without posting (quarantined, unmatched, duplicate) is
        dropped, so only this attempt's outcome is reported. The documents it
        did post (their index in the file) come back: they are not posted again."""
        cur.execute("SELECT id, doc_index, status FROM remits WHERE message_id = ?", (message_id,))
        rows = cur.fetchall()
        stale = [int(i) for i, _, status in rows if status != "posted"]
        for part in chunks(stale):
            for table in ("remit_claims", "remit_plb"):
                cur.execute(f"DELETE FROM {table} WHERE remit_id IN ({marks(len(part))})", part)
            cur.execute(f"DELETE FROM remits WHERE id IN ({marks(len(part))})", part)
        cur.execute("DELETE FROM acks WHERE message_id = ? AND status <> 'posted'", (message_id,))
        cur.execute("SELECT doc_index FROM acks WHERE message_id = ?", (message_id,))
        return {int(d) for _, d, status in rows if status == "posted"} | {int(r[0]) for r in cur.fetchall()}

    # -- TA1, 999, 277CA ----------------------------------------------------------------
    def _post_ack(self, cur: Any, o: Any, item: ResponseItem, source: str, actor: str, now: float) -> str:
        doc = item.document
        assert isinstance(doc, InterchangeAck | Ack999 | ClaimAck277)
        digest = document_hash(doc)
        if isinstance(doc, InterchangeAck):
            reference, accepted, what = doc.interchange, doc.accepted, f"TA1 for our interchange {doc.interchange}"
        elif isinstance(doc, Ack999):
            reference, accepted = doc.group_control, doc.status in ("A", "E", "P")
            what = f"999 for our group GS06 {doc.group_control}"
        else:
            reference, accepted, what = doc.claim_id, not doc.rejected, f"277CA for claim {doc.claim_id}"
        where = f"segment {doc.segment}"
        if item.quarantined:
            self._insert_ack(cur, o.message_id, item, reference, "quarantined", accepted, digest, 0, {}, now)
            return "quarantined"
        self._lock_keys(cur, [f"ack|{digest}"])
        cur.execute("SELECT id FROM acks WHERE content_hash = ? AND status = 'posted' LIMIT 1", (digest,))
        if (dup := cur.fetchone()) is not None:
            self._insert_ack(cur, o.message_id, item, reference, "duplicate", accepted, digest, 0,
                             {"duplicate_of": int(dup[0])}, now)  # fmt: skip
            o.findings.append(_finding("info", "GW-ACK-DUPLICATE", f"{what} was posted before (ack {dup[0]}); "
                                       "not posted again", where))  # fmt: skip
            return "duplicate"
        targets = self._ack_targets(cur, doc, item.clinic_id)
        if not targets:
            self._insert_ack(cur, o.message_id, item, reference, "unmatched", accepted, digest, 0, {}, now)
            why = "no claim we sent" if not isinstance(doc, ClaimAck277) or item.clinic_id else "no clinic"
            o.findings.append(_finding("warning", "GW-ACK-UNMATCHED", f"{what} matches {why}; kept as unmatched",
                                       where))  # fmt: skip
            return "unmatched"
        self._lock_keys(cur, sorted({_claim_lock(t[1], t[2]) for t in targets}))
        events: list[Event] = []
        moves: list[tuple[str, float, int]] = []
        clinics: set[str] = set()
        icn = doc.payer_claim_id if isinstance(doc, ClaimAck277) else None
        for row, clinic, _clm01, current, ok, reasons in targets:
            clinics.add(clinic)
            status = ack_status(doc, ok)
            detail: dict[str, Any] = {"accepted": ok, "reference": reference}
            if reasons:
                detail["reasons"] = reasons
            if icn:
                detail["payer_claim_id"] = icn
            kind = status or "ta1_accepted"
            if status is not None and may_move(current, doc.kind):
                moves.append((status, now, row))
                events.append((row, kind, status, source, actor, detail))
            else:
                events.append((row, kind, None, source, actor, {**detail, "late": status is not None}))
        cur.executemany("UPDATE claims SET status = ?, updated_at = ? WHERE id = ?", moves)
        if icn:  # the ICN of a late 277CA does not replace one an 835 gave
            cur.executemany("UPDATE claims SET payer_claim_id = ? WHERE id = ?", [(icn, m[2]) for m in moves])
        self._events(cur, "claims", events, now)
        cur.executemany(_TOUCH_BALANCE, [(now, now, t[0]) for t in targets])
        self._insert_ack(cur, o.message_id, item, reference, "posted", accepted, digest, len(targets),
                         {"clinics": sorted(clinics)}, now, clinic=item.clinic_id or min(clinics))  # fmt: skip
        return "posted"

    def _insert_ack(
        self, cur: Any, message_id: int, item: ResponseItem, reference: str, status: str, accepted: bool,
        digest: str, claims: int, detail: dict[str, Any], now: float, clinic: str | None = None,
    ) -> None:  # fmt: skip
        cur.execute(
            "INSERT INTO acks (message_id, doc_index, kind, clinic_id, reference, status, accepted, content_hash, "
            "claims, segment, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (message_id, doc_index) DO NOTHING",
            (message_id, item.doc_index, item.document.kind, clinic or item.clinic_id, reference, status,
             int(accepted), digest, claims, item.document.segment, to_json({**detail, "findings": item.findings}),
             now),
        )  # fmt: skip

    def _ack_targets(
        self, cur: Any, doc: InterchangeAck | Ack999 | ClaimAck277, clinic: str | None
    ) -> list[tuple[int, str, str, str, bool, list[dict[str, Any]]]]:
        """(claim row, clinic, CLM01, status, accepted, reasons) per claim an answer is about."""
        cols = "id, clinic_id, clm01, status, x12_partner"
        out = []
        if isinstance(doc, ClaimAck277):
            if clinic is None:
                return []
            sent = self._latest_sent(cur, clinic, [doc.claim_id])
            if not sent:
                return []
            # with a secondary out, the place still waiting for a 277CA is the one it answers
            waiting = [k for k, v in sent.items() if v.status in _AWAITING_277]
            s = sent[max(waiting)] if waiting else sent.get((doc.claim_id, 1)) or sent[min(sent)]
            return [(s.row, clinic, s.clm01, s.status, not doc.rejected, ack277_reasons(doc))]
        if isinstance(doc, InterchangeAck):
            cur.execute(f"SELECT {cols} FROM claims WHERE x12_interchange = ?{self._lock_clause}", (doc.interchange,))
            rows = self._partner(cur.fetchall(), doc.control.sender)
            reasons = [] if doc.accepted else [{"code": doc.note, "text": doc.note_text}]
            return [(int(r[0]), r[1], r[2], r[3], doc.accepted, reasons) for r in rows if r[3] in POSTABLE]
        sets = doc.transactions or [None]
        for t in sets:
            if t is None:
                cur.execute(f"SELECT {cols} FROM claims WHERE x12_group = ?{self._lock_clause}", (doc.group_control,))
                ok = doc.status in ("A", "E")
            else:
                cur.execute(
                    f"SELECT {cols} FROM claims WHERE x12_group = ? AND x12_transaction = ?{self._lock_clause}",
                    (doc.group_control, t.control_number),
                )
                ok = t.accepted
            rows = self._partner(cur.fetchall(), doc.control.sender)
            reasons = [] if ok else ack999_reasons(doc, t.control_number if t else None)
            out += [(int(r[0]), r[1], r[2], r[3], ok, reasons) for r in rows if r[3] in POSTABLE]
        return out

    @staticmethod
    def _partner(rows: list[Any], sender: str) -> list[Any]:
        """Rows sent to the answer's sender (our ISA08 = its ISA06) when control
        numbers of several trading partners collide; all rows otherwise."""
        mine = [r for r in rows if (r[4] or "").strip() == sender.strip()]
        return mine or rows

    def _latest_sent(self, cur: Any, clinic: str, clm01s: Sequence[str]) -> dict[tuple[str, int], _Sent]:
        """Per (CLM01, payer place): the latest submission that left the gateway."""
        out: dict[tuple[str, int], _Sent] = {}
        versions: dict[tuple[str, int], int] = {}
        for part in chunks(sorted(set(clm01s))):
            cur.execute(
                "SELECT id, clm01, payer_seq, version, status, total_charge, message_id, payer_claim_id FROM claims "
                f"WHERE clinic_id = ? AND clm01 IN ({marks(len(part))})",
                (clinic, *part),
            )
            for row, clm01, seq, version, status, charge, mid, icn in cur.fetchall():
                key = (clm01, int(seq))
                if status in POSTABLE and version > versions.get(key, 0):
                    versions[key] = version
                    out[key] = _Sent(int(row), clm01, int(seq), status, charge, int(mid), icn)
        return out

    # -- 835 ----------------------------------------------------------------------------
    def _post_remit(self, cur: Any, o: Any, item: ResponseItem, source: str, actor: str, now: float) -> str:
        doc = item.document
        assert isinstance(doc, Remit835)
        payer_id = None
        if doc.payer is not None:
            payer_id = doc.payer.payer_id or doc.payer.id
        if payer_id is None and doc.payment is not None:
            payer_id = doc.payment.originator
        trace = doc.payment.trace_number if doc.payment else None
        where = f"segment {doc.control.segment}"
        # a large remit that may post: hashed while it posts (one reading of its claims, not two)
        digest = "" if doc.streamed and trace and not item.quarantined and item.clinic_id else document_hash(doc)
        if item.quarantined:
            self._insert_remit(cur, o.message_id, item, "quarantined", payer_id, digest, now)
            return "quarantined"
        if item.clinic_id is None:
            rid = self._insert_remit(cur, o.message_id, item, "unmatched", payer_id, digest, now)
            note = (f"835 (TRN02 {trace or '-'}, {doc.claim_count} claims) is for a payee no clinic has; kept as "
                    f"unmatched remit {rid}, nothing posted")  # fmt: skip
            o.findings.append(_finding("warning", "GW-REMIT-UNMATCHED", note, where))
            seq = 0
            for part in _batches(posted_claims(doc)):
                self._remit_claims(cur, rid, None, [(c, None, "unmatched") for c in part], seq)
                seq += len(part)
            cur.execute("UPDATE remits SET unmatched = ? WHERE id = ?", (doc.claim_count, rid))
            self._plb(cur, rid, doc)
            return "unmatched"
        clinic = item.clinic_id
        if doc.streamed and trace:
            return self._post_streamed(cur, o, item, doc, payer_id, trace, source, actor, now)
        locks = [f"remit|{digest}"] + ([f"remit|{payer_id}|{trace}"] if trace else [])
        self._lock_keys(cur, sorted(locks))
        cur.execute(
            "SELECT id, content_hash FROM remits WHERE status = 'posted' AND (content_hash = ? OR "
            "(payer_id = ? AND trace_number = ?)) ORDER BY id LIMIT 1",
            (digest, payer_id, trace),
        )
        if (dup := cur.fetchone()) is not None:
            return self._duplicate(cur, o, item, payer_id, trace, digest, (int(dup[0]), dup[1]), now)
        rid = self._insert_remit(cur, o.message_id, item, "posted", payer_id, digest, now)
        if doc.streamed:  # (no TRN02) claims not known yet: every lock bucket of the clinic, in the same order
            self._lock_keys(cur, sorted(f"ledger|{clinic}|{b}" for b in range(_LOCK_BUCKETS)))
        else:
            self._lock_keys(cur, sorted({_claim_lock(clinic, c.claim_id) for c in doc.claims}))
        seq = unmatched = 0
        settle: set[int] = set()
        for part in _batches(posted_claims(doc)):
            unmatched += self._post_clps(cur, o, part, rid, seq, clinic, source, actor, trace, now, settle)
            seq += len(part)
        self._plb(cur, rid, doc)
        cur.execute("UPDATE remits SET claims = ?, unmatched = ? WHERE id = ?", (seq - unmatched, unmatched, rid))
        self._settle_messages(cur, sorted(settle), actor, now)
        return "posted"

    def _duplicate(
        self, cur: Any, o: Any, item: ResponseItem, payer_id: str | None, trace: str | None, digest: str,
        dup: tuple[int, str], now: float,
    ) -> str:  # fmt: skip
        """Store a remit found a duplicate of remit ``dup`` (id, content hash)."""
        assert isinstance(item.document, Remit835)
        self._insert_remit(cur, o.message_id, item, "duplicate", payer_id, digest, now, dup[0])
        why = "the same content" if dup[1] == digest else f"the same check/EFT number (TRN02 {trace})"
        why += f" from payer {payer_id}" if dup[1] != digest else ""
        note = f"835 with {why} was posted before (remit {dup[0]}); not posted again"
        o.findings.append(_finding("info", "GW-REMIT-DUPLICATE", note, f"segment {item.document.control.segment}"))
        return "duplicate"

    def _post_streamed(
        self, cur: Any, o: Any, item: ResponseItem, doc: Remit835, payer_id: str | None, trace: str, source: str,
        actor: str, now: float,
    ) -> str:  # fmt: skip
        """Post a large (streamed) remit reading its claims once: the content
        hash is taken while it posts, inside a savepoint; a remit found a
        duplicate by content at its end is rolled back to the savepoint and
        stored as a duplicate (as the whole-remit path decides it first)."""
        clinic = item.clinic_id
        assert clinic is not None
        self._lock_keys(cur, [f"remit|{payer_id}|{trace}"])
        dup_sql = "SELECT id, content_hash FROM remits WHERE status = 'posted' AND {} ORDER BY id LIMIT 1"
        cur.execute(dup_sql.format("payer_id = ? AND trace_number = ?"), (payer_id, trace))
        if (dup := cur.fetchone()) is not None:
            return self._duplicate(cur, o, item, payer_id, trace, document_hash(doc), (int(dup[0]), dup[1]), now)
        findings = len(o.findings)
        cur.execute("SAVEPOINT streamed_remit")
        rid = self._insert_remit(cur, o.message_id, item, "posted", payer_id, "", now)
        self._lock_keys(cur, sorted(f"ledger|{clinic}|{b}" for b in range(_LOCK_BUCKETS)))
        hashed = RemitDigest(doc)
        seq = unmatched = 0
        settle: set[int] = set()
        for part in _batches(hashed.claims()):
            unmatched += self._post_clps(cur, o, part, rid, seq, clinic, source, actor, trace, now, settle)
            seq += len(part)
        digest = hashed.hexdigest()
        self._lock_keys(cur, [f"remit|{digest}"])
        cur.execute(dup_sql.format("content_hash = ?"), (digest,))
        if (dup := cur.fetchone()) is not None:
            cur.execute("ROLLBACK TO SAVEPOINT streamed_remit")
            cur.execute("RELEASE SAVEPOINT streamed_remit")
            del o.findings[findings:]
            return self._duplicate(cur, o, item, payer_id, trace, digest, (int(dup[0]), dup[1]), now)
        cur.execute("RELEASE SAVEPOINT streamed_remit")
        self._plb(cur, rid, doc)
        cur.execute("UPDATE remits SET claims = ?, unmatched = ?, content_hash = ? WHERE id = ?",
                    (seq - unmatched, unmatched, digest, rid))  # fmt: skip
        self._settle_messages(cur, sorted(settle), actor, now)
        return "posted"

    def _post_clps(
        self, cur: Any, o: Any, clps: list[PostedClaim], rid: int, seq: int, clinic: str, source: str, actor: str,
        trace: str | None, now: float, settle: set[int],
    ) -> int:  # fmt: skip
        """Post a batch of a remit's CLPs (the ledger so far read per batch,
        so a claim paid twice in one remit sees its first payment); the
        messages of the claims touched go into ``settle``. How many matched
        no claim."""
        sent = self._latest_sent(cur, clinic, [c.claim_id for c in clps])
        states = self._states(cur, clinic, sent)
        bodies = self._bodies(cur, [s.row for s in sent.values()])
        entries: list[tuple[Any, ...]] = []
        remit_rows: list[tuple[PostedClaim, _Sent | None, str]] = []
        events: list[Event] = []
        status_of: dict[int, str] = {}
        icns: dict[int, str] = {}
        touched: dict[tuple[str, int], _Sent] = {}
        adjudicated: list[Adjudication] = []
        unmatched = 0
        for clp in clps:
            s = self._place(sent, clp)
            if s is None:
                unmatched += 1
                remit_rows.append((clp, None, "unmatched"))
                note = f"835 claim {clp.claim_id} matches no claim of clinic {clinic}; kept as unmatched"
                o.findings.append(_finding("warning", "GW-REMIT-UNMATCHED", note, f"segment {clp.segment}"))
                continue
            key = (s.clm01, s.payer_seq)
            st = states[key]
            touched[key] = s
            new: list[Entry] = []
            facts = bodies[s.row]
            charges, controls = facts.charges, facts.controls
            if not st.charged:
                new += self._charges(s, charges)
                st.charged = True
            correction = clp.status != "22" and any(v != 0 for v in st.payer.values())
            if correction:  # a second payment for a claim already paid: net the earlier one out first
                new += [(ln, kind, g, r, -amt) for (ln, kind, g, r), amt in sorted(st.payer.items(), key=str)
                        if amt != 0]  # fmt: skip
            posted = remit_entries(clp, line_numbers(s.clm01, controls), len(charges))
            for ln, kind, g, r, amt in new:
                st.add(kind, amt, None if kind == "charge" else (ln, kind, g, r))
                entries.append((clinic, s.clm01, s.payer_seq, s.row, ln, kind, g, r, _money(amt), rid,
                                source, actor, "correction" if kind != "charge" else None, now))  # fmt: skip
            for ln, kind, g, r, amt in posted:
                st.add(kind, amt, (ln, kind, g, r))
                entries.append((clinic, s.clm01, s.payer_seq, s.row, ln, kind, g, r, _money(amt), rid, source,
                                actor, None, now))  # fmt: skip
            status = remit_status(clp)
            if st.prior_created and (net := (st.prior_created if status == "reversed" else ZERO) - st.prior):
                # a next payer answered: the earlier payers' part is in its own CAS now (OA-23)
                st.add("prior_payer", net, (None, "prior_payer", "OA", "23"))
                entries.append((clinic, s.clm01, s.payer_seq, s.row, None, "prior_payer", "OA", "23", _money(net), rid,
                                source, actor, "prior payer answered", now))  # fmt: skip
            remit_rows.append((clp, s, "correction" if correction else "posted"))
            detail: dict[str, Any] = {"remit": rid, "clp02": clp.status, "charge": _money(clp.charge),
                                      "paid": _money(clp.paid), "balance": _money(st.balance)}  # fmt: skip
            if clp.payer_claim_id:
                detail["payer_claim_id"] = clp.payer_claim_id
            if correction:
                detail["correction"] = True
            if trace:
                detail["trace_number"] = trace
            events.append((s.row, "corrected" if correction else status, status, source, actor, detail))
            status_of[s.row] = status
            if st.balance == 0 and status != "reversed":
                events.append((s.row, "closed", "closed", source, actor, {"remit": rid}))
                status_of[s.row] = "closed"
            patient = sum((a for (_, k, g, _), a in st.payer.items() if g == "PR" and k == "adjustment"), ZERO)
            adjudicated.append(Adjudication(clinic, s.clm01, s.payer_seq, s.row, rid, clp, status, st.balance,
                                            patient, facts))  # fmt: skip
            if clp.payer_claim_id:
                icns[s.row] = clp.payer_claim_id
        cur.executemany(_INSERT_LEDGER, entries)
        self._remit_claims(cur, rid, clinic, remit_rows, seq)
        cur.executemany(
            "UPDATE claims SET status = ?, updated_at = ?, payer_claim_id = COALESCE(?, payer_claim_id) WHERE id = ?",
            [(st_, now, icns.get(row), row) for row, st_ in status_of.items()],
        )
        self._events(cur, "claims", events, now)
        cur.executemany(
            _UPSERT_BALANCE,
            [(clinic, k[0], k[1], s.row, _money(states[k].charge), _money(states[k].paid), _money(states[k].balance),
              now, now) for k, s in touched.items()],
        )  # fmt: skip
        settle.update(s.message_id for s in touched.values())
        self._after_adjudication(cur, adjudicated, source, actor, now)
        return unmatched

    def _after_adjudication(
        self, cur: Any, adjudicated: Sequence[Adjudication], source: str, actor: str, now: float
    ) -> None:
        """Bill whoever owes what the payers left (:func:`gateway.responsibility.next_step`):
        the next payer (:meth:`_bill_next_payer`) or the patient (:meth:`_bill_patients`),
        in the posting transaction; a reversal or a denial takes back what the
        patient was billed for the claim (:meth:`_unbill_patient`). The
        patient's bills are written together (:meth:`_bill_patients`), each
        claim's steps in order."""
        patient: list[tuple[Adjudication, Step]] = []
        billing: set[str] = set()
        for adj in adjudicated:
            if adj.clm01 in billing:  # the claim's earlier step first
                self._bill_patients(cur, patient, source, actor, now)
                patient, billing = [], set()
            if adj.status in ("reversed", "denied"):  # the payer took its answer back or denied: no patient share
                self._unbill_patient(cur, adj, source, actor, now)
                continue
            step = next_step(adj)
            if step.kind in ("secondary", "crossover"):
                self._bill_next_payer(cur, adj, step, source, actor, now)
            elif step.kind == "patient":
                patient.append((adj, step))
                billing.add(adj.clm01)
        self._bill_patients(cur, patient, source, actor, now)

    @staticmethod
    def _place(sent: dict[tuple[str, int], _Sent], clp: PostedClaim) -> _Sent | None:
        """The submission a CLP pays: the payer place CLP02 names, else (a
        reversal, a denial) the place whose ICN on record is CLP07 (a claim
        with a secondary out has two), else the first place the claim has."""
        seq = CLP_PLACE.get(clp.status)
        if seq is not None and (clp.claim_id, seq) in sent:
            return sent[(clp.claim_id, seq)]
        places = sorted(k[1] for k in sent if k[0] == clp.claim_id)
        icn = clp.payer_claim_id
        same = [p for p in places if icn and sent[(clp.claim_id, p)].payer_claim_id == icn]
        return sent[(clp.claim_id, (same or places)[0])] if places else None

    def _states(self, cur: Any, clinic: str, sent: dict[tuple[str, int], _Sent]) -> dict[tuple[str, int], _State]:
        """Each claim's ledger so far (only claims that have one are read)."""
        states = {k: _State() for k in sent}
        for part in chunks(sorted({k[0] for k in sent})):
            cur.execute(
                "SELECT clm01, payer_seq, line, kind, group_code, reason, amount, remit_id FROM ledger "
                f"WHERE clinic_id = ? AND clm01 IN ({marks(len(part))})",
                (clinic, *part),
            )
            for clm01, seq, line, kind, g, r, amount, remit in cur.fetchall():
                st = states.get((clm01, int(seq)))
                if st is None:
                    continue
                if kind == "charge":
                    st.charged = True
                elif kind == "prior_payer" and remit is None:
                    st.prior_created += Decimal(amount)
                st.add(kind, Decimal(amount), (line, kind, g, r) if remit is not None and kind != "charge" else None)
        return states

    def _bodies(self, cur: Any, rows: Sequence[int]) -> dict[int, ClaimFacts]:
        """What posting needs of claims ``rows`` (:func:`gateway.posting.claim_facts`)."""
        out = {}
        for part in chunks(sorted(set(rows))):
            cur.execute(f"SELECT id, claim, {ROW_KEY['claims']} FROM claims WHERE id IN ({marks(len(part))})", part)
            out.update(
                {int(i): claim_facts(self.open("claims.claim", body, ref(*key))) for i, body, *key in cur.fetchall()}
            )
        return out

    @staticmethod
    def _charges(s: _Sent, charges: list[Decimal]) -> list[Entry]:
        """The claim's charge entries: per line (LX), and the rest of the total at claim level."""
        total = _dec(s.total_charge)
        out: list[Entry] = [(i, "charge", None, None, c) for i, c in enumerate(charges, 1)]
        if total != sum(charges, ZERO):
            out.append((None, "charge", None, None, total - sum(charges, ZERO)))
        return out

    def _insert_remit(
        self, cur: Any, message_id: int, item: ResponseItem, status: str, payer_id: str | None, digest: str,
        now: float, duplicate_of: int | None = None,
    ) -> int:  # fmt: skip
        doc = item.document
        assert isinstance(doc, Remit835)
        p = doc.payment
        cur.execute(
            f"INSERT INTO remits ({_REMIT_COLUMNS.replace('id, ', '', 1)}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (message_id, item.doc_index, item.clinic_id, status, payer_id, doc.payer.name if doc.payer else None,
             doc.payee.npi if doc.payee else None, p.trace_number if p else None, p.originator if p else None,
             _money(p.signed_amount) if p else None, p.method if p else None,
             p.payment_date.isoformat() if p and p.payment_date else None, digest, duplicate_of, 0, 0,
             doc.control.segment, to_json(item.findings), now),
        )  # fmt: skip
        return int(cur.fetchone()[0])

    def _remit_claims(
        self, cur: Any, rid: int, clinic: str | None, rows: list[tuple[PostedClaim, _Sent | None, str]], seq: int = 0
    ) -> None:
        cur.executemany(
            "INSERT INTO remit_claims (remit_id, seq, clinic_id, clm01, claim_row, outcome, status_code, charge, "
            "paid, patient_responsibility, payer_claim_id, adjustments, segment) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (rid, i, clinic, c.claim_id, s.row if s else None, outcome, c.status, _money(c.charge),
                 _money(c.paid), _money(c.patient_responsibility) if c.patient_responsibility is not None else None,
                 c.payer_claim_id, _adjustments(c), c.segment)
                for i, (c, s, outcome) in enumerate(rows, seq)
            ],
        )  # fmt: skip

    def _plb(self, cur: Any, rid: int, doc: Remit835) -> None:
        cur.executemany(
            "INSERT INTO remit_plb (remit_id, provider_id, reason, reference, amount, fiscal_period, segment) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(rid, a.provider_id, a.reason, a.reference, _money(a.amount),
              a.fiscal_period.isoformat() if a.fiscal_period else None, a.segment)
             for a in doc.provider_adjustments],
        )  # fmt: skip

    # -- operators ------------------------------------------------------------------------
    def adjust(
        self,
        clinic_id: str,
        clm01: str,
        amount: Decimal,
        reason: str,
        actor: str,
        group: str = "OA",
        payer_seq: int | None = None,
    ) -> Money:
        now = time.time()
        with self.write() as cur:
            self._lock_keys(cur, [_claim_lock(clinic_id, clm01)])
            sent = self._latest_sent(cur, clinic_id, [clm01])
            if payer_seq is not None:
                sent = {k: v for k, v in sent.items() if k[1] == payer_seq}
            if not sent:
                raise PostingError(f"no sent claim {clm01} in clinic {clinic_id} (only a claim that left the "
                                   "gateway has a balance to adjust)")  # fmt: skip
            key = min(sent)
            s = sent[key]
            st = self._states(cur, clinic_id, {key: s})[key]
            entries: list[Entry] = []
            if not st.charged:
                entries += self._charges(s, self._bodies(cur, [s.row])[s.row].charges)
            entries.append((None, "manual", group, reason, amount))
            for _, kind, _, _, amt in entries:
                st.add(kind, amt, None)
            cur.executemany(
                _INSERT_LEDGER,
                [(clinic_id, clm01, s.payer_seq, s.row, ln, kind, g, r, _money(amt), None, f"operator:{actor}", actor,
                  None, now)
                 for ln, kind, g, r, amt in entries],
            )  # fmt: skip
            detail = {"amount": _money(amount), "group": group, "reason": reason, "balance": _money(st.balance)}
            events: list[Event] = [(s.row, "adjusted", None, f"operator:{actor}", actor, detail)]
            if st.balance == 0 and s.status not in _SETTLED:  # closed, or patient_due while the patient owes
                settled = self._settled(cur, clinic_id, clm01)
                events.append((s.row, settled, settled, f"operator:{actor}", actor, {}))
                cur.execute("UPDATE claims SET status = ?, updated_at = ? WHERE id = ?", (settled, now, s.row))
            elif st.balance != 0 and s.status in _SETTLED:  # owed again: back to the status before it closed
                cur.execute(
                    "SELECT status FROM claim_events WHERE claim_row = ? AND status IS NOT NULL "
                    "AND status NOT IN ('closed', 'patient_due') ORDER BY id DESC LIMIT 1",
                    (s.row,),
                )
                before = cur.fetchone()
                status = before[0] if before else "delivered"
                events.append((s.row, "reopened", status, f"operator:{actor}", actor, {"balance": _money(st.balance)}))
                cur.execute("UPDATE claims SET status = ?, updated_at = ? WHERE id = ?", (status, now, s.row))
            self._events(cur, "claims", events, now)
            cur.execute(
                "SELECT last_response_at FROM claim_balances WHERE clinic_id = ? AND clm01 = ? AND payer_seq = ?",
                (clinic_id, clm01, s.payer_seq),
            )
            last = cur.fetchone()
            cur.execute(_UPSERT_BALANCE, (clinic_id, clm01, s.payer_seq, s.row, _money(st.charge), _money(st.paid),
                                          _money(st.balance), last[0] if last else None, now))  # fmt: skip
            self._audit(cur, s.message_id, actor, "claim-adjust", {"claim": clm01, **detail})
            cur.execute("SELECT kind, group_code, reason, amount, line FROM ledger WHERE clinic_id = ? AND clm01 = ? "
                        "AND payer_seq = ? ORDER BY id", (clinic_id, clm01, s.payer_seq))  # fmt: skip
            rows = cur.fetchall()
        return money_of([(k, g, r, Decimal(a)) for k, g, r, a, _ in rows])

    # -- reading ----------------------------------------------------------------------------
    def ledger(self, clinic_id: str, clm01: str) -> list[LedgerEntry]:
        with self.read() as cur:
            return self._ledger(cur, clinic_id, clm01)

    def _ledger(self, cur: Any, clinic_id: str, clm01: str) -> list[LedgerEntry]:
        cur.execute(f"SELECT {_LEDGER_COLUMNS} FROM ledger WHERE clinic_id = ? AND clm01 = ? ORDER BY id",
                    (clinic_id, clm01))  # fmt: skip
        return [
            LedgerEntry(int(r[0]), r[1], r[2], int(r[3]), int(r[4]), r[5], r[6], r[7], r[8], Decimal(r[9]),
                        int(r[10]) if r[10] is not None else None, r[11], r[12], float(r[13]), r[14])
            for r in cur.fetchall()
        ]  # fmt: skip

    def claim_story(self, clinic_id: str, clm01: str) -> ClaimStory | None:
        subs = self.submissions("claims", clinic_id, clm01)  # type: ignore[attr-defined]
        if not subs:
            return None
        events = self.events("claims", clinic_id, clm01)  # type: ignore[attr-defined]
        with self.read() as cur:
            ledger = self._ledger(cur, clinic_id, clm01)
            cur.execute(f"SELECT {_REMIT_CLAIM_COLUMNS} FROM remit_claims WHERE clinic_id = ? AND clm01 = ? "
                        "ORDER BY id", (clinic_id, clm01))  # fmt: skip
            remit_claims = [_remit_claim(r) for r in cur.fetchall()]
            cur.execute(
                "SELECT MAX(o.delivered_at) FROM claims c JOIN outbox o ON o.id = c.outbox_id "
                "WHERE c.clinic_id = ? AND c.clm01 = ?",
                (clinic_id, clm01),
            )
            delivered = cur.fetchone()[0]
            cur.execute("SELECT MAX(last_response_at) FROM claim_balances WHERE clinic_id = ? AND clm01 = ?",
                        (clinic_id, clm01))  # fmt: skip
            last = cur.fetchone()[0]
        return ClaimStory(clinic_id, clm01, subs, events, ledger, remit_claims, delivered, last)

    def list_remits(self, flt: RemitFilter) -> list[RemitRow]:
        where, args = [], []
        for column, op, value in (
            ("clinic_id", "=", flt.clinic_id), ("status", "=", flt.status), ("payer_id", "=", flt.payer_id),
            ("created_at", ">=", flt.since),
        ):  # fmt: skip
            if value is not None:
                where.append(f"{column} {op} ?")
                args.append(value)
        sql = f"SELECT {_REMIT_COLUMNS} FROM remits" + (" WHERE " + " AND ".join(where) if where else "")
        with self.read() as cur:
            cur.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, flt.limit))
            return [_remit(r) for r in cur.fetchall()]

    def remit(self, remit_id: int) -> RemitDetail | None:
        with self.read() as cur:
            cur.execute(f"SELECT {_REMIT_COLUMNS} FROM remits WHERE id = ?", (remit_id,))
            row = cur.fetchone()
            if row is None:
                return None
            cur.execute(f"SELECT {_REMIT_CLAIM_COLUMNS} FROM remit_claims WHERE remit_id = ? ORDER BY seq", (remit_id,))
            claims = [_remit_claim(r) for r in cur.fetchall()]
            cur.execute(
                "SELECT remit_id, provider_id, reason, reference, amount, fiscal_period, segment FROM remit_plb "
                "WHERE remit_id = ? ORDER BY id",
                (remit_id,),
            )
            plb = [
                ProviderAdjustmentRow(int(r[0]), r[1], r[2], r[3], Decimal(r[4]), r[5], r[6]) for r in cur.fetchall()
            ]
        return RemitDetail(_remit(row), claims, plb)

    def list_acks(self, clinic_id: str | None = None, kind: str | None = None, limit: int = 100) -> list[AckRow]:
        where, args = [], []
        for column, value in (("clinic_id", clinic_id), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = ("SELECT id, message_id, doc_index, kind, clinic_id, reference, status, accepted, claims, segment, "
               "detail, created_at FROM acks" + (" WHERE " + " AND ".join(where) if where else ""))  # fmt: skip
        with self.read() as cur:
            cur.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
            return [
                AckRow(int(r[0]), int(r[1]), int(r[2]), r[3], r[4], r[5], r[6], bool(r[7]), int(r[8]), r[9],
                       json.loads(r[10]), float(r[11]))
                for r in cur.fetchall()
            ]  # fmt: skip

    def unmatched(self, clinic_id: str | None = None, limit: int = 500) -> list[Unmatched]:
        out: list[Unmatched] = []
        clinic_sql, args = (" AND rc.clinic_id = ?", [clinic_id]) if clinic_id else ("", [])
        with self.read() as cur:
            cur.execute(
                "SELECT rc.clinic_id, rc.clm01, r.message_id, r.created_at, r.id, rc.paid, rc.status_code, "
                "rc.segment FROM remit_claims rc JOIN remits r ON r.id = rc.remit_id "
                f"WHERE rc.outcome = 'unmatched'{clinic_sql} ORDER BY rc.id DESC LIMIT ?",
                (*args, limit),
            )
            for c, clm01, mid, at, rid, paid, code, seg in cur.fetchall():
                out.append(Unmatched("835", c, clm01, int(mid), float(at), remit_id=int(rid), amount=Decimal(paid),
                                     detail={"clp02": code, "segment": seg}))  # fmt: skip
            ack_sql = " AND clinic_id = ?" if clinic_id else ""
            cur.execute(
                f"SELECT kind, clinic_id, reference, message_id, created_at, id, segment FROM acks "
                f"WHERE status = 'unmatched'{ack_sql} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            )
            for kind, c, ref, mid, at, aid, seg in cur.fetchall():
                out.append(Unmatched(kind, c, ref, int(mid), float(at), ack_id=int(aid), detail={"segment": seg}))
        return sorted(out, key=lambda u: u.at, reverse=True)[:limit]

    def open_balances(self, clinic_id: str | None = None, include_zero: bool = False) -> list[OpenBalance]:
        clinic_sql, args = (" AND c.clinic_id = ?", [clinic_id]) if clinic_id else ("", [])
        with self.read() as cur:
            cur.execute(
                "SELECT c.id, c.clinic_id, c.clm01, c.payer_seq, c.version, c.status, c.payer_id, c.total_charge, "
                f"b.charge, b.paid, b.balance, b.last_response_at, {PAYER_HAS_IT_SINCE} FROM claims c "
                "LEFT JOIN claim_balances b ON b.clinic_id = c.clinic_id AND b.clm01 = c.clm01 "
                "AND b.payer_seq = c.payer_seq LEFT JOIN outbox o ON o.id = c.outbox_id "
                f"WHERE c.status NOT IN ('created', 'held', 'superseded', 'discarded', 'failed'){clinic_sql}",
                args,
            )
            rows = cur.fetchall()
        latest: dict[tuple[str, str, int], Any] = {}
        for r in rows:
            key = (r[1], r[2], int(r[3]))
            if key not in latest or r[4] > latest[key][4]:
                latest[key] = r
        out = []
        for (clinic, clm01, seq), r in sorted(latest.items()):
            status = r[5]
            charge = _dec(r[8] if r[8] is not None else r[7])
            paid = _dec(r[9])
            balance = _dec(r[10]) if r[10] is not None else _dec(r[7])
            if status in _NOT_OWED and not include_zero:
                continue
            if balance == 0 and not include_zero:
                continue
            out.append(OpenBalance(clinic, clm01, seq, r[6], status, charge, paid, balance,
                                   r[12], r[11]))  # fmt: skip
        return out


def _adjustments(c: PostedClaim) -> str:
    """A CLP's CAS as the remit row stores them: the JSON list of group,
    reason, amount and line (None at claim level), written directly (what
    ``to_json`` writes of the dicts, byte for byte: ASCII, compact)."""
    out = [_adjustment(a, "null") for a in c.adjustments]
    for i, ln in enumerate(c.lines, 1):
        out += [_adjustment(a, str(i)) for a in ln.adjustments]
    return "[" + ",".join(out) + "]"


def _adjustment(a: PostedAdjustment, line: str) -> str:
    return (f'{{"group":{encode_basestring_ascii(a.group)},"reason":{encode_basestring_ascii(a.reason)},'
            f'"amount":"{_money(a.amount)}","line":{line}}}')  # fmt: skip


def _remit(r: Sequence[Any]) -> RemitRow:
    return RemitRow(
        int(r[0]), int(r[1]), int(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], r[9],
        Decimal(r[10]) if r[10] is not None else None, r[11], r[12], r[13], int(r[14]) if r[14] is not None else None,
        int(r[15]), int(r[16]), r[17], json.loads(r[18]), float(r[19]),
    )  # fmt: skip


def _remit_claim(r: Sequence[Any]) -> RemitClaimRow:
    return RemitClaimRow(
        int(r[0]), int(r[1]), r[2], r[3], int(r[4]) if r[4] is not None else None, r[5], r[6], Decimal(r[7]),
        Decimal(r[8]), Decimal(r[9]) if r[9] is not None else None, r[10], json.loads(r[11]), r[12],
    )  # fmt: skip
