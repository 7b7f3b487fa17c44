"""Issue 17 item 4b: routing by default. With one clinic, a message whose
sender that clinic does not list goes to it only when it lists no senders
or says ``accept_any_sender: true``; otherwise it is quarantined GW-ROUTE,
in the pipeline and in a real `gateway process` run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gateway.app import Gateway
from gateway.cli import cli
from gateway.config import ConfigError, read_config
from gateway.messages import MemoryRecords, MessageMeta
from tests.conftest import FIXTURES, TODAY

DFT = (FIXTURES / "hl7v2" / "dft_p03_v25_cpt_modifiers.hl7").read_bytes()  # MSH-4 RIVERSIDE
OTHER_FEED = DFT.replace(b"|RIVERSIDE|GATEWAY|", b"|NORTHGATE|GATEWAY|")


def one_clinic(config: Path, **changes) -> Gateway:
    data = yaml.safe_load(config.read_text())
    data["clinics"] = data["clinics"][:1]
    data["clinics"][0].update(changes)
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return Gateway.from_config(config)


def routed(gw: Gateway, raw: bytes) -> tuple[str | None, list[str]]:
    result = gw.pipeline.process(raw, MessageMeta(source="test", today=TODAY), MemoryRecords())
    return result.clinic_id, [f.rule for f in result.findings if f.is_error]


def test_a_second_feed_is_not_billed_under_the_only_clinic(example_config: Path) -> None:
    gw = one_clinic(example_config)  # riverside lists senders: [RIVERSIDE]
    assert routed(gw, DFT)[0] == "riverside"
    clinic, errors = routed(gw, OTHER_FEED)
    assert clinic is None and errors == ["GW-ROUTE"]


def test_the_only_clinic_takes_any_sender_when_it_lists_none_or_says_so(example_config: Path) -> None:
    assert routed(one_clinic(example_config, accept_any_sender=True), OTHER_FEED)[0] == "riverside"
    assert routed(one_clinic(example_config, senders=[], accept_any_sender=False), OTHER_FEED)[0] == "riverside"


def test_accept_any_sender_is_refused_with_several_clinics(example_config: Path) -> None:
    data = yaml.safe_load(example_config.read_text())
    data["clinics"][1]["accept_any_sender"] = True
    example_config.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as exc:
        read_config(example_config)
    (problem,) = exc.value.problems
    assert "clinics[1].accept_any_sender" in problem and "one clinic" in problem
    data["clinics"][1]["accept_any_sender"] = "maybe"
    example_config.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match="accept_any_sender"):
        read_config(example_config)


def test_gateway_process_quarantines_the_other_feed(example_config: Path, tmp_path: Path) -> None:
    one_clinic(example_config)
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "other.hl7").write_bytes(OTHER_FEED)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["process", "--config", str(example_config), "--out", str(out), str(inputs)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "quarantine" / "in" / "other.hl7.findings.json").read_text())
    assert [f["rule"] for f in report["message_findings"]] == ["GW-ROUTE"]
    assert not (out / "claims-out").exists()
