"""The batcher's stored claims: each claim rendered from its JSON is read
(validated) once, its CLM01 and clinic taken from that read."""

from __future__ import annotations

import pytest

import gateway.delivery.batcher as batcher
from gateway.delivery.batcher import StoredClaim, StoredItems
from gateway.model import Claim
from tests.x12check import fixture_claims

CLAIMS = fixture_claims()


def _rows() -> list[StoredClaim]:
    return [StoredClaim.of(c.model_dump_json(exclude_none=True)) for c in CLAIMS.values()]


def test_a_claim_read_for_rendering_is_not_read_again_for_its_clm01(monkeypatch: pytest.MonkeyPatch) -> None:
    class _NoKey:
        @staticmethod
        def model_validate_json(body: str) -> None:
            raise AssertionError("the claim's JSON was read a second time")

    monkeypatch.setattr(batcher, "_ClaimKey", _NoKey)
    rows = _rows()
    items = StoredItems(Claim, [r.body for r in rows], rows, "x12-837p")
    read = [items[i] for i in range(len(items))]
    assert [(r.id, r.clinic_id) for r in rows] == [(c.id, c.clinic_id) for c in read]


def test_a_claim_never_rendered_still_names_its_clm01_and_clinic() -> None:
    rows = _rows()
    items = StoredItems(Claim, [r.body for r in rows], rows, "x12-837p")
    items[1:3]  # a slice reads those claims
    assert [(r.id, r.clinic_id) for r in rows] == [(c.id, c.clinic_id) for c in CLAIMS.values()]
    assert rows[0].placed is None
