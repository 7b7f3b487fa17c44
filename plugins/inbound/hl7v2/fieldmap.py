"""The field map: which HL7 v2 fields feed which canonical fields, as data.

The default lives in ``plugins/inbound/hl7v2/default-map.yaml``; a clinic's
``settings.hl7v2.field_map`` file holds only the keys it changes and is
merged over the default (mappings are merged key by key, lists and values
replaced). Loaded and validated once per clinic in ``gateway_load_clinic``;
errors name the file and key path.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, GetCoreSchemaHandler, ValidationError
from pydantic_core import CoreSchema, core_schema

from gateway.config import ConfigError, format_path

#: the default field map (package data next to this module)
DEFAULT_MAP = Path(str(files(__package__).joinpath("default-map.yaml")))
_PATH = re.compile(r"([A-Z][A-Z0-9]{2})-(\d{1,3})(?:\.(\d{1,2}))?(?:\.(\d{1,2}))?")


class FieldPath(NamedTuple):
    """``FT1-11.1.1``: segment, field, component and subcomponent (None = all)."""

    segment: str
    field: int
    component: int | None = None
    sub: int | None = None

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        """Validated by :func:`parse_path` alone (text or a FieldPath): no schema of
        the tuple's fields to build for the ~80 paths of a field map (start-up)."""
        return core_schema.no_info_plain_validator_function(parse_path)

    def __str__(self) -> str:
        out = f"{self.segment}-{self.field}"
        if self.component is not None:
            out += f".{self.component}"
        if self.sub is not None:
            out += f".{self.sub}"
        return out


def parse_path(text: Any) -> FieldPath:
    """``"PID-3.1"`` → FieldPath; ValueError naming the expected form."""
    if isinstance(text, FieldPath):
        return text
    m = _PATH.fullmatch(str(text).strip())
    if not m or int(m.group(2)) == 0:
        raise ValueError(f"'{text}' is not a field path like PID-3 or FT1-11.1.1")
    seg, fld, comp, sub = m.groups()
    return FieldPath(seg, int(fld), int(comp) if comp else None, int(sub) if sub else None)


def _paths(value: Any) -> list[FieldPath]:
    items = value if isinstance(value, list) else [value]
    return [parse_path(v) for v in items if v is not None]


Path1 = Annotated[FieldPath, BeforeValidator(parse_path)]
Paths = Annotated[list[FieldPath], BeforeValidator(_paths)]


def _upper(values: list[str]) -> list[str]:
    return [str(v).strip().upper() for v in values]


Codes = Annotated[list[str], BeforeValidator(lambda v: _upper(v if isinstance(v, list) else [v]))]


def _empty_list() -> list[Any]:
    """A new empty list: ``list`` itself as a ``default_factory`` costs the field
    map ~10 ms to build (pydantic reads its signature from its text, ~0.2 ms each)."""
    return []


def _empty_dict() -> dict[str, str]:
    """A new empty table (see :func:`_empty_list`)."""
    return {}


class _Section(BaseModel):
    # built once, as part of FieldMap, when the first map is validated (not one validator per section)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class PatientMap(_Section):
    id: Paths
    id_types: Codes = Field(default_factory=_empty_list)
    name: Path1
    birth_date: Path1
    sex: Path1
    address: Path1
    phone: Path1
    email: Paths = Field(default_factory=_empty_list)
    account_number: Paths = Field(default_factory=_empty_list)


class VisitMap(_Section):
    id: Paths
    patient_class: Path1
    attending: Paths = Field(default_factory=_empty_list)
    referring: Paths = Field(default_factory=_empty_list)
    admit_date: Paths = Field(default_factory=_empty_list)
    place_of_service: dict[str, str] = Field(default_factory=_empty_dict)


class DiagnosisMap(_Section):
    segment: str = "DG1"
    code: Path1
    system: Path1
    description: Paths = Field(default_factory=_empty_list)
    priority: Path1
    from_charges_only: bool = False


class ChargeMap(_Section):
    segment: str = "FT1"
    transaction_id: Paths = Field(default_factory=_empty_list)
    date: Paths
    type: Path1
    billed_types: Codes
    not_billed_types: Codes = Field(default_factory=_empty_list)
    payment_types: Codes = Field(default_factory=_empty_list)
    local_code: Paths = Field(default_factory=_empty_list)
    local_code_system: Paths = Field(default_factory=_empty_list)
    description: Paths = Field(default_factory=_empty_list)
    quantity: Paths = Field(default_factory=_empty_list)
    extended_amount: Paths = Field(default_factory=_empty_list)
    unit_amount: Paths = Field(default_factory=_empty_list)
    currency: Paths = Field(default_factory=_empty_list)
    diagnoses: Paths = Field(default_factory=_empty_list)
    performed_by: Paths = Field(default_factory=_empty_list)
    procedure_code: Paths = Field(default_factory=_empty_list)
    procedure_system: Paths = Field(default_factory=_empty_list)
    modifiers: Paths = Field(default_factory=_empty_list)
    ndc: Paths = Field(default_factory=_empty_list)
    ndc_system: Paths = Field(default_factory=_empty_list)
    ndc_quantity: Paths = Field(default_factory=_empty_list)
    ndc_unit: Paths = Field(default_factory=_empty_list)
    prior_authorization: Paths = Field(default_factory=_empty_list)
    referral_number: Paths = Field(default_factory=_empty_list)
    note: Paths = Field(default_factory=_empty_list)
    supervising: Paths = Field(default_factory=_empty_list)


class ProcedureMap(_Section):
    segment: str = "PR1"
    bill_when_no_charges: bool = True
    code: Path1
    system: Path1
    description: Paths = Field(default_factory=_empty_list)
    date: Path1
    modifiers: Paths = Field(default_factory=_empty_list)
    diagnoses: Paths = Field(default_factory=_empty_list)


class InsuranceMap(_Section):
    segment: str = "IN1"
    plan_id: Paths = Field(default_factory=_empty_list)
    plan_name: Paths = Field(default_factory=_empty_list)
    payer_id: Paths
    payer_name: Paths
    payer_address: Paths = Field(default_factory=_empty_list)
    group_number: Paths = Field(default_factory=_empty_list)
    group_name: Paths = Field(default_factory=_empty_list)
    plan_type: Paths = Field(default_factory=_empty_list)
    insured_name: Paths = Field(default_factory=_empty_list)
    relationship: Paths = Field(default_factory=_empty_list)
    insured_birth_date: Paths = Field(default_factory=_empty_list)
    insured_address: Paths = Field(default_factory=_empty_list)
    insured_sex: Paths = Field(default_factory=_empty_list)
    member_id: Paths
    relationship_codes: dict[str, str] = Field(default_factory=_empty_dict)
    filing_indicators: dict[str, str] = Field(default_factory=_empty_dict)


class GuarantorMap(_Section):
    segment: str = "GT1"
    number: Paths = Field(default_factory=_empty_list)
    name: Path1
    address: Paths = Field(default_factory=_empty_list)
    phone: Paths = Field(default_factory=_empty_list)
    email: Paths = Field(default_factory=_empty_list)
    relationship: Paths = Field(default_factory=_empty_list)


class ClaimMap(_Section):
    """Situational claim data (Encounter prior_authorization … delay_reason)."""

    prior_authorization: Paths = Field(default_factory=_empty_list)
    referral_number: Paths = Field(default_factory=_empty_list)
    onset_date: Paths = Field(default_factory=_empty_list)
    accident_date: Paths = Field(default_factory=_empty_list)
    last_seen_date: Paths = Field(default_factory=_empty_list)
    related_causes: Paths = Field(default_factory=_empty_list)
    employment_related: Paths = Field(default_factory=_empty_list)
    accident_state: Paths = Field(default_factory=_empty_list)
    note: Paths = Field(default_factory=_empty_list)
    delay_reason: Paths = Field(default_factory=_empty_list)
    related_cause_codes: dict[str, str] = Field(default_factory=_empty_dict)


class FieldMap(_Section):
    """A validated field map (see plugins/inbound/hl7v2/default-map.yaml)."""

    version: int = 1
    patient: PatientMap
    visit: VisitMap
    diagnosis: DiagnosisMap
    charge: ChargeMap
    procedure: ProcedureMap
    insurance: InsuranceMap
    guarantor: GuarantorMap
    claim: ClaimMap = Field(default_factory=ClaimMap)


#: mappings replaced as a whole by an override (tables, not sections)
_REPLACED = {"place_of_service", "filing_indicators", "relationship_codes", "related_cause_codes"}
#: keys that moved out of the field map, and where to
_MOVED = {("insurance", "self_pay"): "settings.hl7v2.self_pay_plans in gateway.yaml"}


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base`` (mappings by key)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in _REPLACED:
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        # libyaml's safe loader when PyYAML has it (the default map: ~10x faster to read)
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as exc:
        raise ConfigError([f"HL7 field map {path}: cannot read ({exc.strerror})"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"HL7 field map {path}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"HL7 field map {path}: expected a mapping at the top level"])
    return data


def build_map(data: dict[str, Any], source: str) -> FieldMap:
    """Validate map data (raises ConfigError naming ``source`` and the key path)."""
    try:
        return FieldMap.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                moved = _MOVED.get(tuple(err["loc"]))  # type: ignore[arg-type]
                msg = f"moved to {moved}" if moved else "unknown key"
            problems.append(f"HL7 field map {source}: {format_path(tuple(err['loc']))}: {msg}")
        raise ConfigError(problems) from None


@cache
def default_map() -> FieldMap:
    """The shipped default map (read once per process)."""
    return build_map(_read_yaml(DEFAULT_MAP), DEFAULT_MAP.name)


def load_map(override: Path | None) -> FieldMap:
    """The default map, with a clinic's override file merged over it."""
    if override is None:
        return default_map()
    base = _read_yaml(DEFAULT_MAP)
    return build_map(merge(base, _read_yaml(override)), override.name)


def claim_paths(fm: FieldMap) -> list[FieldPath]:
    """Every path of the ``claim`` section and the charges' situational keys."""
    out = [p for name in ClaimMap.model_fields if name != "related_cause_codes" for p in getattr(fm.claim, name)]
    for name in ("prior_authorization", "referral_number", "note", "supervising", "ndc_quantity", "ndc_unit"):
        out += getattr(fm.charge, name)
    return out
