"""The fuzz target (issue 17, Proof): HL7 v2, FHIR and canonical JSON through
the whole pipeline, the 837 reader and ``gateway validate``, and the 837
renderer, under hypothesis with a fixed set of seeds plus one random seed.

Each run is bounded (about 20 s for the module on an idle machine); set
``GATEWAY_FUZZ_SCALE=20`` for a longer session. Properties: no traceback
escapes (a plugin that raises is a GW-PLUGIN-ERROR finding, which counts as a
failure here), every claim the pipeline passes renders with its segments
intact, and the renderer never adds a segment (docs/security-x12.md).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from gateway_plugins.renderers.x12.facts import NotAClaim, to_claim
from gateway_plugins.renderers.x12.reader import read_837
from gateway_plugins.renderers.x12.validate import ClaimRules, FileValidator
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from gateway.app import Gateway
from gateway.examples import write_example_deployment
from gateway.messages import MemoryRecords, MessageMeta
from gateway.plugins import PluginHost
from tests.conftest import FIXTURES, TODAY
from tests.strategies import edits, hostile_claims, mutate, unicode_text
from tests.x12check import PYX12, assert_segments_intact, check_render, fixture_claims, render

#: fixed seeds: the same cases in every run; None: a new random seed each run
#: (hypothesis prints the seed and the failing input when it finds one)
RUNS = [20261127, 837, 5010, None]
SCALE = float(os.environ.get("GATEWAY_FUZZ_SCALE", "1"))
#: findings that mean a reader or plugin raised instead of reporting
CRASHES = frozenset({"GW-PLUGIN-ERROR", "GW-PLUGIN-RESULT", "HL7-INTERNAL"})
#: crashes this fuzz target found (fixture, JSON path, hostile value), fixed since: each
#: stays a regression case (the FHIR sniff and parse now name the bad value instead)
FOUND_CRASHES = {
    "plugin fhir failed in gateway_sniff (AttributeError)": (
        "fhir/lakeside-message-two-encounters.json",
        ("entry", 0, "resource"),
        "0",
    ),
    "plugin fhir failed in gateway_sniff (TypeError)": (
        "fhir/lakeside-message-two-encounters.json",
        ("entry", 1, "resource", "identifier", 0, "system"),
        [],
    ),
    "plugin fhir failed in gateway_parse (TypeError)": (
        "fhir/riverside-claim-contained-coverage.json",
        ("item", 0, "careTeamSequence", 0),
        None,
    ),
    "plugin fhir failed in gateway_parse (KeyError)": (
        "fhir/riverside-claim-contained-coverage.json",
        ("item", 0, "modifier", 0, "coding", 0),
        {},
    ),
}

HL7 = [p.read_bytes() for p in sorted((FIXTURES / "hl7v2").rglob("*.hl7")) if p.stat().st_size < 5000]
FHIR = [p.read_bytes() for p in sorted((FIXTURES / "fhir").glob("*.json"))]
CANONICAL = [p.read_bytes() for p in sorted((FIXTURES / "encounters").glob("*.json"))]
CLAIMS = list(fixture_claims().values())
X12 = [render([c]).content for c in CLAIMS[:4]] + [
    p.read_bytes() for p in sorted((Path(__file__).parent / "x12_files").glob("*.x12"))
]


def fuzz(strategy: st.SearchStrategy[Any], examples: int, check: Callable[[Any], None], run: int | None) -> None:
    """Run ``check`` on ``examples`` (× GATEWAY_FUZZ_SCALE) inputs drawn with ``run``'s seed."""

    @settings(max_examples=max(1, int(examples * SCALE)), deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def inner(value: Any) -> None:
        check(value)

    (seed(run)(inner) if run is not None else inner)()


@cache
def gateway() -> Gateway:
    return Gateway.from_config(write_example_deployment(Path(tempfile.mkdtemp(prefix="fuzz-")) / "deployment"))


def through_the_pipeline(raw: bytes) -> None:
    """No crash finding; every claim the pipeline passes renders intact."""
    gw = gateway()
    result = gw.pipeline.process(raw, MessageMeta(source="fuzz", today=TODAY), MemoryRecords())
    findings = result.findings + [f for e in result.encounters for f in e.findings]
    crashes = [f for f in findings if f.rule in CRASHES]
    assert not crashes, [f.model_dump() for f in crashes]
    claims = [c for e in result.encounters if not e.quarantined for c in e.claims]
    event("claims rendered" if claims else "quarantined" if result.quarantined or result.encounters else "nothing")
    if claims:
        doc = render(claims)
        assert_segments_intact(doc.content, claims)


# -- JSON inputs: byte edits and hostile values -------------------------------------


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))]
    return [path]


json_values = unicode_text | st.integers() | st.floats() | st.none() | st.booleans() | st.just([]) | st.just({})


@st.composite
def hostile_json(draw: st.DrawFn, samples: list[bytes]) -> bytes:
    """A sample with one to five of its leaf values replaced by hostile ones."""
    doc = json.loads(draw(st.sampled_from(samples)))
    for path in draw(st.lists(st.sampled_from(_leaves(doc)), min_size=1, max_size=5)):
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = draw(json_values)
    return json.dumps(doc).encode()


def mutated(samples: list[bytes], alphabet: bytes | None = None) -> st.SearchStrategy[bytes]:
    return st.builds(lambda s, e: mutate(s, e, alphabet), st.sampled_from(samples), edits)


# -- the 837 reader and gateway validate --------------------------------------------

X12_ALPHABET = b"*:^~>|\r\n0123456789ABCHILMNPSTXZ "
VALIDATOR = FileValidator(ClaimRules(PluginHost()), PYX12)


def read_back(data: bytes) -> None:
    """The reader never raises; validate reports; read claims convert or say why."""
    read = read_837(data)
    for facts in read.claims:
        try:
            to_claim(facts)
        except (NotAClaim, ValueError):
            pass  # validate reports X12-UNREADABLE
    report = VALIDATOR.validate(data, "fuzz.x12")
    assert report.claims == (0 if read.not_837p else len(read.claims))


@pytest.mark.parametrize("run", RUNS, ids=lambda r: f"seed-{r}" if r else "random")
def test_hl7v2_messages(run: int | None) -> None:
    fuzz(mutated(HL7), 100, through_the_pipeline, run)


@pytest.mark.parametrize("run", RUNS, ids=lambda r: f"seed-{r}" if r else "random")
def test_fhir_bundles(run: int | None) -> None:
    fuzz(hostile_json(FHIR) | mutated(FHIR, b'{}[]",:0123456789e-.tn\\u'), 40, through_the_pipeline, run)


@pytest.mark.parametrize("run", RUNS, ids=lambda r: f"seed-{r}" if r else "random")
def test_canonical_json(run: int | None) -> None:
    fuzz(hostile_json(CANONICAL), 50, through_the_pipeline, run)


@pytest.mark.parametrize("run", RUNS, ids=lambda r: f"seed-{r}" if r else "random")
def test_837_reader_and_validate(run: int | None) -> None:
    fuzz(mutated(X12, X12_ALPHABET), 40, read_back, run)


@pytest.mark.parametrize("run", RUNS, ids=lambda r: f"seed-{r}" if r else "random")
def test_837_renderer(run: int | None) -> None:
    fuzz(hostile_claims(CLAIMS), 100, lambda claim: check_render(claim, validate=False), run)


@pytest.mark.parametrize("message", sorted(FOUND_CRASHES))
def test_found_crash_is_now_a_finding(message: str) -> None:
    fixture, path, value = FOUND_CRASHES[message]
    doc = json.loads((FIXTURES / fixture).read_text())
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    result = gateway().pipeline.process(json.dumps(doc).encode(), MessageMeta(source="fuzz", today=TODAY),
                                        MemoryRecords())  # fmt: skip
    found = result.findings + [f for e in result.encounters for f in e.findings]
    assert message not in {f.message for f in found}
    assert not [f for f in found if f.rule in CRASHES]
