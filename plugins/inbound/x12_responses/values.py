"""Element values and findings shared by the response readers.

Findings name the segment by its position in the file and the element
(``segment 57 (CLP04)``) and never quote a value from the file: amounts
the reader computed may be named, text the payer sent is not.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from functools import lru_cache

from gateway.model import Finding, Severity
from gateway.money import amount_problem
from gateway.x12 import Segment

PLUGIN = "x12_responses"
is_number = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)").fullmatch
#: a number that is surely an amount in range (|x| ≤ gateway.money.MAX_AMOUNT, 99999999.99): the fast path
is_amount = re.compile(r"-?(?:[0-9]{1,7}(?:\.[0-9]*)?|[0-9]{8}(?:\.[0-9]{0,2})?|\.[0-9]+)").fullmatch
_is_d8 = re.compile(r"[0-9]{8}").fullmatch


def number(text: str) -> Decimal | None:
    """An X12 decimal (R): digits, an optional sign and point, no exponent."""
    return Decimal(text) if text and is_number(text) else None


@lru_cache(maxsize=4096)  # a remit repeats a few dates on every line: parsed once each
def d8(text: str) -> date | None:
    """CCYYMMDD as a date, None when it is not one."""
    if not _is_d8(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}").fullmatch


def seg_name(seg_id: str) -> str:
    """A segment id fit for a finding: in a damaged file the "id" may be any
    text (a patient's name), so only a well-formed id is repeated."""
    return seg_id if _SEGMENT_ID(seg_id) else "?"


def whole(text: str) -> int | None:
    """A whole number of at most nine ASCII digits ("²".isdigit() is true, int("²") raises)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def count_said(value: str) -> str:
    """A count or control number from the file, repeated only when it is one."""
    return value if whole(value) is not None else ("nothing" if not value else "something else")


def where(seg: Segment, element: int | None = None, component: int | None = None) -> str:
    """``segment 57 (CLP04)``: the finding location of a segment or element."""
    name = seg_name(seg.id) if element is None else f"{seg_name(seg.id)}{element:02d}"
    if component is not None:
        name += f"-{component}"
    return f"segment {seg.index} ({name})"


class Notes:
    """Findings about one document (or the file), in reading order."""

    __slots__ = ("bad_amounts", "items")

    def __init__(self) -> None:
        self.items: list[Finding] = []
        #: amounts that could not be read (balancing is not checked then)
        self.bad_amounts = 0

    def add(
        self, severity: Severity, rule: str, message: str, seg: Segment | None = None, element: int | None = None
    ) -> None:
        location = where(seg, element) if seg is not None else None
        self.items.append(Finding(severity=severity, rule=rule, message=message, location=location, plugin=PLUGIN))

    def error(self, rule: str, message: str, seg: Segment | None = None, element: int | None = None) -> None:
        self.add(Severity.ERROR, rule, message, seg, element)

    def warning(self, rule: str, message: str, seg: Segment | None = None, element: int | None = None) -> None:
        self.add(Severity.WARNING, rule, message, seg, element)

    @property
    def has_error(self) -> bool:
        return any(f.is_error for f in self.items)

    def amount(self, seg: Segment, pos: int, required: bool = True) -> Decimal | None:
        """Element ``pos`` as money; an error when it is not an amount (or
        missing and ``required``)."""
        text = seg.elements[pos] if pos < len(seg.elements) else ""
        if text and is_amount(text):
            return Decimal(text)
        if not text:
            if required:
                self.bad_amounts += 1
                self.error("X12-REQUIRED", f"{seg_name(seg.id)}{pos:02d} is empty; an amount is required", seg, pos)
            return None
        value = number(text)
        problem = "is not an amount" if value is None else amount_problem(value)
        if problem is not None:
            self.bad_amounts += 1
            self.error("X12-AMOUNT", f"{seg_name(seg.id)}{pos:02d} {problem}", seg, pos)
            return None
        return value

    def quantity(self, seg: Segment, pos: int) -> Decimal | None:
        """Optional element ``pos`` as a number; a warning when it is not one."""
        text = seg.elements[pos] if pos < len(seg.elements) else ""
        if not text:
            return None
        value = number(text)
        if value is None:
            self.warning("X12-NUMBER", f"{seg_name(seg.id)}{pos:02d} is not a number", seg, pos)
        return value

    def date(self, seg: Segment, pos: int, required: bool = False) -> date | None:
        """Element ``pos`` as a CCYYMMDD date (the first date of a range)."""
        text = seg.elements[pos] if pos < len(seg.elements) else ""
        if len(text) == 8:
            value = d8(text)
            if value is not None:
                return value
        text = text.split("-", 1)[0]
        if not text:
            if required:
                self.error("X12-REQUIRED", f"{seg_name(seg.id)}{pos:02d} is empty; a date is required", seg, pos)
            return None
        value = d8(text)
        if value is None:
            self.error("X12-DATE", f"{seg_name(seg.id)}{pos:02d} is not a date (CCYYMMDD)", seg, pos)
        return value

    def integer(self, seg: Segment, pos: int) -> int | None:
        text = seg.elements[pos] if pos < len(seg.elements) else ""
        if not text:
            return None
        value = whole(text)
        if value is None:
            self.warning("X12-NUMBER", f"{seg_name(seg.id)}{pos:02d} is not a whole number", seg, pos)
        return value


def date_range(text: str) -> tuple[date | None, date | None]:
    """A D8 date or an RD8 range ``CCYYMMDD-CCYYMMDD``."""
    first, _, last = text.partition("-")
    start = d8(first)
    return start, (d8(last) if last else start)
