"""Rules are declared one way: a Catalogue per plugin; docs/rules.md is generated from them."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from gateway_plugins.inbound import canonical_json, fhir, hl7v2

from gateway.cli import cli
from gateway.rules import all_catalogues, inbound_catalogues, rules_markdown
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


def test_unknown_rule_id_is_refused_when_the_finding_is_made() -> None:
    from gateway_plugins.inbound.fhir.models import error

    assert error("FHIR-JSON", "not JSON").severity.value == "error"
    with pytest.raises(KeyError):
        error("FHIR-NOT-DECLARED", "x")


def test_gateway_rules_lists_the_inbound_catalogues_too() -> None:
    result = CliRunner().invoke(cli, ["rules", "--json"])
    assert result.exit_code == 0, result.output
    listed = {r["id"]: r["plugin"] for r in json.loads(result.output)}
    for cat in inbound_catalogues() + all_catalogues():
        for rule in cat:
            assert listed.get(rule.id) == cat.plugin


def test_one_problems_class_and_claim_limits_defined_once() -> None:
    sources = {p: p.read_text() for d in ("gateway", "plugins") for p in (ROOT / d).rglob("*.py")}
    assert [p.name for p, s in sources.items() if re.search(r"^class Problems\b", s, re.M)] == ["tables.py"]
    for name in ("MAX_MODIFIERS", "MAX_POINTERS", "MAX_DIAGNOSES", "MAX_COVERAGES", "MAX_AMOUNT", "MAX_UNITS"):
        defined = sorted(str(p.relative_to(ROOT)) for p, s in sources.items() if re.search(rf"^{name}\b.*=", s, re.M))
        assert len(defined) == 1, f"{name} defined in {defined}"
