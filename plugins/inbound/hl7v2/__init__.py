"""HL7 v2 inbound: DFT^P03/P11 and BAR^P01/P05 → encounters with charges;
ADT A01/A03/A04/A05/A08/A28/A31 → patient, coverages and guarantor that later
charges of the same patient or visit use. Original-mode ACKs. See
docs/hl7v2.md.

Modules: :mod:`.reader` (fast tolerant reader), :mod:`.versions` (version by
content), :mod:`.fieldmap` (the field map as data), :mod:`.patient`,
:mod:`.charges`, :mod:`.insurance` (mapping), :mod:`.convert` (a message →
encounters/updates), :mod:`.parse` (inputs, batches), :mod:`.ack`,
:mod:`.strict` (hl7apy validation), :mod:`.problems` (rule ids).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from gateway.config import Clinic, ClinicConfig
from gateway.hookspecs import hookimpl
from gateway.messages import Envelope, MessageMeta, ParseResult, RecordLookup

from .fieldmap import FieldMap, load_map
from .parse import FORMAT, parse_stream, sniff
from .problems import RULES
from .settings import SECTION, Hl7v2Settings

#: clinic.resources key of the clinic's field map
RESOURCE = "hl7v2.field_map"

__all__ = ["FORMAT", "RESOURCE", "RULES", "Hl7v2Settings"]


@hookimpl
def gateway_register_settings(register: Callable[[str, type[BaseModel]], None]) -> None:
    register(SECTION, Hl7v2Settings)


@hookimpl
def gateway_load_clinic(clinic: ClinicConfig, base_dir: Path) -> dict[str, Any] | None:
    settings = Hl7v2Settings.model_validate(clinic.settings.get(SECTION, {}))
    override = (base_dir / settings.field_map) if settings.field_map else None
    return {RESOURCE: load_map(override)}


@hookimpl
def gateway_sniff(raw: bytes, meta: MessageMeta) -> Envelope | None:
    return sniff(raw)


@hookimpl
def gateway_parse(raw: bytes, envelope: Envelope, clinic: Clinic, records: RecordLookup) -> ParseResult | None:
    if envelope.format != FORMAT:
        return None
    fm = clinic.resources.get(RESOURCE)
    if not isinstance(fm, FieldMap):
        problem = RULES["HL7-CONFIG"].finding(
            "the HL7 v2 field map was not loaded for this clinic (gateway_load_clinic did not run)"
        )
        return ParseResult(findings=[problem])
    settings = clinic.settings.get(SECTION)
    if not isinstance(settings, Hl7v2Settings):
        settings = Hl7v2Settings()
    return parse_stream(raw, settings, fm, clinic.id, records)
