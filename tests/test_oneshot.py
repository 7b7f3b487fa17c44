"""One-shot runs: claims are unique per clinic by CLM01."""

from __future__ import annotations

import json

from gateway.app import Gateway
from gateway.oneshot import DUPLICATE_CLAIM, Run
from tests.conftest import FIXTURES, TODAY

INSURED = json.loads((FIXTURES / "encounters" / "riverside-insured.json").read_text())


def variant(message_id: str, charge: str | None = None) -> bytes:
    doc = json.loads(json.dumps(INSURED))
    doc["message_id"] = message_id
    if charge:
        doc["encounters"][0]["service_lines"][0]["charge"] = charge
    return json.dumps(doc).encode()


def test_same_claim_from_two_messages_is_billed_once(example_gateway: Gateway) -> None:
    run = Run(gateway=example_gateway, today=TODAY)
    run.process_bytes(variant("M1"), "a.json")
    second = run.process_bytes(variant("M2"), "b.json")  # other bytes, same claim
    assert second is not None and not second.encounters[0].claims
    assert [c.id for c in run.claims["riverside"]] == ["V10001"]
    assert run.summary.duplicate_claims == 1 and run.summary.duplicates == 0 and run.summary.encounters_quarantined == 0


def test_different_claim_under_a_used_clm01_is_quarantined(example_gateway: Gateway) -> None:
    run = Run(gateway=example_gateway, today=TODAY)
    run.process_bytes(variant("M1"), "a.json")
    second = run.process_bytes(variant("M2", charge="999.00"), "b.json")
    assert second is not None
    (enc,) = second.encounters
    assert enc.quarantined and not enc.claims
    assert [f.rule for f in enc.findings if f.is_error] == [DUPLICATE_CLAIM]
    assert run.summary.reasons[DUPLICATE_CLAIM] == 1
    assert len(run.claims["riverside"]) == 1
