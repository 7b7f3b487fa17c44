"""The whole pipeline on the example deployment: HL7 v2 in, claims out;
settings per clinic; `gateway inspect` on HL7 files."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from gateway_plugins.inbound.hl7v2 import RESOURCE, FieldMap, Hl7v2Settings
from gateway_plugins.inbound.hl7v2.parse import sniff

from gateway.app import Gateway
from gateway.cli import cli
from gateway.config import ConfigError
from gateway.messages import MemoryRecords, MessageMeta

from .test_hl7v2_support import BAD, HL7_FIXTURES

TODAY = date(2026, 11, 27)


def process(gw: Gateway, name: str, records: MemoryRecords):
    meta = MessageMeta(source=f"file:{name}", today=TODAY, name=name)
    result = gw.pipeline.process((HL7_FIXTURES / name).read_bytes(), meta, records)
    if result.clinic_id:
        records.apply(result.clinic_id, result.updates)
    return result


def test_sniff_envelope() -> None:
    env = sniff((HL7_FIXTURES / "dft_p03_v251_vendor_repeats.hl7").read_bytes())
    assert (env.format, env.sender, env.control_id, env.message_type, env.version) == (
        "hl7v2",
        "RIVERSIDE",
        "RV-DFT-0010",
        "DFT^P03",
        "2.5.1",
    )
    assert env.extra["dedup_key"] == "EPICCARE^RIVERSIDE|RV-DFT-0010" and env.extra["sending_application"] == "EPICCARE"
    batch = sniff((HL7_FIXTURES / "batch_fhs_bhs_v25_two_dft.hl7").read_bytes())
    assert batch.control_id == "BATCH-0016" and batch.extra["messages"] == 2
    assert sniff(b'{"resourceType": "Bundle"}') is None and sniff(b"ISA*00*") is None


def test_dft_becomes_a_claim(example_gateway: Gateway) -> None:
    result = process(example_gateway, "dft_p03_v25_cpt_modifiers.hl7", MemoryRecords())
    assert result.clinic_id == "riverside" and not result.quarantined
    (enc,) = result.encounters
    assert not enc.quarantined, enc.findings
    (claim,) = enc.claims
    assert claim.payer.id == "EXPAYER1"  # IN1-3 EXHP rewritten by the payer directory
    assert claim.payer.source_id == "EXHP" and str(claim.total_charge) == "213.00"
    assert [ln.procedure_code for ln in claim.service_lines] == ["99214", "83036"]
    assert result.acknowledgement.startswith(b"MSH|") and b"MSA|AA|RV-DFT-0001" in result.acknowledgement


def test_adt_then_dft_fills_the_coverage(example_gateway: Gateway) -> None:
    records = MemoryRecords()
    adt = process(example_gateway, "adt_a04_v25_registration.hl7", records)
    assert adt.encounters == [] and {u.kind for u in adt.updates} == {"patient", "coverages", "guarantor"}
    dft = process(example_gateway, "dft_p03_v25_after_adt.hl7", records)
    (enc,) = dft.encounters
    (claim,) = enc.claims
    assert claim.coverage.subscriber.member_id == "BXT131313131" and claim.payer.id == "EXBCBS01"
    assert claim.patient.birth_date == date(1983, 3, 13)
    # the same DFT for a gateway that never saw the ADT is self-pay: a statement, no claim
    alone = process(example_gateway, "dft_p03_v25_after_adt.hl7", MemoryRecords())
    assert alone.encounters[0].claims == [] and alone.encounters[0].statements


def test_clinic_settings_field_map_and_strict(example_config: Path) -> None:
    (example_config.parent / "zft-map.yaml").write_text("charge:\n  modifiers: [ZFT-2]\n")
    data = yaml.safe_load(example_config.read_text())
    data["clinics"][0]["settings"]["hl7v2"] = {"field_map": "zft-map.yaml", "strict": True}
    example_config.write_text(yaml.safe_dump(data))
    gw = Gateway.from_config(example_config)
    settings = gw.clinics["riverside"].settings["hl7v2"]
    assert isinstance(settings, Hl7v2Settings) and settings.strict
    assert isinstance(gw.clinics["riverside"].resources[RESOURCE], FieldMap)
    result = process(gw, "dft_p03_v28_zsegments.hl7", MemoryRecords())
    # strict mode: hl7apy refuses the Z-segments inside a DFT^P03 structure
    assert [f.rule for f in result.findings if f.is_error] == ["HL7-STRICT"] and b"MSA|AE|" in result.acknowledgement
    settings_off = Hl7v2Settings(field_map="zft-map.yaml")
    gw.clinics["riverside"].settings["hl7v2"] = settings_off
    (enc,) = process(gw, "dft_p03_v28_zsegments.hl7", MemoryRecords()).encounters
    assert enc.encounter.service_lines[0].modifiers == ["26", "XS"]


def test_bad_field_map_is_a_start_up_error(example_config: Path) -> None:
    data = yaml.safe_load(example_config.read_text())
    data["clinics"][1]["settings"]["hl7v2"] = {"field_map": "nope.yaml", "stict": True}
    example_config.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        Gateway.from_config(example_config)
    assert "stict" in str(err.value)


def test_cli_inspect_shows_encounters_and_findings() -> None:
    runner = CliRunner()
    good = runner.invoke(cli, ["inspect", "--today", "2026-11-27", str(HL7_FIXTURES / "dft_p03_v25_units_cob.hl7")])
    assert good.exit_code == 0, good.output
    (item,) = json.loads(good.output)
    assert item["format"] == "hl7v2" and item["clinic"] == "riverside" and not item["quarantined"]
    enc = item["encounters"][0]["encounter"]
    assert [ln["procedure_code"] for ln in enc["service_lines"]] == ["90471", "80053"]
    bad = runner.invoke(cli, ["inspect", str(next(p for p in BAD if p.name == "ft1_amount_not_number.hl7"))])
    (item,) = json.loads(bad.output)
    assert item["quarantined"] and item["encounters"] == []
    assert [(f["rule"], f["location"]) for f in item["findings"] if f["severity"] == "error"] == [
        ("HL7-NUMBER", "FT1[2]-11")
    ]
