"""The JSON API: each shape equals the matching CLI ``--json`` output, the
rule reprocess with its dry run, session writes with X-CSRF-Token, OpenAPI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import cli
from tests.console_helpers import Console, seed


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
    assert c.get("/api/v1/status").json() == cli_json(config, "status")
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
