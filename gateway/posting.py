"""Posting responses to claims: the pure rules (no I/O).

The store applies them inside :meth:`gateway.store.Store.complete`
(:mod:`gateway.store.sql_remits`), in the transaction that completes the
response message. What is decided here:

* which status a TA1, 999, 277CA or 835 CLP moves a claim to
  (:func:`ack_status`, :func:`remit_status`), and whether an answer that
  comes late (a 999 after the 835) may still move it (:func:`may_move`);
* what a CLP posts to the ledger, per line (LX) and at claim level
  (:func:`remit_entries`);
* the content hash a response document is deduplicated by
  (:func:`document_hash`).

A CLP is posted as a :class:`PostedClaim`: the few values posting uses and
the claim's JSON (what its :class:`~gateway.model.RemitClaim` model dumps),
from which the content hash is taken and the model made when one is needed
(billing the next payer). A large remit's claims are read for posting by
the reader's fast walk (no model per claim); a small one's are its models'.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from gateway.model import Ack999, ClaimAck277, InterchangeAck, Remit835, RemitClaim, ResponseDocument
from gateway.responsibility import ClaimFacts

ZERO = Decimal("0.00")

#: how far along the answers a claim status is: an answer of a lower rank
#: than the claim's status is recorded as an event but does not move it
RANK: dict[str, int] = {
    "batched": 0, "delivered": 0,
    "accepted_999": 1, "rejected_999": 1,
    "acknowledged_277": 2, "rejected_277": 2,
    "paid": 3, "partially_paid": 3, "denied": 3, "reversed": 3, "patient_due": 3, "closed": 3,
}  # fmt: skip
#: the rank of each answer kind
ANSWER_RANK = {"TA1": 1, "999": 1, "277CA": 2, "835": 3}
#: statuses an answer may be posted onto (the claim left the gateway)
POSTABLE = frozenset(RANK) | {"voided", "waiting", "crossover"}
#: CLP02 → payer place (1 P, 2 S, 3 T); others (4 denied, 22 reversal…) take the latest
CLP_PLACE = {"1": 1, "19": 1, "2": 2, "20": 2, "3": 3, "21": 3}


@dataclass
class ResponseItem:
    """One response document for the store to post: its index in the file,
    the typed document, the clinic routing found (None: unmatched), its
    findings (dicts) and whether an error among them quarantines it."""

    doc_index: int
    document: ResponseDocument
    clinic_id: str | None
    findings: list[dict[str, Any]] = field(default_factory=list)
    quarantined: bool = False


def may_move(current: str, answer_kind: str) -> bool:
    """Whether an answer of ``answer_kind`` moves a claim in ``current``
    (never backwards: a 999 after the 277CA or 835 is an event only)."""
    if current not in RANK:
        return False
    return ANSWER_RANK[answer_kind] >= RANK[current]


# -- acknowledgements ---------------------------------------------------------------
def ack_status(doc: InterchangeAck | Ack999 | ClaimAck277, accepted: bool) -> str | None:
    """The claim status an answer means (None: an accepted TA1 moves nothing)."""
    if doc.kind == "TA1":
        return None if accepted else "rejected_999"
    if doc.kind == "999":
        return "accepted_999" if accepted else "rejected_999"
    return "rejected_277" if not accepted else "acknowledged_277"


def ack999_reasons(doc: Ack999, control_number: str | None) -> list[dict[str, Any]]:
    """Why a 999 rejected a transaction set (or the group), in plain words."""
    out: list[dict[str, Any]] = []
    for t in doc.transactions:
        if control_number is not None and t.control_number != control_number:
            continue
        out += [{"code": c, "text": txt} for c, txt in zip(t.codes, t.code_texts, strict=False)]
        for e in t.errors:
            item: dict[str, Any] = {"segment_id": e.segment_id, "position": e.position, "code": e.code,
                                    "text": e.description}  # fmt: skip
            item["elements"] = [{"position": x.position, "code": x.code, "text": x.description} for x in e.elements]
            out.append(item)
    if control_number is None:
        out += [{"code": c, "text": txt} for c, txt in zip(doc.codes, doc.code_texts, strict=False)]
    return out


def ack277_reasons(doc: ClaimAck277) -> list[dict[str, Any]]:
    """Every status code of a 277CA claim answer (claim and provider level)."""
    return [
        {"category": c.category, "code": c.code, "entity": c.entity,
         "text": f"{c.category_text}: {c.code_text}" + (f" ({c.entity_text})" if c.entity_text else "")}
        for s in doc.provider_statuses + doc.statuses
        for c in s.codes
    ]  # fmt: skip


# -- remits -------------------------------------------------------------------------
class PostedAdjustment(NamedTuple):
    """One CAS triple as posting uses it."""

    group: str
    reason: str
    amount: Decimal


@dataclass(slots=True)
class PostedLine:
    """One SVC as posting uses it: what it paid, our REF*6R, its CAS."""

    paid: Decimal
    control_number: str | None
    adjustments: list[PostedAdjustment]


@dataclass(slots=True)
class PostedClaim:
    """One CLP as posting uses it (see the module doc). ``json`` is the
    claim's ``RemitClaim.model_dump_json(exclude_none=True)``, byte for byte."""

    claim_id: str
    status: str
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal | None
    payer_claim_id: str | None
    crossover_payer: str | None
    segment: int
    adjustments: list[PostedAdjustment]
    lines: list[PostedLine]
    json: bytes
    _model: RemitClaim | None = None

    @classmethod
    def of(cls, clp: RemitClaim, json: bool = True) -> PostedClaim:
        """A claim already read as a model (without ``json``: its ``json`` is
        left empty, for a held remit, whose hash is taken of the whole)."""
        return cls(
            clp.claim_id, clp.status, clp.charge, clp.paid, clp.patient_responsibility, clp.payer_claim_id,
            clp.crossover_payer, clp.segment, [PostedAdjustment(a.group, a.reason, a.amount) for a in clp.adjustments],
            [PostedLine(ln.paid, ln.control_number, [PostedAdjustment(a.group, a.reason, a.amount)
                                                     for a in ln.adjustments]) for ln in clp.lines],
            clp.model_dump_json(exclude_none=True).encode() if json else b"", clp,
        )  # fmt: skip

    @classmethod
    def walked(cls, c: tuple[Any, ...]) -> PostedClaim:
        """A claim as the reader's walk for posting gives it: a tuple of this
        class's fields in order, CAS as (group, reason, amount) tuples and
        lines as (paid, REF*6R, CAS) tuples."""
        adjustment = PostedAdjustment._make
        return cls(
            *c[:8], list(map(adjustment, c[8])),
            [PostedLine(paid, control, list(map(adjustment, adj))) for paid, control, adj in c[9]], c[10],
        )  # fmt: skip

    def all_adjustments(self) -> list[PostedAdjustment]:
        """Claim-level and line-level CAS together."""
        return self.adjustments + [a for ln in self.lines for a in ln.adjustments]

    def model(self) -> RemitClaim:
        """The claim as the typed reader reads it (made from ``json`` once)."""
        if self._model is None:
            self._model = RemitClaim.model_validate_json(self.json)
        return self._model


def remit_status(clp: RemitClaim | PostedClaim) -> str:
    """The claim status a CLP means: ``reversed`` (CLP02 = 22), ``denied``
    (CLP02 = 4, or nothing paid and nothing left to the patient), ``paid``
    (paid with contractual adjustments only), else ``partially_paid``."""
    if clp.status == "22":
        return "reversed"
    adjustments = clp.all_adjustments()
    patient = sum((a.amount for a in adjustments if a.group == "PR"), ZERO)
    if clp.status == "4" or (clp.paid == 0 and patient == 0 and clp.charge != 0):
        return "denied"
    if all(a.group == "CO" for a in adjustments if a.amount != 0):
        return "paid"
    return "partially_paid"


#: one ledger entry before it is stored: (line or None, kind, group, reason, amount)
Entry = tuple[int | None, str, str | None, str | None, Decimal]


def line_numbers(clm01: str, controls: list[str | None]) -> dict[str, int]:
    """Our lines' REF*6R control number → LX (1-based): each line's own control
    number, else ``<CLM01>-<n>`` (what the 837P renderer writes)."""
    out = {f"{clm01.strip()}-{i}": i for i in range(1, len(controls) + 1)}
    out.update({c: i for i, c in enumerate(controls, 1) if c})
    return out


_SUFFIX = re.compile(r"-(\d+)$")


def remit_line_numbers(clp: RemitClaim | PostedClaim, lx_of: dict[str, int], line_count: int) -> list[int | None]:
    """The LX of our line each SVC of ``clp`` pays: by its REF*6R (``lx_of``,
    :func:`line_numbers`, or a ``-<n>`` suffix), else by its place in the
    CLP; None when it matches none of our ``line_count`` lines."""
    out: list[int | None] = []
    for i, ln in enumerate(clp.lines, 1):
        lx = lx_of.get(ln.control_number or "")
        if lx is None and ln.control_number and (m := _SUFFIX.search(ln.control_number)):
            lx = int(m.group(1)) if 1 <= int(m.group(1)) <= line_count else None
        if lx is None:
            lx = i if i <= line_count else None
        out.append(lx)
    return out


def remit_entries(clp: RemitClaim | PostedClaim, lx_of: dict[str, int], line_count: int) -> list[Entry]:
    """What one CLP posts: per SVC line (LX by REF*6R, else by its place in
    the CLP) the payment SVC03 and each CAS; claim-level CAS with no line;
    and a claim-level payment for CLP04 − Σ SVC03 when they differ. Denied
    claims (CLP02 = 4) post their CAS as ``denial`` entries. Amounts as the
    payer sent them (a reversal's are negative), so the payer's entries of a
    reversed claim sum to zero."""
    adj_kind = "denial" if clp.status == "4" else "adjustment"
    out: list[Entry] = []
    line_paid = ZERO
    for ln, lx in zip(clp.lines, remit_line_numbers(clp, lx_of, line_count), strict=True):
        if ln.paid != 0:
            out.append((lx, "payment", None, None, ln.paid))
        line_paid += ln.paid
        out += [(lx, adj_kind, a.group, a.reason, a.amount) for a in ln.adjustments if a.amount != 0]
    if clp.paid != line_paid:
        out.append((None, "payment", None, None, clp.paid - line_paid))
    out += [(None, adj_kind, a.group, a.reason, a.amount) for a in clp.adjustments if a.amount != 0]
    return out


def claim_facts(body: str) -> ClaimFacts:
    """What posting needs of a stored claim's JSON: line charges and REF*6R
    control numbers (by LX), other coverages' orders, the visit copay."""
    data = json.loads(body)
    lines = data.get("service_lines") or []
    return ClaimFacts(
        [Decimal(str(ln.get("charge", "0"))) for ln in lines],
        [ln.get("control_number") for ln in lines],
        tuple(sorted(int(c.get("order", 0)) for c in data.get("other_coverages") or [])),
        Decimal(str(data.get("patient_paid") or "0.00")),
        data.get("encounter_id"),
    )


#: ledger kinds that reduce a balance like an adjustment: CAS, an operator's,
#: and on a next payer's submission the earlier payers' part (``prior_payer``)
ADJUSTING = frozenset({"adjustment", "manual", "prior_payer"})


def balance_of(entries: Iterable[tuple[str, Decimal]]) -> tuple[Decimal, Decimal, Decimal]:
    """(charge, paid, balance) of ``(kind, amount)`` ledger entries: the
    balance is charge − payments − adjustments (denials do not reduce it)."""
    charge = paid = adjusted = ZERO
    for kind, amount in entries:
        if kind == "charge":
            charge += amount
        elif kind == "payment":
            paid += amount
        elif kind in ADJUSTING:
            adjusted += amount
    return charge, paid, charge - paid - adjusted


# -- deduplication ---------------------------------------------------------------------
#: a segment position in a document's JSON (positions differ between files holding the same answer)
_POSITION = re.compile(rb'"segment":-?\d+,?')


def document_hash(doc: ResponseDocument | Remit835) -> str:
    """SHA-256 of a document's content without its envelope (ISA/GS/ST
    control numbers), findings and segment positions: the same answer in
    another file or interchange has the same hash."""
    if isinstance(doc, Remit835) and doc.streamed:
        digest = RemitDigest(doc)
        for _ in digest.claims():
            pass
        return digest.hexdigest()
    data = doc.model_dump_json(exclude={"control", "findings"}, exclude_none=True).encode()
    return hashlib.sha256(_POSITION.sub(b"", data)).hexdigest()


def posted_claims(doc: Remit835) -> Iterator[PostedClaim]:
    """A remit's claims for posting, in file order: a streamed remit's from
    the reader's walk for posting when it offers one (:meth:`PostedClaim.walked`,
    or models where the walk handed over to the typed reader), else made of
    the models (their JSON, for the hash, only for a streamed remit)."""
    fast = doc.iter_posting()
    if fast is None:
        return (PostedClaim.of(c, doc.streamed) for c in doc.iter_claims())
    return (PostedClaim.of(c) if isinstance(c, RemitClaim) else PostedClaim.walked(c) for c in fast)


class RemitDigest:
    """:func:`document_hash` of a streamed remit, taken while its claims are
    read once (for posting): the same bytes hashed claim by claim."""

    def __init__(self, doc: Remit835) -> None:
        self.doc = doc
        data = doc.model_dump_json(exclude={"control", "findings"}, exclude_none=True).encode()
        head, self._tail = data.split(b'"claims":[]', 1)  # a streamed header's claims list is empty
        self._sha = hashlib.sha256(_POSITION.sub(b"", head + b'"claims":['))
        self._done = False

    def claims(self) -> Iterator[PostedClaim]:
        """The remit's claims in file order (:func:`posted_claims`), each hashed as it passes."""
        sub, update = _POSITION.sub, self._sha.update
        for i, clp in enumerate(posted_claims(self.doc)):
            update(sub(b"", b"," + clp.json if i else clp.json))
            yield clp
        self._done = True

    def hexdigest(self) -> str:
        """The hash (every claim must have passed)."""
        assert self._done, "the remit's claims were not all read"
        sha = self._sha.copy()
        sha.update(_POSITION.sub(b"", b"]" + self._tail))
        return sha.hexdigest()
