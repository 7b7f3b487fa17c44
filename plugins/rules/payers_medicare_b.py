"""Example payer plugin: Medicare Part B edits (a template for IT staff).

A payer plugin implements ``gateway_payer_rules(claim, clinic, meta)``: it
is called for every claim, returns ``None`` for claims that are not its
payer's, and otherwise may edit the claim in place and return findings.
This one handles coverages with claim filing indicator ``MB`` (set by the
payer directory) or whose payer id the clinic lists::

    settings:
      medicare_b:
        payer_ids: ["00952"]      # this clinic's Medicare Part B MAC payer ids
        timely_filing_days: 365   # Medicare: one calendar year from the date of service

Rules: the member id must be a Medicare Beneficiary Identifier (MBI; dashes
are removed), the beneficiary is always the subscriber (relationship 18),
and claims must be filed within the timely filing limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from gateway.config import Clinic
from gateway.hookspecs import hookimpl
from gateway.messages import MessageMeta
from gateway.model import Claim, Coverage, Finding, Severity
from gateway.rules import Catalogue

FILING_INDICATOR = "MB"
# MBI: C A AN N A AN N A A N N; letters exclude S, L, O, I, B, Z (CMS MBI format spec)
_A = "[AC-HJKMNP-RT-Y]"
_AN = "[0-9AC-HJKMNP-RT-Y]"
MBI_RE = re.compile(f"[1-9]{_A}{_AN}[0-9]{_A}{_AN}[0-9]{_A}{_A}[0-9][0-9]")
HICN_RE = re.compile(r"\d{9}[A-Z][A-Z0-9]?|[A-Z]{1,3}\d{6}(\d{3})?")

RULES = Catalogue("payers_medicare_b")
MBI = RULES.add("MB-MBI", Severity.ERROR, "A Medicare Part B member id is not a Medicare Beneficiary Identifier (MBI).")
RELATIONSHIP = RULES.add(
    "MB-RELATIONSHIP", Severity.ERROR, "A Medicare beneficiary is not the subscriber (relationship must be 18, self)."
)
TIMELY = RULES.add(
    "MB-TIMELY", Severity.ERROR, "A date of service is past Medicare's timely filing limit (one year by default)."
)
FILING = RULES.add(
    "MB-FILING", Severity.WARNING, "A Medicare Part B payer's claim filing indicator was not MB; it is set to MB."
)


class MedicareBSettings(BaseModel):
    """``settings.medicare_b`` of a clinic."""

    model_config = ConfigDict(extra="forbid")
    payer_ids: list[str] = Field(default_factory=list)
    timely_filing_days: int = Field(365, ge=1)


def normalise_mbi(member_id: str) -> str:
    """Upper case without dashes or spaces (MBIs are shown as 1EG4-TE5-MK73)."""
    return re.sub(r"[\s-]", "", member_id).upper()


def _is_medicare_b(cov: Coverage, settings: MedicareBSettings) -> bool:
    return cov.claim_filing_indicator == FILING_INDICATOR or cov.payer.id in settings.payer_ids


@hookimpl
def gateway_register_settings(register: Callable[[str, type[BaseModel]], None]) -> None:
    register("medicare_b", MedicareBSettings)


@hookimpl
def gateway_payer_rules(claim: Claim, clinic: Clinic, meta: MessageMeta) -> list[Finding] | None:
    settings = clinic.settings.get("medicare_b")
    if not isinstance(settings, MedicareBSettings):
        settings = MedicareBSettings()
    coverages = [("claim.coverage", claim.coverage)]
    coverages += [(f"claim.other_coverages[{k}]", c) for k, c in enumerate(claim.other_coverages, 1)]
    mine = [(where, c) for where, c in coverages if _is_medicare_b(c, settings)]
    if not mine:
        return None
    out: list[Finding] = []
    for where, cov in mine:
        label = f"coverage {cov.order} (Medicare Part B)"
        if cov.claim_filing_indicator != FILING_INDICATOR:
            out.append(FILING.finding(f"{label}: claim filing indicator set to MB", f"{where}.claim_filing_indicator"))
            cov.claim_filing_indicator = FILING_INDICATOR
        mbi = normalise_mbi(cov.subscriber.member_id)
        if MBI_RE.fullmatch(mbi):
            cov.subscriber.member_id = mbi
        else:
            hint = "it looks like an old HICN; " if HICN_RE.fullmatch(mbi) else ""
            out.append(
                MBI.finding(
                    f"{label}: the member id is not an MBI ({hint}Medicare needs the 11-character MBI)",
                    f"{where}.subscriber.member_id",
                )
            )
        if cov.relationship != "18":
            out.append(
                RELATIONSHIP.finding(
                    f"{label}: the beneficiary must be the subscriber (18, self)", f"{where}.relationship"
                )
            )
    if _is_medicare_b(claim.coverage, settings):
        limit = meta.today - timedelta(days=settings.timely_filing_days)
        for i, line in enumerate(claim.service_lines, 1):
            if line.service_date < limit:
                out.append(
                    TIMELY.finding(
                        f"line {i}'s date of service is more than {settings.timely_filing_days} days ago; "
                        "Medicare will deny it as not filed in time",
                        f"claim.service_lines[{i}].service_date",
                    )
                )
    return out
