"""Canonical-model objects with sensible defaults (fake people only).

Every builder takes keyword overrides for the model's fields, so a test says
only what matters to it: ``build_claim(diagnoses=[...])``. The defaults pass
every built-in rule with the example deployment's ``riverside`` clinic on
:data:`TODAY`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from gateway.model import (
    Address,
    Claim,
    Coverage,
    Diagnosis,
    Encounter,
    Patient,
    Payer,
    PersonName,
    Provider,
    ServiceLine,
    Subscriber,
)

#: the processing date the kit uses (``MessageMeta.today``)
TODAY = date(2026, 11, 27)
#: the default date of service, a few weeks before :data:`TODAY`
SERVICE_DATE = date(2026, 10, 5)

_HOME = {"lines": ["12 Fictional Lane"], "city": "Springfield", "state": "IL", "postal_code": "62701"}


def _patient() -> Patient:
    return Patient(
        id="MRN90001",
        name=PersonName(family="Testperson", given="Alma"),
        birth_date=date(1980, 4, 12),
        sex="F",
        address=Address(**_HOME),
    )


def _rendering() -> Provider:
    return Provider(npi="1543210987", name=PersonName(family="Example", given="Robin"), taxonomy="207Q00000X")


def build_line(**changes: Any) -> ServiceLine:
    """A service line: CPT 99213, $125.00, one unit, on :data:`SERVICE_DATE`, pointing at diagnosis 1."""
    fields: dict[str, Any] = {
        "service_date": SERVICE_DATE,
        "procedure_code": "99213",
        "code_system": "CPT",
        "charge": Decimal("125.00"),
        "units": Decimal(1),
        "diagnosis_pointers": [1],
    }
    return ServiceLine(**{**fields, **changes})


def build_coverage(**changes: Any) -> Coverage:
    """Primary commercial coverage with the example payer EXPAYER1; the patient is the subscriber."""
    fields: dict[str, Any] = {
        "payer": Payer(id="EXPAYER1", name="Example Health Plan"),
        "subscriber": Subscriber(
            member_id="XHP123456789",
            name=PersonName(family="Testperson", given="Alma"),
            birth_date=date(1980, 4, 12),
            sex="F",
            address=Address(**_HOME),
            group_number="GRP-2001",
        ),
        "relationship": "18",
        "claim_filing_indicator": "CI",
    }
    return Coverage(**{**fields, **changes})


def build_encounter(**changes: Any) -> Encounter:
    """An insured office visit: one diagnosis (J06.9), one line (99213), one coverage."""
    fields: dict[str, Any] = {
        "id": "V90001",
        "patient": _patient(),
        "coverages": [build_coverage()],
        "rendering_provider": _rendering(),
        "place_of_service": "11",
        "start_date": SERVICE_DATE,
        "diagnoses": [Diagnosis(code="J069")],
        "service_lines": [build_line()],
    }
    return Encounter(**{**fields, **changes})


def build_claim(**changes: Any) -> Claim:
    """A clean claim of the example clinic ``riverside``; ``total_charge`` is the
    sum of the lines' charges unless given."""
    fields: dict[str, Any] = {
        "id": "V90001",
        "clinic_id": "riverside",
        "encounter_id": "V90001",
        "billing_provider": Provider(
            npi="1234567893",
            organization_name="Riverside Family Practice LLC",
            tax_id="123456789",
            taxonomy="207Q00000X",
            address=Address(lines=["100 Example Avenue"], city="Springfield", state="IL", postal_code="627010001"),
        ),
        "rendering_provider": _rendering(),
        "patient": _patient(),
        "coverage": build_coverage(),
        "diagnoses": [Diagnosis(code="J069")],
        "service_lines": [build_line()],
    }
    fields.update(changes)
    if "total_charge" not in fields:
        fields["total_charge"] = sum((ln.charge or Decimal(0) for ln in fields["service_lines"]), Decimal("0.00"))
    return Claim(**fields)
