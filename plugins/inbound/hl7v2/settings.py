"""Per-clinic settings: ``settings.hl7v2`` in gateway.yaml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

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
