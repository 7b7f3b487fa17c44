"""From a coded encounter to claims (insured care) and statements (self-pay).

Pure functions. A claim holds at most 50 service lines (837P 2400 limit);
longer encounters are split into parts with their own totals.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from decimal import Decimal

from gateway.config import Clinic
from gateway.model import (
    Claim,
    Encounter,
    Finding,
    Guarantor,
    Provider,
    Severity,
    Statement,
    StatementLine,
)

MAX_LINES_PER_CLAIM = 50
CLM01_MAX = 20


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
    return Finding(severity=Severity.ERROR, rule=rule, message=message, location=location, plugin="core")


def claim_blockers(encounter: Encounter) -> list[Finding]:
    """Problems that make a claim impossible to build at all."""
    out = []
    for i, line in enumerate(encounter.service_lines, 1):
        where = f"encounter.service_lines[{i}]"
        if not line.procedure_code:
            out.append(_error("GW-LINE-CODE", f"service line {i} has no CPT/HCPCS code after mapping", where))
        if line.charge is None:
            out.append(_error("GW-LINE-CHARGE", f"service line {i} has no charge after mapping", where))
    return out


def build_claims(encounter: Encounter, clinic: Clinic) -> tuple[list[Claim], list[Finding]]:
    """One claim per 50 service lines for the primary coverage; none for self-pay."""
    coverage = encounter.primary_coverage()
    if coverage is None or not encounter.service_lines:
        return [], []
    blockers = claim_blockers(encounter)
    if blockers:
        return [], blockers
    others = [c for c in encounter.coverages if c is not coverage]
    chunks = [
        encounter.service_lines[i : i + MAX_LINES_PER_CLAIM]
        for i in range(0, len(encounter.service_lines), MAX_LINES_PER_CLAIM)
    ]
    claims = []
    for part, lines in enumerate(chunks, 1):
        claims.append(
            Claim(
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
                diagnoses=encounter.diagnoses,
                service_lines=[ln.model_copy() for ln in lines],
                total_charge=sum((ln.charge or Decimal(0) for ln in lines), Decimal("0.00")),
            )
        )
    return claims, []


def build_statements(encounter: Encounter, clinic: Clinic, today: date, terms_days: int = 30) -> list[Statement]:
    """A statement for a self-pay encounter (no coverage): the patient owes
    the full charge. Insured encounters get statements once payers answer."""
    if encounter.coverages or not encounter.service_lines or claim_blockers(encounter):
        return []
    patient = encounter.patient
    guarantor = encounter.guarantor or Guarantor(name=patient.name, address=patient.address, relationship="self")
    account = guarantor.account_number or patient.id
    lines = [
        StatementLine(
            service_date=ln.service_date,
            description=ln.description or ln.procedure_code or "Service",
            charge=ln.charge or Decimal("0.00"),
        )
        for ln in sorted(encounter.service_lines, key=lambda ln: ln.service_date)
    ]
    return [
        Statement(
            id=claim_id(clinic.id, f"S{encounter.id}", 1, 1),
            clinic_id=clinic.id,
            account_number=account,
            statement_date=today,
            due_date=today + timedelta(days=terms_days),
            patient=patient,
            guarantor=guarantor,
            lines=lines,
        )
    ]
