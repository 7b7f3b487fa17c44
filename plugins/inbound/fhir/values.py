"""Reading FHIR data types from the JSON shape (dicts and lists).

The reader walks validated JSON (or XML converted to the JSON shape), so
these helpers only pick and convert; they never raise on missing parts.
Decimals arrive as :class:`~decimal.Decimal` (``json.loads(parse_float=Decimal)``)
or, from records taught earlier, as strings; both convert exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.model import Address, PersonName, Sex

from .systems import EIN, NPI, SSN, V2_0203, norm

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def valid_id(value: Any) -> bool:
    """A FHIR ``id``: 1 to 64 letters, digits, ``-`` and ``.``."""
    return isinstance(value, str) and _FHIR_ID.fullmatch(value) is not None

Json = dict[str, Any]

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def items(value: Any) -> list[Any]:
    """A repeating element as a list (absent → empty)."""
    if value.__class__ is list:
        return value  # type: ignore[no-any-return]
    return [] if value is None else [value]


def codings(concept: Json | None) -> list[Json]:
    """The codings of a CodeableConcept (the input is validated: a list of objects)."""
    return concept.get("coding") or [] if concept else []


def first_coding(concepts: Iterable[Json | None], systems: frozenset[str]) -> Json | None:
    """The first coding in any of ``concepts`` whose system is one of ``systems``."""
    for concept in concepts:
        for c in codings(concept):
            if norm(c.get("system")) in systems and c.get("code"):
                return c
    return None


def concept_codes(concept: Json | None) -> Iterator[tuple[str, str]]:
    """(normalised system, code) pairs of a CodeableConcept."""
    for c in codings(concept):
        if c.get("code"):
            yield norm(c.get("system")), str(c["code"])


def has_code(concepts: Iterable[Json | None], code: str, system: frozenset[str] | None = None) -> bool:
    return any(c == code and (system is None or s in system) for concept in concepts for s, c in concept_codes(concept))


def text_of(concept: Json | None) -> str | None:
    """A CodeableConcept's text, else its first coding's display."""
    if not concept:
        return None
    if concept.get("text"):
        return str(concept["text"])
    for c in codings(concept):
        if c.get("display"):
            return str(c["display"])
    return None


def to_date(value: Any) -> date | None:
    """The calendar date of a FHIR date/dateTime (local to its offset);
    partial dates (``2024``, ``2024-05``) give None."""
    if not isinstance(value, str):
        return None
    m = _DATE.match(value)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def start_of(res: Json, *names: str) -> date | None:
    """First date found in ``<name>DateTime``/``<name>Date``/``<name>Period.start``
    (or a plain ``<name>`` date / Period) for each name in order."""
    for name in names:
        for key in (f"{name}DateTime", f"{name}Date", name):
            d = to_date(res.get(key))
            if d:
                return d
        for key in (f"{name}Period", name):
            period = res.get(key)
            if isinstance(period, dict):
                d = to_date(period.get("start")) or to_date(period.get("end"))
                if d:
                    return d
    return None


def decimal(value: Any) -> Decimal | None:
    """A FHIR decimal (Decimal, int or numeric string) as Decimal, exactly."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def money(value: Json | None) -> Decimal | None:
    """A Money's amount."""
    return decimal(value.get("value")) if isinstance(value, dict) else None


def identifier_type(ident: Json) -> set[str]:
    return {code for system, code in concept_codes(ident.get("type")) if system in V2_0203 or not system}


def pick_identifier(
    identifiers: Any,
    *,
    types: Iterable[str] = (),
    systems: frozenset[str] = frozenset(),
    avoid: frozenset[str] = frozenset(),
) -> str | None:
    """The value of the identifier with one of ``types`` (v2-0203 codes) or
    ``systems``; else the first one not in ``avoid``; else None."""
    idents = [i for i in items(identifiers) if isinstance(i, dict) and i.get("value") and i.get("use") != "old"]
    wanted = set(types)
    for ident in idents:
        if (wanted and identifier_type(ident) & wanted) or norm(ident.get("system")) in systems:
            return str(ident["value"])
    if wanted or systems:
        return None
    for ident in idents:
        if norm(ident.get("system")) not in avoid:
            return str(ident["value"])
    return None


def npi_of(resource: Json) -> str | None:
    return pick_identifier(resource.get("identifier"), types=("NPI",), systems=NPI)


def tax_id_of(resource: Json) -> str | None:
    value = pick_identifier(resource.get("identifier"), types=("TAX",), systems=EIN)
    return value.replace("-", "") if value else None


def local_id_of(resource: Json) -> str | None:
    """The first identifier that is not an NPI, tax id or SSN (a sender's own id)."""
    return pick_identifier(resource.get("identifier"), avoid=NPI | EIN | SSN) or npi_of(resource)


def _preferred(entries: Any, avoid_uses: tuple[str, ...] = ("old",), prefer: tuple[str, ...] = ()) -> Json | None:
    candidates = [e for e in items(entries) if isinstance(e, dict) and e.get("use") not in avoid_uses]
    for use in prefer:
        for e in candidates:
            if e.get("use") == use:
                return e
    return candidates[0] if candidates else None


def person_name(names: Any) -> PersonName | None:
    """The official (else usual, else first current) HumanName."""
    n = _preferred(names, ("old", "maiden"), ("official", "usual"))
    if n is None:
        return None
    given = [str(g) for g in items(n.get("given"))]
    family = n.get("family") or (n.get("text") if not given else None)
    if not family:
        return None
    suffix = items(n.get("suffix"))
    return PersonName(
        family=str(family),
        given=given[0] if given else None,
        middle=" ".join(given[1:]) or None,
        suffix=str(suffix[0]) if suffix else None,
    )


def _postal(code: Any) -> str | None:
    if not code:
        return None
    digits = str(code).replace("-", "").replace(" ", "")
    return digits if digits.isdigit() and len(digits) in (5, 9) else str(code)


def address(addresses: Any) -> Address | None:
    """The home/billing (else first current) Address."""
    a = _preferred(addresses, ("old",), ("billing", "home", "work"))
    if a is None:
        return None
    return Address(
        lines=[str(x) for x in items(a.get("line"))],
        city=a.get("city"),
        state=a.get("state"),
        postal_code=_postal(a.get("postalCode")),
        country=a.get("country") or "US",
    )


def _telecom(telecoms: Any, system: str) -> str | None:
    for t in items(telecoms):
        if isinstance(t, dict) and t.get("system") == system and t.get("value") and t.get("use") != "old":
            return str(t["value"])
    return None


def phone(telecoms: Any) -> str | None:
    return _telecom(telecoms, "phone")


def email(telecoms: Any) -> str | None:
    """The first current ContactPoint with system ``email`` (a ``mailto:`` prefix dropped)."""
    value = _telecom(telecoms, "email")
    if value is None:
        return None
    value = value.strip().removeprefix("mailto:")
    return value if "@" in value and not any(c.isspace() for c in value) else None


SEX: dict[str, Sex] = {"male": "M", "female": "F"}


def sex(gender: Any) -> Sex:
    return SEX.get(str(gender), "U") if gender else "U"
