"""Statement cycles: when a guarantor account gets a statement, with which
dunning wording, when the final notice goes out and when the account is sent
to collections. Pure rules (no I/O); the runs that apply them are
:mod:`gateway.statement_runs`.

For one account on a run date (``as_of``), :func:`decide` returns one of:

* ``none``: nothing due (a zero balance), already sent today, in
  collections, or nothing changed and the cycle is not due yet;
* ``write_off``: the balance due is at most the clinic's small-balance
  threshold: written off with an audit row, never mailed;
* ``statement``: the first statement, a changed balance (a new patient
  responsibility, a payment: the content differs from the last statement's),
  or ``every_days`` passed since the last statement while a balance is due;
  a credit balance gets a statement once when it appears (it is shown, never
  absorbed);
* ``final_notice``: the oldest balance due is ``final_notice_after_days``
  old and no final notice went out yet;
* ``collections``: ``collections_after_days`` after the final notice, the
  balance still due: the account goes on the agency's export and gets no
  more statements.

Ages count from the date the patient was **first billed** for each balance
(the first statement that showed it), never from the service date: a
patient cannot be dunned for time the insurers took. The dunning level is the
number of the clinic's dunning steps whose ``min_days`` the age reached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Protocol

from gateway.model import (
    Guarantor,
    InsurancePaid,
    Patient,
    PatientShare,
    Statement,
    StatementCycle,
    StatementLine,
)
from gateway.money import ZERO

if TYPE_CHECKING:
    from gateway.config import Clinic
    from gateway.plugins import PluginHost

Action = Literal["none", "write_off", "statement", "final_notice", "collections"]
#: what a recorded cycle row was
Notice = Literal["statement", "final", "collections"]


@dataclass(frozen=True)
class AccountFacts:
    """What the rules need of an account on the run date: the balance due
    (lines not waiting for an insurer, less credits; negative: a credit), the
    first-billed date of the oldest balance still due (None: never billed),
    and the digest of the statement's content (:func:`content_hash`)."""

    due: Decimal
    oldest_billed: date | None
    content_hash: str
    #: every line due was already billed (a self-pay statement made when the
    #: visit came in): the latest of those days, else None
    billed_before: date | None = None


@dataclass(frozen=True)
class LastCycle:
    """The account's cycle so far, from the store: the last statement's run
    date and content digest, and when the final notice and the collections
    export went out (None: not yet)."""

    run_date: date
    content_hash: str
    dunning_level: int = 0
    final_notice_on: date | None = None
    collections_on: date | None = None


@dataclass(frozen=True)
class Decision:
    """What a run does for one account, and why (``reason``: plain words,
    no patient data). ``age_days``: of the oldest balance due, from first billed."""

    action: Action
    reason: str
    age_days: int = 0
    dunning_level: int = 0
    dunning_message: str | None = None
    next_cycle: date | None = None


def dunning(policy: StatementCycle, age_days: int) -> tuple[int, str | None]:
    """The dunning level (how many steps the age reached) and that step's message."""
    reached = [d for d in policy.dunning if d.min_days <= age_days]
    return len(reached), (reached[-1].message if reached else None)


def decide(facts: AccountFacts, last: LastCycle | None, policy: StatementCycle, as_of: date) -> Decision:
    """What to do for one account on ``as_of`` (see the module doc)."""
    if last is not None and last.collections_on is not None:
        return Decision("none", "sent to collections")
    if last is not None and as_of <= last.run_date:
        return Decision("none", "already run for this date" if as_of == last.run_date else "a later run exists")
    changed = last is None or last.content_hash != facts.content_hash
    if facts.due == ZERO:
        return Decision("none", "nothing due")
    if facts.due < ZERO:
        if changed:
            return Decision("statement", "credit balance")
        return Decision("none", "credit balance already shown")
    if facts.due <= policy.small_balance:
        return Decision("write_off", "small balance")
    age = max((as_of - facts.oldest_billed).days, 0) if facts.oldest_billed else 0
    level, message = dunning(policy, age)
    common = {"age_days": age, "dunning_level": level, "dunning_message": message}
    final = policy.final_notice_after_days
    if final is not None and age >= final:
        if last is None or last.final_notice_on is None:
            return Decision("final_notice", f"{age} days since first billed", **common)
        after = policy.collections_after_days
        if after is not None and (as_of - last.final_notice_on).days >= after:
            return Decision("collections", f"{(as_of - last.final_notice_on).days} days since the final notice")
    next_cycle = None if last is None else last.run_date + timedelta(days=policy.every_days)
    if last is None and facts.billed_before is not None:  # billed when the visit came in: that was the first
        next_cycle = facts.billed_before + timedelta(days=policy.every_days)
        if as_of >= next_cycle:
            return Decision("statement", "cycle due", **common, next_cycle=next_cycle)
        why = f"billed on {facts.billed_before} when the visit came in; next cycle on {next_cycle}"
        return Decision("none", why, next_cycle=next_cycle)
    if last is None:
        return Decision("statement", "first statement", **common)
    if changed:
        return Decision("statement", "balance changed", **common)
    assert next_cycle is not None
    if as_of >= next_cycle:
        return Decision("statement", "cycle due", **common, next_cycle=next_cycle)
    return Decision("none", f"unchanged; next cycle on {next_cycle.isoformat()}", next_cycle=next_cycle)


def content_hash(statement: Statement) -> str:
    """A digest of what a statement says about the account's money (lines,
    amounts, pending, credit), not of its dates or wording: equal digests
    mean nothing changed since that statement."""
    parts = [f"credit={statement.unapplied_credit}"]
    for ln in sorted(statement.lines, key=_line_key):
        parts.append("|".join(_line_key(ln)))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _line_key(ln: StatementLine) -> tuple[str, ...]:
    return (
        ln.claim_id or ln.encounter_id or "",
        ln.service_date.isoformat(),
        ln.description,
        str(ln.charge),
        str(ln.insurance_paid),
        str(ln.adjustments),
        str(ln.patient_paid),
        "pending" if ln.insurance_pending else "due",
    )


def oldest_billed(statement: Statement, as_of: date) -> date | None:
    """The first-billed date of the oldest balance still due (lines not
    pending with a positive balance); ``as_of`` for such a line never billed."""
    dates = [ln.first_billed or as_of for ln in statement.lines if not ln.insurance_pending and ln.balance > 0]
    return min(dates) if dates else None


def billed_before(statement: Statement) -> date | None:
    """The latest first-billed day of the lines due, when every one of them
    was billed before (None: a line due was never billed, or none is due)."""
    dates = [ln.first_billed for ln in statement.lines if not ln.insurance_pending and ln.balance > 0]
    billed = [d for d in dates if d is not None]
    return max(billed) if billed and len(billed) == len(dates) else None


def facts_of(statement: Statement, as_of: date) -> AccountFacts:
    """The :class:`AccountFacts` of an account's statement as it would be sent."""
    return AccountFacts(
        statement.total_due, oldest_billed(statement, as_of), content_hash(statement), billed_before(statement)
    )


def statement_cycle(host: PluginHost, clinic: Clinic) -> StatementCycle:
    """The clinic's cycle from ``gateway_statement_cycle`` (the default
    :class:`~gateway.model.StatementCycle` when no plugin answers); raises
    :class:`gateway.plugins.PluginError` for a failing plugin or a wrong answer."""
    from gateway.plugins import PluginError

    policy, failed = host.first_result("gateway_statement_cycle", clinic=clinic)
    if failed:
        raise PluginError(f"clinic {clinic.id}: {failed[0].message}")
    if policy is None:
        return StatementCycle()
    if not isinstance(policy, StatementCycle):
        raise PluginError(
            f"clinic {clinic.id}: gateway_statement_cycle returned {type(policy).__name__}, not a StatementCycle"
        )
    return policy


# -- the statement of an account (from the guarantor-account ledger) ---------------------
class ItemAdjustmentLike(Protocol):
    """One payer's adjustment of a claim with its plain words
    (:class:`gateway.store.accounts.ItemAdjustment`)."""

    payer_seq: int
    group: str
    reason: str
    amount: Decimal
    words: str


class AccountItemLike(Protocol):
    """One claim (all payer places) or self-pay visit of a guarantor account
    as :class:`gateway.store.accounts.AccountItem` shows it: ``charge =
    insurance_paid + adjustments + pending + patient_paid + patient_balance``;
    ``first_billed``: when a statement first billed the patient for it."""

    kind: str
    key: str
    service_date: date | None
    description: str
    charge: Decimal
    insurance_paid: Decimal
    adjustments: Decimal
    pending: Decimal
    patient_paid: Decimal
    patient_balance: Decimal
    first_billed: date | None
    adjustment_detail: Sequence[ItemAdjustmentLike]
    last_payer_seq: int | None


class LedgerMismatch(ValueError):
    """An account item whose amounts do not add up (names the claim, never a person)."""


def account_lines(
    items: Iterable[AccountItemLike], paid_by: Mapping[str, Sequence[tuple[int, str, Decimal]]], as_of: date
) -> list[StatementLine]:
    """Statement lines of an account's items, by date of service: who paid
    (``paid_by``: claim → (payer place, name, amount)), the last payer's PR
    reasons in plain words, and the amount still at an insurer shown as
    pending. An item whose amounts disagree with its balance raises
    :class:`LedgerMismatch`: no statement line ever disagrees with the ledger."""
    lines = []
    for item in sorted(items, key=lambda i: (i.service_date or as_of, i.key)):
        claim = item.kind == "claim"
        share = [
            PatientShare(reason=a.reason, words=a.words, amount=a.amount)
            for a in item.adjustment_detail
            if a.group == "PR" and a.payer_seq == item.last_payer_seq and a.amount != 0
        ]
        line = StatementLine(
            service_date=item.service_date or as_of,
            description=item.description or ("Insured visit" if claim else "Self-pay visit"),
            charge=item.charge,
            insurance_paid=item.insurance_paid,
            adjustments=item.adjustments,
            patient_paid=item.patient_paid,
            insurance_pending=item.pending > 0,
            claim_id=item.key if claim else None,
            encounter_id=None if claim else item.key,
            paid_by=[InsurancePaid(payer_seq=s, payer_name=n, amount=a) for s, n, a in paid_by.get(item.key, ())],
            patient_share=share,
            first_billed=item.first_billed,
        )
        if line.balance != item.pending + item.patient_balance:
            raise LedgerMismatch(
                f"claim {item.key}: charge - insurance paid - adjustments - patient paid = {line.balance}, "
                f"but the account ledger says {item.pending} pending and {item.patient_balance} owed"
            )
        if line.paid_by and sum((p.amount for p in line.paid_by), ZERO) != line.insurance_paid:
            raise LedgerMismatch(f"claim {item.key}: the insurers' payments do not add up to insurance paid")
        lines.append(line)
    return lines


def cycle_statement(
    clinic_id: str,
    account: str,
    patient: Patient,
    guarantor: Guarantor,
    lines: list[StatementLine],
    as_of: date,
    terms_days: int,
    unapplied_credit: Decimal = ZERO,
) -> Statement:
    """An account's statement as of ``as_of`` before the cycle's decision
    (:func:`finish` adds the notice, dunning and aging)."""
    from gateway.claims import claim_id

    return Statement(
        id=claim_id(clinic_id, f"C{account}-{as_of:%Y%m%d}", 1, 1),
        clinic_id=clinic_id,
        account_number=account,
        statement_date=as_of,
        due_date=as_of + timedelta(days=terms_days),
        patient=patient,
        guarantor=guarantor,
        lines=lines,
        unapplied_credit=unapplied_credit,
        aging_from="first_billed",
    )


def finish(statement: Statement, decision: Decision) -> Statement:
    """The statement as sent: lines due and never billed are billed today,
    aging by first billed (an unapplied credit lowers the current bucket, so
    the buckets add up to the total due), the dunning message, and the final
    notice or collections variant."""
    from gateway.claims import aging

    as_of = statement.statement_date
    lines = [
        ln if ln.first_billed or ln.insurance_pending else ln.model_copy(update={"first_billed": as_of})
        for ln in statement.lines
    ]
    buckets = aging(lines, as_of)
    buckets = buckets.model_copy(update={"current": buckets.current - statement.unapplied_credit})
    notice = {"final_notice": "final", "collections": "collections"}.get(decision.action, "statement")
    return statement.model_copy(
        update={
            "lines": lines,
            "aging": buckets,
            "notice": notice,
            "dunning_level": decision.dunning_level,
            "dunning_message": decision.dunning_message,
        }
    )


def billed_items(statement: Statement) -> list[str]:
    """The claims and self-pay visits a sent statement bills (due lines)."""
    return [ln.claim_id or ln.encounter_id or "" for ln in statement.lines if not ln.insurance_pending and ln.balance]
