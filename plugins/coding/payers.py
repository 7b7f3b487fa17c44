"""Payer directory: how clinics name payers → the X12 payer id, name and
claim filing indicator a clearinghouse expects.

A clinic names a YAML file (``payers:`` in gateway.yaml; read with
``yaml.safe_load``)::

    payers:
      - payer_id: "60054"               # X12 payer id (2010BB NM109), from the clearinghouse's list
        name: Example Health Plan       # 2010BB NM103
        claim_filing_indicator: CI      # SBR09; the directory's value wins over what the clinic sent
        hl7_ids: [EXPAYER1]             # HL7 IN1-3 company ids as clinics send them
        fhir_identifiers: [EXP-FHIR-1]  # FHIR Coverage.payor identifier values
        names: [Example Health]         # names as sent (case and spacing ignored)
        destination: claims-out         # optional: where this payer's claims go (for the outbox)
        follow_up: {ack_days: 2, remit_days: 30}  # optional: days before a claim is on the follow-up list
        secondary: {wait_for_crossover: false, delay_days: 0, prior_claim_number: false}  # optional

``follow_up``: a delivered claim with no 999/277CA after ``ack_days`` days, or
no 835 after ``remit_days`` days, is listed by ``gateway claims follow-up``
(defaults: :data:`DEFAULT_FOLLOW_UP`, 3 and 30 days).

``secondary``: how claims go to this payer when it is a secondary or
tertiary payer (:class:`gateway.model.SecondaryBilling`, read by the
batcher through ``gateway_secondary_billing``): ``delay_days`` after the
earlier payer's 835 before it is billed; ``wait_for_crossover`` (needs
``delay_days``) when the earlier payer usually forwards the claim itself;
``prior_claim_number`` when it wants the earlier payers' ICN (2330B REF*F8).

Format plugins set ``Payer(id=<as sent>, source_id=<as sent>)``; this plugin
(``gateway_map_encounter``) looks the payer up by source id, id, then name
(``name`` or one of its ``names``, case and spacing ignored), and rewrites
``payer.id``/``name`` (and the address when listed) and the coverage's
filing indicator. An unknown payer is a warning and its own id is kept; with
``strict_payers: true`` on the clinic it is an error. A payer the clinic
named only by name (``Payer.id`` empty: a FHIR coverage given by display
text, as Synthea writes it) has no id of its own: unknown, it is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.codes import FILING_INDICATORS
from gateway.config import Clinic, ClinicConfig, ConfigError
from gateway.hookspecs import hookimpl
from gateway.model import Address, Coverage, Encounter, Finding, SecondaryBilling, Severity
from gateway.rules import Catalogue
from gateway.tables import read_yaml_model, resolve

RULES = Catalogue("payers")
UNKNOWN = RULES.add(
    "PAYER-UNKNOWN",
    Severity.WARNING,
    "A coverage's payer is not in the payer directory; its own id is used (an error when the clinic sets "
    "`strict_payers: true`).",
)
MEMBER_FROM_PATIENT = RULES.add(
    "PAYER-MEMBER-ID-PATIENT",
    Severity.WARNING,
    "No member id was sent; the payer directory says this payer knows its members by the clinic's patient id, "
    "so that id is sent as the member id.",
)


class FollowUp(BaseModel):
    """Days after delivery before an unanswered claim needs a person."""

    model_config = ConfigDict(extra="forbid")
    #: no 999 or 277CA after this many days
    ack_days: int = Field(3, ge=1, le=365)
    #: no 835 after this many days
    remit_days: int = Field(30, ge=1, le=730)

    @model_validator(mode="after")
    def _order(self) -> FollowUp:
        if self.remit_days < self.ack_days:
            raise ValueError(f"remit_days ({self.remit_days}) is shorter than ack_days ({self.ack_days})")
        return self


#: follow-up days of a payer the directory does not list, or lists without ``follow_up``
DEFAULT_FOLLOW_UP = FollowUp()


class PayerEntry(BaseModel):
    """One payer of the directory."""

    model_config = ConfigDict(extra="forbid")
    payer_id: str = Field(min_length=2, max_length=80)
    name: str = Field(min_length=1, max_length=60)
    claim_filing_indicator: str | None = None
    hl7_ids: list[str] = Field(default_factory=list)
    fhir_identifiers: list[str] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)
    destination: str | None = None
    address: Address | None = None
    #: this payer identifies its members by the clinic's patient id (MRN):
    #: used, with a warning, only when no member id was sent and the patient
    #: is the subscriber (never for a derived patient id)
    member_id_from_patient_id: bool = False
    follow_up: FollowUp = Field(default_factory=FollowUp)
    #: as a secondary or tertiary payer (docs/mapping.md)
    secondary: SecondaryBilling = Field(default_factory=SecondaryBilling)

    @field_validator("payer_id", mode="before")
    @classmethod
    def _id_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v  # payer ids like 60054 are often written unquoted

    @field_validator("claim_filing_indicator")
    @classmethod
    def _filing(cls, v: str | None) -> str | None:
        if v is not None and v not in FILING_INDICATORS:
            raise ValueError(f"not an X12 claim filing indicator (one of {', '.join(FILING_INDICATORS)})")
        return v


class PayerFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payers: list[PayerEntry]


def id_key(value: str) -> str:
    return value.strip().upper()


def name_key(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip().casefold()


@dataclass
class PayerDirectory:
    """Lookup of payers by any id or name a clinic may send."""

    entries: list[PayerEntry]
    by_id: dict[str, PayerEntry]
    by_name: dict[str, PayerEntry]

    @classmethod
    def build(cls, entries: list[PayerEntry], source: str = "payer directory") -> PayerDirectory:
        by_id: dict[str, PayerEntry] = {}
        by_name: dict[str, PayerEntry] = {}
        problems = []
        for i, e in enumerate(entries):
            keys = [(by_id, id_key(k)) for k in (e.payer_id, *e.hl7_ids, *e.fhir_identifiers)]
            keys += [(by_name, name_key(k)) for k in (e.name, *e.names)]
            for table, key in keys:
                other = table.get(key)
                if other is not None and other is not e:
                    problems.append(f"{source}: payers[{i}] ({e.payer_id}) and {other.payer_id} both claim '{key}'")
                table[key] = e
        if problems:
            raise ConfigError(problems)
        return cls(entries, by_id, by_name)

    def find(self, payer_id: str | None, source_id: str | None, name: str | None) -> PayerEntry | None:
        """The entry for a payer as sent: by source id, id, then name."""
        for value in (source_id, payer_id):
            if value and id_key(value) in self.by_id:
                return self.by_id[id_key(value)]
        return self.by_name.get(name_key(name)) if name else None

    def destination_for(self, payer_id: str) -> str | None:
        """Where claims to this (X12) payer id go, when the directory says."""
        entry = self.by_id.get(id_key(payer_id))
        return entry.destination if entry else None

    def secondary_for(self, payer_id: str) -> SecondaryBilling | None:
        """The ``secondary:`` settings of this (X12) payer id (None when not listed)."""
        entry = self.by_id.get(id_key(payer_id))
        return entry.secondary if entry else None

    def follow_up_for(self, payer_id: str | None) -> FollowUp:
        """The follow-up days of this (X12) payer id (the defaults when not listed)."""
        entry = self.by_id.get(id_key(payer_id)) if payer_id else None
        return entry.follow_up if entry else DEFAULT_FOLLOW_UP


def load_directory(path: Path) -> PayerDirectory:
    data = read_yaml_model(path, PayerFile)
    assert isinstance(data, PayerFile)
    return PayerDirectory.build(data.payers, path.name)


@hookimpl
def gateway_load_clinic(clinic: ClinicConfig, base_dir: Path) -> dict[str, Any] | None:
    if not clinic.payers:
        if clinic.strict_payers:
            raise ConfigError(["strict_payers is true but no payer directory is configured (payers: FILE)"])
        return None
    return {"payer_directory": load_directory(resolve(clinic.payers, base_dir))}


@hookimpl
def gateway_claim_destination(payer_id: str, clinic: Clinic) -> str | None:
    directory: PayerDirectory | None = clinic.resources.get("payer_directory")
    return directory.destination_for(payer_id) if directory is not None else None


@hookimpl
def gateway_secondary_billing(payer_id: str, clinic: Clinic) -> SecondaryBilling | None:
    directory: PayerDirectory | None = clinic.resources.get("payer_directory")
    return directory.secondary_for(payer_id) if directory is not None else None


@hookimpl
def gateway_map_encounter(encounter: Encounter, clinic: Clinic) -> list[Finding] | None:
    directory: PayerDirectory | None = clinic.resources.get("payer_directory")
    if directory is None:
        return None
    out = []
    for k, cov in enumerate(encounter.coverages, 1):
        payer = cov.payer
        entry = directory.find(payer.id, payer.source_id, payer.name)
        if entry is None and not payer.id.strip():
            out.append(
                UNKNOWN.finding(
                    f"coverage {cov.order}: the payer was named only by name, and no payer in the directory has "
                    "that name or alias; add it (with its payer id) to the payer directory",
                    f"encounter.coverages[{k}].payer.name",
                    Severity.ERROR,
                )
            )
            continue
        if entry is None:
            strict = clinic.config.strict_payers
            out.append(
                UNKNOWN.finding(
                    f"coverage {cov.order}: payer '{payer.id}' is not in the payer directory; "
                    + ("add it (this clinic's payer list is strict)" if strict else "its own id is used"),
                    f"encounter.coverages[{k}].payer",
                    Severity.ERROR if strict else None,
                )
            )
            continue
        payer.source_id = payer.source_id or payer.id or None
        payer.id, payer.name = entry.payer_id, entry.name
        payer.address = entry.address or payer.address
        if entry.claim_filing_indicator:
            cov.claim_filing_indicator = entry.claim_filing_indicator
        if entry.member_id_from_patient_id and not cov.subscriber.member_id.strip():
            if (found := _member_from_patient(encounter, cov, k)) is not None:
                out.append(found)
    return out


def _member_from_patient(encounter: Encounter, cov: Coverage, k: int) -> Finding | None:
    """Fill a missing member id from the patient id when the patient is the
    subscriber and the id was sent (not derived); the warning says so."""
    patient = encounter.patient
    if cov.relationship != "18" or patient.id_derived or not patient.id.strip():
        return None
    cov.subscriber.member_id = patient.id
    return MEMBER_FROM_PATIENT.finding(
        f"coverage {cov.order}: no member id was sent; the patient id is sent as the member id "
        "(payer directory: member_id_from_patient_id)",
        f"encounter.coverages[{k}].subscriber.member_id",
    )
