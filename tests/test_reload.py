"""The operator loop on a running daemon (two worker processes), no restart:
a message quarantined for an unmapped local code shows its encounter-level
rule in `messages list` and is found by `--rule`; a bad config fix is refused
by `gateway reload` and by SIGHUP while the old config runs on; the real fix
is reloaded and `messages reprocess --rule --clinic` (after a dry-run count)
bills it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from gateway.cli import cli
from gateway.store import SQLiteStore
from gateway.store.users import Accounts
from tests.conftest import free_port
from tests.daemon_helpers import FIXTURES, deployment

GATEWAY = [sys.executable, "-c", "from gateway.cli import main; main()"]
GOOD_ROW = "WART-FREEZE,17110,,Wart destruction,150.00,0510,\n"
BAD_ROW = "WART-FREEZE,17110,,Wart destruction,abc,0510,\n"


def unmapped_visit() -> bytes:
    """Riverside's local-codes visit with a charge code its charge master lacks."""
    return (FIXTURES / "encounters" / "riverside-local-codes.json").read_bytes().replace(b'"INJ-B12"', b'"WART-FREEZE"')


def wait(predicate, timeout: float = 40.0, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def listed(config: Path, *args: str) -> list[dict]:
    out = CliRunner().invoke(cli, ["messages", "list", "--config", str(config), "--json", *args])
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def test_fix_reload_reprocess_without_a_restart(tmp_path: Path) -> None:
    folder = {"type": "folder", "path": "inbound", "settle": 0.05}
    config = deployment(tmp_path / "d", {"riverside": [folder]})
    chargemaster = config.parent / "chargemaster.csv"
    original = chargemaster.read_text()
    (config.parent / "inbound").mkdir()
    cmd = [*GATEWAY, "run", "--config", str(config), "--workers", "2", "--http", f"127.0.0.1:{free_port()}",
           "--no-delivery"]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    runner = CliRunner()
    try:
        (config.parent / "inbound" / "visit.json").write_bytes(unmapped_visit())
        (msg,) = wait(lambda: listed(config, "--status", "quarantined"), what="the quarantined message")
        assert "CM-UNKNOWN" in msg["rules"]  # encounter-level rule ids are listed
        assert [m["id"] for m in listed(config, "--rule", "CM-UNKNOWN")] == [msg["id"]]
        assert listed(config, "--rule", "SCRUB-NPI") == []
        table = runner.invoke(cli, ["messages", "list", "--config", str(config)]).output
        assert "CM-UNKNOWN" in table.splitlines()[1]

        # a broken fix: refused with the file, line and key; the running config stays
        chargemaster.write_text(original + BAD_ROW)
        bad = runner.invoke(cli, ["reload", "--config", str(config)])
        assert bad.exit_code == 2 and "chargemaster.csv:15: unit_price for WART-FREEZE" in bad.output
        proc.send_signal(signal.SIGHUP)
        wait(lambda: _audit_actions(config).count("config-reload-refused") == 2, what="the refused SIGHUP reload")
        assert proc.poll() is None

        # the real fix, announced by `gateway reload`
        chargemaster.write_text(original + GOOD_ROW)
        ok = runner.invoke(cli, ["reload", "--config", str(config)])
        assert ok.exit_code == 0 and "config generation 1" in ok.output, ok.output
        dry = runner.invoke(cli, ["messages", "reprocess", "--config", str(config), "--rule", "CM-UNKNOWN",
                                  "--clinic", "riverside", "--dry-run"])  # fmt: skip
        assert "would reprocess 1 quarantined message(s)" in dry.output
        assert listed(config, "--status", "quarantined") == [msg]  # a dry run changes nothing
        done = runner.invoke(cli, ["messages", "reprocess", "--config", str(config), "--rule", "CM-UNKNOWN",
                                   "--clinic", "riverside"])  # fmt: skip
        assert "queued 1 message(s)" in done.output
        billed = wait(lambda: listed(config, "--status", "claimed"), what="the reprocessed message billed")
        assert billed[0]["id"] == msg["id"] and billed[0]["rules"] == []
        shown = json.loads(runner.invoke(cli, ["messages", "show", str(msg["id"]), "--config", str(config),
                                               "--json"]).output)  # fmt: skip
        assert [c["status"] for c in shown["encounters"][0]["claims"]] == ["created"]

        # SIGHUP with a good config: the daemon itself announces the next generation
        proc.send_signal(signal.SIGHUP)
        wait(lambda: _audit_actions(config).count("config_generation") == 2, what="the SIGHUP reload")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    events = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert names.count("config.reloaded") >= 2  # both worker processes picked up generation 1
    sighup = [e for e in events if e["event"] == "daemon.sighup"]
    assert [e["ok"] for e in sighup] == [False, True]
    assert "WART-FREEZE" not in err.decode()  # problems are audited, never logged with their text


def _audit_actions(config: Path) -> list[str]:
    store = SQLiteStore(config.parent / "state" / "gateway.sqlite")
    try:
        rows = Accounts(store).audit_rows(limit=200)
    finally:
        store.close()
    return [r.action for r in rows]


def test_reload_refuses_a_bad_config_and_records_who(tmp_path: Path) -> None:
    config = deployment(tmp_path / "d", {})
    runner = CliRunner()
    assert runner.invoke(cli, ["reload", "--config", str(config)]).exit_code == 0
    text = config.read_text()
    assert "1234567893" in text
    config.write_text(text.replace("1234567893", "1234567890"))
    bad = runner.invoke(cli, ["reload", "--config", str(config)])
    assert bad.exit_code == 2 and "billing_provider.npi" in bad.output  # (its store cannot be named: not audited)
    config.write_text(text)
    chargemaster = config.parent / "chargemaster.csv"
    chargemaster.write_text(chargemaster.read_text() + BAD_ROW)
    bad = runner.invoke(cli, ["reload", "--config", str(config)])
    assert bad.exit_code == 2 and "unit_price for WART-FREEZE" in bad.output
    store = SQLiteStore(config.parent / "state" / "gateway.sqlite")
    try:
        rows = Accounts(store).audit_rows(limit=5)
    finally:
        store.close()
    assert [r.action for r in rows] == ["config-reload-refused", "config_generation"]
    assert rows[1].detail["generation"] == 1 and rows[1].actor.startswith("cli:")
    assert "unit_price" in rows[0].detail["problems"][0]


def test_a_worker_started_on_a_broken_config_waits_for_a_good_one(tmp_path: Path) -> None:
    """Regression: a worker process (re)spawned while the operator's edit was
    broken crashed (exit 1, the problem's text in a traceback on stderr) and
    the daemon respawned it in a loop."""
    import multiprocessing
    from datetime import date

    from gateway.app import Gateway
    from gateway.daemon.journal import Journal
    from gateway.messages import MessageMeta
    from gateway.worker import WorkerSettings, worker_process

    config = deployment(tmp_path / "d", {})
    db = config.parent / "state" / "gateway.sqlite"
    store = SQLiteStore(db)
    chargemaster = config.parent / "chargemaster.csv"
    good = chargemaster.read_text()
    gw = Gateway.from_config(config)
    chargemaster.write_text(good + BAD_ROW)
    proc = multiprocessing.get_context("spawn").Process(
        target=worker_process, args=(config, str(db), 0, WorkerSettings(), "info")
    )
    proc.start()
    try:
        time.sleep(4)
        assert proc.is_alive()  # waiting, not crashed
        chargemaster.write_text(good + GOOD_ROW)
        journal = Journal(gw, store, store)  # journal only: the waiting process must do the work
        msg, _ = journal.prepare(unmapped_visit(), MessageMeta(source="test", today=date.today()), None)
        store.journal([msg])
        journal.close()
        wait(lambda: store.counts() == [("riverside", "claimed", 1)], what="the message processed by the worker")
    finally:
        proc.terminate()
        proc.join(30)
        store.close()
    assert proc.exitcode == 0
