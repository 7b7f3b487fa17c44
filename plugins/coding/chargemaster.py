"""Per-clinic charge master: local charge codes → CPT/HCPCS, modifiers, prices.

A clinic names a CSV file (``charge_master:`` in gateway.yaml)::

    local_code,procedure_code,modifiers,description,unit_price,revenue_code,ndc
    OV-EST-3,99213,,Office visit established level 3,125.00,0510,
    LAB-STREP,87880,QW,Rapid strep test,35.50,0300,
    INJ-B12,J3420,,Vitamin B12 injection up to 1000 mcg,18.75,0636,0143-9618-25

Only ``local_code`` and ``procedure_code`` are required columns. At
``gateway_map_encounter`` time, for each service line:

* a line with only a local code (``local_system`` empty) gets the row's
  CPT/HCPCS code, description and NDC (when the line has none) and the row's
  default modifiers *followed by* the modifiers the clinic sent (duplicates
  once);
* a line without a charge is priced by its local code, else by its CPT/HCPCS
  code (when exactly one price is listed for that code and modifiers).

**Which price wins** (``settings.chargemaster.price_wins``):

* ``sent`` (default): the charge the clinic sent is billed as is; only a
  line with no charge gets ``unit_price × units`` (rounded half-up to
  cents: ``gateway.money.cents``, the gateway's one rounding rule). A sent
  charge that differs from the charge master is reported as
  ``CM-PRICE-DIFFERS`` (info), so fee schedule drift shows up.
* ``chargemaster``: every line the charge master prices is billed at
  ``unit_price × units``, replacing the sent charge (also reported).

Revenue codes are loaded and checked (4 digits) for institutional claims
and statements; an 837P has no place for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from gateway_plugins.coding.procedures import (
    MODIFIER_RE,
    code_system_of,
    normalise_code,
    normalise_modifiers,
    normalise_ndc,
)
from pydantic import BaseModel, ConfigDict

from gateway.codes import MAX_MODIFIERS
from gateway.config import Clinic, ClinicConfig
from gateway.hookspecs import hookimpl
from gateway.model import Encounter, Finding, ServiceLine, Severity
from gateway.money import amount_problem, cents
from gateway.rules import Catalogue
from gateway.tables import Problems, read_csv, resolve

COLUMNS_REQUIRED = ("local_code", "procedure_code")
COLUMNS_OPTIONAL = ("modifiers", "description", "unit_price", "revenue_code", "ndc")

RULES = Catalogue("chargemaster")
UNKNOWN = RULES.add("CM-UNKNOWN", Severity.ERROR, "A line's local charge code is not in the clinic's charge master.")
CODE_DIFFERS = RULES.add(
    "CM-CODE-DIFFERS",
    Severity.WARNING,
    "A line sent a CPT/HCPCS code that differs from the charge master's for its local code; the sent code is kept.",
)
PRICE_DIFFERS = RULES.add(
    "CM-PRICE-DIFFERS", Severity.INFO, "A line's sent charge differs from the charge master's unit price × units."
)
AMBIGUOUS = RULES.add(
    "CM-PRICE-AMBIGUOUS",
    Severity.WARNING,
    "A line has no charge and the charge master lists several prices for its code; none was applied.",
)


@dataclass(frozen=True)
class Entry:
    """One charge master row."""

    local_code: str
    procedure_code: str
    code_system: Literal["CPT", "HCPCS"]
    modifiers: tuple[str, ...]
    description: str | None
    unit_price: Decimal | None
    revenue_code: str | None
    ndc: str | None

    def price(self, units: Decimal) -> Decimal | None:
        """``unit_price × units`` rounded half-up to cents (gateway.money)."""
        if self.unit_price is None:
            return None
        return cents(self.unit_price * units)


@dataclass
class ChargeMaster:
    """A clinic's charge master, by local code and by CPT/HCPCS code."""

    by_local: dict[str, Entry]
    by_procedure: dict[str, list[Entry]]

    def price_entry(self, line: ServiceLine) -> tuple[Entry | None, bool]:
        """The row that prices a line (by local code, else by code and
        modifiers, else by code alone when all its rows agree) and whether
        the lookup was ambiguous."""
        if line.local_code and line.local_system is None and line.local_code in self.by_local:
            return self.by_local[line.local_code], False
        code = normalise_code(line.procedure_code or "")
        rows = [r for r in self.by_procedure.get(code, []) if r.unit_price is not None]
        mods = set(normalise_modifiers(line.modifiers)[0])
        exact = [r for r in rows if set(r.modifiers) == mods]
        for candidates in (exact, rows):
            if len({r.unit_price for r in candidates}) == 1:
                return candidates[0], False
        return None, len(rows) > 1


def _parse_price(text: str) -> Decimal:
    value = Decimal(text.replace("$", "").replace(",", ""))
    if amount_problem(value) or value < 0:
        raise InvalidOperation
    return value


def load_charge_master(path: Path) -> ChargeMaster:
    """Read and check a charge master CSV (raises ConfigError listing every bad row)."""
    problems = Problems(path)
    by_local: dict[str, Entry] = {}
    by_procedure: dict[str, list[Entry]] = {}
    for row in read_csv(path, COLUMNS_REQUIRED, COLUMNS_OPTIONAL, problems):
        # every column of a row is checked, so one run reports all its problems
        local, code = row.get("local_code"), normalise_code(row.get("procedure_code"))
        system = code_system_of(code)
        of = f" for {local}" if local else ""
        usable = True
        if not local:
            problems.add(row.line, "local_code is empty")
            usable = False
        elif local in by_local:
            problems.add(row.line, f"local code {local} is listed twice")
            usable = False
        if system is None:
            problems.add(row.line, f"procedure_code{of} is not a CPT or HCPCS Level II code")
            usable = False
        mods, _ = normalise_modifiers(row.get("modifiers").replace(",", " ").split())
        if len(mods) > MAX_MODIFIERS or not all(MODIFIER_RE.fullmatch(m) for m in mods):
            problems.add(row.line, f"modifiers{of} must be up to {MAX_MODIFIERS} two-character codes")
        price = None
        if row.get("unit_price"):
            try:
                price = _parse_price(row.get("unit_price"))
            except (InvalidOperation, ValueError):
                problems.add(row.line, f"unit_price{of} is not an amount (e.g. 125.00)")
        revenue = row.get("revenue_code") or None
        if revenue is not None and not (revenue.isdigit() and len(revenue) == 4):
            problems.add(row.line, f"revenue_code{of} must be 4 digits (e.g. 0510)")
        ndc = None
        if row.get("ndc"):
            ndc = normalise_ndc(row.get("ndc"))
            if ndc is None:
                problems.add(row.line, f"ndc{of} is not a valid NDC (11 digits or 4-4-2/5-3-2/5-4-1/5-4-2)")
        if not usable or system is None:
            continue
        entry = Entry(local, code, system, tuple(mods), row.get("description") or None, price, revenue, ndc)
        by_local[local] = entry
        by_procedure.setdefault(code, []).append(entry)
    problems.raise_if_any()
    return ChargeMaster(by_local, by_procedure)


class ChargeMasterSettings(BaseModel):
    """``settings.chargemaster`` of a clinic."""

    model_config = ConfigDict(extra="forbid")
    #: ``sent``: the clinic's charge wins when present; ``chargemaster``: the charge master's price wins
    price_wins: Literal["sent", "chargemaster"] = "sent"


@hookimpl
def gateway_register_settings(register: Callable[[str, type[BaseModel]], None]) -> None:
    register("chargemaster", ChargeMasterSettings)


@hookimpl
def gateway_load_clinic(clinic: ClinicConfig, base_dir: Path) -> dict[str, Any] | None:
    if not clinic.charge_master:
        return None
    return {"charge_master": load_charge_master(resolve(clinic.charge_master, base_dir))}


def apply_line(
    line: ServiceLine, n: int, cm: ChargeMaster, price_wins: Literal["sent", "chargemaster"]
) -> Iterator[Finding]:
    """Map and price service line ``n`` (1-based) in place."""
    where = f"encounter.service_lines[{n}]"
    if line.local_code and line.local_system is None:
        entry = cm.by_local.get(line.local_code.strip())
        if entry is None:
            if not line.procedure_code:
                yield UNKNOWN.finding(
                    f"service line {n}: its local charge code is not in the clinic's charge master",
                    f"{where}.local_code",
                )
            return
        if not line.procedure_code:
            line.procedure_code, line.code_system = entry.procedure_code, entry.code_system
            line.modifiers, _ = normalise_modifiers([*entry.modifiers, *line.modifiers])
        elif normalise_code(line.procedure_code) != entry.procedure_code:
            yield CODE_DIFFERS.finding(
                f"service line {n}: the sent CPT/HCPCS code differs from the charge master's; the sent code is kept",
                f"{where}.procedure_code",
            )
        line.description = line.description or entry.description
        line.ndc = line.ndc or entry.ndc
    if not line.procedure_code:
        return
    entry, ambiguous = cm.price_entry(line)
    if entry is None:
        if ambiguous and line.charge is None:
            yield AMBIGUOUS.finding(
                f"service line {n} has no charge and the charge master lists several prices for its code; "
                "add the modifiers or a local code that picks one",
                f"{where}.charge",
            )
        return
    price = entry.price(line.units)
    if price is None:
        return
    if line.charge is None:
        line.charge = price
    elif line.charge != price:
        replaced = price_wins == "chargemaster"
        yield PRICE_DIFFERS.finding(
            f"service line {n}: the sent charge differs from the charge master's price × units; "
            + ("the charge master's price is billed" if replaced else "the sent charge is billed"),
            f"{where}.charge",
        )
        if replaced:
            line.charge = price


@hookimpl
def gateway_map_encounter(encounter: Encounter, clinic: Clinic) -> list[Finding] | None:
    cm: ChargeMaster | None = clinic.resources.get("charge_master")
    if cm is None:
        return None
    settings = clinic.settings.get("chargemaster")
    price_wins = settings.price_wins if isinstance(settings, ChargeMasterSettings) else "sent"
    out: list[Finding] = []
    for i, line in enumerate(encounter.service_lines, 1):
        out += apply_line(line, i, cm, price_wins)
    return out
