"""HL7 v2 corpus: every third-party sample is read without an exception, the
billing fields equal python-hl7's, and each gets an ACK hl7apy can read."""

from __future__ import annotations

from pathlib import Path

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from ..test_hl7v2_differential import check_file
from ..test_hl7v2_support import run


def files(corpus: Path) -> list[Path]:
    out = sorted((corpus / "hl7v2").glob("*.hl7"))
    assert len(out) >= 20
    return out


def test_differential_on_every_corpus_file(corpus: Path) -> None:
    compared = sum(check_file(p) for p in files(corpus))
    assert compared > 300


def test_every_corpus_file_parses_with_an_ack(corpus: Path) -> None:
    kinds = set()
    for path in files(corpus):
        result = run(path.read_bytes())
        assert not [f for f in result.findings if f.rule == "HL7-INTERNAL"], path.name
        ack = parse_message(result.acknowledgement.decode(), validation_level=VALIDATION_LEVEL.TOLERANT)
        kinds.add(ack.msa.msa_1.value)
        if path.name.startswith(("ms_DFT", "ms_BAR")):
            assert result.encounters, path.name
    assert {"AA", "AR"} <= kinds


def test_corpus_dft_charges(corpus: Path) -> None:
    (enc,) = run((corpus / "hl7v2" / "ms_DFT_P03_v2.8_01.hl7").read_bytes()).encounters
    first, second = enc.service_lines
    assert (first.procedure_code, first.units, str(first.charge)) == ("71045", 2, "100.00")
    assert first.modifiers == ["26"] and first.ndc == "0182-1061-05"
    assert (second.procedure_code, second.local_code, str(second.charge)) == ("99011", "626.2", "120.00")
    assert enc.coverages[0].relationship == "01" and enc.coverages[0].subscriber.member_id == "548851236L"
