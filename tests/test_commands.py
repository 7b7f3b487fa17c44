"""The command line: lazy commands from the built-in table and the
gateway.commands entry-point group, one error handler, named exit codes."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gateway.cli import cli
from gateway.commands import BUILT_IN, Exit, GatewayGroup, handle_error
from tests.conftest import ROOT


def test_every_built_in_command_loads_under_its_name() -> None:
    ctx = click.Context(cli)
    for name, spec in BUILT_IN.items():
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command), spec.target
        assert command.name == name and spec.help and spec.section


def test_help_lists_every_command_by_concern_and_the_exit_codes() -> None:
    out = CliRunner().invoke(cli, ["--help"]).output
    for name in [*BUILT_IN, "validate", "dev"]:
        assert re.search(rf"^  {re.escape(name)}\s", out, re.M), name
    for section in ("Getting started:", "One-shot processing:", "The service:", "Commands from plugins:"):
        assert section in out
    for code in Exit:
        assert re.search(rf"^\s+{int(code)}\s+", out, re.M), code


def test_readme_documents_every_exit_code() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Exit codes", 1)[1].split("\n\n")[2]
    rows = re.findall(r"^\| (\d+) \| `([A-Z]+)` \|", table, re.M)
    assert rows == [(str(int(c)), c.name) for c in Exit]


PLUGIN_CLI = '''
import click


@click.command("acme-hello")
@click.option("--name", default="world")
def hello(name):
    """Say hello from Acme. More text that --help does not show."""
    click.echo(f"hello {name} from acme")


def register(group):
    @group.command("acme-two")
    def two():
        """Second command."""
        click.echo("two")

    @group.command("acme-boom")
    def boom():
        """Fail in an unexpected way."""
        raise RuntimeError("patient Jane Testperson")
'''


def _dist(site: Path, entry_points: str) -> Path:
    info = site / "acme_cmds-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-cmds\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[gateway.commands]\n" + textwrap.dedent(entry_points))
    (site / "acme_cli.py").write_text(PLUGIN_CLI)
    return site


def _gateway(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = f"import sys; sys.argv = ['gateway', *{list(args)!r}]; from gateway.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_entry_point_commands_load_lazily_and_errors_are_handled(tmp_path: Path) -> None:
    site = _dist(tmp_path / "site", """\
        acme-hello = acme_cli:hello
        acme-two = acme_cli:register
        acme-boom = acme_cli:register
        acme-broken = acme_missing:cmd
        run = acme_cli:hello
    """)  # fmt: skip
    out = _gateway(site, "--help")
    assert out.returncode == 0, out.stderr
    assert re.search(r"^  acme-hello\s+Say hello from Acme\.$", out.stdout, re.M)
    assert re.search(r"^  acme-two\s+", out.stdout, re.M) and "acme_cli" not in out.stderr
    assert "Run the gateway service" in out.stdout  # a built-in name wins over a plugin's

    hello = _gateway(site, "acme-hello", "--name", "Ann")
    assert (hello.returncode, hello.stdout) == (0, "hello Ann from acme\n")
    assert _gateway(site, "acme-two").stdout == "two\n"

    boom = _gateway(site, "acme-boom")
    assert boom.returncode == Exit.INTERNAL and "RuntimeError" in boom.stderr
    assert "Testperson" not in boom.stderr + boom.stdout and "Traceback" not in boom.stderr

    broken = _gateway(site, "acme-broken")
    assert broken.returncode == 2 and "command acme-broken (acme_missing:cmd) could not be loaded" in broken.stderr


def test_the_error_handler_names_configuration_problems(tmp_path: Path) -> None:
    bad = tmp_path / "gateway.yaml"
    bad.write_text("version: 1\nclinics: 3\n")
    result = CliRunner().invoke(cli, ["check-config", str(bad)])
    assert result.exit_code == Exit.CONFIG
    assert result.output.startswith("configuration errors:\n  ") and "clinics" in result.output


def test_gateway_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DEBUG", "1")
    with pytest.raises(KeyError):
        handle_error(KeyError("x"))


def test_old_style_registration_on_the_root_group_still_works() -> None:
    """``register(cli)`` modules (and the deprecated hook) add commands eagerly."""
    group = GatewayGroup(name="gateway")

    @group.command("old-style")
    def old() -> None:
        click.echo("old")

    assert CliRunner().invoke(group, ["old-style"]).output == "old\n"
    assert "old-style" in CliRunner().invoke(group, ["--help"]).output
