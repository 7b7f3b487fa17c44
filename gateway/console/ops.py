"""``/healthz`` and ``/metrics``: open to Prometheus (the Guard's allow-list).

They carry clinic ids, rule ids and counts, never patient data.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from gateway.daemon.metrics import render_metrics


def mount(app: FastAPI) -> None:
    @app.get("/healthz", include_in_schema=False)
    def healthz(request: Request) -> JSONResponse:
        ctx = request.app.state.ctx
        state = ctx.health() if ctx.health else {"ok": True, "mode": "console"}
        return JSONResponse(state, status_code=200 if state.get("ok") else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> PlainTextResponse:
        ctx = request.app.state.ctx
        text = render_metrics(ctx.store, ctx.gateway().clinics)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
