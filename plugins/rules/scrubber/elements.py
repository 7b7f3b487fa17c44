"""Values as 837P elements: identifiers that cannot be written as they are,
text the renderer must change, US ZIP codes and states, the patient amount paid.

X12 has no escape mechanism (docs/security-x12.md). The character rules are
the x12 renderer's own (:mod:`gateway_plugins.renderers.x12.values`), so a
claim that passes here is written exactly, and a claim the renderer would
refuse is quarantined here first, naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from gateway_plugins.renderers.x12 import values as x12
from gateway_plugins.renderers.x12.facts import SELF, diagnosis_code, postal_code, written_addresses
from gateway_plugins.renderers.x12.situational import ndc_code
from gateway_plugins.rules.scrubber.base import RULES, Context, check, line_where
from gateway_plugins.rules.scrubber.lines import MAX_AMOUNT, whole_cents
from gateway_plugins.rules.scrubber.parties import coverages
from gateway_plugins.rules.scrubber.providers import claim_providers

from gateway.model import Address, Claim, Finding, Severity

ID = RULES.add(
    "SCRUB-X12-ID",
    Severity.ERROR,
    "An identifier or code (CLM01, member id, NPI, tax id, payer id, group number, procedure code, modifier, "
    "diagnosis, ZIP, state…) holds a separator, a control character or a character outside the X12 set, or is "
    "longer than its element. Never rewritten; this rule cannot be switched off or downgraded.",
)
TEXT = RULES.add(
    "SCRUB-X12-TEXT",
    Severity.WARNING,
    "A name or address holds characters an 837P cannot carry (separators, letters with no Latin form) or is "
    "longer than its element, so the claim shows it changed; an error when too little is left of a last name, "
    "organisation or payer name, street address or city.",
)
ZIP = RULES.add("SCRUB-ZIP", Severity.ERROR, "A US address's ZIP code is not 5 or 9 digits (ZIP+4, hyphen allowed).")
STATE = RULES.add(
    "SCRUB-STATE",
    Severity.ERROR,
    "A US address's state is not a USPS code (a state, DC, a territory or a military AA/AE/AP code).",
)
PATIENT_PAID = RULES.add(
    "SCRUB-PATIENT-PAID",
    Severity.ERROR,
    "The patient amount paid (AMT*F5) is negative or has fractions of a cent (a warning when it exceeds the "
    "claim total).",
)
#: rules a clinic may not switch off or downgrade: the renderer would refuse the claim anyway
MANDATORY = frozenset({ID.id})

USPS_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK "
    "OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS FM GU MH MP PW PR VI AA AE AP".split()
)
US_ZIP_RE = re.compile(r"\d{5}(?:\d{4})?")
US = frozenset({"US", "USA", ""})


#: (owner, field, value, element maximum): the finding's location is
#: ``owner.field``, written out only for a value that fails (most never do)
_Item = tuple[str, str, str | None, int]


def _identifiers(claim: Claim) -> Iterator[_Item]:
    """Every identifier and code the renderer may write (see :data:`_Item`)."""
    yield "claim", "id", claim.id, x12.CLAIM_ID
    yield "claim", "original_reference", claim.original_reference, x12.REFERENCE
    yield "claim", "place_of_service", claim.place_of_service, x12.CODE
    yield "claim", "frequency_code", claim.frequency_code, 1
    for _role, where, p in claim_providers(claim):
        yield where, "npi", p.npi, x12.ID_CODE
        yield where, "taxonomy", p.taxonomy, x12.REFERENCE
        yield where, "tax_id", p.tax_id, x12.REFERENCE
    for where, cov in coverages(claim):
        yield where, "payer.id", cov.payer.id, x12.ID_CODE
        yield where, "subscriber.member_id", cov.subscriber.member_id, x12.ID_CODE
        yield where, "subscriber.group_number", cov.subscriber.group_number, x12.REFERENCE
        yield where, "claim_filing_indicator", cov.claim_filing_indicator, x12.CODE
    for j, dx in enumerate(claim.diagnoses, 1):
        yield f"claim.diagnoses[{j}]", "code", diagnosis_code(dx.code), x12.DIAGNOSIS
    for i, ln in enumerate(claim.service_lines, 1):
        line = line_where(i)
        yield line, "procedure_code", ln.procedure_code, x12.PROCEDURE
        for k, m in enumerate(ln.modifiers, 1):
            yield line, f"modifiers[{k}]", m, x12.CODE
        yield line, "place_of_service", ln.place_of_service, x12.CODE
        yield line, "control_number", ln.control_number, x12.REFERENCE
        yield line, "prior_authorization", ln.prior_authorization, x12.REFERENCE
        yield line, "referral_number", ln.referral_number, x12.REFERENCE
        if ln.ndc:
            yield line, "ndc", ndc_code(ln.ndc), x12.NDC
            yield line, "ndc_unit", ln.ndc_unit, x12.CODE
    yield "claim", "prior_authorization", claim.prior_authorization, x12.REFERENCE
    yield "claim", "referral_number", claim.referral_number, x12.REFERENCE
    yield "claim", "delay_reason", claim.delay_reason, x12.CODE
    if claim.related_causes:
        for k, cause in enumerate(claim.related_causes[:2], 1):
            yield "claim", f"related_causes[{k}]", cause, x12.CODE
        yield "claim", "accident_state", claim.accident_state, x12.STATE
    for k, ref in enumerate(claim.additions.references, 1):
        yield f"claim.additions.references[{k}]", "value", ref.value, x12.REFERENCE


def _addresses(claim: Claim) -> Iterator[tuple[str, str, Address]]:
    """(owner, field, address): the address at ``owner.field``."""
    if claim.patient.address is not None:
        yield "claim.patient", "address", claim.patient.address
    for where, cov in coverages(claim):
        if cov.subscriber.address is not None:
            yield where, "subscriber.address", cov.subscriber.address
        if cov.payer.address is not None:
            yield where, "payer.address", cov.payer.address
    for _role, where, p in claim_providers(claim):
        if p.address is not None:
            yield where, "address", p.address


def _texts(claim: Claim) -> Iterator[tuple[str, str, str | None, int, int]]:
    """(owner, field, value, element maximum, minimum when required else 0)
    of the free text an 837P carries (location ``owner.field``)."""
    names = [("claim.patient.name", claim.patient.name)]
    names += [(f"{where}.subscriber.name", cov.subscriber.name) for where, cov in coverages(claim)]
    for _role, where, p in claim_providers(claim):
        if p.organization_name or p.name is None:
            yield where, "organization_name", p.display(), x12.ORG_NAME, 1
        else:
            names.append((f"{where}.name", p.name))
    for where, n in names:
        yield where, "family", n.family, x12.ORG_NAME, 1
        yield where, "given", n.given, x12.GIVEN_NAME, 0
        yield where, "middle", n.middle, x12.MIDDLE_NAME, 0
        yield where, "suffix", n.suffix, x12.NAME_SUFFIX, 0
    for where, cov in coverages(claim):
        yield where, "payer.name", cov.payer.name, x12.ORG_NAME, 1
        yield where, "subscriber.group_name", cov.subscriber.group_name, x12.GROUP_NAME, 0
        yield where, "plan_name", cov.plan_name, x12.GROUP_NAME, 0
    for where, addr in written_addresses(claim):
        for k, line in enumerate(addr.lines[:2], 1):
            yield where, f"lines[{k}]", line, x12.ADDRESS_LINE, 0
        yield where, "city", addr.city, x12.CITY, 2
    yield "claim", "note", claim.note, x12.NOTE, 0
    for i, ln in enumerate(claim.service_lines, 1):
        yield line_where(i), "note", ln.note, x12.NOTE, 0
    for k, note in enumerate(claim.additions.notes, 1):
        yield f"claim.additions.notes[{k}]", "text", note.text, x12.NOTE, 1


def _label(where: str) -> str:
    """ "claim.coverage.subscriber.member_id" → "coverage.subscriber.member_id" for messages."""
    return where.removeprefix("claim.")


@check
def identifiers(claim: Claim, ctx: Context) -> Iterator[Finding]:
    required = [("claim.id", claim.id)] + [
        (f"claim.diagnoses[{j}].code", d.code) for j, d in enumerate(claim.diagnoses, 1)
    ]
    required += [(line_where(i, "procedure_code"), ln.procedure_code) for i, ln in enumerate(claim.service_lines, 1)]
    for where, value in required:
        if not (value or "").strip():
            yield ID.finding(f"{_label(where)} is empty", where)
    items = [item for item in _identifiers(claim) if item[2]]
    # one character check over every value (the common case: all safe, none too long)
    if not x12.is_safe("".join([v for _, _, v, _ in items])) or any(len(v) > limit for _, _, v, limit in items):  # type: ignore[arg-type]
        for owner, field, value, limit in items:
            if not x12.is_safe(value) or len(value) > limit:  # type: ignore[arg-type]
                reason = x12.unsafe_reason(value, limit)  # type: ignore[arg-type]
                if reason:
                    where = f"{owner}.{field}"
                    yield ID.finding(f"{_label(where)} {reason}; it cannot be written to an 837P as it is", where)
    for owner, field, addr in _addresses(claim):
        zip_ = postal_code(addr.postal_code)
        for part, value, limit in (("postal_code", zip_, x12.POSTAL_CODE), ("state", addr.state, x12.STATE),
                                   ("country", addr.country, x12.COUNTRY)):  # fmt: skip
            if not value or (x12.is_safe(value) and len(value) <= limit):
                continue  # unsafe_reason would find nothing
            reason = x12.unsafe_reason(value, limit)
            if reason:
                where = f"{owner}.{field}"
                yield ID.finding(f"{_label(where)}.{part} {reason}", f"{where}.{part}")


def _plain(value: str) -> bool:
    """No blanks to collapse: :func:`~gateway_plugins.renderers.x12.values.clean_text`
    returns a safe plain value unchanged (upper-cased)."""
    return "  " not in value and not value.startswith(" ") and not value.endswith(" ")


@check
def texts(claim: Claim, ctx: Context) -> Iterator[Finding]:
    for owner, field, value, limit, minimum in _texts(claim):
        if not minimum and (not value or (x12.is_safe(value) and len(value) <= limit)):
            continue
        if value and minimum <= len(value) <= limit and x12.is_safe(value) and _plain(value):
            continue  # written as it is (the common case): nothing to clean, nothing cut
        where = f"{owner}.{field}"
        cleaned = x12.clean_text(value, limit) if value else ""
        if len(cleaned) < minimum:
            if value and value.strip():
                problem = f"only {len(cleaned)} of its characters can be written with the X12 character set"
            else:
                problem = "is missing"
            yield TEXT.finding(
                f"{_label(where)} {problem}; the 837P needs at least {minimum} here", where, severity=Severity.ERROR
            )
        elif x12.visible_change(value, limit):  # type: ignore[arg-type]
            if len(x12.clean_text(value, len(value) * 4)) > limit:  # type: ignore[arg-type]  # NFKD may lengthen ("ß" → "SS")
                how = f"it is longer than the {limit} characters the element holds and is cut"
            else:
                how = "characters an 837P cannot carry (separators, letters with no Latin form) become spaces"
            yield TEXT.finding(f"{_label(where)} is written changed: {how}", where)


@check
def street_lines(claim: Claim, ctx: Context) -> Iterator[Finding]:
    """No N3 at all: an error where the 837P requires it (service facility,
    a patient who is not the subscriber) or where cleaning emptied it."""
    dependent = claim.coverage.relationship != SELF
    for where, addr in written_addresses(claim):
        if any((x12.is_safe(ln) and ln.strip()) or x12.clean_text(ln, x12.ADDRESS_LINE) for ln in addr.lines[:2] if ln):
            continue
        if any(ln.strip() for ln in addr.lines):
            problem = "nothing of the street address can be written with the X12 character set"
        elif where == "claim.service_facility.address" or (dependent and where == "claim.patient.address"):
            problem = "the street address is missing (N3 is required here)"
        else:
            continue  # SCRUB-ADDRESS / SCRUB-BILLING-ADDRESS report incomplete addresses
        yield TEXT.finding(f"{_label(where)}: {problem}", f"{where}.lines", severity=Severity.ERROR)


@check
def us_addresses(claim: Claim, ctx: Context) -> Iterator[Finding]:
    for owner, field, addr in _addresses(claim):
        if addr.country.strip().upper() not in US:
            continue
        zip_, state = postal_code(addr.postal_code), (addr.state or "").strip()
        bad_zip = zip_ and x12.is_safe(zip_) and not US_ZIP_RE.fullmatch(zip_)
        bad_state = state and x12.is_safe(state) and state.upper() not in USPS_STATES
        if not (bad_zip or bad_state):
            continue
        where = f"{owner}.{field}"
        if bad_zip:
            yield ZIP.finding(f"{_label(where)}: the ZIP code is not 5 or 9 digits", f"{where}.postal_code")
        if bad_state:
            yield STATE.finding(
                f"{_label(where)}: the state is not a USPS code (is a part of the address missing or shifted?)",
                f"{where}.state",
            )


@check
def patient_paid(claim: Claim, ctx: Context) -> Iterator[Finding]:
    paid = claim.patient_paid
    if paid is None or abs(paid) > MAX_AMOUNT:
        return  # SCRUB-AMOUNT reports a huge one
    if paid < 0 or not whole_cents(paid):
        yield PATIENT_PAID.finding("the patient amount paid must be zero or more, in whole cents", "claim.patient_paid")
    elif paid > claim.total_charge:
        yield PATIENT_PAID.finding(
            "the patient amount paid is more than the claim total", "claim.patient_paid", severity=Severity.WARNING
        )
