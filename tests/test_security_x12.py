"""X12 segment injection (issue 17, item 1): attacks from the review end to
end through the pipeline, every string field of a claim poisoned in turn,
and hypothesis feeding random Unicode into claims (docs/security-x12.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gateway_plugins.renderers.x12.values import X12RenderError, X12ValueError
from gateway_plugins.rules.scrubber import scrub
from gateway_plugins.rules.scrubber.base import Context
from hypothesis import HealthCheck, given, settings

from gateway.app import Gateway
from gateway.documents import MemoryControlNumbers, RenderContext
from gateway.messages import MemoryRecords, MessageMeta
from gateway.model import Claim, Finding
from tests.conftest import FIXTURES, TODAY
from tests.strategies import hostile_claims, is_text, location, string_fields
from tests.x12check import CREATED, assert_segments_intact, assert_valid_837, check_render, fixture_claims, render

CLAIMS = fixture_claims()
BASE = list(CLAIMS.values())
POISON = "62701~NM1*ZZ*9"
HL7 = (FIXTURES / "hl7v2" / "dft_p03_v25_cpt_modifiers.hl7").read_bytes()
IN1_ADDRESS = b"19800115|100 Sample Street^Apt 2^Springfield^IL^62701^USA|"


def _process(gw: Gateway, raw: bytes) -> Any:
    return gw.pipeline.process(raw, MessageMeta(source="test", today=TODAY), MemoryRecords())


def _render_as_the_batcher(gw: Gateway, claims: list[Claim]) -> bytes:
    """Render like the delivery batcher: the clinic's claims destination, its format settings."""
    dest = gw.clinics["riverside"].config.claims_to
    assert dest is not None
    ctx = RenderContext(created=CREATED, config=gw.config, control_numbers=MemoryControlNumbers(),
                        settings=gw.format_settings.get(dest), clinics=gw.clinics)  # fmt: skip
    (doc,) = gw.renderer(dest).render(claims, ctx)
    return doc.content


def _fhir_attack() -> bytes:
    bundle = json.loads((FIXTURES / "fhir" / "riverside-transaction-urn-uuid.json").read_text())
    (patient,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    patient["address"][0]["postalCode"] = POISON
    return json.dumps(bundle).encode()


def _canonical_attack() -> bytes:
    doc = json.loads((FIXTURES / "encounters" / "riverside-insured.json").read_text())
    doc["encounters"][0]["patient"]["address"]["postal_code"] = POISON
    return json.dumps(doc).encode()


def _hl7_attack() -> bytes:
    raw = HL7.replace(IN1_ADDRESS, IN1_ADDRESS.replace(b"^62701^", b"^62701\\R\\REF*X*Y^"))
    assert raw != HL7
    return raw


PATIENT_ZIP, SUBSCRIBER_ZIP = "claim.patient.address.postal_code", "claim.coverage.subscriber.address.postal_code"
ATTACKS = {
    "fhir-postalCode": (_fhir_attack, {PATIENT_ZIP, SUBSCRIBER_ZIP}),  # the FHIR reader copies it to the subscriber
    "hl7-IN1-19-zip": (_hl7_attack, {SUBSCRIBER_ZIP}),
    "canonical-postal_code": (_canonical_attack, {PATIENT_ZIP}),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_injected_zip_is_quarantined_never_rendered(example_gateway: Gateway, name: str) -> None:
    make, locations = ATTACKS[name]
    result = _process(example_gateway, make())
    (enc,) = result.encounters
    assert enc.quarantined and not enc.claims  # held back: nothing to render
    hits = [f for f in enc.findings if f.rule == "SCRUB-X12-ID"]
    assert {f.location for f in hits} == locations and all(f.is_error for f in hits)
    assert not any(word in f.message for f in hits for word in ("62701", "NM1", "REF"))  # no value quoted


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_without_the_scrubber_the_renderer_refuses_the_claim(example_config: Path, name: str) -> None:
    """The renderer is the last line of defence: a typed error the batcher
    turns into a failed claim, never a file with an extra segment."""
    text = example_config.read_text()
    assert "\n  disable: []" in text
    example_config.write_text(text.replace("\n  disable: []", "\n  disable: [scrubber]", 1))
    gw = Gateway.from_config(example_config)
    make, _location = ATTACKS[name]
    (enc,) = _process(gw, make()).encounters
    assert not enc.quarantined, "with the scrubber off nothing else stops the claim"
    with pytest.raises(X12ValueError, match=r"claim \S+ cannot be written as an 837P: .*ZIP code contains a separator"):
        _render_as_the_batcher(gw, enc.claims)
    with pytest.raises(X12RenderError) as info:
        _render_as_the_batcher(gw, enc.claims)
    assert "62701" not in str(info.value)


def test_clean_inputs_still_render(example_gateway: Gateway) -> None:
    for raw in (HL7, (FIXTURES / "encounters" / "riverside-insured.json").read_bytes()):
        (enc,) = _process(example_gateway, raw).encounters
        assert not enc.quarantined
        data = _render_as_the_batcher(example_gateway, enc.claims)
        assert_valid_837(data)
        assert_segments_intact(data, enc.claims)


def test_hl7_control_characters_never_reach_an_element(example_gateway: Gateway) -> None:
    raw = HL7.replace(b"TESTPATIENT^ALPHA^Q|SEL", b"TESTPA\\X07\\TIENT^AL\\X1B\\PHA^Q|SEL")
    assert raw != HL7
    (enc,) = _process(example_gateway, raw).encounters
    assert not enc.quarantined
    data = _render_as_the_batcher(example_gateway, enc.claims)
    assert all(32 <= b < 127 or b == 10 for b in data)  # printable ASCII and the line ending only
    assert b"NM1*IL*1*TESTPATIENT*ALPHA*Q" in data
    assert_valid_837(data)


def test_a_shifted_address_is_a_finding_not_a_cut(example_gateway: Gateway) -> None:
    """IN1-19 without its state: the ZIP lands in the state, "USA" in the ZIP."""
    raw = HL7.replace(IN1_ADDRESS, b"19800115|100 Sample Street^Apt 2^Springfield^62701^USA|")
    (enc,) = _process(example_gateway, raw).encounters
    where = "claim.coverage.subscriber.address"
    errors = {(f.rule, f.location) for f in enc.findings if f.is_error}
    assert {("SCRUB-STATE", f"{where}.state"), ("SCRUB-ZIP", f"{where}.postal_code")} <= errors
    claim = CLAIMS["dependent"].model_copy(deep=True)
    claim.coverage.subscriber.address.state = "62701"  # type: ignore[union-attr]
    with pytest.raises(X12ValueError, match="state is longer than the 2 characters"):
        render([claim])  # never "62"


@pytest.mark.parametrize("zip_", ["ABCDE", "../../x", "6270", "627011", "62701-00"])
def test_garbage_zip_codes_are_findings(zip_: str) -> None:
    claim = CLAIMS["self"].model_copy(deep=True)
    claim.patient.address.postal_code = zip_  # type: ignore[union-attr]
    found = [(f.rule, f.location) for f in _scrub(claim) if f.is_error]
    assert found == [("SCRUB-ZIP", "claim.patient.address.postal_code")]


def test_a_member_id_is_never_rewritten() -> None:
    claim = CLAIMS["self"].model_copy(deep=True)
    claim.coverage.subscriber.member_id = "xhp-0001/a"
    assert b"*MI*xhp-0001/a~" in render([claim]).content  # not upper-cased, not cleaned
    for bad in ("XHP*0001", "XHP\x070001", "XHP0001é", "X" * 81):
        claim.coverage.subscriber.member_id = bad
        with pytest.raises(X12ValueError, match=r"RIV-1001.*member id"):
            render([claim])
        assert ("SCRUB-X12-ID", "claim.coverage.subscriber.member_id") in {(f.rule, f.location) for f in _scrub(claim)}


def _scrub(claim: Claim) -> list[Finding]:
    return scrub(claim, Context(today=TODAY))


def _poisoned(name: str) -> list[tuple[str, str, Claim]]:
    """(fixture, path, claim with POISON in that string field) for every string field."""
    out = []
    for path, _owner, _field, _index in string_fields(CLAIMS[name]):
        claim = CLAIMS[name].model_copy(deep=True)
        for p, owner, field, index in string_fields(claim):
            if p == path:
                if index is None:
                    setattr(owner, field, POISON)
                else:
                    getattr(owner, field)[index] = POISON
        out.append((name, path, claim))
    return out


POISONED = [
    case
    for name in ("rendering-facility", "secondary", "dependent", "replacement", "situational")
    for case in _poisoned(name)
]


@pytest.mark.parametrize(("name", "path", "claim"), POISONED, ids=[f"{n}:{p}" for n, p, _ in POISONED])
def test_every_string_field_is_refused_or_cleaned(name: str, path: str, claim: Claim) -> None:
    """POISON in each string field of a claim in turn: an identifier is refused
    (and the scrubber names it), free text is cleaned (and the scrubber warns);
    never an extra segment."""
    findings = {(f.rule, f.location) for f in _scrub(claim)}
    try:
        doc = render([claim])
    except X12ValueError:
        assert not is_text(path)
        assert ("SCRUB-X12-ID", location(path)) in findings
        return
    assert_segments_intact(doc.content, [claim])
    assert b"ZZ*9" not in doc.content.replace(b"ZZ 9", b"")
    if is_text(path) and b"62701 NM1 ZZ 9" in doc.content:  # written here: the scrubber said it would change
        assert ("SCRUB-X12-TEXT", location(path)) in findings


def test_poisoning_reached_identifiers_and_text() -> None:
    refused = written = 0
    for _name, path, claim in POISONED:
        try:
            render([claim])
            written += is_text(path)
        except X12ValueError:
            refused += 1
    assert refused >= 25 and written >= 20  # the walk covers both kinds, not a few fields


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_claims(BASE, only_text=True))
def test_random_text_renders_with_its_segments_intact_and_pyx12_valid(claim: Claim) -> None:
    check_render(claim, validate=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_claims(BASE))
def test_random_unicode_in_every_string_field_never_adds_a_segment(claim: Claim) -> None:
    check_render(claim, validate=False)


def test_renderer_output_is_ascii_even_for_a_claim_full_of_unicode() -> None:
    claim = CLAIMS["dependent"].model_copy(deep=True)
    claim.patient.name.family = "Müller-Lüdenscheidt 李 \u202e"
    claim.patient.address.lines = ["Straße 1\u2028Hinterhaus", "Wohnung 2\t3"]  # type: ignore[union-attr]
    data = render([claim]).content
    assert b"NM1*QC*1*MULLER-LUDENSCHEIDT*KIDDO****" not in data  # suffix still there
    assert b"NM1*QC*1*MULLER-LUDENSCHEIDT*KIDDO***JR~" in data
    assert b"N3*STRASSE 1 HINTERHAUS*WOHNUNG 2 3~" in data
    assert_valid_837(data)
    warnings = {f.location for f in _scrub(claim) if f.rule == "SCRUB-X12-TEXT"}
    assert warnings == {"claim.patient.name.family"}  # ß, accents, breaks: no visible change; 李: one


def test_birth_date_and_money_are_not_strings() -> None:
    """The walk covers strings; dates, amounts and enums are typed by the model."""
    paths = [p for p, *_ in string_fields(CLAIMS["secondary"])]
    assert "patient.birth_date" not in paths and "total_charge" not in paths and "patient.sex" not in paths
    assert "coverage.subscriber.member_id" in paths and "service_lines[0].procedure_code" in paths


def test_a_zip_code_is_normalised_once_for_scrubber_renderer_and_reader() -> None:
    """ "-\r0": hyphen and blanks out first, then the surrounding blanks
    (found by tests/test_fuzz.py: the reader saw "0", the facts "\r0")."""
    claim = CLAIMS["self"].model_copy(deep=True)
    claim.patient.address.postal_code = "-\r0"  # type: ignore[union-attr]
    assert ("SCRUB-ZIP", "claim.patient.address.postal_code") in {(f.rule, f.location) for f in _scrub(claim)}
    doc = render([claim])
    assert b"N4*SPRINGFIELD*IL*0~" in doc.content
    assert_segments_intact(doc.content, [claim])
