"""X12 syntax of the 837P writer: the fixed width ISA segment and number and
date formatting (element values are made safe in :mod:`.values`).
Delimiters, segments and the tokenizer live in :mod:`gateway.x12` (shared
with the response reader) and are re-exported here.

Nothing here knows about claims; it is plain 5010 envelope syntax.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from gateway.x12 import Delimiters, Segment, Tokens, X12SyntaxError, iter_ids, read_delimiters, tokenize

from .values import X12RenderError, element_value

__all__ = [
    "ISA_LENGTH",
    "ISA_WIDTHS",
    "Delimiters",
    "Segment",
    "Tokens",
    "X12SyntaxError",
    "amount",
    "d8",
    "isa_segment",
    "iter_ids",
    "quantity",
    "read_delimiters",
    "tokenize",
]

#: ISA element widths (ISA01..ISA16); the whole segment is 106 characters
#: with its terminator.
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
ISA_LENGTH = 106
_CENT = Decimal("0.01")
_HUGE = Decimal("1e20")  # quantizing beyond this exceeds the decimal context
#: digits of an R element (X12 counts neither sign nor decimal point): AMT02/CLM02/SV102 18, SV104 15
_R_AMOUNT, _R_QUANTITY = 18, 15


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
