"""Claim facts: what an 837P says about one claim, comparable both ways.

:func:`facts_of` computes them from a canonical :class:`~gateway.model.Claim`
with the same rules the renderer applies (which loops are sent, how codes and
names are written); the reader (:mod:`.reader`) extracts them from a file.
Round-trip tests compare the two. :func:`to_claim` turns read facts back
into a canonical claim so the scrubber's rules can check a file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from gateway.codes import X12_RELATIONSHIPS
from gateway.model import (
    Address,
    Claim,
    Coverage,
    Diagnosis,
    LineAdjudication,
    Patient,
    Payer,
    PersonName,
    PriorAdjudication,
    PriorAdjustment,
    Provider,
    ServiceLine,
    Subscriber,
)

from . import values as v
from .syntax import d8
from .values import clean_text

#: relationship codes PAT01 accepts (5010); anything else is sent as G8
PAT_RELATIONSHIPS = frozenset(X12_RELATIONSHIPS) - {"18"}
SELF = "18"


def text(value: str | None, limit: int) -> str:
    """Free text as the renderer writes it (upper case)."""
    return clean_text(value, limit) if value else ""


def ident(value: str | None) -> str:
    """An identifier as the renderer writes it (only surrounding blanks go)."""
    return value.strip() if value else ""


def postal_code(value: str | None) -> str:
    """N403 as written: the ZIP code without hyphen and blanks ("62701-0001" → "627010001")."""
    return ident((value or "").replace("-", "").replace(" ", ""))


def diagnosis_code(code: str) -> str:
    """ICD-10-CM as X12 writes it: no dot, no blanks, upper case."""
    code = code.replace(".", "").upper()
    return code if code.isalnum() else "".join(code.split())


def line_control_number(claim: Claim, index: int) -> str:
    """REF*6R of line ``index`` (1-based): the line's own control number, or
    ``<CLM01>-<n>``, stable across resubmissions so an 835 SVC matches it."""
    own = claim.service_lines[index - 1].control_number
    return own if own else f"{claim.id.strip()}-{index}"


def rendering_differs(claim: Claim) -> bool:
    """2310B is sent only when the rendering provider is not the billing one."""
    r = claim.rendering_provider
    return r is not None and bool(ident(r.npi)) and ident(r.npi) != ident(claim.billing_provider.npi)


def facility_differs(claim: Claim) -> bool:
    """2310C is sent only when the service facility is not the billing
    provider's own location."""
    f, b = claim.service_facility, claim.billing_provider
    if f is None or f.address is None:
        return False
    return (ident(f.npi), f.address) != (ident(b.npi), b.address)


def written_addresses(claim: Claim) -> Iterator[tuple[str, Address]]:
    """(location, address) of every address an 837P of ``claim`` carries
    (N3/N4), in the renderer's terms: the subscriber's is the patient's when
    the patient is the subscriber and has none of their own."""
    cov = claim.coverage
    candidates = [("claim.billing_provider.address", claim.billing_provider.address)]
    if cov.relationship == SELF and cov.subscriber.address is None:
        candidates.append(("claim.patient.address", claim.patient.address))
    else:
        candidates.append(("claim.coverage.subscriber.address", cov.subscriber.address))
        if cov.relationship != SELF:
            candidates.append(("claim.patient.address", claim.patient.address))
    candidates.append(("claim.coverage.payer.address", cov.payer.address))
    if facility_differs(claim):
        candidates.append(("claim.service_facility.address", claim.service_facility.address))  # type: ignore[union-attr]
    return ((where, a) for where, a in candidates if a is not None)


def pat_relationship(code: str) -> str:
    """The relationship as sent: "18" (self, SBR02) or a PAT01 code (G8 for
    codes PAT01 does not accept)."""
    return code if code == SELF or code in PAT_RELATIONSHIPS else "G8"


def to_decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


@dataclass(frozen=True)
class AddressFacts:
    lines: tuple[str, ...] = ()
    city: str = ""
    state: str = ""
    postal_code: str = ""


def address_facts(a: Address | None) -> AddressFacts | None:
    if a is None:
        return None
    lines = (text(x, v.ADDRESS_LINE) for x in a.lines[:2])
    return AddressFacts(
        lines=tuple(x for x in lines if x),
        city=text(a.city, v.CITY),
        state=ident(a.state).upper(),
        postal_code=postal_code(a.postal_code),
    )


def to_address(a: AddressFacts | None) -> Address | None:
    if a is None:
        return None
    return Address(lines=list(a.lines), city=a.city or None, state=a.state or None, postal_code=a.postal_code or None)


@dataclass(frozen=True)
class PersonFacts:
    family: str = ""
    given: str = ""
    middle: str = ""
    suffix: str = ""
    birth_date: str = ""
    sex: str = ""
    address: AddressFacts | None = None


#: a CAS triple as written: (CAS01 group, reason, amount, quantity)
CasFacts = tuple[str, str, Decimal | None, Decimal | None]


def cas_order(adjustments: Sequence[PriorAdjustment]) -> list[PriorAdjustment]:
    """Adjustments in the order the 837P writes them: one CAS per group code
    (in the order the groups first appear), its reasons in their order."""
    groups: dict[str, list[PriorAdjustment]] = {}
    for a in adjustments:
        groups.setdefault(a.group, []).append(a)
    return [a for items in groups.values() for a in items]


def _cas_facts(adjustments: Sequence[PriorAdjustment]) -> tuple[CasFacts, ...]:
    return tuple((ident(a.group), ident(a.reason), a.amount, a.quantity) for a in cas_order(adjustments))


@dataclass(frozen=True)
class LineAdjudicationFacts:
    """A 2430 loop: how an earlier payer (SVD01, its 2330B payer id) paid the line."""

    payer_id: str
    paid: Decimal | None
    qualifier: str
    procedure_code: str
    modifiers: tuple[str, ...]
    units: Decimal | None
    adjustments: tuple[CasFacts, ...]
    date: str
    segment: int = field(default=0, compare=False)


@dataclass(frozen=True)
class LineFacts:
    procedure_code: str
    modifiers: tuple[str, ...]
    charge: Decimal | None
    units: Decimal | None
    pointers: tuple[int, ...]
    service_date: str
    place_of_service: str
    control_number: str
    #: 2420A/2420D/2420E/2420F NPIs ("" when the line has none of its own)
    rendering_npi: str = ""
    supervising_npi: str = ""
    ordering_npi: str = ""
    referring_npi: str = ""
    #: 2430 loops: earlier payers' answers for this line
    adjudications: tuple[LineAdjudicationFacts, ...] = ()


@dataclass(frozen=True)
class OtherPayerFacts:
    """A 2320/2330 other payer."""

    responsibility: str
    payer_id: str
    payer_name: str
    member_id: str
    paid: Decimal | None
    #: its answer, on a secondary/tertiary claim: 2320 CAS, AMT*EAF, 2330B REF*F8 and DTP*573
    adjustments: tuple[CasFacts, ...] = ()
    remaining: Decimal | None = None
    claim_number: str = ""
    date: str = ""
    #: the AMT*D (else SBR) segment
    segment: int = field(default=0, compare=False)

    @property
    def adjudicated(self) -> bool:
        return bool(self.adjustments or self.remaining is not None or self.date)


@dataclass(frozen=True)
class Positions:
    """Where a claim's parts are in the file (1-based segment numbers)."""

    clm: int = 0
    hi: int | None = None
    billing: int | None = None
    lines: tuple[int, ...] = ()
    st_control: str = ""
    #: NM1 of the claim's and lines' other providers by model location
    #: ("rendering_provider", "service_lines[2].ordering_provider")
    providers: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class ClaimFacts:
    claim_id: str
    total_charge: Decimal | None
    place_of_service: str
    frequency_code: str
    original_reference: str
    billing_npi: str
    billing_name: str
    billing_tax_id: str
    billing_address: AddressFacts | None
    rendering_npi: str
    service_facility_npi: str
    referring_npi: str
    patient: PersonFacts
    relationship: str
    subscriber: PersonFacts
    member_id: str
    group_number: str
    payer_id: str
    payer_name: str
    responsibility: str
    filing_indicator: str
    diagnoses: tuple[str, ...]
    lines: tuple[LineFacts, ...]
    other_payers: tuple[OtherPayerFacts, ...] = ()
    #: AMT*F5 patient amount paid
    patient_paid: Decimal | None = None
    where: Positions = field(default_factory=Positions, compare=False)

    @property
    def lines_total(self) -> Decimal:
        return sum((ln.charge or Decimal(0) for ln in self.lines), Decimal(0))


def _person(
    name: PersonName, birth: date | None, sex: str, address: Address | None, with_demographics: bool = True
) -> PersonFacts:
    return PersonFacts(
        address=address_facts(address),
        family=text(name.family, v.ORG_NAME),
        given=text(name.given, v.GIVEN_NAME),
        middle=text(name.middle, v.MIDDLE_NAME),
        suffix=text(name.suffix, v.NAME_SUFFIX),
        birth_date=d8(birth) if birth and with_demographics else "",
        sex=sex if with_demographics else "",
    )


def _provider_name(p: Provider) -> str:
    if p.organization_name or p.name is None:
        return text(p.display(), v.ORG_NAME)
    return text(p.name.family, v.ORG_NAME)


def _self_demographics(claim: Claim) -> tuple[date | None, str]:
    """DMG of a subscriber who is the patient: the subscriber's, else the patient's."""
    sub, pat = claim.coverage.subscriber, claim.patient
    return sub.birth_date or pat.birth_date, sub.sex if sub.sex != "U" else pat.sex


def _npi(p: Provider | None) -> str:
    return ident(p.npi) if p is not None else ""


def _line_adjudications(claim: Claim, i: int) -> tuple[LineAdjudicationFacts, ...]:
    return tuple(
        LineAdjudicationFacts(
            payer_id=ident(o.payer.id), paid=la.paid, qualifier=ident(la.code_qualifier),
            procedure_code=ident(la.procedure_code), modifiers=tuple(ident(m) for m in la.modifiers if m.strip()),
            units=la.units, adjustments=_cas_facts(la.adjustments), date=d8(la.adjudication_date),
        )
        for o in claim.other_coverages[:10]
        if o.adjudication is not None
        for la in o.adjudication.lines
        if la.line == i
    )  # fmt: skip


def _other_payer_facts(o: Coverage) -> OtherPayerFacts:
    a = o.adjudication
    claim_level = a is not None and not a.lines
    return OtherPayerFacts(
        responsibility=o.payer_responsibility_code,
        payer_id=ident(o.payer.id),
        payer_name=text(o.payer.name, v.ORG_NAME),
        member_id=ident(o.subscriber.member_id),
        paid=a.paid if a is not None else o.prior_payer_paid,
        adjustments=_cas_facts(a.adjustments) if a is not None else (),
        remaining=a.patient_responsibility if a is not None and claim_level else None,
        claim_number=ident(a.claim_control_number) if a is not None else "",
        date=d8(a.adjudication_date) if a is not None and claim_level else "",
    )


def _line_facts(claim: Claim, i: int, ln: ServiceLine, claim_npi: str | None) -> LineFacts:
    lr = ln.rendering_provider
    return LineFacts(
        procedure_code=ident(ln.procedure_code),
        modifiers=tuple(ident(m) for m in ln.modifiers if m.strip()),
        charge=ln.charge,
        units=ln.units,
        pointers=tuple(ln.diagnosis_pointers),
        service_date=d8(ln.service_date),
        place_of_service=ident((ln.place_of_service or "").strip() or claim.place_of_service),
        control_number=ident(line_control_number(claim, i)),
        rendering_npi=_npi(lr) if lr is not None and lr.npi and lr.npi != claim_npi else "",
        supervising_npi=_npi(ln.supervising_provider),
        ordering_npi=_npi(ln.ordering_provider),
        referring_npi=_npi(ln.referring_provider),
        adjudications=_line_adjudications(claim, i) if claim.other_coverages else (),
    )


def facts_of(claim: Claim) -> ClaimFacts:
    """The facts an 837P rendered from ``claim`` must carry."""
    cov, b = claim.coverage, claim.billing_provider
    sub = cov.subscriber
    if cov.relationship == SELF:
        subscriber = _person(sub.name, *_self_demographics(claim), sub.address or claim.patient.address)
        patient = subscriber
    else:
        subscriber = _person(sub.name, None, "", sub.address, with_demographics=False)
        pat = claim.patient
        patient = _person(pat.name, pat.birth_date, pat.sex, pat.address)
    rendering = claim.rendering_provider.npi if rendering_differs(claim) else b.npi  # type: ignore[union-attr]
    lines = tuple(_line_facts(claim, i, ln, rendering) for i, ln in enumerate(claim.service_lines, 1))
    facility = claim.service_facility.npi if facility_differs(claim) else None  # type: ignore[union-attr]
    referring = claim.referring_provider.npi if claim.referring_provider else None
    replaces = claim.frequency_code in ("7", "8")
    return ClaimFacts(
        claim_id=ident(claim.id),
        total_charge=claim.total_charge,
        patient_paid=claim.patient_paid or None,
        place_of_service=ident(claim.place_of_service),
        frequency_code=ident(claim.frequency_code),
        original_reference=ident(claim.original_reference) if replaces else "",
        billing_npi=ident(b.npi),
        billing_name=_provider_name(b),
        billing_tax_id=ident(b.tax_id),
        billing_address=address_facts(b.address),
        rendering_npi=ident(rendering),
        service_facility_npi=ident(facility),
        referring_npi=ident(referring),
        patient=patient,
        relationship=pat_relationship(cov.relationship),
        subscriber=subscriber,
        member_id=ident(sub.member_id),
        group_number=ident(sub.group_number),
        payer_id=ident(cov.payer.id),
        payer_name=text(cov.payer.name, v.ORG_NAME),
        responsibility=cov.payer_responsibility_code,
        filing_indicator=ident(cov.claim_filing_indicator),
        diagnoses=tuple(diagnosis_code(d.code) for d in claim.diagnoses),
        lines=lines,
        other_payers=tuple(_other_payer_facts(o) for o in claim.other_coverages),
    )


# -- back to the canonical model (for the scrubber's rules) ------------------


def parse_d8(text: str) -> date | None:
    """CCYYMMDD → date, None when it is not one."""
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _name(p: PersonFacts) -> PersonName:
    return PersonName(family=p.family or "?", given=p.given or None, middle=p.middle or None, suffix=p.suffix or None)


def _sex(text: str) -> str:
    return text if text in ("M", "F") else "U"


_ORDER = {"P": 1, "S": 2, "T": 3}


class NotAClaim(ValueError):
    """Read facts that cannot become a canonical claim (unreadable dates, amounts)."""


def _provider(npi: str) -> Provider | None:
    return Provider(npi=npi) if npi else None


def _answered(f: ClaimFacts, o: OtherPayerFacts) -> bool:
    """Whether the file carries this other payer's answer (2320 CAS/EAF, DTP*573 or 2430 lines)."""
    return o.adjudicated or any(a.payer_id == o.payer_id for ln in f.lines for a in ln.adjudications)


def _adjustments(cas: tuple[CasFacts, ...], where: str) -> list[PriorAdjustment]:
    out = []
    for group, reason, amount, qty in cas:
        if amount is None:
            raise NotAClaim(f"{where}: a CAS amount is not an amount")
        out.append(PriorAdjustment(group=group, reason=reason, amount=amount, quantity=qty))
    return out


def _adjudication(f: ClaimFacts, o: OtherPayerFacts) -> PriorAdjudication:
    """An earlier payer's answer as read (raises :class:`NotAClaim` for unreadable amounts and dates)."""
    lines = []
    for i, ln in enumerate(f.lines, 1):
        for a in ln.adjudications:
            if a.payer_id != o.payer_id:
                continue
            day = parse_d8(a.date)
            if day is None or a.paid is None:
                raise NotAClaim(f"service line {i}: the 2430 SVD02 or DTP*573 is not an amount or a date")
            lines.append(
                LineAdjudication(
                    line=i, procedure_code=a.procedure_code or "?", code_qualifier=a.qualifier or "HC",
                    modifiers=list(a.modifiers[:4]), units=a.units if a.units is not None else Decimal(1),
                    paid=a.paid, adjustments=_adjustments(a.adjustments, f"service line {i} 2430"),
                    adjudication_date=day,
                )
            )  # fmt: skip
    day = parse_d8(o.date) if o.date else (lines[0].adjudication_date if lines else None)
    if day is None:
        raise NotAClaim(f"other payer {o.payer_id or '?'}: 2330B DTP*573 is not a date")
    adjustments = _adjustments(o.adjustments, f"other payer {o.payer_id or '?'} 2320")
    patient = sum((a.amount for a in [*adjustments, *(x for la in lines for x in la.adjustments)] if a.group == "PR"),
                  Decimal(0))  # fmt: skip
    return PriorAdjudication(
        paid=o.paid if o.paid is not None else Decimal(0),
        adjustments=adjustments,
        patient_responsibility=o.remaining if o.remaining is not None else patient,
        claim_control_number=o.claim_number or None,
        adjudication_date=day,
        lines=lines,
    )


def to_claim(f: ClaimFacts, clinic_id: str = "x12-file") -> Claim:
    """A canonical claim from read facts (raises :class:`NotAClaim` saying what
    is unusable, without quoting values)."""
    lines = []
    for i, ln in enumerate(f.lines, 1):
        day = parse_d8(ln.service_date)
        if day is None:
            raise NotAClaim(f"service line {i}: DTP*472 is not a CCYYMMDD date")
        lines.append(
            ServiceLine(
                service_date=day,
                procedure_code=ln.procedure_code or None,
                code_system="CPT" if ln.procedure_code[:1].isdigit() else "HCPCS",
                modifiers=list(ln.modifiers[:4]),
                units=ln.units if ln.units is not None else Decimal(0),
                charge=ln.charge,
                diagnosis_pointers=list(ln.pointers),
                place_of_service=ln.place_of_service or None,
                control_number=ln.control_number or None,
                rendering_provider=_provider(ln.rendering_npi),
                supervising_provider=_provider(ln.supervising_npi),
                ordering_provider=_provider(ln.ordering_npi),
                referring_provider=_provider(ln.referring_npi),
            )
        )
    if f.total_charge is None:
        raise NotAClaim("CLM02 is not an amount")
    subscriber = Subscriber(
        address=to_address(f.subscriber.address),
        member_id=f.member_id,
        name=_name(f.subscriber),
        birth_date=parse_d8(f.subscriber.birth_date),
        sex=_sex(f.subscriber.sex),  # type: ignore[arg-type]
        group_number=f.group_number or None,
    )
    coverage = Coverage(
        order=_ORDER.get(f.responsibility, 1),
        payer=Payer(id=f.payer_id, name=f.payer_name, source_id=f.payer_id),
        subscriber=subscriber,
        relationship=f.relationship or SELF,
        claim_filing_indicator=f.filing_indicator or "ZZ",
    )
    others = [
        Coverage(
            order=_ORDER.get(o.responsibility, 2),
            payer=Payer(id=o.payer_id, name=o.payer_name or o.payer_id),
            subscriber=Subscriber(member_id=o.member_id, name=PersonName(family="?")),
            prior_payer_paid=None if _answered(f, o) else o.paid,
            adjudication=_adjudication(f, o) if _answered(f, o) else None,
        )
        for o in f.other_payers
    ]
    billing = Provider(
        npi=f.billing_npi or None,
        organization_name=f.billing_name or None,
        tax_id=f.billing_tax_id or None,
        address=to_address(f.billing_address),
    )
    rendering = Provider(npi=f.rendering_npi) if f.rendering_npi and f.rendering_npi != f.billing_npi else None
    return Claim(
        id=f.claim_id[:20],
        clinic_id=clinic_id,
        encounter_id=f.claim_id,
        frequency_code=f.frequency_code or "1",
        original_reference=f.original_reference or None,
        billing_provider=billing,
        rendering_provider=rendering,
        referring_provider=Provider(npi=f.referring_npi) if f.referring_npi else None,
        service_facility=Provider(npi=f.service_facility_npi) if f.service_facility_npi else None,
        patient=Patient(
            id=f.claim_id,
            address=to_address(f.patient.address),
            name=_name(f.patient),
            birth_date=parse_d8(f.patient.birth_date),
            sex=_sex(f.patient.sex),  # type: ignore[arg-type]
        ),
        coverage=coverage,
        other_coverages=others,
        place_of_service=f.place_of_service or "11",
        diagnoses=[Diagnosis(code=c) for c in f.diagnoses],
        service_lines=lines,
        total_charge=f.total_charge,
        patient_paid=f.patient_paid,
    )
