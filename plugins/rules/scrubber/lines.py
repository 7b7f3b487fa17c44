"""Charge, line, date and diagnosis rules."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

from gateway_plugins.rules.scrubber.base import RULES, Context, check, line_where

from gateway.claims import MAX_LINES_PER_CLAIM
from gateway.codes import MAX_DIAGNOSES, MAX_POINTERS
from gateway.model import Claim, Finding, Severity
from gateway.money import MAX_AMOUNT, MAX_UNITS

CENT = Decimal("0.01")

TOTAL = RULES.add(
    "SCRUB-TOTAL",
    Severity.ERROR,
    "The claim total is not exactly the sum of the line charges, in whole cents (CLM02 = Σ SV102).",
)
CHARGE = RULES.add("SCRUB-CHARGE", Severity.ERROR, "A line has no charge or a negative charge.")
UNITS = RULES.add("SCRUB-UNITS", Severity.ERROR, "A line's units are not more than 0.")
POINTERS = RULES.add(
    "SCRUB-POINTERS",
    Severity.ERROR,
    "A line does not have 1–4 different diagnosis pointers, each to a diagnosis on the claim.",
)
FUTURE = RULES.add("SCRUB-FUTURE-DATE", Severity.ERROR, "A date of service is after the processing date.")
BEFORE_BIRTH = RULES.add("SCRUB-BEFORE-BIRTH", Severity.ERROR, "A date of service is before the patient's birth date.")
MAX_LINES = RULES.add(
    "SCRUB-LINES-MAX",
    Severity.ERROR,
    f"A claim has more than {MAX_LINES_PER_CLAIM} lines (the core splits longer encounters into several claims).",
)
SPLIT = RULES.add(
    "SCRUB-SPLIT", Severity.INFO, f"The encounter had more than {MAX_LINES_PER_CLAIM} lines and was split into claims."
)
DIAG_MAX = RULES.add("SCRUB-DIAG-MAX", Severity.ERROR, f"A claim has more than {MAX_DIAGNOSES} diagnoses.")
DIAG_NONE = RULES.add("SCRUB-DIAG-NONE", Severity.ERROR, "A claim has no diagnosis.")
DIAG_DUP = RULES.add("SCRUB-DIAG-DUPLICATE", Severity.WARNING, "A diagnosis code is listed twice on a claim.")
POS = RULES.add("SCRUB-POS", Severity.ERROR, "A place of service is not a 2-digit CMS place of service code.")
#: the largest amount and unit count a claim may carry (X12 R elements; far beyond any real visit)
UNIT_PLACES = Decimal("0.001")
AMOUNT = RULES.add(
    "SCRUB-AMOUNT",
    Severity.ERROR,
    f"An amount (line charge, claim total, patient or other payer paid) is more than {MAX_AMOUNT:,}, or a line's "
    f"units more than {MAX_UNITS:,} or with more than 3 decimal places: more than a claim carries.",
)

POS_RE = re.compile(r"\d{2}")


def whole_cents(amount: Decimal) -> bool:
    """True for an amount in whole cents (False for one beyond :data:`MAX_AMOUNT`)."""
    return abs(amount) <= MAX_AMOUNT and amount == amount.quantize(CENT)


def amounts(claim: Claim) -> Iterator[tuple[str, Decimal | None]]:
    """(location, amount) of every amount the claim carries."""
    yield "claim.total_charge", claim.total_charge
    yield "claim.patient_paid", claim.patient_paid
    for k, cov in enumerate(claim.other_coverages, 1):
        yield f"claim.other_coverages[{k}].prior_payer_paid", cov.prior_payer_paid
    yield "claim.coverage.prior_payer_paid", claim.coverage.prior_payer_paid
    for i, ln in enumerate(claim.service_lines, 1):
        yield line_where(i, "charge"), ln.charge


def too_large(claim: Claim) -> bool:
    """True when an amount or a unit count is beyond what a claim carries (SCRUB-AMOUNT)."""
    return any(a is not None and abs(a) > MAX_AMOUNT for _w, a in amounts(claim)) or any(
        abs(ln.units) > MAX_UNITS or ln.units != ln.units.quantize(UNIT_PLACES) for ln in claim.service_lines
    )


@check
def amount_ranges(claim: Claim, ctx: Context) -> Iterator[Finding]:
    for where, value in amounts(claim):
        if value is not None and abs(value) > MAX_AMOUNT:
            yield AMOUNT.finding(f"{where.removeprefix('claim.')} is more than {MAX_AMOUNT:,}", where)
    for i, ln in enumerate(claim.service_lines, 1):
        if abs(ln.units) > MAX_UNITS:
            yield AMOUNT.finding(f"line {i}'s units are more than {MAX_UNITS:,}", line_where(i, "units"))
        elif ln.units != ln.units.quantize(UNIT_PLACES):
            yield AMOUNT.finding(f"line {i}'s units have more than 3 decimal places", line_where(i, "units"))


@check
def total(claim: Claim, ctx: Context) -> Iterator[Finding]:
    charges = [ln.charge for ln in claim.service_lines]
    if any(c is None for c in charges) or too_large(claim):
        return  # SCRUB-CHARGE, SCRUB-AMOUNT report it
    fractions = [i for i, c in enumerate(charges, 1) if c is not None and not whole_cents(c)]
    if fractions:
        yield TOTAL.finding(
            f"line {fractions[0]}'s charge has fractions of a cent, so the claim total and the line charges "
            "cannot add up on the claim; send whole cents",
            line_where(fractions[0], "charge"),
        )
    elif not whole_cents(claim.total_charge):
        yield TOTAL.finding("the claim total has fractions of a cent", "claim.total_charge")
    elif claim.total_charge != sum((c for c in charges if c is not None), Decimal("0.00")):
        yield TOTAL.finding("the claim total is not the sum of the line charges", "claim.total_charge")


@check
def line_values(claim: Claim, ctx: Context) -> Iterator[Finding]:
    birth = claim.patient.birth_date
    for i, ln in enumerate(claim.service_lines, 1):
        if ln.charge is None:
            yield CHARGE.finding(f"line {i} has no charge", line_where(i, "charge"))
        elif ln.charge < 0:
            yield CHARGE.finding(
                f"line {i} has a negative charge; send credits as adjustments", line_where(i, "charge")
            )
        if not ln.units > 0:
            yield UNITS.finding(f"line {i}: units must be more than 0", line_where(i, "units"))
        if ln.service_date > ctx.today:
            yield FUTURE.finding(f"line {i}'s date of service is in the future", line_where(i, "service_date"))
        if birth is not None and ln.service_date < birth:
            yield BEFORE_BIRTH.finding(
                f"line {i}'s date of service is before the patient's birth date", line_where(i, "service_date")
            )
        if ln.place_of_service is not None and not POS_RE.fullmatch(ln.place_of_service):
            yield POS.finding(f"line {i}'s place of service is not a 2-digit code", line_where(i, "place_of_service"))


@check
def pointers(claim: Claim, ctx: Context) -> Iterator[Finding]:
    n_dx = min(len(claim.diagnoses), MAX_DIAGNOSES)
    for i, ln in enumerate(claim.service_lines, 1):
        p = ln.diagnosis_pointers
        where = line_where(i, "diagnosis_pointers")
        if not p:
            yield POINTERS.finding(f"line {i} points to no diagnosis (1 to {MAX_POINTERS} needed)", where)
        elif len(p) > MAX_POINTERS:
            yield POINTERS.finding(f"line {i} has {len(p)} diagnosis pointers; at most {MAX_POINTERS}", where)
        elif len(set(p)) != len(p):
            yield POINTERS.finding(f"line {i} points to the same diagnosis twice", where)
        else:
            bad = [x for x in p if not 1 <= x <= n_dx]
            if bad:
                yield POINTERS.finding(
                    f"line {i} points to diagnosis {bad[0]}, but the claim has {n_dx} diagnos"
                    + ("is" if n_dx == 1 else "es"),
                    where,
                )


@check
def claim_shape(claim: Claim, ctx: Context) -> Iterator[Finding]:
    if len(claim.service_lines) > MAX_LINES_PER_CLAIM:
        yield MAX_LINES.finding(
            f"the claim has {len(claim.service_lines)} lines; a claim holds at most {MAX_LINES_PER_CLAIM}",
            "claim.service_lines",
        )
    if claim.parts > 1:
        yield SPLIT.finding(f"this is claim {claim.part} of {claim.parts} for the encounter", "claim.part")
    if not claim.diagnoses:
        yield DIAG_NONE.finding("the claim has no diagnosis", "claim.diagnoses")
    elif len(claim.diagnoses) > MAX_DIAGNOSES:
        yield DIAG_MAX.finding(
            f"the claim has {len(claim.diagnoses)} diagnoses; a claim holds at most {MAX_DIAGNOSES}",
            "claim.diagnoses",
        )
    seen: dict[str, int] = {}
    for j, dx in enumerate(claim.diagnoses, 1):
        key = dx.code.replace(".", "").strip().upper()
        if key in seen:
            yield DIAG_DUP.finding(f"diagnosis {j} repeats diagnosis {seen[key]}", f"claim.diagnoses[{j}]")
        seen.setdefault(key, j)
    if not POS_RE.fullmatch(claim.place_of_service):
        yield POS.finding("the claim's place of service is not a 2-digit code", "claim.place_of_service")
