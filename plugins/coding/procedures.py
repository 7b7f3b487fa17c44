"""Procedure code checks: CPT and HCPCS Level II formats, modifiers, NDCs.

CPT content is licensed by the AMA: the gateway ships no CPT codes or
descriptions and checks CPT **format** only (five characters: five digits for
Category I, four digits + ``F`` for Category II, ``T`` for Category III, ``U``
for proprietary laboratory analyses). HCPCS Level II codes are a letter and
four digits. A clinic may name its own licensed code file::

    settings:
      procedures:
        code_file: codes/cpt-hcpcs-2026.csv   # first column = code; other columns ignored

and the format checks become existence checks (``PROC-UNKNOWN``). Only the
codes are read from that file, never its descriptions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from gateway.codes import MAX_MODIFIERS
from gateway.config import Clinic, ClinicConfig
from gateway.hookspecs import hookimpl
from gateway.model import Encounter, Finding, ServiceLine, Severity
from gateway.rules import Catalogue
from gateway.tables import read_text, resolve

RULES = Catalogue("procedures")
FORMAT = RULES.add("PROC-FORMAT", Severity.ERROR, "A procedure code is neither a CPT nor a HCPCS Level II code.")
SYSTEM = RULES.add(
    "PROC-SYSTEM", Severity.WARNING, "A code labelled CPT has HCPCS format (or the reverse); the label is corrected."
)
UNKNOWN = RULES.add(
    "PROC-UNKNOWN", Severity.ERROR, "A procedure code is not in the clinic's code file (only with `code_file`)."
)
MOD_FORMAT = RULES.add("PROC-MODIFIER", Severity.ERROR, "A modifier is not two letters or digits.")
MOD_COUNT = RULES.add("PROC-MODIFIER-COUNT", Severity.ERROR, "A line has more than four modifiers.")
MOD_DUP = RULES.add("PROC-MODIFIER-DUPLICATE", Severity.WARNING, "A line repeats a modifier; the repeat is removed.")
NDC_FORMAT = RULES.add("PROC-NDC", Severity.ERROR, "An NDC is not 10 or 11 digits in a recognised layout.")

CPT_RE = re.compile(r"\d{4}[0-9FTU]")
HCPCS_RE = re.compile(r"[A-CEGHJ-MP-V]\d{4}")
MODIFIER_RE = re.compile(r"[A-Z0-9]{2}")
#: hyphenated NDC layouts (labeler-product-package) → zero padding to 5-4-2
_NDC_LAYOUTS = {(4, 4, 2): 0, (5, 3, 2): 1, (5, 4, 1): 2, (5, 4, 2): None}

CodeSystem = Literal["CPT", "HCPCS"]


def normalise_code(code: str) -> str:
    """Upper-case, without spaces."""
    return "".join(code.split()).upper()


def code_system_of(code: str) -> CodeSystem | None:
    """``CPT`` or ``HCPCS`` by format, ``None`` when the code is neither."""
    if CPT_RE.fullmatch(code):
        return "CPT"
    if HCPCS_RE.fullmatch(code):
        return "HCPCS"
    return None


def normalise_ndc(ndc: str) -> str | None:
    """An NDC as the 11-digit 5-4-2 form X12 wants, or ``None`` if it is not one.

    Hyphenated 10-digit layouts (4-4-2, 5-3-2, 5-4-1) get the zero in the
    right segment; 11 plain digits pass; 10 plain digits are ambiguous.
    """
    s = ndc.strip()
    if re.fullmatch(r"\d{11}", s):
        return s
    parts = s.split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    layout = tuple(len(p) for p in parts)
    if layout not in _NDC_LAYOUTS:
        return None
    pad = _NDC_LAYOUTS[layout]
    if pad is not None:
        parts[pad] = "0" + parts[pad]
    return "".join(parts)


def normalise_modifiers(mods: list[str]) -> tuple[list[str], bool]:
    """Upper-cased, stripped, duplicates removed (order kept); and whether any repeated."""
    out: list[str] = []
    for m in mods:
        m = normalise_code(m)
        if m and m not in out:
            out.append(m)
    return out, len(out) != len([m for m in mods if m.strip()])


class ProcedureSettings(BaseModel):
    """``settings.procedures`` of a clinic."""

    model_config = ConfigDict(extra="forbid")
    #: a licensed CPT/HCPCS code list (CSV or text, code in the first column)
    code_file: str | None = None


def load_code_file(path: Path) -> frozenset[str]:
    """The codes of a user-supplied code file: first column of each line;
    a header line and ``#`` comments are skipped; the rest of a line is ignored."""
    codes = set()
    for line in read_text(path).splitlines():
        first = re.split(r"[,;\t|]", line.strip(), maxsplit=1)[0].strip().strip('"')
        code = normalise_code(first)
        if code and not code.startswith("#") and code_system_of(code):
            codes.add(code)
    return frozenset(codes)


@hookimpl
def gateway_register_settings(register: Callable[[str, type[BaseModel]], None]) -> None:
    register("procedures", ProcedureSettings)


@hookimpl
def gateway_load_clinic(clinic: ClinicConfig, base_dir: Path) -> dict[str, Any] | None:
    settings = ProcedureSettings.model_validate(clinic.settings.get("procedures", {}))
    if settings.code_file is None:
        return None
    return {"procedure_codes": load_code_file(resolve(settings.code_file, base_dir))}


def check_line(line: ServiceLine, n: int, known: frozenset[str] | None) -> Iterator[Finding]:
    """Normalise and check service line ``n`` (1-based): code, modifiers and NDC, in place."""
    where = f"encounter.service_lines[{n}]"
    if line.procedure_code:
        code = normalise_code(line.procedure_code)
        line.procedure_code = code
        system = code_system_of(code)
        if system is None:
            yield FORMAT.finding(
                f"service line {n}: procedure code is not a CPT (5 characters) or HCPCS (letter + 4 digits) code",
                f"{where}.procedure_code",
            )
        else:
            if line.code_system is not None and line.code_system != system:
                yield SYSTEM.finding(
                    f"service line {n}: code labelled {line.code_system} has {system} format; treated as {system}",
                    f"{where}.code_system",
                )
            line.code_system = system
            if known is not None and code not in known:
                yield UNKNOWN.finding(
                    f"service line {n}: procedure code is not in the clinic's code file", f"{where}.procedure_code"
                )
    mods, repeated = normalise_modifiers(line.modifiers)
    if repeated:
        yield MOD_DUP.finding(f"service line {n}: a modifier is repeated; sent once", f"{where}.modifiers")
    line.modifiers = mods
    for j, m in enumerate(mods, 1):
        if not MODIFIER_RE.fullmatch(m):
            yield MOD_FORMAT.finding(
                f"service line {n}: modifier {j} is not two letters or digits", f"{where}.modifiers[{j}]"
            )
    if len(mods) > MAX_MODIFIERS:
        yield MOD_COUNT.finding(
            f"service line {n}: {len(mods)} modifiers, a claim line takes at most {MAX_MODIFIERS}",
            f"{where}.modifiers",
        )
    if line.ndc:
        ndc = normalise_ndc(line.ndc)
        if ndc is None:
            yield NDC_FORMAT.finding(
                f"service line {n}: NDC is not 11 digits or a hyphenated 4-4-2, 5-3-2, 5-4-1 or 5-4-2 form",
                f"{where}.ndc",
            )
        else:
            line.ndc = ndc


@hookimpl
def gateway_code_encounter(encounter: Encounter, clinic: Clinic) -> list[Finding]:
    known = clinic.resources.get("procedure_codes")
    out: list[Finding] = []
    for i, line in enumerate(encounter.service_lines, 1):
        out += check_line(line, i, known)
    return out
