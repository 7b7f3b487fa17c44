"""The `gateway` command line: the surface other checks rely on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from gateway.cli import EXIT_QUARANTINED, cli
from tests.conftest import FIXTURES


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_help_lists_the_contract_commands() -> None:
    out = invoke("--help").output
    for cmd in ("demo", "init", "process", "inspect", "plugins", "check-config"):
        assert cmd in out


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "demo", "--out", str(out)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["claims"] >= 1 and summary["statements"] >= 1
    for dest, name in summary["outputs"]:
        assert (out / dest / name).is_file()
    assert "summary" in result.stdout and "quarantined, by rule" in result.stdout
    assert (out / "deployment" / "gateway.yaml").is_file()


def test_init_writes_a_deployment_that_checks_out(tmp_path: Path) -> None:
    target = tmp_path / "mydeploy"
    assert invoke("init", str(target)).exit_code == 0
    check = invoke("check-config", str(target / "gateway.yaml"))
    assert check.exit_code == 0 and "OK" in check.output
    again = CliRunner().invoke(cli, ["init", str(target)])
    assert again.exit_code != 0 and "exists" in again.output


def test_process_writes_outputs_and_reports(tmp_path: Path) -> None:
    target = tmp_path / "deploy"
    invoke("init", str(target))
    out = tmp_path / "out"
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("riverside-insured.json", "lakeside-selfpay.json", "riverside-missing-charge.json"):
        shutil.copy(FIXTURES / "encounters" / name, inputs / name)
    shutil.copy(FIXTURES / "encounters" / "riverside-insured.json", inputs / "resent-copy.json")
    cfg = str(target / "gateway.yaml")
    result = invoke("process", "--config", cfg, "--out", str(out), "--today", "2026-11-27", str(inputs))
    assert result.exit_code == 0, result.output
    assert re.search(r"already processed, skipped\s+1\n", result.output)  # resent-copy.json: the same bytes
    assert "GW-LINE-CHARGE" in result.output  # reasons grouped by rule id
    path = out / "quarantine" / "in" / "riverside-missing-charge.json.findings.json"
    report = json.loads(path.read_text())
    assert report["encounters"][0]["findings"][0]["rule"] == "GW-LINE-CHARGE"
    assert path.stat().st_mode & 0o077 == 0
    strict = CliRunner().invoke(
        cli, ["process", "--config", cfg, "--out", str(tmp_path / "o2"), "--strict", str(inputs)]
    )
    assert strict.exit_code == EXIT_QUARANTINED


def test_process_clinic_option_is_checked(tmp_path: Path) -> None:
    invoke("init", str(tmp_path / "d"))
    r = CliRunner().invoke(
        cli, ["process", "--config", str(tmp_path / "d" / "gateway.yaml"), "--out", str(tmp_path / "o"),
              "--clinic", "nosuch", str(FIXTURES / "encounters")]
    )  # fmt: skip
    assert r.exit_code == 2 and "no clinic 'nosuch'" in r.output


def test_inspect_prints_what_was_understood() -> None:
    result = invoke("inspect", "--today", "2026-11-27", str(FIXTURES / "encounters" / "riverside-missing-charge.json"))
    (item,) = json.loads(result.output)
    assert item["format"] == "gateway-json" and item["clinic"] == "riverside"
    bad, good = item["encounters"]
    assert bad["quarantined"] and bad["findings"][0]["rule"] == "GW-LINE-CHARGE"
    assert good["claims"][0]["id"] == "V10003" and good["claims"][0]["total_charge"] == "90.00"


def test_inspect_unrecognised_file(tmp_path: Path) -> None:
    f = tmp_path / "x.txt"
    f.write_text("hello")
    (item,) = json.loads(invoke("inspect", str(f)).output)
    assert item["quarantined"] and item["findings"][0]["rule"] == "GW-FORMAT"


def test_plugins_command_json() -> None:
    listed = {p["name"]: p for p in json.loads(invoke("plugins", "--json").output)}
    assert "gateway_register_transports" in listed["folder"]["hooks"]
    assert listed["canonical_json"]["version"]


def test_readme_commands_exist() -> None:
    """Every `gateway <command>` the README's table names is a real command."""
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    named = set(re.findall(r"^\| `gateway ([a-z-]+)", readme, flags=re.M))
    named |= set(re.findall(r"`gateway (status|messages)", readme))
    assert {"demo", "init", "process", "inspect", "plugins", "check-config", "validate", "run"} <= named
    ctx = click.Context(cli)
    for command in named:
        assert cli.get_command(ctx, command) is not None, f"README names `gateway {command}`, which does not exist"
