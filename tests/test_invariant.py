"""The money invariant (tests/invariant.py) over every fixture, through the
whole pipeline of the example deployment, in the order `gateway demo` reads
them (records carried from one input to the next), and over generated
canonical encounters."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import Gateway
from gateway.examples import demo_inputs
from gateway.messages import MemoryRecords, MessageMeta
from gateway.model import Encounter
from tests.conftest import FIXTURES, TODAY
from tests.invariant import billable_refs, check_nothing_vanishes, names
from tests.test_model import encounters


def test_every_fixture_keeps_every_billable_line(example_gateway: Gateway) -> None:
    records = MemoryRecords()
    checked: dict[str, dict[str, str]] = {}
    inputs = demo_inputs()
    assert any(p.parent.name == "invalid" for p in inputs)  # bad inputs are checked as well
    for path in inputs:
        meta = MessageMeta(source="test", today=TODAY, name=path.name)
        raw = path.read_bytes()
        result = example_gateway.pipeline.process(raw, meta, records)
        if result.clinic_id:
            records.apply(result.clinic_id, result.updates)
        checked[path.name] = check_nothing_vanishes(raw, result)
    lines = sum(len(v) for v in checked.values())
    assert len(checked) >= 50 and lines >= 80, (len(checked), lines)
    ends = {end.split()[0] for v in checked.values() for end in v.values()}
    assert {"claim", "statement", "message", "encounter", "finding"} <= ends


def test_a_line_that_vanishes_is_caught(example_gateway: Gateway) -> None:
    """The helper itself: drop a line from a result and it fails, naming the line."""
    raw = (FIXTURES / "hl7v2" / "dft_p03_v25_cpt_modifiers.hl7").read_bytes()
    meta = MessageMeta(source="test", today=TODAY)
    result = example_gateway.pipeline.process(raw, meta, MemoryRecords())
    assert check_nothing_vanishes(raw, result) == {"FT1[1]": "claim", "FT1[2]": "claim"}
    (claim,) = result.encounters[0].claims
    claim.service_lines.pop()
    with pytest.raises(AssertionError, match=r"vanished.*FT1\[2\]"):
        check_nothing_vanishes(raw, result)
    claim.service_lines.append(claim.service_lines[0])
    with pytest.raises(AssertionError, match=r"more than one claim.*FT1\[1\]"):
        check_nothing_vanishes(raw, result)


def test_which_lines_are_billable() -> None:
    batch = (FIXTURES / "hl7v2" / "batch_fhs_bhs_v25_two_dft.hl7").read_bytes()
    assert billable_refs(batch, "hl7v2") == ["MSG[1]/FT1[1]", "MSG[2]/FT1[1]"]
    credits = (FIXTURES / "hl7v2" / "dft_p03_v27_credit_payment.hl7").read_bytes()
    assert billable_refs(credits, "hl7v2") == ["FT1[1]"]  # CD and PY are not billable
    fhir = (FIXTURES / "fhir" / "riverside-transaction-urn-uuid.json").read_bytes()
    assert billable_refs(fhir, "fhir-json") == [f"Bundle.entry[{i}].resource" for i in (9, 10, 11)]
    assert billable_refs(b"{not json", "fhir-json") is None
    assert names("FT1[2]-11", "FT1[2]") and not names("FT1[12]-11", "FT1[1]")
    assert names("Bundle.entry[3].resource", "Bundle.entry[3].resource.item[0]")
    assert not names("Bundle.entry[1].resource", "Bundle.entry[10].resource")


@pytest.fixture(scope="module")
def module_gateway(tmp_path_factory: pytest.TempPathFactory) -> Gateway:
    from gateway.examples import write_example_deployment

    return Gateway.from_config(write_example_deployment(tmp_path_factory.mktemp("inv") / "deployment"))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(encounters, min_size=1, max_size=3))
def test_generated_canonical_encounters_keep_every_line(module_gateway: Gateway, generated: list[Encounter]) -> None:
    """The model's hypothesis encounters (tests/test_model.py), sent as canonical JSON through the whole pipeline."""
    body = {"gateway_format": "encounters/1", "encounters": [json.loads(e.model_dump_json()) for e in generated]}
    raw = json.dumps(body).encode()
    meta = MessageMeta(source="fuzz", today=TODAY, clinic_id="riverside")
    check_nothing_vanishes(raw, module_gateway.pipeline.process(raw, meta, MemoryRecords()))
