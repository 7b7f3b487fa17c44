"""The clean-claim checks ``gateway validate`` needs and pyx12 lacks.

These three rules (NPI check digit, CLM02 = Σ SV102, pointers to existing
diagnoses) are a stand-in: when a plugin implements
``gateway_scrub_claim`` (the scrubber), ``gateway validate`` runs the
claims read back from a file through that hook instead and these are not
used. Locations follow the canonical model (``claim.service_lines[2]…``,
1-based) so findings from either source map back to segments the same way.
"""

from __future__ import annotations

from decimal import Decimal

from gateway.identifiers import npi_is_valid
from gateway.model import Claim, Finding, Provider, Severity


def _error(rule: str, message: str, location: str) -> Finding:
    return Finding(severity=Severity.ERROR, rule=rule, message=message, location=location, plugin="x12")


def _providers(claim: Claim) -> list[tuple[str, Provider | None]]:
    out: list[tuple[str, Provider | None]] = [
        ("billing_provider", claim.billing_provider),
        ("rendering_provider", claim.rendering_provider),
        ("referring_provider", claim.referring_provider),
        ("service_facility", claim.service_facility),
    ]
    out += [
        (f"service_lines[{i}].rendering_provider", ln.rendering_provider) for i, ln in enumerate(claim.service_lines, 1)
    ]
    return out


def basic_claim_checks(claim: Claim) -> list[Finding]:
    """NPI check digits, claim total against line charges, diagnosis pointers."""
    out: list[Finding] = []
    for where, p in _providers(claim):
        if p is not None and p.npi and not npi_is_valid(p.npi):
            label = where.replace("_", " ")
            out.append(_error("X12-NPI", f"{label} NPI fails the check digit", f"claim.{where}.npi"))
    lines_total = sum((ln.charge or Decimal(0) for ln in claim.service_lines), Decimal(0))
    if lines_total != claim.total_charge:
        out.append(
            _error(
                "X12-TOTAL",
                f"claim total {claim.total_charge} differs from the sum of line charges {lines_total}",
                "claim.total_charge",
            )
        )
    n = len(claim.diagnoses)
    for i, ln in enumerate(claim.service_lines, 1):
        where = f"claim.service_lines[{i}].diagnosis_pointers"
        if not ln.diagnosis_pointers:
            out.append(_error("X12-POINTER", f"service line {i} points to no diagnosis", where))
        for p in ln.diagnosis_pointers:
            if not 1 <= p <= n:
                out.append(_error("X12-POINTER", f"service line {i} points to diagnosis {p}, the claim has {n}", where))
    return out
