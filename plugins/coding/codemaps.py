"""Per-clinic code maps: codes of other systems (SNOMED CT, a lab's local
system…) → CPT/HCPCS and modifiers.

A clinic lists CSV files (``code_maps:`` in gateway.yaml) in the shared format::

    source_system,source_code,target_code,target_system,modifiers,comment
    http://snomed.info/sct,185349003,99213,CPT,,Encounter for check up
    http://snomed.info/sct,86198006,90686,CPT,,Influenza vaccination

``source_system`` is compared with ``ServiceLine.local_system`` (an ``https``
scheme, a trailing ``/`` and case in the host do not matter). Files are read
in the order listed and a **later file overrides an earlier one** for the same
source code (so a clinic's own map can correct a shared one); within one file
a code listed twice with different targets is an error. Applied in
``gateway_map_encounter`` before the charge master (``tryfirst``) so mapped
lines can be priced by CPT/HCPCS code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gateway_plugins.coding.procedures import (
    MAX_MODIFIERS,
    MODIFIER_RE,
    code_system_of,
    normalise_code,
    normalise_modifiers,
)

from gateway.config import Clinic, ClinicConfig, ConfigError
from gateway.hookspecs import hookimpl
from gateway.model import Encounter, Finding, Severity
from gateway.rules import Catalogue
from gateway.tables import Problems, read_csv, resolve

COLUMNS_REQUIRED = ("source_system", "source_code", "target_code", "target_system")
COLUMNS_OPTIONAL = ("modifiers", "comment")

RULES = Catalogue("codemaps")
UNMAPPED = RULES.add(
    "MAP-UNMAPPED", Severity.ERROR, "A line's code from another system (SNOMED CT…) has no entry in the code maps."
)


@dataclass(frozen=True)
class Target:
    code: str
    system: Literal["CPT", "HCPCS"]
    modifiers: tuple[str, ...]


def system_key(system: str) -> str:
    """Comparable form of a code system URI: ``https://Snomed.info/sct/`` → ``http://snomed.info/sct``."""
    s = system.strip().rstrip("/")
    scheme, sep, rest = s.partition("://")
    if not sep:
        return s
    host, slash, path = rest.partition("/")
    return f"http://{host.lower()}{slash}{path}" if scheme.lower() in ("http", "https") else s


def load_code_map(path: Path) -> dict[tuple[str, str], Target]:
    """One code map CSV (raises ConfigError listing every bad row)."""
    problems = Problems(path)
    out: dict[tuple[str, str], Target] = {}
    for row in read_csv(path, COLUMNS_REQUIRED, COLUMNS_OPTIONAL, problems):
        # every column of a row is checked, so one run reports all its problems
        key = (system_key(row.get("source_system")), row.get("source_code"))
        code, declared = normalise_code(row.get("target_code")), row.get("target_system").upper()
        usable = True
        if not all(key):
            problems.add(row.line, "source_system and source_code are required")
            usable = False
        if declared not in ("CPT", "HCPCS"):
            problems.add(row.line, f"target_system must be CPT or HCPCS, not {declared or 'empty'}")
            usable = False
        elif code_system_of(code) != declared:
            problems.add(row.line, f"target_code{f' for {key[1]}' if key[1] else ''} is not a {declared} code")
            usable = False
        mods, _ = normalise_modifiers(row.get("modifiers").split())
        if len(mods) > MAX_MODIFIERS or not all(MODIFIER_RE.fullmatch(m) for m in mods):
            problems.add(row.line, f"modifiers for {key[1]} must be up to {MAX_MODIFIERS} two-character codes")
            usable = False
        if not usable:
            continue
        target = Target(code, declared, tuple(mods))  # type: ignore[arg-type]
        if key in out and out[key] != target:
            problems.add(row.line, f"source code {key[1]} is mapped twice to different targets")
        out[key] = target
    problems.raise_if_any()
    return out


def load_code_maps(paths: list[Path]) -> dict[tuple[str, str], Target]:
    """Several maps merged; later files override earlier ones. The problems of
    every file are raised together."""
    merged: dict[tuple[str, str], Target] = {}
    problems: list[str] = []
    for p in paths:
        try:
            merged.update(load_code_map(p))
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return merged


@hookimpl
def gateway_load_clinic(clinic: ClinicConfig, base_dir: Path) -> dict[str, Any] | None:
    if not clinic.code_maps:
        return None
    return {"code_map": load_code_maps([resolve(p, base_dir) for p in clinic.code_maps])}


@hookimpl(tryfirst=True)
def gateway_map_encounter(encounter: Encounter, clinic: Clinic) -> list[Finding]:
    code_map: dict[tuple[str, str], Target] = clinic.resources.get("code_map", {})
    out: list[Finding] = []
    for i, line in enumerate(encounter.service_lines, 1):
        if line.procedure_code or not line.local_code or line.local_system is None:
            continue
        target = code_map.get((system_key(line.local_system), line.local_code.strip()))
        if target is None:
            out.append(
                UNMAPPED.finding(
                    f"service line {i}: its code from {line.local_system} has no CPT/HCPCS entry in the clinic's "
                    "code maps",
                    f"encounter.service_lines[{i}].local_code",
                )
            )
            continue
        line.procedure_code, line.code_system = target.code, target.system
        line.modifiers, _ = normalise_modifiers([*target.modifiers, *line.modifiers])
    return out
