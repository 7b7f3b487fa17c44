"""A valid bundle is validated entry by entry (one resource's R4B models
alive at a time, not the whole bundle's); anything else is validated whole,
so findings stay what they were. These tests hold the two ways to the same
verdict: fixtures, a generated billing bundle, and mutations of each kind of
problem the models find."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gateway_plugins.inbound.fhir.models import _valid_entry_by_entry, model_class, validate
from gateway_plugins.inbound.fhir.sniff import load_json

from benchmarks.bench_fhir import generated_bundle
from tests.test_fhir_fixtures import FHIR

BUNDLES = sorted(
    p for p in [*FHIR.glob("*.json"), *(FHIR / "invalid").glob("*.json")] if b'"Bundle"' in p.read_bytes()[:400]
)


def whole_is_valid(doc: dict[str, Any]) -> bool:
    """The verdict of the whole Bundle model (the way before)."""
    try:
        model_class("Bundle").model_validate(doc)
    except Exception:
        return False
    return True


def _first(doc: dict[str, Any], rtype: str) -> dict[str, Any]:
    return next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == rtype)


#: one of each kind of problem, in an entry's resource, in a contained one, or in the bundle itself
MUTATIONS: dict[str, Callable[[dict[str, Any]], object]] = {
    "bad date": lambda d: _first(d, "Patient").update(birthDate="1990-13-45"),
    "unknown element": lambda d: _first(d, "Encounter").update(colour="blue"),
    "required element missing": lambda d: _first(d, "Encounter").pop("status"),
    "wrong type": lambda d: _first(d, "Patient").update(active={"x": 1}),
    "null complex element": lambda d: _first(d, "Patient").update(name=[None]),
    "bad contained resource": lambda d: _first(d, "Encounter").update(
        contained=[{"resourceType": "Patient", "id": "c1", "birthDate": "x"}]
    ),
    "unknown contained type": lambda d: _first(d, "Encounter").update(contained=[{"resourceType": "Nope", "id": "c"}]),
    "bundle type missing": lambda d: d.pop("type"),
    "bad fullUrl": lambda d: d["entry"][0].update(fullUrl=12),
    "entry resource not an object": lambda d: d["entry"][0].update(resource="Patient/1"),
    "unknown entry type": lambda d: d["entry"][0]["resource"].update(resourceType="Nope"),
    "entry without resource": lambda d: d["entry"][0].pop("resource"),
    "unknown bundle element": lambda d: d.update(colour="blue"),
}


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.name)
def test_fixtures_get_the_same_verdict(path: Path) -> None:
    doc = load_json(path.read_bytes())
    assert doc["resourceType"] == "Bundle"
    assert _valid_entry_by_entry(model_class("Bundle"), doc) == whole_is_valid(doc)


def test_the_fixtures_hold_valid_bundles() -> None:
    assert len(BUNDLES) >= 10 and sum(whole_is_valid(load_json(p.read_bytes())) for p in BUNDLES) >= 10


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_each_kind_of_problem_gets_the_same_verdict_and_findings(mutation: str) -> None:
    doc = json.loads(generated_bundle(4))
    assert _valid_entry_by_entry(model_class("Bundle"), doc) and whole_is_valid(doc) and validate(doc) == []
    broken = copy.deepcopy(doc)
    MUTATIONS[mutation](broken)
    whole = whole_is_valid(broken)
    assert _valid_entry_by_entry(model_class("Bundle"), broken) == whole
    findings = validate(broken)
    assert (findings == []) == whole
    if not whole:  # located as before: the whole bundle's own validation
        assert all(f.rule in ("FHIR-INVALID", "FHIR-RESOURCE-TYPE") for f in findings)
