"""The batcher and the outbox with folder destinations and stub transports:
cuts by size and age, payer-directory routing, statuses through to
delivered, backoff with jitter, dead letters, operator commands, config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gateway.cli import cli
from gateway.config import ConfigError, read_config
from gateway.delivery.dispatcher import backoff
from gateway.documents import Document
from gateway.examples import demo_inputs
from gateway.store.outbox import BatchCut
from gateway.transport import BaseTransport, Receipt, TransportError
from tests.delivery_helpers import Line, deployment, hl7_visit


class Stub(BaseTransport):
    """A transport that raises ``error`` (or delivers when None)."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error
        self.delivered: list[str] = []

    def deliver(self, doc: Document) -> Receipt:
        if self.error is not None:
            raise self.error
        self.delivered.append(doc.name)
        return Receipt(location=f"stub:{doc.name}")


def test_backoff_doubles_up_to_the_cap_with_jitter_between_half_and_all() -> None:
    assert [backoff(n, 10, 100, rng=lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 80, 100]
    assert backoff(3, 10, 100, rng=lambda: 0.0) == 20
    import random

    rng = random.Random(7)
    samples = {round(backoff(2, 10, 100, rng.random), 3) for _ in range(50)}
    assert len(samples) > 40 and min(samples) >= 10 and max(samples) <= 20


def test_batches_are_cut_on_size_and_the_rest_waits_for_its_age(tmp_path: Path) -> None:
    line = Line(deployment(tmp_path / "dep", delivery={"batch_max_items": 5, "batch_max_age_s": 3600}))
    line.ingest(hl7_visit(i) for i in range(12))
    cuts = line.batcher.tick()
    assert [c.items for c in cuts] == [5, 5]  # two full batches; 2 claims wait (young)
    with line.store.read() as cur:
        cur.execute("SELECT status, COUNT(*) FROM claims GROUP BY status")
        assert dict(cur.fetchall()) == {"batched": 10, "created": 2}
        cur.execute("SELECT status, COUNT(*) FROM messages GROUP BY status")
        assert dict(cur.fetchall()) == {"batched": 10, "claimed": 2}
    assert line.batcher.tick() == []
    line.batcher.delivery = line.batcher.delivery.model_copy(update={"batch_max_age_s": 0})
    (last,) = line.batcher.tick()
    assert last.items == 2
    line.deliver_until_idle()
    files = sorted((line.gateway.loaded.base_dir / "outbox" / "claims").iterdir())
    assert len(files) == 3 and all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    with line.store.read() as cur:
        cur.execute("SELECT DISTINCT status FROM claims")
        assert [r[0] for r in cur.fetchall()] == ["delivered"]
    trail = [a.action for a in line.store.audit_trail(1)]
    assert trail[-2:] == ["batched", "delivered"]
    line.close()


def test_payer_directory_destination_wins_over_the_clinic_default(tmp_path: Path) -> None:
    config = deployment(tmp_path / "dep", destinations={
        "blue-direct": {"transport": "folder", "format": "x12-837p", "path": "outbox/blue"}})  # fmt: skip
    payers = config.parent / "payers.yaml"
    data = yaml.safe_load(payers.read_text())
    blue = next(p for p in data["payers"] if p["payer_id"] == "EXBCBS01")
    blue["destination"] = "blue-direct"
    payers.write_text(yaml.safe_dump(data, sort_keys=False))
    line = Line(config)
    line.ingest(p.read_bytes() for p in demo_inputs())
    with line.store.read() as cur:
        cur.execute("SELECT COUNT(*) FROM claims WHERE payer_id = 'EXBCBS01' AND status = 'created'")
        (blue_claims,) = cur.fetchone()
    assert blue_claims >= 1
    cuts = {(c.destination, c.kind): c for c in line.cut()}
    assert cuts[("blue-direct", "claims")].items == blue_claims
    line.deliver_until_idle()
    from gateway_plugins.renderers.x12.reader import read_837

    blue_files = list((config.parent / "outbox" / "blue").iterdir())
    payers_in_blue = {c.payer_id for f in blue_files for c in read_837(f.read_bytes()).claims}
    assert payers_in_blue == {"EXBCBS01"}
    line.close()


@pytest.mark.parametrize(
    ("error", "status", "reason"),
    [
        (TransportError("server says no such folder", retryable=False), "dead", "server says no such folder"),
        (TransportError("temporarily unavailable"), "pending", "temporarily unavailable"),
        (KeyError("patient name would be here"), "pending", "transport raised KeyError"),
    ],
)
def test_failures_dead_at_once_or_retried_with_reason_without_exception_text(
    tmp_path: Path, error: BaseException, status: str, reason: str
) -> None:
    stub = Stub(error)
    line = Line(deployment(tmp_path / "dep"), transport_factory=lambda dest: stub)
    line.ingest(hl7_visit(i) for i in range(3))
    line.cut()
    line.dispatcher.run_once()
    (row,) = line.store.outbox_list()
    assert (row.status, row.attempts, row.last_error) == (status, 1, reason)
    assert "patient" not in (row.last_error or "")
    line.close()


def test_retry_after_max_attempts_dead_letter_then_cli_retry_delivers(tmp_path: Path) -> None:
    stub = Stub(TransportError("connection reset"))
    config = deployment(tmp_path / "dep", delivery={"max_attempts": 4, "retry_base_s": 0.01, "retry_max_s": 0.02})
    line = Line(config, transport_factory=lambda dest: stub)
    line.ingest(hl7_visit(i) for i in range(3))
    line.cut()
    line.deliver_until_idle()
    (row,) = line.store.outbox_list()
    assert (row.status, row.attempts) == ("dead", 4)
    from gateway.daemon.metrics import render_metrics

    assert 'gateway_outbox_documents{destination="claims-out",status="dead"} 1' in render_metrics(line.store)
    runner = CliRunner()
    listing = runner.invoke(cli, ["outbox", "list", "--config", str(config), "--json"])
    assert json.loads(listing.output)[0]["status"] == "dead"
    shown = runner.invoke(cli, ["outbox", "show", str(row.id), "--config", str(config)])
    assert json.loads(shown.output)["last_error"] == "connection reset" and json.loads(shown.output)["items"] == 3
    assert runner.invoke(cli, ["outbox", "retry", "--config", str(config)]).exit_code == 2  # ids or --all-dead
    stub.error = None
    assert runner.invoke(cli, ["outbox", "retry", str(row.id), "--config", str(config)]).exit_code == 0
    line.deliver_until_idle()
    assert stub.delivered == [row.name]
    assert line.store.outbox_row(row.id).status == "delivered"  # type: ignore[union-attr]
    line.close()


def test_an_unrenderable_claim_does_not_hold_up_the_batch(tmp_path: Path) -> None:
    line = Line(deployment(tmp_path / "dep"))
    line.ingest(hl7_visit(i) for i in range(4))
    with line.store.write() as cur:  # a claim the 837 cannot carry (no diagnosis), as a bad plugin might leave it
        cur.execute("SELECT id, claim FROM claims ORDER BY id LIMIT 1")
        rid, body = cur.fetchone()
        claim = json.loads(body)
        claim["diagnoses"] = []
        cur.execute("UPDATE claims SET claim = ? WHERE id = ?", (json.dumps(claim), rid))
    (cut,) = line.cut()
    assert cut.items == 3
    with line.store.read() as cur:
        cur.execute("SELECT status, message_id FROM claims WHERE id = ?", (rid,))
        status, mid = cur.fetchone()
    assert status == "failed"
    assert line.store.message(mid).status == "quarantined"  # type: ignore[union-attr]  # needs a person, not stuck
    line.close()


def test_a_changed_document_under_a_taken_name_gets_the_next_free_name(tmp_path: Path) -> None:
    line = Line(deployment(tmp_path / "dep"))

    def store(content: bytes, dest: str = "claims-out") -> list[tuple[int, str]] | None:
        doc = Document("x.pdf", content, "application/pdf", "statements", "riverside")
        return line.store.cut(BatchCut("statements", dest, [doc], []))

    (first,) = store(b"one")  # type: ignore[misc]
    assert first[1] == "x.pdf" and store(b"one") == [first]  # the same bytes again: the same row
    assert store(b"two") == [(first[0] + 1, "x-2.pdf")]
    assert store(b"three") == [(first[0] + 2, "x-3.pdf")]
    assert store(b"two") == [(first[0] + 1, "x-2.pdf")]
    assert store(b"two", dest="statements-out")[0][1] == "x.pdf"  # type: ignore[index]  # names are per destination
    line.close()


def test_delivery_settings_are_validated(tmp_path: Path) -> None:
    config = deployment(tmp_path / "dep", delivery={"destinations": {"claims-ot": {"batch_max_items": 10}}})
    with pytest.raises(ConfigError, match="no destination named 'claims-ot'"):
        read_config(config)
    config.write_text(
        config.read_text().replace("claims-ot", "claims-out").replace("batch_max_items: 10", "max_items: 1")
    )
    with pytest.raises(ConfigError, match="unknown key 'max_items'"):
        read_config(config)
