"""Claims placed by the worker (migration 22, ``claims.rendered``): an 837
built from the 2000A/2000B/2000C blocks and 2300 loops a worker stored with
each claim is byte for byte the 837 rendered from the claims themselves;
blocks made for other settings, another pay-to address or other code are not
used; claims stored without blocks (before migration 22, or whose JSON
changed since) render as before; the store keeps the blocks (sealed like the
claim) and drops them when the claim's JSON changes."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from gateway_plugins.renderers.x12 import render as x12render
from gateway_plugins.renderers.x12.render import Claim837Renderer
from gateway_plugins.renderers.x12.settings import X12Settings

from gateway.delivery.batcher import StoredClaim, StoredItems
from gateway.documents import MemoryControlNumbers, RenderContext
from gateway.model import Claim, Diagnosis
from gateway.store import EncounterOutcome, Outcome, Status, Store, open_store
from gateway.store.submissions import NewClaim, content_digest
from tests.pg import store_url  # noqa: F401  (fixture: one URL per backend)
from tests.test_store import new
from tests.x12check import CONFIG, CREATED, assert_valid_837, fixture_claims

CLAIMS = fixture_claims()
LOCKBOX = {"lines": ["PO Box 4100"], "city": "Springfield", "state": "IL", "postal_code": "627014100"}


def _config(pay_to: dict[str, Any] | None = None) -> Any:
    clinics = [SimpleNamespace(id="riverside", settings={"x12": {"pay_to_address": pay_to}})] if pay_to else []
    return SimpleNamespace(submitter=CONFIG.submitter, receiver=CONFIG.receiver, clinics=clinics)


def _ctx(settings: X12Settings, config: Any = CONFIG) -> RenderContext:
    return RenderContext(created=CREATED, config=config, control_numbers=MemoryControlNumbers(), settings=settings)


class _Counted(StoredItems):
    """StoredItems that count the claims read from their JSON."""

    read = 0

    def __getitem__(self, i: Any) -> Any:
        self.read += 1
        return super().__getitem__(i)


def _stored(claims: list[Claim], placed_ctx: RenderContext | None) -> _Counted:
    """The claims as the batcher hands them over: JSON, and the blocks a
    worker placed with ``placed_ctx`` (None: none stored), through JSON text."""
    rows, memo = [], {}  # one memo for the run, as a worker keeps it per destination
    for c in claims:
        body = c.model_dump_json(exclude_none=True)
        data = Claim837Renderer().place(c, placed_ctx, memo) if placed_ctx is not None else None
        text = None if data is None else json.dumps([c.id, c.clinic_id, Claim837Renderer.name, data,
                                                     content_digest("claims", body)])  # fmt: skip
        rows.append(StoredClaim.of(body, text))
    return _Counted(Claim, [r.body for r in rows], rows, Claim837Renderer.name)


def _both(claims: list[Claim], settings: X12Settings, config: Any = CONFIG) -> tuple[list[bytes], list[bytes], int]:
    """(837s from the claims, 837s from the stored blocks, claims read)."""
    fresh = Claim837Renderer().render(claims, _ctx(settings, config))
    items = _stored(claims, _ctx(settings, config))
    placed = Claim837Renderer().render(items, _ctx(settings, config))
    assert [(d.name, d.refs, d.clinic_id) for d in placed] == [(d.name, d.refs, d.clinic_id) for d in fresh]
    return [d.content for d in fresh], [d.content for d in placed], items.read


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_each_fixture_claim_from_its_stored_blocks_is_the_same_837(name: str) -> None:
    fresh, placed, read = _both([CLAIMS[name]], X12Settings())
    assert placed == fresh and read == 0
    assert_valid_837(placed[0])


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"line_ending": "crlf"},
        {"element_separator": "|", "component_separator": ">", "repetition_separator": "!", "segment_terminator": "~"},
        {"uppercase": False, "max_claims_per_transaction": 3},
    ],
)
def test_every_fixture_together_from_stored_blocks_is_the_same_837(settings: dict[str, Any]) -> None:
    many = [CLAIMS["self-second-visit"].model_copy(update={"id": f"RIV-X{i:04d}"}) for i in range(120)]
    clash = CLAIMS["dependent"].model_copy(update={"id": CLAIMS["self"].id})  # a CLM01 sent twice
    claims = [*CLAIMS.values(), clash, *many]
    fresh, placed, read = _both(claims, X12Settings(**settings))
    assert placed == fresh and len(fresh) == 2
    assert read == 2  # only the two claims sharing a CLM01, to order them by content
    for doc in placed:
        assert_valid_837(doc)


def test_a_worker_placing_claim_after_claim_stores_what_each_claim_alone_gives() -> None:
    """The billing provider's blocks are reused from the claim before (the
    memo) only when they are the same."""
    memo: dict[str, Any] = {}
    for ctx in (_ctx(X12Settings()), _ctx(X12Settings(), _config(LOCKBOX))):
        for c in [*CLAIMS.values(), *reversed(CLAIMS.values())]:
            assert Claim837Renderer().place(c, ctx, memo) == Claim837Renderer().place(c, ctx)
        memo.clear()


def test_a_clinic_pay_to_address_is_in_the_stored_blocks() -> None:
    fresh, placed, read = _both(list(CLAIMS.values()), X12Settings(), _config(LOCKBOX))
    assert placed == fresh and read == 0 and b"NM1*87*2~\nN3*PO BOX 4100~" in placed[0]


@pytest.mark.parametrize(
    ("placed_with", "cut_with"),
    [
        ((X12Settings(), CONFIG), (X12Settings(element_separator="|"), CONFIG)),
        ((X12Settings(), CONFIG), (X12Settings(uppercase=False), CONFIG)),
        ((X12Settings(), CONFIG), (X12Settings(), _config(LOCKBOX))),
        ((X12Settings(), _config(LOCKBOX)), (X12Settings(), CONFIG)),
    ],
)
def test_blocks_placed_for_other_settings_are_not_used(placed_with: tuple, cut_with: tuple) -> None:
    """Settings or the pay-to address changed between the worker and the
    cut (a config reload, another destination): every claim is read and
    rendered for the settings in force, as before."""
    claims = list(CLAIMS.values())
    items = _stored(claims, _ctx(*placed_with))
    placed = Claim837Renderer().render(items, _ctx(*cut_with))
    fresh = Claim837Renderer().render(claims, _ctx(*cut_with))
    assert [d.content for d in placed] == [d.content for d in fresh]
    assert items.read == len(claims)


def test_blocks_from_other_code_or_renderer_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    claims = list(CLAIMS.values())
    items = _stored(claims, _ctx(X12Settings()))
    monkeypatch.setattr(x12render, "_code_revision", lambda: "another-release")
    fresh = Claim837Renderer().render(claims, _ctx(X12Settings()))
    assert [d.content for d in Claim837Renderer().render(items, _ctx(X12Settings()))] == [d.content for d in fresh]
    assert items.read == len(claims)
    monkeypatch.undo()
    other = _stored(claims, _ctx(X12Settings()))
    other._renderer = "another-renderer"  # the destination's renderer is not the one that placed them
    assert [d.content for d in Claim837Renderer().render(other, _ctx(X12Settings()))] == [d.content for d in fresh]
    assert other.read == len(claims)


def test_blocks_beside_a_claim_whose_json_changed_are_never_billed() -> None:
    """A writer that changes a claim's JSON but leaves its blocks: the 837
    carries the claim as it is now (the blocks name the JSON they came from)."""
    claim = CLAIMS["self"]
    first = claim.service_lines[0]
    assert first.charge is not None
    changed = claim.model_copy(update={"total_charge": claim.total_charge + 1,
                                       "service_lines": [first.model_copy(update={"charge": first.charge + 1}),
                                                         *claim.service_lines[1:]]})  # fmt: skip
    (old,) = _stored([claim], _ctx(X12Settings()))._claims
    stale = StoredClaim.of(changed.model_dump_json(exclude_none=True), _rendered(old))
    assert stale.placed is None
    items = _Counted(Claim, [stale.body], [stale], Claim837Renderer.name)
    got = Claim837Renderer().render(items, _ctx(X12Settings()))
    fresh = Claim837Renderer().render([changed], _ctx(X12Settings()))
    assert [d.content for d in got] == [d.content for d in fresh] and items.read == 1


def _rendered(c: StoredClaim) -> str:
    """The text a worker stored for ``c`` (as ClaimPlacer writes it)."""
    assert c.placed is not None
    return json.dumps([c.id, c.clinic_id, c.placed[0], c.placed[1], content_digest("claims", c.body)])


def test_claims_stored_without_blocks_mix_with_placed_ones() -> None:
    """Claims from before migration 22 (no blocks) next to placed ones."""
    claims = list(CLAIMS.values())
    half = _stored(claims[::2], _ctx(X12Settings()))
    rest = _stored(claims[1::2], None)
    rows = [*half._claims, *rest._claims]
    items = _Counted(Claim, [r.body for r in rows], rows, Claim837Renderer.name)
    got = Claim837Renderer().render(items, _ctx(X12Settings()))
    fresh = Claim837Renderer().render([*claims[::2], *claims[1::2]], _ctx(X12Settings()))
    assert [d.content for d in got] == [d.content for d in fresh]
    assert items.read == len(claims[1::2])


def test_a_claim_that_cannot_be_written_is_not_placed_and_fails_as_before() -> None:
    bad = CLAIMS["twelve-dx-modifiers"].model_copy(update={"diagnoses": [Diagnosis(code="R05.9")] * 13})
    assert Claim837Renderer().place(bad, _ctx(X12Settings())) is None
    claims = [CLAIMS["self"], bad, CLAIMS["secondary"]]
    errors = []
    for items in (claims, _stored(claims, _ctx(X12Settings()))):
        with pytest.raises(x12render.X12RenderError) as exc:
            Claim837Renderer().render(items, _ctx(X12Settings()))
        errors.append(str(exc.value))
    assert errors[0] == errors[1]


# -- the store: claims.rendered ------------------------------------------------


@pytest.fixture
def store(store_url: str) -> Store:  # noqa: F811
    s = open_store(store_url)
    yield s
    s.close()


def _outcome(mid: int, claim: Claim, rendered: str | None) -> Outcome:
    text = claim.model_dump_json(exclude_none=True)
    item = NewClaim(claim.id, claim.payer.id, str(claim.total_charge), text, 1, content_digest("claims", text),
                    rendered=rendered)  # fmt: skip
    enc = EncounterOutcome(idx=0, clinic_id="riverside", visit=f"V{mid}", status=Status.CLAIMED,
                           encounter=json.dumps({"visit": f"V{mid}"}), findings=[], claims=[item])  # fmt: skip
    return Outcome(message_id=mid, status=Status.CLAIMED, findings=[], clinic_id="riverside", encounters=[enc])


def test_the_store_keeps_the_blocks_and_drops_them_when_the_claim_changes(store: Store) -> None:
    placed = json.dumps(["RIV-1001", "riverside", "x12-837p", ["p", True, [], [], [], []]])
    store.journal([new(b"M1"), new(b"M2")])
    a, b = store.claim("w", 2, 60)
    store.complete("w", [_outcome(a.id, CLAIMS["self"], placed), _outcome(b.id, CLAIMS["dependent"], None)])
    rows = {w.row: w for w in store.waiting("claims")}
    items = {i.body and json.loads(i.body)["id"]: i for i in store.batch_items("claims", sorted(rows))}
    assert items["RIV-1001"].rendered == placed
    assert items[CLAIMS["dependent"].id].rendered is None
    # the claim's JSON changes (a replacement quoting the payer's ICN): its blocks go
    row = items["RIV-1001"].row
    with store.write() as cur:  # type: ignore[attr-defined]
        store._as_frequency(cur, row, "7", "ICN123", None, 0.0)  # type: ignore[attr-defined]
    (after,) = store.batch_items("claims", [row])
    assert after.rendered is None and json.loads(after.body)["frequency_code"] == "7"


def test_a_worker_places_claims_a_group_at_a_time_and_all_before_storing() -> None:
    from gateway.worker import PLACE_GROUP, Placing, new_claim

    seen: list[tuple[str, str | None]] = []

    def place(claim: Claim, clinic_id: str | None, digest: str) -> str | None:
        assert digest == content_digest("claims", claim.model_dump_json(exclude_none=True))
        seen.append((claim.id, clinic_id))
        return None if claim.id.endswith("7") else f"placed {claim.id}"

    claims = [CLAIMS["self"].model_copy(update={"id": f"C{i}"}) for i in range(PLACE_GROUP + 10)]
    placing = Placing(place)
    first = [new_claim(c) for c in claims[: PLACE_GROUP - 1]]  # one encounter's claims
    rest = [new_claim(c) for c in claims[PLACE_GROUP - 1 :]]  # the next one's
    placing.add(first, claims[: PLACE_GROUP - 1], "riverside")
    assert seen == []  # not a group yet
    placing.add(rest, claims[PLACE_GROUP - 1 :], "riverside")
    assert len(seen) == len(claims)  # a group: placed at once
    placing.flush()
    assert len(seen) == len(claims) and placing.waiting == []
    assert [s.rendered for s in [*first, *rest]] == [None if c.id.endswith("7") else f"placed {c.id}" for c in claims]
