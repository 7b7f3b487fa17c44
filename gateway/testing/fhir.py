"""FHIR R4 bundles for tests: a visit with sensible defaults, edited by resource.

``FhirBundle.visit()`` holds a Patient, the payer Organization, a Coverage,
the rendering Practitioner, the Encounter, one Condition (ICD-10-CM J06.9) and
one ChargeItem (CPT 99213, $125.00), linked by ``urn:uuid`` references, from
sender RIVERSIDE (the example clinic). Edit resources as dicts
(``bundle.resource("Coverage")["subscriberId"] = "…"``) or by path
(``bundle.set("Coverage.subscriberId", "…")``).
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from gateway.testing.builders import SERVICE_DATE

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
NPI = "http://hl7.org/fhir/sid/us-npi"
_NS = uuid.UUID("6f0c2b7e-1d9a-4c55-9a57-3a3c0e0b7a11")

Json = dict[str, Any]


class FhirBundle:
    """A FHIR R4 Bundle under construction; :meth:`encode` gives JSON bytes."""

    def __init__(self, sender: str = "RIVERSIDE", control_id: str = "TEST-B-0001", bundle_type: str = "collection"):
        self.sender = sender
        self.control_id = control_id
        self.bundle_type = bundle_type
        self.entries: list[tuple[str, Json]] = []

    @classmethod
    def visit(cls, sender: str = "RIVERSIDE", control_id: str = "TEST-B-0001", service_date: date = SERVICE_DATE):
        """An insured office visit (see the module docstring)."""
        b = cls(sender, control_id)
        patient = b.add(
            {
                "resourceType": "Patient",
                "identifier": [{"system": "http://example.org/fhir/mrn", "value": "RV-90001"}],
                "name": [{"family": "Testperson", "given": ["Alma"]}],
                "gender": "female",
                "birthDate": "1980-04-12",
                "address": [
                    {"line": ["12 Fictional Lane"], "city": "Springfield", "state": "IL", "postalCode": "62701"}
                ],
            }
        )
        payer = b.add(
            {
                "resourceType": "Organization",
                "identifier": [{"system": "http://example.org/fhir/payer-id", "value": "example-health-plan"}],
                "type": [
                    {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "ins"}]}
                ],
                "name": "Example Health Plan",
            }
        )
        b.add(
            {
                "resourceType": "Coverage",
                "status": "active",
                "subscriberId": "XHP123456789",
                "beneficiary": {"reference": patient},
                "relationship": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship", "code": "self"}
                    ]
                },
                "payor": [{"reference": payer}],
                "order": 1,
            }
        )
        doctor = b.add(
            {
                "resourceType": "Practitioner",
                "identifier": [{"system": NPI, "value": "1543210987"}],
                "name": [{"family": "Example", "given": ["Robin"]}],
            }
        )
        b.add(
            {
                "resourceType": "Encounter",
                "status": "finished",
                "identifier": [{"system": "http://example.org/fhir/visit", "value": "V90001"}],
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": {"reference": patient},
                "participant": [{"individual": {"reference": doctor}}],
                "period": {"start": service_date.isoformat(), "end": service_date.isoformat()},
            }
        )
        b.add_diagnosis("J06.9")
        b.add_charge("99213", "125.00", service_date=service_date)
        return b

    # -- resources -------------------------------------------------------------
    def add(self, resource: Json) -> str:
        """Add a resource; returns its reference (``urn:uuid:…``) for others to point at."""
        if "resourceType" not in resource:
            raise ValueError("a FHIR resource needs a resourceType")
        ident = str(uuid.uuid5(_NS, f"{self.control_id}/{len(self.entries)}"))
        resource.setdefault("id", ident)
        url = f"urn:uuid:{ident}"
        self.entries.append((url, resource))
        return url

    def resources(self, resource_type: str) -> list[Json]:
        return [r for _, r in self.entries if r["resourceType"] == resource_type]

    def resource(self, resource_type: str, index: int = 0) -> Json:
        """The ``index``-th (0-based) resource of a type, to edit in place."""
        found = self.resources(resource_type)
        if index >= len(found):
            raise KeyError(f"the bundle has {len(found)} {resource_type} resource(s)")
        return found[index]

    def ref(self, resource_type: str, index: int = 0) -> str:
        """The reference of the ``index``-th resource of a type."""
        target = self.resource(resource_type, index)
        return next(url for url, r in self.entries if r is target)

    def remove(self, resource_type: str) -> FhirBundle:
        """Drop every resource of a type (``remove("Coverage")`` makes the visit self-pay)."""
        self.entries = [(u, r) for u, r in self.entries if r["resourceType"] != resource_type]
        return self

    def set(self, path: str, value: Any) -> FhirBundle:
        """Set ``Type.key.key[i].key`` on the first resource of ``Type`` (``Type[1]`` for the second)."""
        head, _, rest = path.partition(".")
        rtype, _, idx = head.partition("[")
        node: Any = self.resource(rtype, int(idx.rstrip("]")) if idx else 0)
        keys = [k for k in rest.replace("]", "").replace("[", ".").split(".") if k]
        if not keys:
            raise ValueError(f"{path!r}: name an element, e.g. Coverage.subscriberId")
        for key, nxt in zip(keys, [*keys[1:], None], strict=True):
            k: Any = int(key) if key.isdigit() else key
            if nxt is None:
                node[k] = value
            elif isinstance(k, int):
                node = node[k]
            else:
                node = node.setdefault(k, [] if nxt.isdigit() else {})
        return self

    def add_diagnosis(self, code: str, system: str = ICD10CM) -> str:
        """A Condition of the visit's Encounter and Patient."""
        return self.add(
            {
                "resourceType": "Condition",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                "code": "encounter-diagnosis",
                            }
                        ]
                    }
                ],
                "code": {"coding": [{"system": system, "code": code}]},
                "subject": {"reference": self.ref("Patient")},
                "encounter": {"reference": self.ref("Encounter")},
            }
        )

    def add_charge(
        self,
        code: str,
        charge: str | Decimal,
        *,
        units: int | Decimal = 1,
        system: str = CPT,
        service_date: date = SERVICE_DATE,
    ) -> str:
        """A billable ChargeItem of the visit (``charge`` is the line total)."""
        return self.add(
            {
                "resourceType": "ChargeItem",
                "status": "billable",
                "code": {"coding": [{"system": system, "code": code}]},
                "subject": {"reference": self.ref("Patient")},
                "context": {"reference": self.ref("Encounter")},
                "occurrenceDateTime": service_date.isoformat(),
                "quantity": {"value": float(units) if isinstance(units, Decimal) else units},
                "priceOverride": {"value": float(Decimal(str(charge))), "currency": "USD"},
            }
        )

    # -- output ----------------------------------------------------------------
    def to_dict(self) -> Json:
        return {
            "resourceType": "Bundle",
            "type": self.bundle_type,
            "meta": {"source": self.sender},
            "identifier": {"system": "http://example.org/fhir/bundle", "value": self.control_id},
            "entry": [{"fullUrl": url, "resource": r} for url, r in self.entries],
        }

    def encode(self) -> bytes:
        return json.dumps(self.to_dict(), indent=1).encode()
