"""The fast reader: separators, escapes, repetitions, tolerance; version by content."""

from __future__ import annotations

import pytest
from gateway_plugins.inbound.hl7v2 import versions
from gateway_plugins.inbound.hl7v2.reader import Delimiters, decode_text, delimiters_of, read_batch, unescape
from hl7apy import load_library

D = Delimiters()


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        (r"A\F\B\S\C\T\D\R\E\E\F", "A|B^C&D~E\\F"),
        (r"caf\XC3A9\ ok", "café ok"),
        (r"x\X41\y", "xAy"),
        (r"one\.br\two\.sp2\three", "one\ntwo\n\nthree"),
        ("\\H\\bold\\N\\ plain \\.fi\\\\Cxxyy\\", "bold plain "),
        (r"broken \ sequence", r"broken \ sequence"),
        (r"\Q\ unknown", r"\Q\ unknown"),
    ],
)
def test_unescape(raw: str, decoded: str) -> None:
    assert unescape(raw, D) == decoded


def test_delimiters_from_msh() -> None:
    d, repaired = delimiters_of("MSH#$*!@#APP")
    assert (d.field, d.component, d.repetition, d.escape, d.subcomponent, repaired) == ("#", "$", "*", "!", "@", False)
    d, repaired = delimiters_of(r"MSH|^~\\&|APP")  # doubled backslash, as some exports write it
    assert d == Delimiters() and repaired
    d, _ = delimiters_of(r"MSH|^~\&#|APP")
    assert d.truncation == "#" and d.encoding_characters == r"^~\&#"
    assert delimiters_of("MSH|^^^^|X")[0] is None and delimiters_of("MSHA^~\\&")[0] is None


def test_tolerant_splitting() -> None:
    raw = b"\x0b\xef\xbb\xbfMSH|^~\\&|A|B|C|D|1||DFT^P03|1|P|2.5  \r\n\r\nPID|1||X~Y^^^^MR||DOE^JO\rnot a segment\nZZ1|a\x1c\r"
    text, latin = decode_text(raw)
    batch = read_batch(text)
    (msg,) = batch.messages
    assert not latin and [s.name for s in msg.segments] == ["MSH", "PID", "ZZ1"]
    assert batch.stray_lines == [3]
    pid = msg.first("PID")
    assert pid.repetitions(3) == ["X", "Y^^^^MR"] and pid.value(3, 5, 1, 1) == "MR" and pid.value(5, 2) == "JO"
    assert msg.msh.value(12) == "2.5" and msg.msh.field(2) == "^~\\&"
    assert pid.value(3, 1, 1, 5) == "" and pid.value(40) == ""


def test_latin1_fallback() -> None:
    text, latin = decode_text("MSH|^~\\&|A|B|C|D|1||DFT^P03|1|P|2.5\rPID|1||1||MÜLLER".encode("latin-1"))
    assert latin and "MÜLLER" in text


def test_content_version() -> None:
    assert versions.content_version("2.3", [("PRT", 5), ("PID", 13)], False) == ("2.7", True)
    assert versions.content_version("2.3", [("FT1", 26)], False) == ("2.3.1", True)
    assert versions.content_version("2.5", [("FT1", 26), ("ZFT", 99)], True) == ("2.5", False)
    assert versions.content_version("2.8.2", [("PID", 39)], True) == ("2.8.2", False)
    assert versions.content_version("T^11", [("PID", 13)], False) == ("2.5", True)


def test_version_tables_match_hl7apy() -> None:
    """The tables in versions.py are hl7apy's structure data, cumulated."""
    first: dict[str, int] = {}
    for i, v in enumerate(versions.VERSIONS):
        lib = load_library(v)
        for name in lib.SEGMENTS:
            if len(name) == 3:
                first.setdefault(name, i)
        for seg, counts in versions.FIELD_COUNTS.items():
            defined = [load_library(w).SEGMENTS.get(seg) for w in versions.VERSIONS[: i + 1]]
            running = max((len(spec[1]) for spec in defined if spec), default=0)
            assert counts[i] == running, (seg, v)
    later = {s: i for s, i in first.items() if i >= versions.VERSIONS.index("2.3")}
    assert later == versions.SEGMENT_SINCE
