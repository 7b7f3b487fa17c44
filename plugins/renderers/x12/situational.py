"""The situational 2300/2400 segments payers require: dates (DTP), references
(REF), notes (NTE), line amounts (AMT), drug details (2410 LIN/CTP), from the
claim's own fields and from plugins' :class:`~gateway.model.ClaimAdditions`.

Each segment goes in its loop in 005010X222A1 order; every value goes
through the writer (:func:`~.values.element_value`): references and codes are
identifiers (refused when unsafe), notes are free text (cleaned). A model
field and an addition filling the same slot is refused (the scrubber reports
it first, SCRUB-ADDITION).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from gateway.model import Claim, ClaimAdditions, NoteQualifier, ServiceLine

from . import values as v
from .syntax import amount, d8, quantity
from .values import X12RenderError

if TYPE_CHECKING:
    from .render import _Writer

#: DTP01 in the order the implementation guide lists the 2300 and 2400 dates
CLAIM_DATE_ORDER = ("431", "454", "304", "453", "439", "484", "455", "471", "297", "296")
LINE_DATE_ORDER = ("471", "607", "463", "461", "304", "738", "739", "011", "455", "454")
#: REF01 in guide order (2300: F8 is the replacement reference the claim writes itself)
CLAIM_REF_ORDER = ("4N", "EW", "9F", "G1", "F8", "X4", "LX", "D9", "EA", "P4", "1J")
LINE_REF_ORDER = ("EW", "G1", "6R", "X4", "F4", "BT", "9F")
NDC_UNITS = frozenset({"F2", "GR", "ME", "ML", "UN"})


def ndc_code(value: str | None) -> str:
    """LIN03 as written: the NDC without hyphens and blanks."""
    return (value or "").replace("-", "").replace(" ", "")


def _place(slots: dict[str, tuple[str, str]], qualifier: str, value: str, source: str, where: str) -> None:
    if qualifier in slots:
        raise X12RenderError(f"{where}: {qualifier} is filled twice ({slots[qualifier][1]} and {source})")
    slots[qualifier] = (value, source)


def claim_dates(claim: Claim) -> dict[str, tuple[date, str]]:
    """DTP01 → (date, what set it) of the claim's 2300 dates."""
    out: dict[str, tuple[date, str]] = {}
    for q, value, name in (("431", claim.onset_date, "onset_date"), ("439", claim.accident_date, "accident_date"),
                           ("304", claim.last_seen_date, "last_seen_date")):  # fmt: skip
        if value is not None:
            out[q] = (value, name)
    for a in claim.additions.at(None).dates:
        _place(out, a.qualifier.value, a.value, "an addition", "the claim's DTP")  # type: ignore[arg-type]
    return out


def write_claim(w: _Writer, claim: Claim) -> None:
    """2300 DTPs (before the admission date the renderer writes itself)."""
    if not (claim.onset_date or claim.accident_date or claim.last_seen_date or claim.additions):
        return  # the common case, kept cheap
    dates = claim_dates(claim)
    for q in CLAIM_DATE_ORDER:
        if q in dates:
            w.seg("DTP", q, "D8", d8(dates[q][0]))


def write_claim_refs(w: _Writer, claim: Claim, original: str | None) -> None:
    """2300 REFs (``original``: the F8 of a replacement or void) and the claim NTE."""
    if not (original or claim.prior_authorization or claim.referral_number or claim.note or claim.additions):
        return
    extra = claim.additions.at(None)
    refs: dict[str, tuple[str, str]] = {}
    if original:
        refs["F8"] = (original, "original_reference")
    for q, value, name in (("G1", claim.prior_authorization, "prior_authorization"),
                           ("9F", claim.referral_number, "referral_number")):  # fmt: skip
        if value:
            _place(refs, q, value, name, "the claim's REF")
    for a in extra.references:
        _place(refs, a.qualifier.value, a.value, "an addition", "the claim's REF")
    for q in CLAIM_REF_ORDER:
        if q in refs:
            value, name = refs[q]
            w.seg("REF", q, w.id(value, v.REFERENCE, "REF*{} ({})", q, name))
    notes = [(NoteQualifier.ADDITIONAL.value, claim.note)] if claim.note else []
    notes += [(a.qualifier.value, a.text) for a in extra.notes]
    if len(notes) > 1:
        raise X12RenderError(f"{w.named()}: the 837P allows one claim note (NTE); note and an addition both set one")
    _notes(w, notes)


def _notes(w: _Writer, notes: list[tuple[str, str]]) -> None:
    """NTEs whose text has something left in the X12 character set (the
    scrubber warns about a note that is changed or left out, SCRUB-X12-TEXT)."""
    for q, text in notes:
        cleaned = w.t(text, v.NOTE)
        if cleaned:
            w.seg("NTE", q, cleaned)


def write_line_dates(w: _Writer, claim: Claim, i: int) -> None:
    """2400 DTPs after DTP*472."""
    if not claim.additions:
        return
    dates = {a.qualifier.value: a.value for a in claim.additions.at(i).dates}
    for q in LINE_DATE_ORDER:
        if q in dates:
            w.seg("DTP", q, "D8", d8(dates[q]))


def line_refs(claim: Claim, i: int, ln: ServiceLine, control: str) -> dict[str, tuple[str, str]]:
    """REF01 → (value, what set it) of line ``i``."""
    refs: dict[str, tuple[str, str]] = {"6R": (control, "control_number")}
    where = f"line {i}'s REF"
    for q, value, name in (("G1", ln.prior_authorization, "prior_authorization"),
                           ("9F", ln.referral_number, "referral_number")):  # fmt: skip
        if value:
            _place(refs, q, value, name, where)
    for a in claim.additions.at(i).references:
        _place(refs, a.qualifier.value, a.value, "an addition", where)
    return refs


def write_line_tail(w: _Writer, claim: Claim, i: int, ln: ServiceLine, control: str) -> None:
    """2400 REFs, AMTs and NTEs, then 2410 drug identification."""
    if not (claim.additions or ln.prior_authorization or ln.referral_number or ln.note or ln.ndc):
        w.segs.append(f"REF{w.e}6R{w.e}{w.id(control, v.REFERENCE, 'line {} control number', i)}")
        return
    extra: ClaimAdditions = claim.additions.at(i)
    refs = line_refs(claim, i, ln, control)
    for q in LINE_REF_ORDER:
        if q in refs:
            value, name = refs[q]
            w.seg("REF", q, w.id(value, v.REFERENCE, "line {}'s REF*{} ({})", i, q, name))
    for a in sorted(extra.amounts, key=lambda a: a.qualifier.value != "T"):
        w.seg("AMT", a.qualifier.value, amount(a.amount))
    notes = [(NoteQualifier.ADDITIONAL.value, ln.note)] if ln.note else []
    notes += [(a.qualifier.value, a.text) for a in extra.notes]
    if sum(q != "TPO" for q, _ in notes) > 1:
        raise X12RenderError(f"{w.named()}: line {i} has two line notes (NTE); the 837P allows one")
    _notes(w, sorted(notes, key=lambda n: n[0] == "TPO"))
    if ln.ndc:
        ndc = w.id(ndc_code(ln.ndc), v.NDC, "line {}'s NDC", i)
        unit = w.id(ln.ndc_unit or "UN", v.CODE, "line {}'s NDC unit", i)
        w.seg("LIN", "", "N4", ndc)
        w.seg("CTP", "", "", "", quantity(ln.ndc_quantity if ln.ndc_quantity is not None else ln.units), unit)
