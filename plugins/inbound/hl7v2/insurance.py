"""IN1 (+ its IN2) → coverages, in the order sent (1 primary, 2, 3).

Coverages are dicts of ``Coverage`` fields (the encounter validates them).
Payer follows the shared convention: ``Payer(id=<IN1-3 as sent>,
source_id=<same>, name=<IN1-4>)``; the payer directory plugin later
rewrites ``id`` to the X12 payer id. The subscriber falls back to the
patient's details when the patient is the insured (relationship 18). An IN1
whose plan id, plan name, company name or plan type is one of the clinic's
``settings.hl7v2.self_pay_plans`` is self-pay, not a coverage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from gateway.codes import MAX_COVERAGES, x12_relationship
from gateway.model import Severity

from .codes import TABLE_0344
from .fieldmap import InsuranceMap
from .problems import Issues
from .reader import Segment
from .values import Scope, to_address, to_date, to_name, to_sex


def _relationship(scope: Scope, fm: InsuranceMap) -> str:
    value, path, _ = scope.first(fm.relationship)
    if not value or path is None:
        return "18"
    if path.segment == "IN2" and path.field == 72:
        return TABLE_0344.get(value.zfill(2), "G8")
    value = fm.relationship_codes.get(value, value)
    return x12_relationship(value)


def _filing_indicator(plan: dict[str, str], fm: InsuranceMap) -> str:
    for key in (plan["type"], plan["id"]):
        ind = fm.filing_indicators.get(key.upper()) if key else None
        if ind:
            return ind
    return "CI"


def plan_of(scope: Scope, fm: InsuranceMap) -> dict[str, str]:
    """The IN1's plan id, plan name, company name and plan type ('' when not sent)."""
    return {
        "id": scope.first(fm.plan_id)[0],
        "name": scope.first(fm.plan_name)[0],
        "payer": scope.first(fm.payer_name)[0],
        "type": scope.first(fm.plan_type)[0],
    }


def is_self_pay(plan: dict[str, str], self_pay: frozenset[str]) -> bool:
    """True when the plan id, plan name, company name or plan type names self-pay."""
    for value in plan.values():
        name = value.upper()
        if name and (name in self_pay or ("  " in name and " ".join(name.split()) in self_pay)):
            return True
    return False


def _same_person(name: Mapping[str, Any] | None, dob: Any, patient: Mapping[str, Any] | None) -> bool:
    """The insured's name and birth date are the patient's (both sent)."""
    if not name or not patient or dob is None or patient.get("birth_date") != dob:
        return False
    pname = patient["name"]
    return all((name.get(k) or "").strip().upper() == (pname.get(k) or "").strip().upper() for k in ("family", "given"))


def read_coverage(
    in1: Segment,
    related: Mapping[str, Segment],
    fm: InsuranceMap,
    patient: Mapping[str, Any] | None,
    problems: Issues,
    self_pay: frozenset[str] = frozenset(),
    country: str = "US",
) -> dict[str, Any] | None:
    """One IN1 → a Coverage (order set by the caller); None for self-pay or
    an unusable IN1 (with an error). ``country``: of addresses without one."""
    scope = Scope(in1, related)
    plan = plan_of(scope, fm)
    if is_self_pay(plan, self_pay):
        return None
    payer_name = plan["payer"]
    payer_id = scope.first(fm.payer_id)[0]
    member_id = scope.first(fm.member_id)[0]
    if not payer_id:
        problems.add("HL7-COVERAGE", "IN1-3 insurance company id is empty", in1, 3)
    if not member_id:
        problems.add("HL7-COVERAGE", "IN1-36 policy number (member id) is empty", in1, 36)
    relationship = _relationship(scope, fm)
    self_insured = relationship == "18" and patient is not None
    name = None
    for p in fm.insured_name:
        if (name := to_name(scope.parts(p)[0])) is not None:
            break
    if name is None and self_insured:
        name = patient["name"]  # type: ignore[index]
    if name is None:
        problems.add("HL7-COVERAGE", "IN1-16 insured's name is empty and the patient is not the insured", in1, 16)
    if not payer_id or not member_id or name is None:
        return None
    dob_text, dpath, dseg = scope.first(fm.insured_birth_date)
    dob = to_date(dob_text, problems, dseg, dpath.field, dpath) if dpath else None
    if relationship != "18" and _same_person(name, dob, patient):
        rpath = fm.relationship[0] if fm.relationship else None
        problems.add(
            "HL7-RELATIONSHIP",
            "the insured's name and birth date are the patient's but the relationship is not self (18); "
            "check the sender's relationship codes (UB-92 01 = self: relationship_codes in the field map)",
            in1,
            rpath.field if rpath else None,
        )
    address = None
    for p in fm.insured_address:
        if (address := to_address(scope.parts(p)[0], country)) is not None:
            break
    sex = to_sex(scope.first(fm.insured_sex)[0])
    if self_insured:
        dob = dob or patient["birth_date"]  # type: ignore[index]
        address = address or patient["address"]  # type: ignore[index]
        sex = sex if sex != "U" else patient["sex"]  # type: ignore[index]
    payer_address = None
    for p in fm.payer_address:
        if (payer_address := to_address(scope.parts(p)[0], country)) is not None:
            break
    return {
        "payer": {"id": payer_id, "source_id": payer_id, "name": payer_name or payer_id, "address": payer_address},
        "subscriber": {
            "member_id": member_id,
            "name": name,
            "birth_date": dob,
            "sex": sex,
            "address": address,
            "group_number": scope.first(fm.group_number)[0] or None,
            "group_name": scope.first(fm.group_name)[0] or None,
        },
        "relationship": relationship,
        "claim_filing_indicator": _filing_indicator(plan, fm),
        "plan_name": plan["name"] or None,
    }


def read_coverages(
    groups: Sequence[tuple[Segment, Mapping[str, Segment]]],
    fm: InsuranceMap,
    patient: Mapping[str, Any] | None,
    problems: Issues,
    billing: bool = True,
    self_pay: frozenset[str] = frozenset(),
    country: str = "US",
) -> list[dict[str, Any]]:
    """Coverages of the IN1 groups in order; at most three are kept. An
    unusable IN1 is an error on a charge message (``billing``) and a warning
    on a registration (the coverage is then not learnt)."""
    out: list[dict[str, Any]] = []
    for in1, related in groups:
        found = Issues()
        cov = read_coverage(in1, related, fm, patient, found, self_pay, country)
        for p in found.items:
            keep = billing or p.rule != "HL7-COVERAGE"
            problems.items.append(p if keep else replace(p, severity=Severity.WARNING))
        if cov is None:
            continue
        if len(out) == MAX_COVERAGES:
            problems.add("HL7-COVERAGES", "more than 3 insurances; only the first 3 are kept", in1)
            break
        cov["order"] = len(out) + 1
        out.append(cov)
    return out
