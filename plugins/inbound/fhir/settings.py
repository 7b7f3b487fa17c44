"""The ``fhir`` settings section of a clinic (``clinics[].settings.fhir``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

#: inputs above this size are refused before parsing (5 MB: decoding and
#: validating a bundle takes about 21 times its size in memory)
DEFAULT_MAX_BYTES = 5_000_000


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
    """

    model_config = ConfigDict(extra="forbid")

    max_bytes: Annotated[int, Field(gt=0)] = DEFAULT_MAX_BYTES
    require_coverage: bool = False
    claim_filing_indicator: Annotated[str, Field(pattern=r"^[0-9A-Z]{2}$")] = "CI"
    default_pointers: Annotated[int, Field(ge=1, le=4)] = 4
    claim_total_remainder: bool = True
    procedures_as_lines: bool = True
