"""Plugins load lazily (issue 18): entry points and each plugin's hooks are
read from source at start, a module is imported when a hook of it is first
called; `gateway --help` imports no plugin and no heavy library. Not timed:
benchmarks/bench_startup.py measures the speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.app import Gateway
from gateway.cli import cli
from gateway.config import ConfigError
from gateway.examples import FIXTURES
from gateway.plugins import PluginError, PluginHost
from tests import test_plugins
from tests.test_plugins import make_dist

site = test_plugins.site  # the fixture: a folder on sys.path for fake distributions

HEAVY = ("fhir.resources", "lxml", "paramiko", "hl7apy", "fastapi", "fpdf", "pypdf")

RUNNER = """
import atexit, json, sys
out = sys.argv[1]
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=open(out, "w")))
sys.argv = ["gateway", *sys.argv[2:]]
from gateway.cli import main
main()
"""


def modules_after(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    out = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", RUNNER, str(out), *args], capture_output=True, text=True,
                          timeout=300, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return set(json.loads(out.read_text())), done.stdout


def test_help_imports_no_plugin_and_no_heavy_library(tmp_path: Path) -> None:
    loaded, text = modules_after(tmp_path, "--help")
    assert "Getting started:" in text and "Commands from plugins:" in text
    assert [m for m in HEAVY if m in loaded] == []
    assert "pydantic" not in loaded and "gateway.model" not in loaded
    plugin_modules = {m for m in loaded if m.startswith("gateway_plugins.")}
    assert all(sys.modules.get(m) is None or m.count(".") <= 2 for m in plugin_modules)
    assert "gateway_plugins.inbound.hl7v2" not in loaded and "gateway_plugins.transports.sftp" not in loaded


def test_inspecting_hl7_imports_neither_fhir_nor_xml_nor_outputs(tmp_path: Path) -> None:
    hl7 = FIXTURES / "hl7v2" / "dft_p03_v25_cpt_modifiers.hl7"
    loaded, text = modules_after(tmp_path, "inspect", str(hl7))
    assert json.loads(text)[0]["encounters"], "the HL7 file was understood"
    assert "gateway_plugins.inbound.hl7v2" in loaded
    assert "fhir.resources" not in loaded and "lxml" not in loaded
    # inspect renders and sends nothing: no transport or source plugin (nor asyncio) is imported
    outputs = (
        "transports.folder",
        "transports.sftp",
        "transports.smtp",
        "sources.folder",
        "sources.mllp",
        "sources.http",
    )
    assert [m for m in outputs if f"gateway_plugins.{m}" in loaded] == [] and "asyncio" not in loaded
    # every input is sniffed by x12_responses; its reader (and the 835 posting walk) only for X12
    assert "gateway_plugins.inbound.x12_responses.read" not in loaded and "gateway.posting" not in loaded


def test_outputs_are_checked_when_first_used_without_eager(example_config: Path) -> None:
    """`gateway inspect` (eager=False) does not check destinations or sources;
    the first use of one raises the problems `gateway check-config` reports."""
    text = example_config.read_text().replace("    path: outbox/claims\n", "    pth: outbox/claims\n", 1)
    example_config.write_text(text)
    with pytest.raises(ConfigError) as eager:
        Gateway.from_config(example_config)
    gw = Gateway.from_config(example_config, eager=False)
    assert "transports" not in gw.registries._tables, "no transport plugin read yet"
    with pytest.raises(ConfigError) as used:
        gw.transport("claims-out")
    assert used.value.problems == eager.value.problems
    assert any(
        "destinations.claims-out.pth: unknown key 'pth' (did you mean 'path'?)" in p for p in used.value.problems
    )
    hl7 = FIXTURES / "hl7v2" / "dft_p03_v25_cpt_modifiers.hl7"
    inspected = CliRunner().invoke(cli, ["inspect", "--config", str(example_config), str(hl7)])
    assert inspected.exit_code == 0, inspected.output
    checked = CliRunner().invoke(cli, ["check-config", str(example_config)])
    assert checked.exit_code == 2 and "unknown key 'pth'" in checked.output


def test_fhir_resources_load_when_a_fhir_input_arrives(tmp_path: Path) -> None:
    bundle = next((FIXTURES / "fhir").glob("*.json"))
    loaded, _text = modules_after(tmp_path, "inspect", str(bundle))
    assert "fhir.resources" in loaded


def test_built_in_plugins_register_without_being_imported() -> None:
    host = PluginHost()
    assert set(host.lazy) == {i.name for i in host.infos}, "every built-in is read from its source"
    hl7 = next(i for i in host.infos if i.name == "hl7v2")
    assert {"gateway_sniff", "gateway_parse", "gateway_load_clinic"} <= set(hl7.hooks)


def test_a_hook_call_imports_the_plugin_and_puts_its_real_function_in_place(site: Path) -> None:
    make_dist(site, "late-dist", {"late": "late_plugin"}, {"late_plugin": """
        from gateway import hookimpl
        IMPORTED = True

        @hookimpl(trylast=True)
        def gateway_sniff(raw, meta):
            return None
    """})  # fmt: skip
    host = PluginHost()
    assert "late_plugin" not in sys.modules and "late" in host.lazy
    impl = next(i for i in host.impls("gateway_sniff") if i.plugin_name == "late")
    assert impl.trylast and impl.argnames == ("raw", "meta")
    assert host.first_result("gateway_sniff", raw=b"x", meta=None) == (None, [])
    assert "late_plugin" in sys.modules
    assert impl.function is sys.modules["late_plugin"].gateway_sniff


def test_misspelt_hook_of_a_lazy_plugin_fails_at_start_without_importing_it(site: Path) -> None:
    make_dist(site, "typo-dist", {"typo": "typo_plugin"}, {"typo_plugin": """
        from gateway import hookimpl

        @hookimpl
        def gateway_map_encountr(encounter, clinic):
            return None
    """})  # fmt: skip
    with pytest.raises(PluginError, match="gateway_map_encountr"):
        PluginHost()
    assert "typo_plugin" not in sys.modules


def test_a_lazy_plugin_that_fails_to_import_is_skipped_and_named(site: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_dist(site, "bad-dist", {"bad": "bad_plugin"}, {"bad_plugin": """
        from gateway import hookimpl
        import not_installed_anywhere

        @hookimpl
        def gateway_sniff(raw, meta):
            return None
    """})  # fmt: skip
    host = PluginHost()
    assert host.failed == []  # not imported yet
    _envelope, problems = host.first_result("gateway_sniff", raw=b"nothing anyone reads", meta=None)
    assert problems == [] and [i.name for i in host.failed] == ["bad"]
    assert "ModuleNotFoundError" in (host.failed[0].error or "")
    (logged,) = [r for r in caplog.records if r.getMessage() == "plugin.not_loaded"]
    assert logged.plugin == "bad" and logged.levelname == "WARNING"  # type: ignore[attr-defined]

    listed = CliRunner().invoke(cli, ["plugins", "--json"])  # imports every plugin to say which cannot run
    assert listed.exit_code == 0, listed.output
    bad = next(p for p in json.loads(listed.output) if p["name"] == "bad")
    assert "failed to load: ModuleNotFoundError" in bad["error"]


def test_first_use_from_two_threads_loads_a_plugin_with_rules_once() -> None:
    """The journal and the sniffer thread both used x12_responses first: the
    second import saw the plugin's own catalogue and refused it ("rule X12-ISA
    is also declared by plugin x12_responses"), so every 999/277CA/835 in a
    watched folder was quarantined GW-FORMAT. One load per plugin, under a lock."""
    import threading

    host = PluginHost()
    lazy = host.lazy["x12_responses"]
    sys.modules.pop(lazy.module, None)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def first_use() -> None:
        start.wait()
        try:
            lazy.load()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and lazy.problem is None
    assert "x12_responses" in host.catalogues
    # a second first use (the same module loaded again) is not its own duplicate either
    assert host._loaded(lazy, sys.modules[lazy.module]) is None


def test_a_plugin_scan_is_kept_beside_its_pyc_and_read_again_while_the_file_is_unchanged(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start-up checks read each plugin's hooks from its source; that scan
    is kept (like a .pyc, keyed by the file's modification time and size) so a
    later start reads no source, and a changed file is read again."""
    from gateway import plugins

    make_dist(site, "kept-dist", {"kept": "kept_plugin"}, {"kept_plugin": """
        from gateway import hookimpl

        @hookimpl(trylast=True)
        def gateway_sniff(raw, meta):
            return None
    """})  # fmt: skip
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    plugins._scan_file.cache_clear()
    host = PluginHost()
    assert "gateway_sniff" in next(i for i in host.infos if i.name == "kept").hooks
    kept = plugins._scan_cache_path(str(site / "kept_plugin.py"))
    assert kept is not None and Path(kept).is_file()

    plugins._scan_file.cache_clear()
    with monkeypatch.context() as m:
        m.setattr(plugins.ast, "parse", lambda *_a, **_k: pytest.fail("the source was parsed again"))
        host = PluginHost()
    impl = next(i for i in host.impls("gateway_sniff") if i.plugin_name == "kept")
    assert impl.trylast and impl.argnames == ("raw", "meta") and "kept_plugin" not in sys.modules
    assert plugins.plugins_mentioning("gateway_sniff").count("kept") == 1

    # the file changes (a misspelt hook): read again, and the start-up check still fails
    source = site / "kept_plugin.py"
    source.write_text(source.read_text().replace("gateway_sniff", "gateway_snif"))
    plugins._scan_file.cache_clear()
    with pytest.raises(PluginError, match="gateway_snif"):
        PluginHost()
    assert "kept_plugin" not in sys.modules


def test_no_scan_is_kept_when_python_writes_no_bytecode(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway import plugins

    make_dist(site, "unkept-dist", {"unkept": "unkept_plugin"}, {"unkept_plugin": """
        from gateway import hookimpl

        @hookimpl
        def gateway_sniff(raw, meta):
            return None
    """})  # fmt: skip
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    plugins._scan_file.cache_clear()
    assert "unkept" in PluginHost().lazy
    kept = plugins._scan_cache_path(str(site / "unkept_plugin.py"))
    assert kept is not None and not Path(kept).exists()
