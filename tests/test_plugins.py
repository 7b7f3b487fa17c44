"""Loading plugins: entry points, third-party distributions, isolation."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
import types
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


# -- the plugin API range (GATEWAY_API) and rule catalogues (RULES) ----------------


def test_plugin_for_another_api_is_refused_naming_plugin_its_range_and_ours(site: Path) -> None:
    from gateway import API_VERSION

    make_dist(site, "future-dist", {"future": "future_plugin"}, {"future_plugin": 'GATEWAY_API = ">=2.0,<3"\n'})
    make_dist(site, "fine-dist", {"fine": "fine_plugin"}, {"fine_plugin": 'GATEWAY_API = ">=1.0,<2"\n'})
    host = PluginHost()
    (refused,) = host.broken
    assert refused.name == "future" and refused.api == ">=2.0,<3"
    assert refused.error == (
        f"plugin future (distribution future-dist 0.1) refused: it supports gateway plugin API >=2.0,<3, "
        f"this gateway provides {API_VERSION}; install a release of it made for plugin API {API_VERSION}"
    )
    assert not host.pm.has_plugin("future")
    fine = next(i for i in host.infos if i.name == "fine")
    assert fine.error is None and fine.api == ">=1.0,<2" and host.pm.has_plugin("fine")

    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "plugins"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "NOT LOADED: plugin future (distribution future-dist 0.1) refused" in out
    assert "fine  [fine_plugin]  fine-dist 0.1  api >=1.0,<2" in out


@pytest.mark.parametrize(
    ("declared", "problem"),
    [
        ("1.0", "'1.0' is not a version range"),
        ("<1.0", "supports gateway plugin API <1.0, this gateway provides"),
        (2, "must be a version range string such as '>=1.0,<2', not int"),
    ],
)
def test_a_directly_registered_plugin_with_a_bad_range_is_a_startup_error(declared: object, problem: str) -> None:
    plugin = types.SimpleNamespace(__name__="ranged", GATEWAY_API=declared)
    with pytest.raises(PluginError, match=re.escape(problem)):
        PluginHost(extra=[("ranged", plugin)])


CATALOGUED = """
    from gateway import hookimpl
    from gateway.model import Severity
    from gateway.rules import Catalogue

    RULES = Catalogue("{name}", prefix="{prefix}")
    ONE = RULES.add("{prefix}-ONE", Severity.ERROR, "The first rule.")

    @hookimpl
    def gateway_payer_rules(claim, clinic, meta):
        return ONE.finding("seen")
"""


def test_rule_catalogues_of_loaded_plugins_are_collected_and_listed(site: Path) -> None:
    make_dist(site, "acme-dist", {"acme": "acme_rules"}, {"acme_rules": CATALOGUED.format(name="acme", prefix="ACME")})
    host = PluginHost()
    assert [r.id for r in host.catalogues["acme"]] == ["ACME-ONE"]
    assert {"scrubber", "payers_medicare_b", "chargemaster"} <= set(host.catalogues)
    assert next(i for i in host.infos if i.name == "acme").rules == 1

    env = {**os.environ, "PYTHONPATH": str(site)}
    rules = json.loads(
        subprocess.run(
            [sys.executable, "-m", "gateway.cli", "rules", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert {"id": "ACME-ONE", "severity": "error", "plugin": "acme", "description": "The first rule."} in rules
    assert {r["id"] for r in rules} >= {"SCRUB-TOTAL", "MB-MBI", "CM-UNKNOWN"}
    table = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "rules", "--markdown"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "| `ACME-ONE` | error | acme | The first rule. |" in table


def test_a_third_party_rule_with_a_reserved_prefix_is_refused(site: Path) -> None:
    make_dist(
        site, "sneaky", {"sneaky": "sneaky_rules"}, {"sneaky_rules": CATALOGUED.format(name="sneaky", prefix="SCRUB")}
    )
    host = PluginHost()
    (refused,) = host.broken
    assert refused.name == "sneaky" and "rule SCRUB-ONE uses the reserved prefix SCRUB-" in (refused.error or "")
    assert "sneaky" not in host.catalogues


def test_two_plugins_declaring_one_rule_id_name_both(site: Path) -> None:
    make_dist(site, "acme-a", {"acme_a": "acme_a"}, {"acme_a": CATALOGUED.format(name="acme_a", prefix="ACME")})
    make_dist(site, "acme-b", {"acme_b": "acme_b"}, {"acme_b": CATALOGUED.format(name="acme_b", prefix="ACME")})
    host = PluginHost()
    (refused,) = host.broken
    assert refused.name == "acme_b" and "rule ACME-ONE is also declared by plugin acme_a" in (refused.error or "")


def test_rules_attribute_must_be_a_catalogue() -> None:
    plugin = types.SimpleNamespace(__name__="odd", RULES={"X-1": "error"})
    with pytest.raises(PluginError, match=r"RULES must be a gateway\.rules\.Catalogue, not dict"):
        PluginHost(extra=[("odd", plugin)])


@pytest.mark.parametrize(
    ("rule_id", "prefix", "problem"),
    [
        ("acme-one", None, "not PREFIX-NAME"),
        ("ACME", None, "not PREFIX-NAME"),
        ("OTHER-ONE", "ACME", "its prefix ACME-"),
    ],
)
def test_catalogue_refuses_malformed_ids(rule_id: str, prefix: str | None, problem: str) -> None:
    from gateway.model import Severity
    from gateway.rules import Catalogue

    with pytest.raises(ValueError, match=problem):
        Catalogue("acme", prefix=prefix).add(rule_id, Severity.ERROR, "x")
