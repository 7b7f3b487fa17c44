"""Reading mapped values: a :class:`Scope` resolves field paths to segments,
and the converters turn HL7 data types (DTM, NM, CP, XPN, XAD, XTN, XCN) into
canonical values, reporting problems by segment and field.

Composite values (names, addresses, providers) are plain dicts shaped like
the canonical models: the encounter is validated once, as a whole, by
``Encounter.model_validate`` (one validation instead of one per part)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from gateway.identifiers import npi_is_valid
from gateway.model import Sex
from gateway.money import MAX_AMOUNT

from .fieldmap import FieldPath
from .problems import Issues
from .reader import HEADERS, Delimiters, Segment, components, pick

NULL = '""'
_DATE = re.compile(r"(\d{4})(\d{2})?(\d{2})?")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_NPI_AUTHORITIES = ("NPI", "2.16.840.1.113883.4.6")
_BLANK13 = [""] * 13


class Scope:
    """Where paths of one mapping section are read: the ``home`` segment
    (an FT1, an IN1…) and the related segments by name (the PR1/Z-segment of
    the charge, the IN2 of the IN1, the message's PID and PV1)."""

    __slots__ = ("home", "related")

    def __init__(self, home: Segment | None, related: Mapping[str, Segment]) -> None:
        self.home = home
        self.related = related

    def segment(self, name: str) -> Segment | None:
        home = self.home
        if home is not None and home.name == name:
            return home
        return self.related.get(name)

    def get(self, path: FieldPath, rep: int = 0) -> str:
        """The decoded, stripped value at ``path`` ('' for empty and ``""``)."""
        name, n, comp, sub = path
        home = self.home
        seg = home if home is not None and home.name == name else self.related.get(name)
        if seg is None:
            return ""
        fields = seg._fields or seg._split()
        if n >= len(fields) or not (raw := fields[n]):
            return ""
        v = pick(raw, seg.d, comp, sub if comp is not None else None, rep).strip()
        return "" if v == NULL else v

    def first(self, paths: Iterable[FieldPath]) -> tuple[str, FieldPath | None, Segment | None]:
        """The first non-empty value among ``paths``, with its path and segment
        (:meth:`get` inlined: the mapping's most frequent call)."""
        home = self.home
        hname = home.name if home is not None else None
        for p in paths:
            name, n, comp, sub = p
            seg = home if name == hname else self.related.get(name)
            if seg is None:
                continue
            fields = seg._fields or seg._split()
            if n >= len(fields) or not (raw := fields[n]):
                continue
            v = pick(raw, seg.d, comp, sub if comp is not None else None).strip()
            if v and v != NULL:
                return v, p, seg
        return "", None, None

    def repeated(self, paths: Iterable[FieldPath]) -> tuple[list[str], FieldPath | None]:
        """Every repetition's value (component of the path, else 1) at the
        first path that has any."""
        for p in paths:
            reps, seg = self._reps(p)
            if not reps:
                continue
            d, c, sub = seg.d, p.component or 1, p.sub or 1  # type: ignore[union-attr]
            out = []
            for rep in reps:
                v = pick(rep, d, c, sub).strip()
                if v and v != NULL:
                    out.append(v)
            if out:
                return out, p
        return [], None

    def _reps(self, path: FieldPath) -> tuple[list[str], Segment | None]:
        """The repetitions of the field at ``path`` as sent, with its segment."""
        name, n = path[0], path[1]
        home = self.home
        seg = home if home is not None and home.name == name else self.related.get(name)
        if seg is None:
            return [], None
        fields = seg._fields or seg._split()
        raw = fields[n] if n < len(fields) else ""
        if not raw:
            return [], seg
        if seg.d.repetition not in raw or (n <= 2 and seg.name in HEADERS):
            return [raw], seg
        return raw.split(seg.d.repetition), seg

    def phone(self, paths: Iterable[FieldPath]) -> str | None:
        """The first XTN repetition of ``paths`` that is a phone number (:func:`to_phone`)."""
        for p in paths:
            reps, seg = self._reps(p)
            for raw in reps:
                number = to_phone(split_parts(raw, seg.d))  # type: ignore[union-attr]
                if number is not None:
                    return number
        return None

    def email(self, paths: Iterable[FieldPath]) -> str | None:
        """The first XTN repetition of ``paths`` that is an e-mail address
        (:func:`to_email`); fields without an ``@`` are not split at all."""
        for p in paths:
            seg = self.segment(p.segment)
            if seg is None or "@" not in seg.field(p.field):
                continue
            for raw in self._reps(p)[0]:
                address = to_email(split_parts(raw, seg.d))
                if address is not None:
                    return address
        return None

    def parts(self, path: FieldPath, rep: int = 0) -> tuple[list[str], Segment | None]:
        """The decoded components of a composite field (one repetition)."""
        reps, seg = self._reps(path)
        if rep >= len(reps):
            return [], seg
        return split_parts(reps[rep], seg.d), seg  # type: ignore[union-attr]


def split_parts(raw: str, d: Delimiters) -> list[str]:
    """The decoded, stripped components of one repetition."""
    if d.subcomponent in raw or d.escape in raw:
        return [c.strip() for c in components(raw, d)]
    return [c.strip() for c in raw.split(d.component)]  # the common case: nothing to decode


def comp(parts: list[str], n: int) -> str:
    """Component ``n`` (1-based) of decoded parts, '' when absent or ``""``."""
    if n > len(parts):
        return ""
    v = parts[n - 1]
    return "" if v == NULL else v


# --------------------------------------------------------------------------
# converters: value → canonical, problems reported at (segment, field)


def _read_date(value: str) -> date | str:
    """The date of a DT/DTM/TS value, else what is wrong: "precision" (no
    day) or "date" (not a date)."""
    m = _DATE.match(value) or None
    iso = _ISO_DATE.match(value)
    if iso:
        y, mo, d = iso.groups()
    elif m and (m.end() == len(value) or value[m.end()] in "0123456789.+-"):
        y, mo, d = m.groups()
        if mo is None or d is None:
            return "precision"
    else:
        return "date"
    try:
        return date(int(y), int(mo), int(d))
    except ValueError:
        return "date"


#: dates seen recently (a message repeats its service date; a feed its day)
_read_date_cached = lru_cache(maxsize=1024)(_read_date)
#: values longer than this are read without the cache (a runaway value is not kept)
_CACHED_LENGTH = 40


def label_of(label: str | FieldPath, what: str = "") -> str:
    """A problem's subject: ``label`` as given, or a path's ``SEG-n``, then ``what``."""
    text = label if isinstance(label, str) else f"{label.segment}-{label.field}"
    return f"{text} {what}" if what else text


def to_date(value: str, problems: Issues, seg: Segment | None, fld: int, label: str | FieldPath) -> date | None:
    """HL7 DT/DTM/TS (YYYY[MM[DD[HHMM…]]], time and zone ignored) → date.
    ``label`` names the field in a problem (a path: ``SEG-n``, written only then)."""
    if not value:
        return None
    when = _read_date_cached(value) if len(value) <= _CACHED_LENGTH else _read_date(value)
    if when.__class__ is str:
        label = label_of(label)
        if when == "precision":
            problems.add("HL7-DATE-PRECISION", f"{label} has no day", seg, fld)
        else:
            problems.add("HL7-DATE", f"{label} is not a date", seg, fld)
        return None
    return when  # type: ignore[return-value]


def _read_number(value: str) -> Decimal | None:
    """A finite Decimal ($ and thousands commas tolerated), else None."""
    text = value.replace(",", "").replace("$", "").strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


#: amounts and quantities seen recently (a clinic's prices repeat)
_read_number_cached = lru_cache(maxsize=1024)(_read_number)


def to_decimal(
    value: str,
    problems: Issues,
    seg: Segment | None,
    fld: int,
    label: str | FieldPath,
    limit: Decimal = MAX_AMOUNT,
    what: str = "",
) -> Decimal | None:
    """HL7 NM/MO → Decimal; ``$`` and thousands commas are tolerated. A value
    beyond ``limit`` (gateway.money: 1e308, thousands of digits) is refused
    with HL7-NUMBER, named ``label`` and ``what`` (:func:`label_of`)."""
    if not value:
        return None
    number = _read_number_cached(value) if len(value) <= _CACHED_LENGTH else _read_number(value)
    if number is None:
        problems.add("HL7-NUMBER", f"{label_of(label, what)} is not a number", seg, fld)
        return None
    if abs(number) > limit:
        problems.add("HL7-NUMBER", f"{label_of(label, what)} is out of range (at most {limit:,})", seg, fld)
        return None
    return number


def to_sex(value: str) -> Sex:
    v = value[:1].upper()
    return v if v in ("M", "F") else "U"  # type: ignore[return-value]


def to_name(parts: list[str]) -> dict[str, Any] | None:
    """XPN: family ^ given ^ middle ^ suffix (family's first subcomponent) → PersonName fields."""
    if not parts or not (family := parts[0]) or family == NULL:
        return None
    if len(parts) < 4:
        parts = [*parts, "", "", ""]
    given, middle, suffix = parts[1], parts[2], parts[3]
    return {
        "family": family,
        "given": given if given and given != NULL else None,
        "middle": middle if middle and middle != NULL else None,
        "suffix": suffix if suffix and suffix != NULL else None,
    }


def to_country(value: str, default: str = "US") -> str:
    """An XAD-6 / MSH-17 country (ISO 3166 code as sent) → ``Address.country``:
    US for ``US``, ``USA`` and ``840``; ``default`` when empty."""
    country = value.strip().upper()
    if not country:
        return default
    return "US" if country in ("USA", "US", "840") else country[:3]


def to_address(parts: list[str], country: str = "US") -> dict[str, Any] | None:
    """XAD: street ^ other designation ^ city ^ state ^ zip ^ country → Address
    fields; ``country`` when XAD-6 is empty (the message's MSH-17)."""
    if len(parts) < 6:
        parts = [*parts, "", "", "", "", "", ""]
    street, other, city, state, postal, sent = [("" if v == NULL else v) for v in parts[:6]]
    lines = [x for x in (street, other) if x]
    if not (lines or city or postal):
        return None
    return {
        "lines": lines,
        "city": city or None,
        "state": state or None,
        "postal_code": postal.replace("-", "").replace(" ", "") or None,
        "country": to_country(sent, country) if sent else country,
    }


def _is_email_xtn(parts: list[str]) -> bool:
    """XTN-2 use code NET, or XTN-3 equipment type Internet / X.400."""
    n = len(parts)
    return (n > 1 and parts[1].upper() == "NET") or (n > 2 and parts[2].upper() in ("INTERNET", "X.400"))


def to_phone(parts: list[str]) -> str | None:
    """XTN: the formatted number (component 1), else area code + local number;
    digits only. An e-mail repetition (NET/Internet) is not a phone."""
    if _is_email_xtn(parts):
        return None
    text = comp(parts, 1) or (comp(parts, 6) + comp(parts, 7))
    digits = text if text.isdigit() else "".join(filter(str.isdigit, text))
    return digits if 7 <= len(digits) <= 15 else None


def to_email(parts: list[str]) -> str | None:
    """XTN with use code NET (or equipment Internet): the address in XTN-4,
    else in XTN-1 (v2.3 senders); None when it does not look like one."""
    if not _is_email_xtn(parts) and "@" not in comp(parts, 1):
        return None
    text = comp(parts, 4) or comp(parts, 1)
    local, at, domain = text.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in text) or len(text) > 254:
        return None
    return text


def to_provider(parts: list[str], problems: Issues, seg: Segment | None, fld: int) -> dict[str, Any] | None:
    """XCN: id ^ family ^ given ^ middle ^ suffix … ^ authority (9) … ^ id type (13) → Provider fields.

    The id is an NPI when the id type or assigning authority says so, or
    when it is ten digits with a valid check digit.
    """
    if len(parts) < 13:
        parts = [*parts, *_BLANK13[len(parts) :]]
    ident = parts[0] if parts[0] != NULL else ""
    name = to_name(parts[1:])
    if not ident and name is None:
        return None
    kind, authority = parts[12], parts[8]
    declared = (kind != NULL and kind.upper() == "NPI") or (
        authority != NULL and any(a in authority for a in _NPI_AUTHORITIES)
    )
    npi = None
    if ident and declared:
        npi = ident
        if not npi_is_valid(ident):
            problems.add("HL7-NPI", "an identifier sent as an NPI fails the NPI check", seg, fld)
    elif ident and npi_is_valid(ident):
        npi = ident
    return {"npi": npi, "name": name}
