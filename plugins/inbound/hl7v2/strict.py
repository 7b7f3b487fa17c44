"""Strict mode: full hl7apy validation of a message, when a clinic asks.

hl7apy's full parse costs tens of milliseconds a message, so it never runs
on the default path. The message is validated against the version read by
content (see :mod:`.versions`). hl7apy's exception text can quote values, so
only the element it names (``PID_7``) is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .fieldmap import FieldPath
from .problems import Problem
from .reader import Message
from .versions import version_index

_ELEMENT = re.compile(r"\b([A-Z][A-Z0-9]{2})_(\d{1,3})\b")


#: segments a clinic's field map may read that not every version's message
#: structure has a place for (DFT^P03 has no AUT or RF1 before v2.6)
OUTSIDE_STRUCTURE = frozenset({"AUT", "RF1"})


def mapped_outside(paths: Iterable[FieldPath]) -> frozenset[str]:
    """The segments of ``paths`` (a field map's) in :data:`OUTSIDE_STRUCTURE`."""
    return frozenset(p.segment for p in paths) & OUTSIDE_STRUCTURE


def validate(msg: Message, version: str, accepted: frozenset[str] = frozenset()) -> list[Problem]:
    """Problems hl7apy finds (at most one: it stops at the first). Segments
    in ``accepted`` (those the clinic's field map reads, :func:`mapped_outside`)
    are left out of the validation, so they never fail it."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    if version_index(version) is None:
        version = "2.5"
    fields = list(msg.msh.fields)
    while len(fields) <= 12:
        fields.append("")
    fields[12] = version
    head = msg.d.field.join([fields[0], *fields[2:]])
    text = "\r".join([head, *(s.text for s in msg.segments[1:] if s.name not in accepted)])
    try:
        parsed = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
        parsed.validate()
    except Exception as exc:  # hl7apy raises many types; each becomes one finding
        m = _ELEMENT.search(str(exc))
        seg, fld = (m.group(1), int(m.group(2))) if m else (None, None)
        idx = 1 if seg else None
        where = f" at {seg}-{fld}" if seg else ""
        text = f"strict validation as {version} failed ({type(exc).__name__}){where}"
        return [Problem("HL7-STRICT", text, seg, idx, fld)]
    return []
