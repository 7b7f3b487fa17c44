"""FHIR R4 inbound: Bundles and single resources (JSON or XML) → encounters.

Formats ``fhir-json`` and ``fhir-xml``. Validation uses the fhir.resources
R4B models (R4 input validates with them); XML goes through a hardened
lxml parser and is converted to the JSON shape so both share one reader.
Companion bundles (practitioners, organisations sent earlier) teach records
of kind ``fhir-resource`` that resolve later references. Per-clinic
settings: section ``fhir`` (:class:`~gateway_plugins.inbound.fhir.settings.FhirSettings`).
See docs/fhir.md.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from gateway.config import Clinic
from gateway.hookspecs import hookimpl
from gateway.messages import Envelope, MessageMeta, ParseResult, RecordLookup

from .rules import RULES
from .settings import FhirSettings
from .sniff import FORMATS, sniff

SETTINGS_SECTION = "fhir"

__all__ = ["FORMATS", "RULES", "SETTINGS_SECTION", "FhirSettings", "parse", "sniff"]


@hookimpl
def gateway_register_settings(register: Callable[[str, type[BaseModel]], None]) -> None:
    register(SETTINGS_SECTION, FhirSettings)


@hookimpl
def gateway_sniff(raw: bytes, meta: MessageMeta) -> Envelope | None:
    return sniff(raw)


@hookimpl
def gateway_parse(raw: bytes, envelope: Envelope, clinic: Clinic, records: RecordLookup) -> ParseResult | None:
    if envelope.format not in FORMATS:
        return None
    settings = clinic.settings.get(SETTINGS_SECTION)
    if not isinstance(settings, FhirSettings):
        settings = FhirSettings()
    from .reader import parse_stream  # fhir.resources: imported when the first FHIR input arrives

    return parse_stream(raw, envelope.format, clinic.id, records, settings, envelope.extra.get("doc"))


def __getattr__(name: str) -> object:
    if name == "parse":  # the reader loads the R4B models: only when asked for
        from .reader import parse

        return parse
    raise AttributeError(name)
