"""Bad input: a finding naming segment (with index) and field, the message
quarantined, an AE/AR ACK hl7apy reads, and never an exception — also for
random and mutated messages (hypothesis), which also go through the whole
pipeline under the money invariant (tests/invariant.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from gateway_plugins.inbound.hl7v2.parse import sniff
from gateway_plugins.inbound.hl7v2.settings import Hl7v2Settings
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import Gateway
from gateway.examples import write_example_deployment
from gateway.messages import MemoryRecords, MessageMeta
from tests.invariant import check_nothing_vanishes

from .strategies import edits, mutate
from .test_hl7v2_support import BAD, GOOD, HL7_FIXTURES, run

EXPECTED = {
    "garbled_msh.hl7": ("HL7-MSH", "MSH[1]-2", "AR", "MSH^1^2"),
    "no_pid.hl7": ("HL7-NO-PID", "PID[1]", "AE", "PID^1"),
    "ft1_amount_not_number.hl7": ("HL7-NUMBER", "FT1[2]-11", "AE", "FT1^2^11"),
    "dob_not_a_date.hl7": ("HL7-DATE", "PID[1]-7", "AE", "PID^1^7"),
    "oversized_segment.hl7": ("HL7-SEGMENT-SIZE", "NTE[1]-3", "AR", "NTE^1^3"),
    # issue 17 item 9: out-of-range amounts are HL7-NUMBER with the cause, not a plugin error
    "ft1_amount_out_of_range.hl7": ("HL7-NUMBER", "FT1[1]-11", "AE", "FT1^1^11"),
    "ft1_unit_amount_5000_digits.hl7": ("HL7-NUMBER", "FT1[1]-12", "AE", "FT1^1^12"),
}


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_input_finding_and_ack(path: Path) -> None:
    rule, location, code, err = EXPECTED[path.name]
    result = run(path.read_bytes())
    errors = [f for f in result.findings if f.is_error]
    assert [(f.rule, f.location) for f in errors] == [(rule, location)]
    assert result.encounters == [] and result.updates == []
    ack = parse_message(result.acknowledgement.decode(), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert ack.validate()
    assert ack.msa.msa_1.value == code and ack.err.err_2.value == err


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_input_is_quarantined_by_the_pipeline(example_gateway: Gateway, path: Path) -> None:
    meta = MessageMeta(source="test", today=date(2026, 11, 27))
    result = example_gateway.pipeline.process(path.read_bytes(), meta, MemoryRecords())
    assert result.clinic_id == "riverside"  # routed by MSH-4, even from a garbled MSH
    assert result.quarantined and result.acknowledgement is not None
    assert all(f.plugin == "hl7v2" for f in result.findings)


def test_out_of_range_amounts_name_the_cause() -> None:
    for name in ("ft1_amount_out_of_range.hl7", "ft1_unit_amount_5000_digits.hl7"):
        (finding,) = run((HL7_FIXTURES / "invalid" / name).read_bytes()).findings
        assert "out of range (at most 99,999,999.99)" in finding.message and "9999999999" not in finding.message
    raw = (HL7_FIXTURES / "dft_p03_v25_cpt_modifiers.hl7").read_bytes().replace(b"|1|185.00&USD", b"|1e308|185.00&USD")
    (finding,) = [f for f in run(raw).findings if f.is_error]
    assert (finding.rule, finding.location, finding.message) == (
        "HL7-NUMBER",
        "FT1[1]-10",
        "FT1-10 quantity is out of range (at most 99,999)",
    )


def test_findings_hold_no_patient_data() -> None:
    for path in BAD:
        for f in run(path.read_bytes()).findings:
            assert "TESTPATIENT" not in f.message and "1980" not in f.message and "twenty" not in f.message


def test_not_a_billing_message_is_refused_or_ignored() -> None:
    raw = (HL7_FIXTURES / "dft_p03_v25_cpt_modifiers.hl7").read_bytes().replace(b"DFT^P03^DFT_P03", b"ORU^R01^ORU_R01")
    refused = run(raw)
    assert [f.rule for f in refused.findings if f.is_error] == ["HL7-MESSAGE-TYPE"]
    assert b"MSA|AR|" in refused.acknowledgement and b"|200^Unsupported message type" in refused.acknowledgement
    from gateway_plugins.inbound.hl7v2.settings import Hl7v2Settings

    ignored = run(raw, settings=Hl7v2Settings(accept_other_types=True))
    assert not any(f.is_error for f in ignored.findings) and b"MSA|AA|" in ignored.acknowledgement


def test_input_over_the_size_cap_is_refused() -> None:
    from gateway_plugins.inbound.hl7v2.settings import Hl7v2Settings

    raw = GOOD[0].read_bytes() * 20
    result = run(raw, settings=Hl7v2Settings(max_message_bytes=10_000))
    assert [f.rule for f in result.findings] == ["HL7-SIZE"] and b"MSA|AR" in result.acknowledgement


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Gateway:
    return Gateway.from_config(write_example_deployment(tmp_path_factory.mktemp("bad-input") / "deployment"))


def _check_no_crash(raw: bytes, gateway: Gateway) -> None:
    """No exception, an ACK, and — through the whole pipeline — the money
    invariant: no billable FT1 of the generated message vanishes."""
    result = run(raw)
    assert result.acknowledgement and result.acknowledgement.startswith((b"MSH", b"BHS", b"FHS"))
    assert not [f for f in result.findings if f.rule == "HL7-INTERNAL"]
    sniff(raw)
    meta = MessageMeta(source="fuzz", today=date(2026, 11, 27), clinic_id="riverside")
    check_nothing_vanishes(raw, gateway.pipeline.process(raw, meta, MemoryRecords()))


SAMPLES = [p.read_bytes() for p in GOOD + BAD if p.stat().st_size < 5000]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes_after_msh_never_crash(gateway: Gateway, tail: bytes) -> None:
    _check_no_crash(b"MSH|^~\\&|A|RIVERSIDE|B|C|20260101||DFT^P03|X1|P|2.5\r" + tail, gateway)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), edits)
def test_mutated_messages_never_crash(gateway: Gateway, sample: bytes, changes: list[tuple[int, int, int]]) -> None:
    _check_no_crash(mutate(sample, changes), gateway)


@pytest.mark.parametrize("eol", ["\r", "\n", "\r\n"])
def test_too_many_segments_is_found_before_the_segments_are_built(eol: str) -> None:
    """A message over settings.hl7v2.max_segments is cut for reading (the
    refusal needs only its header) and still refused, whatever its line
    endings; the message next to it in the batch is read in full."""
    head = f"MSH|^~\\&|A|RIVERSIDE|G|B|20261012093000||DFT^P03|{{}}|P|2.5{eol}PID|1||MRN1||TEST^PAT{eol}"
    ft1 = f"FT1|1||20261012|20261012|CG|OV3|||1|10.00{eol}"
    raw = (head.format("BIG") + ft1 * 30 + head.format("OK") + ft1).encode()
    result = run(raw, settings=Hl7v2Settings(max_segments=20))
    assert [f.location for f in result.findings if f.rule == "HL7-SEGMENTS"] == ["MSG[1]/MSH[1]"]
    assert not [f for f in result.findings if f.rule == "HL7-SEGMENTS" and f.location.startswith("MSG[2]")]


def test_a_charge_in_an_adt_is_named_not_dropped() -> None:
    """An FT1 inside an ADT (two messages run together when a segment
    terminator is lost, found by the mutation test) bills nothing: it gets a
    warning naming it, so the money invariant holds."""
    raw = (
        b"MSH|^~\\&|REG|LAKESIDE|G|B|20261017080000||ADT^A04|A1|P|2.4\rPID|1||LK1||TEST^KID||20170404|M\r"
        b"PV1|1|O|PEDS||||||||||||||||LV1\rFT1|1|TX-1||20261017||CG|99392^Visit^C4|||1|160.00\r"
    )
    result = run(raw)
    found = [(f.rule, f.location, f.severity.value) for f in result.findings if f.rule == "HL7-CHARGE-NOT-BILLED"]
    assert found == [("HL7-CHARGE-NOT-BILLED", "FT1[1]-6", "warning")]
    assert not result.encounters or not any(e.service_lines for e in result.encounters)
