"""Provider rules: NPI check digits, the billing provider's address."""

from __future__ import annotations

import re
from collections.abc import Iterator

from gateway_plugins.rules.scrubber.base import RULES, Context, check

from gateway.identifiers import npi_is_valid
from gateway.model import Claim, Finding, Provider, Severity

NPI = RULES.add(
    "SCRUB-NPI",
    Severity.ERROR,
    'An NPI is not 10 digits starting 1 or 2 with a correct check digit (Luhn over "80840" + the first 9 digits).',
)
NPI_MISSING = RULES.add("SCRUB-NPI-MISSING", Severity.ERROR, "The billing, rendering or referring provider has no NPI.")
ZIP4 = RULES.add("SCRUB-BILLING-ZIP4", Severity.ERROR, "The billing provider's ZIP code is not a 9-digit ZIP+4.")
PO_BOX = RULES.add(
    "SCRUB-BILLING-PO-BOX",
    Severity.ERROR,
    "The billing provider's address is a PO box (837P 2010AA needs a street address; use a pay-to address).",
)
ADDRESS = RULES.add(
    "SCRUB-BILLING-ADDRESS", Severity.ERROR, "The billing provider's address lacks a street line, city or state."
)

#: "PO Box 12", "P.O. Box", "Post Office Box", "POB 7", "Lock Box"; not "Box Elder Road" or "Pobox Lane"
PO_BOX_RE = re.compile(
    r"\b(?:p\.?\s*o\.?\s*b(?:ox|\.)?|post\s+office\s+box|pob|lock\s*box|drawer)\s*#?\s*\d", re.IGNORECASE
)
ZIP4_RE = re.compile(r"\d{5}-?\d{4}")
STATE_RE = re.compile(r"[A-Z]{2}")


def claim_providers(claim: Claim) -> Iterator[tuple[str, str, Provider]]:
    """(role for messages, location, provider) for every provider on the claim."""
    roles = (
        ("billing provider", "claim.billing_provider", claim.billing_provider),
        ("rendering provider", "claim.rendering_provider", claim.rendering_provider),
        ("referring provider", "claim.referring_provider", claim.referring_provider),
        ("service facility", "claim.service_facility", claim.service_facility),
    )
    for role, where, p in roles:
        if p is not None:
            yield role, where, p
    for i, line in enumerate(claim.service_lines, 1):
        for role, p in (
            ("rendering", line.rendering_provider),
            ("supervising", line.supervising_provider),
            ("ordering", line.ordering_provider),
            ("referring", line.referring_provider),
        ):
            if p is not None:
                yield f"{role} provider of line {i}", f"claim.service_lines[{i}].{role}_provider", p


@check
def npis(claim: Claim, ctx: Context) -> Iterator[Finding]:
    for role, where, p in claim_providers(claim):
        if p.npi is None or not p.npi.strip():
            if role != "service facility":
                yield NPI_MISSING.finding(f"the {role} has no NPI", f"{where}.npi")
        elif not npi_is_valid(p.npi.strip()):
            yield NPI.finding(
                f"the {role}'s NPI is not valid (10 digits starting 1 or 2 with a correct check digit)",
                f"{where}.npi",
            )


@check
def billing_address(claim: Claim, ctx: Context) -> Iterator[Finding]:
    addr = claim.billing_provider.address
    where = "claim.billing_provider.address"
    if addr is None or not any(ln.strip() for ln in addr.lines) or not addr.city or not addr.state:
        yield ADDRESS.finding("the billing provider needs a street address, city and state", where)
    elif not STATE_RE.fullmatch(addr.state.strip()):
        yield ADDRESS.finding("the billing provider's state is not a 2-letter code", f"{where}.state")
    if addr is None or not ZIP4_RE.fullmatch((addr.postal_code or "").strip()):
        yield ZIP4.finding("the billing provider's ZIP code must be the full 9-digit ZIP+4", f"{where}.postal_code")
    if addr is not None:
        for j, line in enumerate(addr.lines, 1):
            if PO_BOX_RE.search(line):
                yield PO_BOX.finding(
                    "the billing provider's address is a PO box; claims need the street address "
                    "(a PO box can go in the pay-to address)",
                    f"{where}.lines[{j}]",
                )
