"""The gateway's own JSON format: canonical encounters in, claims and
statements out.

Input (``gateway-json``)::

    {"gateway_format": "encounters/1", "sender": "CLINIC-A",
     "message_id": "optional, for dedup", "encounters": [ {Encounter…} ]}

It is what ``gateway inspect`` prints, so a person can fix an encounter by
hand and feed it back. The renderers ``claims-json`` and
``statements-json`` write one JSON document per clinic and batch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime

from pydantic import BaseModel, TypeAdapter, ValidationError

from gateway.config import Clinic
from gateway.documents import Document, Kind, RenderContext, Renderer
from gateway.hookspecs import hookimpl
from gateway.messages import Envelope, MessageMeta, ParseResult, RecordLookup
from gateway.model import Encounter, Finding, Severity

FORMAT = "gateway-json"
MAGIC = re.compile(rb'^\s*\{[^{]{0,200}?"gateway_format"\s*:\s*"encounters/1"')
_ENCOUNTERS = TypeAdapter(list[Encounter])


def json_path(loc: Sequence[str | int]) -> str:
    """``("encounters", 0, "patient", "name")`` → ``$.encounters[0].patient.name``."""
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


@hookimpl
def gateway_sniff(raw: bytes, meta: MessageMeta) -> Envelope | None:
    if not MAGIC.match(raw[:512].lstrip(b"\xef\xbb\xbf")):
        return None
    try:
        head = json.loads(raw.decode("utf-8-sig"))
    except ValueError:
        return Envelope(format=FORMAT)
    if not isinstance(head, dict):
        return Envelope(format=FORMAT)
    sender = head.get("sender") if isinstance(head.get("sender"), str) else None
    control = head.get("message_id") if isinstance(head.get("message_id"), str) else None
    # the decoded document rides along so parse does not decode it again
    return Envelope(format=FORMAT, sender=sender, control_id=control, message_type="encounters", extra={"doc": head})


def _error(message: str, location: str) -> Finding:
    return Finding(severity=Severity.ERROR, rule="JSON-INVALID", message=message, location=location)


@hookimpl
def gateway_parse(raw: bytes, envelope: Envelope, clinic: Clinic, records: RecordLookup) -> ParseResult | None:
    if envelope.format != FORMAT:
        return None
    doc = envelope.extra.get("doc")
    try:
        if doc is None:
            doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        return ParseResult(findings=[_error(f"not UTF-8 text (byte {exc.start})", "$")])
    except json.JSONDecodeError as exc:
        return ParseResult(findings=[_error(f"not valid JSON ({exc.msg})", f"line {exc.lineno} column {exc.colno}")])
    if not isinstance(doc, dict) or not isinstance(doc.get("encounters"), list):
        return ParseResult(findings=[_error("'encounters' must be a list", "$.encounters")])
    try:
        encounters = _ENCOUNTERS.validate_python(doc["encounters"])
    except ValidationError as exc:
        # the input value is left out of the message: it may be patient data
        findings = [
            _error(f"{e['msg']}", json_path(("encounters", *e["loc"])))
            for e in exc.errors(include_url=False, include_input=False)
        ]
        return ParseResult(findings=findings)
    return ParseResult(encounters=encounters)


class JsonRenderer:
    """Claims or statements as one canonical JSON document per batch."""

    settings_model = None

    def __init__(self, name: str, kind: Kind) -> None:
        self.name = name
        self.kind = kind

    def render(self, items: Sequence[BaseModel], ctx: RenderContext) -> list[Document]:
        if not items:
            return []
        clinic_id = items[0].clinic_id  # type: ignore[attr-defined]
        ids = tuple(i.id for i in items)  # type: ignore[attr-defined]
        body = {
            "gateway_format": f"{self.kind}/1",
            "created": ctx.created.isoformat(timespec="seconds"),
            self.kind: [json.loads(i.model_dump_json(exclude_none=True)) for i in items],
        }
        stamp = ctx.created.strftime("%Y%m%dT%H%M%S") if isinstance(ctx.created, datetime) else "batch"
        seq = ctx.control_numbers.next(clinic_id, f"{self.name}-file")
        return [
            Document(
                name=f"{clinic_id}-{self.kind}-{stamp}-{seq:04d}.json",
                content=(json.dumps(body, indent=2, sort_keys=True) + "\n").encode(),
                media_type="application/json",
                kind=self.kind,
                clinic_id=clinic_id,
                refs=ids,
            )
        ]


@hookimpl
def gateway_register_renderers(register: Callable[[Renderer], None]) -> None:
    register(JsonRenderer("claims-json", "claims"))
    register(JsonRenderer("statements-json", "statements"))
