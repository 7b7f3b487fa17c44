"""X12 syntax of the 837P writer: the fixed width ISA segment and value
formatting. Delimiters, segments and the tokenizer live in :mod:`gateway.x12`
(shared with the response reader) and are re-exported here.

Nothing here knows about claims; it is plain 5010 envelope syntax.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from gateway.x12 import Delimiters, Segment, Tokens, X12SyntaxError, iter_ids, read_delimiters, tokenize

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


def amount(value: Decimal) -> str:
    """X12 decimal (R) for money: two places at most, no trailing zeros,
    never an exponent ("125", "35.5", "0.01")."""
    text = f"{value.quantize(_CENT):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def quantity(value: Decimal) -> str:
    """X12 decimal for units: no exponent, no trailing zeros."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
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
        raise ValueError(f"ISA13 control number {control_number} is outside 1..999999999")
    values = (
        "00", "", "00", "",
        sender_qualifier, sender_id, receiver_qualifier, receiver_id,
        created.strftime("%y%m%d"), created.strftime("%H%M"),
        d.repetition, "00501", f"{control_number:09d}", "1" if ack_requested else "0", usage, d.component,
    )  # fmt: skip
    parts = []
    for value, width in zip(values, ISA_WIDTHS, strict=True):
        if len(value) > width:
            raise ValueError(f"ISA value for a {width}-character element is too long")
        parts.append(value.ljust(width))
    text = "ISA" + d.element + d.element.join(parts) + d.segment
    assert len(text) == ISA_LENGTH
    return text
