"""Charge master: local codes → CPT/HCPCS, modifiers, NDC and which price wins."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from gateway_plugins.coding import chargemaster
from gateway_plugins.coding.chargemaster import ChargeMasterSettings, load_charge_master

from gateway.app import Gateway
from gateway.config import Clinic, ConfigError
from gateway.model import Encounter, Patient, PersonName, ServiceLine
from tests.conftest import ROOT

EXAMPLE = ROOT / "mappings" / "example" / "chargemaster.csv"


def enc(*lines: dict) -> Encounter:
    return Encounter(
        id="V1",
        patient=Patient(id="P1", name=PersonName(family="Fakename")),
        service_lines=[ServiceLine(service_date=date(2026, 10, 5), diagnosis_pointers=[1], **ln) for ln in lines],
    )


@pytest.fixture
def clinic(example_gateway: Gateway) -> Clinic:
    return example_gateway.clinics["riverside"]


def price_wins(clinic: Clinic, policy: str) -> Clinic:
    return dataclasses.replace(
        clinic, settings={**clinic.settings, "chargemaster": ChargeMasterSettings(price_wins=policy)}
    )


def apply(e: Encounter, clinic: Clinic) -> list[str]:
    return [f.rule for f in chargemaster.gateway_map_encounter(e, clinic) or []]


def test_local_code_line_gets_code_modifiers_description_ndc_and_price(clinic: Clinic) -> None:
    e = enc({"local_code": "LAB-STREP", "modifiers": ["59"]}, {"local_code": "INJ-B12", "units": Decimal(3)})
    assert apply(e, clinic) == []
    strep, b12 = e.service_lines
    assert (strep.procedure_code, strep.code_system, strep.modifiers, strep.charge) == (
        "87880",
        "CPT",
        ["QW", "59"],  # the charge master's default modifiers first, then the sent ones
        Decimal("35.50"),
    )
    assert (b12.procedure_code, b12.code_system, b12.ndc, b12.charge) == (
        "J3420",
        "HCPCS",
        "55555012301",
        Decimal("56.25"),
    )
    assert strep.description == "Rapid strep test"


def test_price_is_rounded_half_up_to_cents(tmp_path: Path) -> None:
    f = tmp_path / "cm.csv"
    f.write_text("local_code,procedure_code,unit_price\nDRUG,J3420,0.125\n")
    entry = load_charge_master(f).by_local["DRUG"]
    assert entry.price(Decimal(3)) == Decimal("0.38") and entry.price(Decimal(1)) == Decimal("0.13")


def test_sent_charge_wins_by_default(clinic: Clinic) -> None:
    e = enc({"local_code": "OV-EST-4", "charge": Decimal("150.00")})
    assert apply(e, clinic) == ["CM-PRICE-DIFFERS"]
    assert e.service_lines[0].charge == Decimal("150.00")


def test_charge_master_price_wins_when_configured(clinic: Clinic) -> None:
    e = enc({"local_code": "OV-EST-4", "charge": Decimal("150.00")})
    assert apply(e, price_wins(clinic, "chargemaster")) == ["CM-PRICE-DIFFERS"]
    assert e.service_lines[0].charge == Decimal("185.00")


def test_cpt_line_without_charge_is_priced_by_code(clinic: Clinic) -> None:
    e = enc({"procedure_code": "99214", "code_system": "CPT"}, {"procedure_code": "87880", "modifiers": ["QW"]})
    assert apply(e, clinic) == []
    assert [ln.charge for ln in e.service_lines] == [Decimal("185.00"), Decimal("35.50")]


def test_unpriced_code_is_left_for_the_core_to_quarantine(clinic: Clinic) -> None:
    e = enc({"procedure_code": "97110", "code_system": "CPT"})
    assert apply(e, clinic) == [] and e.service_lines[0].charge is None


# rule id -> (lines that fail, near-miss lines that pass), with the example charge master
CASES: dict[str, tuple[dict, dict]] = {
    "CM-UNKNOWN": ({"local_code": "OV-EST-9"}, {"local_code": "OV-EST-2"}),
    "CM-CODE-DIFFERS": (
        {"local_code": "OV-EST-4", "procedure_code": "99215", "charge": Decimal("185.00")},
        {"local_code": "OV-EST-4", "procedure_code": "99214", "charge": Decimal("185.00")},
    ),
    "CM-PRICE-DIFFERS": (
        {"procedure_code": "99214", "charge": Decimal("184.99")},
        {"procedure_code": "99214", "charge": Decimal("185.0")},
    ),
    "CM-PRICE-AMBIGUOUS": (
        {"procedure_code": "J3420", "modifiers": ["59"]},
        {"procedure_code": "J3420", "modifiers": ["JW"]},
    ),
}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == {r.id for r in chargemaster.RULES}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fails_and_passes(rule_id: str, clinic: Clinic, tmp_path: Path) -> None:
    if rule_id == "CM-PRICE-AMBIGUOUS":  # two prices for J3420: by modifiers only one matches
        f = tmp_path / "cm.csv"
        f.write_text("local_code,procedure_code,modifiers,unit_price\nB12-A,J3420,,18.75\nB12-W,J3420,JW,0.00\n")
        clinic = dataclasses.replace(clinic, resources={**clinic.resources, "charge_master": load_charge_master(f)})
    bad, good = CASES[rule_id]
    assert apply(enc(bad), clinic) == [rule_id]
    assert apply(enc(good), clinic) == []


def test_bad_rows_are_config_errors_with_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "cm.csv"
    f.write_text(
        "local_code,procedure_code,modifiers,unit_price,revenue_code,ndc\n"
        "A,99213,,12.00,0510,\n"
        "A,99214,,12.00,,\n"
        "B,9921,,1,,\n"
        "C,99213,TOOLONG,abc,51,12\n"
    )
    with pytest.raises(ConfigError) as exc:
        load_charge_master(f)
    text = str(exc.value)
    for expected in (
        "cm.csv:3: local code A is listed twice",
        "cm.csv:4:",
        "cm.csv:5: modifiers",
        "unit_price",
        "revenue_code",
        "ndc",
    ):
        assert expected in text


def test_unknown_column_is_a_config_error(tmp_path: Path) -> None:
    f = tmp_path / "cm.csv"
    f.write_text("local_code,procedure_code,price\nA,99213,1\n")
    with pytest.raises(ConfigError, match="unknown column"):
        load_charge_master(f)


def test_example_charge_master_loads() -> None:
    cm = load_charge_master(EXAMPLE)
    assert cm.by_local["VAC-FLU"].procedure_code == "90686" and cm.by_local["VAC-FLU"].revenue_code == "0636"
