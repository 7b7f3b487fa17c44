"""Who owes what is left after a payer answers: the pure rule (no I/O).

When an 835 CLP posts on a submission (clinic + CLM01 + payer place), what
the payer left unpaid as patient responsibility (CAS group PR) goes to the
next party in the claim's chain:

* the next coverage (payer place + 1) when the claim has one and something
  is left: a **secondary** (or tertiary) 837P is billed to it — or, when the
  835 says the payer forwarded the claim itself (CLP02 19/20/21, NM1*TT), a
  **crossover**: nothing is billed, the gateway waits for that payer's 835;
* otherwise the **patient**: the guarantor account is charged the patient
  responsibility, and a copay collected at the visit (AMT*F5) is applied.

The store carries the decision out (:meth:`gateway.store.sql_remits.SQLRemits._after_adjudication`);
the secondary submission is built by :mod:`gateway.secondary`, the guarantor
account by :mod:`gateway.store.sql_accounts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from gateway.posting import PostedClaim

ZERO = Decimal("0.00")
#: CLP02: processed as primary/secondary/tertiary and forwarded to the next payer
FORWARDED = frozenset({"19", "20", "21"})

StepKind = Literal["none", "secondary", "crossover", "patient"]


@dataclass(frozen=True)
class ClaimFacts:
    """What posting needs of a stored claim's body: line charges and REF*6R
    control numbers (by LX), the orders of its other coverages, the copay
    collected at the visit (AMT*F5) and the visit's id."""

    charges: list[Decimal]
    controls: list[str | None]
    other_orders: tuple[int, ...] = ()
    patient_paid: Decimal = ZERO
    #: the visit the claim bills (its self-pay statement may hold part of the copay)
    encounter_id: str | None = None


@dataclass(frozen=True)
class Adjudication:
    """One payer's answer (CLP) as posted on one submission: the submission's
    balance and its net patient responsibility (Σ PR on its ledger) after it."""

    clinic_id: str
    clm01: str
    payer_seq: int
    claim_row: int
    remit_id: int
    clp: PostedClaim
    status: str
    balance: Decimal
    patient_responsibility: Decimal
    facts: ClaimFacts = field(default_factory=lambda: ClaimFacts([], []))


@dataclass(frozen=True)
class Step:
    """What follows an adjudication: ``kind`` and, for the next payer, its place."""

    kind: StepKind
    next_seq: int | None = None
    amount: Decimal = ZERO


def next_step(adj: Adjudication) -> Step:
    """Who is billed next (see the module doc). A reversal, a denial or a
    submission with a balance still open at the payer bills nobody yet."""
    if adj.status in ("reversed", "denied") or adj.balance != 0:
        return Step("none")
    left = adj.patient_responsibility
    nxt = adj.payer_seq + 1
    if nxt in adj.facts.other_orders and left > 0:
        forwarded = adj.clp.status in FORWARDED or adj.clp.crossover_payer is not None
        return Step("crossover" if forwarded else "secondary", nxt, left)
    return Step("patient", None, left)
