"""The gateway's one HTTP listener: console pages (``/ui``), JSON API
(``/api/v1``), HTTP intake sources (``/fhir``), ``/healthz`` and ``/metrics``.

One ASGI app (FastAPI) served by uvicorn inside the daemon's event loop
(``gateway run --http``) or alone (``gateway console``). Every request passes
:class:`Guard` first, which denies by default: only :data:`OPEN` paths
(Prometheus' two, the login form and its stylesheet) are served without a
principal; everything else needs a session cookie (``/ui``, ``/api``) or a
bearer token (``/api``, intake tokens on ``/fhir``), and every state-changing
request with a session needs its CSRF token. Bodies are capped before they
are read. Every response carries the security headers (:data:`HEADERS`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import anyio
import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway import logging as glog
from gateway.app import Gateway
from gateway.console.auth import COOKIE, LOGIN_COOKIE, Authenticator, Principal, Signer, session_secret
from gateway.store.sqlstore import SQLStore
from gateway.store.users import Accounts
from gateway.transport import is_loopback

log = glog.get("http")

#: served without a principal — the only ones
OPEN = frozenset({"/healthz", "/metrics", "/ui/login", "/static/console.css"})
#: request bodies of /ui and /api are refused above this (intake sources cap their own)
MAX_FORM_BYTES = 64 * 1024
#: a request line plus headers above this gets 431
MAX_HEAD_BYTES = 64 * 1024
CSP = (
    "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class ReloadResult:
    ok: bool
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    generation: int | None = None


@dataclass
class ConsoleContext:
    """What the app needs from its host (the daemon, or ``gateway console``)."""

    gateway: Callable[[], Gateway]  # the config in force (it changes on reload)
    store: SQLStore
    reload: Callable[[str, str | None], Awaitable[ReloadResult]]
    health: Callable[[], dict[str, Any]] | None = None
    #: started HTTP intake sources by clinic id (daemon only)
    intake: dict[str, Any] = field(default_factory=dict)
    tls: bool = False


def client_ip(scope: dict[str, Any]) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


async def _respond(send: Callable, status: int, body: bytes, ctype: bytes, extra: list | None = None) -> None:
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _json(status: int, detail: str) -> tuple[int, bytes, bytes]:
    return status, json.dumps({"detail": detail}).encode(), b"application/json"


class Guard:
    """Security headers, authentication, CSRF and body caps for every request."""

    def __init__(self, app: Callable, auth: Authenticator, tls: bool) -> None:
        self.app, self.auth, self.tls = app, auth, tls

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope["method"]
        tls = self.tls

        async def send_secure(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += HEADERS
                if not path.startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                if tls:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
            await send(message)

        scope.setdefault("state", {})
        head = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        head += sum(len(k) + len(v) + 4 for k, v in scope["headers"])
        if head > MAX_HEAD_BYTES:  # a complete but oversized head (an incomplete one: GatewayH11)
            glog.event(log, "http.bad_request", 30, status=431, reason="request line or headers too large")
            return await _respond(send_secure, 431, b"request line or headers too large\n", b"text/plain",
                                  [(b"connection", b"close")])  # fmt: skip
        if path in OPEN:
            if path == "/ui/login" and method == "POST":
                receive = await self._check_login_csrf(scope, receive, send_secure)
                if receive is None:
                    return
            return await self.app(scope, receive, send_secure)
        principal = await self._principal(scope)
        if path.startswith("/fhir"):
            if principal is None or principal.role != "intake":
                return await _respond(send_secure, *_outcome(401, "security", "an intake bearer token is required"))
        elif principal is None:
            if path.startswith("/api/"):
                return await _respond(send_secure, *_json(401, "authentication required"),
                                      [(b"www-authenticate", b"Bearer")])  # fmt: skip
            target = quote(path if method == "GET" else "/ui/", safe="/")
            return await _respond(
                send_secure, 303, b"", b"text/plain", [(b"location", f"/ui/login?next={target}".encode())]
            )
        elif principal.role == "intake" or (principal.kind == "token" and not path.startswith("/api/")):
            return await _respond(send_secure, *_json(403, "this token is not allowed here"))
        scope["state"]["principal"] = principal
        if method in UNSAFE and not path.startswith("/fhir"):
            receive = await self._check_csrf(scope, receive, send_secure, principal)
            if receive is None:
                return
        await self.app(scope, receive, send_secure)

    async def _principal(self, scope: dict[str, Any]) -> Principal | None:
        headers = dict(scope["headers"])
        bearer = headers.get(b"authorization", b"").decode("latin-1")
        if bearer:
            return await anyio.to_thread.run_sync(self.auth.token, bearer)
        cookie = _cookie(headers, COOKIE)
        if cookie is None:
            return None
        return await anyio.to_thread.run_sync(self.auth.session, cookie)

    async def _body(self, receive: Callable, send: Callable) -> bytes | None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_FORM_BYTES:
                await _respond(send, *_json(413, "request body too large"))
                return None
            if not message.get("more_body"):
                return body

    async def _check_csrf(
        self, scope: dict[str, Any], receive: Callable, send: Callable, principal: Principal
    ) -> Callable | None:
        """Buffer the (capped) body, compare its ``csrf`` field or the
        ``X-CSRF-Token`` header with the session's; a replaying receive, or
        None after answering 403/413. Bearer-token requests carry no cookie
        a browser could send for an attacker: no CSRF token for them."""
        body = await self._body(receive, send)
        if body is None:
            return None
        if principal.kind == "session":
            sent = dict(scope["headers"]).get(b"x-csrf-token", b"").decode("latin-1") or _form_field(body, "csrf")
            if not sent or not principal.csrf or not hmac.compare_digest(sent, principal.csrf):
                glog.event(log, "http.csrf_refused", 30, path=scope["path"])
                await _respond(send, *_json(403, "missing or wrong CSRF token"))
                return None
        return _replay(body, receive)

    async def _check_login_csrf(self, scope: dict[str, Any], receive: Callable, send: Callable) -> Callable | None:
        """The login form's double-submit token: the signed cookie set with the
        form must match the form's field."""
        body = await self._body(receive, send)
        if body is None:
            return None
        cookie = self.auth.signer.unsign(_cookie(dict(scope["headers"]), LOGIN_COOKIE))
        sent = _form_field(body, "csrf")
        if not cookie or not sent or not hmac.compare_digest(cookie, sent):
            await _respond(send, *_json(403, "missing or wrong CSRF token (reload the login page)"))
            return None
        return _replay(body, receive)


def _outcome(status: int, code: str, text: str) -> tuple[int, bytes, bytes]:
    from gateway.console.fhir_outcome import operation_outcome

    return status, operation_outcome("error", code, text), b"application/fhir+json"


def _cookie(headers: dict[bytes, bytes], name: str) -> str | None:
    raw = headers.get(b"cookie", b"").decode("latin-1")
    for part in raw.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


def _form_field(body: bytes, name: str) -> str | None:
    try:
        values = parse_qs(body.decode("utf-8"), keep_blank_values=True).get(name)
    except UnicodeDecodeError:
        return None
    return values[0] if values else None


def _replay(body: bytes, receive: Callable) -> Callable:
    """A receive that gives ``body`` once, then the connection's own messages (disconnect)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def build_app(ctx: ConsoleContext) -> Guard:
    """The whole ASGI app, wrapped in its :class:`Guard`."""
    from gateway.console import api, intake, ops, pages

    gw = ctx.gateway()
    settings = gw.config.console
    accounts = Accounts(ctx.store)
    auth = Authenticator(accounts, settings, Signer(session_secret(settings, gw.loaded)))
    app = FastAPI(
        title="billing-gateway API", version="1", docs_url=None, redoc_url=None, openapi_url="/api/v1/openapi.json"
    )
    app.state.ctx = ctx
    app.state.auth = auth
    app.state.accounts = accounts
    ops.mount(app)
    pages.mount(app)
    api.mount(app)
    intake.mount(app)
    return Guard(app, auth, ctx.tls)


# --------------------------------------------------------------------------
# serving


async def housekeeping(ctx: ConsoleContext, every: float = 3600.0) -> None:
    """Hourly: expired sessions and audit rows past the retention leave the store."""
    while True:
        settings = ctx.gateway().config.console
        try:
            sessions, audit = await anyio.to_thread.run_sync(
                Accounts(ctx.store).housekeeping, settings.session_idle_minutes * 60, settings.session_max_hours * 3600
            )
            if sessions or audit:
                glog.event(log, "console.housekeeping", sessions=sessions, audit_rows=audit)
        except Exception as exc:  # the store is down: try again next time
            glog.event(log, "console.housekeeping_failed", 30, error=type(exc).__name__)
        await asyncio.sleep(every)


class _Conn:
    """An h11 connection that remembers the protocol error it raised."""

    def __init__(self, conn: h11.Connection) -> None:
        self._conn = conn
        self.error: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return self._conn.next_event()
        except h11.RemoteProtocolError as exc:
            self.error = exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _OneLine:
    """uvicorn's connection logger, with its bad-request warning replaced by one JSON line."""

    def __init__(self, proto: GatewayH11, logger: logging.Logger) -> None:
        self._proto, self._logger = proto, logger

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        if msg == "Invalid HTTP request received.":
            err = self._proto.conn.error
            status = getattr(err, "error_status_hint", 400) if err else 400
            glog.event(log, "http.bad_request", 30, status=status, reason=str(err) if err else None)
            return
        self._logger.warning(msg, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)


class GatewayH11(H11Protocol):
    """uvicorn's h11 protocol, answering 431 (not 400) when the request line or
    headers exceed :data:`MAX_HEAD_BYTES`, with one log line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _Conn(self.conn)  # type: ignore[assignment]
        self.logger = _OneLine(self, self.logger)  # type: ignore[assignment]

    def send_400_response(self, msg: str) -> None:
        err = self.conn.error  # type: ignore[attr-defined]
        if getattr(err, "error_status_hint", 400) != 431:
            return super().send_400_response(msg)
        body = b"request line or headers too large\n"
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
        for event in (
            h11.Response(status_code=431, headers=headers, reason=b"Request Header Fields Too Large"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()


class _Uvicorn(uvicorn.Server):
    def capture_signals(self) -> Any:  # the host process owns the signals
        import contextlib

        return contextlib.nullcontext()


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6)."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit():
        raise ValueError(f"--http: expected HOST:PORT, got {text!r}")
    return host, int(port)


class WebServer:
    """uvicorn on one socket, in the caller's event loop."""

    def __init__(self, app: Any, listen: str, tls: tuple[Path, Path] | None, insecure_http: bool = False) -> None:
        self.host, self.port = parse_listen(listen)
        if tls is None and not is_loopback(self.host) and not insecure_http:
            raise ValueError(
                f"refusing to serve the console on {self.host} without TLS: set console.tls (cert, key) in "
                "gateway.yaml, bind a loopback address, or pass --insecure-http"
            )
        self.app, self.tls = app, tls
        self._server: _Uvicorn | None = None
        self._task: asyncio.Task | None = None
        self._chores: asyncio.Task | None = None

    async def start(self) -> int:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then; without it every
        # response (headers, then body) waits ~40 ms for the client's delayed ACK (Nagle)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        sock.listen(512)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, http=GatewayH11, lifespan="off", log_config=None, access_log=False, server_header=False,
            h11_max_incomplete_event_size=MAX_HEAD_BYTES, timeout_keep_alive=15,
            ssl_certfile=str(self.tls[0]) if self.tls else None, ssl_keyfile=str(self.tls[1]) if self.tls else None,
        )  # fmt: skip
        _route_uvicorn_logs()
        self._server = _Uvicorn(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        ctx = getattr(getattr(getattr(self.app, "app", None), "state", None), "ctx", None)
        self._chores = asyncio.create_task(housekeeping(ctx)) if ctx is not None else None
        deadline = time.monotonic() + 30
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what went wrong
            if time.monotonic() > deadline:
                raise TimeoutError("the HTTP server did not start")
            await asyncio.sleep(0.01)
        glog.event(log, "http.listening", host=self.host, port=self.port, tls=self.tls is not None)
        return self.port

    async def stop(self) -> None:
        if self._chores is not None:
            self._chores.cancel()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task


def _route_uvicorn_logs() -> None:
    """uvicorn's own loggers write JSON lines through the gateway's handler."""
    ours = logging.getLogger(glog.LOGGER)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers = list(ours.handlers)
        lg.propagate = False
        lg.setLevel(logging.WARNING)
