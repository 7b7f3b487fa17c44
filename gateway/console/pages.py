"""Server-rendered console pages under ``/ui`` (Jinja2, autoescaped, plain
forms, no JavaScript).

Every query goes through :class:`gateway.store.views.Views` with the
principal's scope: an object of another clinic is a 404, exactly like one
that does not exist. Roles: viewers see identifiers, statuses, findings and
counts, never patient data; operators also see patient data (every such view
is audited) and act (reprocess, retry, reload); admins also see the
configuration, users and the audit log.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gateway.adjustment_codes import codes_for
from gateway.console import claim_view
from gateway.console.auth import COOKIE, LOGIN_COOKIE, Principal
from gateway.console.charts import bars
from gateway.daemon.shapes import ts
from gateway.phi import redact
from gateway.store import PROCESSED, Status
from gateway.store.users import AUDIT_RETENTION
from gateway.store.views import MessageQuery, Views

HERE = Path(__file__).parent
ENV = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))
ENV.filters["ts"] = ts
ENV.filters["pretty"] = lambda v: json.dumps(v, indent=2, default=str)
STATUSES = tuple(Status)
SECRET_KEYS = ("password", "secret", "key", "token", "passphrase")


def who(request: Request) -> Principal:
    return request.scope["state"]["principal"]


def ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def need(request: Request, role: str) -> Principal:
    p = who(request)
    if not p.at_least(role):
        raise HTTPException(403, f"this needs the {role} role")
    return p


def views(request: Request) -> Views:
    return Views(request.app.state.ctx.store)


def audit(request: Request, action: str, detail: dict[str, Any] | None = None, message_id: int | None = None,
          clinic_id: str | None = None) -> None:  # fmt: skip
    request.app.state.accounts.audit(who(request).name, action, detail, message_id, clinic_id, ip(request))


def page(request: Request, template: str, http_status: int = 200, **ctx: Any) -> HTMLResponse:
    p = request.scope.get("state", {}).get("principal")
    html = ENV.get_template(template).render(principal=p, csrf=p.csrf if p else None, path=request.url.path, **ctx)
    return HTMLResponse(html, status_code=http_status)


def _epoch(day: str | None, end: bool = False) -> float | None:
    if not day:
        return None
    try:
        d = datetime.fromisoformat(day).replace(tzinfo=UTC)
    except ValueError:
        raise HTTPException(400, "dates are YYYY-MM-DD") from None
    return d.timestamp() + (86400 if end and len(day) == 10 else 0)


def _int(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise HTTPException(400, "expected a number") from None


def mask(value: Any, key: str = "") -> Any:
    """Config for display: secret references and secret-named keys masked."""
    if isinstance(value, dict):
        return {k: mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, key) for v in value]
    if isinstance(value, str) and (value.startswith(("env:", "file:")) or any(s in key.lower() for s in SECRET_KEYS)):
        kind = value.split(":", 1)[0] if value.startswith(("env:", "file:")) else "value"
        return f"******** ({kind} reference)" if kind != "value" else "********"
    return value


def mount(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/", 303)

    # -- login -------------------------------------------------------------
    @app.get("/ui/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/ui/") -> HTMLResponse:
        return _login_page(request, next, None, 200)

    @app.post("/ui/login", include_in_schema=False)
    def login(
        request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/ui/")
    ) -> Response:
        auth = request.app.state.auth
        if not auth.throttle.allow(ip(request) or "?"):
            return _login_page(request, next, "Too many attempts from this address. Wait a minute.", 429)
        result = auth.login(username.strip(), password, ip(request))
        if result is None:
            return _login_page(request, next, "Invalid user name or password, or the account is locked.", 401)
        cookie, _user = result
        target = next if next.startswith("/ui/") and not next.startswith("//") else "/ui/"
        resp = RedirectResponse(target, 303)
        resp.headers.append("set-cookie", f"{COOKIE}={cookie}; Path=/; HttpOnly; Secure; SameSite=Strict")
        resp.headers.append("set-cookie", f"{LOGIN_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
        return resp

    @app.post("/ui/logout", include_in_schema=False)
    def logout(request: Request) -> RedirectResponse:
        request.app.state.auth.logout(who(request), ip(request))
        resp = RedirectResponse("/ui/login", 303)
        resp.headers.append("set-cookie", f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
        return resp

    # -- overview ------------------------------------------------------------
    @app.get("/ui/", include_in_schema=False)
    def overview(request: Request) -> HTMLResponse:
        p, v = who(request), views(request)
        now = time.time()
        cards = []
        for o in v.overview(p.scope):
            day = v.series(p.scope, o.clinic_id, now - 86400, 3600, 24) if o.clinic_id else None
            month = v.series(p.scope, o.clinic_id, now - 30 * 86400, 86400, 30) if o.clinic_id else None
            cards.append(
                {
                    "o": o,
                    "processed": sum(o.messages.get(s, 0) for s in PROCESSED),
                    "day": bars(day["received"], day["quarantined"], "last 24 h, per hour") if day else None,
                    "month": bars(month["received"], month["quarantined"], "last 30 days, per day") if month else None,
                }
            )
        return page(request, "overview.html", cards=cards, now=now)

    # -- messages ----------------------------------------------------------------
    @app.get("/ui/messages", include_in_schema=False)
    def messages(
        request: Request, clinic: str = "", status: str = "", since: str = "", until: str = "", control_id: str = "",
        rule: str = "", before: str = "",
    ) -> HTMLResponse:  # fmt: skip
        p, v = who(request), views(request)
        q = MessageQuery(
            clinic or None, status or None, _epoch(since), _epoch(until, end=True), control_id or None, rule or None,
            _int(before), 50,
        )  # fmt: skip
        rows = v.messages(p.scope, q)
        rules = v.rules([r.id for r in rows])
        form = {"clinic": clinic, "status": status, "since": since, "until": until, "control_id": control_id,
                "rule": rule}  # fmt: skip
        nxt = {**form, "before": rows[-1].id} if len(rows) == q.limit else None
        return page(request, "messages.html", rows=rows, rules=rules, form=form, next=nxt, statuses=STATUSES,
                    clinics=_clinics(request))  # fmt: skip

    @app.get("/ui/messages/{message_id}", include_in_schema=False)
    def message(request: Request, message_id: int) -> HTMLResponse:
        p, v = who(request), views(request)
        row = v.message(p.scope, message_id)
        if row is None:
            raise HTTPException(404, "no such message")
        store = request.app.state.ctx.store
        encounters = store.encounters(message_id)
        for e in encounters:
            body = store.encounter_json(message_id, e["idx"])
            e["data"] = body if p.sees_phi else redact(body)
        if p.sees_phi and encounters:
            audit(request, "viewed-encounter", {"idx": [e["idx"] for e in encounters], "via": "console"},
                  message_id, row.clinic_id)  # fmt: skip
        trail = store.audit_trail(message_id)
        return page(request, "message.html", m=row, rules=v.rules([message_id])[message_id], encounters=encounters,
                    trail=trail)  # fmt: skip

    @app.get("/ui/messages/{message_id}/raw", include_in_schema=False)
    def message_raw(request: Request, message_id: int) -> HTMLResponse:
        p = need(request, "operator")
        row = views(request).message(p.scope, message_id)
        if row is None:
            raise HTTPException(404, "no such message")
        audit(request, "viewed-raw", {"via": "console"}, message_id, row.clinic_id)
        raw = (request.app.state.ctx.store.raw(message_id) or b"").decode("utf-8", "replace")
        return page(request, "raw.html", m=row, raw=raw.replace("\r", "\n"))

    @app.post("/ui/messages/{message_id}/reprocess", include_in_schema=False)
    def reprocess(request: Request, message_id: int, reason: str = Form("")) -> RedirectResponse:
        p = need(request, "operator")
        row = views(request).message(p.scope, message_id)
        if row is None:
            raise HTTPException(404, "no such message")
        if not request.app.state.ctx.store.reprocess(message_id, p.name, reason or "console"):
            raise HTTPException(409, "cannot reprocess: its claims are already batched, or its bytes were pruned")
        audit(request, "reprocess-requested", {"via": "console"}, message_id, row.clinic_id)
        return RedirectResponse(f"/ui/messages/{message_id}", 303)

    # -- quarantine ------------------------------------------------------------------
    @app.get("/ui/quarantine", include_in_schema=False)
    def quarantine(request: Request) -> HTMLResponse:
        p = who(request)
        return page(request, "quarantine.html", groups=views(request).quarantine_groups(p.scope))

    @app.get("/ui/quarantine/reprocess", include_in_schema=False)
    def confirm_rule(request: Request, clinic: str, rule: str) -> HTMLResponse:
        p = need(request, "operator")
        ids = views(request).quarantined_with_rule(p.scope, clinic, rule)
        return page(request, "confirm.html", clinic=clinic, rule=rule, ids=ids)

    @app.post("/ui/quarantine/reprocess", include_in_schema=False)
    def reprocess_rule(request: Request, clinic: str = Form(...), rule: str = Form(...),
                       expected: int = Form(...)) -> HTMLResponse:  # fmt: skip
        p = need(request, "operator")
        v = views(request)
        if not p.scope.allows(clinic):
            raise HTTPException(404, "no such clinic")
        done = v.reprocess_rule(p.scope, clinic, rule, p.name, f"console: all quarantined with {rule}")
        audit(request, "reprocess-rule", {"rule": rule, "expected": expected, "queued": len(done)}, None, clinic)
        return page(request, "done.html", title="Reprocessing",
                    text=f"{len(done)} message(s) of {clinic} with {rule} queued (confirmed {expected}).",
                    back=f"/ui/messages?clinic={clinic}&rule={rule}")  # fmt: skip

    # -- outbox --------------------------------------------------------------------
    @app.get("/ui/outbox", include_in_schema=False)
    def outbox(request: Request, status: str = "", before: str = "") -> HTMLResponse:
        p = who(request)
        rows = views(request).outbox(p.scope, status or None, _int(before), 50)
        nxt = {"status": status, "before": rows[-1].id} if len(rows) == 50 else None
        return page(request, "outbox.html", rows=rows, status=status, next=nxt)

    @app.get("/ui/outbox/{outbox_id}", include_in_schema=False)
    def outbox_doc(request: Request, outbox_id: int) -> HTMLResponse:
        p, v = who(request), views(request)
        row = v.outbox_row(p.scope, outbox_id)
        if row is None:
            raise HTTPException(404, "no such document")
        return page(request, "document.html", d=row, claims=v.outbox_claims(p.scope, outbox_id))

    @app.post("/ui/outbox/{outbox_id}/retry", include_in_schema=False)
    def retry(request: Request, outbox_id: int) -> RedirectResponse:
        p = need(request, "operator")
        row = views(request).outbox_row(p.scope, outbox_id)
        if row is None:
            raise HTTPException(404, "no such document")
        done = request.app.state.ctx.store.outbox_retry([outbox_id], p.name)
        if not done:
            raise HTTPException(409, "not a dead letter")
        audit(request, "outbox-retry-requested", {"outbox": outbox_id, "via": "console"}, None, row.clinic_id)
        return RedirectResponse("/ui/outbox?status=pending", 303)

    # -- claims --------------------------------------------------------------------
    @app.get("/ui/claims", include_in_schema=False)
    def claims(request: Request, clinic: str = "", status: str = "", before: str = "") -> HTMLResponse:
        p = who(request)
        rows = views(request).claims(p.scope, clinic or None, status or None, _int(before), 50)
        nxt = {"clinic": clinic, "status": status, "before": rows[-1]["id"]} if len(rows) == 50 else None
        return page(request, "claims.html", rows=rows, clinic=clinic, status=status, next=nxt,
                    clinics=_clinics(request))  # fmt: skip

    @app.get("/ui/claims/{claim_id}", include_in_schema=False)
    def claim(request: Request, claim_id: int) -> HTMLResponse:
        p, v = who(request), views(request)
        c = v.claim(p.scope, claim_id)
        if c is None:
            raise HTTPException(404, "no such claim")
        if p.sees_phi:
            audit(request, "viewed-claim", {"claim": c["clm01"], "via": "console"}, c["message_id"], c["clinic_id"])
        else:
            c["claim"] = redact(c["claim"])
        doc = v.outbox_row(p.scope, c["outbox_id"]) if c["outbox_id"] else None
        story = request.app.state.ctx.store.claim_story(c["clinic_id"], c["clm01"])
        codes = codes_for(request.app.state.ctx.gateway().loaded)
        timeline = claim_view.timeline(story) if story else []
        ledger = claim_view.ledger_by_line(story, codes) if story else []
        return page(request, "claim.html", c=c, doc=doc, timeline=timeline, ledger=ledger)

    # -- configuration, plugins, reload -----------------------------------------------
    @app.get("/ui/config", include_in_schema=False)
    def config(request: Request) -> HTMLResponse:
        p = who(request)
        gw = request.app.state.ctx.gateway()
        text = None
        if p.at_least("admin"):
            data = mask(gw.config.model_dump(mode="json", exclude_none=True))
            text = yaml.safe_dump(data, sort_keys=False)
            audit(request, "viewed-config", {"config": str(gw.loaded.path)})
        from gateway.daemon.reload import generation

        return page(request, "config.html", config=text, config_path=str(gw.loaded.path),
                    generation=generation(request.app.state.ctx.store), result=None)  # fmt: skip

    @app.post("/ui/config/reload", include_in_schema=False)
    async def reload(request: Request) -> HTMLResponse:
        p = need(request, "operator")
        ctx = request.app.state.ctx
        result = await ctx.reload(p.name, ip(request))
        gw = ctx.gateway()
        return page(request, "config.html", config=None, config_path=str(gw.loaded.path), generation=result.generation,
                    result=result, http_status=200 if result.ok else 422)  # fmt: skip

    @app.get("/ui/plugins", include_in_schema=False)
    def plugins(request: Request) -> HTMLResponse:
        return page(request, "plugins.html", infos=request.app.state.ctx.gateway().host.infos)

    # -- admin: users, audit -------------------------------------------------------------
    @app.get("/ui/users", include_in_schema=False)
    def users(request: Request) -> HTMLResponse:
        need(request, "admin")
        return page(request, "users.html", users=request.app.state.accounts.users())

    @app.get("/ui/audit", include_in_schema=False)
    def audit_log(request: Request, actor: str = "", action: str = "", before: str = "") -> HTMLResponse:
        need(request, "admin")
        acc = request.app.state.accounts
        rows = acc.audit_rows(_int(before), 100, actor or None, action or None)
        nxt = {"actor": actor, "action": action, "before": rows[-1].id} if len(rows) == 100 else None
        return page(request, "audit.html", rows=rows, actor=actor, action=action, next=nxt,
                    retention=acc.setting(AUDIT_RETENTION))  # fmt: skip

    @app.get("/ui/audit.csv", include_in_schema=False)
    def audit_csv(request: Request, since: str = "", until: str = "") -> StreamingResponse:
        need(request, "admin")
        acc = request.app.state.accounts
        audit(request, "audit-exported", {"since": since or None, "until": until or None})

        def rows() -> Iterator[str]:
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(["id", "at_utc", "actor", "action", "message_id", "clinic_id", "ip", "detail"])
            for r in acc.iter_audit(_epoch(since), _epoch(until, end=True)):
                w.writerow([r.id, ts(r.at), r.actor, r.action, r.message_id or "", r.clinic_id or "", r.ip or "",
                            json.dumps(r.detail, sort_keys=True)])  # fmt: skip
                if buf.tell() > 65536:
                    yield buf.getvalue()
                    buf.seek(0)
                    buf.truncate()
            yield buf.getvalue()

        headers = {"content-disposition": 'attachment; filename="gateway-audit.csv"'}
        return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers=headers)

    @app.post("/ui/audit/retention", include_in_schema=False)
    def audit_retention(request: Request, days: int = Form(...)) -> RedirectResponse:
        p = need(request, "admin")
        if days < 30:
            raise HTTPException(400, "keep the audit log at least 30 days")
        acc = request.app.state.accounts
        acc.set_setting(AUDIT_RETENTION, str(days), p.name, ip(request))
        acc.prune_audit(time.time() - days * 86400, p.name)
        return RedirectResponse("/ui/audit", 303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            from fastapi.responses import JSONResponse

            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return page(request, "error.html", http_status=exc.status_code, code=exc.status_code, text=str(exc.detail))


def _clinics(request: Request) -> list[str]:
    p = who(request)
    known = sorted(request.app.state.ctx.gateway().clinics)
    return [c for c in known if p.scope.allows(c)]


def _login_page(request: Request, next: str, error: str | None, status: int) -> HTMLResponse:
    signer = request.app.state.auth.signer
    token = signer.unsign(request.cookies.get(LOGIN_COOKIE))  # one token per browser (several tabs, favicon)
    fresh = token is None
    token = token or secrets.token_urlsafe(24)
    resp = page(request, "login.html", http_status=status, login_csrf=token, next=next, error=error)
    if fresh:
        resp.headers.append(
            "set-cookie", f"{LOGIN_COOKIE}={signer.sign(token)}; Path=/; HttpOnly; Secure; SameSite=Strict"
        )
    return resp
