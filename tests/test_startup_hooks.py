"""Start-up hooks: settings sections, sources, commands, clinic loading —
and a meta-test that every hook of the contract has a test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from gateway import hookimpl, hookspecs
from gateway.app import Gateway
from gateway.config import ConfigError
from tests.conftest import ROOT


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: int = 3


class Src(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port: int


class StartupPlugin:
    def __init__(self, resources: dict | None = None, fail: Exception | None = None) -> None:
        self.resources = resources if resources is not None else {"startup_table": {"A": 1}}
        self.fail = fail
        self.loaded: list[str] = []

    @hookimpl
    def gateway_register_settings(self, register):
        register("startup", Settings)

    @hookimpl
    def gateway_register_sources(self, register):
        register("test-port", lambda settings, clinic_id, base_dir: (settings, clinic_id), Src)

    @hookimpl
    def gateway_load_clinic(self, clinic, base_dir):
        self.loaded.append(clinic.id)
        if self.fail:
            raise self.fail
        return self.resources


def with_clinic_block(config: Path, block: str) -> Path:
    text = config.read_text().replace("    claims_to: claims-out\n", "    claims_to: claims-out\n" + block, 1)
    config.write_text(text)
    return config


def test_settings_sections_are_validated_and_defaulted(example_config: Path) -> None:
    with_clinic_block(example_config, "    settings:\n      startup: {threshold: 7}\n")
    gw = Gateway.from_config(example_config, extra_plugins=[("startup", StartupPlugin())])
    assert gw.clinics["riverside"].settings["startup"].threshold == 7
    assert gw.clinics["lakeside"].settings["startup"].threshold == 3  # defaults for clinics without the section


def test_settings_errors_name_key_path(example_config: Path) -> None:
    with_clinic_block(example_config, "    settings:\n      startup: {treshold: 7}\n")
    with pytest.raises(ConfigError) as exc:
        Gateway.from_config(example_config, extra_plugins=[("startup", StartupPlugin())])
    assert "clinics[0].settings.startup.treshold: unknown key 'treshold' (did you mean 'threshold'?)" in str(exc.value)


def test_sources_are_validated_by_their_type(example_config: Path) -> None:
    with_clinic_block(
        example_config, "    sources:\n      - {type: test-port, port: 2575}\n      - {type: test-port, prot: 1}\n"
    )
    with pytest.raises(ConfigError) as exc:
        Gateway.from_config(example_config, extra_plugins=[("startup", StartupPlugin())])
    problems = exc.value.problems
    assert any("clinics[0].sources[1].prot: unknown key 'prot' (did you mean 'port'?)" in p for p in problems)
    assert not any("sources[0]" in p for p in problems)


def test_unknown_source_type(example_config: Path) -> None:
    with_clinic_block(example_config, "    sources:\n      - {type: tset-port, port: 1}\n")
    with pytest.raises(
        ConfigError,
        match=r"clinics\[0\].sources\[0\].type: unknown source type 'tset-port' \(did you mean 'test-port'\?\)",
    ):
        Gateway.from_config(example_config, extra_plugins=[("startup", StartupPlugin())])


def test_load_clinic_resources_reach_the_clinic(example_config: Path) -> None:
    plugin = StartupPlugin()
    gw = Gateway.from_config(example_config, extra_plugins=[("startup", plugin)])
    assert plugin.loaded == ["riverside", "lakeside"]
    assert gw.clinics["riverside"].resources["startup_table"] == {"A": 1}


def test_load_clinic_errors_are_config_errors_naming_the_plugin(example_config: Path) -> None:
    plugin = StartupPlugin(fail=ConfigError(["charge_master: row 3 has no code"]))
    with pytest.raises(ConfigError, match=r"clinics\[0\]: charge_master: row 3 has no code \(plugin startup\)"):
        Gateway.from_config(example_config, extra_plugins=[("startup", plugin)])
    crash = StartupPlugin(fail=OSError("disk gone"))
    with pytest.raises(ConfigError, match="plugin startup could not load mapping data"):
        Gateway.from_config(example_config, extra_plugins=[("startup", crash)])


def test_two_plugins_providing_one_resource_key(example_config: Path) -> None:
    class Same:
        @hookimpl
        def gateway_load_clinic(self, clinic, base_dir):
            return {"startup_table": {}}

    with pytest.raises(ConfigError, match="plugins both provide resources"):
        Gateway.from_config(example_config, extra_plugins=[("one", StartupPlugin()), ("two", Same())])


class ClaimsRenderer:
    name = "claims-json"
    kind = "claims"
    settings_model = None

    def render(self, items, ctx):
        return []


def test_renderer_names_are_unique(example_config: Path) -> None:
    from gateway.plugins import PluginError

    class Dup:
        @hookimpl
        def gateway_register_renderers(self, register):
            register(ClaimsRenderer())

    with pytest.raises(PluginError, match="renderer 'claims-json' is registered by two plugins"):
        Gateway.from_config(example_config, extra_plugins=[("dup", Dup())])


def test_renderer_kind_must_match_its_use(example_config: Path) -> None:
    example_config.write_text(
        example_config.read_text().replace("    statements_to: statements-out\n", "    statements_to: claims-out\n", 1)
    )
    with pytest.raises(
        ConfigError, match=r"clinics\[0\].statements_to: destination 'claims-out' renders claims, not statements"
    ):
        Gateway.from_config(example_config)


def test_renderer_format_settings_are_validated(example_config: Path) -> None:
    class Opts(BaseModel):
        model_config = ConfigDict(extra="forbid")
        usage: str = "T"

    class WithSettings(ClaimsRenderer):
        name = "with-settings"
        settings_model = Opts

    class Plugin:
        @hookimpl
        def gateway_register_renderers(self, register):
            register(WithSettings())

    text = example_config.read_text().replace(
        "    format: x12-837p\n", "    format: with-settings\n    format_settings: {usage: P}\n", 1
    )
    example_config.write_text(text)
    gw = Gateway.from_config(example_config, extra_plugins=[("ws", Plugin())])
    assert gw.format_settings["claims-out"].usage == "P"
    example_config.write_text(text.replace("{usage: P}", "{usag: P}"))
    with pytest.raises(ConfigError, match=r"destinations.claims-out.format_settings.usag: unknown key"):
        Gateway.from_config(example_config, extra_plugins=[("ws", Plugin())])


COMMAND_PLUGIN = """
import click
from gateway import hookimpl

@hookimpl
def gateway_register_commands(cli):
    @cli.command(name="hello-ext")
    def hello_ext():
        click.echo("hello from an external command")
"""


def test_plugins_add_cli_commands(tmp_path: Path) -> None:
    from tests.test_plugins import make_dist

    site = make_dist(tmp_path, "cmd-dist", {"cmdplug": "cmd_plugin"}, {"cmd_plugin": COMMAND_PLUGIN})
    out = subprocess.run(
        [sys.executable, "-c", "import sys; sys.argv=['gateway','hello-ext']; from gateway.cli import main; main()"],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "hello from an external command\n"


def test_every_hook_has_a_test() -> None:
    """Meta-test: each hook of the contract is exercised by some test module
    other than the docs check."""
    own = {"test_docs.py"}
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p.name not in own)
    missing = [h for h in hookspecs.STARTUP_HOOKS + hookspecs.MESSAGE_HOOKS if h not in sources]
    assert not missing, f"hooks without a test: {missing}"
