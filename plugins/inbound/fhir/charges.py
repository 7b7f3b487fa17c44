"""Diagnoses and service lines: from a Claim, ChargeItems or Procedures.

Precedence for an encounter's lines: its Claim(s) when sent (items,
``diagnosisSequence`` pointers), else ChargeItems whose ``context`` is the
encounter, else completed Procedures (no charge: the charge master prices
them). Only ICD-10-CM codings become diagnoses; CPT/HCPCS codings become
``procedure_code``; any other coded system goes to ``local_code`` with
``local_system`` = the system URI for the code-map plugin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from gateway.codes import MAX_MODIFIERS
from gateway.model import Diagnosis, Provider, ServiceLine
from gateway.money import amount_problem, as_sent, cents, units_problem

from .context import Ctx
from .parties import provider
from .resolve import Res
from .systems import CPT, HCPCS, ICD10_WHO, ICD10_WHO_URI, ICD10CM, NDC, POS, norm, pos_key
from .values import Json, codings, decimal, first_coding, items, money, start_of, text_of


@dataclass
class DxList:
    """The encounter's diagnoses in order; ``add`` returns the 1-based pointer."""

    diagnoses: list[Diagnosis] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict)
    #: conditions coded in other systems (kept in the encounter's extensions)
    uncoded: list[dict[str, str]] = field(default_factory=list)
    #: the onset of the first Condition (in diagnosis order) that has one
    onset: date | None = None

    def condition_onset(self, cond: Res) -> None:
        """Keep ``Condition.onset[x]`` (dateTime, Period start) of the first Condition that has one."""
        if self.onset is None:
            self.onset = start_of(cond.data, "onset")

    def add(self, code: str, description: str | None, system: str = "ICD-10-CM") -> int:
        key = code.replace(".", "").upper()
        if key not in self._index:
            self.diagnoses.append(Diagnosis(code=code, system=system, description=description))
            self._index[key] = len(self.diagnoses)
        return self._index[key]

    def default_pointers(self, n: int) -> list[int]:
        return list(range(1, min(n, len(self.diagnoses)) + 1))


def add_concept(ctx: Ctx, dx: DxList, concept: Json | None, where: str) -> int | None:
    """Add the ICD-10-CM coding of ``concept``; a WHO ICD-10 coding is
    added as sent with a warning (the ICD-10-CM plugin checks the code and
    names the system when it is not ICD-10-CM); other systems → a warning."""
    c = first_coding([concept], ICD10CM)
    if c is not None:
        return dx.add(str(c["code"]), c.get("display") or text_of(concept))
    c = first_coding([concept], ICD10_WHO)
    if c is not None:
        ctx.warning(
            "FHIR-DX-WHO",
            f"diagnosis coded in WHO ICD-10 ({ICD10_WHO_URI}); used as ICD-10-CM when the code is valid there",
            where,
        )
        return dx.add(str(c["code"]), c.get("display") or text_of(concept), ICD10_WHO_URI)
    coded = [(str(x.get("system") or ""), str(x["code"])) for x in codings(concept) if x.get("code")]
    for system, code in coded[:1]:
        dx.uncoded.append({"system": system, "code": code})
    ctx.warning("FHIR-DX-SYSTEM", "diagnosis has no ICD-10-CM coding; not used on the claim", where)
    return None


def add_condition(ctx: Ctx, dx: DxList, cond: Res) -> int | None:
    status = {code for _, code in _codes(cond.get("verificationStatus"))}
    if status & {"refuted", "entered-in-error"}:
        return None
    dx.condition_onset(cond)
    return add_concept(ctx, dx, cond.get("code"), f"{cond.path}.code")


def _codes(concept: Json | None) -> list[tuple[str, str]]:
    return [(norm(c.get("system")), str(c["code"])) for c in codings(concept) if c.get("code")]


# -- service lines --------------------------------------------------------------


def coded_service(concept: Json | None) -> dict[str, Any] | None:
    """ServiceLine code fields for a CodeableConcept, or None when uncoded."""
    cpt = first_coding([concept], CPT)
    hcpcs = None if cpt else first_coding([concept], HCPCS)
    ndc = first_coding([concept], NDC)
    fields: dict[str, Any] = {"description": text_of(concept), "ndc": str(ndc["code"]) if ndc else None}
    if cpt or hcpcs:
        chosen = cpt or hcpcs
        fields.update(procedure_code=str(chosen["code"]).upper(), code_system="CPT" if cpt else "HCPCS")  # type: ignore[index]
        return fields
    other = next((c for c in codings(concept) if c.get("code") and norm(c.get("system")) not in NDC), None)
    if other is None:
        return None
    fields.update(local_code=str(other["code"]), local_system=other.get("system") or None)
    return fields


def make_line(
    ctx: Ctx,
    concept: Json | None,
    where: str,
    *,
    service_date: date | None,
    units: Decimal | None = None,
    charge: Decimal | None = None,
    pointers: list[int] | None = None,
    modifiers: list[str] | None = None,
    rendering: Provider | None = None,
    place_of_service: str | None = None,
    control_number: str | None = None,
    source_ref: str | None = None,
) -> ServiceLine | None:
    coded = coded_service(concept)
    if coded is None:
        ctx.error("FHIR-LINE-CODE", "service has no code", where)
        return None
    if service_date is None:
        ctx.error("FHIR-LINE-DATE", "service has no date (and the encounter has no start date)", where)
        return None
    mods = [m for m in (modifiers or []) if m]
    if len(mods) > MAX_MODIFIERS:
        ctx.warning("FHIR-MODIFIERS", f"{len(mods)} modifiers; only the first {MAX_MODIFIERS} are sent", where)
        mods = mods[:MAX_MODIFIERS]
    if units is not None and units <= 0:
        ctx.error("FHIR-LINE-UNITS", "quantity must be greater than zero", where)
    return ServiceLine(
        source_ref=source_ref,
        service_date=service_date,
        units=units if units is not None else Decimal(1),
        charge=charge,
        diagnosis_pointers=pointers or [],
        modifiers=mods,
        rendering_provider=rendering,
        place_of_service=place_of_service,
        control_number=control_number,
        **coded,
    )


def pos_code(concept: Json | None, ctx: Ctx | None = None, where: str = "") -> str | None:
    """The CMS place of service code of ``concept``; with ``ctx``, a coded
    place in an unknown system is a warning (never a silent default)."""
    for c in codings(concept):
        if c.get("code") and pos_key(c.get("system")) in POS:
            return str(c["code"]).zfill(2)
    if ctx is not None and any(c.get("code") for c in codings(concept)):
        text = "place of service is coded in a system that is not the CMS place of service code set; not used"
        ctx.warning("FHIR-POS-SYSTEM", text, where)
    return None


def checked(ctx: Ctx, value: Decimal | None, where: str, kind: str = "stated") -> Decimal | None:
    """A ``stated`` amount as sent (gateway.money.as_sent), a ``computed``
    one in cents (half-up), a quantity (``units``) as sent; None with a
    FHIR-NUMBER error when out of range."""
    if value is None:
        return None
    problem = (units_problem if kind == "units" else amount_problem)(value)
    if problem:
        ctx.error("FHIR-NUMBER", f"{'quantity' if kind == 'units' else 'amount'} {problem}", where)
        return None
    return value if kind == "units" else cents(value) if kind == "computed" else as_sent(value)


def _control(res: Res) -> str | None:
    idents = [str(i["value"]) for i in items(res.get("identifier")) if isinstance(i, dict) and i.get("value")]
    value = idents[0] if idents else res.id
    return value if value and len(value) <= 30 else None


# -- from a Claim -------------------------------------------------------------------


class ClaimReader:
    """Diagnoses and lines of one Claim resource."""

    def __init__(self, ctx: Ctx, claim: Res, dx: DxList, default_date: date | None) -> None:
        self.ctx, self.claim, self.dx = ctx, claim, dx
        self.default_date = start_of(claim.data, "billablePeriod") or default_date
        self.seq_pointer: dict[int, int] = {}
        self.seq_codes: dict[int, set[tuple[str, str]]] = {}
        self.care_team: dict[int, Json] = {
            int(ct["sequence"]): ct for ct in items(claim.get("careTeam")) if isinstance(ct, dict) and "sequence" in ct
        }

    def diagnoses(self) -> None:
        entries = [d for d in items(self.claim.get("diagnosis")) if isinstance(d, dict)]
        for i, d in sorted(enumerate(entries), key=lambda e: int(e[1].get("sequence") or 0)):
            where = f"{self.claim.path}.diagnosis[{i}]"
            seq = int(d.get("sequence") or i + 1)
            concept = d.get("diagnosisCodeableConcept")
            if concept is None:
                cond = self.ctx.follow(
                    d.get("diagnosisReference"), self.claim, f"{where}.diagnosisReference", ("Condition",),
                    what="diagnosis",
                )  # fmt: skip
                if cond is None or {c for _, c in _codes(cond.get("verificationStatus"))} & {"entered-in-error"}:
                    continue
                concept, where = cond.get("code"), f"{cond.path}.code"
                self.dx.condition_onset(cond)
            self.seq_codes[seq] = set(_codes(concept))
            pointer = add_concept(self.ctx, self.dx, concept, where)
            if pointer is not None:
                self.seq_pointer[seq] = pointer

    def care_team_provider(self, seq: int, where: str) -> Provider | None:
        member = self.care_team.get(seq)
        if member is None:
            self.ctx.warning("FHIR-CARETEAM", f"careTeamSequence {seq} is not in Claim.careTeam", where)
            return None
        return provider(self.ctx, member.get("provider"), self.claim, where, "care team provider")

    def primary_provider(self) -> Provider | None:
        """The care team member with role ``primary`` (else the first)."""
        members = sorted(self.care_team.items())
        for seq, m in members:
            if any(code == "primary" for _, code in _codes(m.get("role"))):
                return self.care_team_provider(seq, f"{self.claim.path}.careTeam")
        return self.care_team_provider(members[0][0], f"{self.claim.path}.careTeam") if members else None

    def lines(self) -> list[ServiceLine]:
        out: list[ServiceLine] = []
        echoes = 0
        for i, item in enumerate(items(self.claim.get("item"))):
            if not isinstance(item, dict):
                continue
            where = f"{self.claim.path}.item[{i}]"
            seqs = self._sequences(item, "diagnosisSequence", where)
            charge = self._charge(item, where)
            if charge is None and self._echoes_diagnosis(item, seqs):
                echoes += 1
                continue
            pointers = []
            for s in seqs:
                if s in self.seq_pointer:
                    pointers.append(self.seq_pointer[s])
                elif s not in self.seq_codes:
                    self.ctx.warning("FHIR-DX-SEQUENCE", f"diagnosisSequence {s} is not in Claim.diagnosis", where)
            pointers = list(dict.fromkeys(pointers))[:4] or self.dx.default_pointers(self.ctx.settings.default_pointers)
            rendering = None
            for s in self._sequences(item, "careTeamSequence", where)[:1]:
                rendering = self.care_team_provider(s, f"{where}.careTeamSequence")
            line = make_line(
                self.ctx,
                item.get("productOrService"),
                f"{where}.productOrService",
                service_date=start_of(item, "serviced") or self.default_date,
                units=checked(
                    self.ctx, decimal((item.get("quantity") or {}).get("value")), f"{where}.quantity", "units"
                ),
                charge=charge,
                pointers=pointers,
                modifiers=self._modifiers(item, where),
                rendering=rendering,
                place_of_service=pos_code(
                    item.get("locationCodeableConcept"), self.ctx, f"{where}.locationCodeableConcept"
                ),
                source_ref=where,
            )
            if line is not None:
                out.append(line)
        if echoes:
            self.ctx.info(
                "FHIR-CLAIM-DX-ITEM",
                f"{echoes} Claim item(s) only restate a diagnosis and carry no charge; not billed as services",
                f"{self.claim.path}.item",
            )
        self._price_remainder(out)
        return out

    def _charge(self, item: Json, where: str) -> Decimal | None:
        """``net``, else ``unitPrice × quantity × factor``, in cents."""
        net = money(item.get("net"))
        if net is not None:
            return checked(self.ctx, net, f"{where}.net")
        unit = money(item.get("unitPrice"))
        if unit is None:
            return None
        qty = decimal((item.get("quantity") or {}).get("value")) or Decimal(1)
        factor = decimal(item.get("factor")) or Decimal(1)
        return checked(self.ctx, unit * qty * factor, f"{where}.unitPrice", "computed")

    def _sequences(self, item: Json, name: str, where: str) -> list[int]:
        """An item's ``diagnosisSequence`` / ``careTeamSequence`` (positiveInt);
        anything else is an error naming it, never a crash."""
        out = []
        for k, s in enumerate(items(item.get(name))):
            if isinstance(s, int) and not isinstance(s, bool) and s > 0:
                out.append(s)
            else:
                self.ctx.error("FHIR-INVALID", f"{name} holds {type(s).__name__}, not a positive integer",
                               f"{where}.{name}[{k}]")  # fmt: skip
        return out

    def _modifiers(self, item: Json, where: str) -> list[str]:
        """The first coded value of each ``modifier``; one without a code is named (warning)."""
        out = []
        for k, concept in enumerate(items(item.get("modifier"))):
            codes = [c.get("code") for c in codings(concept) if isinstance(c, dict)]
            coded = [code for code in codes if isinstance(code, str) and code]
            if coded:
                out.append(coded[0])
            else:
                self.ctx.warning("FHIR-MODIFIERS", "a modifier without a code is not sent", f"{where}.modifier[{k}]")
        return out

    def _echoes_diagnosis(self, item: Json, seqs: list[int]) -> bool:
        codes = set(_codes(item.get("productOrService")))
        return bool(seqs) and any(codes & self.seq_codes.get(s, set()) for s in seqs)

    def _price_remainder(self, lines: list[ServiceLine]) -> None:
        total = checked(self.ctx, money(self.claim.get("total")), f"{self.claim.path}.total")
        unpriced = [ln for ln in lines if ln.charge is None]
        if total is not None and lines and not unpriced and sum(ln.charge for ln in lines) != total:  # type: ignore[misc]
            self.ctx.warning(
                "FHIR-CLAIM-TOTAL", "Claim.total differs from the sum of the items; the items are billed",
                f"{self.claim.path}.total",
            )  # fmt: skip
        if not self.ctx.settings.claim_total_remainder or total is None or len(unpriced) != 1:
            return
        rest = total - sum((ln.charge for ln in lines if ln.charge is not None), Decimal(0))
        if rest > 0:
            unpriced[0].charge = as_sent(rest)
            self.ctx.info(
                "FHIR-CLAIM-REMAINDER",
                "one Claim item had no price; it is priced at Claim.total minus the other items",
                f"{self.claim.path}.total",
            )


# -- from ChargeItems and Procedures ---------------------------------------------------


def _reason_pointers(ctx: Ctx, dx: DxList, res: Res, concepts_key: str, refs_key: str | None = None) -> list[int]:
    """Pointers to the ICD-10-CM reasons of a ChargeItem/Procedure (added to ``dx``)."""
    pointers: list[int] = []
    for i, concept in enumerate(items(res.get(concepts_key))):
        if first_coding([concept], ICD10CM | ICD10_WHO):
            p = add_concept(ctx, dx, concept, f"{res.path}.{concepts_key}[{i}]")
            if p:
                pointers.append(p)
    for i, ref in enumerate(items(res.get(refs_key)) if refs_key else []):
        cond = ctx.follow(ref, res, f"{res.path}.{refs_key}[{i}]", ("Condition",), what="reason", quiet=True)
        if cond is not None:
            p = add_condition(ctx, dx, cond)
            if p:
                pointers.append(p)
    return list(dict.fromkeys(pointers))[:4]


def _performer(ctx: Ctx, res: Res) -> Provider | None:
    """The first performer's actor of a ChargeItem or Procedure."""
    performer = next((p for p in items(res.get("performer")) if isinstance(p, dict)), None)
    if performer is None:
        return None
    return provider(ctx, performer.get("actor"), res, f"{res.path}.performer[0].actor", "performer")


def charge_item_line(ctx: Ctx, dx: DxList, item: Res, default_date: date | None) -> ServiceLine | None:
    """A line from a ChargeItem: code, quantity, priceOverride (the total), date, performer, reasons."""
    data = item.data
    pointers = _reason_pointers(ctx, dx, item, "reason")
    for i, ref in enumerate(items(data.get("service"))):
        proc = ctx.follow(ref, item, f"{item.path}.service[{i}]", quiet=True)
        if proc is not None and proc.type == "Procedure":
            pointers += _reason_pointers(ctx, dx, proc, "reasonCode", "reasonReference")
    rendering = _performer(ctx, item)
    return make_line(
        ctx,
        data.get("code"),
        f"{item.path}.code",
        service_date=start_of(data, "occurrence") or default_date,
        units=checked(ctx, decimal((data.get("quantity") or {}).get("value")), f"{item.path}.quantity", "units"),
        charge=checked(ctx, money(data.get("priceOverride")), f"{item.path}.priceOverride"),
        pointers=list(dict.fromkeys(pointers))[:4] or dx.default_pointers(ctx.settings.default_pointers),
        rendering=rendering,
        control_number=_control(item),
        source_ref=item.path,
    )


def procedure_line(ctx: Ctx, dx: DxList, proc: Res, default_date: date | None) -> ServiceLine | None:
    """A line (without charge) from a completed Procedure."""
    pointers = _reason_pointers(ctx, dx, proc, "reasonCode", "reasonReference")
    rendering = _performer(ctx, proc)
    return make_line(
        ctx,
        proc.get("code"),
        f"{proc.path}.code",
        service_date=start_of(proc.data, "performed") or default_date,
        pointers=pointers or dx.default_pointers(ctx.settings.default_pointers),
        rendering=rendering,
        source_ref=proc.path,
    )
