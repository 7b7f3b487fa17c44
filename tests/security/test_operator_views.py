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
    assert "claims: 1 (claimed)" in plain and "--identifiers" in plain
    assert json.loads(runner.invoke(cli, show + ["--json"]).output)["identifiers_hidden"] is True
    shown = runner.invoke(cli, show + ["--identifiers"]).output
    assert "visit V10001" in shown and "claims: V10001" in shown and "TESTPATIENT-ALPHA.json" in shown
    trail = json.loads(runner.invoke(cli, show + ["--json"]).output)["audit"]
    assert [a["action"] for a in trail].count("viewed-identifiers") == 1
    assert trail[-1]["actor"].startswith("cli")
