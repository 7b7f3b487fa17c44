"""ACK shapes: each one parses with hl7apy (strict where hl7apy knows the
structure) and says the right thing."""

from __future__ import annotations

from gateway_plugins.inbound.hl7v2.ack import escape
from gateway_plugins.inbound.hl7v2.reader import Delimiters
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from .test_hl7v2_support import HL7_FIXTURES, run


def strict(text: str):
    msg = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert msg.validate()
    return msg


def test_aa_ack_echoes_the_message() -> None:
    raw = (HL7_FIXTURES / "dft_p03_v25_cpt_modifiers.hl7").read_bytes()
    ack = strict(run(raw).acknowledgement.decode())
    assert ack.msa.msa_1.value == "AA" and ack.msa.msa_2.value == "RV-DFT-0001"
    assert ack.msh.msh_9.value == "ACK^P03^ACK" and ack.msh.msh_12.value == "2.5"
    assert ack.msh.msh_5.value == "ACMEPM" and ack.msh.msh_6.value == "RIVERSIDE"


def test_ack_is_deterministic_for_a_resend() -> None:
    raw = (HL7_FIXTURES / "dft_p03_v28_zsegments.hl7").read_bytes()
    assert run(raw).acknowledgement == run(raw).acknowledgement


def test_ae_ack_in_version_2_3_uses_err_1() -> None:
    raw = (HL7_FIXTURES / "dft_p03_v23_lf_local_codes.hl7").read_bytes().replace(b"||42.25", b"||4x.25")
    text = run(raw).acknowledgement.decode()
    ack = parse_message(text, validation_level=VALIDATION_LEVEL.TOLERANT)  # hl7apy 2.3 lacks ACK_P03
    assert ack.msa.msa_1.value == "AE" and ack.msh.msh_12.value == "2.3"
    assert ack.err.err_1.value == "FT1^2^12^102&Data type error&HL70357"


def test_ack_uses_the_message_delimiters() -> None:
    text = run((HL7_FIXTURES / "dft_p03_v26_custom_delimiters.hl7").read_bytes()).acknowledgement.decode()
    assert text.startswith("MSH#$*!@#GATEWAY#BILLING#ODDSYS#RIVERSIDE#")
    ack = strict(text)
    assert ack.msa.msa_1.value == "AA"


def test_batch_ack_has_one_ack_per_message() -> None:
    raw = (HL7_FIXTURES / "batch_fhs_bhs_v25_two_dft.hl7").read_bytes()
    raw = raw.replace(b"FT1|1|TX-16002||20261015|", b"FT1|1|TX-16002||2026x015|")
    result = run(raw)
    text = result.acknowledgement.decode()
    segs = text.strip("\r").split("\r")
    assert segs[0].startswith("FHS|") and segs[1].startswith("BHS|") and segs[-2:] == ["BTS|2", "FTS|1"]
    acks = "\r".join(segs[2:-2]).split("\rMSH")
    first, second = strict(acks[0]), strict("MSH" + acks[1])
    assert first.msa.msa_1.value == "AA" and second.msa.msa_1.value == "AE"
    assert second.err.err_2.value == "FT1^1^4"
    assert [f.location for f in result.findings if f.is_error] == ["MSG[2]/FT1[1]-4"]


def test_escape_free_text() -> None:
    assert escape("a|b^c&d~e\\f", Delimiters()) == r"a\F\b\S\c\T\d\R\e\E\f"
