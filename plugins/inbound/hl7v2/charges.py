"""DG1 → diagnoses; FT1 (or PR1) → service lines with pointers.

Only FT1-6 charge types (CG) are billed; credits, payments and adjustments
are kept in the encounter's extensions for statements, not billed, and
payments (PY: copays collected at the visit) become the encounter's
``patient_paid``. Quantity defaults to 1; the line charge is FT1-11
(extended, as stated) or FT1-12 × quantity (unit, rounded half-up to
cents: gateway.money), and a mismatch between the two is reported. Pointers come
from FT1-19 (else the charge's PR1-15) when sent, else the first four
diagnoses by DG1-15 priority. Each line records where it came from
(``source_ref``: ``FT1[2]``, ``MSG[3]/FT1[2]`` in a batch).

Diagnoses and lines are dicts of ``Diagnosis``/``ServiceLine`` fields; the
encounter validates them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from operator import itemgetter
from typing import Any

from gateway.codes import MAX_MODIFIERS, MAX_POINTERS
from gateway.money import MAX_UNITS, amount_problem, as_sent, cents

from .codes import diagnosis_system, local_system, normal_code, procedure_system
from .fieldmap import ChargeMap, DiagnosisMap, FieldPath, ProcedureMap
from .problems import Issues
from .reader import Segment
from .values import Scope, to_date, to_decimal, to_provider


def _label(p: FieldPath | None) -> str:
    return f"{p.segment}-{p.field}" if p else ""


#: a ranked diagnosis's sort key: (DG1-15 priority, position as sent)
_rank = itemgetter(0, 1)


def read_diagnoses(fm: DiagnosisMap, segs: Sequence[Segment], base: Mapping[str, Segment]) -> list[dict[str, Any]]:
    """DG1 diagnoses ordered by DG1-15 priority (blank last), then as sent."""
    if fm.from_charges_only:
        return []
    ranked: list[tuple[int, int, dict[str, Any]]] = []
    for pos, seg in enumerate(segs):
        scope = Scope(seg, base)
        code = scope.get(fm.code)
        if not code:
            continue
        prio = scope.get(fm.priority)
        desc, _, _ = scope.first(fm.description)
        dx = {"code": code, "system": diagnosis_system(scope.get(fm.system)), "description": desc or None}
        ranked.append((int(prio) if prio.isdigit() and int(prio) > 0 else 10_000, pos, dx))
    ranked.sort(key=_rank)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _, _, dx in ranked:
        key = normal_code(dx["code"])
        if key not in seen:
            seen.add(key)
            out.append(dx)
    return out


def _pointers(scope: Scope, paths: list[FieldPath], diagnoses: list[dict[str, Any]], problems: Issues) -> list[int]:
    codes, path = scope.repeated(paths)
    if not codes:
        return list(range(1, min(MAX_POINTERS, len(diagnoses)) + 1))
    seg = scope.segment(path.segment) if path else None
    index = {normal_code(d["code"]): i for i, d in enumerate(diagnoses, 1)}
    out: list[int] = []
    for rep, code in enumerate(codes):
        key = normal_code(code)
        if key not in index:
            system = seg.value(path.field, 3, 1, rep) if seg is not None and path is not None else ""
            diagnoses.append({"code": code, "system": diagnosis_system(system.strip())})
            index[key] = len(diagnoses)
        if index[key] not in out:
            out.append(index[key])
    if len(out) > MAX_POINTERS:
        problems.add("HL7-POINTERS", f"{_label(path)} lists more than 4 diagnoses", seg, path.field if path else None)
    return out[:MAX_POINTERS]


def _modifiers(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        out += [m for m in v.replace(",", " ").split() if m] if len(v) > 2 else [v]
    return out


def _codes(scope: Scope, fm: ChargeMap, own: frozenset[str] | None) -> dict[str, Any]:
    """procedure_code/code_system (CPT/HCPCS) and local_code/local_system
    (``own``: the clinic's charge-master systems, see codes.local_system)."""
    out: dict[str, Any] = {}
    for i, path in enumerate(fm.procedure_code):
        code = scope.get(path)
        if not code:
            continue
        system = scope.get(fm.procedure_system[i]) if i < len(fm.procedure_system) else ""
        kind = procedure_system(system, code, guess=True)
        if kind:
            out.update(procedure_code=code.upper(), code_system=kind)
            break
        out.setdefault("other", (code, local_system(system, own)))
    local, path, _ = scope.first(fm.local_code)
    if local:
        i = fm.local_code.index(path)
        system = scope.get(fm.local_code_system[i]) if i < len(fm.local_code_system) else ""
        kind = procedure_system(system, local, guess=False)
        if kind and "procedure_code" not in out:
            out.update(procedure_code=local.upper(), code_system=kind)
        elif not kind:
            out.update(local_code=local, local_system=local_system(system, own))
    other = out.pop("other", None)
    if other and "local_code" not in out and "procedure_code" not in out:
        out.update(local_code=other[0], local_system=other[1])
    return out


def _amounts(scope: Scope, fm: ChargeMap, problems: Issues, seg: Segment) -> tuple[Decimal, Decimal | None] | None:
    """(quantity, line charge: FT1-11 as stated, else FT1-12 × quantity in
    cents); None when a value is not a number or out of range."""
    bad = len(problems.items)  # to_decimal adds errors only (HL7-NUMBER)
    qty_text, qpath, qseg = scope.first(fm.quantity)
    qty = to_decimal(qty_text, problems, qseg, qpath.field, qpath, MAX_UNITS, "quantity") if qpath else None
    ext_text, epath, eseg = scope.first(fm.extended_amount)
    ext = to_decimal(ext_text, problems, eseg, epath.field, epath, what="extended amount") if epath else None
    unit_text, upath, useg = scope.first(fm.unit_amount)
    unit = to_decimal(unit_text, problems, useg, upath.field, upath, what="unit amount") if upath else None
    if len(problems.items) > bad:
        return None
    currency, cpath, cseg = scope.first(fm.currency)
    if currency and currency.upper() != "USD":
        problems.add("HL7-CURRENCY", f"{_label(cpath)} currency is not USD", cseg, cpath.field if cpath else None)
    qty = Decimal(1) if qty is None else qty
    charge = ext
    if ext is None and unit is not None:
        charge = unit * qty
        problem = amount_problem(charge)
        if problem:
            problems.add("HL7-NUMBER", f"{_label(upath)} unit amount × quantity {problem}", useg, upath.field)  # type: ignore[union-attr]
            return None
    elif ext is not None and unit is not None and cents(unit * qty) != cents(ext):
        where = epath.field if epath else None
        problems.add("HL7-AMOUNT", "FT1 extended amount differs from unit amount × quantity", seg, where)
    if charge is None:
        return qty, None
    return qty, as_sent(charge) if charge is ext else cents(charge)


def _line_extras(scope: Scope, fm: ChargeMap, problems: Issues) -> dict[str, Any]:
    """The charge's situational values the field map reads (prior
    authorization, referral, note, supervising provider, NDC quantity/unit)."""
    out: dict[str, Any] = {}
    for key in ("prior_authorization", "referral_number", "note"):
        paths = getattr(fm, key)
        if paths and (value := scope.first(paths)[0]):
            out[key] = value
    for p in fm.supervising:
        parts, pseg = scope.parts(p)
        supervising = to_provider(parts, problems, pseg, p.field)
        if supervising is not None:
            out["supervising_provider"] = supervising
            break
    if fm.ndc_quantity:
        qty_text, qpath, qseg = scope.first(fm.ndc_quantity)
        if qpath is not None:
            qty = to_decimal(qty_text, problems, qseg, qpath.field, qpath, MAX_UNITS, "NDC quantity")
            if qty is not None:
                out["ndc_quantity"] = qty
    unit = scope.first(fm.ndc_unit)[0] if fm.ndc_unit else ""
    if unit:
        out["ndc_unit"] = unit.upper()
    return out


def charge_line(
    ft1: Segment,
    related: Mapping[str, Segment],
    fm: ChargeMap,
    diagnoses: list[dict[str, Any]],
    problems: Issues,
    default_date: date | None,
    own: frozenset[str] | None = None,
    ref: str = "",
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """One FT1 → (service line, None); a non-billed transaction → (None, the
    transaction for the extensions); (None, None) when the charge cannot be
    read (problems say why). ``own``: the clinic's charge-master systems;
    ``ref``: the message prefix of the line's ``source_ref`` (``MSG[2]/``)."""
    scope = Scope(ft1, related)
    kind = scope.get(fm.type).upper()
    when_text, wpath, wseg = scope.first(fm.date)
    when = to_date(when_text, problems, wseg, wpath.field, wpath) if wpath else None
    when = when or default_date
    amounts = _amounts(scope, fm, problems, ft1)
    if kind in fm.not_billed_types or (kind and kind not in fm.billed_types):
        if kind not in fm.not_billed_types:
            problems.add("HL7-CHARGE-TYPE", f"FT1-6 transaction type '{kind[:4]}' is not a charge; not billed", ft1, 6)
        else:
            problems.add("HL7-NOT-BILLED", f"FT1-6 {kind} transaction is not billed", ft1, 6)
        return None, {
            "type": kind,
            "date": when.isoformat() if when else None,
            "amount": str(amounts[1]) if amounts and amounts[1] is not None else None,
            "transaction_id": scope.first(fm.transaction_id)[0] or None,
        }
    if not kind:
        problems.add("HL7-CHARGE-TYPE", "FT1-6 transaction type is empty; read as a charge (CG)", ft1, 6)
    if when is None:
        if not when_text:
            problems.add("HL7-REQUIRED", "FT1-4 transaction date is empty", ft1, 4)
        return None, None
    if amounts is None:
        return None, None
    qty, charge = amounts
    if qty <= 0 or (charge is not None and charge < 0):
        problems.add("HL7-REVERSAL", "FT1 charge with a negative quantity or amount (reversal) not billed", ft1, 10)
        return None, None
    codes = _codes(scope, fm, own)
    if not codes:
        problems.add("HL7-NO-CODE", "FT1 has neither a procedure code (FT1-25) nor a charge code (FT1-7)", ft1, 7)
    mods_sent, mpath = scope.repeated(fm.modifiers)
    mods = _modifiers(mods_sent)
    if len(mods) > MAX_MODIFIERS:
        problems.add("HL7-MODIFIERS", f"{_label(mpath)} has more than 4 modifiers", ft1, mpath.field if mpath else None)
    performer = None
    for p in fm.performed_by:
        parts, pseg = scope.parts(p)
        performer = to_provider(parts, problems, pseg, p.field)
        if performer is not None:
            break
    ndc, npath, _ = scope.first(fm.ndc)
    if ndc and npath is not None:
        i = fm.ndc.index(npath)
        ndc_sys = scope.get(fm.ndc_system[i]).upper() if i < len(fm.ndc_system) else ""
        ndc = ndc if ndc_sys in ("", "NDC", "N4") else ""
    line = {
        **_line_extras(scope, fm, problems),
        "service_date": when,
        "modifiers": [m.upper() for m in mods[:MAX_MODIFIERS]],
        "units": qty,
        "charge": charge,
        "diagnosis_pointers": _pointers(scope, fm.diagnoses, diagnoses, problems),
        "rendering_provider": performer,
        "ndc": ndc or None,
        "description": scope.first(fm.description)[0] or None,
        "control_number": scope.first(fm.transaction_id)[0] or None,
        "source_ref": ref + ft1.label,
    }
    line.update(codes)
    return line, None


def procedure_line(
    pr1: Segment,
    base: Mapping[str, Segment],
    fm: ProcedureMap,
    diagnoses: list[dict[str, Any]],
    problems: Issues,
    own: frozenset[str] | None = None,
    ref: str = "",
) -> dict[str, Any] | None:
    """A PR1 procedure as a service line without a charge (BAR without FT1);
    pointers from PR1-15 (associated diagnoses) when sent."""
    scope = Scope(pr1, base)
    code = scope.get(fm.code)
    when = to_date(scope.get(fm.date), problems, pr1, fm.date.field, fm.date)
    if not code or when is None:
        return None
    system = scope.get(fm.system)
    kind = procedure_system(system, code, guess=True)
    codes: dict[str, Any] = (
        {"procedure_code": code.upper(), "code_system": kind}
        if kind
        else {"local_code": code, "local_system": local_system(system, own)}
    )
    mods, _ = scope.repeated(fm.modifiers)
    return {
        "service_date": when,
        "modifiers": [m.upper() for m in _modifiers(mods)[:MAX_MODIFIERS]],
        "diagnosis_pointers": _pointers(scope, fm.diagnoses, diagnoses, problems),
        "description": scope.first(fm.description)[0] or None,
        "source_ref": ref + pr1.label,
        **codes,
    }
