"""PID → Patient, PV1 → visit facts, GT1 → Guarantor (as dicts of model
fields; the encounter validates them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from gateway.codes import X12_RELATIONSHIPS, x12_relationship
from gateway.model import Patient

from .fieldmap import GuarantorMap, PatientMap, VisitMap
from .problems import Problems
from .values import Scope, comp, to_address, to_date, to_name, to_phone, to_provider, to_sex


def _patient_id(fm: PatientMap, scope: Scope) -> str:
    """The MRN: the first repetition of the first path whose identifier type
    is preferred, else the first non-empty value of the paths in order."""
    first = fm.id[0]
    seg = scope.segment(first.segment)
    if fm.id_types and seg is not None:
        c = first.component or 1
        for rep in range(len(seg.repetitions(first.field))):
            parts, _ = scope.parts(first, rep)
            if comp(parts, 5).upper() in fm.id_types and comp(parts, c):
                return comp(parts, c)
    return scope.first(fm.id)[0]


def read_patient(fm: PatientMap, scope: Scope, problems: Problems) -> dict[str, Any] | None:
    """The patient of the PID (None, with an error, when there is none)."""
    pid = scope.segment(fm.name.segment)
    if pid is None:
        problems.at("HL7-NO-PID", "the message has no PID segment", fm.name.segment, 1)
        return None
    pid_id = _patient_id(fm, scope)
    if not pid_id:
        first = fm.id[0]
        problems.add("HL7-REQUIRED", f"{first.segment}-{first.field} patient identifier is empty", pid, first.field)
    name = to_name(scope.parts(fm.name)[0])
    if name is None:
        problems.add("HL7-REQUIRED", f"{fm.name.segment}-{fm.name.field} patient name is empty", pid, fm.name.field)
    if not pid_id or name is None:
        return None
    dob = fm.birth_date
    return {
        "id": pid_id,
        "name": name,
        "birth_date": to_date(
            scope.get(dob), problems, scope.segment(dob.segment), dob.field, f"{dob.segment}-{dob.field}"
        ),
        "sex": to_sex(scope.get(fm.sex)),
        "address": to_address(scope.parts(fm.address)[0]),
        "phone": to_phone(scope.parts(fm.phone)[0]),
    }


def merge_patient(sent: dict[str, Any], known: Patient | None) -> dict[str, Any]:
    """What this message sent, with gaps filled from what an ADT taught."""
    if known is None or known.id != sent["id"]:
        return sent
    out = dict(sent)
    for key in ("birth_date", "address", "phone"):
        if sent[key] is None and getattr(known, key) is not None:
            out[key] = getattr(known, key)
    if sent["sex"] == "U" and known.sex != "U":
        out["sex"] = known.sex
    return out


@dataclass
class Visit:
    """PV1 facts an encounter needs."""

    id: str
    patient_class: str
    attending: dict[str, Any] | None
    referring: dict[str, Any] | None
    admit_date: date | None
    place_of_service: str | None


def _provider(paths: list, scope: Scope, problems: Problems) -> dict[str, Any] | None:
    for p in paths:
        parts, seg = scope.parts(p)
        prov = to_provider(parts, problems, seg, p.field)
        if prov is not None:
            return prov
    return None


def read_visit(fm: VisitMap, scope: Scope, problems: Problems, fallback_id: str) -> Visit:
    """The visit of the PV1 (an id is always returned: the control id when
    neither PV1-19 nor the account number is sent)."""
    visit_id, _, _ = scope.first(fm.id)
    if not visit_id:
        text = "no visit number (PV1-19) or account number; the message control id is used"
        problems.at("HL7-NO-VISIT", text, "PV1", 1, 19)
        visit_id = fallback_id
    admit, path, seg = scope.first(fm.admit_date)
    admit_date = to_date(admit, problems, seg, path.field, f"{path.segment}-{path.field}") if path else None
    klass = scope.get(fm.patient_class).upper()
    return Visit(
        id=visit_id,
        patient_class=klass,
        attending=_provider(fm.attending, scope, problems),
        referring=_provider(fm.referring, scope, problems),
        admit_date=admit_date,
        place_of_service=fm.place_of_service.get(klass),
    )


def read_guarantor(fm: GuarantorMap, scope: Scope, problems: Problems) -> dict[str, Any] | None:
    """The first GT1 as the statement's guarantor."""
    name = to_name(scope.parts(fm.name)[0])
    if name is None:
        return None
    rel, _, _ = scope.first(fm.relationship)
    address = next((a for p in fm.address if (a := to_address(scope.parts(p)[0])) is not None), None)
    phone = next((ph for p in fm.phone if (ph := to_phone(scope.parts(p)[0])) is not None), None)
    return {
        "name": name,
        "address": address,
        "phone": phone,
        "relationship": X12_RELATIONSHIPS.get(x12_relationship(rel)) if rel else None,
        "account_number": scope.first(fm.number)[0] or None,
    }
