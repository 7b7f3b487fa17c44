"""The JSON API under ``/api/v1`` (OpenAPI at ``/api/v1/openapi.json``).

Same principals as the pages (a session cookie plus ``X-CSRF-Token`` on
writes, or a bearer token: ``read`` = viewer, ``operate`` = operator), the
same clinic scoping (another clinic's object is a 404), and each JSON shape
is the matching CLI ``--json`` output (:mod:`gateway.daemon.shapes`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel

from gateway.console.pages import audit, ip, need, views, who
from gateway.daemon.shapes import message_detail, message_json, outbox_json, status_json
from gateway.store.views import MessageQuery

router = APIRouter(prefix="/api/v1")


class RuleReprocess(BaseModel):
    clinic: str
    rule: str
    dry_run: bool = True
    reason: str = ""


class ReprocessReply(BaseModel):
    clinic: str
    rule: str
    dry_run: bool
    count: int
    ids: list[int]


class ReloadReply(BaseModel):
    ok: bool
    generation: int | None
    problems: list[str]
    warnings: list[str]


@router.get("/status", summary="Messages per clinic and stage (gateway status --json)")
def status(request: Request) -> dict[str, Any]:
    p = who(request)
    store = request.app.state.ctx.store
    counts = [c for c in store.counts() if p.scope.allows(c[0])]
    pending = [o.oldest_pending_message for o in views(request).overview(p.scope) if o.oldest_pending_message]
    items = [i for i in store.submission_counts() if p.scope.allows(i[1])]
    unfinished = store.oldest_in_progress() if p.scope.clinics is None else None  # store-wide: admins only
    return status_json(counts, min(pending) if pending else None, unfinished, items)


@router.get("/messages", summary="Search messages (gateway messages list --json)")
def messages(
    request: Request, clinic: str | None = None, status: str | None = None, rule: str | None = None,
    control_id: str | None = None, since: float | None = Query(None, description="Unix time"),
    until: float | None = Query(None, description="Unix time"), before: int | None = None,
    limit: int = Query(50, ge=1, le=500),
) -> list[dict[str, Any]]:  # fmt: skip
    p, v = who(request), views(request)
    rows = v.messages(p.scope, MessageQuery(clinic, status, since, until, control_id, rule, before, limit))
    rules = v.rules([r.id for r in rows])
    return [message_json(r, rules[r.id]) for r in rows]


@router.get("/messages/{message_id}", summary="One message (gateway messages show --json)")
def message(
    request: Request, message_id: int, raw: bool = False, encounter: int | None = None, identifiers: bool = False
) -> dict[str, Any]:
    p, v = who(request), views(request)
    row = v.message(p.scope, message_id)
    if row is None:
        raise HTTPException(404, "no such message")
    if (raw or encounter is not None or identifiers) and not p.sees_phi:
        raise HTTPException(403, "raw bytes, encounters and identifiers need the operate scope or the operator role")
    store = request.app.state.ctx.store
    rules = v.rules([row.id])[row.id]
    return message_detail(store, row, rules, p.name, raw, encounter, {"ip": ip(request)}, identifiers=identifiers)


@router.post("/messages/{message_id}/reprocess", summary="Put one message back in the work queue")
def reprocess(request: Request, message_id: int) -> dict[str, Any]:
    p = need(request, "operator")
    row = views(request).message(p.scope, message_id)
    if row is None:
        raise HTTPException(404, "no such message")
    if not request.app.state.ctx.store.reprocess(message_id, p.name, "api"):
        raise HTTPException(409, "cannot reprocess: its claims are already batched, or its bytes were pruned")
    return {"id": message_id, "queued": True}


@router.post("/reprocess-rule", summary="Reprocess every quarantined message of a clinic with a rule (dry run first)")
def reprocess_rule(request: Request, body: RuleReprocess) -> ReprocessReply:
    p = need(request, "operator")
    v = views(request)
    if not p.scope.allows(body.clinic):
        raise HTTPException(404, "no such clinic")
    if body.dry_run:
        ids = v.quarantined_with_rule(p.scope, body.clinic, body.rule)
    else:
        ids = v.reprocess_rule(p.scope, body.clinic, body.rule, p.name, body.reason or "api")
        audit(request, "reprocess-rule", {"rule": body.rule, "queued": len(ids)}, None, body.clinic)
    return ReprocessReply(clinic=body.clinic, rule=body.rule, dry_run=body.dry_run, count=len(ids), ids=ids)


@router.get("/claims", summary="Claims, newest first")
def claims(
    request: Request, clinic: str | None = None, status: str | None = None, before: int | None = None,
    limit: int = Query(50, ge=1, le=500),
) -> list[dict[str, Any]]:  # fmt: skip
    return views(request).claims(who(request).scope, clinic, status, before, limit)


@router.get("/claims/{clm01}", summary="One claim's whole story by CLM01: the shape of `gateway claims show --json`")
def claim(request: Request, clm01: str, clinic: str | None = None) -> dict[str, Any]:
    """Status, money (charge, paid, adjustments, patient responsibility,
    balance), lines by LX, ledger, submissions and events: identifiers,
    codes and amounts, no patient data. 404 when no clinic of the caller
    has the claim; 409 when several do and ``clinic`` is not given."""
    from gateway.claims_cli import story_json

    p = who(request)
    store = request.app.state.ctx.store
    known = sorted(request.app.state.ctx.gateway().clinics)
    clinics = [c for c in ([clinic] if clinic else known) if p.scope.allows(c)]
    found = [(c, subs) for c in clinics if (subs := store.submissions("claims", c, clm01))]
    if not found:
        raise HTTPException(404, "no such claim")
    if len(found) > 1:
        raise HTTPException(409, f"claim {clm01} exists in several of your clinics: give ?clinic=")
    clinic_id, subs = found[0]
    return story_json(store, "claims", clinic_id, clm01, subs)


@router.get("/outbox", summary="Outbox documents (gateway outbox list --json)")
def outbox(
    request: Request, status: str | None = None, before: int | None = None, limit: int = Query(50, ge=1, le=500)
) -> list[dict[str, Any]]:
    return [outbox_json(r) for r in views(request).outbox(who(request).scope, status, before, limit)]


@router.get("/outbox/{outbox_id}", summary="One outbox document (gateway outbox show)")
def outbox_doc(request: Request, outbox_id: int) -> dict[str, Any]:
    row = views(request).outbox_row(who(request).scope, outbox_id)
    if row is None:
        raise HTTPException(404, "no such document")
    return outbox_json(row)


@router.post("/outbox/{outbox_id}/retry", summary="Bring a dead letter back")
def retry(request: Request, outbox_id: int) -> dict[str, Any]:
    p = need(request, "operator")
    if views(request).outbox_row(p.scope, outbox_id) is None:
        raise HTTPException(404, "no such document")
    if not request.app.state.ctx.store.outbox_retry([outbox_id], p.name):
        raise HTTPException(409, "not a dead letter")
    return {"id": outbox_id, "queued": True}


@router.post("/reload", summary="Re-read gateway.yaml and the mapping files; swap them in when valid")
async def reload(request: Request) -> ReloadReply:
    p = need(request, "operator")
    r = await request.app.state.ctx.reload(p.name, ip(request))
    if not r.ok:
        raise HTTPException(422, {"problems": r.problems})
    return ReloadReply(ok=r.ok, generation=r.generation, problems=r.problems, warnings=r.warnings)


def mount(app: FastAPI) -> None:
    app.include_router(router)
