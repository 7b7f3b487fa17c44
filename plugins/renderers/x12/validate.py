"""Checking 837P files: pyx12 against the implementation guide, the reader's
structure checks, and clean-claim rules on the claims read back.

Clean-claim rules come from the ``gateway_scrub_claim`` hook (the
scrubber plugin): the same rules that scrub claims before they are sent, so
they are written once. With no scrub plugin loaded, only pyx12 and the
structure checks run, and the command says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from gateway.config import Clinic, ClinicConfig
from gateway.messages import MessageMeta
from gateway.model import Claim, Finding
from gateway.plugins import PluginHost
from gateway.secondary import imbalances

from .facts import ClaimFacts, NotAClaim, to_claim
from .pyx12check import Pyx12Validator
from .reader import NOT_837P, read_837

_LINE = re.compile(r"service_lines\[(\d+)\]")


@dataclass(frozen=True)
class Issue:
    """One problem in a file, in plain words, with where it is."""

    source: str  # "pyx12", "structure" or "claim"
    rule: str
    message: str
    segment: int | None = None
    seg_id: str = ""
    element: str = ""
    claim_id: str | None = None
    severity: str = "error"

    def describe(self) -> str:
        where = f"segment {self.segment}" if self.segment else "file"
        if self.seg_id:
            where += f" ({self.element or self.seg_id})"
        claim = f" claim {self.claim_id}:" if self.claim_id else ""
        return f"{where}:{claim} {self.message} [{self.source} {self.rule}]"


@dataclass
class FileReport:
    name: str
    claims: int = 0
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]


class ClaimRules:
    """Clean-claim rules for claims read from files, through
    ``gateway_scrub_claim`` (``uses_hook`` is False when no plugin implements it)."""

    def __init__(self, host: PluginHost | None = None, clinics: dict[str, Clinic] | None = None) -> None:
        self.host = host
        self.clinics = clinics or {}
        self.uses_hook = bool(host and host.impls("gateway_scrub_claim"))

    def _clinic(self, claim: Claim) -> Clinic:
        for clinic in self.clinics.values():
            if clinic.config.billing_provider.npi == claim.billing_provider.npi:
                return clinic
        if self.clinics:
            return next(iter(self.clinics.values()))
        config = ClinicConfig.model_construct(id="x12-file", name="837 file", settings={}, code_maps=[], senders=[])
        return Clinic(config=config)

    def check(self, claim: Claim) -> list[Finding]:
        if not self.uses_hook or self.host is None:
            return []
        meta = MessageMeta(source="gateway validate", today=date.today())
        return self.host.findings("gateway_scrub_claim", claim=claim, clinic=self._clinic(claim), meta=meta)


def _segment_for(f: Finding, facts: ClaimFacts) -> tuple[int | None, str]:
    loc = f.location or ""
    w = facts.where
    for where, segment in w.providers:
        if loc.startswith(f"claim.{where}"):
            return segment, "NM1"
    m = _LINE.search(loc)
    if m and 0 < int(m.group(1)) <= len(w.lines):
        return w.lines[int(m.group(1)) - 1], "SV1"
    if "diagnos" in loc and w.hi:
        return w.hi, "HI"
    if "billing_provider" in loc and w.billing:
        return w.billing, "NM1"
    return w.clm, "CLM"


def _balance_issues(claim: Claim, facts: ClaimFacts) -> list[Issue]:
    """5010 COB balancing of a secondary/tertiary claim's earlier payers'
    answers (:func:`gateway.secondary.imbalances`), at the AMT*D of the payer
    (claim level) or the line's SVD (line level)."""
    out = []
    for imb in imbalances(claim):
        payer = next((o for o in facts.other_payers if "PST".find(o.responsibility) + 1 == imb.order), None)
        segment, seg_id = (payer.segment, "AMT") if payer is not None else (facts.where.clm, "CLM")
        if imb.line is not None and 0 < imb.line <= len(facts.lines):
            ln = facts.lines[imb.line - 1]
            svd = next((a for a in ln.adjudications if payer is not None and a.payer_id == payer.payer_id), None)
            segment, seg_id = (svd.segment, "SVD") if svd is not None else (facts.where.lines[imb.line - 1], "SV1")
        out.append(Issue("claim", "X12-COB-BALANCE", imb.describe(), segment, seg_id, claim_id=facts.claim_id))
    return out


class FileValidator:
    """Validates many files with one pyx12 map load and one set of rules."""

    def __init__(self, rules: ClaimRules | None = None, pyx12: Pyx12Validator | None = None) -> None:
        self.rules = rules or ClaimRules()
        self.pyx12 = pyx12 or Pyx12Validator()

    def validate(self, data: bytes, name: str = "") -> FileReport:
        report = FileReport(name)
        read = read_837(data)
        if read.not_837p:  # an 837I, a 4010 file, a 999…: one message, no line rules on foreign segments
            p = next(p for p in read.problems if p.rule == NOT_837P)
            report.issues.append(Issue("structure", p.rule, p.message, p.segment, p.seg_id))
            return report
        pyx = self.pyx12.validate(data)
        report.issues += [Issue("pyx12", e.code, e.message, e.segment, e.seg_id, e.element) for e in pyx]
        flagged = {e.segment for e in pyx}
        report.claims = len(read.claims)
        report.issues += [
            Issue("structure", p.rule, p.message, p.segment, p.seg_id, claim_id=p.claim_id)
            for p in read.problems
            if p.segment not in flagged
        ]
        for facts in read.claims:
            try:
                claim = to_claim(facts)
            except (NotAClaim, ValueError) as exc:
                msg = str(exc) if isinstance(exc, NotAClaim) else "claim values cannot be checked (unreadable)"
                report.issues.append(
                    Issue("claim", "X12-UNREADABLE", msg, facts.where.clm, "CLM", claim_id=facts.claim_id)
                )
                continue
            report.issues += _balance_issues(claim, facts)
            for f in self.rules.check(claim):
                segment, seg_id = _segment_for(f, facts)
                report.issues.append(
                    Issue(
                        "claim", f.rule, f.message, segment, seg_id, claim_id=facts.claim_id, severity=f.severity.value
                    )
                )
        report.issues.sort(key=lambda i: (i.segment or 0, i.source))
        return report
