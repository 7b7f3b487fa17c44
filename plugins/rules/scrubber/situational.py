"""Situational claim data payers require: authorization and referral
numbers, onset/accident/last-seen dates, related causes (CLM11), the delay
reason (CLM20), drug lines (NDC) and what plugins added
(:class:`~gateway.model.ClaimAdditions`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from gateway_plugins.renderers.x12.situational import NDC_UNITS, ndc_code
from gateway_plugins.rules.scrubber.base import RULES, Context, check, line_where
from gateway_plugins.rules.scrubber.elements import USPS_STATES

from gateway.model import REFERENCE_VALUE, Claim, Finding, Severity

REFERENCE = RULES.add(
    "SCRUB-REFERENCE",
    Severity.ERROR,
    "A prior-authorization or referral number (REF*G1, REF*9F) is not 1 to 50 letters, digits, '-', '.' or '/'.",
)
CLAIM_DATE = RULES.add(
    "SCRUB-CLAIM-DATE",
    Severity.ERROR,
    "An onset, accident, last-seen or added date (2300/2400 DTP) is after the processing date.",
)
RELATED_CAUSES = RULES.add(
    "SCRUB-RELATED-CAUSES",
    Severity.ERROR,
    "Related causes (CLM11) are not one or two of AA (auto accident), EM (employment), OA (other accident), "
    "an auto accident has no USPS state (CLM11-4), or an accident has no accident date (DTP*439).",
)
DELAY_REASON = RULES.add(
    "SCRUB-DELAY-REASON",
    Severity.ERROR,
    "The delay reason (CLM20) is not a code of X12 list 1514 (1 to 11, 15).",
)
NDC = RULES.add(
    "SCRUB-NDC",
    Severity.ERROR,
    "A drug line's NDC (2410 LIN03) is not 11 digits (5-4-2, hyphens allowed), its unit (CTP05) is not F2, GR, ME, "
    "ML or UN, or its quantity (CTP04) is not more than 0.",
)
ADDITION = RULES.add(
    "SCRUB-ADDITION",
    Severity.ERROR,
    "A plugin's claim addition names a service line the claim does not have, or fills a slot the claim's own "
    "fields fill (REF, DTP, the one claim note, the one line note).",
)

RELATED_CAUSE_CODES = frozenset({"AA", "EM", "OA"})
DELAY_REASONS = frozenset({"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "15"})
_reference = re.compile(REFERENCE_VALUE).fullmatch
_ndc = re.compile(r"\d{11}").fullmatch


@check
def references(claim: Claim, ctx: Context) -> Iterator[Finding]:
    numbers = [("claim.prior_authorization", claim.prior_authorization),
               ("claim.referral_number", claim.referral_number)]  # fmt: skip
    for i, ln in enumerate(claim.service_lines, 1):
        numbers += [(line_where(i, "prior_authorization"), ln.prior_authorization),
                    (line_where(i, "referral_number"), ln.referral_number)]  # fmt: skip
    for where, value in numbers:
        if value is not None and not _reference(value.strip()):
            what = where.rsplit(".", 1)[1].replace("_", " ")
            yield REFERENCE.finding(f"the {what} is not 1 to 50 letters, digits, '-', '.' or '/'", where)


@check
def dates(claim: Claim, ctx: Context) -> Iterator[Finding]:
    found = [(f"claim.{name}", getattr(claim, name)) for name in ("onset_date", "accident_date", "last_seen_date")]
    found += [(f"claim.additions.dates[{k}]", a.value) for k, a in enumerate(claim.additions.dates, 1)]
    for where, day in found:
        if day is not None and day > ctx.today:
            yield CLAIM_DATE.finding("the date is after the processing date", where)


@check
def related_causes(claim: Claim, ctx: Context) -> Iterator[Finding]:
    causes = [c.strip().upper() for c in claim.related_causes]
    if not causes:
        return
    if len(causes) > 2 or len(set(causes)) < len(causes) or not set(causes) <= RELATED_CAUSE_CODES:
        yield RELATED_CAUSES.finding("related causes must be one or two of AA, EM, OA", "claim.related_causes")
        return
    state = (claim.accident_state or "").strip().upper()
    if "AA" in causes and state not in USPS_STATES:
        problem = "has no accident state" if not state else "has an accident state that is not a USPS code"
        yield RELATED_CAUSES.finding(f"an auto accident (AA) {problem} (CLM11-4)", "claim.accident_state")
    if claim.accident_date is None and not any(a.qualifier.value == "439" for a in claim.additions.dates):
        yield RELATED_CAUSES.finding("related causes need the accident date (DTP*439)", "claim.accident_date")


@check
def delay_reason(claim: Claim, ctx: Context) -> Iterator[Finding]:
    if claim.delay_reason is not None and claim.delay_reason.strip() not in DELAY_REASONS:
        yield DELAY_REASON.finding("the delay reason is not 1 to 11 or 15 (X12 code list 1514)", "claim.delay_reason")


@check
def drugs(claim: Claim, ctx: Context) -> Iterator[Finding]:
    for i, ln in enumerate(claim.service_lines, 1):
        if not ln.ndc:
            continue
        if not _ndc(ndc_code(ln.ndc)):
            yield NDC.finding(f"line {i}'s NDC is not 11 digits (5-4-2)", line_where(i, "ndc"))
        if ln.ndc_unit is not None and ln.ndc_unit not in NDC_UNITS:
            yield NDC.finding(f"line {i}'s NDC unit is not F2, GR, ME, ML or UN", line_where(i, "ndc_unit"))
        if ln.ndc_quantity is not None and ln.ndc_quantity <= 0:
            yield NDC.finding(f"line {i}'s NDC quantity is not more than 0", line_where(i, "ndc_quantity"))


@check
def additions(claim: Claim, ctx: Context) -> Iterator[Finding]:
    extra = claim.additions
    if not extra:
        return
    lines = len(claim.service_lines)
    for kind in ("references", "dates", "notes", "amounts"):
        for k, a in enumerate(getattr(extra, kind), 1):
            if a.line is not None and a.line > lines:
                yield ADDITION.finding(f"an added {kind[:-1]} names line {a.line}; the claim has {lines}",
                                       f"claim.additions.{kind}[{k}].line")  # fmt: skip
    taken = {"431": claim.onset_date, "439": claim.accident_date, "304": claim.last_seen_date}
    for k, a in enumerate(extra.dates, 1):
        if a.line is None and taken.get(a.qualifier.value) is not None:
            where = f"claim.additions.dates[{k}]"
            yield ADDITION.finding(f"DTP*{a.qualifier.value} is set by the claim already", where)
    for k, ref in enumerate(extra.references, 1):
        own = {"G1": claim.prior_authorization, "9F": claim.referral_number}
        if ref.line is not None and ref.line <= lines:
            ln = claim.service_lines[ref.line - 1]
            own = {"G1": ln.prior_authorization, "9F": ln.referral_number}
        if own.get(ref.qualifier.value):
            yield ADDITION.finding(f"REF*{ref.qualifier.value} is set by the claim already",
                                   f"claim.additions.references[{k}]")  # fmt: skip
    for k, note in enumerate(extra.notes, 1):
        if note.line is None and claim.note:
            yield ADDITION.finding("the claim has its own note; the 837P allows one", f"claim.additions.notes[{k}]")
        elif note.line is not None and note.line <= lines and note.qualifier.value != "TPO":
            if claim.service_lines[note.line - 1].note:
                yield ADDITION.finding(f"line {note.line} has its own note; the 837P allows one",
                                       f"claim.additions.notes[{k}]")  # fmt: skip
