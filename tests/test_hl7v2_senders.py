"""What real HL7 v2 senders send (issue 19), one fixture each: a clinic's own
charge-code system, copays, UB-92 relationship codes, self-pay plans, two
batches in a file, implausible birth dates, a foreign MSH-17, an unknown
MSH-12, diagnosis links in PR1-15, e-mail in XTN, half-cent rounding."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from gateway_plugins.inbound.hl7v2.fieldmap import load_map
from gateway_plugins.inbound.hl7v2.settings import Hl7v2Settings
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from gateway.app import Gateway
from gateway.config import ConfigError
from gateway.messages import MemoryRecords, MessageMeta
from gateway.pipeline import MessageResult
from tests.invariant import check_nothing_vanishes

from .test_hl7v2_support import HL7_FIXTURES, run

TODAY = date(2026, 11, 27)


def process(gw: Gateway, name: str) -> MessageResult:
    raw = (HL7_FIXTURES / name).read_bytes()
    result = gw.pipeline.process(raw, MessageMeta(source="test", today=TODAY, name=name), MemoryRecords())
    check_nothing_vanishes(raw, result)
    return result


def rules(findings: list) -> dict[str, str | None]:
    return {f.rule: f.location for f in findings}


def test_a_clinic_naming_its_own_charge_code_system_goes_to_the_charge_master(example_gateway: Gateway) -> None:
    result = process(example_gateway, "dft_p03_v25_own_charge_system.hl7")
    (er,) = result.encounters
    assert [(ln.local_code, ln.local_system) for ln in er.encounter.service_lines] == [
        ("OV-EST-2", None),
        ("LAB-STREP", None),
    ]
    (claim,) = er.claims  # priced and coded by the charge master, not MAP-UNMAPPED
    assert [(ln.procedure_code, ln.modifiers) for ln in claim.service_lines] == [("99212", []), ("87880", ["QW"])]
    assert not [f for f in er.findings if f.rule == "MAP-UNMAPPED"]


def test_charge_master_systems_setting_limits_which_names_are_local() -> None:
    raw = (HL7_FIXTURES / "dft_p03_v25_own_charge_system.hl7").read_bytes()
    listed = Hl7v2Settings(charge_master_systems=["northcdm"])
    assert run(raw, settings=listed).encounters[0].service_lines[0].local_system is None
    other = Hl7v2Settings(charge_master_systems=["SOUTHCDM"])
    assert run(raw, settings=other).encounters[0].service_lines[0].local_system == "NORTHCDM"  # → code maps
    # recognised standards never go to the charge master
    snomed = raw.replace(b"OV-EST-2^FOLLOW-UP VISIT LEVEL 2^NORTHCDM", b"185349003^Check up^SCT")
    line = run(snomed).encounters[0].service_lines[0]
    assert (line.local_code, line.local_system) == ("185349003", "http://snomed.info/sct")


def test_an_unknown_local_code_points_at_the_charge_master(example_gateway: Gateway) -> None:
    raw = (HL7_FIXTURES / "dft_p03_v25_own_charge_system.hl7").read_bytes().replace(b"OV-EST-2^", b"OV-NOPE^")
    result = example_gateway.pipeline.process(raw, MessageMeta(source="t", today=TODAY), MemoryRecords())
    errors = {f.rule: f.message for f in result.all_findings() if f.is_error}
    assert set(errors) == {"CM-UNKNOWN", "GW-LINE-CODE"}
    assert all("charge master" in text for text in errors.values())
    check_nothing_vanishes(raw, result)


def test_a_copay_is_on_the_claim_and_the_statement(example_gateway: Gateway) -> None:
    (er,) = process(example_gateway, "dft_p03_v25_copay_insured.hl7").encounters
    assert er.encounter.patient_paid == Decimal("25.00")
    (claim,) = er.claims
    assert claim.patient_paid == Decimal("25.00") and claim.total_charge == Decimal("185.00")
    # a self-pay visit with a PY payment: the statement shows it as paid
    (er,) = process(example_gateway, "dft_p03_v27_credit_payment.hl7").encounters
    (st,) = er.statements
    assert sum(ln.patient_paid for ln in st.lines) == Decimal("20.00")
    assert st.total_due == Decimal("105.00")  # 125.00 charge − 20.00 paid at the desk


def test_ub92_relationship_01_warns_when_the_insured_is_the_patient(tmp_path: Path) -> None:
    raw = (HL7_FIXTURES / "dft_p03_v25_ub92_relationship.hl7").read_bytes()
    result = run(raw)
    assert rules(result.findings) == {"HL7-RELATIONSHIP": "IN1[1]-17"}
    assert result.encounters[0].coverages[0].relationship == "01"  # X12 spouse, as sent: hence the warning
    override = tmp_path / "ub92.yaml"
    override.write_text('insurance:\n  relationship_codes: {"01": "18", "02": "01", "03": "19"}\n')
    fixed = run(raw, fm=load_map(override))
    assert fixed.findings == [] and fixed.encounters[0].coverages[0].relationship == "18"


def test_a_patient_pay_plan_is_self_pay_not_a_broken_coverage(example_gateway: Gateway) -> None:
    result = process(example_gateway, "bar_p01_v25_patient_pay_plan.hl7")
    assert not result.quarantined and not [f for f in result.all_findings() if f.rule == "HL7-COVERAGE"]
    (er,) = result.encounters
    assert er.encounter.coverages == [] and er.claims == [] and len(er.statements) == 1
    # the list is the clinic's: without PATIENT PAY the IN1 is a coverage without payer id (an error)
    narrow = Hl7v2Settings(self_pay_plans=["SELF PAY"])
    refused = run((HL7_FIXTURES / "bar_p01_v25_patient_pay_plan.hl7").read_bytes(), settings=narrow)
    assert "HL7-COVERAGE" in rules(refused.findings)


def test_self_pay_moved_out_of_the_field_map_says_where(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text("insurance:\n  self_pay: [CASH]\n")
    with pytest.raises(ConfigError, match=r"insurance\.self_pay: moved to settings\.hl7v2\.self_pay_plans"):
        load_map(old)


def test_batch_counts_are_checked_per_batch() -> None:
    raw = (HL7_FIXTURES / "batch_bhs_v25_two_batches.hl7").read_bytes()
    result = run(raw)
    assert len(result.encounters) == 3 and "HL7-BATCH-COUNT" not in rules(result.findings)
    wrong = run(raw.replace(b"BTS|1\r", b"BTS|2\r").replace(b"FTS|2\r", b"FTS|1\r"))
    counts = [(f.location, f.message) for f in wrong.findings if f.rule == "HL7-BATCH-COUNT"]
    assert counts == [
        ("BTS[1]-1", "BTS-1 counts 2 messages, 1 found"),
        ("FTS[1]-1", "FTS-1 counts 1 batches, 2 found"),
    ]


def test_implausible_birth_dates_and_msh17_country() -> None:
    raw = (HL7_FIXTURES / "dft_p03_v25_implausible_dob_au.hl7").read_bytes()
    result = run(raw)
    assert rules(result.findings) == {"HL7-DOB": "PID[1]-7"}
    assert result.encounters[0].patient.address.country == "AU"  # MSH-17, not the US default
    future = run(raw.replace(b"||10131113|", b"||20270101|"))  # after MSH-7 (2026-10-25)
    assert [f.message for f in future.findings] == ["the birth date is after the message date (MSH-7); check it"]
    plain = run(raw.replace(b"||10131113|", b"||19800101|").replace(b"|P|2.5|||||AU", b"|P|2.5"))
    assert plain.findings == [] and plain.encounters[0].patient.address.country == "US"


def test_an_unknown_msh12_is_reported_and_echoed_in_the_ack() -> None:
    result = run((HL7_FIXTURES / "dft_p03_v10_unknown_version.hl7").read_bytes())
    assert [(f.rule, f.severity.value) for f in result.findings] == [("HL7-VERSION", "info")]
    assert "'1.0' is not an HL7 v2 version; read as 2.5" in result.findings[0].message
    ack = result.acknowledgement.decode()
    assert ack.split("\r")[0].split("|")[11] == "1.0"
    lying = run((HL7_FIXTURES / "dft_p03_mislabeled_v23_is_v27.hl7").read_bytes())
    assert lying.acknowledgement.decode().split("\r")[0].split("|")[11] == "2.3"  # as sent, though read as 2.7
    parsed = parse_message(lying.acknowledgement.decode(), validation_level=VALIDATION_LEVEL.TOLERANT)
    assert parsed.msa.msa_1.value == "AA"


def test_pr1_15_diagnosis_links_become_pointers() -> None:
    (enc,) = run((HL7_FIXTURES / "dft_p03_v25_pr1_diagnosis_links.hl7").read_bytes()).encounters
    assert [d.code for d in enc.diagnoses] == ["I10", "E11.9"]
    assert [ln.diagnosis_pointers for ln in enc.service_lines] == [[2], [1]]  # not "every diagnosis"
    # a BAR without FT1: PR1 procedures become lines, their PR1-15 links the pointers
    raw = (HL7_FIXTURES / "bar_p01_v25_two_visits_pr1.hl7").read_bytes()
    linked = raw.replace(b"36415^Venipuncture^C4||20261001", b"36415^Venipuncture^C4||20261001||||||||||R73.9^^I10")
    visit = run(linked).encounters[0]
    assert [d.code for d in visit.diagnoses] == ["E11.9", "R73.9"]
    assert [ln.diagnosis_pointers for ln in visit.service_lines] == [[1], [2]]


def test_email_from_xtn_net_for_patient_and_guarantor(example_gateway: Gateway) -> None:
    (enc,) = run((HL7_FIXTURES / "dft_p03_v23_email_net.hl7").read_bytes()).encounters
    assert enc.patient.email == "kid.he@example.org" and enc.patient.phone == "5555550240"
    assert enc.guarantor.email == "parent.vav@example.org" and enc.guarantor.phone == "5555550241"
    (er,) = process(example_gateway, "dft_p03_v23_email_net.hl7").encounters
    (st,) = er.statements
    assert st.guarantor.email == "parent.vav@example.org"  # the guarantor's own, not the child's


def test_half_a_unit_rounds_half_up_like_the_charge_master() -> None:
    (enc,) = run((HL7_FIXTURES / "dft_p03_v25_half_cent_rounding.hl7").read_bytes()).encounters
    assert str(enc.service_lines[0].charge) == "27.51"  # 0.5 × 55.01 = 27.505; half-even said 27.50
