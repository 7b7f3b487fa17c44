"""Writing response documents (the typed models) as X12: 999, 277CA and
835 interchanges, as a payer or clearinghouse would send them.

Used by the payer simulator and by round-trip tests (write → read → the
same model). Segment positions and ``*_text`` fields of the models are the
reader's and are not written; everything else the reader reads is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import groupby

from gateway_plugins.renderers.x12.syntax import amount, d8, isa_segment, quantity

from gateway.model import (
    Ack999,
    Adjustment,
    ClaimAck277,
    PersonName,
    ProviderAdjustment,
    Remit835,
    RemitClaim,
    RemitLine,
    RemitParty,
    Status277,
)
from gateway.x12 import Delimiters

D = Delimiters(element="*", component=":", repetition="^", segment="~", suffix="\n")
VERSIONS = {"835": "005010X221A1", "277": "005010X214", "999": "005010X231A1"}
GROUP_IDS = {"835": "HP", "277": "HN", "999": "FA"}


@dataclass(frozen=True)
class Party:
    """One side of an interchange: ISA05/ISA06 (or 07/08) and GS02/GS03."""

    id: str
    qualifier: str = "ZZ"


class _Segments:
    """Segments of one transaction set."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, *elements: str | None) -> None:
        values = ["" if e is None else e for e in elements]
        while len(values) > 1 and values[-1] == "":
            values.pop()
        self.items.append(D.element.join(values))

    def text(self, value: str | None, limit: int = 60) -> str:
        return D.clean(value or "", limit)


def _comp(*parts: str | None) -> str:
    values = ["" if p is None else p for p in parts]
    while len(values) > 1 and values[-1] == "":
        values.pop()
    return D.component.join(values)


def _money(value: Decimal | None) -> str:
    return "" if value is None else amount(value)


def _qty(value: Decimal | None) -> str:
    return "" if value is None else quantity(value)


def _name(out: _Segments, code: str, person: PersonName | None, id_q: str, ident: str | None) -> None:
    p = person or PersonName(family="UNKNOWN")
    out.add(
        "NM1", code, "1", out.text(p.family, 60), out.text(p.given, 35), out.text(p.middle, 25), None,
        out.text(p.suffix, 10), id_q if ident else None, ident,
    )  # fmt: skip


def interchange(
    kind: str,
    sets: Sequence[list[str]],
    *,
    sender: Party,
    receiver: Party,
    control: int,
    created: datetime,
    usage: str = "T",
) -> str:
    """One ISA…IEA with one functional group of ``kind`` (835, 277, 999)
    around the transaction sets ``sets`` (each a list of segments without ST
    and SE). ST02 counts from 0001; GS06 is ``control``."""
    e = D.element
    lines = [
        isa_segment(
            D, sender_qualifier=sender.qualifier, sender_id=sender.id, receiver_qualifier=receiver.qualifier,
            receiver_id=receiver.id, created=created, control_number=control, usage=usage,
        ).rstrip(D.segment),
        e.join(["GS", GROUP_IDS[kind], sender.id, receiver.id, f"{created:%Y%m%d}", f"{created:%H%M}",
                str(control), "X", VERSIONS[kind]]),
    ]  # fmt: skip
    for n, body in enumerate(sets, 1):
        st = f"{n:04d}"
        head = e.join(["ST", kind, st] + ([VERSIONS[kind]] if kind != "835" else []))
        lines += [head, *body, e.join(["SE", str(len(body) + 2), st])]
    lines += [e.join(["GE", str(len(sets)), str(control)]), e.join(["IEA", "1", f"{control:09d}"])]
    return "".join(f"{line}{D.segment}{D.suffix}" for line in lines)


# -- 999 -------------------------------------------------------------------------
def ack999_segments(ack: Ack999) -> list[str]:
    """AK1, AK2…IK5 per set (IK3/CTX/IK4 for errors), AK9."""
    out = _Segments()
    out.add("AK1", ack.functional_id, ack.group_control, ack.convention)
    for t in ack.transactions:
        out.add("AK2", t.transaction_set, t.control_number, t.convention)
        for err in t.errors:
            out.add("IK3", err.segment_id, str(err.position or ""), err.loop, err.code)
            for ctx in err.context:
                pos = str(ctx.position) if ctx.position is not None else None
                out.add("CTX", _comp(ctx.name, ctx.reference), ctx.segment_id, pos, ctx.loop, ctx.element)
            for el in err.elements:
                where = _comp(*(str(x) if x is not None else "" for x in (el.position, el.component, el.repetition)))
                out.add("IK4", where, el.element_ref, el.code)
        out.add("IK5", t.status, *t.codes[:5])
    counts = [str(x) if x is not None else "" for x in (ack.sets_included, ack.sets_received, ack.sets_accepted)]
    out.add("AK9", ack.status, *counts, *ack.codes[:5])
    return out.items


# -- 277CA -------------------------------------------------------------------------
def _stc(out: _Segments, status: Status277, default_day: date) -> None:
    codes = [_comp(c.category, c.code, c.entity) for c in status.codes[:3]]
    day = d8(status.status_date or default_day)
    out.add("STC", codes[0], day, status.action or "WQ", _money(status.charge) or "0", None, None, None, None, None,
            codes[1] if len(codes) > 1 else None, codes[2] if len(codes) > 2 else None, status.message)  # fmt: skip


def ack277_segments(
    claims: Sequence[ClaimAck277], *, batch: str, created: datetime, receiver: tuple[str, str]
) -> list[str]:
    """One 277CA transaction set for ``claims`` of one payer and one of our
    batches (``batch`` = our BHT03): source, receiver (``receiver`` = name,
    id), then each billing provider with its patients' claims."""
    out = _Segments()
    first = claims[0]
    day = created.date()
    out.add("BHT", "0085", "08", batch, f"{created:%Y%m%d}", f"{created:%H%M}", "TH")
    out.add("HL", "1", None, "20", "1")
    out.add("NM1", "PR", "2", out.text(first.payer_name), None, None, None, None, "PI", first.payer_id)
    out.add("TRN", "1", batch)
    out.add("DTP", "050", "D8", d8(day))
    out.add("DTP", "009", "D8", d8(day))
    out.add("HL", "2", "1", "21", "1")
    out.add("NM1", "41", "2", out.text(receiver[0]), None, None, None, None, "46", receiver[1])
    out.add("TRN", "2", first.batch_reference or batch)
    accepted = [c for c in claims if not c.rejected]
    rejected = [c for c in claims if c.rejected]
    total = sum((c.charge or Decimal(0) for c in claims), Decimal(0))
    out.add("STC", _comp("A1", "19", "PR"), d8(day), "WQ", amount(total))
    if accepted:
        out.add("QTY", "90", str(len(accepted)))
    if rejected:
        out.add("QTY", "AA", str(len(rejected)))
    if accepted:
        out.add("AMT", "YU", amount(sum((c.charge or Decimal(0) for c in accepted), Decimal(0))))
    if rejected:
        out.add("AMT", "YY", amount(sum((c.charge or Decimal(0) for c in rejected), Decimal(0))))
    hl = 2
    key = lambda c: (c.billing_npi or "", c.billing_tax_id or "", c.billing_name or "")  # noqa: E731
    for (npi, tax_id, name), group in groupby(sorted(claims, key=key), key=key):
        items = list(group)
        hl += 1
        provider_hl = hl
        out.add("HL", str(hl), "2", "19", "1")
        if npi:
            out.add("NM1", "85", "2", out.text(name), None, None, None, None, "XX", npi)
        else:
            out.add("NM1", "85", "2", out.text(name), None, None, None, None, "FI", tax_id)
        out.add("TRN", "1", f"{batch}-{provider_hl}")
        statuses = items[0].provider_statuses
        if statuses:
            for status in statuses:
                _stc(out, status, day)
        else:
            charge = sum((c.charge or Decimal(0) for c in items), Decimal(0))
            out.add("STC", _comp("A1", "19", "PR"), None, "WQ", amount(charge))
        if npi and tax_id:
            out.add("REF", "TJ", tax_id)
        for claim in items:
            hl += 1
            out.add("HL", str(hl), str(provider_hl), "PT")
            _name(out, "QC", claim.patient, "MI", claim.member_id)
            out.add("TRN", "2", claim.claim_id)
            for status in claim.statuses:
                _stc(out, status, day)
            if claim.payer_claim_id:
                out.add("REF", "1K", claim.payer_claim_id)
            if claim.clearinghouse_trace:
                out.add("REF", "D9", claim.clearinghouse_trace)
            start, end = claim.service_date or day, claim.service_end or claim.service_date or day
            if end != start:
                out.add("DTP", "472", "RD8", f"{d8(start)}-{d8(end)}")
            else:
                out.add("DTP", "472", "D8", d8(start))
            for line in claim.lines:
                out.add("SVC", _comp(line.qualifier or "HC", line.procedure, *line.modifiers), _money(line.charge),
                        "0", None, None, None, _qty(line.units))  # fmt: skip
                for status in line.statuses[:1]:
                    _stc(out, status.model_copy(update={"action": "U"}), day)
                if line.control_number:
                    out.add("REF", "FJ", line.control_number)
                if line.service_date:
                    out.add("DTP", "472", "D8", d8(line.service_date))
    return out.items


# -- 835 -------------------------------------------------------------------------
def _cas(out: _Segments, adjustments: Iterable[Adjustment]) -> None:
    """CAS segments: consecutive adjustments of one group share a segment (six at most)."""
    for group, run in groupby(adjustments, key=lambda a: a.group):
        items = list(run)
        for i in range(0, len(items), 6):
            elements: list[str | None] = ["CAS", group]
            for a in items[i : i + 6]:
                elements += [a.reason, amount(a.amount), _qty(a.quantity)]
            out.add(*elements)


def _party(out: _Segments, role: str, party: RemitParty | None) -> None:
    if party is None:
        return
    out.add("N1", role, out.text(party.name), party.id_qualifier if party.id else None, party.id)
    if party.address is not None:
        a = party.address
        out.add("N3", *(out.text(x, 55) for x in a.lines[:2]))
        out.add("N4", out.text(a.city, 30), a.state, a.postal_code)
    if role == "PR":
        if party.payer_id and party.id_qualifier not in ("XV", "PI"):
            out.add("REF", "2U", party.payer_id)
        out.add("PER", "BL", "PROVIDER SERVICES", "TE", "5555550199")
    elif party.tax_id and party.id_qualifier != "FI":
        out.add("REF", "TJ", party.tax_id)


def _line(out: _Segments, line: RemitLine) -> None:
    original = None
    if line.original_procedure:
        original = _comp(line.original_qualifier or "HC", line.original_procedure, *line.original_modifiers)
    out.add("SVC", _comp(line.qualifier, line.procedure, *line.modifiers), amount(line.charge), amount(line.paid),
            line.revenue_code, _qty(line.units), original, _qty(line.original_units))  # fmt: skip
    if line.service_date is not None:
        if line.service_end in (None, line.service_date):
            out.add("DTM", "472", d8(line.service_date))
        else:
            out.add("DTM", "150", d8(line.service_date))
            out.add("DTM", "151", d8(line.service_end))  # type: ignore[arg-type]
    _cas(out, line.adjustments)
    if line.control_number:
        out.add("REF", "6R", line.control_number)
    if line.allowed is not None:
        out.add("AMT", "B6", amount(line.allowed))
    for remark in line.remarks:
        out.add("LQ", "HE", remark)


def _claim(out: _Segments, claim: RemitClaim) -> None:
    out.add("CLP", claim.claim_id, claim.status, amount(claim.charge), amount(claim.paid),
            _money(claim.patient_responsibility), claim.filing_indicator, claim.payer_claim_id,
            claim.facility_type, claim.frequency)  # fmt: skip
    _cas(out, claim.adjustments)
    _name(out, "QC", claim.patient, "MI", claim.member_id)
    if claim.rendering_npi:
        out.add("NM1", "82", "1", "RENDERING", None, None, None, None, "XX", claim.rendering_npi)
    if claim.crossover_payer or claim.crossover_name:
        out.add("NM1", "TT", "2", out.text(claim.crossover_name or "CROSSOVER CARRIER"), None, None, None, None,
                "PI", claim.crossover_payer or "UNKNOWN")  # fmt: skip
    if claim.remarks:
        out.add("MOA", None, None, *claim.remarks[:5])
    if claim.service_date:
        out.add("DTM", "232", d8(claim.service_date))
    if claim.service_end:
        out.add("DTM", "233", d8(claim.service_end))
    if claim.received_date:
        out.add("DTM", "050", d8(claim.received_date))
    for line in claim.lines:
        _line(out, line)


def _plb(out: _Segments, adjustments: Sequence[ProviderAdjustment]) -> None:
    key = lambda a: (a.provider_id, a.fiscal_period)  # noqa: E731
    for (provider, period), run in groupby(adjustments, key=key):
        items = list(run)
        for i in range(0, len(items), 6):
            elements: list[str | None] = ["PLB", provider, d8(period) if period else None]
            for a in items[i : i + 6]:
                elements += [_comp(a.reason, a.reference), amount(a.amount)]
            out.add(*elements)


def remit_segments(remit: Remit835) -> list[str]:
    """BPR, TRN, DTM*405, payer and payee loops, LX + claims, PLB."""
    out = _Segments()
    p = remit.payment
    assert p is not None, "a remit without a payment cannot be written"
    day = d8(p.payment_date) if p.payment_date else None
    if p.method == "ACH":
        bank = ["01", "999999992", "DA", "123456789", (p.originator or "1000000000")[-10:], None,
                "01", "999988880", "DA", "98765"]  # fmt: skip
        out.add("BPR", p.handling, amount(p.amount), p.credit_debit, p.method, p.payment_format or "CCP", *bank, day)
    else:
        out.add("BPR", p.handling, amount(p.amount), p.credit_debit, p.method, *([None] * 11), day)
    out.add("TRN", "1", p.trace_number, p.originator)
    if remit.production_date:
        out.add("DTM", "405", d8(remit.production_date))
    _party(out, "PR", remit.payer)
    _party(out, "PE", remit.payee)
    if remit.claims:
        out.add("LX", "1")
    for claim in remit.claims:
        _claim(out, claim)
    _plb(out, remit.provider_adjustments)
    return out.items
