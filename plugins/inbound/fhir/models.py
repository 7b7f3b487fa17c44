"""The fhir.resources R4B models (fhir.resources 8 defaults to R5; R4 input
validates with R4B) and validation findings that carry the JSON path."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.patient import Patient as _Patient
from fhir_core.utils import determine_version_prefix_from_class
from pydantic import ValidationError

from gateway.model import Finding, Severity

from .rules import RULES
from .values import Json, items

VERSION_PREFIX = determine_version_prefix_from_class(_Patient)
#: at most this many validation problems are reported per message
MAX_REPORTED = 20


@cache
def model_class(name: str) -> Any | None:
    """The R4B model class for a resource or data type name, else None."""
    if not re.fullmatch(r"[A-Z][A-Za-z]*", name or ""):
        return None
    try:
        return get_fhir_model_class(name)
    except (KeyError, ValueError, AttributeError, ImportError):
        return None


def is_resource_type(name: Any) -> bool:
    cls = model_class(name) if isinstance(name, str) else None
    return cls is not None and cls.has_resource_base() and name not in ("Resource", "DomainResource")


def finding(severity: Severity, rule: str, message: str, location: str | None = None) -> Finding:
    """A finding of the declared rule ``rule`` (:mod:`.rules`; an undeclared id is a KeyError)."""
    return RULES[rule].finding(message, location, severity)


def error(rule: str, message: str, location: str | None = None) -> Finding:
    return finding(Severity.ERROR, rule, message, location)


def warning(rule: str, message: str, location: str | None = None) -> Finding:
    return finding(Severity.WARNING, rule, message, location)


def info(rule: str, message: str, location: str | None = None) -> Finding:
    return finding(Severity.INFO, rule, message, location)


def json_path(root: str, loc: tuple[Any, ...]) -> str:
    """``("entry", 0, "resource", "birthDate")`` → ``Bundle.entry[0].resource.birthDate``."""
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = {"resource_type": "resourceType"}.get(str(part), str(part))
            out += f".{name.removesuffix('__ext')}"
    return out


def unknown_types(doc: Json) -> list[Finding]:
    """Resources with an unknown ``resourceType`` (the models would fail
    without saying where): the root, bundle entries and contained ones."""
    out = []

    def check(res: Any, path: str | None) -> None:
        if not isinstance(res, dict):
            return
        rtype = res.get("resourceType")
        if not is_resource_type(rtype):
            what = f"unknown resourceType '{str(rtype)[:64]}'" if rtype else "resourceType is missing"
            out.append(error("FHIR-RESOURCE-TYPE", what, f"{path}.resourceType" if path else "resourceType"))
            return
        path = path or str(rtype)
        for i, c in enumerate(items(res.get("contained"))):
            check(c, f"{path}.contained[{i}]")
        if rtype == "Bundle":
            for i, e in enumerate(items(res.get("entry"))):
                if isinstance(e, dict) and "resource" in e:
                    check(e["resource"], f"{path}.entry[{i}].resource")

    check(doc, None)
    return out


def _message(err: dict[str, Any]) -> str:
    msg = " ".join(str(err.get("msg", "invalid")).split())
    msg = msg.removeprefix("Value error, ")
    if err.get("type") == "missing":
        return "required element is missing"
    if err.get("type") == "extra_forbidden":
        return "element is not defined for this resource"
    return msg[:200]


def validate(doc: Json) -> list[Finding]:
    """Validate ``doc`` (a resource in the JSON shape, decimals as Decimal)
    with the R4B model of its type; one error finding per problem, located
    by JSON path. Input values are never quoted (they may be patient data).
    Python mode on the loaded document measured as fast as JSON mode on the
    bytes, and it is the one path for JSON and XML input."""
    root = str(doc.get("resourceType"))
    cls = model_class(root) if is_resource_type(root) else None
    if cls is None:
        return unknown_types(doc)
    if root == "Bundle" and _valid_entry_by_entry(cls, doc):
        return []
    try:
        cls.model_validate(doc)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        out = [error("FHIR-INVALID", _message(e), json_path(root, tuple(e["loc"]))) for e in errors[:MAX_REPORTED]]
        if len(errors) > MAX_REPORTED:
            out.append(error("FHIR-INVALID", f"{len(errors) - MAX_REPORTED} more validation problems not listed"))
        return out
    except RecursionError:
        return [error("FHIR-DEPTH", "the resource is nested too deeply to validate", root)]
    except Exception as exc:  # the models raise KeyError for a nested unknown resourceType
        return unknown_types(doc) or [
            error("FHIR-INVALID", f"the resource could not be validated ({type(exc).__name__})", root)
        ]
    return []


def _valid_entry_by_entry(bundle: Any, doc: Json) -> bool:
    """True when the bundle without its entries' resources and then each
    entry's resource, with the model of its own type, validate: what the
    whole Bundle model says of a valid bundle (it validates each entry's
    resource with that same model), but with one resource's models alive at a
    time instead of the whole bundle's (15-18x its size). False at the first
    problem: the caller then validates the whole bundle, so the findings of
    an invalid one are exactly what they were."""
    entries = doc.get("entry")
    if not isinstance(entries, list):
        return False
    shells, resources = [], []
    for entry in entries:
        if isinstance(entry, dict) and "resource" in entry:
            res = entry["resource"]
            rtype = res.get("resourceType") if isinstance(res, dict) else None
            if not is_resource_type(rtype):
                return False
            resources.append((model_class(rtype), res))
            entry = {k: v for k, v in entry.items() if k != "resource"}
        shells.append(entry)
    try:
        bundle.model_validate({**doc, "entry": shells})
        for cls, res in resources:
            cls.model_validate(res)
    except Exception:  # ValidationError, RecursionError, a nested unknown type: the whole bundle says which
        return False
    return True
