"""Procedure code checks: CPT/HCPCS formats, modifiers, NDCs, optional code file."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from gateway_plugins.coding import procedures
from gateway_plugins.coding.procedures import code_system_of, load_code_file, normalise_ndc

from gateway.app import Gateway
from gateway.config import Clinic
from gateway.model import Encounter, Patient, PersonName, ServiceLine


def enc(**line: object) -> Encounter:
    fields: dict = {"service_date": date(2026, 10, 5), "charge": Decimal("10.00"), "diagnosis_pointers": [1]}
    fields.update(line)
    return Encounter(
        id="V1", patient=Patient(id="P1", name=PersonName(family="Fakename")), service_lines=[ServiceLine(**fields)]
    )


@pytest.fixture
def clinic(example_gateway: Gateway) -> Clinic:
    return example_gateway.clinics["riverside"]


def rules(e: Encounter, clinic: Clinic) -> list[str]:
    return [f.rule for f in procedures.gateway_code_encounter(e, clinic)]


@pytest.mark.parametrize(
    ("code", "system"),
    [("99213", "CPT"), ("0001F", "CPT"), ("0042T", "CPT"), ("0001U", "CPT"), ("J3420", "HCPCS"), ("G0008", "HCPCS")],
)
def test_code_formats(code: str, system: str) -> None:
    assert code_system_of(code) == system


@pytest.mark.parametrize("code", ["9921", "992134", "D0120", "N1234", "ABCDE", "99 21", ""])
def test_not_procedure_codes(code: str) -> None:
    assert code_system_of(code) is None  # D (dental) and N are not HCPCS Level II letters used on 837P


@pytest.mark.parametrize(
    ("ndc", "expected"),
    [
        ("0002-7510-01", "00002751001"),
        ("12345-678-90", "12345067890"),
        ("12345-6789-1", "12345678901"),
        ("12345-6789-01", "12345678901"),
        ("12345678901", "12345678901"),
        ("1234567890", None),
        ("123-4567-89", None),
    ],
)
def test_ndc_normalisation(ndc: str, expected: str | None) -> None:
    assert normalise_ndc(ndc) == expected


# rule id -> (line fields that fail, near-miss line fields that pass)
CASES: dict[str, tuple[dict, dict]] = {
    "PROC-FORMAT": ({"procedure_code": "9921"}, {"procedure_code": " 99213 "}),
    "PROC-SYSTEM": (
        {"procedure_code": "J3420", "code_system": "CPT"},
        {"procedure_code": "j3420", "code_system": "HCPCS"},
    ),
    "PROC-MODIFIER": (
        {"procedure_code": "99213", "modifiers": ["2"]},
        {"procedure_code": "99213", "modifiers": ["25"]},
    ),
    "PROC-MODIFIER-COUNT": (
        {"procedure_code": "99213", "modifiers": ["25", "59", "XS", "GT", "95"]},
        {"procedure_code": "99213", "modifiers": ["25", "59", "XS", "GT"]},
    ),
    "PROC-MODIFIER-DUPLICATE": (
        {"procedure_code": "87880", "modifiers": ["QW", "qw"]},
        {"procedure_code": "87880", "modifiers": ["QW", "59"]},
    ),
    "PROC-NDC": (
        {"procedure_code": "J3420", "ndc": "1234567890"},
        {"procedure_code": "J3420", "ndc": "12345-6789-01"},
    ),
}


def test_every_rule_has_a_case() -> None:
    assert {*CASES, "PROC-UNKNOWN"} == {r.id for r in procedures.RULES}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fails_and_passes(rule_id: str, clinic: Clinic) -> None:
    bad, good = CASES[rule_id]
    if rule_id == "PROC-MODIFIER-COUNT":  # the model refuses 5 modifiers at construction; a plugin may add them
        e = enc(procedure_code="99213")
        e.service_lines[0].modifiers = bad["modifiers"]
    else:
        e = enc(**bad)
    assert rule_id in rules(e, clinic)
    assert rules(enc(**good), clinic) == []


def test_lines_are_normalised_in_place(clinic: Clinic) -> None:
    e = enc(procedure_code=" j3420", code_system="CPT", modifiers=["jw", "JW"], ndc="12345-678-90")
    procedures.gateway_code_encounter(e, clinic)
    line = e.service_lines[0]
    assert (line.procedure_code, line.code_system, line.modifiers, line.ndc) == (
        "J3420",
        "HCPCS",
        ["JW"],
        "12345067890",
    )


def test_code_file_turns_format_checks_into_existence_checks(tmp_path: Path, clinic: Clinic) -> None:
    codes = tmp_path / "codes.csv"
    codes.write_text('code,description\n# licensed file: descriptions are never read\n99213,"x"\nJ3420,y\n')
    known = load_code_file(codes)
    assert known == {"99213", "J3420"}
    with_file = dataclasses.replace(clinic, resources={**clinic.resources, "procedure_codes": known})
    assert rules(enc(procedure_code="99214"), with_file) == ["PROC-UNKNOWN"]
    assert rules(enc(procedure_code="99213"), with_file) == []
    assert rules(enc(procedure_code="99214"), clinic) == []  # no file: format only


def test_code_file_is_loaded_from_clinic_settings(example_config: Path) -> None:
    (example_config.parent / "codes.txt").write_text("99213\n87880\n")
    text = example_config.read_text().replace(
        "    settings:\n", "    settings:\n      procedures: {code_file: codes.txt}\n", 1
    )
    example_config.write_text(text)
    gw = Gateway.from_config(example_config)
    assert gw.clinics["riverside"].resources["procedure_codes"] == {"99213", "87880"}
    assert "procedure_codes" not in gw.clinics["lakeside"].resources
