"""Situational claim data payers require, from FHIR R4: the prior
authorization (``Claim.insurance.preAuthRef``), the referral
(``Claim.referral``: its identifier, else the ServiceRequest's), the accident
(``Claim.accident``: date, type, state) and the onset of the principal
diagnosis (``Condition.onset[x]``, recorded by :class:`~.charges.DxList`)."""

from __future__ import annotations

from typing import Any

from .context import Ctx
from .resolve import Res
from .values import concept_codes, items, pick_identifier, to_date

#: v3 ActIncidentCode (Claim.accident.type) → 837P related cause (CLM11)
ACCIDENT_CAUSES = {"MVA": "AA", "WPA": "EM", "SCHOOL": "OA", "SPT": "OA"}


def _auth(claim: Res) -> str | None:
    """The focal (else first) insurance's first preAuthRef."""
    entries = [e for e in items(claim.get("insurance")) if isinstance(e, dict)]
    for ins in sorted(entries, key=lambda e: e.get("focal") is not True):
        refs = [r.strip() for r in items(ins.get("preAuthRef")) if isinstance(r, str) and r.strip()]
        if refs:
            return refs[0]
    return None


def _referral(ctx: Ctx, claim: Res) -> str | None:
    ref = claim.get("referral")
    if not isinstance(ref, dict):
        return None
    ident = ref.get("identifier")
    if isinstance(ident, dict) and isinstance(ident.get("value"), str) and ident["value"].strip():
        return ident["value"].strip()
    request = ctx.follow(ref, claim, f"{claim.path}.referral", ("ServiceRequest",), what="referral")
    return pick_identifier(request.get("identifier")) if request is not None else None


def _accident(claim: Res) -> dict[str, Any]:
    accident = claim.get("accident")
    if not isinstance(accident, dict):
        return {}
    out: dict[str, Any] = {}
    when = to_date(accident.get("date"))
    if when is not None:
        out["accident_date"] = when
    codes = [code.upper() for _, code in concept_codes(accident.get("type"))]
    if codes:
        out["related_causes"] = [ACCIDENT_CAUSES.get(codes[0], "OA")]
    where = accident.get("locationAddress")
    if isinstance(where, dict) and isinstance(where.get("state"), str) and where["state"].strip():
        out["accident_state"] = where["state"].strip().upper()
    return out


def claim_info(ctx: Ctx, claims: list[Res]) -> dict[str, Any]:
    """Encounter fields from the visit's Claims (the first that has each)."""
    out: dict[str, Any] = {}
    for claim in claims:
        if "prior_authorization" not in out and (auth := _auth(claim)):
            out["prior_authorization"] = auth
        if "referral_number" not in out and (referral := _referral(ctx, claim)):
            out["referral_number"] = referral
        for key, value in _accident(claim).items():
            out.setdefault(key, value)
    return out
