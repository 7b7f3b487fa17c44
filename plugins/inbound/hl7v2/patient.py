"""PID → Patient, PV1 → visit facts, GT1 → Guarantor (as dicts of model
fields; the encounter validates them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from gateway.codes import X12_RELATIONSHIPS, x12_relationship
from gateway.model import Patient

from .fieldmap import GuarantorMap, PatientMap, VisitMap
from .problems import Issues
from .values import Scope, comp, split_parts, to_address, to_date, to_name, to_provider, to_sex

#: a birth date before this year is implausible (a typo like 10131113)
EARLIEST_BIRTH_YEAR = 1900


def _patient_id(fm: PatientMap, scope: Scope) -> str:
    """The MRN: the first repetition of the first path whose identifier type
    is preferred, else the first non-empty value of the paths in order."""
    first = fm.id[0]
    if fm.id_types:
        reps, seg = scope._reps(first)
        c = first.component or 1
        for raw in reps:
            parts = split_parts(raw, seg.d)  # type: ignore[union-attr]
            if comp(parts, 5).upper() in fm.id_types and comp(parts, c):
                return comp(parts, c)
    return scope.first(fm.id)[0]


def _plausible_birth_date(dob: date | None, sent: str, problems: Issues, seg: Any, fld: int) -> None:
    """Warn on a birth date before 1900 or after the message was sent
    (``sent``: MSH-7's YYYYMMDD, '' when not sent)."""
    if dob is None:
        return
    if dob.year < EARLIEST_BIRTH_YEAR:
        problems.add("HL7-DOB", f"the birth date is before {EARLIEST_BIRTH_YEAR}; check it", seg, fld)
    elif sent and f"{dob.year:04d}{dob.month:02d}{dob.day:02d}" > sent:
        problems.add("HL7-DOB", "the birth date is after the message date (MSH-7); check it", seg, fld)


def read_patient(
    fm: PatientMap, scope: Scope, problems: Issues, country: str = "US", sent: str = ""
) -> dict[str, Any] | None:
    """The patient of the PID (None, with an error, when there is none);
    ``country`` for an address without one (MSH-17), ``sent`` the message
    date (MSH-7, YYYYMMDD) a birth date may not be after."""
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
    dob_seg = scope.segment(dob.segment)
    birth_date = to_date(scope.get(dob), problems, dob_seg, dob.field, dob)
    _plausible_birth_date(birth_date, sent, problems, dob_seg, dob.field)
    return {
        "id": pid_id,
        "name": name,
        "birth_date": birth_date,
        "sex": to_sex(scope.get(fm.sex)),
        "address": to_address(scope.parts(fm.address)[0], country),
        "phone": scope.phone((fm.phone,)),
        "email": scope.email(fm.email),
    }


def merge_patient(sent: dict[str, Any], known: Patient | None) -> dict[str, Any]:
    """What this message sent, with gaps filled from what an ADT taught."""
    if known is None or known.id != sent["id"]:
        return sent
    out = dict(sent)
    for key in ("birth_date", "address", "phone", "email"):
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


def _provider(paths: list, scope: Scope, problems: Issues) -> dict[str, Any] | None:
    for p in paths:
        parts, seg = scope.parts(p)
        prov = to_provider(parts, problems, seg, p.field)
        if prov is not None:
            return prov
    return None


def read_visit(fm: VisitMap, scope: Scope, problems: Issues, fallback_id: str) -> Visit:
    """The visit of the PV1 (an id is always returned: the control id when
    neither PV1-19 nor the account number is sent)."""
    visit_id, _, _ = scope.first(fm.id)
    if not visit_id:
        text = "no visit number (PV1-19) or account number; the message control id is used"
        problems.at("HL7-NO-VISIT", text, "PV1", 1, 19)
        visit_id = fallback_id
    admit, path, seg = scope.first(fm.admit_date)
    admit_date = to_date(admit, problems, seg, path.field, path) if path else None
    klass = scope.get(fm.patient_class).upper()
    return Visit(
        id=visit_id,
        patient_class=klass,
        attending=_provider(fm.attending, scope, problems),
        referring=_provider(fm.referring, scope, problems),
        admit_date=admit_date,
        place_of_service=fm.place_of_service.get(klass),
    )


def read_guarantor(fm: GuarantorMap, scope: Scope, problems: Issues, country: str = "US") -> dict[str, Any] | None:
    """The first GT1 as the statement's guarantor (its own e-mail and address)."""
    name = to_name(scope.parts(fm.name)[0])
    if name is None:
        return None
    rel, _, _ = scope.first(fm.relationship)
    address = None
    for p in fm.address:
        if (address := to_address(scope.parts(p)[0], country)) is not None:
            break
    return {
        "name": name,
        "address": address,
        "phone": scope.phone(fm.phone),
        "email": scope.email(fm.email),
        "relationship": X12_RELATIONSHIPS.get(x12_relationship(rel)) if rel else None,
        "account_number": scope.first(fm.number)[0] or None,
    }
