"""The ``x12-837p`` renderer: claims → 005010X222A1 interchanges.

One interchange (ISA/GS/IEA) per clinic and render call; inside it one
transaction set (ST/SE) per billing provider, split further when a billing
provider has more claims than ``max_claims_per_transaction``. Claims are
sorted by CLM01 and grouped under billing provider (2000A) and subscriber
(2000B) HLs, with a patient HL (2000C) when the patient is not the
subscriber. Given the same claims, creation time and control numbers the
bytes are the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from itertools import groupby
from pathlib import Path
from typing import Any

from gateway.codes import MAX_DIAGNOSES
from gateway.documents import Document, RenderContext
from gateway.model import Address, Claim, Coverage, PersonName, PriorAdjustment, Provider, ServiceLine

from . import situational
from . import values as v
from .facts import (
    SELF,
    cas_order,
    diagnosis_code,
    facility_differs,
    line_control_number,
    pat_relationship,
    postal_code,
    rendering_differs,
)
from .settings import X12ClinicSettings, X12Settings
from .syntax import Delimiters, amount, d8, isa_segment, quantity
from .values import X12RenderError, X12ValueError, element_value, is_safe

VERSION = "005010X222A1"
MAX_LINES = 50
MAX_CLAIMS_PER_HL = 100  # 2300 loop repeat under one 2000B/2000C
INPATIENT_POS = frozenset({"21", "51", "61"})


class _Writer:
    """Builds one transaction set's segments with a file's delimiters. Every
    element value goes through :func:`~.values.element_value`: :meth:`t` for
    free text, :meth:`id` for identifiers and codes (refused, naming the claim
    being written, ``where``, and the element, when unsafe)."""

    __slots__ = ("c", "e", "segs", "upper", "where")

    def __init__(self, d: Delimiters, upper: bool) -> None:
        self.e, self.c, self.upper = d.element, d.component, upper
        self.segs: list[str] = []
        self.where: Claim | str = ""

    def t(self, value: str | None, limit: int) -> str:
        return element_value(value, limit, identifier=False, upper=self.upper) if value else ""

    def id(self, value: str | None, limit: int, what: str, *args: object) -> str:
        """An identifier or code; ``what.format(*args)`` names it if it is refused."""
        if not value:
            return ""
        try:
            return element_value(value, limit, identifier=True)
        except X12ValueError as exc:
            raise X12ValueError(f"{self.named()} cannot be written as an 837P: {what.format(*args)} {exc}") from None

    def named(self) -> str:
        return _claim_name(self.where) if isinstance(self.where, Claim) else self.where

    def seg(self, *parts: str) -> None:
        n = len(parts)
        while n > 1 and not parts[n - 1]:
            n -= 1
        self.segs.append(self.e.join(parts[:n]))

    def comp(self, *parts: str) -> str:
        n = len(parts)
        while n > 1 and not parts[n - 1]:
            n -= 1
        return self.c.join(parts[:n])

    # -- shared pieces -------------------------------------------------------
    def name(self, qualifier: str, who: Provider | PersonName, id_q: str = "", id_: str = "") -> None:
        """NM1 for an organisation (NM102 2) or a person (NM102 1)."""
        if isinstance(who, Provider):
            if who.organization_name or who.name is None:
                self.org(qualifier, who.display(), id_q, id_)
                return
            who = who.name
        self._nm1(qualifier, "1", self.t(who.family, v.ORG_NAME), self.t(who.given, v.GIVEN_NAME),
                  self.t(who.middle, v.MIDDLE_NAME), self.t(who.suffix, v.NAME_SUFFIX), id_q, id_)  # fmt: skip

    def org(self, qualifier: str, name: str | None, id_q: str = "", id_: str = "") -> None:
        """NM1 for an organisation (NM102 2)."""
        self._nm1(qualifier, "2", self.t(name, v.ORG_NAME), "", "", "", id_q, id_)

    def _nm1(self, q: str, kind: str, last: str, first: str, middle: str, suffix: str, id_q: str, id_: str) -> None:
        if not last:
            raise X12RenderError(
                f"{self.named()} cannot be written as an 837P: NM1*{q} has no name left in the X12 "
                "character set (NM103 is required)"
            )
        self.seg("NM1", q, kind, last, first, middle, "", suffix, id_q, id_)

    def address(self, a: Address | None, who: str) -> None:
        """N3 + N4 (skipped when there is no address)."""
        if a is None:
            return
        lines = [line for line in (self.t(x, v.ADDRESS_LINE) for x in a.lines[:2]) if line]
        if lines:
            self.seg("N3", *lines)
        country = "" if a.country in ("US", "USA", "") else self.id(a.country.upper(), v.COUNTRY, "{} country", who)
        zip_ = postal_code(a.postal_code)
        state = self.id((a.state or "").upper(), v.STATE, "{} state", who)
        self.seg("N4", self.t(a.city, v.CITY), state, self.id(zip_, v.POSTAL_CODE, "{} ZIP code", who), country)

    def npi(self, p: Provider | None, who: str) -> tuple[str, str]:
        """NM108/NM109 for a provider's NPI ("", "" without one)."""
        npi = self.id(p.npi, v.ID_CODE, "{} NPI", who) if p is not None else ""
        return ("XX", npi) if npi else ("", "")

    def dmg(self, birth: Any, sex: str) -> None:
        if birth is not None:
            self.seg("DMG", "D8", d8(birth), sex)


# -- loops -----------------------------------------------------------------


def _billing_block(w: _Writer, b: Provider, pay_to: Address | None) -> list[str]:
    """2000A PRV + 2010AA billing provider (+ 2010AB pay-to)."""
    w.segs = []
    if b.taxonomy:
        w.seg("PRV", "BI", "PXC", w.id(b.taxonomy, v.REFERENCE, "the billing provider's taxonomy"))
    w.name("85", b, *w.npi(b, "the billing provider's"))
    w.address(b.address, "the billing provider's")
    if b.tax_id:
        w.seg("REF", b.tax_id_type, w.id(b.tax_id, v.REFERENCE, "the billing provider's tax id"))
    if pay_to is not None and pay_to != b.address:
        w.seg("NM1", "87", "2")
        w.address(pay_to, "the pay-to")
    return w.segs


def _sbr(w: _Writer, cov: Coverage, relationship: str) -> None:
    """SBR of 2000B or 2320: responsibility, relationship, group, filing indicator."""
    group = w.id(cov.subscriber.group_number, v.REFERENCE, "coverage {}'s group number", cov.order)
    group_name = "" if group else w.t(cov.subscriber.group_name or cov.plan_name, v.GROUP_NAME)
    w.seg("SBR", cov.payer_responsibility_code, relationship, group, group_name, "", "", "", "",
          w.id(cov.claim_filing_indicator, v.CODE, "coverage {}'s claim filing indicator", cov.order))  # fmt: skip


def _subscriber_block(w: _Writer, claim: Claim) -> list[str]:
    """2000B SBR + 2010BA subscriber + 2010BB payer (HL excluded)."""
    w.segs = []
    cov = claim.coverage
    sub = cov.subscriber
    is_self = cov.relationship == SELF
    _sbr(w, cov, SELF if is_self else "")
    w.name("IL", sub.name, "MI", w.id(sub.member_id, v.ID_CODE, "the subscriber's member id"))
    if is_self:
        w.address(sub.address or claim.patient.address, "the subscriber's")
        w.dmg(sub.birth_date or claim.patient.birth_date, sub.sex if sub.sex != "U" else claim.patient.sex)
    else:
        w.address(sub.address, "the subscriber's")
    w.org("PR", cov.payer.name, "PI", w.id(cov.payer.id, v.ID_CODE, "the payer id"))
    w.address(cov.payer.address, "the payer's")
    return w.segs


def _patient_block(w: _Writer, claim: Claim) -> list[str]:
    """2000C PAT + 2010CA patient (HL excluded)."""
    w.segs = []
    p = claim.patient
    w.seg("PAT", pat_relationship(claim.coverage.relationship))
    w.name("QC", p.name)
    w.address(p.address, "the patient's")
    w.dmg(p.birth_date, p.sex)
    return w.segs


def _cas(w: _Writer, adjustments: Sequence[PriorAdjustment], what: str) -> None:
    """CAS segments: one per group code, up to six reason/amount(/quantity) triples each."""
    for group, run in groupby(cas_order(adjustments), key=lambda a: a.group):
        items = list(run)
        code = w.id(group, v.CODE, "{}'s CAS group code", what)
        for start in range(0, len(items), 6):
            triples: list[str] = []
            for a in items[start : start + 6]:
                reason = w.id(a.reason, v.CODE, "{}'s CAS reason code", what)
                triples += [reason, amount(a.amount), quantity(a.quantity) if a.quantity is not None else ""]
            w.seg("CAS", code, *triples)


def _other_payer(w: _Writer, o: Coverage) -> None:
    """2320 other subscriber information (with the payer's claim-level
    answer on a secondary/tertiary claim) + 2330A/2330B."""
    sub = o.subscriber
    what = f"other coverage {o.order}"
    _sbr(w, o, pat_relationship(o.relationship))
    a = o.adjudication
    if a is not None:
        _cas(w, a.adjustments, what)
    paid = a.paid if a is not None else o.prior_payer_paid
    if paid is not None:
        w.seg("AMT", "D", amount(paid))
    if a is not None and not a.lines:  # required when the payer answered at claim level only
        w.seg("AMT", "EAF", amount(a.patient_responsibility))
    w.seg("OI", "", "", "Y", "P", "", "Y")
    w.name("IL", sub.name, "MI", w.id(sub.member_id, v.ID_CODE, "{}'s member id", what))
    if a is not None:
        w.address(sub.address, f"{what}'s subscriber")
    w.org("PR", o.payer.name, "PI", w.id(o.payer.id, v.ID_CODE, "{}'s payer id", what))
    if a is not None and not a.lines:
        w.seg("DTP", "573", "D8", d8(a.adjudication_date))
    if a is not None and a.claim_control_number:
        w.seg("REF", "F8", w.id(a.claim_control_number, v.REFERENCE, "{}'s claim control number", what))


def _line_adjudications(w: _Writer, claim: Claim, i: int) -> None:
    """2430 SVD + CAS + DTP*573: how each earlier payer paid line ``i``."""
    for o in claim.other_coverages[:10]:
        if o.adjudication is None:
            continue
        payer = w.id(o.payer.id, v.ID_CODE, "other coverage {}'s payer id", o.order)
        for la in o.adjudication.lines:
            if la.line != i:
                continue
            what = f"line {i}'s adjudication by other coverage {o.order}"
            code = w.comp(
                w.id(la.code_qualifier, v.CODE, "{}'s code qualifier", what),
                w.id(la.procedure_code, v.PROCEDURE, "{}'s procedure code", what),
                *(w.id(m, v.CODE, "{}'s modifier", what) for m in la.modifiers if m.strip()),
            )
            w.seg("SVD", payer, amount(la.paid), code, "", quantity(la.units))
            _cas(w, la.adjustments, what)
            w.seg("DTP", "573", "D8", d8(la.adjudication_date))


def _claim_name(claim: Claim) -> str:
    """How errors name a claim: its CLM01, unless that is what cannot be written."""
    return f"claim {claim.id}" if is_safe(claim.id) else "a claim whose CLM01 cannot be written"


def _check(claim: Claim) -> None:
    problems = []
    if not claim.id.strip():
        problems.append("no claim id (CLM01)")
    if not claim.diagnoses:
        problems.append("no diagnosis")
    if len(claim.diagnoses) > MAX_DIAGNOSES:
        problems.append(f"{len(claim.diagnoses)} diagnoses (837P allows {MAX_DIAGNOSES})")
    if not claim.service_lines or len(claim.service_lines) > MAX_LINES:
        problems.append(f"{len(claim.service_lines)} service lines (837P allows 1 to {MAX_LINES})")
    if not all(diagnosis_code(d.code) for d in claim.diagnoses):
        problems.append("a diagnosis has no code")
    for i, ln in enumerate(claim.service_lines, 1):
        if not (ln.procedure_code or "").strip() or ln.charge is None:
            problems.append(f"service line {i} has no procedure code or charge")
    if claim.frequency_code in ("7", "8") and not claim.original_reference:
        problems.append(f"frequency {claim.frequency_code} needs the original claim's payer reference")
    if problems:
        raise X12RenderError(f"{_claim_name(claim)} cannot be written as an 837P: " + "; ".join(problems))


def _claim(w: _Writer, claim: Claim) -> None:
    """2300 claim with its 2310, 2320 and 2400 loops."""
    _check(claim)
    w.where = claim
    e = w.e
    pos = w.id(claim.place_of_service, v.CODE, "the place of service")
    clm01 = w.id(claim.id, v.CLAIM_ID, "CLM01")
    freq = w.id(claim.frequency_code, 1, "the claim frequency")
    clm = f"CLM{e}{clm01}{e}{amount(claim.total_charge)}{e}{e}{e}{w.comp(pos, 'B', freq)}{e}Y{e}A{e}Y{e}Y"
    if claim.related_causes or claim.delay_reason:  # CLM11, CLM20
        delay = w.id(claim.delay_reason, v.CODE, "the delay reason (CLM20)")
        clm = w.e.join([clm, "", _related_causes(w, claim), *[""] * 8, delay]).rstrip(e)
    w.segs.append(clm)
    situational.write_claim(w, claim)
    if pos in INPATIENT_POS:
        w.seg("DTP", "435", "D8", d8(min(ln.service_date for ln in claim.service_lines)))
    if claim.patient_paid:
        w.seg("AMT", "F5", amount(claim.patient_paid))
    original = claim.original_reference if claim.frequency_code in ("7", "8") else None
    situational.write_claim_refs(w, claim, original)
    codes = [w.id(diagnosis_code(d.code), v.DIAGNOSIS, "diagnosis {}", i) for i, d in enumerate(claim.diagnoses, 1)]
    w.segs.append(e.join([f"HI{e}{w.comp('ABK', codes[0])}", *(w.comp("ABF", code) for code in codes[1:])]))
    if claim.referring_provider is not None and claim.referring_provider.npi:
        w.name("DN", claim.referring_provider, *w.npi(claim.referring_provider, "the referring provider's"))
    rendering = claim.rendering_provider if rendering_differs(claim) else None
    if rendering is not None:
        w.name("82", rendering, *w.npi(rendering, "the rendering provider's"))
        if rendering.taxonomy:
            w.seg("PRV", "PE", "PXC", w.id(rendering.taxonomy, v.REFERENCE, "the rendering provider's taxonomy"))
    if facility_differs(claim):
        f = claim.service_facility
        assert f is not None
        w.org("77", w.t(f.display(), v.ORG_NAME) or "SERVICE FACILITY", *w.npi(f, "the service facility's"))
        w.address(f.address, "the service facility's")
    for other in claim.other_coverages[:10]:
        _other_payer(w, other)
    claim_npi = (rendering or claim.billing_provider).npi
    for i, ln in enumerate(claim.service_lines, 1):
        _line(w, claim, i, ln, pos, claim_npi)


def _claim_loop(w: _Writer, claim: Claim) -> list[str]:
    """The segments :func:`_claim` writes for ``claim``."""
    w.segs = []
    _claim(w, claim)
    return w.segs


def _related_causes(w: _Writer, claim: Claim) -> str:
    """CLM11: up to two related-cause codes (CLM11-3 is not used) and the auto accident state."""
    if not claim.related_causes:
        return ""
    codes = [w.id(c, v.CODE, "related cause {}", k) for k, c in enumerate(claim.related_causes[:2], 1)]
    state = w.id((claim.accident_state or "").upper(), v.STATE, "the accident state")
    return w.comp(codes[0], codes[1] if len(codes) > 1 else "", "", state)


def _line(w: _Writer, claim: Claim, i: int, ln: ServiceLine, pos: str, claim_npi: str | None) -> None:
    """2400 service line with its 2410 drug and 2420A, 2420D, 2420E and 2420F providers."""
    e = w.e
    w.segs.append(f"LX{e}{i}")
    code = w.comp(
        "HC",
        w.id(ln.procedure_code, v.PROCEDURE, "line {}'s procedure code", i),
        *(w.id(m, v.CODE, "line {}'s modifier {}", i, k) for k, m in enumerate(ln.modifiers, 1) if m.strip()),
    )
    line_pos = ln.place_of_service if ln.place_of_service and ln.place_of_service != pos else ""
    line_pos = w.id(line_pos, v.CODE, "line {}'s place of service", i)
    pointers = w.comp(*(str(p) for p in ln.diagnosis_pointers[:4]))
    charge = amount(ln.charge)  # type: ignore[arg-type]  # _check: every line has one
    w.seg("SV1", code, charge, "UN", quantity(ln.units), line_pos, "", pointers)
    w.segs.append(f"DTP{e}472{e}D8{e}{d8(ln.service_date)}")
    situational.write_line_dates(w, claim, i)
    situational.write_line_tail(w, claim, i, ln, line_control_number(claim, i))
    lr = ln.rendering_provider
    if lr is not None and lr.npi and lr.npi != claim_npi:
        w.name("82", lr, *w.npi(lr, f"line {i}'s rendering provider's"))
    for qualifier, p, who in (("DQ", ln.supervising_provider, "supervising"), ("DK", ln.ordering_provider, "ordering"),
                              ("DN", ln.referring_provider, "referring")):  # fmt: skip
        if p is not None and p.npi:
            w.name(qualifier, p, *w.npi(p, f"line {i}'s {who} provider's"))
    if claim.other_coverages:
        _line_adjudications(w, claim, i)


# -- transaction sets and the interchange -----------------------------------


@dataclass(frozen=True, slots=True)
class _Placed:
    """Where one claim goes in an interchange, worked out as it is read: its
    CLM01, clinic, 2000A/2000B/2000C blocks and its 2300 loop. A block that
    could not be written holds its error, raised where the interchange asks
    for that block (the errors and the control numbers used are as if every
    claim were held at once). Rendering reads each claim once and holds one
    at a time: a renderer given a sequence that validates each claim as it is
    read (the batcher's) never holds a batch's models, and validates each
    claim once. What is held is the claim's segments, which the interchange
    text holds anyway."""

    index: int
    id: str
    clinic_id: str
    is_self: bool
    billing: tuple[str, ...] | Exception
    subscriber: tuple[str, ...] | Exception
    patient: tuple[str, ...] | Exception
    #: the 2300 claim loop with its 2310, 2320 and 2400 loops
    loop: tuple[str, ...] | Exception


def _block(value: tuple[str, ...] | Exception) -> tuple[str, ...]:
    if isinstance(value, Exception):
        raise value
    return value


def _place_claim(
    w: _Writer,
    index: int,
    claim: Claim,
    pay_to: Address | Exception | None,
    last: tuple[Provider, tuple[str, ...]] | None = None,
) -> _Placed:
    """A claim's :class:`_Placed` (``pay_to``: its clinic's pay-to address, or
    why it is not known; ``last``: the billing provider of its clinic's
    previous claim and that claim's 2000A/2010AA, reused when the provider
    is the same: a clinic's claims mostly share one)."""

    def block(write: Callable[[], list[str]]) -> tuple[str, ...] | Exception:
        w.where = claim
        try:
            return tuple(write())
        except Exception as exc:  # raised again where the interchange needs this block
            return exc

    if isinstance(pay_to, Exception):
        billing: tuple[str, ...] | Exception = pay_to
    elif last is not None and last[0] == claim.billing_provider:
        billing = last[1]
    else:
        billing = block(lambda: _billing_block(w, claim.billing_provider, pay_to))
    return _Placed(
        index, claim.id, claim.clinic_id, claim.coverage.relationship == SELF, billing,
        block(lambda: _subscriber_block(w, claim)), block(lambda: _patient_block(w, claim)),
        block(lambda: _claim_loop(w, claim)),
    )  # fmt: skip


def _chunks(claims: list[_Placed], size: int = MAX_CLAIMS_PER_HL) -> list[list[_Placed]]:
    return [claims[i : i + size] for i in range(0, len(claims), size)]


def _transaction(
    w: _Writer,
    claims: list[_Placed],
    billing: list[str],
    st: str,
    header: list[str],
    created: datetime,
    bht: str,
) -> list[str]:
    """One ST..SE for one billing provider's claims."""
    e = w.e
    out = [f"ST{e}837{e}{st}{e}{VERSION}", f"BHT{e}0019{e}00{e}{bht}{e}{created:%Y%m%d}{e}{created:%H%M}{e}{header[0]}"]
    out += header[1:]
    out += [f"HL{e}1{e}{e}20{e}1", *billing]
    subscribers: dict[tuple[str, ...], list[_Placed]] = {}
    for claim in claims:
        subscribers.setdefault(_block(claim.subscriber), []).append(claim)
    hl = 1
    for block, group in subscribers.items():
        is_self = group[0].is_self
        # the 2300 loop repeats at most 100 times under one HL: more claims
        # for one subscriber (or patient) open another HL with the same data
        for chunk in _chunks(group) if is_self else [group]:
            hl += 1
            sub_hl = hl
            out += [f"HL{e}{sub_hl}{e}1{e}22{e}{0 if is_self else 1}", *block]
            if is_self:
                for claim in chunk:
                    out += _block(claim.loop)
                continue
            patients: dict[tuple[str, ...], list[_Placed]] = {}
            for claim in chunk:
                patients.setdefault(_block(claim.patient), []).append(claim)
            for pblock, pclaims in patients.items():
                for pchunk in _chunks(pclaims):
                    hl += 1
                    out += [f"HL{e}{hl}{e}{sub_hl}{e}23{e}0", *pblock]
                    for claim in pchunk:
                        out += _block(claim.loop)
    out.append(f"SE{e}{len(out) + 1}{e}{st}")
    return out


def _clinic_settings(ctx: RenderContext, clinic_id: str) -> X12ClinicSettings:
    """The clinic's ``settings.x12``: validated at start-up (``ctx.clinics``
    when the context carries them), else read from the config."""
    runtime = (getattr(ctx, "clinics", None) or {}).get(clinic_id)
    if runtime is not None and isinstance(runtime.settings.get("x12"), X12ClinicSettings):
        return runtime.settings["x12"]
    for clinic in getattr(ctx.config, "clinics", ()):
        if clinic.id == clinic_id:
            return X12ClinicSettings.model_validate(clinic.settings.get("x12", {}))
    return X12ClinicSettings()


def _header(w: _Writer, config: Any, settings: X12Settings) -> list[str]:
    """BHT06 followed by 1000A submitter and 1000B receiver segments."""
    sub, rec = config.submitter, config.receiver
    if not (sub.contact_phone or sub.contact_email):
        raise X12RenderError("gateway.yaml submitter needs contact_phone or contact_email (1000A PER)")
    w.segs = []
    w.where = "the 1000A/1000B header (gateway.yaml submitter, receiver)"
    w.org("41", sub.name, "46", w.id(sub.id, v.ID_CODE, "submitter.id"))
    comm: list[str] = []
    if sub.contact_phone:
        comm += ["TE", w.id("".join(ch for ch in sub.contact_phone if ch.isdigit()), v.CONTACT, "submitter phone")]
    if sub.contact_email:
        comm += ["EM", element_value(sub.contact_email, v.CONTACT, identifier=False, upper=False)]
    w.seg("PER", "IC", w.t(sub.contact_name or sub.name, v.ORG_NAME), *comm)
    w.org("40", rec.name, "46", w.id(rec.id, v.ID_CODE, "receiver.id"))
    return [settings.transaction_type, *w.segs]


def _scope(isa: tuple[str, str, str, str]) -> str:
    return "x12:" + ":".join(isa)


def render_interchange(claims: list[_Placed], ctx: RenderContext, settings: X12Settings, clinic_id: str) -> Document:
    """One clinic's claims (``claims``, placed) as one 837P interchange document."""
    config = ctx.config
    d = settings.delimiters()
    w = _Writer(d, settings.uppercase)
    sub, rec = config.submitter, config.receiver  # type: ignore[attr-defined]
    isa_ids = (
        settings.sender_qualifier or sub.id_qualifier,
        settings.sender_id or sub.id,
        settings.receiver_qualifier or rec.id_qualifier,
        settings.receiver_id or rec.id,
    )
    scope = _scope(isa_ids)
    numbers = ctx.control_numbers
    isa13 = numbers.next(scope, "ISA13")
    gs06 = numbers.next(scope, "GS06")
    created = ctx.created
    header = _header(w, config, settings)
    ordered = sorted(claims, key=lambda c: c.id)
    by_billing: dict[tuple[str, ...], list[_Placed]] = {}
    for claim in ordered:  # the first raises the clinic's settings error, if any
        by_billing.setdefault(_block(claim.billing), []).append(claim)
    e = d.element
    gs_ids = (settings.application_sender_code or isa_ids[1], settings.application_receiver_code or isa_ids[3])
    body = [e.join(("GS", "HC", *gs_ids, f"{created:%Y%m%d}", f"{created:%H%M}", str(gs06), "X", VERSION))]
    transactions = 0
    limit = settings.max_claims_per_transaction
    for billing, group in by_billing.items():
        for start in range(0, len(group), limit):
            st = f"{numbers.next(scope, 'ST02'):04d}"
            transactions += 1
            chunk = group[start : start + limit]
            body += _transaction(w, chunk, list(billing), st, header, created, f"{isa13}{st}")
    body += [f"GE{e}{transactions}{e}{gs06}", f"IEA{e}1{e}{isa13:09d}"]
    isa = isa_segment(
        d,
        sender_qualifier=isa_ids[0],
        sender_id=isa_ids[1],
        receiver_qualifier=isa_ids[2],
        receiver_id=isa_ids[3],
        created=created,
        control_number=isa13,
        usage=settings.usage_indicator,
        ack_requested=settings.acknowledgment_requested,
    )
    sep = d.segment + d.suffix
    text = isa + d.suffix + sep.join(body) + sep
    name = settings.file_name.format(
        clinic=clinic_id, created=created, isa13=isa13, gs06=gs06, claims=len(ordered),
        usage=settings.usage_indicator, receiver=isa_ids[3].strip(),
    )  # fmt: skip
    return Document(
        name=name,
        content=text.encode("ascii"),
        media_type="application/edi-x12",
        kind="claims",
        clinic_id=clinic_id,
        refs=tuple(c.id for c in ordered),
        headers={"x12-interchange": f"{isa13:09d}"},
    )


class Claim837Renderer:
    """Claims of one or more clinics → one 837P interchange per clinic."""

    name = "x12-837p"
    kind = "claims"
    settings_model = X12Settings

    def render(self, items: Sequence[Claim], ctx: RenderContext) -> list[Document]:  # type: ignore[override]
        """``items`` is read one claim at a time, once (see :class:`_Placed`);
        a claim whose placed blocks were stored with it (``items.placed``,
        see :meth:`place`) is not read at all."""
        settings = ctx.settings if isinstance(ctx.settings, X12Settings) else X12Settings()
        return [
            render_interchange(batch, ctx, settings, cid)
            for cid, claims in sorted(_place_all(items, ctx, settings).items())
            for batch in unique_batches(claims, items)
        ]

    def place(self, claim: Claim, ctx: RenderContext, memo: dict[str, Any] | None = None) -> list[Any] | None:
        """What :meth:`render` would work out for ``claim`` alone, before any
        batch (a worker stores it with the claim, so the batcher only joins
        segments with envelopes, HL numbers and control numbers): its
        2000A/2010AA, 2000B, 2000C blocks and 2300 loop as plain JSON data,
        stamped with what they depend on besides the claim (:func:`profile`).
        None when a block cannot be written (the batch renders that claim
        from its JSON and raises where it always did). ``memo``: a dict the
        caller keeps for one ``ctx`` (the last billing provider's blocks per
        clinic are reused, as in a batch)."""
        settings = ctx.settings if isinstance(ctx.settings, X12Settings) else X12Settings()
        memo = {} if memo is None else memo
        cid = claim.clinic_id
        if (known := memo.get(cid)) is None:
            try:
                pay_to = _clinic_settings(ctx, cid).pay_to_address
            except Exception:
                return None
            known = memo[cid] = [pay_to, profile(settings, pay_to), None]
        pay_to, stamp, last = known
        placed = _place_claim(_Writer(settings.delimiters(), settings.uppercase), 0, claim, pay_to, last)
        blocks = (placed.billing, placed.subscriber, placed.patient, placed.loop)
        if any(isinstance(b, Exception) for b in blocks):
            return None
        known[2] = (claim.billing_provider, placed.billing)
        return [stamp, placed.is_self, *blocks]


@cache
def _code_revision() -> str:
    """A digest of the code a claim's placed blocks come from (this package,
    the canonical model, the code limits): blocks stored by other code are
    rendered afresh from the claim's JSON."""
    import gateway.codes
    import gateway.model

    h = hashlib.blake2b(digest_size=12)
    for path in [*sorted(Path(__file__).parent.glob("*.py")), Path(gateway.model.__file__),
                 Path(gateway.codes.__file__)]:  # fmt: skip
        h.update(path.read_bytes())
    return h.hexdigest()


def profile(settings: X12Settings, pay_to: Address | None) -> str:
    """What a claim's placed blocks depend on besides the claim: the
    destination's settings, the clinic's pay-to address, the code."""
    text = "\x1f".join((VERSION, _code_revision(), settings.model_dump_json(),
                        pay_to.model_dump_json() if pay_to is not None else ""))  # fmt: skip
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _stored_place(index: int, claim_id: str, clinic_id: str, data: Any, expected: str) -> _Placed | None:
    """A claim's :class:`_Placed` from what :meth:`Claim837Renderer.place`
    stored, when it was made for ``expected`` (:func:`profile`); else None."""
    if not (isinstance(data, list) and len(data) == 6 and data[0] == expected):
        return None
    _, is_self, billing, subscriber, patient, loop = data
    return _Placed(index, claim_id, clinic_id, bool(is_self), tuple(billing), tuple(subscriber), tuple(patient),
                   tuple(loop))  # fmt: skip


def _place_all(items: Sequence[Claim], ctx: RenderContext, settings: X12Settings) -> dict[str, list[_Placed]]:
    """Every claim of ``items`` placed (read once, let go of), by clinic;
    from its stored blocks when ``items`` carries them (``items.placed(i)``:
    (CLM01, clinic id, data) or None) and they fit this destination."""
    w = _Writer(settings.delimiters(), settings.uppercase)
    pay_to: dict[str, Address | Exception | None] = {}
    profiles: dict[str, str | None] = {}
    by_clinic: dict[str, list[_Placed]] = {}
    billing: dict[str, tuple[Provider, tuple[str, ...]]] = {}  # by clinic: the last billing provider written
    stored = getattr(items, "placed", None)

    def clinic_pay_to(cid: str) -> Address | Exception | None:
        if cid not in pay_to:
            try:
                pay_to[cid] = _clinic_settings(ctx, cid).pay_to_address
            except Exception as exc:  # raised when that clinic's interchange is written
                pay_to[cid] = exc
        return pay_to[cid]

    for i in range(len(items)):
        if stored is not None and (found := stored(i)) is not None:
            claim_id, cid, data = found
            if cid not in profiles:
                p = clinic_pay_to(cid)
                profiles[cid] = None if isinstance(p, Exception) else profile(settings, p)
            expected = profiles[cid]
            placed = _stored_place(i, claim_id, cid, data, expected) if expected is not None else None
            if placed is not None:
                by_clinic.setdefault(cid, []).append(placed)
                continue
        claim = items[i]
        cid = claim.clinic_id
        placed = _place_claim(w, i, claim, clinic_pay_to(cid), billing.get(cid))
        if isinstance(placed.billing, tuple):
            billing[cid] = (claim.billing_provider, placed.billing)
        by_clinic.setdefault(cid, []).append(placed)
    return by_clinic


def unique_batches(claims: list[_Placed], items: Sequence[Claim]) -> list[list[_Placed]]:
    """Split claims so no CLM01 appears twice in one interchange: an exact
    repeat is dropped; a different claim with the same CLM01 (two sources
    reusing a visit number) goes to the next interchange."""
    by_id: dict[str, list[_Placed]] = {}
    for claim in claims:
        by_id.setdefault(claim.id, []).append(claim)
    batches: list[dict[str, tuple[Claim | None, _Placed]]] = [{}] if claims else []
    for same_id in by_id.values():
        if len(same_id) == 1:  # the common case: no need to order (or read) by content
            batches[0][same_id[0].id] = (None, same_id[0])
            continue
        read = [(items[p.index], p) for p in same_id]
        _place(sorted(read, key=lambda r: r[0].model_dump_json()), batches)
    return [[p for _, p in b.values()] for b in batches]


def _place(claims: list[tuple[Claim, _Placed]], batches: list[dict[str, tuple[Claim | None, _Placed]]]) -> None:
    """Claims sharing one CLM01, in content order: each into the first batch
    without that CLM01, an exact repeat dropped."""
    for claim, placed in claims:
        for batch in batches:
            if claim.id not in batch:
                batch[claim.id] = (claim, placed)
                break
            if batch[claim.id][0] == claim:
                break
        else:
            batches.append({claim.id: (claim, placed)})
