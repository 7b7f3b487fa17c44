"""Hypothesis strategies shared by the model, bad-input, security and fuzz tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import Enum
from typing import Any, Literal, get_args, get_origin

from hypothesis import strategies as st
from pydantic import BaseModel

from gateway.model import Claim

#: any Unicode text but lone surrogates (JSON cannot carry them)
text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)

#: X12 and HL7 separators, line breaks and control characters: what an attacker types
HOSTILE = "*~:^|>!\\&\r\n\t\x00\x07\x1c\x1d\x1e\x1f\u2028\u202e\u200b"
hostile_text = st.text(st.sampled_from(HOSTILE + "A1 -'é李😀"), min_size=1, max_size=16)
#: random Unicode, with hostile characters made likely
unicode_text = text | hostile_text | st.text(min_size=1, max_size=70)


# -- byte mutations (fuzzing readers) -------------------------------------------------

#: (position, length, byte) edits: delete, insert or replace (see :func:`mutate`)
edits = st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(0, 8), st.sampled_from(list(b"|^~\\&\r\n0123456789A-.#"))),
    max_size=12,
)


def mutate(sample: bytes, changes: list[tuple[int, int, int]], alphabet: bytes | None = None) -> bytes:
    """``sample`` with each edit applied: ``length % 3`` 0 deletes ``length``
    bytes, 1 inserts ``length`` copies of the byte, 2 replaces one byte.
    ``alphabet`` maps the edit's byte onto other characters (X12 separators…)."""
    data = bytearray(sample)
    for pos, length, byte in changes:
        if alphabet:
            byte = alphabet[byte % len(alphabet)]
        at = pos % (len(data) + 1)
        if length % 3 == 0:
            data[at : at + length] = b""
        elif length % 3 == 1:
            data[at:at] = bytes([byte]) * length
        else:
            data[at : at + 1] = bytes([byte])
    return bytes(data)


# -- claims with hostile strings ------------------------------------------------------

#: string fields that are not element values (configuration, routing) or are fixed by the model's types
NOT_WRITTEN = frozenset({"clinic_id"})
#: free-text fields (cleaned by the renderer); every other string is an identifier or code
TEXT_FIELDS = frozenset(
    {"family", "given", "middle", "suffix", "organization_name", "lines", "city", "group_name", "plan_name",
     "description", "name", "note", "text"}
)  # fmt: skip


def _is_literal(annotation: Any) -> bool:
    """A Literal or an enum: the model fixes the value (qualifiers, sex)."""
    if get_origin(annotation) is Literal or (isinstance(annotation, type) and issubclass(annotation, Enum)):
        return True
    return any(_is_literal(a) for a in get_args(annotation))


def string_fields(model: BaseModel, path: str = "") -> Iterator[tuple[str, BaseModel, str, int | None]]:
    """(dotted path, owner, field name, list index) of every string value in ``model``."""
    for name, info in type(model).model_fields.items():
        if name in NOT_WRITTEN or _is_literal(info.annotation):
            continue
        value = getattr(model, name)
        where = f"{path}.{name}" if path else name
        if isinstance(value, str):
            yield where, model, name, None
        elif isinstance(value, BaseModel):
            yield from string_fields(value, where)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    yield f"{where}[{i}]", model, name, i
                elif isinstance(item, BaseModel):
                    yield from string_fields(item, f"{where}[{i}]")


def location(path: str) -> str:
    """A :func:`string_fields` path as findings name it: ``claim.`` and 1-based indexes."""
    return "claim." + re.sub(r"\[(\d+)\]", lambda m: f"[{int(m.group(1)) + 1}]", path)


def is_text(path: str) -> bool:
    """True for a free-text field's path (its last name is in :data:`TEXT_FIELDS`)."""
    last = path.rsplit(".", 1)[-1].split("[", 1)[0]
    return last in TEXT_FIELDS


@st.composite
def hostile_claims(draw: st.DrawFn, base: list[Claim], only_text: bool = False) -> Claim:
    """A copy of one of ``base`` with random Unicode in one to four of its
    string fields (any string field can be drawn; only free-text fields when
    ``only_text``)."""
    claim = draw(st.sampled_from(base)).model_copy(deep=True)
    fields = [f for f in string_fields(claim) if not only_text or is_text(f[0])]
    for _path, owner, name, index in draw(st.lists(st.sampled_from(fields), min_size=1, max_size=4)):
        value = draw(unicode_text)
        if index is None:
            setattr(owner, name, value)
        else:
            getattr(owner, name)[index] = value
    return claim
