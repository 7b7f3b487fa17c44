"""Claims to the next payer (secondary, tertiary): the pure part (no I/O).

When an earlier payer's 835 CLP has posted and what it left goes to the
claim's next coverage (:func:`gateway.responsibility.next_step`), the claim
to that payer is the stored claim of the earlier payer with

* ``coverage`` the other coverage of the next place (order + 1), and
* the earlier payer's coverage moved into ``other_coverages`` with its
  answer (:class:`~gateway.model.PriorAdjudication`: paid, claim-level CAS,
  remaining patient liability, ICN, date, and per line SVD/CAS/DTP*573);
  a tertiary claim keeps the primary's answer and adds the secondary's.

It is an original (frequency 1) of the same CLM01. Before it is stored it
must balance as 5010 requires (:func:`imbalances`): for every earlier payer,
the claim charge = its paid amount + its claim and line adjustments, and,
when it answered per line, each line charge = its line paid + the line's
adjustments. An unbalanced one is never built (:func:`next_payer_claim`
returns the problems instead).

The payer directory's per-payer settings for this are
:class:`SecondaryBilling` (``secondary:`` in docs/mapping.md), read through
the ``gateway_secondary_billing`` hook by the batcher, which releases a
waiting next-payer claim (:mod:`gateway.store.sql_secondary`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from gateway.model import (
    Adjustment,
    Claim,
    LineAdjudication,
    PriorAdjudication,
    PriorAdjustment,
    RemitClaim,
    SecondaryBilling,
)
from gateway.posting import line_numbers, remit_line_numbers

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


#: the settings of a payer the directory does not list, or lists without ``secondary:``
DEFAULT_BILLING = SecondaryBilling()


@dataclass(frozen=True)
class Imbalance:
    """An earlier payer's answer that does not balance: at claim level
    (``line`` None) or for one of our lines."""

    order: int
    line: int | None
    charge: Decimal
    paid: Decimal
    adjusted: Decimal

    def describe(self) -> str:
        where = "claim" if self.line is None else f"line {self.line}"
        charge, paid, adjusted = (x.quantize(CENT) for x in (self.charge, self.paid, self.adjusted))
        return (
            f"payer {self.order} ({'PST'[self.order - 1]}) {where}: charge {charge} ≠ paid {paid} + "
            f"adjustments {adjusted} (5010 COB balancing: charge = paid + Σ CAS)"
        )


def _sum(adjustments: list[PriorAdjustment]) -> Decimal:
    return sum((a.amount for a in adjustments), ZERO)


def imbalances(claim: Claim) -> list[Imbalance]:
    """Every earlier payer's answer on ``claim`` that breaks the 5010
    balancing rule: claim charge (CLM02) = AMT*D + Σ 2320 CAS + Σ 2430 CAS;
    with 2430 lines, each line charge (SV102) = Σ its SVD02 + Σ its CAS (and
    every line has an answer)."""
    out = []
    charges = [ln.charge or ZERO for ln in claim.service_lines]
    for cov in claim.other_coverages:
        a = cov.adjudication
        if a is None:
            continue
        adjusted = _sum(a.adjustments) + sum((_sum(la.adjustments) for la in a.lines), ZERO)
        if claim.total_charge != a.paid + adjusted:
            out.append(Imbalance(cov.order, None, claim.total_charge, a.paid, adjusted))
        if not a.lines:
            continue
        for lx, charge in enumerate(charges, 1):
            mine = [la for la in a.lines if la.line == lx]
            paid = sum((la.paid for la in mine), ZERO)
            adjusted = sum((_sum(la.adjustments) for la in mine), ZERO)
            if charge != paid + adjusted:
                out.append(Imbalance(cov.order, lx, charge, paid, adjusted))
        out += [Imbalance(cov.order, la.line, ZERO, la.paid, _sum(la.adjustments))
                for la in a.lines if la.line > len(charges)]  # fmt: skip
    return out


def _adjustments(items: Sequence[Adjustment]) -> list[PriorAdjustment]:
    return [PriorAdjustment(group=a.group, reason=a.reason, amount=a.amount, quantity=a.quantity)
            for a in items if a.amount != 0]  # fmt: skip


def adjudication_of(claim: Claim, clp: RemitClaim, adjudicated: date) -> tuple[PriorAdjudication, list[int]]:
    """The payer's answer ``clp`` to ``claim`` as the next payer's claim
    carries it; and the positions (1-based) of SVC lines that match none of
    our lines."""
    controls = [ln.control_number for ln in claim.service_lines]
    numbers = remit_line_numbers(clp, line_numbers(claim.id, controls), len(controls))
    lines, unmatched = [], []
    for i, (ln, lx) in enumerate(zip(clp.lines, numbers, strict=True), 1):
        if lx is None:
            unmatched.append(i)
            continue
        lines.append(
            LineAdjudication(
                line=lx,
                procedure_code=ln.procedure,
                code_qualifier=ln.qualifier or "HC",
                modifiers=ln.modifiers[:4],
                units=ln.units if ln.units is not None else claim.service_lines[lx - 1].units,
                paid=ln.paid,
                adjustments=_adjustments(ln.adjustments),
                adjudication_date=adjudicated,
            )
        )
    patient = sum((a.amount for a in clp.all_adjustments() if a.group == "PR"), ZERO)
    adjudication = PriorAdjudication(
        paid=clp.paid,
        adjustments=_adjustments(clp.adjustments),
        patient_responsibility=patient,
        claim_control_number=clp.payer_claim_id,
        adjudication_date=adjudicated,
        lines=sorted(lines, key=lambda la: la.line),
    )
    return adjudication, unmatched


def next_payer_claim(claim: Claim, clp: RemitClaim, adjudicated: date) -> tuple[Claim | None, list[str]]:
    """The claim to the payer after ``claim``'s (see the module doc), from
    that payer's answer ``clp`` adjudicated on ``adjudicated``; or None and
    why it cannot be built (no next coverage, a line the payer answered that
    is not ours, an answer that does not balance). The reasons name places,
    payers and lines, never patient data."""
    order = claim.coverage.order + 1
    following = [c for c in claim.other_coverages if c.order == order]
    if not following:
        return None, [f"the claim has no coverage of order {order} to bill next"]
    adjudication, unmatched = adjudication_of(claim, clp, adjudicated)
    problems = [f"the payer's service line {i} (SVC) matches none of the claim's lines" for i in unmatched]
    earlier = claim.coverage.model_copy(update={"adjudication": adjudication})
    others = [c for c in claim.other_coverages if c.order != order] + [earlier]
    nxt = claim.model_copy(
        update={
            "coverage": following[0].model_copy(update={"adjudication": None}),
            "other_coverages": sorted(others, key=lambda c: c.order),
            "frequency_code": "1",
            "original_reference": None,
        }
    )
    problems += [i.describe() for i in imbalances(nxt)]
    return (None, problems) if problems else (nxt, [])


def without_claim_numbers(body: str) -> str:
    """A stored next-payer claim's JSON without the earlier payers' claim
    control numbers (for a payer that does not want 2330B REF*F8)."""
    claim = Claim.model_validate_json(body)
    for cov in claim.other_coverages:
        if cov.adjudication is not None:
            cov.adjudication.claim_control_number = None
    return claim.model_dump_json(exclude_none=True)
