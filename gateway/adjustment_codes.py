"""Claim adjustment reason codes (CARC) and remittance advice remark codes
(RARC) in plain words, for follow-up lists, the console and the CLI.

The gateway ships a CSV of the common codes written in the project's own
words (``gateway/data/adjustment_codes.csv``); a deployment replaces it with
its own file (``remittance.adjustment_codes`` in gateway.yaml, a path relative
to gateway.yaml's folder). The format (a header line, then one code a line)::

    kind,code,description
    CARC,45,more than the fee schedule or contracted amount
    RARC,N130,consult the plan's benefit documents for coverage limits

A code not in the table is said to be unknown, never guessed. Every problem
of a file is reported at once, each with its CSV line number.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.codes import ADJUSTMENT_GROUPS

if TYPE_CHECKING:
    from gateway.config import LoadedConfig

HEADER = ("kind", "code", "description")
#: the patient's share (CAS group PR) in the words of a statement
PATIENT_SHARE = {"1": "deductible", "2": "coinsurance", "3": "copay"}
_CODE_PATTERNS = {"CARC": re.compile(r"[A-Z0-9]{1,3}"), "RARC": re.compile(r"[A-Z]{1,2}[0-9]{1,4}")}
SHIPPED = "gateway/data/adjustment_codes.csv"


class AdjustmentCodesError(ValueError):
    """A code file that cannot be used; ``problems`` name each CSV line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class AdjustmentCodes:
    """CARC and RARC descriptions (``source`` says which file they came from)."""

    carc: Mapping[str, str]
    rarc: Mapping[str, str]
    source: str

    def reason(self, code: str) -> str:
        """The plain words of a CARC (CAS02/05/…)."""
        return self.carc.get(code) or f"reason code {code or '(empty)'} (not in the gateway's list)"

    def remark(self, code: str) -> str:
        """The plain words of a RARC (LQ02, MOA, MIA)."""
        return self.rarc.get(code) or f"remark code {code or '(empty)'} (not in the gateway's list)"

    def adjustment(self, group: str, code: str) -> str:
        """``CO-45``'s plain words: the group's and the reason's."""
        return f"{ADJUSTMENT_GROUPS.get(group, f'group {group}')}: {self.reason(code)}"

    def plain(self, group: str, code: str) -> str:
        """What a patient reads for an adjustment: ``deductible``,
        ``coinsurance`` or ``copay`` for patient responsibility (PR-1/2/3),
        else the group's and the reason's words."""
        if group == "PR" and code in PATIENT_SHARE:
            return PATIENT_SHARE[code]
        return self.adjustment(group, code)


def parse_adjustment_codes(text: str, source: str) -> AdjustmentCodes:
    """Read the CSV ``text``; raise :class:`AdjustmentCodesError` naming every bad line."""
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    problems: list[str] = []
    tables: dict[str, dict[str, str]] = {"CARC": {}, "RARC": {}}
    seen: dict[tuple[str, str], int] = {}
    header = next(rows, None)
    if header is None or tuple(h.strip().lower() for h in header) != HEADER:
        got = ",".join(header) if header else "an empty file"
        raise AdjustmentCodesError([f"{source}: line 1: the header must be 'kind,code,description', not '{got}'"])
    for row in rows:
        line = rows.line_num
        where = f"{source}: line {line}"
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != 3:
            problems.append(f"{where}: {len(row)} field(s), expected 3 (kind,code,description); quote a comma")
            continue
        kind, code, description = (cell.strip() for cell in row)
        kind = kind.upper()
        if kind not in tables:
            problems.append(f"{where}: kind '{kind}' is not CARC or RARC")
            continue
        if not _CODE_PATTERNS[kind].fullmatch(code):
            problems.append(f"{where}: '{code}' is not a {kind} code")
            continue
        if not description:
            problems.append(f"{where}: {kind} {code} has no description")
            continue
        if (kind, code) in seen:
            problems.append(f"{where}: {kind} {code} is listed twice (also line {seen[kind, code]})")
            continue
        seen[kind, code] = line
        tables[kind][code] = description
    if problems:
        raise AdjustmentCodesError(problems)
    return AdjustmentCodes(carc=tables["CARC"], rarc=tables["RARC"], source=source)


@lru_cache(maxsize=1)
def shipped_codes() -> AdjustmentCodes:
    """The gateway's own table (package data, so it works from a wheel)."""
    text = resources.files("gateway").joinpath("data", "adjustment_codes.csv").read_text(encoding="utf-8")
    return parse_adjustment_codes(text, SHIPPED)


def load_adjustment_codes(path: Path | None = None) -> AdjustmentCodes:
    """The deployment's file at ``path``, or the shipped table without one."""
    if path is None:
        return shipped_codes()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise AdjustmentCodesError([f"{path}: cannot read the adjustment code file ({reason})"]) from None
    return parse_adjustment_codes(text, str(path))


def codes_for(loaded: LoadedConfig) -> AdjustmentCodes:
    """The table a deployment uses (``remittance.adjustment_codes``, relative to gateway.yaml)."""
    setting = loaded.config.remittance.adjustment_codes
    return load_adjustment_codes(loaded.base_dir / setting if setting else None)


def config_problems(loaded: LoadedConfig) -> list[str]:
    """check-config's view: every problem of the configured file, at its config key."""
    try:
        codes_for(loaded)
    except AdjustmentCodesError as exc:
        return [loaded.problem(("remittance", "adjustment_codes"), p) for p in exc.problems]
    return []
