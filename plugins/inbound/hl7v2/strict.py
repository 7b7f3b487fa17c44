"""Strict mode: full hl7apy validation of a message, when a clinic asks.

hl7apy's full parse costs tens of milliseconds a message, so it never runs
on the default path. The message is validated against the version read by
content (see :mod:`.versions`). hl7apy's exception text can quote values, so
only the element it names (``PID_7``) is kept.
"""

from __future__ import annotations

import re

from .problems import Problem
from .reader import Message
from .versions import version_index

_ELEMENT = re.compile(r"\b([A-Z][A-Z0-9]{2})_(\d{1,3})\b")


def validate(msg: Message, version: str) -> list[Problem]:
    """Problems hl7apy finds (at most one: it stops at the first)."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    if version_index(version) is None:
        version = "2.5"
    fields = list(msg.msh.fields)
    while len(fields) <= 12:
        fields.append("")
    fields[12] = version
    head = msg.d.field.join([fields[0], *fields[2:]])
    text = "\r".join([head, *(s.text for s in msg.segments[1:])])
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
