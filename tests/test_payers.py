"""Payer directory: ids and names as sent → X12 payer id, name, filing indicator."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from gateway_plugins.coding import payers
from gateway_plugins.coding.payers import load_directory

from gateway.app import Gateway
from gateway.config import Clinic, ConfigError
from gateway.model import Encounter, Payer
from gateway.testing import Deployment, FhirBundle, assert_finding, build_coverage, build_encounter, run_one
from tests.conftest import ROOT

EXAMPLE = ROOT / "mappings" / "example" / "payers.yaml"


def enc(payer_id: str, name: str = "Some Payer", source_id: str | None = None) -> Encounter:
    return build_encounter(coverages=[build_coverage(payer=Payer(id=payer_id, name=name, source_id=source_id))])


@pytest.fixture
def clinic(example_gateway: Gateway) -> Clinic:
    return example_gateway.clinics["riverside"]


@pytest.mark.parametrize(
    ("sent_id", "sent_name"),
    [
        ("MCR-B", "x"),
        ("mcr-b", "x"),
        ("unknown-id", "MEDICARE   part b"),
        ("example-medicare-b", "x"),
        ("EXMEDB01", "x"),
    ],
)
def test_payer_found_by_hl7_id_fhir_identifier_name_or_x12_id(clinic: Clinic, sent_id: str, sent_name: str) -> None:
    e = enc(sent_id, sent_name, source_id=sent_id)
    assert payers.gateway_map_encounter(e, clinic) == []
    cov = e.coverages[0]
    assert (cov.payer.id, cov.payer.name, cov.payer.source_id, cov.claim_filing_indicator) == (
        "EXMEDB01",
        "Example Medicare Part B Contractor",
        sent_id,
        "MB",
    )


def test_rule_fails_and_passes(clinic: Clinic) -> None:
    assert {r.id for r in payers.RULES} == {"PAYER-UNKNOWN", "PAYER-MEMBER-ID-PATIENT"}
    e = enc("NOPE9")
    (f,) = payers.gateway_map_encounter(e, clinic)
    assert f.rule == "PAYER-UNKNOWN" and f.severity.value == "warning" and "NOPE9" in f.message
    assert e.coverages[0].payer.id == "NOPE9"  # its own id is used
    assert payers.gateway_map_encounter(enc("EXHP"), clinic) == []


def test_strict_clinic_makes_unknown_payers_errors(clinic: Clinic) -> None:
    strict = dataclasses.replace(clinic, config=clinic.config.model_copy(update={"strict_payers": True}))
    (f,) = payers.gateway_map_encounter(enc("NOPE9"), strict)
    assert f.is_error and "strict" in f.message


def test_strict_without_directory_is_a_config_error(gateway_deployment: Deployment) -> None:
    clinic = gateway_deployment.clinic("riverside")
    del clinic["payers"]
    clinic["strict_payers"] = True
    with pytest.raises(ConfigError, match="strict_payers"):
        gateway_deployment.gateway()


def test_a_payer_added_to_the_directory_maps_fhir_payors(gateway_deployment: Deployment) -> None:
    gw = gateway_deployment.add_payer("ACME1", "Acme Health", "HM", fhir_identifiers=["acme-health"]).gateway()
    bundle = FhirBundle.visit()
    bundle.set("Organization.identifier[0].value", "acme-health").set("Organization.name", "Acme")
    (claim,) = run_one(gw, bundle).claims
    assert (claim.payer.id, claim.payer.name, claim.coverage.claim_filing_indicator) == ("ACME1", "Acme Health", "HM")
    gateway_deployment.clinic("riverside")["strict_payers"] = True  # unknown payers become errors
    bundle.set("Organization.identifier[0].value", "nobody-we-know").set("Organization.name", "Nobody")
    assert_finding(run_one(gateway_deployment.gateway(), bundle), "PAYER-UNKNOWN", severity="error", plugin="payers")


def test_directory_errors_name_file_line_and_key(tmp_path: Path) -> None:
    f = tmp_path / "payers.yaml"
    f.write_text("payers:\n  - payer_id: A1\n    name: A\n    claim_filing_indicator: QQ\n    nmes: [x]\n")
    with pytest.raises(ConfigError) as exc:
        load_directory(f)
    text = str(exc.value)
    assert "payers.yaml:4: payers[0].claim_filing_indicator: not an X12 claim filing indicator" in text
    assert "payers.yaml:5: payers[0].nmes: unknown key 'nmes' (did you mean 'names'?)" in text


def test_an_alias_claimed_by_two_payers_is_a_config_error(tmp_path: Path) -> None:
    f = tmp_path / "payers.yaml"
    f.write_text("payers:\n  - {payer_id: A1, name: A, hl7_ids: [X]}\n  - {payer_id: 60054, name: B, hl7_ids: [x]}\n")
    with pytest.raises(ConfigError, match="both claim 'X'"):
        load_directory(f)


def test_unsafe_yaml_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "payers.yaml"
    f.write_text("payers: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_directory(f)


def test_example_directory(clinic: Clinic) -> None:
    d = load_directory(EXAMPLE)
    assert d.destination_for("EXPAYER1") is None and len(d.entries) == 10
    assert clinic.resources["payer_directory"].find("x", None, "Example Blue Cross").payer_id == "EXBCBS01"
    # Synthea's insurers, named by display text only, resolve by name (case and spacing ignored)
    assert d.find("", None, "blue cross  blue shield").payer_id == "EXSYN-BCBS"
    assert d.find("", None, "Medicare").payer_id == "EXMEDB01"


def test_secondary_settings_per_payer_and_their_errors(tmp_path: Path, clinic: Clinic) -> None:
    from gateway.model import SecondaryBilling

    f = tmp_path / "payers.yaml"
    f.write_text(
        "payers:\n  - {payer_id: A1, name: A, secondary: {wait_for_crossover: true, delay_days: 21}}\n"
        "  - {payer_id: B1, name: B}\n"
    )
    d = load_directory(f)
    assert d.secondary_for("a1") == SecondaryBilling(wait_for_crossover=True, delay_days=21)
    assert d.secondary_for("B1") == SecondaryBilling() and d.secondary_for("ZZ") is None
    # the hook answers from the clinic's directory (the example lists no secondary: the defaults)
    assert payers.gateway_secondary_billing(payer_id="EXPAYER1", clinic=clinic) == SecondaryBilling()
    assert payers.gateway_secondary_billing(payer_id="NOT-LISTED", clinic=clinic) is None
    f.write_text("payers:\n  - payer_id: A1\n    name: A\n    secondary:\n      wait_for_crossover: true\n")
    with pytest.raises(ConfigError) as exc:
        load_directory(f)
    assert "payers.yaml" in str(exc.value) and "payers[0].secondary" in str(exc.value)
    assert "wait_for_crossover needs delay_days" in str(exc.value)
    f.write_text("payers:\n  - payer_id: A1\n    name: A\n    secondary: {delay_days: -1}\n")
    with pytest.raises(ConfigError, match=r"payers\[0\]\.secondary\.delay_days"):
        load_directory(f)
