"""X12 syntax shared by the 837P writer and reader: delimiters, the fixed
width ISA segment, number and date formatting, and a tolerant tokenizer
(element values are made safe in :mod:`.values`).

Nothing here knows about claims; it is plain 5010 envelope syntax.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from .values import X12RenderError, element_value

#: ISA element widths (ISA01..ISA16); the whole segment is 106 characters
#: with its terminator.
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
ISA_LENGTH = 106
_CENT = Decimal("0.01")
_HUGE = Decimal("1e20")  # quantizing beyond this exceeds the decimal context
#: digits of an R element (X12 counts neither sign nor decimal point): AMT02/CLM02/SV102 18, SV104 15
_R_AMOUNT, _R_QUANTITY = 18, 15


class X12SyntaxError(ValueError):
    """The bytes are not an X12 interchange (no ISA, unusable delimiters)."""


@dataclass(frozen=True)
class Delimiters:
    """Element, component and repetition separators and the segment
    terminator; ``suffix`` is written after each terminator (a line ending)."""

    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"
    suffix: str = "\n"


def amount(value: Decimal) -> str:
    """X12 decimal (R) for money: two places at most, no trailing zeros,
    never an exponent ("125", "35.5", "0.01")."""
    return _decimal(value.quantize(_CENT) if abs(value) < _HUGE else value, _R_AMOUNT, "an amount")


def quantity(value: Decimal) -> str:
    """X12 decimal for units: no exponent, no trailing zeros."""
    return _decimal(value, _R_QUANTITY, "a unit count")


def _decimal(value: Decimal, limit: int, what: str) -> str:
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if len(text.lstrip("-").replace(".", "")) > limit:
        raise X12RenderError(f"{what} has more digits than an X12 element carries ({limit})")
    return text or "0"


def d8(value: date) -> str:
    """CCYYMMDD."""
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def isa_segment(
    d: Delimiters,
    *,
    sender_qualifier: str,
    sender_id: str,
    receiver_qualifier: str,
    receiver_id: str,
    created: datetime,
    control_number: int,
    usage: str,
    ack_requested: bool = False,
) -> str:
    """The fixed-width ISA segment (106 characters including the terminator)."""
    if not 0 < control_number <= 999_999_999:
        raise X12RenderError(f"ISA13 control number {control_number} is outside 1..999999999")
    values = (
        "00", "", "00", "",
        sender_qualifier, sender_id, receiver_qualifier, receiver_id,
        created.strftime("%y%m%d"), created.strftime("%H%M"),
        d.repetition, "00501", f"{control_number:09d}", "1" if ack_requested else "0", usage, d.component,
    )  # fmt: skip
    parts = []
    for i, (value, width) in enumerate(zip(values, ISA_WIDTHS, strict=True), 1):
        if i not in (11, 16):  # the repetition and component separators themselves
            try:
                value = element_value(value, width, identifier=True)
            except X12RenderError as exc:
                raise X12RenderError(f"ISA{i:02d} {exc} (format_settings or gateway.yaml submitter/receiver)") from None
        parts.append(value.ljust(width))
    text = "ISA" + d.element + d.element.join(parts) + d.segment
    assert len(text) == ISA_LENGTH
    return text


@dataclass(frozen=True)
class Segment:
    """One segment read from a file: ``index`` is its 1-based position in the
    file (ISA = 1), ``elements[0]`` the segment id."""

    index: int
    elements: list[str]

    @property
    def id(self) -> str:
        return self.elements[0]

    def get(self, pos: int) -> str:
        """Element ``pos`` (1-based, as in "CLM01"), "" when absent."""
        return self.elements[pos] if pos < len(self.elements) else ""


@dataclass(frozen=True)
class Tokens:
    """A file split into segments with the delimiters its ISA declared."""

    delimiters: Delimiters
    segments: list[Segment]

    def components(self, value: str) -> list[str]:
        return value.split(self.delimiters.component)


def read_delimiters(text: str) -> tuple[Delimiters, int]:
    """Delimiters declared by the first ISA in ``text`` and where it starts.

    Tolerant of a BOM, leading blanks and ISA elements that are not padded
    to their fixed widths: the separators are found by counting elements.
    """
    start = text.find("ISA")
    if start < 0 or text[:start].strip("\ufeff \t\r\n"):
        raise X12SyntaxError("no ISA segment at the start of the file")
    element = text[start + 3 : start + 4]
    if not element or element.isalnum() or element.isspace():
        raise X12SyntaxError("the ISA does not declare a usable element separator")
    pos = start + 3  # the separator before ISA01; ISA16 follows the 16th
    for _ in range(15):
        pos = text.find(element, pos + 1)
        if pos < 0:
            raise X12SyntaxError("the ISA segment is incomplete")
    component = text[pos + 1 : pos + 2]
    terminator = text[pos + 2 : pos + 3]
    if not component or not terminator:
        raise X12SyntaxError("the ISA segment is incomplete")
    isa = text[start:pos].split(element)
    repetition = isa[11] if len(isa) > 11 and isa[12].strip() >= "00501" and not isa[11].isalnum() else ""
    return Delimiters(element, component, repetition.strip(), terminator, ""), start


def tokenize(data: bytes | str) -> Tokens:
    """Split an X12 file into segments, whatever its delimiters, line endings,
    BOM or indentation. Blank segments are skipped."""
    text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data.lstrip("\ufeff")
    delims, start = read_delimiters(text)
    segments: list[Segment] = []
    for raw in text[start:].split(delims.segment):
        raw = raw.strip()
        if raw:
            segments.append(Segment(len(segments) + 1, raw.split(delims.element)))
    return Tokens(delims, segments)


def iter_ids(tokens: Tokens, seg_id: str) -> Iterator[Segment]:
    """Segments with id ``seg_id`` in file order."""
    return (s for s in tokens.segments if s.id == seg_id)
