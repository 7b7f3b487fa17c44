"""The closed loop in the store: answers to our claims (TA1, 999, 277CA),
payments (835 remits) and each claim's ledger.

Posting happens inside :meth:`gateway.store.Store.complete`, in the same
transaction as the response message's completion, so a crash leaves either
everything of a message posted or nothing (the message goes back to the
queue). The pure rules — what a CLP posts, which status a claim moves to,
the content hash a remit is deduplicated by — are in :mod:`gateway.posting`;
the SQL in :mod:`gateway.store.sql_remits`.

No table here holds patient data: claim ids (CLM01), payer and provider ids,
codes, amounts and dates only. The response file itself stays in the
journal (``message_raw``).

**Ledger.** Append-only, per claim (clinic, CLM01, payer place) and per line
(LX; None is the claim level). ``amount`` is as the payer (or operator)
states it: positive money paid or adjusted, negative when reversed. The
balance is ``charge − payments − adjustments`` (denials excepted, see
:data:`ENTRY_KINDS`); every sum is exact (Decimal).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.posting import ADJUSTING, ZERO, balance_of
from gateway.store.submissions import ItemEvent, Submission

#: ledger entry kinds: ``charge`` (what we billed, per line, posted once per
#: claim when its first payment or adjustment is posted), ``payment`` (CLP04 /
#: SVC03), ``adjustment`` (CAS: group CO/PR/OA/PI/CR + CARC), ``denial`` (the
#: CAS of a denied claim, CLP02 = 4: kept for the record, the balance stays
#: open until an operator adjusts it or the payer pays), ``manual`` (an
#: operator's ``gateway claims adjust``), ``prior_payer`` (on a secondary or
#: tertiary submission: the earlier payers' part, group OA reason 23, posted
#: when it is created and netted out when its own payer answers)
ENTRY_KINDS = ("charge", "payment", "adjustment", "denial", "manual", "prior_payer")
#: remit statuses: ``posted``; ``duplicate`` (same content or same TRN02 and
#: payer as a posted remit: posted once); ``quarantined`` (an error finding:
#: nothing of it posted); ``unmatched`` (no clinic for its payee: kept, not posted)
REMIT_STATUSES = ("posted", "duplicate", "quarantined", "unmatched")
#: what happened to one CLP of a posted remit
REMIT_CLAIM_OUTCOMES = ("posted", "correction", "unmatched")
#: ack statuses (TA1, 999, 277CA documents)
ACK_STATUSES = ("posted", "duplicate", "quarantined", "unmatched")


@dataclass(frozen=True)
class LedgerEntry:
    """One row of a claim's ledger (see the module doc)."""

    id: int
    clinic_id: str
    clm01: str
    payer_seq: int
    claim_row: int
    line: int | None
    kind: str
    group: str | None
    reason: str | None
    amount: Decimal
    remit_id: int | None
    source: str | None
    actor: str
    at: float
    note: str | None = None


@dataclass(frozen=True)
class Money:
    """A claim's (or line's) money from its ledger: ``charge = paid + Σ
    adjustments + balance`` to the cent. ``adjustments`` are ``(group,
    reason, amount)`` summed per group and reason (an operator's manual ones
    with their reason text); ``denials`` the CAS of a denied claim, kept
    apart because they leave the balance open."""

    charge: Decimal
    paid: Decimal
    adjustments: list[tuple[str, str, Decimal]]
    patient_responsibility: Decimal
    balance: Decimal
    denials: list[tuple[str, str, Decimal]] = field(default_factory=list)


@dataclass(frozen=True)
class RemitRow:
    """One 835 transaction set as stored: the payment (BPR02 signed by BPR03,
    BPR04 method, BPR16 date), TRN02 check/EFT number and TRN03, the payer
    and payee ids, its content hash and status."""

    id: int
    message_id: int
    doc_index: int
    clinic_id: str | None
    status: str
    payer_id: str | None
    payer_name: str | None
    payee_npi: str | None
    trace_number: str | None
    originator: str | None
    amount: Decimal | None
    method: str | None
    payment_date: str | None
    content_hash: str
    duplicate_of: int | None
    claims: int
    unmatched_claims: int
    segment: int | None
    findings: list[dict[str, Any]]
    created_at: float


@dataclass(frozen=True)
class RemitClaimRow:
    """One CLP of a remit: ``claim_row`` None when it matched no claim of the
    clinic (``outcome`` ``unmatched``); amounts as the payer sent them;
    ``adjustments`` every CAS (claim and line level) as ``{"group",
    "reason", "amount", "line"}``."""

    id: int
    remit_id: int
    clinic_id: str | None
    clm01: str
    claim_row: int | None
    outcome: str
    status_code: str
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal | None
    payer_claim_id: str | None
    adjustments: list[dict[str, Any]]
    segment: int | None


@dataclass(frozen=True)
class ProviderAdjustmentRow:
    """One PLB reason/amount of a remit (positive reduces the payment)."""

    remit_id: int
    provider_id: str
    reason: str
    reference: str | None
    amount: Decimal
    fiscal_period: str | None
    segment: int | None


@dataclass(frozen=True)
class RemitDetail:
    remit: RemitRow
    claims: list[RemitClaimRow]
    provider_adjustments: list[ProviderAdjustmentRow]


@dataclass(frozen=True)
class AckRow:
    """One TA1, 999 or 277CA document as stored: ``reference`` is what it
    answers (TA1: our ISA13; 999: our GS06; 277CA: our CLM01), ``accepted``
    its verdict, ``claims`` how many claims it moved."""

    id: int
    message_id: int
    doc_index: int
    kind: str
    clinic_id: str | None
    reference: str
    status: str
    accepted: bool
    claims: int
    segment: int | None
    detail: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class ClaimStory:
    """What happened to one claim (clinic + CLM01), in one read: its
    submissions, events (oldest first), ledger (in order), the remit claims
    posted to it, when it was delivered and the last response about it."""

    clinic_id: str
    clm01: str
    submissions: list[Submission]
    events: list[ItemEvent]
    ledger: list[LedgerEntry]
    remit_claims: list[RemitClaimRow]
    delivered_at: float | None
    last_response_at: float | None


@dataclass(frozen=True)
class OpenBalance:
    """A claim still owed (balance ≠ 0) or not yet answered: its latest sent
    submission's status, payer, charge, what was paid, its balance, since
    when the payer has it (``delivered_at``: the outbox document's delivery;
    a crossover's, the day the forwarding 835 posted) and when the last
    response (999, 277CA, 835) about it came."""

    clinic_id: str
    clm01: str
    payer_seq: int
    payer_id: str | None
    status: str
    charge: Decimal
    paid: Decimal
    balance: Decimal
    delivered_at: float | None
    last_response_at: float | None


@dataclass(frozen=True)
class RemitFilter:
    clinic_id: str | None = None
    status: str | None = None
    payer_id: str | None = None
    since: float | None = None
    limit: int = 100


@dataclass(frozen=True)
class Unmatched:
    """A response item that matched no claim: ``kind`` 835 (a CLP, with
    ``remit_id``), 999/TA1/277CA (an ack, with ``ack_id``)."""

    kind: str
    clinic_id: str | None
    reference: str
    message_id: int
    at: float
    remit_id: int | None = None
    ack_id: int | None = None
    amount: Decimal | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class PostingError(ValueError):
    """An operator's adjustment cannot be posted; the message says why."""


class RemitStore(ABC):
    """The closed loop's part of the store interface (read side and the
    operator's adjustment). Posting itself runs inside
    :meth:`gateway.store.Store.complete`. Every method is one transaction."""

    @abstractmethod
    def claim_story(self, clinic_id: str, clm01: str) -> ClaimStory | None:
        """Submissions, events, ledger and remit claims of ``clm01`` in
        ``clinic_id``; None when the clinic has no such claim."""

    @abstractmethod
    def ledger(self, clinic_id: str, clm01: str) -> list[LedgerEntry]:
        """The claim's ledger entries, oldest first."""

    @abstractmethod
    def list_remits(self, flt: RemitFilter) -> list[RemitRow]:
        """Remits matching ``flt``, newest first."""

    @abstractmethod
    def remit(self, remit_id: int) -> RemitDetail | None:
        """One remit with its claims (matched and unmatched) and PLB."""

    @abstractmethod
    def list_acks(self, clinic_id: str | None = None, kind: str | None = None, limit: int = 100) -> list[AckRow]:
        """TA1/999/277CA documents, newest first."""

    @abstractmethod
    def unmatched(self, clinic_id: str | None = None, limit: int = 500) -> list[Unmatched]:
        """Response items that matched no claim (kept, never dropped), newest first."""

    @abstractmethod
    def open_balances(self, clinic_id: str | None = None, include_zero: bool = False) -> list[OpenBalance]:
        """Every sent claim (latest sent submission per clinic, CLM01 and
        payer place; rejected, voided and never-sent ones left out) whose
        balance is not zero (all, with ``include_zero``), with its delivered
        date and last response: what AR aging and follow-up read."""

    @abstractmethod
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
        """An operator's adjustment or write-off (audited, an event and a
        ``manual`` ledger entry); the claim closes when its balance reaches
        zero. Raises :class:`PostingError` when there is no sent claim."""


def money_of(entries: Sequence[tuple[str, str | None, str | None, Decimal]]) -> Money:
    """A claim's (or line's) :class:`Money` from ``(kind, group, reason,
    amount)`` ledger entries: charge = paid + Σ adjustments + balance."""
    charge, paid, balance = balance_of((k, a) for k, _, _, a in entries)
    sums: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    denials: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for kind, group, reason, amount in entries:
        if kind in ADJUSTING:
            sums[(group or "OA", reason or "")] += amount
        elif kind == "denial":
            denials[(group or "OA", reason or "")] += amount
    adjustments = [(g, r, a) for (g, r), a in sums.items() if a != 0]
    patient = sum((a for g, _, a in adjustments if g == "PR"), ZERO)
    return Money(charge, paid, adjustments, patient, balance, [(g, r, a) for (g, r), a in denials.items() if a != 0])


def claim_money(ledger: Sequence[LedgerEntry]) -> tuple[Money, dict[int, Money]]:
    """A claim's money and each line's (by LX) from its ledger entries
    (claim-level entries count in the claim's totals only)."""
    total = money_of([(e.kind, e.group, e.reason, e.amount) for e in ledger])
    by_line: dict[int, list[tuple[str, str | None, str | None, Decimal]]] = defaultdict(list)
    for e in ledger:
        if e.line is not None:
            by_line[e.line].append((e.kind, e.group, e.reason, e.amount))
    return total, {lx: money_of(entries) for lx, entries in sorted(by_line.items())}
