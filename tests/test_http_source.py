"""The HTTP FHIR intake source on the daemon's listener: 202 only after the
bundle is journaled, 4xx with an OperationOutcome naming the problem,
per-sender intake tokens, resends, and — under a short bounded load with a
kill -9 in the middle — every acknowledged bundle in the store."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from gateway.store import SQLiteStore
from tests.intake_helpers import Daemon, bundle, token

FHIR = {"content-type": "application/fhir+json"}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory):
    d = Daemon(tmp_path_factory.mktemp("intake") / "d", max_bytes=100_000)
    tokens = {
        "intake": token(d.config, "intake", "riverside", "emr-riverside"),
        "lakeside": token(d.config, "intake", "lakeside", "emr-lakeside"),
        "read": token(d.config, "read", "riverside"),
    }
    d.start()
    yield d, tokens
    d.stop()


def post(d: Daemon, body: bytes, tok: str | None, path: str = "/fhir", headers: dict | None = None) -> httpx.Response:
    h = {**FHIR, **(headers or {})}
    if tok:
        h["authorization"] = f"Bearer {tok}"
    return httpx.post(d.base + path, content=body, headers=h, timeout=30)


def outcome(r: httpx.Response) -> dict:
    assert r.headers["content-type"].startswith("application/fhir+json")
    doc = r.json()
    assert doc["resourceType"] == "OperationOutcome"
    return doc["issue"][0]


def stored(d: Daemon, raw: bytes) -> list[tuple]:
    store = SQLiteStore(d.config.parent / "state" / "gateway.sqlite")
    try:
        with store.read() as cur:
            cur.execute(
                "SELECT id, clinic_id, source FROM messages WHERE sha256 = ?", (hashlib.sha256(raw).hexdigest(),)
            )
            return cur.fetchall()
    finally:
        store.close()


def test_accepted_only_after_it_is_journaled(daemon) -> None:
    d, tokens = daemon
    raw = bundle(1)
    r = post(d, raw, tokens["intake"])
    assert r.status_code == 202
    issue = outcome(r)
    assert issue["severity"] == "information" and issue["code"] == "informational"
    ((mid, clinic, source),) = stored(d, raw)  # in the store when the 202 arrived
    assert (clinic, source) == ("riverside", "http:emr-riverside") and f"message {mid}" in issue["diagnostics"]
    assert r.headers["location"] == f"/api/v1/messages/{mid}"
    again = post(d, raw, tokens["intake"])
    assert again.status_code == 202 and f"a resend of message {mid}" in outcome(again)["diagnostics"]
    assert len(stored(d, raw)) == 1
    msg = bundle(2).replace(b'"type": "transaction"', b'"type": "message"')
    assert post(d, msg, tokens["intake"], "/fhir/$process-message").status_code == 202


@pytest.mark.parametrize(
    ("body", "path", "headers", "status", "code", "says"),
    [
        (b'{"resourceType": "Bundle", ', "/fhir", {}, 400, "invalid", "body is not JSON (line 1, column 28)"),
        (b'{"resourceType": "Patient"}', "/fhir", {}, 400, "invalid", "resourceType must be Bundle"),
        (
            b'{"resourceType": "Bundle", "type": "collection"}',
            "/fhir/$process-message",
            {},
            400,
            "invalid",
            "Bundle of type 'message'",
        ),
        (b"[" * 100_001, "/fhir", {}, 413, "too-costly", "larger than 100000 bytes"),
        (b"[" * 5000 + b"]" * 5000, "/fhir", {}, 400, "invalid", "nested too deeply"),
        (b"{}", "/fhir", {"content-type": "text/plain"}, 415, "not-supported", "application/fhir+json"),
        (b'{"resourceType": "Bundle", "entry": {}}', "/fhir", {}, 400, "invalid", "Bundle.entry must be an array"),
    ],
    ids=["truncated", "not-a-bundle", "not-a-message", "too-large", "too-deep", "content-type", "entry"],
)
def test_bad_input_gets_4xx_naming_the_problem(daemon, body, path, headers, status, code, says) -> None:
    d, tokens = daemon
    r = post(d, body, tokens["intake"], path, headers)
    assert r.status_code == status
    issue = outcome(r)
    assert issue["severity"] == "error" and issue["code"] == code and says in issue["diagnostics"]
    assert stored(d, body) == []  # nothing was stored


def test_intake_needs_an_intake_token_of_a_clinic_with_an_http_source(daemon) -> None:
    d, tokens = daemon
    raw = bundle(3)
    for tok in (None, tokens["read"], "gw_nope_nope", tokens["intake"][:-3] + "abc"):
        r = post(d, raw, tok)
        assert r.status_code == 401 and outcome(r)["code"] == "security"
    r = post(d, raw, tokens["lakeside"])
    assert r.status_code == 404 and "no http source is configured for clinic lakeside" in outcome(r)["diagnostics"]
    assert (
        httpx.get(d.base + "/api/v1/messages", headers={"authorization": f"Bearer {tokens['intake']}"}).status_code
        == 403
    )
    assert stored(d, raw) == []


def test_every_acknowledged_bundle_survives_a_kill_9_under_load(tmp_path: Path) -> None:
    """The short version of benchmarks/bench_intake.py: 4 client threads for
    about 3 s, kill -9 the daemon half-way, then check the store."""
    d = Daemon(tmp_path / "d")
    tok = token(d.config, "intake", "riverside")
    d.start()
    acked: list[bytes] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(k: int) -> None:
        with httpx.Client(timeout=10) as http:
            n = 0
            while not stop.is_set() and n < 2000:
                raw = bundle(k * 10_000 + n)
                n += 1
                try:
                    r = http.post(d.base + "/fhir", content=raw, headers={**FHIR, "authorization": f"Bearer {tok}"})
                except httpx.HTTPError:
                    continue  # the daemon is gone: this one was never acknowledged
                if r.status_code == 202:
                    with lock:
                        acked.append(raw)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    assert d.proc is not None
    os.kill(d.proc.pid, signal.SIGKILL)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(30)
    d.proc.wait(10)
    assert len(acked) > 20, "the load did not get going"
    store = SQLiteStore(d.config.parent / "state" / "gateway.sqlite")
    try:
        with store.read() as cur:
            cur.execute("SELECT sha256 FROM messages")
            have = {r[0] for r in cur.fetchall()}
    finally:
        store.close()
    missing = [raw for raw in acked if hashlib.sha256(raw).hexdigest() not in have]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged bundles are not in the store"
    assert json.loads(acked[0])["resourceType"] == "Bundle"
