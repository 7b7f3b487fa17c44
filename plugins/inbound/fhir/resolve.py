"""Finding the resource a Reference points at.

Supported forms, tried in this order:

* ``#id`` — a resource contained in the referring resource;
* the ``fullUrl`` of a bundle entry (``urn:uuid:…``, absolute URLs);
* relative ``Type/id`` (and absolute ``…/Type/id``, ``/_history/n`` ignored);
* conditional ``Type?identifier=system|value`` (what Synthea writes);
* identifier-only references (``{"identifier": {...}, "type": "…"}``);
* then the same keys in what earlier messages taught
  (:class:`~gateway.messages.RecordLookup`, kind ``fhir-resource``), so a
  companion bundle sent earlier (practitioners, organisations) resolves
  references in later ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from gateway.messages import RecordLookup, RecordUpdate

from .values import Json, items

RECORD_KIND = "fhir-resource"
#: a patient's coverages (by every key of the patient), for later messages
COVERAGES_KIND = "fhir-coverages"
#: resource types a later message may reference (taught as records)
SHARED_TYPES = frozenset(
    {"Patient", "RelatedPerson", "Coverage", "Organization", "Practitioner", "PractitionerRole", "Location", "Account"}
)
TYPE_ID = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


@dataclass(eq=False, slots=True)
class Res:
    """A resource of the message (or of an earlier one) with where it is.

    ``path`` is its JSON path (``Bundle.entry[3].resource``) for findings;
    ``container`` is the resource holding it when it is contained.
    """

    data: Json
    path: str
    container: Res | None = None
    #: the bundle entry's fullUrl (for ids derived when the resource has none)
    full_url: str | None = None
    type: str = field(init=False)
    get: Any = field(init=False, repr=False)
    _contained: dict[str, Res] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.type = str(self.data.get("resourceType", ""))
        self.get = self.data.get  # the hot path reads many elements

    @property
    def id(self) -> str | None:
        v = self.data.get("id")
        return str(v) if v else None

    def contained(self, local_id: str) -> Res | None:
        """A contained resource by its local id (looked up in the outermost resource)."""
        owner = self.container or self
        if owner._contained is None:
            owner._contained = {}
            for i, c in enumerate(items(owner.data.get("contained"))):
                if isinstance(c, dict) and c.get("id"):
                    owner._contained[str(c["id"])] = Res(c, f"{owner.path}.contained[{i}]", owner)
        return owner._contained.get(local_id)


def same_resource(a: Res | None, b: Res | None) -> bool:
    """True when both are the same resource (also across messages: a shared key)."""
    if a is None or b is None:
        return False
    if a.data is b.data:
        return True
    return a.type == b.type and bool(set(resource_keys(a.data)) & set(resource_keys(b.data)))


def identifier_keys(rtype: str, ident: Json) -> list[str]:
    """Index keys of an identifier: with its system, and system-agnostic."""
    value = ident.get("value")
    if not value:
        return []
    keys = [f"{rtype}?identifier={value}"]
    if ident.get("system"):
        keys.insert(0, f"{rtype}?identifier={ident['system']}|{value}")
    return keys


def resource_keys(data: Json) -> list[str]:
    """Every key a resource can be found by: ``Type/id`` and its identifiers."""
    rtype = data.get("resourceType", "")
    keys = [f"{rtype}/{data['id']}"] if data.get("id") else []
    for ident in items(data.get("identifier")):
        if isinstance(ident, dict):
            keys += identifier_keys(rtype, ident)
    return keys


def _conditional_key(reference: str) -> str | None:
    """``Type?identifier=sys|val`` → an index key (other searches → None)."""
    rtype, _, query = reference.partition("?")
    params = [p.partition("=") for p in query.split("&") if p]
    if len(params) != 1 or params[0][0] != "identifier":
        return None
    token = unquote(params[0][2])
    system, bar, value = token.rpartition("|")
    if not bar:
        return f"{rtype}?identifier={token}"
    return f"{rtype}?identifier={system}|{value}" if system else f"{rtype}?identifier={value}"


def conditional_identifier(reference: str) -> tuple[str | None, str] | None:
    """(system, value) of a conditional ``?identifier=`` reference, for fallbacks."""
    key = _conditional_key(reference) if "?" in reference else None
    if key is None:
        return None
    token = key.partition("?identifier=")[2]
    system, bar, value = token.rpartition("|")
    return (system or None, value) if bar else (None, token)


class Resolver:
    """Indexes a message's resources and resolves references against them
    and against records taught by earlier messages."""

    def __init__(self, records: RecordLookup | None, clinic_id: str) -> None:
        self.records = records
        self.clinic_id = clinic_id
        self.by_key: dict[str, Res] = {}
        self.resources: list[Res] = []
        self.by_type: dict[str, list[Res]] = {}
        self._identifiers_indexed = False

    def add(self, res: Res, full_url: str | None = None) -> None:
        """Index a resource by fullUrl and ``Type/id`` (identifiers: on first need)."""
        self.resources.append(res)
        self.by_type.setdefault(res.type, []).append(res)
        by_key = self.by_key
        if full_url:
            by_key.setdefault(full_url, res)
            if not full_url.startswith("urn:"):
                m = TYPE_ID.search(full_url)
                if m:
                    by_key.setdefault(f"{m[1]}/{m[2]}", res)
        rid = res.data.get("id")
        if rid:
            by_key.setdefault(f"{res.type}/{rid}", res)

    def _index_identifiers(self) -> None:
        self._identifiers_indexed = True
        for res in self.resources:
            for ident in items(res.data.get("identifier")):
                if isinstance(ident, dict):
                    for key in identifier_keys(res.type, ident):
                        self.by_key.setdefault(key, res)

    def _lookup(self, key: str) -> Res | None:
        if key in self.by_key:
            return self.by_key[key]
        if not self._identifiers_indexed and "?identifier=" in key:
            self._index_identifiers()
            if key in self.by_key:
                return self.by_key[key]
        if self.records is None:
            return None
        value = self.records.get(self.clinic_id, RECORD_KIND, key)
        if isinstance(value, dict) and value.get("resourceType"):
            res = Res(value, f"(earlier message) {key}")
            self.by_key[key] = res
            return res
        return None

    def resolve(self, ref: Json | None, at: Res, types: tuple[str, ...] = ()) -> Res | None:
        """The resource ``ref`` (a Reference) points at, seen from resource
        ``at``; None when it cannot be found. ``types`` are the resource
        types the element allows (used for identifier-only references)."""
        if not isinstance(ref, dict):
            return None
        found = self._by_reference(str(ref["reference"]), at) if ref.get("reference") else None
        if found is None and isinstance(ref.get("identifier"), dict):
            for rtype in (ref["type"],) if ref.get("type") else types:
                for key in identifier_keys(rtype, ref["identifier"]):
                    found = self._lookup(key)
                    if found:
                        break
                if found:
                    break
        if found is not None and types and found.type not in types:
            return None
        return found

    def _by_reference(self, reference: str, at: Res) -> Res | None:
        if reference.startswith("#"):
            return at.contained(reference[1:])
        found = self.by_key.get(reference)
        if found:
            return found
        if "?" in reference:
            key = _conditional_key(reference)
            return self._lookup(key) if key else None
        m = TYPE_ID.search(reference)
        return self._lookup(f"{m[1]}/{m[2]}") if m else None

    def earlier_coverages(self, patient: Res) -> list[Res]:
        """Coverages an earlier message listed for this patient."""
        if self.records is None:
            return []
        for key in resource_keys(patient.data):
            found = self.records.get(self.clinic_id, COVERAGES_KIND, key)
            if isinstance(found, list):
                return [Res(c, f"(earlier message) Coverage/{c.get('id')}") for c in found if isinstance(c, dict)]
        return []

    def updates(self) -> list[RecordUpdate]:
        """What this message teaches later ones: every shared resource by all
        its keys. Values are the resources in the JSON shape; decimals in them
        are :class:`~decimal.Decimal` (a JSON store writes them as strings and
        the reader accepts both)."""
        out = []
        for res in self.resources:
            if res.type in SHARED_TYPES and res.container is None:
                out += [RecordUpdate(RECORD_KIND, key, res.data) for key in resource_keys(res.data)]
        return out
