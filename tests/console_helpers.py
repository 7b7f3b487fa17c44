"""The console on a real uvicorn listener on loopback, a real SQLite (or
PostgreSQL) store, and a small cookie-keeping HTTP client: the pieces of the
console, API and intake tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from gateway.app import Gateway
from gateway.console.auth import hash_password, new_token
from gateway.console.server import ConsoleContext, ReloadResult, WebServer, build_app
from gateway.daemon import reload as reloading
from gateway.store import MessageFilter, codec_for, open_store
from gateway.store.users import Accounts
from tests.daemon_helpers import LoopThread

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Client:
    """httpx with a cookie jar that keeps ``Secure`` cookies on plain-HTTP
    loopback (as Chromium does for localhost), and the page's CSRF token."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        r = self.http.request(method, url, headers=headers, **kw)
        for value in r.headers.get_list("set-cookie"):
            name, _, rest = value.partition("=")
            val = rest.split(";", 1)[0]
            if "Max-Age=0" in value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = val
        m = CSRF.search(r.text) if r.headers.get("content-type", "").startswith("text/html") else None
        if m and "/ui/login" not in url:
            self.csrf = m.group(1)
        return r

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def login(self, user: str, password: str = PASSWORD) -> httpx.Response:
        form = self.get("/ui/login")
        token = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
        r = self.post("/ui/login", data={"username": user, "password": password, "csrf": token, "next": "/ui/"})
        if r.status_code == 303:
            self.get("/ui/")  # picks up the session's CSRF token
        return r

    def form(self, url: str, data: dict[str, Any] | None = None) -> httpx.Response:
        """A form post with the session's CSRF token."""
        return self.post(url, data={**(data or {}), "csrf": self.csrf})


class Console:
    """``gateway console`` in-process: the app on uvicorn in a loop thread."""

    def __init__(self, config: Path, store_url: str | None = None, intake: dict[str, Any] | None = None) -> None:
        self.config = config
        self.gw = Gateway.from_config(config)
        self.url_store = store_url or str(self.gw.loaded.state_dir / "gateway.sqlite")
        self.store = open_store(self.url_store, self.gw.loaded.base_dir, codec=codec_for(self.gw.loaded))
        self.accounts = Accounts(self.store)  # type: ignore[arg-type]
        self.loop = LoopThread()
        self.reloads = 0

        async def reload(actor: str, ip: str | None) -> ReloadResult:
            new = reloading.load(config)
            if new.gateway is None:
                reloading.refused(self.store, actor, new.problems, ip)  # type: ignore[arg-type]
                return ReloadResult(False, new.problems)
            self.gw = new.gateway
            self.reloads += 1
            return ReloadResult(True, [], [], reloading.announce(self.store, new.gateway, actor, ip))  # type: ignore[arg-type]

        self.ctx = ConsoleContext(gateway=lambda: self.gw, store=self.store, reload=reload, intake=intake or {})  # type: ignore[arg-type]
        self.app = build_app(self.ctx)
        self.server = WebServer(self.app, "127.0.0.1:0", None)
        self.port = self.loop.run(self.server.start())
        self.base = f"http://127.0.0.1:{self.port}"

    def user(self, name: str, role: str, clinics: list[str]) -> str:
        self.accounts.add_user(name, hash_password(PASSWORD), role, clinics)
        return name

    def token(self, scope: str, clinic: str | None = None, name: str | None = None) -> str:
        return new_token(self.accounts, name or scope, scope, clinic, "test", None)[0]

    def client(self) -> Client:
        return Client(self.base)

    def close(self) -> None:
        self.loop.run(self.server.stop())
        self.loop.close()
        self.store.close()


def seed(config: Path) -> dict[str, Any]:
    """Messages of both example clinics (claims, a statement, a quarantined
    one) and one that reached no clinic, processed and batched into the
    outbox; their ids."""
    from gateway.examples import FIXTURES
    from tests.delivery_helpers import DFT, Line

    line = Line(config)
    enc = FIXTURES / "encounters"
    line.ingest(
        [
            (enc / "riverside-insured.json").read_bytes(),
            (enc / "riverside-scrub-errors.json").read_bytes(),
            (enc / "lakeside-selfpay.json").read_bytes(),
            DFT.replace(b"|RIVERSIDE^", b"|NOBODY^"),
        ]
    )
    line.cut()
    store = line.store
    rows = store.list_messages(MessageFilter(limit=10))
    out: dict[str, Any] = {"messages": {}, "outbox": {}, "claims": {}}
    for r in reversed(rows):  # in the order ingested: riverside's first is the billed one
        out["messages"].setdefault(r.clinic_id, []).append(r.id)
    with store.read() as cur:
        cur.execute("SELECT id, clinic_id FROM outbox")
        for oid, clinic in cur.fetchall():
            out["outbox"].setdefault(clinic, []).append(oid)
        cur.execute("SELECT id, clinic_id FROM claims")
        for cid, clinic in cur.fetchall():
            out["claims"].setdefault(clinic, []).append(cid)
    line.close()
    return out
