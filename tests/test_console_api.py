"""The JSON API: each shape equals the matching CLI ``--json`` output, the
rule reprocess with its dry run, session writes with X-CSRF-Token, OpenAPI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import cli
from tests.console_helpers import Console, seed
from tests.pg import pg_url  # noqa: F401  (fixture: a PostgreSQL schema of its own)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    from gateway.examples import write_example_deployment

    config = write_example_deployment(tmp_path_factory.mktemp("api") / "d")
    ids = seed(config)
    c = Console(config)
    c.user("ada", "admin", ["*"])
    yield c, ids, config
    c.close()


def cli_json(config: Path, *args: str):
    out = CliRunner().invoke(cli, [*args, "--config", str(config), "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def timeless(value: object) -> object:
    """``value`` without the ages (seconds since something), which depend on when it was asked."""
    if isinstance(value, dict):
        return {k: timeless(v) for k, v in value.items() if not k.endswith("age_seconds")}
    return [timeless(v) for v in value] if isinstance(value, list) else value


def test_shapes_equal_the_cli_json(env) -> None:
    console, ids, config = env
    c = console.client()
    c.login("ada")  # an admin of every clinic sees what the CLI sees
    assert c.get("/api/v1/messages").json() == cli_json(config, "messages", "list")
    quarantined = c.get("/api/v1/messages?status=quarantined&rule=SCRUB-NPI").json()
    assert quarantined == cli_json(config, "messages", "list", "--status", "quarantined", "--rule", "SCRUB-NPI")
    assert len(quarantined) == 1 and "SCRUB-NPI" in quarantined[0]["rules"]
    mid = ids["messages"]["riverside"][0]
    assert c.get(f"/api/v1/messages/{mid}").json() == cli_json(config, "messages", "show", str(mid))
    assert timeless(c.get("/api/v1/status").json()) == timeless(cli_json(config, "status"))
    assert c.get("/api/v1/outbox").json() == cli_json(config, "outbox", "list")
    doc = ids["outbox"]["riverside"][0]
    shown = CliRunner().invoke(cli, ["outbox", "show", str(doc), "--config", str(config)])
    assert c.get(f"/api/v1/outbox/{doc}").json() == json.loads(shown.output)


def test_reprocess_by_rule_with_a_dry_run_count(env) -> None:
    console, ids, _ = env
    op = {"authorization": f"Bearer {console.token('operate', 'riverside')}"}
    c = console.client()
    body = {"clinic": "riverside", "rule": "SCRUB-NPI"}
    dry = c.post("/api/v1/reprocess-rule", json=body, headers=op).json()
    assert dry == {**body, "dry_run": True, "count": 1, "ids": [ids["messages"]["riverside"][1]]}
    assert c.post("/api/v1/reprocess-rule", json={**body, "clinic": "lakeside"}, headers=op).status_code == 404
    done = c.post("/api/v1/reprocess-rule", json={**body, "dry_run": False}, headers=op).json()
    assert done["count"] == 1 and not done["dry_run"]
    (msg,) = c.get(f"/api/v1/messages?limit=1&before={ids['messages']['riverside'][1] + 1}", headers=op).json()
    assert msg["status"] == "received"
    actions = [r.action for r in console.accounts.audit_rows(limit=5)]
    assert "reprocess-rule" in actions


def test_session_writes_need_the_csrf_header(env) -> None:
    console, ids, _ = env
    c = console.client()
    c.login("ada")
    doc = ids["outbox"]["lakeside"][0]
    assert c.post(f"/api/v1/outbox/{doc}/retry").status_code == 403
    assert c.post(f"/api/v1/outbox/{doc}/retry", headers={"x-csrf-token": c.csrf}).status_code == 409  # not dead
    r = c.post("/api/v1/reload", headers={"x-csrf-token": c.csrf})
    assert r.status_code == 200 and r.json()["ok"] and r.json()["generation"] >= 1


def test_openapi_documents_the_api_behind_the_login(env) -> None:
    console, _, _ = env
    assert console.client().get("/api/v1/openapi.json").status_code == 401
    doc = console.client().get("/api/v1/openapi.json", headers={"authorization": f"Bearer {console.token('read')}"})
    paths = doc.json()["paths"]
    for p in ("/api/v1/messages", "/api/v1/messages/{message_id}", "/api/v1/reprocess-rule", "/api/v1/claims",
              "/api/v1/outbox", "/api/v1/outbox/{outbox_id}/retry", "/api/v1/reload", "/api/v1/status"):  # fmt: skip
        assert p in paths, p
    assert not any(p.startswith("/ui") for p in paths)


def test_the_console_on_postgresql(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    """Every page and the rule actions on the PostgreSQL store (the SQL of
    views, accounts and the rule triggers is shared with SQLite)."""
    from datetime import date

    from gateway.app import Gateway
    from gateway.daemon.journal import Journal
    from gateway.examples import FIXTURES, write_example_deployment
    from gateway.messages import MessageMeta
    from gateway.store import open_store
    from gateway.worker import Worker

    config = write_example_deployment(tmp_path / "d")
    gw = Gateway.from_config(config)
    store = open_store(pg_url)
    journal = Journal(gw, store, store)
    msgs = [
        journal.prepare(
            (FIXTURES / "encounters" / f).read_bytes(), MessageMeta(source="test", today=date.today()), None
        )[0]
        for f in ("riverside-insured.json", "riverside-scrub-errors.json")
    ]
    store.journal(msgs)
    journal.close()
    Worker(gw.pipeline, store, "w").run_once()
    store.close()
    c = Console(config, store_url=pg_url)
    try:
        c.user("ria", "operator", ["riverside"])
        cl = c.client()
        assert cl.login("ria").status_code == 303
        listed = cl.get("/api/v1/messages").json()
        assert [m["status"] for m in listed] == ["quarantined", "claimed"] and "SCRUB-NPI" in listed[0]["rules"]
        for page in ("/ui/", "/ui/messages?rule=SCRUB-NPI", "/ui/quarantine", "/ui/outbox", "/ui/claims",
                     f"/ui/messages/{listed[1]['id']}", "/ui/claims/1", "/ui/config", "/ui/plugins"):  # fmt: skip
            r = cl.get(page)
            assert r.status_code == 200, page
        assert "SCRUB-NPI" in cl.get("/ui/quarantine").text
        body = {"clinic": "riverside", "rule": "SCRUB-NPI"}
        dry = cl.post("/api/v1/reprocess-rule", json=body, headers={"x-csrf-token": cl.csrf}).json()
        assert dry["count"] == 1
        actions = [r.action for r in c.accounts.audit_rows(actor="ria", limit=10)]
        assert {"login", "viewed-encounter", "viewed-claim"} <= set(actions)
    finally:
        c.close()
