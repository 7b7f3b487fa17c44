"""Every fixture in fixtures/hl7v2 read into the expected encounter: codes,
amounts, pointers, subscriber, payer (as sent: the payer directory maps ids
later), plus the record updates of ADT and BAR messages."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from gateway.messages import MemoryRecords
from gateway.model import Encounter

from .test_hl7v2_support import HL7_FIXTURES, run


def read(name: str, records: MemoryRecords | None = None) -> tuple[list[Encounter], list]:
    result = run((HL7_FIXTURES / name).read_bytes(), records)
    assert not [f for f in result.findings if f.is_error], result.findings
    ack = result.acknowledgement.decode()
    assert ack.split("\r")[1][:6] in ("MSA|AA", "MSA#AA") or ack.count("MSA|AA|") == ack.count("MSA|")
    return result.encounters, result.findings


def lines(enc: Encounter) -> list[tuple]:
    return [
        (ln.procedure_code, ln.code_system, ln.local_code, ln.modifiers, ln.units, ln.charge, ln.diagnosis_pointers)
        for ln in enc.service_lines
    ]


def test_cpt_modifiers_pointers_priority() -> None:
    (enc,), _ = read("dft_p03_v25_cpt_modifiers.hl7")
    assert enc.id == "V10001" and enc.patient.id == "RV10001"
    assert enc.patient.birth_date == date(1980, 1, 15) and enc.patient.sex == "F"
    assert enc.patient.address.lines == ["100 Sample Street", "Apt 2"] and enc.patient.phone == "5555550111"
    # DG1-15 priority 1 (E11.9) comes first though sent second
    assert [d.code for d in enc.diagnoses] == ["E11.9", "I10"]
    assert lines(enc) == [
        ("99214", "CPT", "OV-EST-4", ["25"], 1, Decimal("185.00"), [1, 2]),
        ("83036", "CPT", "LAB-A1C", ["QW", "91"], 1, Decimal("28.00"), [1]),
    ]
    assert enc.service_lines[0].rendering_provider.npi == "1122334455"
    assert enc.service_lines[0].control_number == "TX-1001"
    assert enc.rendering_provider.npi == "1122334455" and enc.start_date == date(2026, 10, 12)
    (cov,) = enc.coverages
    assert (cov.payer.id, cov.payer.source_id, cov.payer.name) == ("EXHP", "EXHP", "Example Health Plan")
    assert cov.subscriber.member_id == "XEH100200300" and cov.subscriber.group_number == "GRP-2001"
    assert cov.relationship == "18" and cov.claim_filing_indicator == "12" and cov.plan_name == "Example Health PPO"
    assert enc.guarantor.account_number == "G10001" and enc.guarantor.relationship == "self"


def test_local_codes_unit_amounts_child_subscriber() -> None:
    (enc,), _ = read("dft_p03_v23_lf_local_codes.hl7")
    assert lines(enc) == [
        (None, None, "LAB-STREP", [], 1, Decimal("35.50"), [1, 2]),
        (None, None, "VAC-FLU", [], 1, Decimal("42.25"), [1, 2]),
        (None, None, "VAC-ADMIN", [], 1, Decimal("25.00"), [1, 2]),
    ]
    assert all(ln.local_system is None for ln in enc.service_lines)
    (cov,) = enc.coverages
    assert cov.relationship == "19" and cov.subscriber.name.family == "SAMPLEPARENT"
    assert cov.subscriber.birth_date == date(1985, 7, 4) and cov.payer.id == "EXBLUE"


def test_bom_crlf_blank_lines_and_pointers_from_ft1_only() -> None:
    (enc,), _ = read("dft_p03_v231_bom_crlf_blank_lines.hl7")
    # no DG1: diagnoses come from FT1-19, pointers follow
    assert [d.code for d in enc.diagnoses] == ["M54.50", "R51.9", "M25.561"]
    assert lines(enc) == [
        ("99213", "CPT", "OV-EST-3", [], 1, Decimal("125.00"), [1, 2]),
        ("20610", "CPT", "INJ-20610", ["RT"], 1, Decimal("150.00"), [3]),
    ]
    (cov,) = enc.coverages
    assert cov.relationship == "01" and cov.subscriber.sex == "F" and cov.claim_filing_indicator == "HM"


def test_escape_sequences_are_decoded() -> None:
    (enc,), _ = read("dft_p03_v24_escape_sequences.hl7")
    assert enc.patient.name.family == "O'TESTER" and enc.patient.name.given == "ZETA & ETA"
    assert enc.patient.address.lines == ["12 Pipe | Bar Street", "Unit ^3"]
    assert enc.service_lines[0].description == "Visit \\ review\nsecond line"
    cov = enc.coverages[0]
    assert cov.payer.name == "Example Health & Life Plan" and cov.subscriber.group_number == "G|100"


def test_custom_delimiters() -> None:
    (enc,), _ = read("dft_p03_v26_custom_delimiters.hl7")
    assert lines(enc) == [("99213", "CPT", "OV-EST-3", ["25", "59"], 1, Decimal("125.00"), [1])]
    assert enc.patient.name.given == "THETA" and enc.coverages[0].subscriber.member_id == "XEH500600700"


def test_credits_and_payments_are_kept_not_billed() -> None:
    (enc,), findings = read("dft_p03_v27_credit_payment.hl7")
    assert lines(enc) == [("99213", "CPT", "OV-EST-3", [], 1, Decimal("125.00"), [1])]
    assert [t["type"] for t in enc.extensions["hl7v2"]["transactions"]] == ["CD", "PY"]
    assert enc.extensions["hl7v2"]["transactions"][1]["amount"] == "-20.00"
    assert {f.location for f in findings if f.rule == "HL7-NOT-BILLED"} == {"FT1[2]-6", "FT1[3]-6"}
    assert enc.coverages == [] and enc.guarantor.relationship == "other relationship"


def test_z_segments_are_kept_for_mapping() -> None:
    (enc,), _ = read("dft_p03_v28_zsegments.hl7")
    zs = enc.extensions["hl7v2"]["z_segments"]
    assert [(z["id"], z["index"]) for z in zs] == [("ZPI", 1), ("ZFT", 1)]
    assert zs[1]["fields"][:2] == ["1", "26~XS"]
    assert enc.coverages[0].claim_filing_indicator == "MB" and enc.coverages[0].payer.id == "MEDICARE"
    assert [ln.procedure_code for ln in enc.service_lines] == ["93000", "36415"]


def test_lying_version_is_read_by_content() -> None:
    (enc,), findings = read("dft_p03_mislabeled_v23_is_v27.hl7")
    assert enc.extensions["hl7v2"]["version"] == "2.7"
    assert [f.location for f in findings if f.rule == "HL7-VERSION"] == ["MSH[1]-12"]
    j3420 = enc.service_lines[0]
    assert (j3420.procedure_code, j3420.code_system, j3420.ndc) == ("J3420", "HCPCS", "55555-0123-01")


def test_units_reconciled_and_two_coverages_in_order() -> None:
    (enc,), findings = read("dft_p03_v25_units_cob.hl7")
    assert lines(enc) == [
        ("90471", "CPT", "VAC-ADMIN", [], 3, Decimal("75.00"), [1]),
        ("80053", "CPT", "LAB-PANEL", [], 2, Decimal("100.00"), [2]),
    ]
    assert [f.location for f in findings if f.rule == "HL7-AMOUNT"] == ["FT1[2]-11"]
    primary, secondary = enc.coverages
    assert (primary.order, primary.payer.id, primary.relationship, primary.claim_filing_indicator) == (
        1,
        "MEDICARE",
        "18",  # IN2-72 "01" (table 0344: patient is insured)
        "MB",
    )
    assert (secondary.order, secondary.relationship, secondary.subscriber.name.given) == (2, "19", "OMICRON")


def test_vendor_style_repetitions_and_oid_npi() -> None:
    (enc,), _ = read("dft_p03_v251_vendor_repeats.hl7")
    assert enc.patient.id == "RV10010"  # the MR repetition, not the SSN sent first
    assert enc.id == "V10010" and enc.patient.address.postal_code == "627011234"
    assert enc.service_lines[0].rendering_provider.npi == "1678901236"
    # RVCDM is no standard code system: the clinic's own charge codes (charge master)
    assert enc.service_lines[0].local_system is None and enc.service_lines[0].local_code == "OV-NEW-2"
    assert enc.extensions["hl7v2"]["sending_facility"] == "RIVERSIDE"


def test_bar_two_visits_from_procedures() -> None:
    result = run((HL7_FIXTURES / "bar_p01_v25_two_visits_pr1.hl7").read_bytes())
    a, b = result.encounters
    assert (a.id, b.id) == ("V10011A", "V10011B")
    assert [(ln.procedure_code, ln.charge) for ln in a.service_lines] == [("99214", None), ("36415", None)]
    assert b.service_lines[0].modifiers == ["26"] and b.rendering_provider.npi == "1678901236"
    assert {u.key for u in result.updates} >= {"RV10011", "visit:V10011A", "visit:V10011B"}


def test_bar_with_ft1_teaches_and_bills() -> None:
    result = run((HL7_FIXTURES / "bar_p01_v26_with_ft1.hl7").read_bytes(), clinic_id="lakeside")
    (enc,) = result.encounters
    assert lines(enc) == [("99392", "CPT", None, [], 1, Decimal("160.00"), [1])]
    assert enc.coverages[0].claim_filing_indicator == "MC" and enc.guarantor.name.given == "SIGMA"
    assert {u.kind for u in result.updates} == {"patient", "coverages", "guarantor"}


def test_adt_then_dft_fills_patient_and_coverage() -> None:
    records = MemoryRecords()
    adt = run((HL7_FIXTURES / "adt_a04_v25_registration.hl7").read_bytes(), records)
    assert adt.encounters == []
    records.apply("riverside", adt.updates)
    (enc,), _ = read("dft_p03_v25_after_adt.hl7", records)
    assert enc.patient.birth_date == date(1983, 3, 13) and enc.patient.address.city == "Springfield"
    (cov,) = enc.coverages
    assert (cov.payer.id, cov.subscriber.member_id, cov.relationship) == ("EXBLUE", "BXT131313131", "18")
    assert enc.guarantor.account_number == "G10013"
    # without the ADT the same DFT is self-pay
    (alone,), _ = read("dft_p03_v25_after_adt.hl7")
    assert alone.coverages == [] and alone.patient.birth_date is None


def test_adt_a08_updates_coverages() -> None:
    result = run((HL7_FIXTURES / "adt_a08_v23_update.hl7").read_bytes())
    covs = {u.key: u.value for u in result.updates if u.kind == "coverages"}
    assert [c["payer"]["id"] for c in covs["RV10015"]] == ["EXHP", "MEDICAID"]
    assert [c["order"] for c in covs["visit:V10015"]] == [1, 2]


def test_batch_with_fhs_bhs() -> None:
    result = run((HL7_FIXTURES / "batch_fhs_bhs_v25_two_dft.hl7").read_bytes())
    assert [e.id for e in result.encounters] == ["V10016A", "V10016B"]
    assert [e.extensions["hl7v2"]["message_index"] for e in result.encounters] == [1, 2]
    ack = result.acknowledgement.decode()
    assert ack.startswith("FHS|") and ack.count("MSA|AA|") == 2 and "BTS|2" in ack and ack.endswith("FTS|1\r")


def test_selfpay_in1_is_not_a_coverage() -> None:
    (enc,), _ = read("dft_p03_v25_selfpay_guarantor.hl7")
    assert enc.coverages == [] and enc.guarantor.name.family == "SAMPLEPARENT"
    assert lines(enc) == [("99213", "CPT", None, [], 1, Decimal("125.00"), [1])]


def test_two_messages_in_one_file_share_what_the_first_taught() -> None:
    (enc,), findings = read("multi_v24_adt_then_dft.hl7")
    assert enc.coverages[0].subscriber.member_id == "XEH181818181" and enc.coverages[0].relationship == "19"
    assert all(f.location is None or f.location.startswith("MSG[") for f in findings)


def test_every_encounter_revalidates_from_json() -> None:
    """The hot path builds models without validation; every fixture's
    encounter must survive full validation from its JSON unchanged."""
    from .test_hl7v2_support import GOOD

    count = 0
    for path in GOOD:
        for enc in run(
            path.read_bytes(), clinic_id="lakeside" if b"|LAKESIDE|" in path.read_bytes() else "riverside"
        ).encounters:
            again = Encounter.model_validate_json(enc.model_dump_json())
            assert again == enc, path.name
            count += 1
    assert count >= 15
