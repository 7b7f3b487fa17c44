"""Routes ``/fhir`` to the HTTP intake source of the calling token's clinic.

The :class:`~gateway.console.server.Guard` has already checked the intake
token (nothing of the body is read before); the source plugin
(``gateway_plugins.sources.http``) does the rest.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from gateway.console.fhir_outcome import operation_outcome


def mount(app: FastAPI) -> None:
    async def intake(request: Request) -> Response:
        p = request.scope["state"]["principal"]
        source = request.app.state.ctx.intake.get(p.clinic_id)
        if source is None:
            body = operation_outcome("error", "not-found", f"no http source is configured for clinic {p.clinic_id}")
            return Response(body, status_code=404, media_type="application/fhir+json")
        return await source.handle(request, p.sender or p.name)

    for path in ("/fhir", "/fhir/$process-message"):
        app.add_api_route(path, intake, methods=["POST"], include_in_schema=False)
