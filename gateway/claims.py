"""From a coded encounter to claims (insured care) and statements (self-pay).

Pure functions. A claim holds at most 50 service lines (837P 2400 limit);
longer encounters are split into parts with their own totals. Lines marked
``self_pay`` stay off claims and are due on the patient's statement. What
the patient paid at the visit (copays) goes on the first claim (AMT*F5) and
on the statement as paid. A visit id that is a placeholder ("unknown") never
becomes a claim id, and a patient id the reader derived never merges
statement accounts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal

from gateway.config import Clinic
from gateway.model import (
    CLAIM_INFO_FIELDS,
    Aging,
    Claim,
    ClaimAdditions,
    Encounter,
    Finding,
    Guarantor,
    Provider,
    Severity,
    Statement,
    StatementLine,
)
from gateway.money import ZERO, amount_problem, cents, whole_cents
from gateway.rules import CORE

#: visit ids that name no visit in particular (a reader's fallback): as a
#: claim id they would make two visits one CLM01, so no claim is built
PLACEHOLDER_IDS = frozenset({"", "UNKNOWN", "NONE", "NULL", "N/A", "NA", "0", "-", '""'})
MAX_LINES_PER_CLAIM = 50
CLM01_MAX = 20
#: statement payment terms when the clinic configures none
DEFAULT_TERMS_DAYS = 30


def billing_provider(clinic: Clinic) -> Provider:
    """The clinic's billing provider (2010AA) from configuration."""
    bp = clinic.config.billing_provider
    return Provider(
        npi=bp.npi,
        organization_name=bp.name,
        taxonomy=bp.taxonomy,
        tax_id=bp.tax_id,
        address=bp.address,
        phone=bp.phone,
    )


def claim_id(clinic_id: str, encounter_id: str, part: int, parts: int) -> str:
    """Deterministic patient control number (CLM01, ≤ 20 characters).

    The visit number when it fits (billers reconcile remittances by it),
    with ``-<part>`` for split claims; otherwise a stable hash of clinic,
    visit and part.
    """
    suffix = f"-{part}" if parts > 1 else ""
    base = re.sub(r"[^A-Za-z0-9-]", "", encounter_id)
    if base and len(base) + len(suffix) <= CLM01_MAX and base == encounter_id:
        return base + suffix
    digest = hashlib.sha256(f"{clinic_id}|{encounter_id}".encode()).hexdigest().upper()
    return digest[: CLM01_MAX - len(suffix)] + suffix


def _error(rule: str, message: str, location: str) -> Finding:
    return CORE[rule].finding(message, location, Severity.ERROR)


def _unmapped(i: int, local_code: str | None, local_system: str | None) -> str:
    """Why line ``i`` has no CPT/HCPCS code, pointing at the mapping to fix."""
    if local_code and local_system is None:
        return (
            f"service line {i}: its local charge code is not mapped to CPT/HCPCS; add it to the clinic's charge master"
        )
    if local_code:
        return f"service line {i}: its {local_system} code is not mapped to CPT/HCPCS; add it to the clinic's code maps"
    return f"service line {i} has no CPT/HCPCS code after mapping"


def claim_blockers(encounter: Encounter) -> list[Finding]:
    """Problems that make a claim (or a statement) impossible to build at all."""
    out = []
    if encounter.service_lines and encounter.id.strip().upper() in PLACEHOLDER_IDS:
        text = "the encounter has no visit id of its own (a placeholder); as a claim id it would collide with others"
        out.append(_error("GW-VISIT-ID", text, "encounter.id"))
    for i, line in enumerate(encounter.service_lines, 1):
        where = f"encounter.service_lines[{i}]"
        if not line.procedure_code:
            out.append(_error("GW-LINE-CODE", _unmapped(i, line.local_code, line.local_system), where))
        if line.charge is None:
            out.append(_error("GW-LINE-CHARGE", f"service line {i} has no charge after mapping", where))
        elif problem := amount_problem(line.charge):
            out.append(_error("GW-LINE-CHARGE", f"service line {i}: its charge {problem}", f"{where}.charge"))
        elif not whole_cents(line.charge) and (line.self_pay or not encounter.coverages):
            # due on a statement, where no scrubber looks (on a claim: SCRUB-TOTAL)
            text = f"service line {i}: its charge has fractions of a cent; the clinic must send whole cents"
            out.append(_error("GW-LINE-CHARGE", text, f"{where}.charge"))
    total = sum((ln.charge for ln in encounter.service_lines if ln.charge is not None), ZERO)
    if not out and (problem := amount_problem(total)):
        out.append(_error("GW-LINE-CHARGE", f"the encounter's charges add up to an amount that {problem}", "encounter"))
    for k, cov in enumerate(encounter.coverages, 1):
        where = f"encounter.coverages[{k}]"
        if not cov.payer.id.strip():
            text = (
                f"coverage {cov.order}: the payer has no payer id (named by name only); add it to the payer directory"
            )
            out.append(_error("GW-PAYER-ID", text, f"{where}.payer"))
        if not cov.subscriber.member_id.strip():
            text = f"coverage {cov.order}: no member id was sent; a claim cannot go out without one"
            out.append(_error("GW-MEMBER-ID", text, f"{where}.subscriber.member_id"))
    return out


def build_claims(encounter: Encounter, clinic: Clinic) -> tuple[list[Claim], list[Finding]]:
    """One claim per 50 service lines for the primary coverage; none for
    self-pay encounters, and ``self_pay`` lines are left off. The findings
    say why nothing can be built (for statements too: self-pay encounters
    are checked as well)."""
    blockers = claim_blockers(encounter)
    if blockers:
        return [], blockers
    coverage = encounter.primary_coverage()
    billable = [ln for ln in encounter.service_lines if not ln.self_pay]
    if coverage is None or not billable:
        return [], []
    others = [c for c in encounter.coverages if c is not coverage]
    chunks = [billable[i : i + MAX_LINES_PER_CLAIM] for i in range(0, len(billable), MAX_LINES_PER_CLAIM)]
    claims = []
    for part, lines in enumerate(chunks, 1):
        claims.append(
            # validated once at the edge: the encounter's parts are models already, claim_blockers
            # checked the amounts and claim_id() keeps CLM01 within 20 characters
            Claim.model_construct(
                id=claim_id(clinic.id, encounter.id, part, len(chunks)),
                clinic_id=clinic.id,
                encounter_id=encounter.id,
                part=part,
                parts=len(chunks),
                billing_provider=billing_provider(clinic),
                rendering_provider=encounter.rendering_provider,
                referring_provider=encounter.referring_provider,
                service_facility=encounter.service_facility,
                patient=encounter.patient,
                coverage=coverage,
                other_coverages=others,
                place_of_service=encounter.place_of_service or "11",
                diagnoses=list(encounter.diagnoses),
                service_lines=[ln.model_copy() for ln in lines],
                total_charge=sum((ln.charge or Decimal(0) for ln in lines), Decimal("0.00")),
                patient_paid=encounter.patient_paid if part == 1 else None,
                original_reference=None,
                frequency_code="1",
                # given, not defaulted: model_construct runs inspect.signature on a default
                # factory each time it fills one in (~25 µs per claim)
                additions=ClaimAdditions(),
                **{n: list(v) if isinstance(v := getattr(encounter, n), list) else v for n in CLAIM_INFO_FIELDS},
            )
        )
    return claims, []


def statement_lines(encounter: Encounter) -> list[StatementLine]:
    """The patient's view of an encounter's lines, by date of service.

    Without coverage the patient owes every full charge; with coverage,
    ``self_pay`` lines are due and the others are shown as insurance pending
    (not due until the payer answers; the 835 later fills in what was paid).
    What the patient paid at the visit is shown as paid (:func:`allocate_paid`).
    """
    insured = bool(encounter.coverages)
    who = encounter.patient.name.display()
    lines = [
        StatementLine(
            service_date=ln.service_date,
            description=ln.description or ln.procedure_code or "Service",
            charge=ln.charge or Decimal("0.00"),
            insurance_pending=insured and not ln.self_pay,
            encounter_id=encounter.id,
            patient_name=who,
            source_ref=ln.source_ref,
        )
        for ln in sorted(encounter.service_lines, key=lambda ln: ln.service_date)
    ]
    allocate_paid(lines, encounter.patient_paid)
    return lines


def allocate_paid(lines: list[StatementLine], paid: Decimal | None) -> None:
    """Show ``paid`` (the patient's payment at the visit) on ``lines`` in
    place: lines waiting for insurance first (a copay is the patient's share
    of the insured visit), then the others, each in date order and up to its
    balance; what is left over stays on the last line as a credit. The
    amounts shown add up to ``paid`` exactly."""
    if not paid or not lines:
        return
    left = cents(paid)
    for ln in sorted(lines, key=lambda ln: not ln.insurance_pending):
        share = min(left, max(ln.balance, ZERO))
        ln.patient_paid += share
        left -= share
    if left:
        lines[-1].patient_paid += left


def aging(lines: Iterable[StatementLine], statement_date: date) -> Aging:
    """Balances due by age on the statement date: 0–30 days current, 31–60,
    61–90, over 90. The age counts from the date the patient was first billed
    for the line (``first_billed``, statement cycles) or else from its service
    date (self-pay statements, billed at the visit). Pending lines are not due."""
    buckets = [Decimal("0.00")] * 4
    for ln in lines:
        if ln.insurance_pending:
            continue
        days = (statement_date - (ln.first_billed or ln.service_date)).days
        buckets[0 if days <= 30 else 1 if days <= 60 else 2 if days <= 90 else 3] += ln.balance
    return Aging(current=buckets[0], days_31_60=buckets[1], days_61_90=buckets[2], over_90=buckets[3])


def self_pay_statement_id(clinic_id: str, encounter_id: str) -> str:
    """The id of an encounter's own statement (its self-pay part)."""
    return claim_id(clinic_id, f"S{encounter_id}", 1, 1)


def guarantor_account(encounter: Encounter, clinic_id: str) -> str:
    """The guarantor account an encounter's claims and statement are owed on:
    the guarantor's account number, else the patient id. A derived patient id
    is unique to one message: as an account it could still meet another
    message's, so such an encounter keeps its own (its statement id)."""
    if encounter.guarantor is not None and encounter.guarantor.account_number:
        return encounter.guarantor.account_number
    patient = encounter.patient
    return self_pay_statement_id(clinic_id, encounter.id) if patient.id_derived else patient.id


def build_statements(
    encounter: Encounter, clinic: Clinic, today: date, terms_days: int | None = None
) -> list[Statement]:
    """A statement when the patient owes something now: self-pay encounters
    (no coverage: the full charge) and insured encounters with ``self_pay``
    lines (those lines due, the rest shown as insurance pending). Insured
    encounters without self-pay lines get statements once payers answer."""
    if encounter.coverages and not any(ln.self_pay for ln in encounter.service_lines):
        return []  # (the common case, checked first: claim_blockers costs ~10 µs)
    if not encounter.service_lines or claim_blockers(encounter):
        return []
    patient = encounter.patient
    guarantor = encounter.guarantor or Guarantor(
        name=patient.name, address=patient.address, relationship="self", email=patient.email
    )
    if guarantor.email is None and guarantor.relationship == "self" and patient.email:
        guarantor = guarantor.model_copy(update={"email": patient.email})
    terms = terms_days if terms_days is not None else DEFAULT_TERMS_DAYS
    lines = statement_lines(encounter)
    statement_id = self_pay_statement_id(clinic.id, encounter.id)
    account = guarantor_account(encounter, clinic.id)
    return [
        Statement(
            id=statement_id,
            clinic_id=clinic.id,
            account_number=account,
            statement_date=today,
            due_date=today + timedelta(days=terms),
            patient=patient,
            guarantor=guarantor,
            lines=lines,
            aging=aging(lines, today),
        )
    ]


def merge_statements(statements: Sequence[Statement]) -> list[Statement]:
    """One statement per clinic and guarantor account (a family's visits on
    one bill), in order of first appearance.

    A group of one is returned unchanged. A merged statement takes the
    latest statement and due dates, the first statement's patient and
    guarantor, every line by date of service, aging recomputed, and a
    deterministic id from clinic, account and statement date.
    """
    groups: dict[tuple[str, str], list[Statement]] = {}
    for st in statements:
        groups.setdefault((st.clinic_id, st.account_number), []).append(st)
    out = []
    for (clinic_id, account), group in groups.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        first = group[0]
        statement_date = max(st.statement_date for st in group)
        lines = sorted((ln for st in group for ln in st.lines), key=lambda ln: ln.service_date)
        out.append(
            first.model_copy(
                update={
                    "id": claim_id(clinic_id, f"A{account}-{statement_date:%Y%m%d}", 1, 1),
                    "statement_date": statement_date,
                    "due_date": max(st.due_date for st in group),
                    "lines": lines,
                    "aging": aging(lines, statement_date),
                }
            )
        )
    return out
