"""docs/fhir.md documents every finding rule and settings key the FHIR plugin has."""

from __future__ import annotations

import re

from gateway_plugins.inbound.fhir import FhirSettings

from tests.conftest import ROOT

DOC = (ROOT / "docs" / "fhir.md").read_text()


def test_every_rule_id_is_documented() -> None:
    source = "".join(p.read_text() for p in (ROOT / "plugins" / "inbound" / "fhir").glob("*.py"))
    rules = set(re.findall(r'"(FHIR-[A-Z0-9-]+)"', source))
    assert len(rules) > 25
    assert sorted(r for r in rules if f"`{r}`" not in DOC) == []


def test_every_setting_is_documented() -> None:
    assert sorted(k for k in FhirSettings.model_fields if f"`{k}`" not in DOC) == []
