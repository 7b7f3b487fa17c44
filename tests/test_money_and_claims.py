"""The one money rule (gateway/money.py) and what the core does with what
real senders send: copays on the claim and the statement, placeholder visit
ids refused, derived patient ids never merged into one account, lines due on
a statement checked like lines on a claim."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from gateway.app import Gateway
from gateway.claims import allocate_paid, build_claims, build_statements, claim_blockers, merge_statements
from gateway.model import Encounter, ServiceLine, StatementLine
from gateway.money import MAX_AMOUNT, AmountError, amount_problem, as_sent, cents, units_problem, whole_cents
from tests.conftest import FIXTURES, TODAY


def encounter(name: str = "lakeside-selfpay.json", **update: object) -> Encounter:
    doc = json.loads((FIXTURES / "encounters" / name).read_text())
    return Encounter.model_validate(doc["encounters"][0]).model_copy(update=update)


def test_one_rounding_rule_half_up_to_cents() -> None:
    # FT1-10 = 0.5 × FT1-12 = 55.01: half-even would bill 27.50, the charge master 27.51
    assert cents(Decimal("0.5") * Decimal("55.01")) == Decimal("27.51")
    assert cents(Decimal("-27.505")) == Decimal("-27.51") and cents(Decimal("2.675")) == Decimal("2.68")
    assert str(cents(Decimal("125"))) == "125.00"
    # stated amounts are never rounded: whole cents get two decimals, fractions stay for the clinic to fix
    assert str(as_sent(Decimal("125"))) == "125.00" and as_sent(Decimal("12.005")) == Decimal("12.005")
    assert whole_cents(Decimal("12.500")) and not whole_cents(Decimal("12.005"))


def test_amounts_and_quantities_out_of_range_are_named_not_raised() -> None:
    assert amount_problem(Decimal("1e308")) == "is out of range (at most 99,999,999.99)"
    assert amount_problem(Decimal("9" * 5000)) is not None and amount_problem(MAX_AMOUNT) is None
    assert amount_problem(Decimal("NaN")) == "is not a number" and units_problem(Decimal("1e6")) is not None
    with pytest.raises(AmountError, match="too large"):
        cents(Decimal("1e308"))
    with pytest.raises(ValidationError, match=r"less than or equal to 99999999\.99"):
        ServiceLine(service_date=TODAY, charge=Decimal("1e308"))
    with pytest.raises(ValidationError, match="less than or equal to 99999"):
        ServiceLine(service_date=TODAY, units=Decimal("1e308"))


def test_a_copay_goes_on_the_first_claim_and_on_the_statement_as_paid(example_gateway: Gateway) -> None:
    clinic = example_gateway.clinics["riverside"]
    insured = encounter("riverside-insured.json", patient_paid=Decimal("25.00"))
    (claim,) = build_claims(insured, clinic)[0]
    assert claim.patient_paid == Decimal("25.00")
    selfpay = encounter(patient_paid=Decimal("20.00"))
    (st,) = build_statements(selfpay, example_gateway.clinics["lakeside"], TODAY)
    assert sum(ln.patient_paid for ln in st.lines) == Decimal("20.00")
    assert st.total_due == sum(ln.charge for ln in st.lines) - Decimal("20.00")


def test_a_payment_is_spread_pending_lines_first_and_adds_up_exactly() -> None:
    def ln(charge: str, pending: bool) -> StatementLine:
        return StatementLine(service_date=TODAY, description="x", charge=Decimal(charge), insurance_pending=pending)

    lines = [ln("40.00", False), ln("15.00", True), ln("30.00", True)]
    allocate_paid(lines, Decimal("50.00"))
    assert [x.patient_paid for x in lines] == [Decimal("5.00"), Decimal("15.00"), Decimal("30.00")]
    over = [ln("10.00", False)]
    allocate_paid(over, Decimal("12.50"))  # overpaid: the credit stays on the statement
    assert over[0].patient_paid == Decimal("12.50") and over[0].balance == Decimal("-2.50")


@pytest.mark.parametrize("visit", ["unknown", "UNKNOWN", "", "none", "0"])
def test_a_placeholder_visit_id_never_becomes_a_claim_id(example_gateway: Gateway, visit: str) -> None:
    enc = encounter("riverside-insured.json", id=visit)
    claims, findings = build_claims(enc, example_gateway.clinics["riverside"])
    assert claims == [] and [(f.rule, f.location) for f in findings] == [("GW-VISIT-ID", "encounter.id")]
    assert build_statements(encounter(id=visit), example_gateway.clinics["lakeside"], TODAY) == []


def test_self_pay_blockers_are_reported_not_dropped(example_gateway: Gateway) -> None:
    """A self-pay line that cannot be priced used to make the statement vanish without a finding."""
    enc = encounter()
    enc.service_lines[0].charge = None
    _, findings = build_claims(enc, example_gateway.clinics["lakeside"])
    assert [(f.rule, f.location) for f in findings] == [("GW-LINE-CHARGE", "encounter.service_lines[1]")]
    enc.service_lines[0].charge = Decimal("12.005")
    _, findings = build_claims(enc, example_gateway.clinics["lakeside"])
    assert [f.rule for f in findings] == ["GW-LINE-CHARGE"] and "fractions of a cent" in findings[0].message


def test_unmapped_codes_point_at_the_mapping_to_fix() -> None:
    enc = encounter()
    enc.service_lines[0].procedure_code = None
    enc.service_lines[0].local_code, enc.service_lines[0].local_system = "OV3", None
    (f,) = claim_blockers(enc)
    assert f.rule == "GW-LINE-CODE" and "charge master" in f.message
    enc.service_lines[0].local_system = "http://snomed.info/sct"
    (f,) = claim_blockers(enc)
    assert "code maps" in f.message


def test_derived_patient_ids_never_merge_statement_accounts(example_gateway: Gateway) -> None:
    clinic = example_gateway.clinics["lakeside"]
    statements = []
    for n in (1, 2):
        enc = encounter(id=f"V-{n}")
        enc.guarantor = None
        enc.patient = enc.patient.model_copy(update={"id": f"derived-{n}", "id_derived": True})
        statements += build_statements(enc, clinic, TODAY)
    assert len(merge_statements(statements)) == 2
    assert {st.account_number for st in statements} == {st.id for st in statements}
    # the same with a real MRN: one account, one statement for both visits
    for st in statements:
        st.account_number = "MRN-1"
    assert len(merge_statements(statements)) == 1


def test_a_self_guarantor_gets_the_patients_email(example_gateway: Gateway) -> None:
    enc = encounter()
    enc.patient.email = "pat@example.org"
    enc.guarantor = enc.guarantor.model_copy(update={"relationship": "self", "email": None})
    (st,) = build_statements(enc, example_gateway.clinics["lakeside"], TODAY)
    assert st.guarantor.email == "pat@example.org"
    enc.guarantor = enc.guarantor.model_copy(update={"relationship": "mother"})
    (st,) = build_statements(enc, example_gateway.clinics["lakeside"], TODAY)
    assert st.guarantor.email is None  # another person's statement never goes to the patient's mailbox


def _canonical(example_gateway: Gateway, raw: bytes) -> list[tuple[str, str | None]]:
    from gateway.messages import MemoryRecords, MessageMeta

    meta = MessageMeta(source="t", today=TODAY, clinic_id="riverside")
    result = example_gateway.pipeline.process(raw, meta, MemoryRecords())
    return [(f.rule, f.location) for f in result.all_findings() if f.is_error]


@pytest.mark.parametrize(
    ("charge", "rule"),
    [('"1e308"', "JSON-NUMBER"), ('"' + "9" * 5000 + '"', "JSON-NUMBER"), ("9" * 5000, "JSON-NUMBER")],
    ids=["1e308", "5000-digit-string", "5000-digit-number"],
)
def test_canonical_amounts_out_of_range_have_their_own_rule(example_gateway: Gateway, charge: str, rule: str) -> None:
    """Issue 17 item 9: these were GW-PLUGIN-ERROR (InvalidOperation in the scrubber, ValueError in json)."""
    raw = (FIXTURES / "encounters" / "riverside-insured.json").read_text().replace('"125.00"', charge, 1).encode()
    ((found, where),) = _canonical(example_gateway, raw)
    assert found == rule and where in ("$.encounters[0].service_lines[0].charge", "$")


def test_canonical_json_nested_too_deeply_is_json_depth(example_gateway: Gateway) -> None:
    deep = b'{"gateway_format": "encounters/1", "encounters": [' + b"[" * 50_000 + b"]" * 50_000 + b"]}"
    assert _canonical(example_gateway, deep) == [("JSON-DEPTH", "$")]


def test_canonical_lines_carry_their_json_path(example_gateway: Gateway) -> None:
    from gateway.messages import MemoryRecords, MessageMeta

    raw = (FIXTURES / "encounters" / "riverside-insured.json").read_bytes()
    result = example_gateway.pipeline.process(raw, MessageMeta(source="t", today=TODAY), MemoryRecords())
    (claim,) = result.encounters[0].claims
    assert [ln.source_ref for ln in claim.service_lines] == [
        "$.encounters[0].service_lines[0]",
        "$.encounters[0].service_lines[1]",
    ]
