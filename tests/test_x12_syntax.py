"""gateway.x12: the X12 tokenizer shared by the 837P reader and the
response reader, streamed one segment at a time."""

from __future__ import annotations

import pytest

from gateway.x12 import Segment, SegmentStream, X12SyntaxError, tokenize

ISA = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *261127*0915*^*00501*000000001*0*T*:~"
BODY = "GS*HP*S*R*20261127*0915*1*X*005010X221A1~ST*835*0001~BPR*H*0*C*NON************20261127~SE*3*0001~GE*1*1~"
FILE = ISA + BODY + "IEA*1*000000001~"


def ids(data: str | bytes) -> list[str]:
    return [s.id for s in SegmentStream(data)]


def test_positions_count_from_the_isa_and_blank_segments_are_skipped() -> None:
    segments = list(SegmentStream(FILE.replace("~GS", "~\n\n~GS")))
    assert [s.index for s in segments] == list(range(1, 8))
    assert segments[2] == Segment(3, ["ST", "835", "0001"])
    assert segments[2].get(2) == "0001" and segments[2].get(9) == ""


@pytest.mark.parametrize(
    "variant",
    [
        FILE.replace("~", "~\r\n"),  # CRLF after each terminator
        "\ufeff" + FILE.replace("~", "~\n    "),  # BOM and indentation
        ("\ufeff" + FILE).encode("utf-8"),  # bytes with a BOM
        "\n\n  " + FILE,  # blank lines before the ISA
    ],
)
def test_real_world_layouts_give_the_same_segments(variant: str | bytes) -> None:
    assert [s.elements for s in SegmentStream(variant)] == [s.elements for s in SegmentStream(FILE)]


def test_each_interchange_uses_the_delimiters_its_own_isa_declares() -> None:
    second = (
        ISA.replace("*", "|").replace("|:~", "|>\n") + BODY.replace("*", "|").replace("~", "\n") + "IEA|1|000000002\n"
    )
    second = second.replace("|000000001|", "|000000002|", 1)
    stream = SegmentStream(FILE + "\n" + second)
    segments = list(stream)
    assert [s.id for s in segments] == ["ISA", "GS", "ST", "BPR", "SE", "GE", "IEA"] * 2
    assert segments[7].get(13) == "000000002" and segments[9].get(1) == "835"
    assert stream.delimiters.element == "|" and stream.delimiters.component == ">"
    assert stream.delimiters.segment == "\n"
    assert [s.index for s in segments] == list(range(1, 15))


def test_long_files_are_split_in_chunks_without_losing_a_segment() -> None:
    claims = "".join(f"CLP*C{i:07d}*1*100*80**12*ICN{i}~CAS*CO*45*20~" for i in range(20_000))
    text = (
        ISA + "GS*HP*S*R*20261127*0915*1*X*005010X221A1~ST*835*0001~" + claims + "SE*40002*0001~GE*1*1~IEA*1*000000001~"
    )
    assert len(text) > 4 * 65_536
    segments = list(SegmentStream(text))
    assert len(segments) == 40_006
    clp = [s for s in segments if s.id == "CLP"]
    assert [s.get(1) for s in clp] == [f"C{i:07d}" for i in range(20_000)]
    assert all(s.index == i for i, s in enumerate(segments, 1))


def test_a_truncated_last_segment_is_still_returned() -> None:
    cut = FILE[: FILE.index("GE*1")] + "GE*1"
    assert ids(cut)[-1] == "GE" and list(SegmentStream(cut))[-1].elements == ["GE", "1"]


@pytest.mark.parametrize("bad", ["", "hello", "GS*HP~", "ISA*00*", "ISA" + "x" * 200, "x ISA*00*"])
def test_not_an_interchange_raises_x12_syntax_error(bad: str) -> None:
    with pytest.raises(X12SyntaxError):
        SegmentStream(bad)


def test_tokenize_is_the_stream_collected() -> None:
    tokens = tokenize(FILE)
    assert [s.elements for s in tokens.segments] == [s.elements for s in SegmentStream(FILE)]
    assert tokens.delimiters.element == "*" and tokens.components("HC:99213") == ["HC", "99213"]


def test_bytes_are_decoded_chunk_by_chunk_and_bad_bytes_replaced() -> None:
    names = "".join(f"NM1*QC*1*MÜLLER-ÇA{i}~CAS*CO*45*20~" for i in range(5_000))  # multibyte letters across chunks
    text = (
        ISA + "GS*HP*S*R*20261127*0915*1*X*005010X221A1~ST*835*0001~" + names + "SE*10002*0001~GE*1*1~IEA*1*000000001~"
    )
    data = text.encode("utf-8")
    assert len(data) > 2 * 65_536
    from_bytes = list(SegmentStream(data))
    assert from_bytes == list(SegmentStream(text))
    assert from_bytes[3].get(3) == "MÜLLER-ÇA0" and from_bytes[-5].get(3) == "MÜLLER-ÇA4999"
    broken = list(SegmentStream(data.replace("MÜLLER-ÇA7~".encode(), b"M\xff\xfeLLER~")))
    assert broken[17].get(3) == "M\ufffd\ufffdLLER" and len(broken) == len(from_bytes)


def test_many_interchanges_in_bytes_stay_linear() -> None:
    one = FILE.replace("~", "~\n")
    data = (one * 3_000).encode()
    segments = list(SegmentStream(data))
    assert len(segments) == 3_000 * 7 and segments[-1].id == "IEA"


@pytest.mark.parametrize("isa11", ["^", "U", "", " ^ ", "^^ 5", "ab"])
def test_isa11_is_a_repetition_separator_only_when_it_is_one_character(isa11: str) -> None:
    fields = ISA.split("*")
    fields[11] = isa11
    stream = SegmentStream("*".join(fields) + BODY + "IEA*1*000000001~")
    assert stream.delimiters.repetition == ("^" if isa11.strip() == "^" else "")
    assert [s.id for s in stream][-1] == "IEA"
