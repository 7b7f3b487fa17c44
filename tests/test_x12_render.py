"""The x12-837p renderer: pyx12-valid interchanges, round trip of claim
facts, envelope counts and control numbers, HL grouping, determinism."""

from __future__ import annotations

import weakref
from decimal import Decimal
from typing import Any

import pytest
from gateway_plugins.renderers.x12.facts import facts_of, to_claim
from gateway_plugins.renderers.x12.reader import read_837
from gateway_plugins.renderers.x12.render import Claim837Renderer, X12RenderError
from gateway_plugins.renderers.x12.settings import X12Settings
from gateway_plugins.renderers.x12.syntax import tokenize
from pydantic import ValidationError

from gateway.delivery.batcher import StoredItems
from gateway.documents import MemoryControlNumbers, RenderContext
from gateway.model import Address, Claim, Diagnosis, PersonName, Provider
from tests.x12check import (
    CREATED,
    REFERRING,
    RENDERING,
    assert_valid_837,
    fixture_claims,
    pyx12_errors,
    render,
)

CLAIMS = fixture_claims()


def _segments(data: bytes) -> list[list[str]]:
    return [s.elements for s in tokenize(data).segments]


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_each_fixture_claim_is_valid_and_round_trips(name: str) -> None:
    claim = CLAIMS[name]
    doc = render([claim])
    assert_valid_837(doc.content)
    read = read_837(doc.content)
    assert read.problems == []
    assert read.claims == [facts_of(claim)]


def test_all_fixtures_in_one_file_group_by_billing_provider_and_subscriber() -> None:
    claims = list(CLAIMS.values())
    doc = render(claims)
    assert_valid_837(doc.content)
    read = read_837(doc.content)
    assert read.problems == []
    assert sorted(read.claims, key=lambda f: f.claim_id) == sorted(map(facts_of, claims), key=lambda f: f.claim_id)
    segs = _segments(doc.content)
    # two billing providers: two transaction sets, each starting its HLs at 1
    assert [s[2] for s in segs if s[0] == "ST"] == ["0001", "0002"]
    assert len([s for s in segs if s[0] == "HL" and s[3] == "20"]) == 2
    # Alma's four riverside claims share one subscriber HL
    hl_of_clm: dict[str, str] = {}
    current = ""
    for s in segs:
        if s[0] == "HL":
            current = s[1]
        elif s[0] == "CLM":
            hl_of_clm[s[1]] = current
    assert len({hl_of_clm[c] for c in ("RIV-1001", "RIV-1001R", "RIV-1002", "RIV-4001")}) == 1
    # the dependent's claim sits under a patient HL whose parent is a subscriber HL with HL04 = 1
    second_st = next(i for i, s in enumerate(segs) if s[0] == "ST" and s[2] == "0002")
    hls = {s[1]: s for s in segs[second_st:] if s[0] == "HL"}
    child = hls[hl_of_clm["RIV-2003"]]
    assert child[3] == "23" and hls[child[2]][3] == "22" and hls[child[2]][4] == "1"


def test_envelope_counts_and_control_numbers() -> None:
    numbers = MemoryControlNumbers()
    render([CLAIMS["self"]], numbers)  # advance the counters once
    doc = render(list(CLAIMS.values()), numbers)
    text = doc.content.decode()
    assert len(text.split("\n", 1)[0]) == 106
    segs = _segments(doc.content)
    isa, gs, iea, ge = segs[0], segs[1], segs[-1], segs[-2]
    assert isa[13] == "000000002" == iea[2] and iea[1] == "1"
    assert gs[6] == ge[2] == "2" and gs[8] == "005010X222A1"
    sts = [i for i, s in enumerate(segs) if s[0] == "ST"]
    assert ge[1] == str(len(sts))
    for start in sts:
        end = next(i for i in range(start, len(segs)) if segs[i][0] == "SE")
        assert segs[end][1] == str(end - start + 1)
        assert segs[end][2] == segs[start][2] and segs[start][3] == "005010X222A1"
    assert next(s for s in segs if s[0] == "BHT")[1:3] == ["0019", "00"]
    assert doc.name == "riverside-837P-20261127-091500-000000002.x12"


def test_line_control_numbers_and_lx_are_deterministic() -> None:
    segs = _segments(render([CLAIMS["twelve-dx-modifiers"]]).content)
    assert [s[1] for s in segs if s[0] == "LX"] == ["1", "2", "3"]
    assert [s[2] for s in segs if s[:2] == ["REF", "6R"]] == ["RIV-5001-1", "RIV-5001-2", "RIV-5001-3"]
    hi = next(s for s in segs if s[0] == "HI")
    assert hi[1] == "ABK:J069" and all(e.startswith("ABF:") for e in hi[2:]) and len(hi) == 13
    assert all("." not in e for e in hi)


def test_same_claims_same_bytes_whatever_the_input_order() -> None:
    claims = list(CLAIMS.values())
    a = render(claims)
    b = render(list(reversed(claims)))
    assert a.content == b.content and a.name == b.name


def test_transaction_limit_splits_sets() -> None:
    doc = render(list(CLAIMS.values()), max_claims_per_transaction=2)
    assert_valid_837(doc.content)
    segs = _segments(doc.content)
    riverside = sum(c.billing_provider.npi == "1234567893" for c in CLAIMS.values())
    assert riverside == 9  # with 1 lakeside claim: 1 + 5 sets, 2 per set
    assert len([s for s in segs if s[0] == "ST"]) == 1 + (riverside + 1) // 2
    assert len(read_837(doc.content).claims) == len(CLAIMS)


@pytest.mark.parametrize(
    "settings",
    [
        {"line_ending": "crlf"},
        {"line_ending": "none"},
        {"element_separator": "|", "component_separator": ">", "repetition_separator": "!", "segment_terminator": "~"},
        {"usage_indicator": "P", "sender_id": "SUBMIT99", "sender_qualifier": "30", "uppercase": False},
    ],
)
def test_delimiters_line_endings_and_ids_from_settings(settings: dict) -> None:
    doc = render(list(CLAIMS.values()), **settings)
    assert_valid_837(doc.content)
    read = read_837(doc.content)
    assert read.problems == [] and len(read.claims) == len(CLAIMS)
    isa = _segments(doc.content)[0]
    if "sender_id" in settings:
        assert isa[5:7] == ["30", "SUBMIT99       "] and isa[15] == "P"
    if settings.get("line_ending") == "crlf":
        assert b"~\r\n" in doc.content


def test_pay_to_address_from_clinic_settings() -> None:
    from types import SimpleNamespace

    from tests.x12check import CONFIG

    lockbox = {"lines": ["PO Box 4100"], "city": "Springfield", "state": "IL", "postal_code": "627014100"}
    clinic = SimpleNamespace(id="riverside", settings={"x12": {"pay_to_address": lockbox}})
    config = SimpleNamespace(submitter=CONFIG.submitter, receiver=CONFIG.receiver, clinics=[clinic])
    doc = render([CLAIMS["self"]], config=config)
    assert_valid_837(doc.content)
    assert b"NM1*87*2~\nN3*PO BOX 4100~" in doc.content


def test_delimiters_inside_values_are_cleaned() -> None:
    claim = CLAIMS["self"].model_copy(deep=True)
    claim.patient.address = Address(lines=["1*2 Odd~Street:Apt^3"], city="Springfield", state="IL", postal_code="62701")
    claim.coverage.subscriber.address = claim.patient.address
    claim.coverage.subscriber.name.family = "Tést*Person"
    doc = render([claim])
    assert_valid_837(doc.content)
    assert b"N3*1 2 ODD STREET APT 3~" in doc.content and b"*TEST PERSON*" in doc.content


def test_unrepresentable_claims_are_refused_naming_the_claim() -> None:
    claim = CLAIMS["twelve-dx-modifiers"].model_copy(update={"diagnoses": [Diagnosis(code="R05.9")] * 13})
    with pytest.raises(X12RenderError, match=r"RIV-5001.*13 diagnoses"):
        render([claim])
    with pytest.raises(X12RenderError, match="original claim"):
        render([CLAIMS["replacement"].model_copy(update={"original_reference": None})])


def test_corrupted_copy_fails_pyx12() -> None:
    doc = render([CLAIMS["self"], CLAIMS["dependent"]])
    assert pyx12_errors(doc.content) == []
    no_hi = doc.content.replace(b"HI*ABK:J069*ABF:R059~\n", b"")
    errors = pyx12_errors(no_hi)
    assert any(e.seg_id == "HI" and "missing" in e.message for e in errors)
    assert any("SE count" in e.message for e in errors)
    bad_hl = doc.content.replace(b"HL*4*3*23*0~", b"HL*4*7*23*0~")
    assert bad_hl != doc.content and pyx12_errors(bad_hl)


def test_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="must all differ"):
        X12Settings(element_separator="*", component_separator="*")
    with pytest.raises(ValidationError, match="isa13"):
        X12Settings(file_name="{clinic}.x12")
    with pytest.raises(ValidationError, match="path separators"):
        X12Settings(file_name="../{isa13}.x12")
    with pytest.raises(ValidationError):
        X12Settings(usage_indicator="X")


def test_amounts_keep_cents_and_never_use_exponents() -> None:
    claim = CLAIMS["self"].model_copy(deep=True)
    claim.service_lines[0].charge = Decimal("100.00")
    claim.service_lines[1].charge = Decimal("0.10")
    claim.total_charge = Decimal("100.10")
    segs = _segments(render([claim]).content)
    assert next(s for s in segs if s[0] == "CLM")[2] == "100.1"
    assert [s[2] for s in segs if s[0] == "SV1"] == ["100", "0.1"]
    claim.service_lines[0].charge = Decimal("1e30")
    with pytest.raises(X12RenderError, match="an amount has more digits than an X12 element carries"):
        render([claim])  # a typed refusal, not InvalidOperation
    claim.service_lines[0].charge = Decimal("100.00")
    claim.service_lines[1].charge = Decimal("0.00")  # a no-charge line (found by tests/test_fuzz.py)
    claim.total_charge = Decimal("100.00")
    doc = render([claim])
    assert [s[2] for s in _segments(doc.content) if s[0] == "SV1"] == ["100", "0"]
    assert_valid_837(doc.content)


def test_more_than_100_claims_for_one_subscriber_open_new_hls() -> None:
    self_claims = [CLAIMS["self-second-visit"].model_copy(update={"id": f"RIV-X{i:04d}"}) for i in range(130)]
    child_claims = [CLAIMS["dependent"].model_copy(update={"id": f"RIV-D{i:04d}"}) for i in range(105)]
    doc = render(self_claims + child_claims)
    assert_valid_837(doc.content)  # pyx12 enforces the 2300 repeat limit of 100
    segs = _segments(doc.content)
    levels = [s[3] for s in segs if s[0] == "HL"]
    assert levels == ["20", "22", "23", "23", "22", "22"]
    assert len(read_837(doc.content).claims) == 235


def test_repeated_clm01_never_shares_an_interchange() -> None:
    from tests.x12check import CONFIG

    same = CLAIMS["self"]
    clash = CLAIMS["dependent"].model_copy(update={"id": same.id})
    ctx = RenderContext(created=CREATED, config=CONFIG, control_numbers=MemoryControlNumbers(), settings=X12Settings())
    docs = Claim837Renderer().render([same, clash, same, CLAIMS["secondary"]], ctx)
    assert len(docs) == 2 and docs[0].name != docs[1].name
    for doc in docs:
        assert_valid_837(doc.content)
        ids = [c.claim_id for c in read_837(doc.content).claims]
        assert len(ids) == len(set(ids))
    assert sorted(len(d.refs) for d in docs) == [1, 2]


def test_patient_paid_is_amt_f5_in_the_2300_loop() -> None:
    """A copay collected at the visit: AMT*F5 after the claim dates and
    before REF*F8 and HI, read back by the reader, pyx12-valid."""
    claims = []
    for name in ("self", "inpatient", "replacement"):
        claim = CLAIMS[name].model_copy(update={"patient_paid": Decimal("25.50")})
        claims.append(claim)
        doc = render([claim])
        assert_valid_837(doc.content)
        ids = [s[0] if s[0] != "AMT" else f"AMT*{s[1]}" for s in _segments(doc.content)]
        clm = ids.index("CLM")
        expected = {"self": ["CLM", "AMT*F5", "HI"], "inpatient": ["CLM", "DTP", "AMT*F5", "HI"],
                    "replacement": ["CLM", "AMT*F5", "REF", "HI"]}[name]  # fmt: skip
        assert ids[clm : clm + len(expected)] == expected
        assert next(s for s in _segments(doc.content) if s[0] == "AMT")[2] == "25.5"
        (facts,) = read_837(doc.content).claims
        assert facts == facts_of(claim) and facts.patient_paid == Decimal("25.50")
        assert to_claim(facts).patient_paid == Decimal("25.50")
    for paid in (None, Decimal("0.00")):
        doc = render([CLAIMS["self"].model_copy(update={"patient_paid": paid})])
        assert b"AMT*F5" not in doc.content and read_837(doc.content).claims[0].patient_paid is None
    assert_valid_837(render(claims).content)


def test_line_ordering_and_referring_providers_are_2420e_and_2420f() -> None:
    claim = CLAIMS["self"].model_copy(deep=True)
    claim.service_lines[1].ordering_provider = REFERRING
    claim.service_lines[1].referring_provider = RENDERING.model_copy(update={"taxonomy": None})
    claim.service_lines[0].referring_provider = Provider(name=PersonName(family="Nonpi"))  # no NPI: not written
    doc = render([claim])
    assert_valid_837(doc.content)
    segs = _segments(doc.content)
    second_line = [s[:2] for s in segs[[s[0] for s in segs].index("LX", segs.index(["LX", "1"]) + 1) :]]
    assert second_line[:6] == [["LX", "2"], ["SV1", "HC:87880:QW"], ["DTP", "472"], ["REF", "6R"], ["NM1", "DK"],
                               ["NM1", "DN"]]  # fmt: skip
    (facts,) = read_837(doc.content).claims
    assert facts == facts_of(claim)
    assert (facts.lines[1].ordering_npi, facts.lines[1].referring_npi) == (REFERRING.npi, RENDERING.npi)
    back = to_claim(facts)
    assert back.service_lines[1].ordering_provider == Provider(npi=REFERRING.npi)
    assert back.service_lines[0].referring_provider is None


class _Reads(StoredItems):
    """The batcher's StoredItems, counting reads and the claims it handed out still alive at each read."""

    def __init__(self, claims: list[Claim]) -> None:
        super().__init__(Claim, [c.model_dump_json() for c in claims])
        self.handed: list[weakref.ref] = []
        self.most_alive = 0

    def __getitem__(self, i: Any) -> Any:
        self.most_alive = max(self.most_alive, sum(r() is not None for r in self.handed))
        claim = super().__getitem__(i)
        self.handed.append(weakref.ref(claim))
        return claim


def _context(numbers: MemoryControlNumbers) -> RenderContext:
    from tests.x12check import CONFIG

    return RenderContext(created=CREATED, config=CONFIG, control_numbers=numbers, settings=X12Settings())


def test_a_batch_read_claim_by_claim_gives_the_same_bytes_holding_one_claim_at_a_time() -> None:
    """The batcher gives the renderer the stored JSON (StoredItems): each
    claim is read once (placed with its 2300 loop; a repeated CLM01 once
    more, to order by content) and at most the claim being read and the one
    before it are alive; the documents are the bytes the claims held as
    models give (two billing providers, a dependent, a CLM01 sent twice
    with different content, more than 100 claims under one subscriber HL)."""
    many = [CLAIMS["self-second-visit"].model_copy(update={"id": f"RIV-X{i:04d}"}) for i in range(120)]
    clash = CLAIMS["dependent"].model_copy(update={"id": CLAIMS["self"].id})
    claims = [*CLAIMS.values(), clash, *many]
    held_numbers, read_numbers = MemoryControlNumbers(), MemoryControlNumbers()
    held = Claim837Renderer().render(claims, _context(held_numbers))
    reads = _Reads(claims)
    read = Claim837Renderer().render(reads, _context(read_numbers))
    assert [d.content for d in read] == [d.content for d in held] and len(held) == 2
    assert [(d.name, d.refs) for d in read] == [(d.name, d.refs) for d in held]
    for doc in read:
        assert_valid_837(doc.content)
    assert len(reads.handed) == len(claims) + 2
    assert reads.most_alive <= 1  # the previous read is let go of before the next


def test_a_batch_read_claim_by_claim_fails_as_the_held_one_did() -> None:
    """A claim that cannot be written fails the render with the same error
    and the same control numbers used, whether the claims are held or read
    one at a time (the batcher then isolates it)."""
    bad = CLAIMS["twelve-dx-modifiers"].model_copy(update={"diagnoses": [Diagnosis(code="R05.9")] * 13})
    bad_sub = CLAIMS["dependent"].model_copy(update={"id": "RIV-Z1"})
    bad_sub.coverage.subscriber.member_id = "X~Y"
    for claims in ([CLAIMS["self"], bad, CLAIMS["secondary"]], [CLAIMS["self"], bad_sub, bad]):
        errors, used = [], []
        for items in (claims, _Reads(claims)):
            numbers = MemoryControlNumbers()
            with pytest.raises(X12RenderError) as exc:
                Claim837Renderer().render(items, _context(numbers))
            errors.append(str(exc.value))
            used.append(numbers._n)
        assert errors[0] == errors[1] and used[0] == used[1]
