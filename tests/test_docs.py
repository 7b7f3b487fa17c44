"""docs/plugins.md stays true: every hook is documented with its exact
signature, and every example in it runs and registers as a plugin."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import types
from datetime import date
from decimal import Decimal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gateway import hookspecs
from gateway.app import Gateway
from gateway.messages import MemoryRecords, MessageMeta
from gateway.plugins import PluginHost
from tests.conftest import ROOT

PLUGINS_MD = (ROOT / "docs" / "plugins.md").read_text()
ALL_HOOKS = hookspecs.STARTUP_HOOKS + hookspecs.MESSAGE_HOOKS


def signature(name: str) -> str:
    return name + str(inspect.signature(getattr(hookspecs, name))).replace("'", "")


def test_hook_lists_cover_the_contract() -> None:
    defined = {n for n in dir(hookspecs) if n.startswith("gateway_")}
    assert defined == set(ALL_HOOKS)


@pytest.mark.parametrize("hook", ALL_HOOKS)
def test_every_hook_is_documented_with_its_signature(hook: str) -> None:
    assert f"### {hook}\n" in PLUGINS_MD
    assert f"`{signature(hook)}`" in PLUGINS_MD, signature(hook)


def example_modules() -> dict[str, types.ModuleType]:
    """Each ```python block of docs/plugins.md under a hook heading, executed."""
    modules = {}
    for section in re.split(r"^### ", PLUGINS_MD, flags=re.M)[1:]:
        section = section.split("\n## ", 1)[0]  # up to the next chapter
        name = section.split("\n", 1)[0].strip()
        for i, code in enumerate(re.findall(r"```python\n(.*?)```", section, flags=re.S)):
            mod = types.ModuleType(f"docs_example_{name}_{i}")
            exec(compile(code, f"docs/plugins.md:{name}", "exec"), mod.__dict__)
            modules[f"{name}_{i}"] = mod
    return modules


def test_every_example_registers_cleanly() -> None:
    modules = example_modules()
    documented = {k.rsplit("_", 1)[0] for k in modules}
    assert documented == set(ALL_HOOKS)
    host = PluginHost(extra=list(modules.items()))  # check_pending validates names and arguments
    for hook in ALL_HOOKS:
        assert any(i.plugin_name.startswith(hook) for i in host.impls(hook)), hook


ACME_MESSAGE = b"ACME1|RIVERSIDE|C-77|AV1|AM1|Examplar|Pat|2026-10-01|99213|80.00\n"


def example_gateway(config: Path) -> Gateway:
    text = config.read_text()
    text = text.replace("    format: x12-837p\n", "    format: claims-csv\n")
    text = text.replace(
        "destinations:\n", "destinations:\n  dry-run:\n    transport: discard\n    format: claims-json\n    label: x\n"
    )
    text = text.replace(
        "    claims_to: claims-out\n",
        "    claims_to: claims-out\n    sources: [{type: oneshot, text: hello}]\n"
        "    settings:\n      acme: {require_prior_auth: true}\n",
        1,
    )
    config.write_text(text)
    return Gateway.from_config(config, extra_plugins=list(example_modules().items()))


def test_examples_work_together_end_to_end(example_config: Path) -> None:
    gw = example_gateway(example_config)
    assert gw.clinics["riverside"].settings["acme"].require_prior_auth is True
    meta = MessageMeta(source="t", today=date(2026, 11, 27))
    result = gw.pipeline.process(ACME_MESSAGE, meta, MemoryRecords())
    assert result.envelope.format == "acme-flat" and result.envelope.dedup_key == "RIVERSIDE|C-77"
    (enc,) = result.encounters
    assert not enc.claims and enc.statements[0].total_due == Decimal("80.00")  # no coverage: self-pay

    encounter = {
        "id": "AV2",
        "patient": {"id": "AM2", "name": {"family": "Examplar"}},
        "coverages": [
            {
                "payer": {"id": "ACME-OLD", "name": "Acme"},
                "subscriber": {"member_id": "BAD", "name": {"family": "Examplar"}},
            }
        ],
        "diagnoses": [{"code": "u07.1"}],
        "service_lines": [
            {"service_date": "2027-01-01", "procedure_code": "99213", "charge": "80.00", "diagnosis_pointers": [1]}
        ],
    }
    raw = json.dumps({"gateway_format": "encounters/1", "sender": "RIVERSIDE", "encounters": [encounter]}).encode()
    (enc,) = gw.pipeline.process(raw, meta, MemoryRecords()).encounters
    rules = {(f.rule, f.severity.value) for f in enc.findings}
    assert {
        ("ACME-PAYER-RENAMED", "info"),
        ("ACME-DX-EMERGENCY", "warning"),
        ("ACME-FUTURE-DATE", "error"),
        ("ACME-MEMBER-ID", "error"),
    } <= rules
    assert enc.encounter.diagnoses[0].code == "U071" and enc.quarantined


def test_renderer_transport_and_command_examples(example_config: Path, tmp_path: Path) -> None:
    gw = example_gateway(example_config)
    renderer = gw.renderer("claims-out")
    assert renderer.name == "claims-csv"
    with gw.transport("dry-run") as t:
        from gateway.documents import Document

        assert t.deliver(Document("a", b"x", "text/plain", "claims", "riverside")).location == "discard:a"
    group = click.Group()
    mod = next(m for k, m in example_modules().items() if k.startswith("gateway_register_commands"))
    mod.gateway_register_commands(group)
    assert CliRunner().invoke(group, ["acme-hello"]).output == "hello from acme\n"


def test_every_built_in_plugin_is_in_the_table() -> None:
    from importlib.metadata import entry_points

    built_in = {ep.name for ep in entry_points(group="gateway.plugins") if ep.value.startswith("gateway_plugins.")}
    table = PLUGINS_MD.split("## The built-in plugins", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z0-9_]+)` \|", table, flags=re.M))
    assert built_in == listed, f"undocumented: {built_in - listed}; gone: {listed - built_in}"


def test_configuration_doc_names_every_core_key() -> None:
    from gateway.config import BillingProviderConfig, ClinicConfig, DeliveryConfig, GatewayConfig, PartyConfig

    doc = (ROOT / "docs" / "configuration.md").read_text()
    for model in (GatewayConfig, ClinicConfig, DeliveryConfig, PartyConfig, BillingProviderConfig):
        missing = [name for name in model.model_fields if f"`{name}`" not in doc and f"{name}:" not in doc]
        assert not missing, f"docs/configuration.md does not mention {model.__name__} keys {missing}"


def test_walk_through_code_is_the_acme_example() -> None:
    """Every block of the walk-through that names a file of docs/examples/acme is an
    excerpt of it, verbatim (the example itself is installed and tested by
    tests/test_acme_example.py), and together they show the rules, settings, hooks and tests."""
    blocks = re.findall(r"```python\n# (docs/examples/acme/\S+)\n(.*?)```", PLUGINS_MD, flags=re.S)
    assert len(blocks) >= 6
    for name, code in blocks:
        assert code in (ROOT / name).read_text(), f"docs/plugins.md shows {name} differently"
    shown = "".join(code for _, code in blocks)
    for part in ('PRIOR_AUTH = RULES.add(', "class Settings(BaseModel):", "strict_auth: bool", "def gateway_payer_rules(",
                 "def test_an_hl7_dft_with_an_aut_segment("):  # fmt: skip
        assert part in shown, part


def test_quick_start_and_test_kit_examples_pass_as_a_plugin_package(tmp_path: Path) -> None:
    """The python blocks that start with a package file name comment (the kit
    example) written out as a package and run with pytest, not installed."""
    files = {}
    for code in re.findall(r"```python\n(# (?:src|tests)/\S+\.py\n.*?)```", PLUGINS_MD, flags=re.S):
        name = code.split("\n", 1)[0][2:]
        files[name] = code
    assert set(files) == {"tests/test_kit_example.py"}
    for name, code in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(code)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["PYTHONPATH"] = str(tmp_path / "src")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "tests")],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout
