"""Subscriber, patient, payer and claim frequency rules."""

from __future__ import annotations

from collections.abc import Iterator

from gateway_plugins.rules.scrubber.base import RULES, Context, check

from gateway.codes import CLAIM_RELATIONSHIPS, FILING_INDICATORS, FREQUENCY_CODES
from gateway.model import Address, Claim, Coverage, Finding, Severity

SUBSCRIBER = RULES.add(
    "SCRUB-SUBSCRIBER",
    Severity.ERROR,
    "Subscriber data is incomplete: member id, last name, and birth date when the patient is the subscriber.",
)
PATIENT = RULES.add(
    "SCRUB-PATIENT", Severity.ERROR, "A patient who is not the subscriber lacks a last name or birth date."
)
ADDRESS = RULES.add(
    "SCRUB-ADDRESS",
    Severity.WARNING,
    "The insured person (or a dependent patient) has no street address, city, state and ZIP.",
)
RELATIONSHIP = RULES.add(
    "SCRUB-RELATIONSHIP",
    Severity.ERROR,
    "The patient's relationship to the subscriber is not an 837P code (18, 01, 19, 20, 21, 39, 40, 53, G8).",
)
PAYER = RULES.add(
    "SCRUB-PAYER", Severity.ERROR, "The payer has no id or name, or the claim filing indicator is not an X12 code."
)
FREQUENCY = RULES.add(
    "SCRUB-FREQUENCY",
    Severity.ERROR,
    "The claim frequency is not 1, 7 or 8, or a replacement (7) or void (8) lacks the original claim's reference.",
)


def coverages(claim: Claim) -> Iterator[tuple[str, Coverage]]:
    """(location, coverage) of the claim's coverage and its other coverages."""
    yield "claim.coverage", claim.coverage
    for k, cov in enumerate(claim.other_coverages, 1):
        yield f"claim.other_coverages[{k}]", cov


def _address_complete(addr: Address | None) -> bool:
    return bool(addr and any(ln.strip() for ln in addr.lines) and addr.city and addr.state and addr.postal_code)


@check
def subscribers(claim: Claim, ctx: Context) -> Iterator[Finding]:
    patient = claim.patient
    for where, cov in coverages(claim):
        sub, label = cov.subscriber, f"coverage {cov.order}"
        if not sub.member_id.strip():
            yield SUBSCRIBER.finding(f"{label}: the subscriber's member id is missing", f"{where}.subscriber.member_id")
        if not sub.name.family.strip():
            yield SUBSCRIBER.finding(f"{label}: the subscriber's last name is missing", f"{where}.subscriber.name")
        rel = cov.relationship.strip().upper()
        if rel not in CLAIM_RELATIONSHIPS:
            yield RELATIONSHIP.finding(
                f"{label}: the patient's relationship to the subscriber is not a code a claim accepts",
                f"{where}.relationship",
            )
            continue
        if rel == "18":
            if sub.birth_date is None and patient.birth_date is None:
                yield SUBSCRIBER.finding(
                    f"{label}: the subscriber (the patient) has no birth date", f"{where}.subscriber.birth_date"
                )
            if not (_address_complete(sub.address) or _address_complete(patient.address)):
                yield ADDRESS.finding(
                    f"{label}: the subscriber (the patient) has no complete address", f"{where}.subscriber.address"
                )
        elif where == "claim.coverage":
            if patient.birth_date is None or not patient.name.family.strip():
                yield PATIENT.finding(
                    "the patient is not the subscriber and needs a last name and birth date", "claim.patient"
                )
            if not _address_complete(patient.address):
                yield ADDRESS.finding(
                    "the patient is not the subscriber and has no complete address", "claim.patient.address"
                )
            if not _address_complete(sub.address):
                yield ADDRESS.finding(f"{label}: the subscriber has no complete address", f"{where}.subscriber.address")


@check
def payers(claim: Claim, ctx: Context) -> Iterator[Finding]:
    for where, cov in coverages(claim):
        label = f"coverage {cov.order}"
        if not cov.payer.id.strip() or not cov.payer.name.strip():
            yield PAYER.finding(f"{label}: the payer needs an id and a name", f"{where}.payer")
        if cov.claim_filing_indicator not in FILING_INDICATORS:
            yield PAYER.finding(
                f"{label}: the claim filing indicator is not an X12 code (CI, MB, MC, BL…)",
                f"{where}.claim_filing_indicator",
            )


@check
def frequency(claim: Claim, ctx: Context) -> Iterator[Finding]:
    if claim.frequency_code not in FREQUENCY_CODES:
        yield FREQUENCY.finding(
            "the claim frequency must be 1 (original), 7 (replacement) or 8 (void)", "claim.frequency_code"
        )
    elif claim.frequency_code in ("7", "8") and not (claim.original_reference or "").strip():
        kind = FREQUENCY_CODES[claim.frequency_code]
        yield FREQUENCY.finding(
            f"a {kind} claim needs the payer's claim number of the original claim", "claim.original_reference"
        )
