"""The field map as data: a clinic overrides positions without code."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_plugins.inbound.hl7v2.fieldmap import DEFAULT_MAP, FieldPath, default_map, load_map, parse_path

from gateway.config import ConfigError

from .test_hl7v2_support import HL7_FIXTURES, run


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clinic-map.yaml"
    path.write_text(text)
    return path


def test_paths() -> None:
    assert parse_path("FT1-11.1.1") == FieldPath("FT1", 11, 1, 1)
    assert str(parse_path("PID-3")) == "PID-3"
    for bad in ("FT1-0", "ft1-11", "FT1.11", "FT1-11.1.1.1"):
        with pytest.raises(ValueError):
            parse_path(bad)


def test_default_map_is_the_shipped_file() -> None:
    fm = default_map()
    assert DEFAULT_MAP.is_file() and fm.charge.extended_amount == [FieldPath("FT1", 11, 1, 1)]
    assert fm.patient.id[0] == FieldPath("PID", 3, 1) and "CG" in fm.charge.billed_types


def test_override_modifiers_from_a_z_segment(tmp_path: Path) -> None:
    fm = load_map(write(tmp_path, "charge:\n  modifiers: [ZFT-2]\n"))
    (enc,) = run((HL7_FIXTURES / "dft_p03_v28_zsegments.hl7").read_bytes(), fm=fm).encounters
    # the ZFT after the first FT1 belongs to it; the second FT1 has none
    assert [ln.modifiers for ln in enc.service_lines] == [["26", "XS"], []]
    assert fm.charge.procedure_code == default_map().charge.procedure_code  # the rest is the default


def test_override_procedure_code_in_ft1_7(tmp_path: Path) -> None:
    raw = (HL7_FIXTURES / "dft_p03_v23_lf_local_codes.hl7").read_bytes()
    raw = raw.replace(b"LAB-STREP^Rapid strep test", b"87880^Rapid strep test")
    fm = load_map(write(tmp_path, "charge:\n  procedure_code: [FT1-7.1]\n  procedure_system: [FT1-7.3]\n"))
    (enc,) = run(raw, fm=fm).encounters
    assert (enc.service_lines[0].procedure_code, enc.service_lines[0].code_system) == ("87880", "CPT")
    assert enc.service_lines[1].procedure_code is None and enc.service_lines[1].local_code == "VAC-FLU"


def test_override_diagnoses_only_in_ft1_19(tmp_path: Path) -> None:
    fm = load_map(write(tmp_path, "diagnosis:\n  from_charges_only: true\n"))
    (enc,) = run((HL7_FIXTURES / "dft_p03_v25_cpt_modifiers.hl7").read_bytes(), fm=fm).encounters
    assert [d.code for d in enc.diagnoses] == ["E11.9", "I10"]  # FT1-19 order, DG1 ignored
    assert [ln.diagnosis_pointers for ln in enc.service_lines] == [[1, 2], [1]]


def test_override_tables_replace_and_errors_name_the_key(tmp_path: Path) -> None:
    fm = load_map(write(tmp_path, "visit:\n  place_of_service: {O: '22'}\n"))
    assert fm.visit.place_of_service == {"O": "22"}
    (enc,) = run((HL7_FIXTURES / "dft_p03_v25_cpt_modifiers.hl7").read_bytes(), fm=fm).encounters
    assert enc.place_of_service == "22"
    with pytest.raises(ConfigError) as err:
        load_map(write(tmp_path, "charge:\n  quantity: FT1-ten\n  colour: red\n"))
    text = str(err.value)
    assert "charge.quantity" in text and "FT1-ten" in text and "charge.colour: unknown key" in text
    with pytest.raises(ConfigError, match="cannot read"):
        load_map(tmp_path / "missing.yaml")
