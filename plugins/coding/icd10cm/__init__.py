"""ICD-10-CM coding: normalise diagnosis codes and check they are billable
on the date of service.

Codes are normalised in place (dots and spaces removed, upper case, system
set to ``ICD-10-CM``) and looked up in the compact index of the release
valid on each service date (plugins/coding/icd10cm/data/, see :mod:`.index`). The index
of the release simple-icd-10-cm ships is in the repository; add a release by
running scripts/build_icd10cm_index.py on CMS's files. Settings::

    settings:
      icd10cm:
        index_dir: my-icd10cm        # default: the shipped indexes (package data)
        releases: [2026-04]           # default: every index in index_dir
        outside_releases: nearest     # date of service outside every release: nearest | warning | error
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from gateway_plugins.coding.icd10cm.index import Release, Releases, Status, normalise
from pydantic import BaseModel, ConfigDict

from gateway.config import Clinic, ClinicConfig
from gateway.hookspecs import hookimpl
from gateway.model import Encounter, Finding, Severity
from gateway.rules import Catalogue
from gateway.tables import resolve

#: the shipped indexes (package data)
DEFAULT_INDEX_DIR = Path(str(files(__name__).joinpath("data")))
SYSTEM_NAME = "ICD-10-CM"
#: WHO ICD-10 as FHIR names it: accepted when the code is valid ICD-10-CM; an
#: error about such a code names the system it was sent in
WHO_SYSTEMS = frozenset({"HTTP://HL7.ORG/FHIR/SID/ICD-10", "URN:OID:2.16.840.1.113883.6.3"})
#: how sources name ICD-10-CM (HL7 table 0396 "I10", FHIR URI…), upper-cased
ICD10CM_SYSTEMS = frozenset(
    {
        "ICD-10-CM",
        "ICD10CM",
        "ICD-10",
        "ICD10",
        "I10",
        "I10C",
        "HTTP://HL7.ORG/FHIR/SID/ICD-10-CM",
        "HTTPS://HL7.ORG/FHIR/SID/ICD-10-CM",
        "2.16.840.1.113883.6.90",
        *WHO_SYSTEMS,
    }
)

RULES = Catalogue("icd10cm")
UNKNOWN = RULES.add(
    "ICD10-UNKNOWN",
    Severity.ERROR,
    "A diagnosis is not an ICD-10-CM code in the release valid on the date of service.",
)
NOT_BILLABLE = RULES.add(
    "ICD10-NOT-BILLABLE",
    Severity.ERROR,
    "A diagnosis is an ICD-10-CM category or subcategory with more specific codes below it (not billable).",
)
SYSTEM = RULES.add(
    "ICD10-SYSTEM",
    Severity.ERROR,
    "A diagnosis is coded in another system than ICD-10-CM (ICD-9, SNOMED CT…).",
)
RELEASE = RULES.add(
    "ICD10-RELEASE",
    Severity.WARNING,
    "A date of service is outside every loaded ICD-10-CM release; the nearest release was used.",
)


class Icd10cmSettings(BaseModel):
    """``settings.icd10cm`` of a clinic."""

    model_config = ConfigDict(extra="forbid")
    index_dir: str | None = None
    releases: list[str] | None = None
    #: a date of service no loaded release covers: check against the nearest
    #: release silently (``nearest``, the default: CMS changes a few hundred
    #: codes a year and the index may lag), or also report ICD10-RELEASE
    outside_releases: Literal["nearest", "warning", "error"] = "nearest"


@lru_cache(maxsize=8)
def _load(folder: Path, names: tuple[str, ...] | None) -> Releases:
    """Indexes are immutable, so clinics sharing a folder share one copy."""
    return Releases.load_dir(folder, list(names) if names is not None else None)


@hookimpl
def gateway_register_settings(register: Callable[[str, type[BaseModel]], None]) -> None:
    register("icd10cm", Icd10cmSettings)


@hookimpl
def gateway_load_clinic(clinic: ClinicConfig, base_dir: Path) -> dict[str, Any]:
    settings = Icd10cmSettings.model_validate(clinic.settings.get("icd10cm", {}))
    folder = resolve(settings.index_dir, base_dir) if settings.index_dir else DEFAULT_INDEX_DIR
    names = tuple(settings.releases) if settings.releases is not None else None
    return {"icd10cm": _load(folder.resolve(), names)}


def _releases_for(
    encounter: Encounter, releases: Releases, settings: Icd10cmSettings
) -> tuple[list[Release], list[Finding]]:
    """The releases valid on the encounter's service dates, with a finding
    for each date no loaded release covers."""
    days: set[date] = {ln.service_date for ln in encounter.service_lines}
    if not days and encounter.start_date:
        days.add(encounter.start_date)
    if not days:
        return [releases.releases[-1]], []
    chosen: list[Release] = []
    findings: list[Finding] = []
    report = settings.outside_releases != "nearest"
    for day in sorted(days):
        release, covered = releases.for_date(day)
        if not covered and report and not findings:
            findings.append(
                RELEASE.finding(
                    f"a date of service is outside every loaded ICD-10-CM release; diagnoses checked against "
                    f"release {release.name} (valid {release.valid_from}–{release.valid_to}); load a newer index",
                    "encounter.service_lines",
                    Severity(settings.outside_releases),
                )
            )
        if release not in chosen:
            chosen.append(release)
    return chosen, findings


@hookimpl
def gateway_code_encounter(encounter: Encounter, clinic: Clinic) -> list[Finding] | None:
    releases: Releases | None = clinic.resources.get("icd10cm")
    if releases is None or not encounter.diagnoses:
        return None
    settings = clinic.settings.get("icd10cm") or Icd10cmSettings()
    assert isinstance(settings, Icd10cmSettings)
    chosen, out = _releases_for(encounter, releases, settings)
    for i, dx in enumerate(encounter.diagnoses, 1):
        where = f"encounter.diagnoses[{i}]"
        if dx.system.strip().upper() not in ICD10CM_SYSTEMS:
            out.append(
                SYSTEM.finding(f"diagnosis {i} is not coded in ICD-10-CM; claims need ICD-10-CM", f"{where}.system")
            )
            continue
        sent_in = f" (sent in WHO ICD-10, {dx.system.strip()})" if dx.system.strip().upper() in WHO_SYSTEMS else ""
        dx.system = SYSTEM_NAME
        dx.code = normalise(dx.code)
        for release in chosen:
            status = release.status(dx.code)
            if status is Status.HEADER:
                _, below = release.billable_under(dx.code)
                out.append(
                    NOT_BILLABLE.finding(
                        f"diagnosis {i}{sent_in} is an ICD-10-CM category, not a billable code; use one of the {below} "
                        f"more specific codes below it",
                        f"{where}.code",
                    )
                )
                break
            if status is Status.UNKNOWN:
                out.append(
                    UNKNOWN.finding(
                        f"diagnosis {i}{sent_in} is not an ICD-10-CM code in release {release.name} (valid on the "
                        f"date of service)",
                        f"{where}.code",
                    )
                )
                break
    return out
