"""Recognising FHIR JSON and XML cheaply, and what routes them.

JSON: ``"resourceType"`` within the first 4 KB of a JSON object. XML: the
root element is in the ``http://hl7.org/fhir`` namespace. The envelope's
``sender`` (the sending organisation) is, in order: the MessageHeader's
sender organisation (its own id, else its NPI) or ``source.name`` /
``source.endpoint``; ``meta.source`` of the bundle or resource; the Claim's
provider organisation. ``control_id`` is ``Bundle.identifier`` else a
valid ``Bundle.id`` (the resource id for single resources).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from gateway.messages import Envelope

from .settings import DEFAULT_MAX_BYTES
from .values import Json, items, local_id_of, valid_id

# .xml (lxml, the fhir.resources models) is imported when XML arrives: sniffing
# an HL7 or JSON input imports neither

JSON_FORMAT = "fhir-json"
XML_FORMAT = "fhir-xml"
FORMATS = (JSON_FORMAT, XML_FORMAT)
#: envelopes of bigger inputs carry the format only (parse checks the clinic's size cap):
#: what the default cap refuses is never decoded whole
ENVELOPE_SCAN_LIMIT = DEFAULT_MAX_BYTES
_JSON_HEAD = re.compile(rb'\A\s*\{.{0,4096}?"resourceType"\s*:\s*"([A-Za-z]*)"', re.S)
_ENVELOPE_ENTRIES = frozenset({"MessageHeader", "Organization", "Claim"})


def strip_bom(raw: bytes) -> bytes:
    return raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw


def detect(raw: bytes) -> str | None:
    """``fhir-json``, ``fhir-xml`` or None, from the first few KB only."""
    head = strip_bom(raw[:8192]).lstrip()
    if head.startswith(b"{"):
        return JSON_FORMAT if _JSON_HEAD.match(head) else None
    if head.startswith(b"<"):
        from .xml import root_resource_type

        return XML_FORMAT if root_resource_type(head) else None
    return None


def load_json(raw: bytes) -> Any:
    """JSON with decimals kept exact (raises ValueError/UnicodeDecodeError)."""
    return json.loads(strip_bom(raw).decode("utf-8"), parse_float=Decimal)


def sniff(raw: bytes) -> Envelope | None:
    """The envelope of a FHIR input, or None when it is not FHIR."""
    fmt = detect(raw)
    if fmt is None:
        return None
    doc: Any = None
    if len(raw) <= ENVELOPE_SCAN_LIMIT and fmt == JSON_FORMAT:
        try:
            doc = load_json(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            doc = None  # parse reports the problem with its location
    elif len(raw) <= ENVELOPE_SCAN_LIMIT:
        from .xml import XmlProblem, has_doctype, xml_to_json

        try:
            doc = None if has_doctype(raw) else xml_to_json(raw, entry_types=_ENVELOPE_ENTRIES)
        except (ValueError, UnicodeDecodeError, RecursionError, XmlProblem):
            doc = None
    if not isinstance(doc, dict):
        return Envelope(format=fmt, version="R4")
    envelope = envelope_of(fmt, doc)
    if fmt == JSON_FORMAT:
        # the decoded document rides along so parse does not decode it again
        envelope.extra["doc"] = doc
    return envelope


def envelope_of(fmt: str, doc: Json) -> Envelope:
    rtype = str(doc.get("resourceType") or "")
    resources = [doc]
    bundle_type = None
    if rtype == "Bundle":
        bundle_type = doc.get("type")
        resources = [e["resource"] for e in items(doc.get("entry")) if isinstance(e, dict) and e.get("resource")]
    control = None
    if isinstance(doc.get("identifier"), dict) and doc["identifier"].get("value"):
        control = str(doc["identifier"]["value"])
    elif valid_id(doc.get("id")):
        control = str(doc["id"])
    extra = {"resource_type": rtype}
    if bundle_type:
        extra["bundle_type"] = str(bundle_type)
    message_type = str(bundle_type) if bundle_type else rtype
    header = next((r for r in resources if r.get("resourceType") == "MessageHeader"), None)
    if header is not None:
        event = header.get("eventCoding") or {}
        if event.get("code"):
            message_type = f"message:{event['code']}"
    return Envelope(
        format=fmt,
        sender=_sender(doc, resources, header),
        control_id=control,
        message_type=message_type,
        version="R4",
        extra=extra,
    )


def _org_id(ref: Any, orgs: dict[str, Json]) -> str | None:
    """An organisation's id from a Reference: its identifier, else the
    referenced Organization's own id (by fullUrl or ``Organization/id``)."""
    if not isinstance(ref, dict):
        return None
    ident = ref.get("identifier")
    if isinstance(ident, dict) and ident.get("value"):
        return str(ident["value"])
    target = str(ref.get("reference") or "")
    org = orgs.get(target) or orgs.get("Organization/" + target.rpartition("/Organization/")[2])
    return local_id_of(org) if org else None


def _organisations(doc: Json) -> dict[str, Json]:
    out: dict[str, Json] = {}
    for e in items(doc.get("entry")):
        res = e.get("resource") if isinstance(e, dict) else None
        if isinstance(res, dict) and res.get("resourceType") == "Organization":
            if e.get("fullUrl"):
                out[str(e["fullUrl"])] = res
            if res.get("id"):
                out[f"Organization/{res['id']}"] = res
    return out


def _sender(doc: Json, resources: list[Json], header: Json | None) -> str | None:
    orgs = _organisations(doc)
    if header is not None:
        source = header.get("source") or {}
        found = _org_id(header.get("sender"), orgs) or source.get("name") or source.get("endpoint")
        if found:
            return str(found)
    for res in (doc, *resources):
        meta_source = (res.get("meta") or {}).get("source")
        if meta_source:
            return str(meta_source)
    for res in resources:
        if res.get("resourceType") == "Claim":
            found = _org_id(res.get("provider"), orgs)
            if found:
                return found
    return None
