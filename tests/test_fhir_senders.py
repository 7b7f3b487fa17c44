"""What real FHIR senders send (issue 19), one fixture each where the case is
a file: charges that reach no visit, visits and patients without ids, the R4
specification's own place-of-service URL, WHO ICD-10, pharmacy/dental and
institutional Claims, insurers named only by display text (Synthea), e-mail
in telecom; and numbers and nesting no reader can take (issue 17 item 9)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from gateway_plugins.inbound.fhir import FhirSettings, parse

from gateway.app import Gateway
from gateway.claims import merge_statements
from gateway.messages import MemoryRecords, MessageMeta
from gateway.pipeline import MessageResult
from tests.conftest import FIXTURES, TODAY
from tests.invariant import check_nothing_vanishes

FHIR = FIXTURES / "fhir"
CPT = "http://www.ama-assn.org/go/cpt"


def process(gw: Gateway, raw: bytes | str, clinic: str = "riverside") -> MessageResult:
    raw = raw if isinstance(raw, bytes) else (FHIR / raw).read_bytes()
    result = gw.pipeline.process(raw, MessageMeta(source="test", today=TODAY, clinic_id=clinic), MemoryRecords())
    check_nothing_vanishes(raw, result)
    return result


def errors(findings: list) -> list[tuple[str, str | None]]:
    return [(f.rule, f.location) for f in findings if f.is_error]


def doc(name: str) -> dict[str, Any]:
    return json.loads((FHIR / name).read_text())


# -- nothing billable vanishes ---------------------------------------------------------------------------


def test_a_charge_whose_visit_is_not_in_the_bundle_holds_the_bundle(example_gateway: Gateway) -> None:
    result = process(example_gateway, "invalid/riverside-charge-missing-visit.json")
    assert result.quarantined and errors(result.findings) == [("FHIR-CHARGE-VISIT", "Bundle.entry[7].resource.context")]
    assert "not in this message" in result.findings[0].message


def test_a_charge_without_any_visit_is_quarantined_not_forgotten(example_gateway: Gateway) -> None:
    result = process(example_gateway, "invalid/riverside-charge-no-visit.json")
    assert result.quarantined and errors(result.findings) == [("FHIR-CHARGE-VISIT", "Bundle.entry[2].resource.context")]


def test_charges_beside_a_claim_or_of_a_cancelled_visit_are_named(example_gateway: Gateway) -> None:
    bundle = doc("riverside-transaction-urn-uuid.json")
    encounter = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
    encounter["status"] = "cancelled"
    result = process(example_gateway, json.dumps(bundle).encode())
    skipped = [f for f in result.findings if f.rule == "FHIR-ENCOUNTER-SKIPPED" and f.severity.value == "warning"]
    assert [f.location for f in skipped] == [f"Bundle.entry[{i}].resource" for i in (9, 10, 11)]


# -- claim ids ---------------------------------------------------------------------------------------------


def test_visits_and_patients_without_ids_get_derived_ids_and_warnings(example_gateway: Gateway) -> None:
    result = process(example_gateway, "riverside-transaction-idless-visits-selfpay.json")
    ids = [er.encounter.id for er in result.encounters]
    assert ids == [f"7a000000-0000-4000-8000-00000000001{k}" for k in range(3)]  # the fullUrl UUIDs
    for er in result.encounters:
        assert {f.rule for f in er.findings} >= {"FHIR-VISIT-ID", "FHIR-PATIENT-ID"} and not er.quarantined
        assert er.encounter.patient.id_derived and er.encounter.patient.id.startswith("7a000000-")
    statements = [st for er in result.encounters for st in er.statements]
    # two different patients without ids are never merged onto one statement (a PHI leak)
    assert len(merge_statements(statements)) == 3
    assert len({st.account_number for st in statements}) == 3


def _insured_idless(n: int, tag: str) -> bytes:
    """A bundle of ``n`` id-less encounters, each with a charge, for one insured patient."""
    base = doc("riverside-transaction-urn-uuid.json")
    wanted = ("Patient", "Organization", "Practitioner", "Location", "Coverage")
    keep = [e for e in base["entry"] if e["resource"]["resourceType"] in wanted]
    enc = next(e for e in base["entry"] if e["resource"]["resourceType"] == "Encounter")
    charge = next(e for e in base["entry"] if e["resource"]["resourceType"] == "ChargeItem")
    entries = list(keep)
    for i in range(n):
        e, c = copy.deepcopy(enc), copy.deepcopy(charge)
        for item in (e, c):
            item["resource"].pop("id", None)
            item["resource"].pop("identifier", None)
        url = f"urn:uuid:{tag}-0000-4000-8000-{i:012d}"
        e["fullUrl"] = url
        c["fullUrl"] = f"urn:uuid:{tag}-1111-4000-8000-{i:012d}"
        c["resource"]["context"] = {"reference": url}
        c["resource"]["reason"] = [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "J06.9"}]}]
        c["resource"].pop("service", None)
        e["resource"].pop("diagnosis", None)
        entries += [e, c]
    base["entry"] = entries
    base.pop("identifier")
    return json.dumps(base).encode()


def test_many_idless_encounters_never_share_a_claim_id(example_gateway: Gateway) -> None:
    claim_ids = []
    for tag in ("aaaaaaaa", "bbbbbbbb"):  # two bundles
        result = process(example_gateway, _insured_idless(30, tag))
        assert not result.quarantined
        claim_ids += [c.id for er in result.encounters for c in er.claims]
    assert len(claim_ids) == 60 and len(set(claim_ids)) == 60
    assert "unknown" not in {c.lower() for c in claim_ids}


def test_without_full_urls_the_bundle_identity_and_entry_index_name_the_visit() -> None:
    bundle = json.loads(_insured_idless(3, "cccccccc"))
    for e in bundle["entry"]:
        e.pop("fullUrl", None)
    bundle["identifier"] = {"value": "RV-B-NO-URLS"}
    result = parse(json.dumps(bundle).encode(), "fhir-json", "riverside", MemoryRecords(), FhirSettings())
    at = [i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Encounter"]
    assert len(at) == 3
    assert [e.id for e in result.encounters] == [f"RV-B-NO-URLS-e{i}" for i in at]
    # no identity either: a hash of the bytes (the same message, the same ids; another message, others)
    bundle.pop("identifier")
    once = parse(json.dumps(bundle).encode(), "fhir-json", "riverside", None, FhirSettings())
    twice = parse(json.dumps(bundle).encode(), "fhir-json", "riverside", None, FhirSettings())
    assert [e.id for e in once.encounters] == [e.id for e in twice.encounters]
    assert all(e.id.startswith("sha256-") for e in once.encounters)


# -- codes ------------------------------------------------------------------------------------------------


def test_the_specifications_pos_url_and_who_icd10(example_gateway: Gateway) -> None:
    result = process(example_gateway, "lakeside-claim-pos-html-who-icd10.json", "lakeside")
    (er,) = result.encounters
    (claim,) = er.claims
    assert claim.service_lines[0].place_of_service == "24"  # not silently 11
    assert [(d.code, d.system) for d in claim.diagnoses] == [("J029", "ICD-10-CM")]
    assert [f.rule for f in er.findings if f.severity.value == "warning"] == ["FHIR-DX-WHO"]


def test_an_unknown_pos_system_is_a_warning_and_a_who_code_not_in_icd10cm_an_error(example_gateway: Gateway) -> None:
    bundle = doc("lakeside-claim-pos-html-who-icd10.json")
    claim = bundle["entry"][4]["resource"]
    claim["item"][0]["locationCodeableConcept"]["coding"][0]["system"] = "http://example.org/places"
    claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["code"] = "U84.3"  # WHO only
    (er,) = process(example_gateway, json.dumps(bundle).encode(), "lakeside").encounters
    warned = {f.rule: f.location for f in er.findings if f.severity.value == "warning"}
    assert warned["FHIR-POS-SYSTEM"] == "Bundle.entry[4].resource.item[0].locationCodeableConcept"
    (error,) = [f for f in er.findings if f.is_error]
    assert error.rule == "ICD10-UNKNOWN" and "WHO ICD-10, http://hl7.org/fhir/sid/icd-10" in error.message


def test_pos_systems_match_whatever_the_case_and_suffix() -> None:
    from gateway_plugins.inbound.fhir.charges import pos_code

    for system in (
        "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set",
        "http://www.cms.gov/medicare/coding/place-of-service-codes/place_of_service_code_set.html",
        "http://terminology.hl7.org/CodeSystem/ex-serviceplace",
    ):
        assert pos_code({"coding": [{"system": system, "code": "24"}]}) == "24"


# -- claims that are not 837P -----------------------------------------------------------------------------


def test_pharmacy_and_dental_claims_are_said_not_to_be_billed(example_gateway: Gateway) -> None:
    result = process(example_gateway, "riverside-claims-pharmacy-dental-professional.json")
    warned = [(f.rule, f.location) for f in result.findings if f.severity.value == "warning"]
    assert warned == [("FHIR-CLAIM-TYPE", "Bundle.entry[5].resource"), ("FHIR-CLAIM-TYPE", "Bundle.entry[6].resource")]
    (er,) = result.encounters
    assert [c.total_charge for c in er.claims] == [Decimal("185.00")]


def test_institutional_claims_are_held_until_837i_exists(example_gateway: Gateway) -> None:
    (er,) = process(example_gateway, "lakeside-claim-institutional.json", "lakeside").encounters
    assert er.quarantined and errors(er.findings) == [("FHIR-CLAIM-INSTITUTIONAL", "Bundle.entry[4].resource.type")]
    assert "837I is not supported yet" in er.findings[0].message
    # riverside (the example's Synthea clinic) bills them as professional claims, with a warning
    (er,) = process(example_gateway, "lakeside-claim-institutional.json", "riverside").encounters
    (claim,) = er.claims
    assert claim.total_charge == Decimal("185.00")
    assert [(f.rule, f.severity.value) for f in er.findings] == [("FHIR-CLAIM-INSTITUTIONAL", "warning")]


# -- Synthea: insurers by display text --------------------------------------------------------------------


def test_an_insurer_named_only_by_display_text_is_looked_up_by_name(example_gateway: Gateway) -> None:
    result = process(example_gateway, "riverside-claims-display-only-insurer.json")
    insured, selfpay = result.encounters
    cov = insured.encounter.coverages[0]
    assert (cov.payer.id, cov.payer.name) == ("EXPAYER1", "Example Health Plan")  # by the directory's alias
    assert "FHIR-COVERAGE-DISPLAY" in [f.rule for f in insured.findings if f.severity.value == "warning"]
    # nobody sent a member id: held with that reason, never billed without one
    assert errors(insured.findings) == [("GW-MEMBER-ID", "encounter.coverages[1].subscriber.member_id")]
    # NO_INSURANCE is self-pay: a statement, to the patient's e-mail
    assert selfpay.encounter.coverages == [] and not selfpay.quarantined
    (st,) = selfpay.statements
    assert st.total_due == Decimal("125.00") and st.guarantor.email == "upsilon@example.org"


def test_a_payer_that_knows_members_by_the_patient_id_gets_it_with_a_warning(example_config: Path) -> None:
    """``member_id_from_patient_id`` in the payer directory: a missing member id
    becomes the patient id (the patient is the subscriber), with a warning;
    without it the claim is held (see above)."""
    payers = example_config.parent / "payers.yaml"
    text = payers.read_text()
    entry = "    names: [Example Health, Example Health Plan Inc]\n"
    assert entry in text
    payers.write_text(text.replace(entry, entry + "    member_id_from_patient_id: true\n"))
    gw = Gateway.from_config(example_config)
    insured = process(gw, "riverside-claims-display-only-insurer.json").encounters[0]
    assert errors(insured.findings) == [] and not insured.quarantined
    (claim,) = insured.claims
    assert claim.coverage.subscriber.member_id == insured.encounter.patient.id != ""
    (found,) = [f for f in insured.findings if f.rule == "PAYER-MEMBER-ID-PATIENT"]
    assert found.severity.value == "warning" and found.location == "encounter.coverages[1].subscriber.member_id"
    assert insured.encounter.patient.id not in found.message  # no identifier in a finding


def test_an_unknown_insurer_name_is_an_error_naming_the_directory(example_gateway: Gateway) -> None:
    raw = (
        (FHIR / "riverside-claims-display-only-insurer.json").read_bytes().replace(b"Example Health", b"Nowhere Mutual")
    )
    insured = process(example_gateway, raw).encounters[0]
    found = {f.rule: f for f in insured.findings if f.is_error}
    assert "payer directory" in found["PAYER-UNKNOWN"].message and "Nowhere" not in found["PAYER-UNKNOWN"].message


def test_email_of_the_patient_and_of_a_related_person_guarantor(example_gateway: Gateway) -> None:
    (er,) = process(example_gateway, "lakeside-guarantor-email.json", "lakeside").encounters
    assert er.encounter.patient.email == "phi.kid@example.org"
    (st,) = er.statements
    assert st.guarantor.email == "psi.parent@example.org" and st.account_number == "LA-20067"
    assert str(st.lines[0].charge) == "125.00"  # stated 125.0: whole cents, written with two decimals


def test_a_stated_fraction_of_a_cent_is_held_never_rounded(example_gateway: Gateway) -> None:
    raw = (FHIR / "lakeside-guarantor-email.json").read_bytes().replace(b'"value": 125.0,', b'"value": 125.005,')
    (er,) = process(example_gateway, raw, "lakeside").encounters
    assert er.quarantined and er.statements == []
    assert errors(er.findings) == [("GW-LINE-CHARGE", "encounter.service_lines[1].charge")]
    assert er.encounter.service_lines[0].charge == Decimal("125.005")


# -- issue 17 item 9: numbers and nesting ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "location"),
    [
        ("1e308", "Bundle.entry[9].resource.priceOverride"),
        ("9" * 5000, "line 439 column 20"),
    ],
    ids=["1e308", "5000-digits"],
)
def test_amounts_out_of_range_are_fhir_number(value: str, location: str) -> None:
    text = (FHIR / "riverside-transaction-urn-uuid.json").read_text()
    at = text.index('"priceOverride"')
    start = text.index('"value": ', at) + len('"value": ')
    end = text.index(",", start)
    raw = (text[:start] + value + text[end:]).encode()
    result = parse(raw, "fhir-json", "riverside", None, FhirSettings())
    found = result.findings + [f for fs in result.encounter_findings.values() for f in fs]
    assert ("FHIR-NUMBER", location) in errors(found)
    assert "9999" not in " ".join(f.message for f in found)


def test_nesting_deeper_than_the_reader_takes_is_fhir_depth() -> None:
    bundle = doc("riverside-transaction-urn-uuid.json")
    ext: dict[str, Any] = {"url": "http://example.org/x", "valueString": "x"}
    for _ in range(300):  # parses as JSON, too deep for validation
        ext = {"url": "http://example.org/x", "extension": [ext]}
    bundle["entry"][0]["resource"]["extension"] = [ext]
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        raw = json.dumps(bundle).encode()
    finally:
        sys.setrecursionlimit(limit)
    result = parse(raw, "fhir-json", "riverside", None, FhirSettings())
    assert [(f.rule, f.location) for f in result.findings] == [("FHIR-DEPTH", "Bundle")]
