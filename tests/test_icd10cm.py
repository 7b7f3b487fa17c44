"""ICD-10-CM coding: normalisation, billable checks, releases by date of service, index cost."""

from __future__ import annotations

import dataclasses
import json
import time
import tracemalloc
from datetime import date
from pathlib import Path

import pytest
from gateway_plugins.coding import icd10cm
from gateway_plugins.coding.icd10cm.index import Releases, Status, load_release, normalise

from gateway.app import Gateway
from gateway.config import Clinic, ConfigError
from gateway.model import Diagnosis, Encounter
from tests.conftest import FIXTURES, ROOT

INDEX_DIR = ROOT / "plugins" / "coding" / "icd10cm" / "data"
SHIPPED = INDEX_DIR / "icd10cm-2026-04.txt"


def encounter(*codes: str, system: str = "ICD-10-CM", day: date = date(2026, 5, 4)) -> Encounter:
    enc = Encounter.model_validate(
        json.loads((FIXTURES / "encounters" / "riverside-insured.json").read_text())["encounters"][0]
    )
    enc.diagnoses = [Diagnosis(code=c, system=system) for c in codes]
    for line in enc.service_lines:
        line.service_date = day
        line.diagnosis_pointers = [1]
    return enc


@pytest.fixture
def clinic(example_gateway: Gateway) -> Clinic:
    return example_gateway.clinics["riverside"]


def rules(enc: Encounter, clinic: Clinic) -> list[str]:
    return [f.rule for f in icd10cm.gateway_code_encounter(enc, clinic) or []]


def with_settings(clinic: Clinic, **kw: object) -> Clinic:
    return dataclasses.replace(clinic, settings={**clinic.settings, "icd10cm": icd10cm.Icd10cmSettings(**kw)})


def test_codes_are_normalised_in_place(clinic: Clinic) -> None:
    enc = encounter(" e11.9 ", "z00.129", system="http://hl7.org/fhir/sid/icd-10-cm")
    assert rules(enc, clinic) == []
    assert [(d.code, d.system) for d in enc.diagnoses] == [("E119", "ICD-10-CM"), ("Z00129", "ICD-10-CM")]
    assert normalise("s72.001a") == "S72001A"


# rule id -> (diagnosis code, system, settings) that fail, and a near miss that passes
CASES = {
    "ICD10-UNKNOWN": (("Q99.99", "ICD-10-CM"), ("Q99.9", "ICD-10-CM")),
    "ICD10-NOT-BILLABLE": (("E11", "ICD-10-CM"), ("E11.9", "ICD-10-CM")),
    "ICD10-SYSTEM": (("250.00", "ICD-9-CM"), ("E11.9", "I10")),
}


def test_every_rule_has_a_case() -> None:
    assert {*CASES, "ICD10-RELEASE"} == {r.id for r in icd10cm.RULES}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fails_and_passes(rule_id: str, clinic: Clinic) -> None:
    (bad, bad_system), (good, good_system) = CASES[rule_id]
    findings = icd10cm.gateway_code_encounter(encounter(bad, system=bad_system), clinic) or []
    assert [f.rule for f in findings] == [rule_id]
    assert findings[0].is_error and findings[0].location == "encounter.diagnoses[1]" + (
        ".system" if rule_id == "ICD10-SYSTEM" else ".code"
    )
    assert bad.replace(".", "") not in findings[0].message  # no patient data in messages
    assert rules(encounter(good, system=good_system), clinic) == []


def test_non_billable_message_counts_the_codes_below(clinic: Clinic) -> None:
    (f,) = icd10cm.gateway_code_encounter(encounter("E11"), clinic) or []
    assert "87 more specific codes" in f.message


def test_release_rule_reports_dates_outside_every_release_when_asked(clinic: Clinic) -> None:
    outside, inside = date(2026, 10, 5), date(2026, 9, 30)
    assert rules(encounter("E11.9", day=outside), clinic) == []  # default: nearest release, silently
    strict = with_settings(clinic, outside_releases="error")
    (f,) = icd10cm.gateway_code_encounter(encounter("E11.9", day=outside), strict) or []
    assert f.rule == "ICD10-RELEASE" and f.is_error and "2026-04" in f.message
    assert rules(encounter("E11.9", day=inside), strict) == []


def write_release(folder: Path, name: str, start: str, end: str, billable: list[str], header: list[str]) -> None:
    body = "\n".join(["[billable]", *billable, "[header]", *header])
    meta = f"# release: {name}\n# valid_from: {start}\n# valid_to: {end}\n"
    (folder / f"icd10cm-{name}.txt").write_text(meta + body + "\n")


def test_the_release_valid_on_the_date_of_service_is_used(tmp_path: Path, clinic: Clinic) -> None:
    # 2027 expands X99.1 into X99.10 / X99.11: billable in 2026, a header in 2027
    write_release(tmp_path, "2026", "2025-10-01", "2026-09-30", ["X991", "X992"], ["X99"])
    write_release(tmp_path, "2027", "2026-10-01", "2027-09-30", ["X9910", "X9911", "X992"], ["X99", "X991"])
    two = dataclasses.replace(clinic, resources={**clinic.resources, "icd10cm": Releases.load_dir(tmp_path)})
    assert rules(encounter("X99.1", day=date(2026, 9, 30)), two) == []
    assert rules(encounter("X99.1", day=date(2026, 10, 1)), two) == ["ICD10-NOT-BILLABLE"]
    assert rules(encounter("X99.10", day=date(2026, 9, 30)), two) == ["ICD10-UNKNOWN"]
    enc = encounter("X99.1", day=date(2026, 9, 30))
    enc.service_lines[1].service_date = date(2026, 10, 2)  # spans both releases: checked against each
    assert rules(enc, two) == ["ICD10-NOT-BILLABLE"]


def test_overlapping_or_missing_releases_are_config_errors(tmp_path: Path) -> None:
    write_release(tmp_path, "a", "2025-10-01", "2026-09-30", ["X991"], ["X99"])
    write_release(tmp_path, "b", "2026-09-01", "2027-09-30", ["X991"], ["X99"])
    with pytest.raises(ConfigError, match="overlap"):
        Releases.load_dir(tmp_path)
    with pytest.raises(ConfigError, match="no ICD-10-CM index for release"):
        Releases.load_dir(INDEX_DIR, ["1999"])
    (tmp_path / "icd10cm-broken.txt").write_text("# release: x\n")
    with pytest.raises(ConfigError, match="not an ICD-10-CM index"):
        load_release(tmp_path / "icd10cm-broken.txt")


def test_index_loads_under_100ms_and_30mb() -> None:
    best = min(_timed_load() for _ in range(3))
    tracemalloc.start()
    release = load_release(SHIPPED)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert best < 0.100, f"index load took {best * 1000:.0f} ms"
    assert peak < 30 * 2**20, f"index load peaked at {peak / 2**20:.1f} MB"
    assert len(release.billable) > 70_000 and release.status("E11") is Status.HEADER


def _timed_load() -> float:
    t0 = time.perf_counter()
    load_release(SHIPPED)
    return time.perf_counter() - t0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # simple-icd-10-cm's importlib.resources use
def test_shipped_index_is_what_the_build_script_makes(tmp_path: Path) -> None:
    """The index in the repository is reproducible from simple-icd-10-cm, and
    agrees with it code by code (billable = leaf)."""
    import simple_icd_10_cm as cm

    from scripts.build_icd10cm_index import main

    assert main(["--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / SHIPPED.name).read_text() == SHIPPED.read_text()
    release = load_release(SHIPPED)
    for code in ("E11", "E119", "J069", "S72001A", "Z00129", "M545", "M5450", "A00"):
        assert (release.status(code) is Status.BILLABLE) == cm.is_leaf(code)


def test_first_lookups_search_the_text_and_agree_with_the_code_sets(tmp_path: Path) -> None:
    """A release answers its first distinct lookups from the file's text
    (start-up of `gateway inspect`), then builds its code sets: the answers
    are the same."""
    from gateway_plugins.coding.icd10cm.index import TEXT_LOOKUPS

    sets = load_release(SHIPPED)
    billable, header = sorted(sets.billable), sorted(sets.header)
    # first and last lines of each part, prefixes and extensions of real codes, unknowns
    probe = [billable[0], billable[-1], header[0], header[-1], "E11", "E119", "E1", "E1190", "J069", "Q990X"]
    probe += [c[:-1] for c in billable[1000:1005]] + [c + "9" for c in header[500:505]] + ["A00", "Z99999999"]
    assert len(probe) < TEXT_LOOKUPS
    text = load_release(SHIPPED)
    assert [text.status(c) for c in probe] == [sets.status(c) for c in probe]
    assert text._sets is None, "answered from the text"
    for _ in range(3):  # a code seen before is answered again without a search
        assert [text.status(c) for c in probe] == [sets.status(c) for c in probe] and text._sets is None
    for code in billable[:TEXT_LOOKUPS]:
        assert text.status(code) is Status.BILLABLE
    assert text.status(header[7]) is Status.HEADER and text._sets is not None, "sets built after the first lookups"
    fresh = load_release(SHIPPED)
    assert fresh.status("") is Status.UNKNOWN and fresh.status("E11 9") is Status.UNKNOWN  # never a line search
    # a file with other whitespace than one code a line is read into sets at once
    meta = "# release: x\n# valid_from: 2026-01-01\n# valid_to: 2026-12-31\n"
    (tmp_path / "icd10cm-x.txt").write_text(meta + "[billable]\nA000 A001\tA002\n[header]\nA00")
    spaced = load_release(tmp_path / "icd10cm-x.txt")
    assert spaced._sets is not None and spaced.status("A001") is Status.BILLABLE
    assert spaced.status("A00") is Status.HEADER
