"""`gateway inspect` on FHIR files shows the encounters, or the findings
that stopped them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from gateway.cli import cli
from tests.test_fhir_fixtures import FHIR


def inspect(*paths: Path) -> list[dict]:
    result = CliRunner().invoke(cli, ["inspect", "--today", "2026-11-27", *map(str, paths)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_inspect_shows_encounters_and_claims() -> None:
    (out,) = inspect(FHIR / "lakeside-message-two-encounters.json")
    assert (out["format"], out["sender"], out["clinic"], out["quarantined"]) == (
        "fhir-json",
        "LAKESIDE",
        "lakeside",
        False,
    )
    assert [e["encounter"]["id"] for e in out["encounters"]] == ["LK-V-3001", "LK-V-3002"]
    assert [c["total_charge"] for e in out["encounters"] for c in e["claims"]] == ["217.00", "138.50"]


def test_inspect_shows_why_an_encounter_is_quarantined() -> None:
    (out,) = inspect(FHIR / "riverside-transaction-unresolved-patient.json")
    good, bad = out["encounters"]
    assert not good["quarantined"] and bad["quarantined"]
    (finding,) = [f for f in bad["findings"] if f["severity"] == "error"]
    assert finding["rule"] == "FHIR-REF" and finding["plugin"] == "fhir"
    assert finding["location"] == "Bundle.entry[6].resource.subject"


def test_inspect_shows_message_findings_for_a_refused_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"resourceType": "Bundle", "type": "collection", "meta": {"source": "RIVERSIDE"}, "entry": [{"resource": {"resourceType": "Patient", "birthDate": "yesterday"}}]}'
    )
    (out,) = inspect(bad)
    assert out["quarantined"] and out["encounters"] == []
    assert [(f["rule"], f["location"]) for f in out["findings"]] == [
        ("FHIR-INVALID", "Bundle.entry[0].resource.birthDate")
    ]


def test_check_config_reports_a_misspelt_fhir_setting(example_config: Path) -> None:
    text = example_config.read_text().replace("      fhir:\n", "      fhir:\n        max_byte: 1000\n", 1)
    example_config.write_text(text)
    result = CliRunner().invoke(cli, ["check-config", str(example_config)])
    assert result.exit_code == 2
    assert "settings.fhir.max_byte" in result.output and "did you mean 'max_bytes'" in result.output
