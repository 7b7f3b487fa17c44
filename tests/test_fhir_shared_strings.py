"""Large FHIR messages have their equal strings shared while they are parsed
(issue 17 item 6: the decoded bundle is alive while every visit is built).
Sharing changes no value: every fixture and a generated billing bundle give
the same encounters, claims, statements, findings and record updates with
and without it; the memory it saves is in tests/security/test_memory.py and
benchmarks/bench_memory.py."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from gateway_plugins.inbound.fhir import reader
from gateway_plugins.inbound.fhir.reader import SHARE_STRINGS_BYTES, share_strings
from gateway_plugins.inbound.fhir.sniff import load_json

from gateway.app import Gateway
from gateway.messages import MemoryRecords, MessageMeta
from gateway.pipeline import MessageResult
from tests.security.inputs import fhir_billing_bundle
from tests.test_fhir_fixtures import FHIR, TODAY


def test_share_strings_keeps_every_value_and_makes_equal_strings_one_object() -> None:
    raw = fhir_billing_bundle(60_000)
    doc, again = load_json(raw), load_json(raw)
    refs = [e["resource"]["subject"]["reference"] for e in doc["entry"] if "subject" in e["resource"]]
    assert len(refs) > 10 and len({id(r) for r in refs}) == len(refs)  # json.loads: one object per value
    share_strings(doc)
    assert doc == again and json.dumps(doc, default=str) == json.dumps(again, default=str)
    refs = [e["resource"]["subject"]["reference"] for e in doc["entry"] if "subject" in e["resource"]]
    assert len({id(r) for r in refs}) == len(set(refs)) < len(refs)
    numbers = _amounts(doc)  # untouched: the same objects, decimals still Decimal
    assert Decimal in {type(v) for v in numbers} and [type(v) for v in numbers] == [type(v) for v in _amounts(again)]


def _amounts(doc: Any) -> list[Any]:
    out = []
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            out += [v for k, v in node.items() if k == "value" and not isinstance(v, str | dict | list)]
            stack += node.values()
        elif isinstance(node, list):
            stack += node
    return out


def _outcome(result: MessageResult) -> dict[str, Any]:
    return {
        "findings": [f.model_dump(mode="json") for f in result.findings],
        "encounters": [
            {
                "encounter": e.encounter.model_dump(mode="json"),
                "claims": [c.model_dump(mode="json") for c in e.claims],
                "statements": [s.model_dump(mode="json") for s in e.statements],
                "findings": [f.model_dump(mode="json") for f in e.findings],
            }
            for e in result.encounters
        ],
        "updates": [(u.kind, u.key, json.dumps(u.value, sort_keys=True, default=str)) for u in result.updates],
    }


def _run(gw: Gateway, raw: bytes, name: str, clinic_id: str | None) -> dict[str, Any]:
    meta = MessageMeta(source="test", today=TODAY, name=name, clinic_id=clinic_id)
    return _outcome(gw.pipeline.process(raw, meta, MemoryRecords()))


@pytest.mark.parametrize(
    "name", [*sorted(p.name for p in FHIR.iterdir() if p.is_file()), "generated billing bundle (300 KB)"]
)
def test_parsing_with_shared_strings_gives_the_same_results(
    example_gateway: Gateway, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if name.startswith("generated"):
        raw, clinic_id = fhir_billing_bundle(300_000), "lakeside"
        assert len(raw) >= SHARE_STRINGS_BYTES  # shared by default
    else:
        raw, clinic_id = Path(FHIR / name).read_bytes(), None
    monkeypatch.setattr(reader, "SHARE_STRINGS_BYTES", 10**12)
    plain = _run(example_gateway, raw, name, clinic_id)
    monkeypatch.setattr(reader, "SHARE_STRINGS_BYTES", 0)
    shared = _run(example_gateway, raw, name, clinic_id)
    assert shared == plain
    assert plain["encounters"] or plain["findings"]
