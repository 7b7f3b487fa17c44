"""The ``fhir`` settings section of a clinic (``clinics[].settings.fhir``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

#: inputs above this size are refused before parsing (5 MB: decoding and
#: validating a bundle takes about 21 times its size in memory)
DEFAULT_MAX_BYTES = 5_000_000
#: insurer names (a coverage given only by display text) that mean "the patient pays"
DEFAULT_SELF_PAY_NAMES = ("NO_INSURANCE", "NO INSURANCE", "UNINSURED", "SELF PAY", "SELF-PAY", "SELFPAY", "PATIENT PAY")


def _names(value: Any) -> Any:
    if not isinstance(value, (list, tuple, set, frozenset)):
        return value
    return frozenset(" ".join(str(v).split()).upper() for v in value)


class FhirSettings(BaseModel):
    """How the FHIR reader treats one clinic's bundles.

    * ``max_bytes`` — bigger inputs are refused before parsing.
    * ``require_coverage`` — an encounter without any Coverage is an error
      instead of self-pay (for clinics that never see self-pay patients).
    * ``claim_filing_indicator`` — SBR09 when Coverage.type does not say.
    * ``default_pointers`` — how many of the first diagnoses a service line
      points to when the bundle does not say (1–4).
    * ``claim_total_remainder`` — when exactly one Claim item has no price
      and Claim.total is given, that item is priced at the remainder.
    * ``procedures_as_lines`` — bill completed Procedures when an encounter
      has neither a Claim nor ChargeItems (charges come from the charge master).
    * ``institutional_claims`` — a Claim of type ``institutional`` with a
      coverage is held (``quarantine``: 837I is not supported yet) or billed
      as a professional claim (``professional``, with a warning).
    * ``other_claim_types`` — pharmacy and dental Claims are not billed here:
      a warning (``warning``) or the encounter is held (``quarantine``).
    * ``self_pay_names`` — a coverage named only by display text with one
      of these names is self-pay (Synthea's ``NO_INSURANCE``).
    """

    model_config = ConfigDict(extra="forbid")

    max_bytes: Annotated[int, Field(gt=0)] = DEFAULT_MAX_BYTES
    require_coverage: bool = False
    claim_filing_indicator: Annotated[str, Field(pattern=r"^[0-9A-Z]{2}$")] = "CI"
    default_pointers: Annotated[int, Field(ge=1, le=4)] = 4
    claim_total_remainder: bool = True
    procedures_as_lines: bool = True
    institutional_claims: Literal["quarantine", "professional"] = "quarantine"
    other_claim_types: Literal["warning", "quarantine"] = "warning"
    self_pay_names: Annotated[frozenset[str], BeforeValidator(_names)] = frozenset(DEFAULT_SELF_PAY_NAMES)
