"""Issue 17 items 11 and 12: what operator commands show and warn about.

`messages show` prints no visit number, claim id (CLM01 is made from the
visit number) or file name unless asked with --identifiers (or --raw /
--encounter), and asking is audited."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from gateway.cli import cli
from gateway.store import MessageFilter
from tests.daemon_helpers import FIXTURES, Harness, deployment
from tests.security.daemon import wait_for

INSURED = (FIXTURES / "encounters" / "riverside-insured.json").read_bytes()  # visit V10001 → CLM01 V10001


def test_messages_show_leaves_identifiers_out_unless_asked_and_audits_asking(tmp_path: Path) -> None:
    src = {"type": "folder", "path": "inbound", "settle": 0.05}
    config = deployment(tmp_path / "d", {"riverside": [src]})
    inbound = tmp_path / "d" / "inbound"
    inbound.mkdir()
    h = Harness(config, poll_max=0.02)
    try:
        (inbound / "TESTPATIENT-ALPHA.json").write_bytes(INSURED)
        wait_for(lambda: h.store.claim_count() == 1, what="claim built")
        (row,) = h.store.list_messages(MessageFilter())
    finally:
        h.close()
    runner = CliRunner()
    show = ["messages", "show", str(row.id), "--config", str(config)]
    for args in ([], ["--json"]):
        out = runner.invoke(cli, show + args).output
        assert "V10001" not in out and "TESTPATIENT" not in out, out
        assert "viewed" not in out
    plain = runner.invoke(cli, show).output
    assert "claims: 1 (created)" in plain and "--identifiers" in plain
    assert json.loads(runner.invoke(cli, [*show, "--json"]).output)["identifiers_hidden"] is True
    shown = runner.invoke(cli, [*show, "--identifiers"]).output
    assert "visit V10001" in shown and "claims: V10001" in shown and "TESTPATIENT-ALPHA.json" in shown
    trail = json.loads(runner.invoke(cli, [*show, "--json"]).output)["audit"]
    assert [a["action"] for a in trail].count("viewed-identifiers") == 1
    assert trail[-1]["actor"].startswith("cli")


def test_a_password_in_the_store_url_is_warned_about_and_never_echoed(example_config: Path) -> None:
    runner = CliRunner()
    url = "postgresql://gateway:S3cr3tPw@127.0.0.1:1/gateway"  # port 1: nothing listens, the command fails after
    result = runner.invoke(cli, ["status", "--config", str(example_config), "--store", url])
    assert "warning: --store carries a password" in result.output and "PGPASSFILE" in result.output
    assert "S3cr3tPw" not in result.output
    dsn = runner.invoke(cli, ["status", "--config", str(example_config), "--store", "host=x password=S3cr3tPw"])
    assert "carries a password" in dsn.output and "S3cr3tPw" not in dsn.output
    clean = runner.invoke(cli, ["status", "--config", str(example_config), "--store", "postgresql://gw@127.0.0.1:1/x"])
    assert "password" not in clean.output


def test_check_config_reports_secret_references_that_resolve_to_nothing(
    example_config: Path, monkeypatch, tmp_path: Path
) -> None:
    import yaml

    data = yaml.safe_load(example_config.read_text())
    data["destinations"]["sftp-out"] = {
        "transport": "sftp", "format": "x12-837p", "host": "127.0.0.1", "username": "gw",
        "known_hosts": "known_hosts", "password": "env:GW_TEST_SFTP_PASSWORD",
        "private_key": "id_ed25519", "private_key_passphrase": "file:secrets/passphrase",
    }  # fmt: skip
    example_config.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.delenv("GW_TEST_SFTP_PASSWORD", raising=False)
    runner = CliRunner()
    warned = runner.invoke(cli, ["check-config", str(example_config)])
    assert warned.exit_code == 0 and ": OK (" in warned.output
    lines = sorted(line for line in warned.output.splitlines() if line.startswith("warning:"))
    assert len(lines) == 2
    assert "destinations.sftp-out.password:" in lines[0] and "GW_TEST_SFTP_PASSWORD is not set" in lines[0]
    assert "destinations.sftp-out.private_key_passphrase:" in lines[1] and "cannot read file" in lines[1]
    strict = runner.invoke(cli, ["check-config", "--strict", str(example_config)])
    assert strict.exit_code == 2 and strict.output.count("error:") == 2 and ": OK (" not in strict.output
    monkeypatch.setenv("GW_TEST_SFTP_PASSWORD", "pw-value")
    (example_config.parent / "secrets").mkdir()
    (example_config.parent / "secrets" / "passphrase").write_text("phrase-value\n")
    ok = runner.invoke(cli, ["check-config", "--strict", str(example_config)])
    assert ok.exit_code == 0 and "warning" not in ok.output and "value" not in ok.output
