"""FHIR corpus: the Synthea R4 bundles in ../shared/corpus/fhir.

The two companion bundles (practitioners, organisations and locations of the
same Synthea run) go first and teach records; then each of the seven patient
bundles yields one encounter per Encounter resource, with its practitioner
resolved through the records and every procedure code covered by the
example code map. The two INVALID bundles are refused with a finding that
names the problem and where it is.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from gateway_plugins.inbound.fhir import FhirSettings, parse

from gateway.app import Gateway
from gateway.examples import DEPLOYMENT, write_example_deployment
from gateway.messages import MemoryRecords, MessageMeta
from gateway.pipeline import MessageResult
from tests.conftest import TODAY

COMPANIONS = (
    "synthea_r4_hospitalInformation_orgs_locations_same_run.json",
    "synthea_r4_practitionerInformation_same_run.json",
)
CODE_MAP = DEPLOYMENT / "codemap-synthea-snomed.csv"


def patient_bundles(corpus: Path) -> list[Path]:
    found = sorted((corpus / "fhir").glob("synthea_r4_*_bundle.json"))
    assert len(found) == 7
    return found


def encounter_count(path: Path) -> int:
    doc = json.loads(path.read_bytes())
    return sum(1 for e in doc["entry"] if e["resource"]["resourceType"] == "Encounter")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Gateway:
    return Gateway.from_config(write_example_deployment(tmp_path_factory.mktemp("fhir-corpus") / "deployment"))


@pytest.fixture(scope="module")
def processed(gateway: Gateway, corpus: Path) -> dict[str, MessageResult]:
    """Companions first, then every patient bundle, records carried over (riverside's channel)."""
    records = MemoryRecords()
    out = {}
    for path in [corpus / "fhir" / name for name in COMPANIONS] + patient_bundles(corpus):
        meta = MessageMeta(source="corpus", today=TODAY, name=path.name, clinic_id="riverside")
        result = gateway.pipeline.process(path.read_bytes(), meta, records)
        records.apply("riverside", result.updates)
        out[path.name] = result
    return out


def test_companion_bundles_teach_practitioners_and_organisations(processed: dict[str, MessageResult]) -> None:
    for name in COMPANIONS:
        result = processed[name]
        assert result.envelope.format == "fhir-json" and not result.quarantined
        assert result.encounters == [] and [f.rule for f in result.findings] == ["FHIR-NO-ENCOUNTER"]
    keys = {u.key for name in COMPANIONS for u in processed[name].updates}
    assert "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999953739" in keys


def test_the_seven_patient_bundles_parse_into_encounters(processed: dict[str, MessageResult], corpus: Path) -> None:
    total = 0
    for path in patient_bundles(corpus):
        result = processed[path.name]
        assert not result.quarantined, [f.model_dump() for f in result.findings]
        assert len(result.encounters) == encounter_count(path), path.name
        for enc in result.encounters:
            e = enc.encounter
            assert e.patient.name.family and e.patient.birth_date and e.start_date
            assert e.service_lines, e.id
            # conditional Practitioner?identifier= references resolve through the companion bundle
            assert e.rendering_provider is not None and e.rendering_provider.npi
            assert e.rendering_provider.name is not None, (path.name, e.id)
            assert not [f for f in enc.findings if f.rule == "GW-PLUGIN-ERROR"]
        total += len(result.encounters)
    assert total == 163


def test_the_example_code_map_covers_every_synthea_procedure(processed: dict[str, MessageResult], corpus: Path) -> None:
    with CODE_MAP.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert all(r["comment"].startswith("EXAMPLE ONLY") for r in rows)
    mapped = {(r["source_system"], r["source_code"]) for r in rows}
    seen = set()
    for path in patient_bundles(corpus):
        for enc in processed[path.name].encounters:
            for line in enc.encounter.service_lines:
                if line.local_system:
                    seen.add((line.local_system, line.local_code))
                assert line.procedure_code, "the code map plugin mapped every line"
            assert not [f for f in enc.findings if f.rule == "MAP-UNMAPPED"]
    assert seen and seen <= mapped


def _no_insurance_claims(path: Path) -> int:
    doc = json.loads(path.read_bytes())
    claims = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Claim"]
    return sum(
        1
        for c in claims
        if c["type"]["coding"][0]["code"] != "pharmacy"
        and c["insurance"][0]["coverage"].get("display") == "NO_INSURANCE"
    )


#: why Synthea's insured visits are held once payer and member are resolved:
#: what its data lacks for a clean claim (no diagnosis on wellness visits, so
#: no pointers; practitioner NPIs without a valid check digit; prices in
#: fractions of a cent or none; a state written out in full)
SYNTHEA_DATA_GAPS = {
    "SCRUB-DIAG-NONE", "SCRUB-POINTERS", "SCRUB-NPI", "SCRUB-TOTAL", "SCRUB-X12-ID", "SCRUB-STATE", "GW-LINE-CHARGE",
}  # fmt: skip


def test_synthea_insurers_by_display_text_resolve_and_self_pay_gets_a_statement(
    processed: dict[str, MessageResult], corpus: Path
) -> None:
    """Synthea names each Claim's insurer only by display text and sends no
    member id. The payer is found in the example directory by that name (a
    warning says so); the example's fictitious Synthea payers know members by
    the patient id (``member_id_from_patient_id``, another warning), so those
    visits get their claim built and scrubbed; NO_INSURANCE visits end on a
    statement. The one Medicare visit stays held for its member id (Medicare's
    is an MBI). Never FHIR-REF; the example riverside clinic bills Synthea's
    "institutional" Claims as professional (settings.fhir)."""
    tally = dict.fromkeys(("claim", "claim held by the scrubber", "statement", "no member id", "no price"), 0)
    for path in patient_bundles(corpus):
        for enc in processed[path.name].encounters:
            errors = {f.rule for f in enc.findings if f.is_error}
            warnings = [f.rule for f in enc.findings if f.severity.value == "warning"]
            assert not errors & {"FHIR-REF", "PAYER-UNKNOWN", "GW-PAYER-ID", "FHIR-CLAIM-INSTITUTIONAL"}, errors
            if not enc.encounter.coverages:
                if errors:  # a self-pay visit Synthea sent without a price for its visit line
                    assert errors == {"GW-LINE-CHARGE"}
                    tally["no price"] += 1
                else:
                    assert len(enc.statements) == 1 and not enc.claims
                    tally["statement"] += 1
                continue
            cov = enc.encounter.coverages[0]
            assert cov.payer.id.startswith(("EXSYN-", "EXMEDB01")) and cov.payer.source_id is None
            assert "FHIR-COVERAGE-DISPLAY" in warnings
            if cov.payer.id == "EXMEDB01":
                assert "GW-MEMBER-ID" in errors and not enc.claims
                tally["no member id"] += 1
            elif "GW-LINE-CHARGE" in errors:
                assert errors <= SYNTHEA_DATA_GAPS
                tally["no price"] += 1
            else:
                assert "PAYER-MEMBER-ID-PATIENT" in warnings and errors <= SYNTHEA_DATA_GAPS, errors
                assert cov.subscriber.member_id == enc.encounter.patient.id
                if errors:  # built, then held by the scrubber: every error is about the claim
                    assert all(f.location.startswith("claim.") for f in enc.findings if f.is_error)
                    tally["claim held by the scrubber"] += 1
                else:
                    assert len(enc.claims) == 1
                    tally["claim"] += 1
    no_insurance = sum(_no_insurance_claims(p) for p in patient_bundles(corpus))
    assert no_insurance == 5
    assert tally == {"claim": 0, "claim held by the scrubber": 151, "statement": 4, "no member id": 1, "no price": 7}
    salina = processed["synthea_r4_Salina386_Buckridge80_small_bundle.json"]
    assert "FHIR-BUNDLE-ID" in [f.rule for f in salina.findings]  # "ingestion-${RANDOM.NUMBER}" ignored


def test_synthea_pharmacy_claims_are_named_not_dropped(processed: dict[str, MessageResult], corpus: Path) -> None:
    skipped = [f for p in patient_bundles(corpus) for f in processed[p.name].findings if f.rule == "FHIR-CLAIM-TYPE"]
    assert len(skipped) == 14 and all(f.severity.value == "warning" and f.location for f in skipped)


def test_nothing_billable_vanishes_in_the_synthea_corpus(processed: dict[str, MessageResult], corpus: Path) -> None:
    from tests.invariant import check_nothing_vanishes

    ends: dict[str, int] = {}
    for path in patient_bundles(corpus):
        for end in check_nothing_vanishes(path.read_bytes(), processed[path.name]).values():
            ends[end.split()[0]] = ends.get(end.split()[0], 0) + 1
    assert ends == {"statement": 7, "encounter": 388, "finding": 14}


def test_invalid_bundles_are_refused_naming_the_problem(gateway: Gateway, corpus: Path) -> None:
    expected = {
        "INVALID_synthea_r4_Salina386_bad_resourceType.json": ("FHIR-RESOURCE-TYPE", "resourceType", "BunXdle"),
        "INVALID_synthea_r4_Salina386_string_in_valueDecimal.json": (
            "FHIR-INVALID",
            "Bundle.entry[0].resource.extension[3].valueDecimal",
            "Decimal",
        ),
    }
    for name, (rule, location, words) in expected.items():
        meta = MessageMeta(source="corpus", today=TODAY, name=name, clinic_id="riverside")
        result = gateway.pipeline.process((corpus / "fhir" / name).read_bytes(), meta, MemoryRecords())
        assert result.quarantined and result.encounters == []
        (error,) = [f for f in result.findings if f.is_error]
        assert (error.rule, error.location) == (rule, location)
        assert words in error.message
        assert "Forty-One" not in error.message  # the bad value itself is not echoed


def test_without_the_companions_the_npi_in_the_reference_is_used(corpus: Path) -> None:
    path = corpus / "fhir" / "synthea_r4_Ellis535_Will178_bundle.json"
    result = parse(path.read_bytes(), "fhir-json", "riverside", MemoryRecords(), FhirSettings())
    assert len(result.encounters) == encounter_count(path)
    assert all(e.rendering_provider and e.rendering_provider.npi for e in result.encounters)
    notes = {f.rule for found in result.encounter_findings.values() for f in found}
    assert "FHIR-REF-NPI" in notes


def test_synthea_as_xml_reads_like_the_json(corpus: Path) -> None:
    path = corpus / "fhir" / "synthea_r4_Adan632_Friesen796_bundle.json"
    source = path.read_bytes()
    xml = Bundle.model_validate_json(source).model_dump_xml()
    xml = xml if isinstance(xml, bytes) else xml.encode()
    from_json = parse(source, "fhir-json", "riverside", MemoryRecords(), FhirSettings())
    from_xml = parse(xml, "fhir-xml", "riverside", MemoryRecords(), FhirSettings())
    assert len(from_xml.encounters) == 8
    assert from_xml.encounters == from_json.encounters
