"""Claims → batches → outbox → a real sshd: every 837 arrives exactly once
when the server goes down mid-run or the dispatcher is killed between upload
and bookkeeping; dead letters and `gateway outbox retry`; clearinghouse
responses fetched into the journal; `gateway run` end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from gateway_plugins.renderers.x12.reader import read_837

from gateway.cli import cli
from gateway.delivery.outbox import RESPONSE_FORMAT, RESPONSE_STATUS, release_orphans
from gateway.store import MessageFilter
from tests.delivery_helpers import Line, deployment, hl7_visit
from tests.sshd import Sshd
from tests.x12check import assert_valid_837

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    server = Sshd(tmp_path / "sshd")
    server.start()
    yield server
    server.stop()


def sftp_line(tmp_path: Path, sshd: Sshd, delivery: dict | None = None, **dest: object) -> Line:
    config = deployment(
        tmp_path / "dep",
        destinations={"claims-out": sshd.destination("claims", **dest)},
        delivery={"batch_max_items": 8, **(delivery or {})},
    )
    return Line(config, batch=4)


def assert_each_837_once(sshd: Sshd, line: Line) -> None:
    """The server holds exactly the delivered outbox documents; each passes
    pyx12; no CLM01 and no ISA13 twice across all files."""
    files = sshd.files("claims")
    delivered = {r.name for r in line.store.outbox_list(status="delivered", destination="claims-out", limit=999)}
    assert set(files) == delivered and files
    assert not [p for p in (sshd.root / "claims").iterdir() if p.name.startswith(".")]
    clm01: Counter[str] = Counter()
    isa13: Counter[str] = Counter()
    for data in files.values():
        assert_valid_837(data)
        read = read_837(data)
        assert read.problems == []
        clm01.update(c.claim_id for c in read.claims)
        isa13.update(read.interchanges)
    assert max(clm01.values()) == 1 and max(isa13.values()) == 1
    assert sum(clm01.values()) == line.store.claim_count()


def test_sshd_stopped_mid_run_and_started_again_every_837_arrives_once(tmp_path: Path, sshd: Sshd) -> None:
    line = sftp_line(tmp_path, sshd)
    line.ingest(hl7_visit(i) for i in range(60))
    cuts = line.cut()
    assert len(cuts) >= 7  # 60 claims, 8 per file
    line.dispatcher.run_once()  # the first 4 files arrive
    assert len(sshd.files("claims")) == 4
    sshd.stop()
    failed = line.dispatcher.run_once()
    assert failed.delivered == 0 and failed.retried == 4
    assert "refused" in failed.errors[0] and "not tried" in failed.errors[1]
    sshd.start()
    line.deliver_until_idle()
    assert_each_837_once(sshd, line)
    with line.store.read() as cur:
        cur.execute("SELECT status, COUNT(*) FROM claims GROUP BY status")
        assert dict(cur.fetchall()) == {"delivered": 60}
        cur.execute("SELECT DISTINCT status FROM messages")
        assert {r[0] for r in cur.fetchall()} == {"delivered"}
    retried = [r for r in line.store.outbox_list(status="delivered", limit=999) if r.attempts > 1]
    assert len(retried) == 4
    line.close()


CRASHING_DISPATCHER = """
import os, signal, sys
from pathlib import Path
from gateway.app import Gateway
from gateway.delivery.dispatcher import Dispatcher
from gateway.store import SQLiteStore

gw = Gateway.from_config(Path(sys.argv[1]))

def factory(dest):
    transport = gw.transport(dest)
    real = transport.deliver
    def deliver(doc):
        receipt = real(doc)                       # the file is on the server…
        os.kill(os.getpid(), signal.SIGKILL)      # …and we die before the outbox update
    transport.deliver = deliver
    return transport

Dispatcher(gw, SQLiteStore(gw.loaded.state_dir / "gateway.sqlite"), transport_factory=factory).run_once()
"""


def test_kill_9_between_upload_and_outbox_update_causes_no_second_file(tmp_path: Path, sshd: Sshd) -> None:
    line = sftp_line(tmp_path, sshd)
    line.ingest(hl7_visit(i) for i in range(5))
    (cut,) = line.cut()
    ((outbox_id, name),) = cut.documents
    proc = subprocess.run(
        [sys.executable, "-c", CRASHING_DISPATCHER, str(line.gateway.loaded.path)], cwd=REPO, capture_output=True
    )
    assert proc.returncode == -signal.SIGKILL
    assert list(sshd.files("claims")) == [name]  # uploaded, but the outbox does not know
    row = line.store.outbox_row(outbox_id)
    assert row is not None and row.status == "pending"
    assert release_orphans(line.store) == 1  # the dead process's lease, released at start-up
    result = line.dispatcher.run_once()
    assert result.delivered == 1 and result.already_present == 1
    assert list(sshd.files("claims")) == [name]
    assert_each_837_once(sshd, line)
    line.close()


def test_unreachable_destination_ends_in_dead_letters_and_outbox_retry_delivers_them(
    tmp_path: Path, sshd: Sshd
) -> None:
    line = sftp_line(tmp_path, sshd, delivery={"max_attempts": 3})
    line.ingest(hl7_visit(i) for i in range(12))
    assert len(line.cut()) == 2
    sshd.stop()
    line.deliver_until_idle()
    dead = line.store.outbox_list(status="dead")
    assert len(dead) == 2 and all(r.attempts == 3 for r in dead)
    assert all("refused the connection" in (r.last_error or "") for r in dead)
    config = str(line.gateway.loaded.path)
    listing = CliRunner().invoke(cli, ["outbox", "list", "--config", config, "--status", "dead"])
    assert listing.exit_code == 0 and "last error: SFTP server 127.0.0.1" in listing.output
    sshd.start()
    retry = CliRunner().invoke(cli, ["outbox", "retry", "--config", config, "--all-dead"])
    assert retry.exit_code == 0 and retry.output.count("queued for delivery") == 2
    line.deliver_until_idle()
    assert_each_837_once(sshd, line)
    again = CliRunner().invoke(cli, ["outbox", "retry", "--config", config, str(dead[0].id)])
    assert again.exit_code == 1 and "not a dead letter" in again.output
    line.close()


def test_unknown_host_key_makes_a_dead_letter_at_once_with_the_reason(tmp_path: Path, sshd: Sshd) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    line = sftp_line(tmp_path, sshd, known_hosts=str(empty))
    line.ingest(hl7_visit(i) for i in range(3))
    line.cut()
    result = line.dispatcher.run_once()
    assert result.dead == 1 and result.retried == 0
    (row,) = line.store.outbox_list()
    assert row.status == "dead" and row.attempts == 1 and "not in" in (row.last_error or "")
    assert sshd.files("claims") == {} and empty.read_text() == ""
    line.close()


def test_responses_folder_is_fetched_into_the_journal_raw_for_the_workers(tmp_path: Path, sshd: Sshd) -> None:
    ack = b"ISA*00*          *00*          *ZZ*EXCLEAR01      *ZZ*EXBILL01       *261127*1000*^*00501*000000042*0*T*:~"
    (sshd.root / "responses" / "999-0001.x12").write_bytes(ack)
    (sshd.root / "responses" / ".upload.part").write_bytes(b"incomplete")
    line = sftp_line(tmp_path, sshd, responses_path=str(sshd.root / "responses"))
    assert line.dispatcher.fetch_responses(force=True) == 1
    assert line.dispatcher.fetch_responses(force=True) == 0  # known by name and size: not fetched again
    with line.store.read() as cur:
        cur.execute("SELECT id, status, format, name, source FROM messages")
        ((mid, status, fmt, name, source),) = cur.fetchall()
    assert (status, fmt, name, source) == (RESPONSE_STATUS, RESPONSE_FORMAT, "999-0001.x12", "responses:claims-out")
    assert line.store.raw(mid) == ack
    assert line.worker.run_once() == 1  # the workers read and post responses
    (row,) = line.store.list_messages(MessageFilter())
    assert row.status == "quarantined" and [f["rule"] for f in row.findings] == ["GW-FORMAT"]  # a bare ISA
    line.close()
    deleting = sftp_line(tmp_path / "2", sshd, responses_path=str(sshd.root / "responses"), responses_after="delete")
    assert deleting.dispatcher.fetch_responses(force=True) == 1
    assert not (sshd.root / "responses" / "999-0001.x12").exists()
    deleting.close()


def test_gateway_run_delivers_dropped_hl7_files_to_sftp(tmp_path: Path, sshd: Sshd) -> None:
    config = deployment(
        tmp_path / "dep",
        destinations={"claims-out": sshd.destination("claims")},
        delivery={"batch_max_age_s": 0.3},
        sources={"riverside": [{"type": "folder", "path": "inbound", "settle": 0.05}]},
    )
    inbound = config.parent / "inbound"
    inbound.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "run", "--config", str(config), "--workers", "0"],
        cwd=REPO, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        for i in range(20):
            tmp = inbound / f".visit-{i}.tmp"
            tmp.write_bytes(hl7_visit(i))
            tmp.rename(inbound / f"visit-{i}.hl7")
        deadline = time.monotonic() + 30
        clm01: Counter[str] = Counter()
        while time.monotonic() < deadline and sum(clm01.values()) < 20:
            time.sleep(0.2)
            clm01 = Counter(c.claim_id for d in sshd.files("claims").values() for c in read_837(d).claims)
        assert sum(clm01.values()) == 20 and max(clm01.values()) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"outbox.delivered" in err and b"batch.cut" in err
