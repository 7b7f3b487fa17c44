"""FHIR XML → the FHIR JSON shape, through a hardened lxml parser.

The parser refuses what makes XML dangerous: documents with a DOCTYPE are
rejected before parsing (no DTD, so no entity expansion — billion laughs —
and no external entities — XXE); the parser itself is also configured with
``resolve_entities=False``, ``no_network=True``, ``load_dtd=False`` and
``huge_tree=False`` (libxml2's limits on depth and text size stay on).

Conversion follows the R4B models: which elements repeat (→ JSON arrays),
which are primitives (``value`` attribute → JSON value; ``id``/extensions →
``_name``), which hold a resource (``contained``, ``entry.resource``), and
the XHTML narrative (→ a string). The result goes through the same
validation and reading as JSON input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from fhir_core.utils import get_fhir_type_name, is_list_type, is_primitive_type
from lxml import etree

from .models import VERSION_PREFIX, model_class
from .values import Json

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt", "integer64"})
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)


class XmlProblem(Exception):
    """The XML cannot be read; ``rule`` and ``location`` go into the finding."""

    def __init__(self, rule: str, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.location = location


def has_doctype(raw: bytes) -> bool:
    """True when the document declares a DTD or entities (refused)."""
    return bool(_DOCTYPE.search(raw) or _ENTITY.search(raw))


def hardened_parser() -> etree.XMLParser:
    """An lxml parser that never loads DTDs, resolves entities or touches the network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def parse_xml(raw: bytes) -> etree._Element:
    """Parse with the hardened parser (raises :class:`XmlProblem`)."""
    if has_doctype(raw):
        raise XmlProblem("FHIR-XML-DTD", "XML with a DOCTYPE or entity declarations is refused (XXE protection)")
    try:
        root = etree.fromstring(raw, parser=hardened_parser())
    except etree.XMLSyntaxError as exc:
        line = getattr(exc, "lineno", None)
        raise XmlProblem("FHIR-XML", "not well-formed XML", f"line {line}" if line else None) from None
    if root.getroottree().docinfo.doctype:  # pragma: no cover - refused above; defence in depth
        raise XmlProblem("FHIR-XML-DTD", "XML with a DOCTYPE is refused")
    return root


@dataclass(frozen=True)
class _Field:
    key: str
    repeats: bool
    kind: str  # "primitive", "xhtml", "resource", "complex"
    type_name: str
    cls: Any = None


@cache
def _fields(cls: Any) -> dict[str, _Field]:
    out = {}
    for name, info in cls.model_fields.items():
        key = info.alias or name
        if name.endswith("__ext") or name in ("fhir_comments", "resource_type") or key.startswith("_"):
            continue
        try:
            type_name = get_fhir_type_name(info, prefix=VERSION_PREFIX)
        except ValueError:
            continue
        if is_primitive_type(info):
            kind, sub = ("xhtml" if type_name == "xhtml" else "primitive"), None
        elif type_name == "Resource":
            kind, sub = "resource", None
        else:
            kind, sub = "complex", model_class(type_name)
        out[key] = _Field(key, is_list_type(info), kind, type_name, sub)
    return out


def _local(el: etree._Element) -> tuple[str | None, str]:
    q = etree.QName(el)
    return q.namespace, q.localname


def _primitive(value: str | None, type_name: str) -> Any:
    """Convert the ``value`` attribute to its JSON type; leave bad values as
    strings so validation reports them with their path."""
    if value is None:
        return None
    if type_name == "boolean":
        return {"true": True, "false": False}.get(value, value)
    if type_name in _INTEGER_TYPES:
        return int(value) if re.fullmatch(r"[+-]?\d+", value) else value
    if type_name == "decimal":
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    return value


class _Converter:
    def __init__(self, entry_types: frozenset[str] | None) -> None:
        self.entry_types = entry_types

    def resource(self, el: etree._Element, path: str) -> Json:
        ns, name = _local(el)
        if ns != FHIR_NS:
            raise XmlProblem("FHIR-XML", "element is not in the FHIR namespace (http://hl7.org/fhir)", path)
        cls = model_class(name)
        if cls is None or not cls.has_resource_base():
            raise XmlProblem("FHIR-RESOURCE-TYPE", f"unknown resource type '{name}'", path)
        out: Json = {"resourceType": name}
        self.complex_into(out, el, cls, path if path else name)
        return out

    def complex_into(self, out: Json, el: etree._Element, cls: Any, path: str) -> None:
        fields = _fields(cls)
        for attr in ("id", "url"):
            if el.get(attr) is not None and attr in fields:
                out[attr] = el.get(attr)
        for child in el:
            if not isinstance(child.tag, str):
                continue
            ns, name = _local(child)
            spec = fields.get(name)
            where = f"{path}.{name}"
            if spec is None or (ns != FHIR_NS and not (spec.kind == "xhtml" and ns == XHTML_NS)):
                raise XmlProblem("FHIR-XML-ELEMENT", f"unexpected element '{name}'", where)
            if spec.repeats:
                where += f"[{len(out.get(name, []))}]"
            if name == "entry" and self.entry_types is not None and not self._wanted(child):
                value: Any = {}
            else:
                value = self.value(child, spec, where)
            if spec.kind == "primitive":
                self._primitive_extras(out, child, spec, where)
            if spec.repeats:
                out.setdefault(name, []).append(value)
            else:
                out[name] = value

    def _wanted(self, entry: etree._Element) -> bool:
        for res in entry.iterchildren(f"{{{FHIR_NS}}}resource"):
            return any(_local(r)[1] in self.entry_types for r in res if isinstance(r.tag, str))  # type: ignore[operator]
        return False

    def value(self, el: etree._Element, spec: _Field, path: str) -> Any:
        if spec.kind == "xhtml":
            return etree.tostring(el, encoding="unicode", with_tail=False)
        if spec.kind == "primitive":
            return _primitive(el.get("value"), spec.type_name)
        if spec.kind == "resource":
            inner = [c for c in el if isinstance(c.tag, str)]
            if len(inner) != 1:
                raise XmlProblem("FHIR-XML", "expected exactly one resource", path)
            return self.resource(inner[0], path)
        out: Json = {}
        self.complex_into(out, el, spec.cls, path)
        return out

    def _primitive_extras(self, out: Json, el: etree._Element, spec: _Field, path: str) -> None:
        """``id`` and extensions on a primitive go to ``_name`` (aligned for lists)."""
        ext: Json = {}
        if el.get("id") is not None:
            ext["id"] = el.get("id")
        children = [c for c in el if isinstance(c.tag, str)]
        if children:
            holder: Json = {}
            self.complex_into(holder, el, model_class("Element"), path)
            if holder.get("extension"):
                ext["extension"] = holder["extension"]
        key = f"_{spec.key}"
        if spec.repeats:
            index = len(out.get(spec.key, []))
            if ext or key in out:
                lst = out.setdefault(key, [])
                lst.extend([None] * (index + 1 - len(lst)))
                lst[index] = ext or None
        elif ext:
            out[key] = ext


def xml_to_json(raw: bytes, entry_types: frozenset[str] | None = None) -> Json:
    """Parse FHIR XML and return the JSON shape of its root resource.

    ``entry_types`` limits which Bundle entries are converted (cheap
    envelope reading); others become empty entries. Raises :class:`XmlProblem`.
    """
    root = parse_xml(raw)
    return _Converter(entry_types).resource(root, "")


def root_resource_type(raw: bytes) -> str | None:
    """The root element's name when it is in the FHIR namespace (cheap sniff)."""
    m = _ROOT.search(raw[:8192])
    if not m:
        return None
    prefix, name, attrs = m[1], m[2], m[3] or b""
    decl = rb"xmlns:" + prefix[:-1] if prefix else rb"xmlns"
    ns = re.search(re.escape(decl) + rb"\s*=\s*[\"']([^\"']*)[\"']", attrs)
    return name.decode() if ns and ns[1] == FHIR_NS.encode() else None


_ROOT = re.compile(rb"<(?![?!/])([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)((?:\s[^>]*)?)/?>")
