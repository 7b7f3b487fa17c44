"""Operator reports on claims, pure (no I/O): accounts-receivable aging and
the follow-up list.

The CLI (``gateway ar``, ``gateway claims follow-up``), the console and the
``gateway_clinic_claims_without_response`` metric read claims from the store
into :class:`ClaimPosition` rows and call these functions with the date to
report as of. Money is Decimal to the cent; every total is the sum of its
rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from gateway.adjustment_codes import AdjustmentCodes
from gateway.money import ZERO

#: AR aging buckets: days outstanding since the claim's delivered date (inclusive bounds)
AGING_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-30", 0, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("90+", 91, None),
)
#: statuses whose claim waits for a 999 or 277CA (delivered, or only the file was accepted)
AWAITING_ACK = frozenset({"delivered", "accepted_999"})
#: statuses whose claim the payer took but has not paid or denied yet
AWAITING_REMIT = frozenset({"acknowledged_277", "crossover"})
#: statuses a payer refused before adjudication: correct and send again
REJECTED = frozenset({"rejected_999", "rejected_277"})
#: statuses that leave nothing owed by the payer on the claim
SETTLED = frozenset({"closed", "voided", "superseded", "discarded", "held", "failed", "created", "batched"})

Awaiting = Literal["ack", "remit", "rejected"]


@dataclass(frozen=True)
class ClaimPosition:
    """One claim (its current submission) as the reports see it.

    ``balance`` is what the payer still owes (charge − payments − every
    adjustment, patient responsibility included: that is billed to the
    patient); ``delivered`` the day its file reached the clearinghouse (None
    before); ``denials`` the CAS (group, CARC, amount) of a denied claim."""

    clinic: str
    claim_id: str
    payer_id: str
    status: str
    charge: Decimal
    balance: Decimal
    delivered: date | None
    denials: tuple[tuple[str, str, Decimal], ...] = ()


def days_between(start: date, end: date) -> int:
    return (end - start).days


def bucket_of(days: int) -> str:
    """The aging bucket of ``days`` outstanding (a negative count is 0-30)."""
    for name, _low, high in AGING_BUCKETS:
        if high is None or days <= high:
            return name
    raise AssertionError("the last bucket is open-ended")


@dataclass
class AgingRow:
    """One clinic and payer: the payer balance in each bucket, the total and
    the claim count; ``patient`` what patients still owe on claims this
    payer answered last (their guarantor accounts, not aged here)."""

    clinic: str
    payer_id: str
    buckets: dict[str, Decimal] = field(default_factory=lambda: {b[0]: ZERO for b in AGING_BUCKETS})
    claims: int = 0
    patient: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), ZERO)


@dataclass
class AgingReport:
    """AR aging as of a date: one row per clinic and payer (sorted), and totals per clinic."""

    as_of: date
    rows: list[AgingRow]

    def clinic_totals(self) -> list[AgingRow]:
        """One row per clinic (``payer_id`` "*") summing its payers."""
        out: dict[str, AgingRow] = {}
        for row in self.rows:
            total = out.setdefault(row.clinic, AgingRow(row.clinic, "*"))
            for name, amount in row.buckets.items():
                total.buckets[name] += amount
            total.claims += row.claims
            total.patient += row.patient
        return [out[k] for k in sorted(out)]


def ar_aging(
    claims: Iterable[ClaimPosition], as_of: date, patient: Iterable[tuple[str, str, Decimal]] = ()
) -> AgingReport:
    """Outstanding payer balances by days since the claim's delivered date,
    per clinic and payer, and what patients owe (``patient``: clinic, the
    payer that answered last, patient balance of one claim).

    A claim counts when it was delivered on or before ``as_of`` and the payer
    still owes something (balance ≠ 0, not closed or voided). A credit
    balance (an overpayment to refund) counts too, as a negative amount."""
    rows: dict[tuple[str, str], AgingRow] = {}
    for c in claims:
        if c.delivered is None or c.delivered > as_of or c.balance == 0 or c.status in SETTLED:
            continue
        row = rows.setdefault((c.clinic, c.payer_id), AgingRow(c.clinic, c.payer_id))
        row.buckets[bucket_of(days_between(c.delivered, as_of))] += c.balance
        row.claims += 1
    for clinic, payer, owed in patient:
        if owed:
            rows.setdefault((clinic, payer), AgingRow(clinic, payer)).patient += owed
    return AgingReport(as_of, [rows[k] for k in sorted(rows)])


@dataclass(frozen=True)
class FollowUpDays:
    """A payer's follow-up days (payer directory ``follow_up``)."""

    ack_days: int = 3
    remit_days: int = 30


@dataclass(frozen=True)
class FollowUpItem:
    """A claim that needs a person: no acknowledgement (``ack``) or no
    remittance (``remit``) in time, or rejected by a 999/277CA (``rejected``)."""

    clinic: str
    claim_id: str
    payer_id: str
    status: str
    awaiting: Awaiting
    delivered: date | None
    days: int
    limit: int | None
    balance: Decimal


@dataclass
class DenialGroup:
    """Denied claims sharing their main CARC (the largest adjustment), with its plain words."""

    reason: str
    description: str
    claims: list[ClaimPosition] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((c.charge for c in self.claims), ZERO)


@dataclass
class FollowUpReport:
    as_of: date
    overdue: list[FollowUpItem]
    denied: list[DenialGroup]


def main_reason(claim: ClaimPosition) -> str:
    """The CARC of a denied claim's largest adjustment ("" when it carries none)."""
    if not claim.denials:
        return ""
    return max(claim.denials, key=lambda d: (d[2], d[0] != "PR"))[1]


def overdue(
    claims: Iterable[ClaimPosition], as_of: date, days_for: Callable[[str, str], FollowUpDays]
) -> list[FollowUpItem]:
    """Claims without a 999/277CA after ``ack_days`` or without an 835 after
    ``remit_days`` (both counted from delivery, per clinic and payer via
    ``days_for``), and claims a 999/277CA rejected; oldest first."""
    out = []
    for c in claims:
        if c.status in REJECTED:
            days = days_between(c.delivered, as_of) if c.delivered else 0
            out.append(FollowUpItem(c.clinic, c.claim_id, c.payer_id, c.status, "rejected", c.delivered, days,
                                    None, c.balance))  # fmt: skip
            continue
        if c.delivered is None or c.delivered > as_of:
            continue
        days = days_between(c.delivered, as_of)
        limits = days_for(c.clinic, c.payer_id)
        awaiting: Awaiting | None = None
        limit = None
        if c.status in AWAITING_ACK and days > limits.ack_days:
            awaiting, limit = "ack", limits.ack_days
        elif c.status in AWAITING_ACK | AWAITING_REMIT and days > limits.remit_days:
            awaiting, limit = "remit", limits.remit_days
        if awaiting:
            out.append(FollowUpItem(c.clinic, c.claim_id, c.payer_id, c.status, awaiting, c.delivered, days, limit,
                                    c.balance))  # fmt: skip
    return sorted(out, key=lambda i: (-i.days, i.clinic, i.claim_id))


def denied_by_reason(claims: Iterable[ClaimPosition], codes: AdjustmentCodes) -> list[DenialGroup]:
    """Denied claims (not yet written off and closed), grouped by main CARC; the largest groups first."""
    groups: dict[str, DenialGroup] = {}
    for c in claims:
        if c.status != "denied":
            continue
        reason = main_reason(c)
        text = codes.reason(reason) if reason else "no adjustment reason given"
        groups.setdefault(reason, DenialGroup(reason, text)).claims.append(c)
    for g in groups.values():
        g.claims.sort(key=lambda c: (c.clinic, c.claim_id))
    return sorted(groups.values(), key=lambda g: (-len(g.claims), g.reason))


def follow_up(
    claims: Iterable[ClaimPosition],
    as_of: date,
    days_for: Callable[[str, str], FollowUpDays],
    codes: AdjustmentCodes,
) -> FollowUpReport:
    """The follow-up list: overdue and rejected claims, and denials by reason."""
    claims = list(claims)
    return FollowUpReport(as_of, overdue(claims, as_of, days_for), denied_by_reason(claims, codes))


def without_response(
    claims: Iterable[ClaimPosition], as_of: date, days_for: Callable[[str, str], FollowUpDays]
) -> dict[tuple[str, str], int]:
    """Counts for the ``gateway_clinic_claims_without_response`` metric:
    (clinic, awaiting ``ack``/``remit``) → claims past their payer's days."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for item in overdue(claims, as_of, days_for):
        if item.awaiting != "rejected":
            counts[item.clinic, item.awaiting] += 1
    return dict(counts)
