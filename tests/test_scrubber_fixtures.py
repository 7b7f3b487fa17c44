"""Must-shows on the example deployment: the scrub-error fixture is quarantined
with the three rule ids; the clean fixtures pass without an error finding."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.messages import MemoryRecords, MessageMeta
from gateway.oneshot import process_files
from gateway.pipeline import MessageResult
from tests.conftest import FIXTURES, TODAY

ENCOUNTERS = FIXTURES / "encounters"
BAD = ENCOUNTERS / "riverside-scrub-errors.json"
#: fixtures that are meant to be quarantined, and by which rules
EXPECTED_ERRORS = {
    "riverside-scrub-errors.json": {"ICD10-NOT-BILLABLE", "SCRUB-NPI", "SCRUB-TOTAL"},
    "riverside-missing-charge.json": {"GW-LINE-CHARGE"},
}


def run(gw: Gateway, path: Path) -> MessageResult:
    return gw.pipeline.process(path.read_bytes(), MessageMeta(source="test", today=TODAY), MemoryRecords())


def test_scrub_error_fixture_is_quarantined_with_the_three_rules(example_gateway: Gateway) -> None:
    result = run(example_gateway, BAD)
    (enc,) = result.encounters
    assert enc.quarantined and not enc.claims
    errors = {f.rule: f for f in enc.findings if f.is_error}
    assert set(errors) == {"ICD10-NOT-BILLABLE", "SCRUB-NPI", "SCRUB-TOTAL"}
    assert errors["ICD10-NOT-BILLABLE"].location == "encounter.diagnoses[1].code"
    assert errors["SCRUB-NPI"].location == "claim.rendering_provider.npi"
    assert errors["SCRUB-TOTAL"].location == "claim.service_lines[2].charge"


@pytest.mark.parametrize("path", sorted(ENCOUNTERS.glob("*.json")), ids=lambda p: p.name)
def test_fixture_errors_are_only_the_expected_ones(example_gateway: Gateway, path: Path) -> None:
    result = run(example_gateway, path)
    errors = {f.rule for f in result.all_findings() if f.is_error}
    assert errors == EXPECTED_ERRORS.get(path.name, set())


def test_local_codes_fixture_is_mapped_priced_and_billed(example_gateway: Gateway) -> None:
    (enc,) = run(example_gateway, ENCOUNTERS / "riverside-local-codes.json").encounters
    (claim,) = enc.claims
    assert [(ln.procedure_code, ln.modifiers, str(ln.charge)) for ln in claim.service_lines] == [
        ("99214", [], "185.00"),
        ("87880", ["QW"], "35.50"),
        ("J3420", [], "37.50"),
    ]
    assert str(claim.total_charge) == "258.00" and claim.payer.id == "EXPAYER1"
    assert [d.code for d in claim.diagnoses] == ["J029", "E119"]


def test_process_summary_counts_quarantine_reasons_by_rule(example_gateway: Gateway, tmp_path: Path) -> None:
    summary = process_files(example_gateway, [BAD], tmp_path / "out", today=TODAY)
    assert summary.encounters_quarantined == 1
    assert {r: summary.reasons[r] for r in EXPECTED_ERRORS[BAD.name]} == dict.fromkeys(EXPECTED_ERRORS[BAD.name], 1)
