"""The console's security, tested against the real listener: every route
behind a login, clinic scoping (404 across clinics), CSRF, login throttling
and lockout, roles, audit rows for every patient-data view, headers, cookies,
timeouts, token scopes, TLS refusal and oversized request heads."""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from pathlib import Path

import pytest
from starlette.routing import Mount, Route

from gateway.console.server import OPEN, WebServer
from tests.console_helpers import PASSWORD, Console, seed


@pytest.fixture(autouse=True)
def fresh_throttle(request: pytest.FixtureRequest):
    """Every test logs in from 127.0.0.1: each starts with the address's
    per-minute login budget unused (the throttle test spends it)."""
    if "env" in request.fixturenames:
        request.getfixturevalue("env")[0].app.auth.throttle._hits.clear()
    yield


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    from gateway.examples import write_example_deployment

    config = write_example_deployment(tmp_path_factory.mktemp("sec") / "d")
    ids = seed(config)
    c = Console(config)
    c.user("ria", "operator", ["riverside"])
    c.user("lake", "operator", ["lakeside"])
    c.user("vera", "viewer", ["riverside"])
    c.user("otto", "operator", ["*"])
    c.user("ada", "admin", ["*"])
    yield c, ids
    c.close()


def routes(console: Console) -> list[tuple[str, str]]:
    """Every (method, path) of the app, path parameters filled with 1."""
    out = []

    def walk(items: list) -> None:
        for r in items:
            if isinstance(r, Mount):
                out.append(("GET", r.path + "/console.css"))
            elif hasattr(r, "original_router"):  # FastAPI's included router
                walk(r.original_router.routes)
            else:
                assert isinstance(r, Route), r
                for m in sorted(r.methods or []):
                    if m != "HEAD":
                        out.append((m, re.sub(r"\{[^}]+\}", "1", r.path)))

    walk(console.app.app.routes)  # type: ignore[attr-defined]
    return sorted(set(out))


def test_every_route_needs_a_principal_except_the_allow_list(env) -> None:
    console, _ = env
    seen = routes(console)
    assert len(seen) > 30 and ("POST", "/fhir") in seen and ("GET", "/api/v1/openapi.json") in seen
    anon = console.client()
    for method, path in seen:
        r = anon.request(method, path)
        if path in OPEN:
            assert r.status_code in (200, 403), (method, path, r.status_code)  # login POST: no CSRF -> 403
            continue
        if path.startswith("/api/") or path.startswith("/fhir"):
            assert r.status_code == 401, (method, path, r.status_code)
        else:
            assert r.status_code == 303 and r.headers["location"].startswith("/ui/login"), (method, path)
    # only the allow-list answers without a principal: Prometheus' two, the login form and its stylesheet
    assert OPEN == {"/healthz", "/metrics", "/ui/login", "/static/console.css"}
    assert anon.get("/static/../gateway.yaml").status_code in (303, 404)


def test_a_forged_or_altered_session_cookie_is_refused(env) -> None:
    console, _ = env
    c = console.client()
    assert c.login("ria").status_code == 303
    good = c.cookies["__Host-gw_session"]
    sid, mac = good.rsplit(".", 1)
    for bad in (sid + "." + mac[:-2] + "AA", "x" + good, sid, "garbage"):
        c.cookies["__Host-gw_session"] = bad
        assert c.get("/ui/").status_code == 303
    c.cookies["__Host-gw_session"] = good
    assert c.get("/ui/").status_code == 200


def test_cross_clinic_objects_are_404_on_every_object_route(env) -> None:
    console, ids = env
    lake_msg = ids["messages"]["lakeside"][0]
    lake_doc = ids["outbox"]["lakeside"][0]
    river_claim = ids["claims"]["riverside"][0]
    c = console.client()
    c.login("lake")
    object_routes = [(m, p) for m, p in routes(console) if "/1" in p]
    assert len(object_routes) >= 10
    checked = 0
    for method, path in object_routes:
        if path.startswith("/fhir"):
            continue
        target = path
        if "/messages/1" in path:
            target = path.replace("/1", f"/{ids['messages']['riverside'][0]}", 1)
        elif "/outbox/1" in path:
            target = path.replace("/1", f"/{ids['outbox']['riverside'][0]}", 1)
        elif "/claims/1" in path:
            target = path.replace("/1", f"/{river_claim}", 1)
        r = c.form(target) if method == "POST" else c.get(target)
        if target.startswith("/api/") and method == "POST":
            r = c.post(target, headers={"x-csrf-token": c.csrf})
        assert r.status_code == 404, (method, target, r.status_code)
        checked += 1
    assert checked >= 10
    # the same user sees their own clinic's objects
    assert c.get(f"/ui/messages/{lake_msg}").status_code == 200
    assert c.get(f"/ui/outbox/{lake_doc}").status_code == 200
    assert c.get(f"/api/v1/messages/{lake_msg}").status_code == 200
    # lists never show another clinic's rows
    listed = c.get("/api/v1/messages?limit=100").json()
    assert listed and {m["clinic_id"] for m in listed} == {"lakeside"}
    assert {d["clinic_id"] for d in c.get("/api/v1/outbox").json()} == {"lakeside"}
    assert c.get("/api/v1/claims").json() == []
    assert "riverside" not in c.get("/ui/quarantine").text
    # reprocess-all of another clinic's rule: nothing found, nothing queued
    assert c.get("/ui/quarantine/reprocess?clinic=riverside&rule=SCRUB-NPI").text.count("<b>0</b>") == 1
    assert (
        c.form("/ui/quarantine/reprocess", {"clinic": "riverside", "rule": "SCRUB-NPI", "expected": 1}).status_code
        == 404
    )


def test_unrouted_messages_are_for_admins_only(env) -> None:
    console, ids = env
    (unrouted,) = ids["messages"][None]
    otto, ada = console.client(), console.client()
    otto.login("otto")
    ada.login("ada")
    assert otto.get(f"/ui/messages/{unrouted}").status_code == 404  # an operator of every clinic
    assert unrouted not in [m["id"] for m in otto.get("/api/v1/messages").json()]
    page = ada.get(f"/ui/messages/{unrouted}")
    assert page.status_code == 200 and "GW-ROUTE" in page.text
    assert unrouted in [m["id"] for m in ada.get("/api/v1/messages").json()]


def test_every_state_changing_request_without_its_csrf_token_is_403(env) -> None:
    console, ids = env
    c = console.client()
    c.login("otto")
    posts = [p for m, p in routes(console) if m == "POST" and not p.startswith("/fhir") and p != "/ui/login"]
    assert len(posts) >= 8
    mid = ids["messages"]["riverside"][0]
    for path in posts:
        path = path.replace("/1", f"/{mid}", 1)
        assert c.post(path, data={"csrf": "wrong"}).status_code == 403, path
        assert c.post(path).status_code == 403, path
        assert c.post(path, headers={"x-csrf-token": "wrong"}).status_code == 403, path
    # login itself: the form's token must match its signed cookie
    anon = console.client()
    assert anon.post("/ui/login", data={"username": "otto", "password": PASSWORD}).status_code == 403
    # and the session still works with the right token
    assert c.form("/ui/config/reload").status_code == 200


def test_brute_force_login_is_locked_out_then_throttled(env) -> None:
    console, _ = env
    console.user("bruce", "viewer", ["riverside"])
    c = console.client()
    for _ in range(5):
        assert c.login("bruce", "wrong password!").status_code == 401
    # locked now: even the right password is refused, with the same words
    r = c.login("bruce")
    assert r.status_code == 401 and "locked" in r.text
    assert console.accounts.user("bruce").locked_until > time.time() + 600
    actions = [a.action for a in console.accounts.audit_rows(actor="bruce", limit=20)]
    assert actions.count("login-failed") == 6
    # the address is throttled: 10 attempts a minute, then 429 whatever the user
    for _ in range(10):
        if c.login("nobody", "x" * 12).status_code == 429:
            break
    assert c.login("ria").status_code == 429
    # a reset clears the lock
    from gateway.console.auth import hash_password

    console.accounts.set_password("bruce", hash_password(PASSWORD))
    console.app.auth.throttle._hits.clear()  # type: ignore[attr-defined]
    assert console.client().login("bruce").status_code == 303


def test_session_cookie_attributes_and_timeouts(env) -> None:
    console, _ = env
    c = console.client()
    r = c.login("ria")
    cookie = next(v for v in r.headers.get_list("set-cookie") if v.startswith("__Host-gw_session="))
    for attr in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        assert attr in cookie
    assert c.get("/ui/").status_code == 200
    store = console.store
    with store.write() as cur:  # idle for 31 minutes
        cur.execute("UPDATE console_sessions SET last_seen = last_seen - 1860")
    assert c.get("/ui/").status_code == 303
    c2 = console.client()
    c2.login("ria")
    with store.write() as cur:  # active, but logged in 13 hours ago
        cur.execute("UPDATE console_sessions SET created_at = created_at - 46800, last_seen = ?", (time.time(),))
    assert c2.get("/ui/").status_code == 303
    c3 = console.client()
    c3.login("ria")
    assert c3.form("/ui/logout").status_code == 303
    assert c3.get("/ui/").status_code == 303


def test_security_headers_on_every_response(env) -> None:
    console, _ = env
    c = console.client()
    c.login("ria")
    for path in ("/ui/", "/ui/login", "/metrics", "/api/v1/messages", "/static/console.css", "/ui/messages/999999"):
        h = c.get(path).headers
        csp = h["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'none'" in csp and "unsafe-inline" not in csp
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
    page = c.get("/ui/").text
    assert (
        "<script" not in page
        and "style=" not in page
        and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )


def test_roles_viewer_sees_no_patient_data_and_cannot_act(env) -> None:
    console, ids = env
    mid = ids["messages"]["riverside"][0]
    claim = ids["claims"]["riverside"][0]
    v = console.client()
    v.login("vera")
    detail = v.get(f"/ui/messages/{mid}")
    assert detail.status_code == 200 and "Testperson" not in detail.text and "[redacted]" in detail.text
    c = v.get(f"/ui/claims/{claim}")
    assert c.status_code == 200 and "Testperson" not in c.text and "MRN" not in c.text
    assert "Testperson" not in v.get(f"/api/v1/claims/{claim}").text
    assert v.get(f"/ui/messages/{mid}/raw").status_code == 403
    assert v.get(f"/api/v1/messages/{mid}?raw=true").status_code == 403
    assert v.form(f"/ui/messages/{mid}/reprocess").status_code == 403
    assert v.get("/ui/audit").status_code == 403 and v.get("/ui/users").status_code == 403
    assert "gateway.yaml (secrets masked)" not in v.get("/ui/config").text
    o = console.client()
    o.login("ria")
    assert "Testperson" in o.get(f"/ui/messages/{mid}").text


def test_audit_rows_for_every_patient_data_view(env) -> None:
    console, ids = env
    mid = ids["messages"]["riverside"][0]
    claim = ids["claims"]["riverside"][0]
    c = console.client()
    c.login("ria")
    before = console.accounts.audit_rows(limit=1)[0].id
    c.get(f"/ui/messages/{mid}")
    c.get(f"/ui/messages/{mid}/raw")
    c.get(f"/ui/claims/{claim}")
    c.get(f"/api/v1/messages/{mid}?raw=true&encounter=0")
    rows = [r for r in console.accounts.audit_rows(limit=50) if r.id > before and r.actor == "ria"]
    seen = sorted((r.action, r.message_id, r.clinic_id, r.ip) for r in rows)
    assert seen == sorted(
        [
            ("viewed-encounter", mid, "riverside", "127.0.0.1"),
            ("viewed-raw", mid, "riverside", "127.0.0.1"),
            ("viewed-claim", mid, "riverside", "127.0.0.1"),
            ("viewed-raw", mid, "riverside", "127.0.0.1"),
            ("viewed-encounter", mid, "riverside", "127.0.0.1"),
        ]
    )
    # admins review and export it; retention is theirs to set
    a = console.client()
    a.login("ada")
    assert "viewed-raw" in a.get("/ui/audit?actor=ria").text
    export = a.get("/ui/audit.csv")
    assert export.headers["content-type"].startswith("text/csv") and ",ria,viewed-raw," in export.text
    assert a.form("/ui/audit/retention", {"days": 10}).status_code == 400
    assert a.form("/ui/audit/retention", {"days": 400}).status_code == 303
    assert console.accounts.setting("audit_retention_days") == "400"


def test_token_scopes_expiry_and_revocation(env) -> None:
    console, ids = env
    mid = ids["messages"]["riverside"][0]
    read = console.token("read", "riverside")
    operate = console.token("operate", "riverside")
    intake = console.token("intake", "riverside")
    c = console.client()
    auth = lambda t: {"authorization": f"Bearer {t}"}  # noqa: E731
    assert c.get("/api/v1/messages", headers=auth(read)).status_code == 200
    assert c.post(f"/api/v1/messages/{mid}/reprocess", headers=auth(read)).status_code == 403
    assert c.get(f"/api/v1/messages/{mid}?raw=true", headers=auth(read)).status_code == 403
    assert c.get("/api/v1/messages", headers=auth(intake)).status_code == 403
    assert c.get("/ui/", headers=auth(operate)).status_code == 403  # tokens are for the API only
    lake = ids["messages"]["lakeside"][0]
    assert c.get(f"/api/v1/messages/{lake}", headers=auth(operate)).status_code == 404
    assert c.get("/api/v1/messages", headers=auth(read[:-2] + "xx")).status_code == 401
    tok = console.accounts.tokens()[-1]
    console.accounts.revoke_token(tok.id)
    assert c.get("/api/v1/messages", headers=auth(intake)).status_code == 401
    with console.store.write() as cur:
        cur.execute("UPDATE api_tokens SET expires_at = 1 WHERE prefix = ?", (read.split("_")[1],))
    assert c.get("/api/v1/messages", headers=auth(read)).status_code == 401


def test_a_non_loopback_address_needs_tls_or_insecure_http() -> None:
    with pytest.raises(ValueError, match="without TLS"):
        WebServer(object(), "0.0.0.0:0", None)
    with pytest.raises(ValueError, match="without TLS"):
        WebServer(object(), "192.0.2.10:8443", None)
    WebServer(object(), "0.0.0.0:0", None, insecure_http=True)
    WebServer(object(), "[::1]:0", None)
    WebServer(object(), "localhost:0", None)


@pytest.mark.parametrize("complete", [True, False], ids=["whole-request", "head-never-ends"])
def test_an_oversized_request_line_gets_431_and_one_log_line(
    env, caplog: pytest.LogCaptureFixture, complete: bool
) -> None:
    """Issue 17 item 10, on the new listener: a /metrics request line over 64 KB."""
    console, _ = env
    caplog.set_level(logging.WARNING)
    with socket.create_connection(("127.0.0.1", console.port), timeout=10) as s:
        end = b" HTTP/1.1\r\nHost: x\r\n\r\n" if complete else b""
        s.sendall(b"GET /metrics?" + b"a" * 70000 + end)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 431 ")
    lines = [r for r in caplog.records if r.name.startswith(("gateway", "uvicorn"))]
    assert [(r.name, r.getMessage(), getattr(r, "status", None)) for r in lines] == [
        ("gateway.http", "http.bad_request", 431)
    ]
    assert not any(r.exc_info for r in caplog.records)
    # a normal scrape still works on the same listener
    assert console.client().get("/metrics").status_code == 200


def test_the_pages_escape_what_they_show(tmp_path: Path) -> None:
    """A patient named <script>alert(1)</script> is text on the page, never markup."""
    from gateway.examples import FIXTURES, write_example_deployment
    from tests.delivery_helpers import Line

    config = write_example_deployment(tmp_path / "d")
    doc = json.loads((FIXTURES / "encounters" / "riverside-insured.json").read_text())
    doc["encounters"][0]["patient"]["name"]["family"] = "<script>alert(1)</script>"
    line = Line(config)
    line.ingest([json.dumps(doc).encode()])
    line.close()
    c = Console(config)
    try:
        c.user("ria", "operator", ["riverside"])
        cl = c.client()
        cl.login("ria")
        (m,) = cl.get("/api/v1/messages").json()
        page = cl.get(f"/ui/messages/{m['id']}").text
        assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    finally:
        c.close()


def test_the_listener_sends_replies_without_waiting_for_delayed_acks(env) -> None:
    """Regression: a socket made without IPPROTO_TCP gets no TCP_NODELAY from
    asyncio, and every response (headers, then body) waited ~40 ms for the
    client's delayed ACK."""
    console, _ = env
    (sock,) = console.server._server.servers[0].sockets  # type: ignore[union-attr]
    assert sock.proto == socket.IPPROTO_TCP
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
