"""One HL7 v2 message → encounters (DFT, BAR) and record updates (ADT, BAR).

Segments are grouped the way the message structures group them: a visit
group per PV1 (BAR^P01 may carry several visits), within it a charge group
per FT1 (its PR1 and Z-segments) and an insurance group per IN1 (its IN2 and
IN3). What an ADT taught (``records``) fills what a charge message leaves out:
patient details, coverages of the visit or else of the patient, guarantor.

The readers return plain dicts of model fields; each encounter is validated
once, as a whole (``Encounter.model_validate``), which is as strict as
building every part as a model and half the cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ValidationError

from gateway.messages import RecordLookup, RecordUpdate
from gateway.model import Coverage, Encounter, Guarantor, Patient
from gateway.money import cents

from .charges import charge_line, procedure_line, read_diagnoses
from .claiminfo import read_claim_info
from .fieldmap import FieldMap
from .insurance import read_coverages
from .patient import Visit, merge_patient, read_guarantor, read_patient, read_visit
from .problems import Issues
from .reader import Message, Segment
from .settings import Hl7v2Settings
from .values import Scope, to_country

#: (MSH-9.1, MSH-9.2) of messages that carry charges
CHARGE_MESSAGES = {("DFT", "P03"), ("DFT", "P11"), ("BAR", "P01"), ("BAR", "P05")}
#: ADT events whose patient and insurance later charges use
REGISTRATION_EVENTS = {"A01", "A03", "A04", "A05", "A08", "A28", "A31"}
_HEADER = ("MSH", "SFT", "EVN", "PID", "PD1")
_SCOPE_BASE = ("MSH", "EVN", "PID", "PD1", "PV1", "PV2")


def _in1_member(name: str) -> bool:
    return name in ("IN2", "IN3", "ROL") or name[0] == "Z"


def kind_of(message_type: str, trigger: str) -> str | None:
    """ "charges", "registration" or None (not a billing message)."""
    if (message_type, trigger) in CHARGE_MESSAGES:
        return "charges"
    if message_type == "ADT" and trigger in REGISTRATION_EVENTS:
        return "registration"
    return None


def visit_groups(msg: Message) -> list[list[Segment]]:
    """The header segments plus each PV1's segments (one group when ≤ 1 PV1)."""
    starts = [i for i, s in enumerate(msg.segments) if s.name == "PV1"]
    if len(starts) <= 1:
        return [msg.segments]
    header = [s for s in msg.segments[: starts[0]] if s.name in _HEADER or s.name[0] == "Z"]
    bounds = [*starts, len(msg.segments)]
    return [header + msg.segments[bounds[i] : bounds[i + 1]] for i in range(len(starts))]


def firsts(segs: list[Segment]) -> dict[str, Segment]:
    out: dict[str, Segment] = {}
    for s in segs:
        out.setdefault(s.name, s)
    return out


def sub_groups(
    segs: list[Segment], head: str, base: Mapping[str, Segment], member: Callable[[str], bool]
) -> list[tuple[Segment, dict[str, Segment]]]:
    """Each ``head`` segment with the first of each segment following it
    (while ``member`` says they belong), over the visit's header segments."""
    header = {k: v for k, v in base.items() if k in _SCOPE_BASE}
    out: list[tuple[Segment, dict[str, Segment]]] = []
    current: dict[str, Segment] | None = None
    own: set[str] = set()
    for s in segs:
        if s.name == head:
            current, own = dict(header), set()
            out.append((s, current))
        elif current is not None:
            if not member(s.name):
                current = None
            elif s.name not in own:
                current[s.name] = s
                own.add(s.name)
    return out


def _known(records: RecordLookup, clinic_id: str, kind: str, key: str, model: type[BaseModel]) -> Any:
    """A record as a model (or a list of them); None when absent or unreadable."""
    try:
        value = records.get(clinic_id, kind, key)
        if value is None:
            return None
        if isinstance(value, list):
            return [model.model_validate(v) for v in value]
        return model.model_validate(value)
    except (ValidationError, TypeError, ValueError, LookupError):
        return None


@dataclass
class Built:
    encounters: list[Encounter] = field(default_factory=list)
    updates: list[RecordUpdate] = field(default_factory=list)


@dataclass(frozen=True)
class Reading:
    """What reading one message needs besides its segments: the clinic's
    settings, the ``source_ref`` prefix of its lines (``MSG[2]/`` in a
    batch), the country of addresses without one (MSH-17) and the message
    date (MSH-7 as YYYYMMDD, '' when it is not a date)."""

    settings: Hl7v2Settings
    prefix: str = ""
    country: str = "US"
    sent: str = ""

    @classmethod
    def of(cls, msg: Message, settings: Hl7v2Settings, prefix: str = "") -> Reading:
        msh = msg.msh
        day = msh.value(7)[:8]
        return cls(settings, prefix, to_country(msh.value(17)), day if len(day) == 8 and day.isdigit() else "")


def _dump(model: type[BaseModel], value: Any) -> dict[str, Any]:
    """A record as stored: ``value`` (fields or a model) validated as ``model``, in JSON form."""
    return model.model_validate(value).model_dump(mode="json", exclude_none=True)


def build(
    msg: Message,
    kind: str,
    fm: FieldMap,
    clinic_id: str,
    records: RecordLookup,
    problems: Issues,
    info: dict[str, Any],
    reading: Reading | None = None,
) -> Built:
    """Encounters and updates of one message (problems collected in ``problems``)."""
    out = Built()
    how = reading or Reading(Hl7v2Settings())
    for segs in visit_groups(msg):
        base = firsts(segs)
        pid = Scope(base.get(fm.patient.name.segment), base)
        patient = read_patient(fm.patient, pid, problems, how.country, how.sent)
        if patient is None:
            return out
        mrn = patient["id"]
        patient = merge_patient(patient, _known(records, clinic_id, "patient", mrn, Patient))
        visit = read_visit(fm.visit, Scope(base.get("PV1"), base), problems, info["control_id"])
        in1s = sub_groups(segs, fm.insurance.segment, base, _in1_member)
        coverages = read_coverages(
            in1s, fm.insurance, patient, problems, kind == "charges", how.settings.self_pay_plans, how.country
        )
        gt1 = base.get(fm.guarantor.segment)
        guarantor = read_guarantor(fm.guarantor, Scope(gt1, base), problems, how.country) if gt1 else None
        if kind == "registration" or msg.msh.value(9) == "BAR":
            out.updates.append(RecordUpdate("patient", mrn, _dump(Patient, patient)))
            if in1s:
                dumps = [_dump(Coverage, c) for c in coverages]
                out.updates.append(RecordUpdate("coverages", mrn, dumps))
                if visit.id != info["control_id"]:
                    out.updates.append(RecordUpdate("coverages", f"visit:{visit.id}", dumps))
            if guarantor is not None:
                out.updates.append(RecordUpdate("guarantor", mrn, _dump(Guarantor, guarantor)))
        if kind != "charges":
            continue
        if not in1s:
            coverages = (
                _known(records, clinic_id, "coverages", f"visit:{visit.id}", Coverage)
                or _known(records, clinic_id, "coverages", mrn, Coverage)
                or []
            )
        if guarantor is None:
            guarantor = _known(records, clinic_id, "guarantor", mrn, Guarantor)
        parties = (patient, visit, coverages, guarantor)
        out.encounters.append(_encounter(segs, base, fm, parties, problems, info, how))
    return out


def _encounter(
    segs: list[Segment],
    base: dict[str, Segment],
    fm: FieldMap,
    parties: tuple[dict[str, Any], Visit, list[Any], Any],
    problems: Issues,
    info: dict[str, Any],
    how: Reading,
) -> Encounter:
    patient, visit, coverages, guarantor = parties
    dg1 = fm.diagnosis.segment
    diagnoses = read_diagnoses(fm.diagnosis, [s for s in segs if s.name == dg1], base)
    lines: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    own = how.settings.charge_master_systems
    outside = ("PV1", fm.charge.segment)  # segments that end a charge group
    ft1s = sub_groups(segs, fm.charge.segment, base, lambda n: n not in outside)
    for ft1, related in ft1s:
        line, other = charge_line(ft1, related, fm.charge, diagnoses, problems, visit.admit_date, own, how.prefix)
        if line is not None:
            lines.append(line)
        elif other is not None:
            others.append(other)
    if not ft1s and fm.procedure.bill_when_no_charges:
        for pr1 in (s for s in segs if s.name == fm.procedure.segment):
            line = procedure_line(pr1, base, fm.procedure, diagnoses, problems, own, how.prefix)
            if line is not None:
                lines.append(line)
    if not ft1s and not lines:
        problems.at("HL7-NO-CHARGES", "no FT1 charges (nor PR1 procedures) in this visit", "PV1", 1)
    zsegs = [{"id": s.name, "index": s.index, "fields": s.fields[1:]} for s in segs if s.name[0] == "Z"]
    ext: dict[str, Any] = {**info, "patient_class": visit.patient_class or None}
    if zsegs:
        ext["z_segments"] = zsegs
    if others:
        ext["transactions"] = others
    dates = [ln["service_date"] for ln in lines]
    return Encounter.model_validate(
        {
            "id": visit.id,
            "source": "hl7v2",
            "patient": patient,
            "coverages": coverages,
            "guarantor": guarantor,
            "rendering_provider": visit.attending,
            "referring_provider": visit.referring,
            "place_of_service": visit.place_of_service,
            "start_date": visit.admit_date or (min(dates) if dates else None),
            "diagnoses": diagnoses,
            "service_lines": lines,
            "patient_paid": _patient_paid(others, fm.charge.payment_types),
            "extensions": {"hl7v2": {k: v for k, v in ext.items() if v is not None}},
            **read_claim_info(fm.claim, Scope(None, base), problems),
        }
    )


def _patient_paid(transactions: list[dict[str, Any]], payment_types: list[str]) -> Decimal | None:
    """What the patient paid at the visit: the payment transactions (PY)
    summed, as a positive amount (senders write payments negative or
    positive); None when there are none."""
    amounts = [Decimal(t["amount"]) for t in transactions if t["type"] in payment_types and t.get("amount")]
    if not amounts:
        return None
    total = cents(abs(sum(amounts, Decimal(0))))
    return total or None
