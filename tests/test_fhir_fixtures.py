"""Every synthetic FHIR fixture through the example deployment: the
encounters and claims (or statements) that come out, field by field.

Fixtures use CPT/HCPCS codes so no code map is needed; they are routed by
sender (RIVERSIDE / LAKESIDE) like production traffic.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.messages import MemoryRecords, MessageMeta
from gateway.pipeline import EncounterResult, MessageResult
from tests.conftest import FIXTURES, TODAY

FHIR = FIXTURES / "fhir"


def run(gw: Gateway, *names: str, records: MemoryRecords | None = None, clinic_id: str | None = None) -> MessageResult:
    """Process fixtures in order (records carried between them); the last result."""
    records = records if records is not None else MemoryRecords()
    result = None
    for name in names:
        path = name if isinstance(name, Path) else FHIR / name
        meta = MessageMeta(source="test", today=TODAY, name=str(path), clinic_id=clinic_id)
        result = gw.pipeline.process(Path(path).read_bytes(), meta, records)
        if result.clinic_id:
            records.apply(result.clinic_id, result.updates)
    assert result is not None
    return result


def errors(item: MessageResult | EncounterResult) -> list[str]:
    """Error findings as readable strings (for assertion messages)."""
    return [f"{f.rule}: {f.message} @ {f.location}" for f in item.findings if f.is_error]


def only_encounter(result: MessageResult) -> EncounterResult:
    assert not result.quarantined, errors(result)
    assert len(result.encounters) == 1
    return result.encounters[0]


def test_transaction_with_urn_uuid_references(example_gateway: Gateway) -> None:
    result = run(example_gateway, "riverside-transaction-urn-uuid.json")
    assert result.envelope.format == "fhir-json"
    assert (result.envelope.sender, result.envelope.control_id) == ("RIVERSIDE", "RV-B-0001")
    assert result.clinic_id == "riverside"
    enc = only_encounter(result)
    assert errors(enc) == []
    e = enc.encounter
    assert e.id == "RV-V-2001"
    assert (e.patient.id, e.patient.name.family, e.patient.name.middle) == ("RV-10001", "Testperson", "Q")
    assert str(e.patient.birth_date) == "1980-04-12" and e.patient.sex == "F"
    # Encounter.diagnosis ranks decide the order, whatever the order sent
    assert [d.code for d in e.diagnoses] == ["J020", "R509"]
    assert e.rendering_provider.npi == "1112223338" and e.rendering_provider.taxonomy == "207Q00000X"
    assert e.service_facility.organization_name == "Riverside Family Practice - Main Office"
    assert e.service_facility.address.postal_code == "627010001"
    assert e.place_of_service == "11"
    (claim,) = enc.claims
    assert claim.id == "RV-V-2001"
    assert claim.coverage.payer.id == "EXPAYER1"  # example-health-plan mapped by the payer directory
    assert claim.coverage.payer.source_id == "example-health-plan"
    assert claim.coverage.relationship == "18"
    assert claim.coverage.subscriber.member_id == "EHP-443210"
    assert claim.coverage.subscriber.group_number == "GRP-7781"
    lines = [(ln.procedure_code, ln.code_system, ln.charge, ln.diagnosis_pointers) for ln in claim.service_lines]
    assert lines == [
        ("99213", "CPT", Decimal("125.00"), [1, 2]),
        ("87880", "CPT", Decimal("28.50"), [1]),  # the Procedure's reason (strep) only
        ("36415", "CPT", Decimal("12.00"), [1, 2]),  # CPT by OID
    ]
    assert claim.service_lines[0].rendering_provider.npi == "1112223338"
    assert claim.total_charge == Decimal("165.50")
    assert enc.statements == []


def test_relative_references_and_a_spouse_as_subscriber(example_gateway: Gateway) -> None:
    result = run(example_gateway, "riverside-collection-relative-refs-spouse-subscriber.json")
    enc = only_encounter(result)
    assert errors(enc) == []
    e = enc.encounter
    assert e.rendering_provider.npi == "1555666779"  # absolute URL reference
    assert e.referring_provider.npi == "1666777887"  # relative reference, participant type REF
    primary, secondary = e.coverages
    assert (primary.order, primary.relationship, primary.claim_filing_indicator) == (1, "01", "CI")
    assert primary.subscriber.name.given == "Morgan" and primary.subscriber.member_id == "EHP-900017"
    assert str(primary.subscriber.birth_date) == "1977-02-14" and primary.subscriber.sex == "F"
    assert (secondary.order, secondary.relationship, secondary.claim_filing_indicator) == (2, "18", "MB")
    assert secondary.subscriber.name.given == "Jordan"
    assert e.guarantor.name.given == "Morgan" and e.guarantor.relationship == "spouse"
    assert e.guarantor.account_number == "RV-ACCT-2002"
    (claim,) = enc.claims
    assert claim.coverage.payer.id == "EXPAYER1" and claim.other_coverages[0].payer.id == "EXMEDB01"
    assert [(ln.procedure_code, ln.code_system) for ln in claim.service_lines] == [("99203", "CPT"), ("L4361", "HCPCS")]
    assert claim.total_charge == Decimal("275.00")


def test_message_bundle_with_two_encounters_gives_two_claims(example_gateway: Gateway) -> None:
    result = run(example_gateway, "lakeside-message-two-encounters.json")
    assert result.envelope.sender == "LAKESIDE"  # MessageHeader.sender → Organization identifier
    assert result.envelope.message_type == "message:charges"
    assert result.clinic_id == "lakeside"
    assert not result.quarantined
    first, second = result.encounters
    assert [first.encounter.id, second.encounter.id] == ["LK-V-3001", "LK-V-3002"]
    for enc in (first, second):
        assert errors(enc) == []
        (claim,) = enc.claims
        cov = claim.coverage
        assert cov.relationship == "19" and cov.subscriber.name.given == "Robin"  # parent insures the child
        assert cov.claim_filing_indicator == "BL"
        assert claim.patient.name.given == "Sam"
    assert [c.id for e in (first, second) for c in e.claims] == ["LK-V-3001", "LK-V-3002"]
    assert first.claims[0].total_charge == Decimal("217.00")
    assert [d.code for d in first.encounter.diagnoses] == ["Z00129"]
    assert [ln.procedure_code for ln in second.claims[0].service_lines] == ["99213", "87880"]
    assert second.claims[0].total_charge == Decimal("138.50")


def test_xml_searchset(example_gateway: Gateway) -> None:
    result = run(example_gateway, "lakeside-searchset.xml")
    assert result.envelope.format == "fhir-xml"
    assert (result.envelope.sender, result.envelope.control_id) == ("LAKESIDE", "LK-B-0005")
    enc = only_encounter(result)
    assert errors(enc) == []
    e = enc.encounter
    assert (e.patient.name.given, e.patient.name.middle) == ("Jamie", "Lee")
    assert str(e.patient.birth_date) == "2015-03-03"  # a primitive with an extension
    assert e.patient.address.postal_code == "625650002"
    assert e.rendering_provider.npi == "1777888995"  # identifier-only reference, no resource: the NPI is used
    (claim,) = enc.claims
    assert claim.coverage.payer.id == "EXPAYER1"
    assert [(ln.procedure_code, ln.charge, ln.diagnosis_pointers) for ln in claim.service_lines] == [
        ("99213", Decimal("110.00"), [1])
    ]
    assert [d.code for d in claim.diagnoses] == ["J069"]


def test_claim_resource_items_and_diagnosis_sequences(example_gateway: Gateway) -> None:
    result = run(example_gateway, "riverside-claim-contained-coverage.json")
    assert result.envelope.sender == "RIVERSIDE"  # Claim.provider identifier
    enc = only_encounter(result)
    assert errors(enc) == []
    e = enc.encounter
    assert e.id == "RV-C-4004" and e.patient.id == "RV-40004" and e.patient.sex == "U"
    # Claim.diagnosis sorted by sequence; items point by diagnosisSequence
    assert [d.code for d in e.diagnoses] == ["E119", "I10"]
    (claim,) = enc.claims
    assert claim.coverage.payer.id == "EXMEDB01"  # contained Coverage, payor by identifier only
    assert claim.coverage.claim_filing_indicator == "MB"
    got = [
        (ln.procedure_code, ln.code_system, ln.modifiers, ln.units, ln.charge, ln.diagnosis_pointers)
        for ln in claim.service_lines
    ]
    assert got == [
        ("99214", "CPT", ["25"], Decimal(1), Decimal("165.00"), [1, 2]),
        ("82962", "CPT", [], Decimal(2), Decimal("18.50"), [1]),  # unitPrice × quantity
        ("G0008", "HCPCS", [], Decimal(1), Decimal("24.00"), [2]),
    ]
    assert claim.rendering_provider.npi == "1444555662"  # careTeam role primary
    assert claim.place_of_service == "11"
    assert claim.total_charge == Decimal("207.50")


def test_self_pay_coverage_and_account_guarantor_give_a_statement(example_gateway: Gateway) -> None:
    result = run(example_gateway, "riverside-batch-selfpay-guarantor.json")
    enc = only_encounter(result)
    assert errors(enc) == []
    e = enc.encounter
    assert e.coverages == []  # the Coverage's payor is a person: self-pay
    assert e.rendering_provider.npi == "1555666779"  # identifier-only reference resolved in the bundle
    assert e.rendering_provider.name.family == "Fictional"
    assert enc.claims == []
    (statement,) = enc.statements
    assert statement.guarantor.name.given == "Dana" and statement.guarantor.relationship == "mother"
    assert statement.account_number == "RV-ACCT-5005"
    assert sum(ln.charge for ln in statement.lines) == Decimal("145.00")


def test_an_unresolved_patient_quarantines_only_its_encounter(example_gateway: Gateway) -> None:
    result = run(example_gateway, "riverside-transaction-unresolved-patient.json")
    assert not result.quarantined
    good, bad = result.encounters
    assert errors(good) == [] and len(good.claims) == 1
    assert bad.quarantined and bad.claims == [] and bad.statements == []
    (problem,) = [f for f in bad.findings if f.is_error]
    assert problem.rule == "FHIR-REF" and problem.location == "Bundle.entry[6].resource.subject"
    assert "Patient" in problem.message and "rv-p-missing" not in problem.message


def test_companion_registration_resolves_a_later_visit(example_gateway: Gateway) -> None:
    records = MemoryRecords()
    first = run(example_gateway, "riverside-companion-1-registration.json", records=records)
    assert first.encounters == [] and not first.quarantined
    assert [f.rule for f in first.findings] == ["FHIR-NO-ENCOUNTER"]
    assert any(u.key == "Patient/rv-p-7" for u in first.updates)
    later = run(example_gateway, "riverside-companion-2-visit.json", records=records)
    enc = only_encounter(later)
    assert errors(enc) == []
    e = enc.encounter
    assert e.patient.id == "RV-70007"  # relative reference to a patient sent earlier
    assert e.rendering_provider.name.family == "Sampleton"  # conditional reference resolved from records
    (claim,) = enc.claims
    assert claim.coverage.payer.id == "EXMEDB01"  # the coverage the registration listed for this patient
    assert claim.coverage.subscriber.member_id == "1EG4TE5MK77"


def test_the_visit_alone_cannot_resolve_its_patient(example_gateway: Gateway) -> None:
    result = run(example_gateway, "riverside-companion-2-visit.json")
    (enc,) = result.encounters
    assert enc.quarantined
    assert [f.rule for f in enc.findings if f.is_error] == ["FHIR-REF"]


@pytest.mark.parametrize("name", sorted(p.name for p in FHIR.iterdir() if p.is_file()))
def test_every_fixture_is_fhir_and_routed(example_gateway: Gateway, name: str) -> None:
    result = run(example_gateway, name)
    assert result.envelope is not None and result.envelope.format.startswith("fhir-")
    assert result.clinic_id == ("lakeside" if name.startswith("lakeside") else "riverside")
    assert not result.quarantined, errors(result)
