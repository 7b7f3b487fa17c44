"""Per-clinic settings: ``settings.hl7v2`` in gateway.yaml."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _names(value: Any) -> Any:
    """A list of names as a frozen set, upper-cased, inner blanks collapsed."""
    if value is None or not isinstance(value, (list, tuple, set, frozenset)):
        return value
    return frozenset(" ".join(str(v).split()).upper() for v in value)


Names = Annotated[frozenset[str], BeforeValidator(_names)]

#: plan ids, plan names, plan types or company names that mean "the patient pays"
DEFAULT_SELF_PAY = ("SELF PAY", "SELFPAY", "SELF-PAY", "SELF", "SP", "PATIENT PAY", "PATIENTPAY", "PATIENT-PAY")

SECTION = "hl7v2"


class Hl7v2Settings(BaseModel):
    """How one clinic's HL7 v2 feed is read and acknowledged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: a YAML file with the field-map keys this clinic changes (relative to
    #: gateway.yaml's folder), merged over plugins/inbound/hl7v2/default-map.yaml
    field_map: str | None = None
    #: also validate every message with hl7apy's full parser (≈ 45 ms a message)
    strict: bool = False
    #: a longer segment is refused (AR): a runaway or binary payload
    max_segment_length: int = Field(65_536, ge=1_000)
    #: a larger input is refused (AR) before it is split
    max_message_bytes: int = Field(20_000_000, ge=10_000)
    #: a message with more segments is refused (AR) before it is read into encounters
    #: (each charge line costs about 7 KB of memory: 101,000 FT1 would take 700 MB)
    max_segments: int = Field(2_000, ge=10)
    #: other message types (ORU, ORM…) are acknowledged AA and ignored
    #: instead of refused AR and quarantined
    accept_other_types: bool = False
    #: MSH-3/MSH-4 of ACKs; default: the MSH-5/MSH-6 the sender addressed
    ack_application: str | None = None
    ack_facility: str | None = None
    #: coding-system names (FT1-7.3, FT1-25.3, PR1-3.3) of the clinic's own
    #: charge codes, looked up in the charge master. None (the default): every
    #: system that is not a recognised standard (CPT, HCPCS, ICD, SNOMED CT,
    #: LOINC, NDC, CVX) is the clinic's own; a list: only these (and an empty
    #: system or L, LOCAL, CDM, CHG, 99…), other names go to the code maps
    charge_master_systems: Names | None = None
    #: an IN1 whose plan id (IN1-2.1), plan name (IN1-2.2), company name
    #: (IN1-4) or plan type (IN1-15) is one of these is self-pay, not a coverage
    self_pay_plans: Names = frozenset(DEFAULT_SELF_PAY)
