"""Code maps: other code systems → CPT/HCPCS, in the shared CSV format."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
from gateway_plugins.coding import codemaps
from gateway_plugins.coding.codemaps import load_code_map, load_code_maps, system_key

from gateway.app import Gateway
from gateway.config import Clinic, ConfigError
from gateway.model import Encounter, Patient, PersonName, ServiceLine

HEADER = "source_system,source_code,target_code,target_system,modifiers,comment\n"
SCT = "http://snomed.info/sct"


def enc(code: str, system: str | None = SCT, **more: object) -> Encounter:
    line = ServiceLine(
        service_date=date(2026, 10, 5), local_code=code, local_system=system, diagnosis_pointers=[1], **more
    )
    return Encounter(id="V1", patient=Patient(id="P1", name=PersonName(family="Fakename")), service_lines=[line])


@pytest.fixture
def clinic(example_gateway: Gateway) -> Clinic:
    return example_gateway.clinics["riverside"]


def write(tmp_path: Path, name: str, rows: str) -> Path:
    f = tmp_path / name
    f.write_text(HEADER + rows)
    return f


def test_system_uris_compare_loosely() -> None:
    assert system_key("https://Snomed.info/sct/") == system_key(SCT) == SCT
    assert system_key("urn:oid:2.16.840.1.113883.6.96") == "urn:oid:2.16.840.1.113883.6.96"


def test_mapped_line_gets_code_and_modifiers(clinic: Clinic) -> None:
    e = enc("STREP-RAPID", "http://example.org/riverside/lab-orders", modifiers=["59"])
    assert codemaps.gateway_map_encounter(e, clinic) == []
    line = e.service_lines[0]
    assert (line.procedure_code, line.code_system, line.modifiers) == ("87880", "CPT", ["QW", "59"])


def test_rule_fails_and_passes(clinic: Clinic) -> None:
    assert {r.id for r in codemaps.RULES} == {"MAP-UNMAPPED"}
    (f,) = codemaps.gateway_map_encounter(enc("999999999"), clinic)
    assert f.rule == "MAP-UNMAPPED" and f.is_error and "999999999" not in f.message
    assert codemaps.gateway_map_encounter(enc("86198006", "https://snomed.info/sct"), clinic) == []
    # lines with only a charge master code (no system) or a CPT code are not the code maps' business
    assert codemaps.gateway_map_encounter(enc("OV-EST-4", None), clinic) == []


def test_later_files_override_earlier_ones(tmp_path: Path) -> None:
    shared = write(tmp_path, "shared.csv", f"{SCT},185349003,99213,CPT,,\n{SCT},86198006,90686,CPT,,\n")
    local = write(tmp_path, "local.csv", f"{SCT},185349003,99214,CPT,25,clinic override\n")
    merged = load_code_maps([shared, local])
    assert merged[(SCT, "185349003")].code == "99214" and merged[(SCT, "185349003")].modifiers == ("25",)
    assert merged[(SCT, "86198006")].code == "90686"


def test_bad_rows_are_config_errors(tmp_path: Path) -> None:
    f = write(
        tmp_path,
        "bad.csv",
        f"{SCT},1,99213,CPT,,\n{SCT},1,99214,CPT,,\n{SCT},2,J3420,CPT,,\n{SCT},3,99213,LOINC,,\n{SCT},4,99213,CPT,ABC,\n",
    )
    with pytest.raises(ConfigError) as exc:
        load_code_map(f)
    text = str(exc.value)
    assert "bad.csv:3: source code 1 is mapped twice" in text
    assert "bad.csv:4: target_code for 2 is not a CPT code" in text
    assert "bad.csv:5: target_system must be CPT or HCPCS" in text
    assert "bad.csv:6: modifiers" in text


def test_code_maps_come_from_clinic_config(clinic: Clinic, example_gateway: Gateway) -> None:
    assert (SCT, "86198006") in clinic.resources["code_map"]
    assert "code_map" not in example_gateway.clinics["lakeside"].resources
    empty = dataclasses.replace(clinic, resources={})
    assert [f.rule for f in codemaps.gateway_map_encounter(enc("86198006"), empty)] == ["MAP-UNMAPPED"]
