"""The canonical model: Decimal money and a lossless JSON round trip."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.model import (
    Address,
    Claim,
    Coverage,
    Diagnosis,
    Encounter,
    Finding,
    Patient,
    Payer,
    PersonName,
    Provider,
    ServiceLine,
    Severity,
    Statement,
    StatementLine,
    Subscriber,
)
from tests.strategies import text

money = st.decimals(min_value=Decimal("-99999.99"), max_value=Decimal("99999.99"), places=2, allow_nan=False)
dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
names = st.builds(PersonName, family=text, given=st.none() | text, middle=st.none() | text)
addresses = st.builds(
    Address,
    lines=st.lists(text, max_size=2),
    city=st.none() | text,
    postal_code=st.none() | st.from_regex(r"\d{5}(\d{4})?", fullmatch=True),
)
patients = st.builds(
    Patient,
    id=text,
    name=names,
    birth_date=st.none() | dates,
    sex=st.sampled_from(["M", "F", "U"]),
    address=st.none() | addresses,
)
lines = st.builds(
    ServiceLine,
    service_date=dates,
    procedure_code=st.none() | st.from_regex(r"[0-9A-Z]{5}", fullmatch=True),
    modifiers=st.lists(st.from_regex(r"[0-9A-Z]{2}", fullmatch=True), max_size=4),
    units=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("999"), places=3, allow_nan=False),
    charge=st.none() | money,
    diagnosis_pointers=st.lists(st.integers(1, 12), max_size=4),
    local_code=st.none() | text,
)
coverages = st.builds(
    Coverage,
    order=st.integers(1, 3),
    payer=st.builds(Payer, id=text, name=text),
    subscriber=st.builds(Subscriber, member_id=text, name=names, birth_date=st.none() | dates),
    relationship=st.sampled_from(["18", "01", "19", "G8"]),
    prior_payer_paid=st.none() | money,
)
encounters = st.builds(
    Encounter,
    id=text,
    patient=patients,
    coverages=st.lists(coverages, max_size=3),
    diagnoses=st.lists(st.builds(Diagnosis, code=text), max_size=12),
    service_lines=st.lists(lines, max_size=5),
    rendering_provider=st.none() | st.builds(Provider, npi=st.none() | text, name=st.none() | names),
    extensions=st.dictionaries(text, st.lists(text, max_size=3), max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(encounters)
def test_encounter_json_round_trip_is_lossless(enc: Encounter) -> None:
    assert Encounter.model_validate_json(enc.model_dump_json()) == enc


@settings(max_examples=50, deadline=None)
@given(encounters, st.builds(Provider, npi=text, organization_name=text), money)
def test_claim_json_round_trip_is_lossless(enc: Encounter, billing: Provider, total: Decimal) -> None:
    if not enc.coverages:
        return
    claim = Claim(
        id="C1",
        clinic_id="c",
        encounter_id=enc.id,
        billing_provider=billing,
        patient=enc.patient,
        coverage=enc.coverages[0],
        diagnoses=enc.diagnoses,
        service_lines=enc.service_lines,
        total_charge=total,
    )
    assert Claim.model_validate_json(claim.model_dump_json()) == claim


def test_money_is_decimal_and_keeps_cents_through_json() -> None:
    line = ServiceLine(service_date=date(2026, 1, 2), charge=Decimal("125.10"))
    dumped = line.model_dump_json()
    assert '"charge":"125.10"' in dumped  # a string, never a float
    back = ServiceLine.model_validate_json(dumped)
    assert back.charge == Decimal("125.10") and str(back.charge) == "125.10"


def test_statement_totals_are_exact() -> None:
    st_ = Statement(
        id="S1",
        clinic_id="c",
        account_number="A1",
        statement_date=date(2026, 11, 1),
        due_date=date(2026, 12, 1),
        patient=Patient(id="P", name=PersonName(family="Example")),
        guarantor={"name": {"family": "Example"}},
        lines=[
            StatementLine(service_date=date(2026, 10, 1), description="a", charge=Decimal("0.10")),
            StatementLine(service_date=date(2026, 10, 1), description="b", charge=Decimal("0.20")),
            StatementLine(
                service_date=date(2026, 10, 2), description="c", charge=Decimal("50"), insurance_pending=True
            ),
        ],
    )
    assert st_.total_due == Decimal("0.30")
    assert Statement.model_validate_json(st_.model_dump_json()) == st_


def test_unknown_keys_are_refused() -> None:
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError, match="chrage"):
        ServiceLine.model_validate({"service_date": "2026-01-01", "chrage": "1.00"})


def test_at_most_four_modifiers() -> None:
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError):
        ServiceLine(service_date=date(2026, 1, 1), modifiers=["25", "59", "GT", "QW", "XS"])


def test_finding_is_error() -> None:
    assert Finding(severity=Severity.ERROR, rule="X", message="m").is_error
    assert not Finding(severity=Severity.WARNING, rule="X", message="m").is_error
