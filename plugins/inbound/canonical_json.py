"""The gateway's own JSON format: canonical encounters in, claims and
statements out.

Input (``gateway-json``)::

    {"gateway_format": "encounters/1", "sender": "CLINIC-A",
     "message_id": "optional, for dedup", "encounters": [ {Encounter…} ]}

It is what ``gateway inspect`` prints, so a person can fix an encounter by
hand and feed it back. Each service line's ``source_ref`` is set to its JSON
path (``$.encounters[0].service_lines[1]``). Amounts are taken as stated
(gateway.money: never rounded; a fraction of a cent is held by the
scrubber); amounts and quantities out of range are ``JSON-NUMBER`` errors,
nesting too deep to read ``JSON-DEPTH``. The renderers ``claims-json`` and ``statements-json`` write
one JSON document per clinic and batch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, TypeAdapter, ValidationError

from gateway.config import Clinic
from gateway.documents import Document, Kind, RenderContext, Renderer
from gateway.hookspecs import hookimpl
from gateway.messages import Envelope, MessageMeta, ParseResult, RecordLookup
from gateway.model import Encounter, Finding, Severity
from gateway.rules import Catalogue

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
    except (ValueError, RecursionError):
        return Envelope(format=FORMAT)  # parse reports why
    if not isinstance(head, dict):
        return Envelope(format=FORMAT)
    sender = head.get("sender") if isinstance(head.get("sender"), str) else None
    control = head.get("message_id") if isinstance(head.get("message_id"), str) else None
    # the decoded document rides along so parse does not decode it again
    return Envelope(format=FORMAT, sender=sender, control_id=control, message_type="encounters", extra={"doc": head})


RULES = Catalogue("canonical_json", prefix="JSON")
RULES.add(
    "JSON-INVALID", Severity.ERROR, "The document is not JSON, or not the canonical encounters shape (with the path)."
)
RULES.add("JSON-NUMBER", Severity.ERROR, "A number is out of range, or has too many digits to read.")
RULES.add("JSON-DEPTH", Severity.ERROR, "JSON nested too deeply to read.")


def _error(message: str, location: str, rule: str = "JSON-INVALID") -> Finding:
    return RULES[rule].finding(message, location)


def _invalid(err: dict) -> Finding:
    """A validation error as a finding; the input value is left out (it may be patient data).
    An amount or quantity out of range (gateway.money) is JSON-NUMBER."""
    where = json_path(("encounters", *err["loc"]))
    if err["type"] in ("less_than_equal", "greater_than_equal"):
        limit = abs(Decimal(str(next(iter(err.get("ctx", {}).values()), 0))))
        return _error(f"{err['loc'][-1]} is out of range (at most {limit:,})", where, "JSON-NUMBER")
    return _error(f"{err['msg']}", where)


def _trace(encounters: list[Encounter]) -> None:
    """Each service line's ``source_ref``: its JSON path in this input."""
    for i, enc in enumerate(encounters):
        for j, line in enumerate(enc.service_lines):
            line.source_ref = json_path(("encounters", i, "service_lines", j))


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
    except RecursionError:
        return ParseResult(findings=[_error("JSON is nested too deeply to read", "$", "JSON-DEPTH")])
    except ValueError:  # an integer of thousands of digits (Python's conversion limit)
        return ParseResult(findings=[_error("a number has too many digits", "$", "JSON-NUMBER")])
    if not isinstance(doc, dict) or not isinstance(doc.get("encounters"), list):
        return ParseResult(findings=[_error("'encounters' must be a list", "$.encounters")])
    try:
        encounters = _ENCOUNTERS.validate_python(doc["encounters"])
    except ValidationError as exc:
        return ParseResult(findings=[_invalid(e) for e in exc.errors(include_url=False, include_input=False)])
    except RecursionError:
        return ParseResult(findings=[_error("JSON is nested too deeply to read", "$.encounters", "JSON-DEPTH")])
    _trace(encounters)
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
