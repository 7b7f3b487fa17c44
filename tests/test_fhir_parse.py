"""The FHIR reader on small inline messages: sniffing, validation with JSON
paths, XML ↔ JSON equivalence, reference forms, Claim pricing rules,
coverage edge cases and settings."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from gateway_plugins.inbound.fhir import FhirSettings, parse, sniff
from gateway_plugins.inbound.fhir.sniff import load_json
from gateway_plugins.inbound.fhir.xml import xml_to_json

from gateway.messages import MemoryRecords, ParseResult
from tests.test_fhir_fixtures import FHIR

CPT = "http://www.ama-assn.org/go/cpt"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"


def raw(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def read(doc: dict[str, Any], records: MemoryRecords | None = None, **settings: Any) -> ParseResult:
    return parse(raw(doc), "fhir-json", "riverside", records, FhirSettings(**settings))


def rules(findings: list[Any]) -> list[str]:
    return [f.rule for f in findings]


def coll(*resources: dict[str, Any], btype: str = "collection") -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": btype,
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "identifier": [{"type": {"coding": [{"code": "MR"}]}, "value": "MRN-1"}],
    "name": [{"family": "Doe-Example", "given": ["Pat"]}],
    "birthDate": "1990-01-01",
}
ENC = {
    "resourceType": "Encounter",
    "id": "e1",
    "status": "finished",
    "class": {"code": "AMB"},
    "subject": {"reference": "urn:uuid:p1"},
    "period": {"start": "2026-10-01"},
}


def cpt_charge(cid: str, code: str, price: float, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "ChargeItem",
        "id": cid,
        "status": "billable",
        "code": {"coding": [{"system": CPT, "code": code}]},
        "subject": {"reference": "urn:uuid:p1"},
        "context": {"reference": "urn:uuid:e1"},
        "priceOverride": {"value": price, "currency": "USD"},
        **extra,
    }


# -- sniffing ------------------------------------------------------------------------


def test_sniff_recognises_fhir_and_nothing_else() -> None:
    assert sniff(b'\xef\xbb\xbf  {"resourceType": "Patient", "id": "x"}').format == "fhir-json"
    assert sniff(b'<?xml version="1.0"?>\n<!-- hi --><f:Patient xmlns:f="http://hl7.org/fhir"/>').format == "fhir-xml"
    assert sniff(b'{"gateway_format": "encounters/1", "encounters": []}') is None
    assert sniff(b"MSH|^~\\&|RIVERSIDE|...") is None
    assert sniff(b'<Patient xmlns="urn:not-fhir"/>') is None
    assert sniff(b'{"id": "' + b"x" * 5000 + b'", "resourceType": "Patient"}') is None  # not near the start
    broken = sniff(b'{"resourceType": "Bundle", "type": ')  # recognised; parse reports the JSON error
    assert broken.format == "fhir-json" and broken.sender is None


def test_envelope_sender_and_control_id() -> None:
    header = {
        "resourceType": "MessageHeader",
        "id": "h",
        "eventCoding": {"code": "charges"},
        "source": {"endpoint": "http://x.example"},
        "sender": {"reference": "Organization/o1"},
    }
    org = {"resourceType": "Organization", "id": "o1", "identifier": [{"value": "RIVERSIDE"}]}
    env = sniff(raw({**coll(header, org, btype="message"), "identifier": {"value": "B-1"}}))
    assert (env.sender, env.control_id, env.message_type) == ("RIVERSIDE", "B-1", "message:charges")
    env = sniff(raw({**coll(PATIENT), "id": "bundle-9", "meta": {"source": "LAKESIDE"}}))
    assert (env.sender, env.control_id, env.extra["bundle_type"]) == ("LAKESIDE", "bundle-9", "collection")
    assert sniff(raw({**coll(PATIENT), "id": "not a valid id!"})).control_id is None
    claim = {"resourceType": "Claim", "id": "c1", "provider": {"identifier": {"value": "RIVERSIDE"}}}
    assert sniff(raw(claim)).sender == "RIVERSIDE"


# -- validation ----------------------------------------------------------------------------


def test_validation_errors_carry_the_json_path_and_no_values() -> None:
    bad = {**PATIENT, "birthDate": "SECRET-not-a-date"}
    result = read(coll(ENC, bad))
    (finding,) = result.findings
    assert (finding.rule, finding.location) == ("FHIR-INVALID", "Bundle.entry[1].resource.birthDate")
    assert "SECRET" not in finding.message and result.encounters == []


def test_unknown_resource_types_are_named_with_their_path() -> None:
    result = read(coll(PATIENT, {"resourceType": "Pateint", "id": "x"}))
    assert [(f.rule, f.location) for f in result.findings] == [
        ("FHIR-RESOURCE-TYPE", "Bundle.entry[1].resource.resourceType")
    ]
    contained = {**PATIENT, "contained": [{"resourceType": "Nope", "id": "n"}]}
    assert [f.location for f in read(contained).findings] == ["Patient.contained[0].resourceType"]


def test_unbillable_bundle_types_and_non_resources() -> None:
    assert rules(read(coll(PATIENT, btype="history")).findings) == ["FHIR-BUNDLE-TYPE"]
    assert rules(parse(b"[1, 2]", "fhir-json", "c", None, FhirSettings()).findings) == ["FHIR-RESOURCE-TYPE"]
    bad = parse(b'{"resourceType": "Patient",\n "id": }', "fhir-json", "c", None, FhirSettings())
    assert [(f.rule, f.location) for f in bad.findings] == [("FHIR-JSON", "line 2 column 8")]


# -- XML ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in FHIR.glob("*.json")))
def test_xml_from_fhir_resources_reads_like_the_json(name: str) -> None:
    """Differential: fhir.resources' own XML serialiser, read back by our converter."""
    source = (FHIR / name).read_bytes()
    doc = load_json(source)
    model = Bundle if doc["resourceType"] == "Bundle" else None
    if model is None:
        from fhir.resources.R4B import get_fhir_model_class

        model = get_fhir_model_class(doc["resourceType"])
    xml = model.model_validate_json(source).model_dump_xml()
    xml = xml if isinstance(xml, bytes) else xml.encode()
    assert xml_to_json(xml) == doc
    from_json = parse(source, "fhir-json", "riverside", MemoryRecords(), FhirSettings())
    from_xml = parse(xml, "fhir-xml", "riverside", MemoryRecords(), FhirSettings())
    assert from_xml.encounters == from_json.encounters
    assert rules(from_xml.findings) == rules(from_json.findings)


def test_xml_problems_are_located() -> None:
    xml = b'<Patient xmlns="http://hl7.org/fhir"><name><famly value="X"/></name></Patient>'
    (finding,) = parse(xml, "fhir-xml", "c", None, FhirSettings()).findings
    assert (finding.rule, finding.location) == ("FHIR-XML-ELEMENT", "Patient.name[0].famly")
    xml = b'<Patient xmlns="http://hl7.org/fhir"><active value="maybe"/></Patient>'
    (finding,) = parse(xml, "fhir-xml", "c", None, FhirSettings()).findings
    assert (finding.rule, finding.location) == ("FHIR-INVALID", "Patient.active")


# -- references -----------------------------------------------------------------------------------


def test_contained_absolute_and_identifier_references() -> None:
    practitioner = {
        "resourceType": "Practitioner",
        "id": "pr1",
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
        "name": [{"family": "Byid"}],
    }
    loc = {"resourceType": "Location", "id": "l1", "name": "Site"}
    enc = {
        **ENC,
        "contained": [loc],
        "location": [{"location": {"reference": "#l1"}}],
        "participant": [
            {"individual": {"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}}}
        ],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "https://ehr.example/fhir/Patient/p1", "resource": PATIENT},
            {"fullUrl": "urn:uuid:e1", "resource": {**enc, "subject": {"reference": "Patient/p1"}}},
            {"fullUrl": "urn:uuid:pr1", "resource": practitioner},
        ],
    }
    (e,) = read(bundle).encounters
    assert e.patient.id == "MRN-1"  # relative reference to an absolute fullUrl
    assert e.rendering_provider.name.family == "Byid"  # identifier-only reference
    assert e.service_facility.organization_name == "Site"  # contained


def test_unresolvable_references_are_findings() -> None:
    enc = {
        **ENC,
        "participant": [{"individual": {"reference": "Practitioner/nobody"}}],
        "location": [{"location": {"display": "Somewhere"}}],
    }
    result = read(coll(PATIENT, enc))
    (found,) = result.encounter_findings.values()
    assert sorted((f.rule, f.severity.value, f.location) for f in found) == [
        ("FHIR-REF", "warning", "Bundle.entry[1].resource.location[0].location"),
        ("FHIR-REF", "warning", "Bundle.entry[1].resource.participant[0].individual"),
    ]
    assert all(f.rule == "FHIR-REF" and not f.is_error for f in found)


def test_companion_records_resolve_later_messages() -> None:
    records = MemoryRecords()
    companion = read(coll(PATIENT, btype="batch"), records)
    assert rules(companion.findings) == ["FHIR-NO-ENCOUNTER"]
    keys = {u.key for u in companion.updates if u.kind == "fhir-resource"}
    assert {"Patient/p1", "Patient?identifier=MRN-1"} <= keys
    records.apply("riverside", companion.updates)
    later = read(coll({**ENC, "subject": {"reference": "Patient?identifier=MRN-1"}}), records)
    (e,) = later.encounters
    assert e.patient.name.family == "Doe-Example" and later.encounter_findings == {}


# -- lines and diagnoses -------------------------------------------------------------------------------


def test_other_code_systems_go_to_local_code_and_only_icd_is_a_diagnosis() -> None:
    cond_icd = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "urn:uuid:p1"},
                "encounter": {"reference": "urn:uuid:e1"}, "code": {"coding": [{"system": ICD, "code": "J06.9"}]}}  # fmt: skip
    cond_sct = {**cond_icd, "id": "c2", "code": {"coding": [{"system": SCT, "code": "444814009"}]}}
    proc = {"resourceType": "Procedure", "id": "pr", "status": "completed", "subject": {"reference": "urn:uuid:p1"},
            "encounter": {"reference": "urn:uuid:e1"}, "code": {"coding": [{"system": SCT, "code": "86198006"}]}}  # fmt: skip
    result = read(coll(PATIENT, ENC, cond_icd, cond_sct, proc))
    (e,) = result.encounters
    assert [d.code for d in e.diagnoses] == ["J06.9"]
    assert e.extensions["fhir"]["uncoded_diagnoses"] == [{"system": SCT, "code": "444814009"}]
    (line,) = e.service_lines
    assert (line.procedure_code, line.local_code, line.local_system, line.charge) == (None, "86198006", SCT, None)
    assert line.diagnosis_pointers == [1] and str(line.service_date) == "2026-10-01"
    assert rules(result.encounter_findings[0]) == ["FHIR-DX-SYSTEM"]
    assert read(coll(PATIENT, ENC, proc), procedures_as_lines=False).encounters[0].service_lines == []


def test_charge_items_beat_procedures_and_skip_non_billable() -> None:
    proc = {"resourceType": "Procedure", "id": "pr", "status": "completed", "subject": {"reference": "urn:uuid:p1"},
            "encounter": {"reference": "urn:uuid:e1"}, "code": {"coding": [{"system": CPT, "code": "99999"}]}}  # fmt: skip
    charges = [cpt_charge("ch1", "99213", 100.0, quantity={"value": 2}), {**cpt_charge("ch2", "81002", 9.0), "status": "not-billable"}]  # fmt: skip
    (e,) = read(coll(PATIENT, ENC, proc, *charges)).encounters
    assert [(ln.procedure_code, ln.units, ln.charge, ln.control_number) for ln in e.service_lines] == [
        ("99213", Decimal(2), Decimal("100.0"), "ch1")
    ]


def claim_with(items: list[dict[str, Any]], total: float | None, **extra: Any) -> dict[str, Any]:
    doc = {
        "resourceType": "Claim", "id": "cl1", "status": "active", "use": "claim",
        "type": {"coding": [{"code": "professional"}]}, "patient": {"reference": "urn:uuid:p1"},
        "created": "2026-10-02", "provider": {"display": "x"}, "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Some plan"}}],
        "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {"coding": [{"system": SCT, "code": "444814009"}]}}],
        "item": items, **extra,
    }  # fmt: skip
    if total is not None:
        doc["total"] = {"value": total, "currency": "USD"}
    return doc


def test_claim_remainder_pricing_and_diagnosis_echo_items() -> None:
    items = [
        {"sequence": 1, "productOrService": {"coding": [{"system": SCT, "code": "185345009"}]}},
        {"sequence": 2, "diagnosisSequence": [1], "productOrService": {"coding": [{"system": SCT, "code": "444814009"}]}},
        {"sequence": 3, "productOrService": {"coding": [{"system": CPT, "code": "90686"}]}, "net": {"value": 30.5}},
    ]  # fmt: skip
    result = read(coll(PATIENT, claim_with(items, 160.5)))
    (e,) = result.encounters
    assert [(ln.local_code or ln.procedure_code, ln.charge) for ln in e.service_lines] == [
        ("185345009", Decimal("130.0")),
        ("90686", Decimal("30.5")),
    ]
    found = rules(result.encounter_findings[0])
    assert {"FHIR-CLAIM-REMAINDER", "FHIR-CLAIM-DX-ITEM", "FHIR-DX-SYSTEM"} <= set(found)
    # the coverage is named by display only: a payer by name (the payer directory gives its id), no member id
    assert "FHIR-COVERAGE-DISPLAY" in found and not [f for f in result.encounter_findings[0] if f.is_error]
    (cov,) = e.coverages
    assert (cov.payer.id, cov.payer.name, cov.subscriber.member_id, cov.relationship) == ("", "Some plan", "", "18")
    off = read(coll(PATIENT, claim_with(items, 160.5)), claim_total_remainder=False).encounters[0]
    assert off.service_lines[0].charge is None


def test_claim_total_mismatch_and_pharmacy_claims() -> None:
    items = [{"sequence": 1, "productOrService": {"coding": [{"system": CPT, "code": "99213"}]}, "net": {"value": 90}}]
    result = read(coll(PATIENT, claim_with(items, 100)))
    assert "FHIR-CLAIM-TOTAL" in rules(result.encounter_findings[0])
    pharmacy = claim_with(items, 90, type={"coding": [{"code": "pharmacy"}]})
    result = read(coll(PATIENT, pharmacy))
    # not billed here, and said so with a warning naming the Claim (never info-and-drop)
    assert result.encounters == [] and rules(result.findings) == ["FHIR-CLAIM-TYPE", "FHIR-NO-ENCOUNTER"]
    assert (result.findings[0].severity.value, result.findings[0].location) == ("warning", "Bundle.entry[1].resource")
    held = read(coll(PATIENT, pharmacy), other_claim_types="quarantine")
    assert (held.findings[0].rule, held.findings[0].is_error) == ("FHIR-CLAIM-TYPE", True)


# -- coverage -------------------------------------------------------------------------------------------


def coverage(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Coverage", "id": "cv", "status": "active", "subscriberId": "M-1",
        "beneficiary": {"reference": "urn:uuid:p1"},
        "payor": [{"identifier": {"value": "example-health-plan"}, "display": "Example Health Plan"}], **extra,
    }  # fmt: skip


def test_coverage_edge_cases() -> None:
    (e,) = read(coll(PATIENT, ENC, coverage())).encounters
    (cov,) = e.coverages
    assert (cov.payer.id, cov.payer.name, cov.relationship, cov.claim_filing_indicator) == (
        "example-health-plan", "Example Health Plan", "18", "CI",
    )  # fmt: skip
    result = read(coll(PATIENT, ENC, coverage(subscriberId=None)), claim_filing_indicator="MB")
    assert result.encounters[0].coverages == []
    assert [f.rule for f in result.encounter_findings[0] if f.is_error] == ["FHIR-MEMBER-ID"]
    result = read(coll(PATIENT, ENC, coverage(payor=[{"display": "Acme"}])))
    assert [(f.rule, f.location) for f in result.encounter_findings[0] if f.is_error] == [
        ("FHIR-REF", "Bundle.entry[2].resource.payor[0]")
    ]
    other = {**PATIENT, "id": "p2", "identifier": [{"value": "MRN-2"}], "name": [{"family": "Holder"}]}
    result = read(coll(PATIENT, ENC, other, coverage(subscriber={"reference": "urn:uuid:p2"})))
    assert result.encounters[0].coverages[0].relationship == "21"
    assert "FHIR-RELATIONSHIP" in rules(result.encounter_findings[0])


def test_require_coverage_setting() -> None:
    assert read(coll(PATIENT, ENC)).encounter_findings == {}
    result = read(coll(PATIENT, ENC), require_coverage=True)
    assert [f.rule for f in result.encounter_findings[0] if f.is_error] == ["FHIR-COVERAGE-REQUIRED"]


def test_cancelled_encounters_are_skipped() -> None:
    result = read(coll(PATIENT, {**ENC, "status": "cancelled"}))
    assert result.encounters == [] and "FHIR-ENCOUNTER-SKIPPED" in rules(result.findings)


def test_encounters_sharing_a_patient_get_their_own_objects() -> None:
    """Plugins edit encounters in place: a shared patient or coverage is
    read once per message but each encounter owns its copy."""
    result = parse(
        (FHIR / "lakeside-message-two-encounters.json").read_bytes(), "fhir-json", "lakeside", None, FhirSettings()
    )
    first, second = result.encounters
    assert first.patient == second.patient and first.patient is not second.patient
    assert first.coverages == second.coverages and first.coverages[0] is not second.coverages[0]
    first.coverages[0].payer.id = "CHANGED"
    assert second.coverages[0].payer.id == "example-blue"


def test_practitioner_role_and_organisation_identifiers() -> None:
    npi_sys, ein_sys = "http://hl7.org/fhir/sid/us-npi", "urn:oid:2.16.840.1.113883.4.4"
    practitioner = {"resourceType": "Practitioner", "id": "doc", "name": [{"family": "Rolewell", "given": ["Ari"]}],
                    "identifier": [{"system": npi_sys, "value": "1122334455"}]}  # fmt: skip
    role = {"resourceType": "PractitionerRole", "id": "role", "practitioner": {"reference": "urn:uuid:doc"},
            "specialty": [{"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": "208D00000X"}]}]}  # fmt: skip
    org = {"resourceType": "Organization", "id": "org", "name": "Example Clinic Group",
           "identifier": [{"system": npi_sys, "value": "1678901236"}, {"system": ein_sys, "value": "12-3456789"}]}  # fmt: skip
    loc = {"resourceType": "Location", "id": "loc", "name": "Annex", "managingOrganization": {"reference": "urn:uuid:org"},
           "address": {"line": ["1 Annex Way"], "city": "Springfield", "state": "IL", "postalCode": "62701"}}  # fmt: skip
    enc = {**ENC, "participant": [{"individual": {"reference": "urn:uuid:role"}}],
           "location": [{"location": {"reference": "urn:uuid:loc"}}]}  # fmt: skip
    (e,) = read(coll(PATIENT, enc, practitioner, role, org, loc)).encounters
    assert (e.rendering_provider.npi, e.rendering_provider.name.family, e.rendering_provider.taxonomy) == (
        "1122334455", "Rolewell", "208D00000X",
    )  # fmt: skip
    facility = e.service_facility
    assert (facility.organization_name, facility.npi, facility.tax_id) == ("Annex", "1678901236", "123456789")
    assert facility.address.lines == ["1 Annex Way"]
