"""Statements through the outbox to a real SMTP server (aiosmtpd on
loopback): each statement with an address arrives once with its
deterministic Message-ID; one without an address is a dead letter at once
with the reason; SMTP down, then up → delivered after a retry."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from aiosmtpd.controller import Controller
from gateway_plugins.transports.smtp import message_id

from gateway.examples import demo_inputs
from tests.delivery_helpers import Line, deployment
from tests.test_smtp import Inbox, free_port


def smtp_line(tmp_path: Path, port: int) -> Line:
    dest = {"transport": "smtp", "format": "pdf", "host": "127.0.0.1", "port": port, "security": "none",
            "from_address": "Billing <billing@example.com>", "timeout_s": 5}  # fmt: skip
    config = deployment(tmp_path / "dep", destinations={"statements-out": dest})
    line = Line(config)
    line.ingest(p.read_bytes() for p in demo_inputs())
    line.cut()
    return line


def outbox_docs(line: Line) -> dict[int, dict]:
    with line.store.read() as cur:
        cur.execute("SELECT id, name, headers, status, last_error FROM outbox WHERE destination = 'statements-out'")
        return {i: {"name": n, "headers": json.loads(h), "status": s, "error": e} for i, n, h, s, e in cur.fetchall()}


def test_statements_arrive_once_each_with_the_deterministic_message_id(tmp_path: Path) -> None:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        line = smtp_line(tmp_path, port)
        line.deliver_until_idle()
        line.deliver_until_idle()  # nothing left: a second pass sends nothing
    finally:
        controller.stop()
    docs = outbox_docs(line)
    mailable = {i: d for i, d in docs.items() if "to" in d["headers"]}
    assert len(mailable) >= 3
    assert {d["status"] for d in mailable.values()} == {"delivered"}
    ids = Counter(msg["Message-ID"] for _, msg in inbox.messages)
    assert len(inbox.messages) == len(mailable) and max(ids.values()) == 1
    from gateway.documents import Document

    expected = {
        message_id(Document(d["name"], b"", "application/pdf", "statements", "x", (), d["headers"]), "example.com")
        for d in mailable.values()
    }
    assert set(ids) == expected
    for d in docs.values():
        if "to" not in d["headers"]:  # no address known: not retryable, dead at once, reason kept
            assert d["status"] == "dead" and "recipient" in d["error"]
    with line.store.read() as cur:
        cur.execute("SELECT status, COUNT(*) FROM statements GROUP BY status")
        statuses = dict(cur.fetchall())
    assert statuses.get("delivered", 0) >= len(mailable) and set(statuses) <= {"delivered", "batched"}
    line.close()


def test_smtp_down_then_up_is_delivered_after_a_retry(tmp_path: Path) -> None:
    port = free_port()
    line = smtp_line(tmp_path, port)
    first = line.dispatcher.run_once()  # nothing listens yet (the claim files go to their folder)
    assert first.retried >= 1 and any("SMTP server refused the connection" in e for e in first.errors)
    assert {d["status"] for d in outbox_docs(line).values()} == {"pending"}
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        line.deliver_until_idle()
    finally:
        controller.stop()
    mailable = [d for d in outbox_docs(line).values() if "to" in d["headers"]]
    assert {d["status"] for d in mailable} == {"delivered"}
    assert len(inbox.messages) == len(mailable)
    assert len({msg["Message-ID"] for _, msg in inbox.messages}) == len(mailable)
    with line.store.read() as cur:
        cur.execute("SELECT MIN(attempts) FROM outbox WHERE status = 'delivered' AND kind = 'statements'")
        assert cur.fetchone()[0] >= 2
    line.close()
