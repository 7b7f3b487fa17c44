"""Rules are declared one way: a Catalogue per plugin; docs/rules.md is generated from them."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from gateway_plugins.inbound import canonical_json, fhir, hl7v2

from gateway.cli import cli
from gateway.rules import CORE, all_catalogues, inbound_catalogues, rules_markdown, x12_catalogues
from tests.conftest import ROOT

RULES_MD = ROOT / "docs" / "rules.md"


def test_docs_rules_md_is_up_to_date() -> None:
    assert RULES_MD.read_text() == rules_markdown(), "docs/rules.md is stale: run python -m gateway.docs rules"


@pytest.mark.parametrize(
    ("module", "folder", "prefix"),
    [(hl7v2, "hl7v2", "HL7"), (fhir, "fhir", "FHIR"), (canonical_json, "canonical_json.py", "JSON")],
)
def test_every_rule_id_an_inbound_plugin_uses_is_declared(module, folder: str, prefix: str) -> None:
    """No rule id is typed in a plugin's code without being in its catalogue."""
    where = ROOT / "plugins" / "inbound" / folder
    files = sorted(where.glob("*.py")) if where.is_dir() else [where]
    used = {m for f in files for m in re.findall(rf'"({prefix}-[A-Z0-9-]+)"', f.read_text())}
    declared = {r.id for r in module.RULES}
    assert used, "the scan found nothing: the pattern is wrong"
    assert used - declared == set()


def _ids_used(where, prefix: str) -> set[str]:
    return {m for f in sorted(where.rglob("*.py")) for m in re.findall(rf'"({prefix}-[A-Z0-9-]+)"', f.read_text())}


def test_every_core_rule_id_the_gateway_uses_is_declared() -> None:
    """Every GW- id in gateway/ (and in plugins that test for one) is in CORE."""
    used = _ids_used(ROOT / "gateway", "GW") | _ids_used(ROOT / "plugins", "GW")
    assert len(used) > 20, "the scan found too little: the pattern is wrong"
    assert used - {r.id for r in CORE} == set()


def test_every_x12_rule_id_the_x12_readers_use_is_declared() -> None:
    """The 837P reader's ids are in its catalogue; the response reader's in its own
    or, for the syntax checks both readers make, in the 837P plugin's."""
    from gateway_plugins.inbound import x12_responses
    from gateway_plugins.renderers import x12

    renderer = _ids_used(ROOT / "plugins" / "renderers" / "x12", "X12")
    responses_dir = ROOT / "plugins" / "inbound" / "x12_responses"
    # simulate.py answers 837P files: it names the 837P reader's rules
    responses = {
        m
        for f in sorted(responses_dir.glob("*.py"))
        if f.name != "simulate.py"
        for m in re.findall(r'"(X12-[A-Z0-9-]+)"', f.read_text())
    }
    simulated = _ids_used(responses_dir, "X12") - responses
    assert renderer and responses and simulated
    assert renderer - {r.id for r in x12.RULES} == set()
    assert responses - {r.id for r in x12_responses.RULES} - {r.id for r in x12.RULES} == set()
    assert simulated - {r.id for r in x12.RULES} == set()
    assert x12_catalogues() == [x12.RULES, x12_responses.RULES]


def test_core_findings_are_made_from_the_catalogue() -> None:
    from gateway.claims import _error
    from gateway.pipeline import _core

    assert _core("GW-NO-CHARGES", "x").severity.value == "info"
    assert _core("GW-ROUTE", "x").plugin == "core"
    assert _error("GW-MEMBER-ID", "x", "encounter").location == "encounter"
    with pytest.raises(KeyError):
        _core("GW-NOT-DECLARED", "x")
    with pytest.raises(KeyError):
        _error("GW-NOT-DECLARED", "x", "encounter")


def test_unknown_rule_id_is_refused_when_the_finding_is_made() -> None:
    from gateway_plugins.inbound.fhir.models import error

    assert error("FHIR-JSON", "not JSON").severity.value == "error"
    with pytest.raises(KeyError):
        error("FHIR-NOT-DECLARED", "x")


def test_gateway_rules_lists_the_core_inbound_and_x12_catalogues_too() -> None:
    result = CliRunner().invoke(cli, ["rules", "--json"])
    assert result.exit_code == 0, result.output
    listed = {r["id"]: r["plugin"] for r in json.loads(result.output)}
    for cat in [CORE, *inbound_catalogues(), *x12_catalogues(), *all_catalogues()]:
        for rule in cat:
            assert listed.get(rule.id) == cat.plugin


def test_one_problems_class_and_claim_limits_defined_once() -> None:
    sources = {p: p.read_text() for d in ("gateway", "plugins") for p in (ROOT / d).rglob("*.py")}
    assert [p.name for p, s in sources.items() if re.search(r"^class Problems\b", s, re.M)] == ["tables.py"]
    for name in ("MAX_MODIFIERS", "MAX_POINTERS", "MAX_DIAGNOSES", "MAX_COVERAGES", "MAX_AMOUNT", "MAX_UNITS"):
        defined = sorted(str(p.relative_to(ROOT)) for p, s in sources.items() if re.search(rf"^{name}\b.*=", s, re.M))
        assert len(defined) == 1, f"{name} defined in {defined}"
