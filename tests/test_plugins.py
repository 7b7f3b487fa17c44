"""Loading plugins: entry points, third-party distributions, isolation."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.plugins import PluginError, PluginHost

BUILT_INS = {"canonical_json", "folder"}


def make_dist(site: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> Path:
    """A minimal installed distribution: <dist>-0.1.dist-info + modules."""
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    eps = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[gateway.plugins]\n{eps}\n")
    for name, code in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(code))
    return site


EXTERNAL_PLUGIN = """
    from gateway import hookimpl
    from gateway.model import Finding, Severity

    @hookimpl
    def gateway_map_encounter(encounter, clinic):
        encounter.extensions["touched_by"] = "acme"
        return Finding(severity=Severity.INFO, rule="ACME-1", message="acme saw an encounter")
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "site"
    d.mkdir()
    monkeypatch.syspath_prepend(str(d))
    importlib.invalidate_caches()
    return d


def test_built_ins_load_through_the_entry_point_group() -> None:
    host = PluginHost()
    infos = {i.name: i for i in host.infos}
    assert BUILT_INS <= set(infos)
    for name in BUILT_INS:
        assert infos[name].distribution == "billing-gateway"
        assert infos[name].module.startswith("gateway_plugins.")
        assert infos[name].hooks


def test_third_party_distribution_is_listed_and_called(site: Path, example_config: Path) -> None:
    make_dist(site, "acme-gateway-plugin", {"acme": "acme_plugin"}, {"acme_plugin": EXTERNAL_PLUGIN})
    gw = Gateway.from_config(example_config)
    info = next(i for i in gw.host.infos if i.name == "acme")
    assert (info.distribution, info.version, info.hooks) == ("acme-gateway-plugin", "0.1", ["gateway_map_encounter"])
    from gateway.messages import MemoryRecords, MessageMeta
    from tests.conftest import FIXTURES, TODAY

    raw = (FIXTURES / "encounters" / "riverside-insured.json").read_bytes()
    result = gw.pipeline.process(raw, MessageMeta(source="test", today=TODAY), MemoryRecords())
    enc = result.encounters[0]
    assert enc.encounter.extensions["touched_by"] == "acme"
    assert any(f.rule == "ACME-1" and f.plugin == "acme" for f in enc.findings)


def test_gateway_plugins_command_lists_third_party(site: Path) -> None:
    make_dist(site, "acme-gateway-plugin", {"acme": "acme_plugin"}, {"acme_plugin": EXTERNAL_PLUGIN})
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "plugins", "--json"], env=env, capture_output=True, text=True, check=True
    )
    listed = {p["name"]: p for p in json.loads(out.stdout)}
    assert BUILT_INS | {"acme"} <= set(listed)
    assert listed["acme"]["distribution"] == "acme-gateway-plugin"
    table = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "plugins"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "acme  [acme_plugin]  acme-gateway-plugin 0.1" in table


def test_broken_plugin_is_named_and_isolated(site: Path) -> None:
    make_dist(site, "broken-dist", {"broken": "broken_plugin"}, {"broken_plugin": "raise ImportError('no such dep')\n"})
    host = PluginHost()
    (broken,) = host.broken
    assert broken.name == "broken" and "ImportError" in (broken.error or "")
    assert BUILT_INS <= {i.name for i in host.infos if not i.error}


def test_broken_plugin_can_be_switched_off(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_dist(site, "broken-dist", {"broken": "broken_plugin"}, {"broken_plugin": "raise ImportError('x')\n"})
    monkeypatch.setenv("GATEWAY_DISABLE_PLUGINS", "broken")
    host = PluginHost()
    assert not host.broken and "broken" not in {i.name for i in host.infos}


def test_two_distributions_with_one_plugin_name_fail_naming_both(site: Path) -> None:
    make_dist(site, "dup-one", {"dupe": "dup_one"}, {"dup_one": ""})
    make_dist(site, "dup-two", {"dupe": "dup_two"}, {"dup_two": ""})
    with pytest.raises(
        PluginError,
        match=r"two plugins are named 'dupe': dup_one \(distribution dup-one\) and dup_two \(distribution dup-two\)",
    ):
        PluginHost()


def test_misspelt_hook_is_a_startup_error() -> None:
    class Typo:
        from gateway import hookimpl

        @hookimpl
        def gateway_map_encountr(self, encounter, clinic):  # misspelt on purpose
            return None

    with pytest.raises(PluginError, match="gateway_map_encountr"):
        PluginHost(extra=[("typo", Typo())])


def test_duplicate_transport_name_names_both_plugins(example_config: Path) -> None:
    from gateway_plugins.transports.folder import FolderSettings, folder_transport

    from gateway import hookimpl

    class Another:
        @hookimpl
        def gateway_register_transports(self, register):
            register("folder", folder_transport, FolderSettings)

    with pytest.raises(PluginError, match="transport 'folder' is registered by two plugins") as exc:
        Gateway.from_config(example_config, extra_plugins=[("another", Another())])
    assert {"folder", "another"} <= set(str(exc.value).replace(":", " ").split())


def test_wrappers_are_refused_on_gateway_hooks() -> None:
    from gateway import hookimpl

    class Wrapper:
        @hookimpl(wrapper=True)
        def gateway_scrub_claim(self, claim, clinic, meta):
            return (yield)

    with pytest.raises(PluginError, match="wrappers are not supported"):
        PluginHost(extra=[("wrapper", Wrapper())])


GENERATOR_PLUGIN = """
    from gateway import hookimpl
    from gateway.model import Finding, Severity

    @hookimpl
    def gateway_scrub_claim(claim, clinic, meta):
        yield Finding(severity=Severity.INFO, rule="GEN-1", message="first finding")
        raise ValueError("member " + claim.coverage.subscriber.member_id + " is bad")  # text must not leak
"""


def test_generator_hook_raising_while_consumed_is_a_finding_naming_plugin_and_hook(
    site: Path, example_config: Path, tmp_path: Path
) -> None:
    make_dist(site, "gen-dist", {"gen": "gen_plugin"}, {"gen_plugin": GENERATOR_PLUGIN})
    from gateway.messages import MemoryRecords, MessageMeta
    from tests.conftest import FIXTURES, TODAY

    raw = (FIXTURES / "encounters" / "riverside-insured.json").read_bytes()
    gw = Gateway.from_config(example_config)
    (enc,) = gw.pipeline.process(raw, MessageMeta(source="test", today=TODAY), MemoryRecords()).encounters
    (error,) = [f for f in enc.findings if f.is_error]
    assert (error.rule, error.plugin) == ("GW-PLUGIN-ERROR", "gen")
    assert "gateway_scrub_claim" in error.message and "ValueError" in error.message
    assert "XHP" not in error.message and enc.quarantined
    assert any(f.rule == "GEN-1" and f.plugin == "gen" for f in enc.findings)  # what it yielded before is kept

    # `gateway process` reports it as a quarantine reason instead of dying with a traceback
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "process", "--config", str(example_config), "--out", str(out),
         "--today", TODAY.isoformat(), str(FIXTURES / "encounters" / "riverside-insured.json")],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "GW-PLUGIN-ERROR" in proc.stdout
    (report,) = (out / "quarantine").iterdir()
    assert '"plugin": "gen"' in report.read_text() and "XHP" not in report.read_text()
