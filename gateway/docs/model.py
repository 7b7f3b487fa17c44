"""docs/model.md from the canonical model: every model, field, type, default,
description, and where it lands in an 837P."""

from __future__ import annotations

import ast
import inspect
import types
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, PlainSerializer
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from gateway import model as model_module
from gateway.docs.x12_places import DESCRIPTIONS, PLACES

HEADER = """\
# The canonical model

<!-- generated from gateway/model.py and gateway/docs/x12_places.py by
     `python -m gateway.docs model`; do not edit by hand -->

Every plugin shares these models ([`gateway/model.py`](../gateway/model.py),
part of the stable plugin API, [api.md](api.md)): inbound plugins produce an
`Encounter`, the core turns it into `Claim`s (insured care) or `Statement`s
(self-pay), renderers write those out. Money is `Decimal`, never float, and
serialises to a JSON string (`"125.00"`). Unknown keys are refused.

"On the 837P" says where a field lands in an X12 005010X222A1 claim file
(loop and element), or "—" when the 837P does not carry it. The responses
read back (`ResponseBatch` and the models from `X12Control` on: TA1, 999,
277CA, 835) never go on an 837P; their descriptions name the element of the
response they come from ([remittance.md](remittance.md)).
"""


def models() -> list[type[BaseModel]]:
    """The public models of gateway.model, in the order the module defines them."""
    return [
        obj
        for name, obj in vars(model_module).items()
        if inspect.isclass(obj)
        and issubclass(obj, BaseModel)
        and obj.__module__ == model_module.__name__
        and not name.startswith("_")
    ]


def field_comments() -> dict[str, str]:
    """``Model.field`` → its ``#:`` comment lines in gateway/model.py, joined."""
    source = inspect.getsource(model_module)
    lines = source.splitlines()
    out: dict[str, str] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                comment: list[str] = []
                n = stmt.lineno - 2
                while n >= 0 and lines[n].strip().startswith("#:"):
                    comment.insert(0, lines[n].strip()[2:].strip())
                    n -= 1
                if comment:
                    out[f"{node.name}.{stmt.target.id}"] = " ".join(comment)
    for m in models():  # a field declared on a base (``_ClaimInfo``) keeps its comment
        for base in m.__mro__[1:]:
            for key, text in list(out.items()):
                owner, _, name = key.partition(".")
                if owner == base.__name__ and name in m.model_fields:
                    out.setdefault(f"{m.__name__}.{name}", text)
    return out


def type_text(ann: Any, info: FieldInfo | None = None) -> str:
    """A readable type: ``str | None``, ``list[ServiceLine]``, ``Money``."""
    if info is not None and ann is Decimal and any(isinstance(m, PlainSerializer) for m in info.metadata):
        return "Money"
    origin, args = get_origin(ann), get_args(ann)
    if ann is type(None):
        return "None"
    if origin in (Union, types.UnionType):
        return " \\| ".join(type_text(a, info) for a in args)
    if origin is Annotated:
        if args[0] is Decimal and any(isinstance(m, PlainSerializer) for m in args[1:]):
            return "Money"
        return type_text(args[0], info)
    if origin is Literal:
        return _one_of([str(a) for a in args])
    if origin in (list, dict, tuple, set):
        return f"{origin.__name__}[{', '.join(type_text(a) for a in args)}]"
    if inspect.isclass(ann) and issubclass(ann, BaseModel):
        return f"[{ann.__name__}](#{ann.__name__.lower()})"
    if inspect.isclass(ann) and issubclass(ann, Enum):
        return _one_of([str(m.value) for m in ann])
    if ann is Any:
        return "any"
    if inspect.isclass(ann):
        return ann.__name__
    return str(ann).replace("typing.", "")


def _one_of(values: list[str]) -> str:
    quoted = [f'"{v}"' for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        return "empty" if value in ([], {}, ()) else type(value).__name__ + "()"
    value = info.default
    if value is PydanticUndefined or value is None:
        return "—"
    if isinstance(value, Enum):
        return f"`{value.value}`"
    if isinstance(value, bool | int | str | Decimal | date):
        return f"`{value}`"
    return "—"


def _cell(text: str | None) -> str:
    return (text or "—").replace("``", "`").replace("|", "\\|").replace("\n", " ")


def first_paragraph(doc: str | None) -> str:
    return " ".join((inspect.cleandoc(doc or "").split("\n\n")[0]).split())


def missing_entries() -> tuple[list[str], list[str], list[str]]:
    """(fields without a place, fields without a description, entries naming nothing)."""
    comments = field_comments()
    known: set[str] = set()
    no_place, no_description = [], []
    for m in models():
        known.add(m.__name__)
        for name, info in m.model_fields.items():
            key = f"{m.__name__}.{name}"
            known.add(key)
            if key not in PLACES:
                no_place.append(key)
            if not (info.description or comments.get(key) or DESCRIPTIONS.get(key)):
                no_description.append(key)
        if m.__name__ not in PLACES:
            no_place.append(m.__name__)
    stale = sorted((set(PLACES) | set(DESCRIPTIONS)) - known)
    return no_place, no_description, stale


def model_markdown() -> str:
    """The text of docs/model.md."""
    no_place, no_description, stale = missing_entries()
    if no_place or no_description or stale:
        raise ValueError(
            "gateway/docs/x12_places.py is out of date: "
            + "; ".join(
                f"{what}: {', '.join(keys)}"
                for what, keys in (
                    ("no PLACES entry (where it lands in the 837P, or None)", no_place),
                    ("no description (a #: comment in gateway/model.py, or DESCRIPTIONS)", no_description),
                    ("entries for fields that do not exist", stale),
                )
                if keys
            )
        )
    comments = field_comments()
    out = [HEADER]
    out.append(" · ".join(f"[{m.__name__}](#{m.__name__.lower()})" for m in models()) + "\n")
    for m in models():
        out.append(f"## {m.__name__}\n")
        if m.__doc__ and m.__doc__ != BaseModel.__doc__:
            out.append(_cell(first_paragraph(m.__doc__)) + "\n")
        out.append(f"On the 837P: {PLACES[m.__name__] or 'not sent.'}\n")
        out.append("| field | type | default | description | on the 837P |")
        out.append("| --- | --- | --- | --- | --- |")
        for name, info in m.model_fields.items():
            key = f"{m.__name__}.{name}"
            description = info.description or comments.get(key) or DESCRIPTIONS[key]
            out.append(
                f"| `{name}` | {type_text(info.annotation, info)} | {default_text(info)} | {_cell(description)} "
                f"| {_cell(PLACES[key])} |"
            )
        out.append("")
    return "\n".join(out)
