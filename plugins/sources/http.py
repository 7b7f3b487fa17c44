"""HTTP FHIR intake (``type: http``): ``POST /fhir`` (a Bundle) and
``POST /fhir/$process-message`` (a message Bundle) on the gateway's HTTP
listener (``gateway run --http``).

The listener authenticates first: only an ``intake`` bearer token of this
source's clinic reaches it (``gateway tokens create --scope intake --clinic
C --name SENDER``), so the body of an unknown caller is never read. Then the
body is read up to ``max_bytes``, checked to be a JSON FHIR Bundle (of type
``message`` for ``$process-message``), and journaled; the answer **202**
with an informational OperationOutcome comes only after the journal has
committed it — the same promise as an MLLP ACK. Bad input gets a 4xx
OperationOutcome naming the problem (and nothing is stored); a bundle that
no format plugin recognises is stored quarantined and answered 422. A resend
of the same bytes is answered 202 again and not processed twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from gateway import logging as glog
from gateway.console.fhir_outcome import operation_outcome
from gateway.hookspecs import hookimpl
from gateway.messages import MessageMeta
from gateway.sources import acknowledged

if TYPE_CHECKING:  # starlette is imported when the server answers, not when the config is read
    from starlette.requests import Request
    from starlette.responses import Response

log = glog.get("http-source")
MEDIA = "application/fhir+json"
ACCEPTED_TYPES = ("application/fhir+json", "application/json")


class HTTPSourceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: largest accepted body (a larger one is refused with 413 before it is read whole)
    max_bytes: int = Field(5 * 1024 * 1024, gt=0, le=64 * 1024 * 1024)
    #: parse bodies above this size in a thread, off the event loop
    inline_bytes: int = Field(256 * 1024, gt=0)


def _answer(status: int, severity: str, code: str, text: str, location: str | None = None) -> Response:
    from starlette.responses import Response

    return Response(operation_outcome(severity, code, text, location), status_code=status, media_type=MEDIA)


def check_bundle(body: bytes, message: bool) -> str | None:
    """Why ``body`` is not an acceptable Bundle, or None."""
    try:
        doc = json.loads(body)
    except RecursionError:
        return "JSON nested too deeply"
    except (ValueError, UnicodeDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        return f"body is not JSON{where}"
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        return "resourceType must be Bundle"
    if message and doc.get("type") != "message":
        return "$process-message takes a Bundle of type 'message'"
    if not isinstance(doc.get("entry", []), list):
        return "Bundle.entry must be an array"
    return None


class HTTPSource:
    """One clinic's HTTP intake; the listener calls :meth:`handle`."""

    detailed_submit = True
    #: the paths the gateway's listener routes to HTTP sources
    http_paths = ("/fhir", "/fhir/$process-message")

    def __init__(self, settings: HTTPSourceSettings, clinic_id: str, base_dir: Path) -> None:
        self.settings, self.clinic_id = settings, clinic_id
        self.name = f"http:{clinic_id}"
        self._submit: Callable[..., Any] | None = None
        self._busy: set[asyncio.Future] = set()

    async def start(self, submit: Callable[..., Any]) -> None:
        self._submit = submit

    async def stop(self) -> None:
        """Stop taking bodies; let those being journaled commit."""
        self._submit = None
        if self._busy:
            await asyncio.wait(list(self._busy), timeout=30)

    async def handle(self, request: Request, sender: str) -> Response:
        """Answer one authenticated POST (``sender``: the token's name)."""
        from starlette.requests import ClientDisconnect
        from starlette.responses import Response

        t0 = time.perf_counter()
        if self._submit is None:
            return _answer(503, "error", "transient", "intake is stopping; send again later")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ACCEPTED_TYPES:
            return _answer(415, "error", "not-supported", f"content type must be {MEDIA}")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.settings.max_bytes:
            return _answer(413, "error", "too-costly", f"body larger than {self.settings.max_bytes} bytes")
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > self.settings.max_bytes:
                    return _answer(413, "error", "too-costly", f"body larger than {self.settings.max_bytes} bytes")
        except ClientDisconnect:
            return Response(status_code=400)
        raw = bytes(body)
        message = request.url.path.endswith("$process-message")
        if len(raw) > self.settings.inline_bytes:
            problem = await asyncio.get_running_loop().run_in_executor(None, check_bundle, raw, message)
        else:
            problem = check_bundle(raw, message)
        if problem:
            return _answer(400, "error", "invalid", problem)
        meta = MessageMeta(
            source=f"http:{sender}", today=date.today(), clinic_id=self.clinic_id, received_at=datetime.now(UTC),
            name=None,
        )  # fmt: skip
        job = asyncio.ensure_future(self._submit(raw, meta))
        self._busy.add(job)  # stop() lets it commit even when the client goes away
        job.add_done_callback(self._busy.discard)
        try:
            outcome = await asyncio.shield(job)
        except Exception as exc:
            glog.event(log, "http.journal_failed", 40, source=self.name, error=type(exc).__name__)
            return _answer(503, "error", "transient", "the bundle could not be stored; send it again")
        acknowledged("http", time.perf_counter() - t0)
        if outcome.rejected:
            return _answer(422, "error", "not-supported", f"{outcome.rejected} (kept as message {outcome.message_id})")
        what = "a resend of message" if outcome.duplicate else "stored as message"
        resp = _answer(202, "information", "informational", f"accepted: {what} {outcome.message_id}")
        resp.headers["location"] = f"/api/v1/messages/{outcome.message_id}"
        return resp


def http_source(settings: HTTPSourceSettings, clinic_id: str, base_dir: Path) -> HTTPSource:
    return HTTPSource(settings, clinic_id, base_dir)


@hookimpl
def gateway_register_sources(register: Callable[[str, Callable[..., Any], type[BaseModel]], None]) -> None:
    register("http", http_source, HTTPSourceSettings)
