"""The canonical billing model: the only thing plugins share.

Every format plugin turns its input into :class:`Encounter` objects; the core
turns encounters into :class:`Claim` and :class:`Statement` objects; render
plugins turn those into documents. Money is :class:`~decimal.Decimal`, never
float, and every model survives a JSON round trip unchanged
(``Model.model_validate_json(m.model_dump_json()) == m``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from gateway.money import MAX_AMOUNT, MAX_UNITS

#: Money: a Decimal that serialises to a JSON string ("125.00"), so no float
#: ever touches an amount and trailing zeros survive the round trip. Values
#: beyond gateway.money.MAX_AMOUNT (1e308, thousands of digits) are refused.
Money = Annotated[
    Decimal,
    Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT),
    PlainSerializer(lambda d: str(d), return_type=str, when_used="json"),
]
#: Units of service: a Decimal up to gateway.money.MAX_UNITS.
Units = Annotated[Decimal, Field(ge=-MAX_UNITS, le=MAX_UNITS)]


class _Model(BaseModel):
    """Base for all canonical models: unknown keys are refused, so a typo in
    a plugin or a JSON input is an error rather than lost data."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Severity(StrEnum):
    """How bad a finding is. ``error`` quarantines the encounter/message."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Finding(_Model):
    """Something a rule, parser or plugin noticed.

    ``rule`` is a stable id (``GW-PARSE-001``, ``NPI-CHECK``…), ``location``
    says where (``FT1[2]-11``, ``Bundle.entry[3].resource.code``,
    ``claim.service_lines[1].units``). ``message`` is for a biller and never
    holds PHI: say "PID-7 is not a date", not the date.
    """

    severity: Severity
    rule: str
    message: str
    location: str | None = None
    plugin: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


class Address(_Model):
    lines: list[str] = Field(default_factory=list)
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str = "US"


class PersonName(_Model):
    family: str
    given: str | None = None
    middle: str | None = None
    suffix: str | None = None

    def display(self) -> str:
        """ "Given Middle Family Suffix" for letters and statements."""
        parts = [self.given, self.middle, self.family, self.suffix]
        return " ".join(p for p in parts if p)


Sex = Literal["M", "F", "U"]


class Patient(_Model):
    """The person who received care. ``id`` is the clinic's MRN/account id."""

    id: str
    name: PersonName
    birth_date: date | None = None
    sex: Sex = "U"
    address: Address | None = None
    phone: str | None = None
    #: where statements may be e-mailed when the patient is their own guarantor
    email: str | None = None
    #: True when the sender gave no id and the reader derived one from the
    #: message (a bundle entry's fullUrl): unique, but never used to merge
    #: statement accounts
    id_derived: bool = False


class Payer(_Model):
    """An insurer. ``id`` is the X12 payer id once mapped; ``source_id`` is
    the id the clinic sent (HL7 IN1-3, FHIR payor identifier)."""

    id: str
    name: str
    source_id: str | None = None
    address: Address | None = None


class Subscriber(_Model):
    """The insured person (policy holder) of a coverage."""

    member_id: str
    name: PersonName
    birth_date: date | None = None
    sex: Sex = "U"
    address: Address | None = None
    group_number: str | None = None
    group_name: str | None = None


class Coverage(_Model):
    """One insurance policy that pays for the patient's care.

    ``order`` 1 is primary, 2 secondary, 3 tertiary. ``relationship`` is the
    patient's X12 relationship to the subscriber ("18" = self).
    ``claim_filing_indicator`` is SBR09 (CI commercial, MB Medicare Part B,
    MC Medicaid, BL Blue Cross…).
    """

    order: int = Field(1, ge=1, le=3)
    payer: Payer
    subscriber: Subscriber
    relationship: str = "18"
    claim_filing_indicator: str = "CI"
    plan_name: str | None = None
    prior_payer_paid: Money | None = None

    @property
    def payer_responsibility_code(self) -> str:
        """SBR01: P, S or T."""
        return "PST"[self.order - 1]


class Provider(_Model):
    """A billing, rendering, referring provider or a service facility."""

    npi: str | None = None
    organization_name: str | None = None
    name: PersonName | None = None
    taxonomy: str | None = None
    tax_id: str | None = None
    tax_id_type: Literal["EI", "SY"] = "EI"
    address: Address | None = None
    phone: str | None = None

    def display(self) -> str:
        if self.organization_name:
            return self.organization_name
        return self.name.display() if self.name else (self.npi or "")


class Diagnosis(_Model):
    """An ICD-10-CM diagnosis. Position in the encounter list is its order
    (1 = principal); pointers on service lines are 1-based into that list."""

    code: str
    system: str = "ICD-10-CM"
    description: str | None = None


class ServiceLine(_Model):
    """One billed service: a CPT/HCPCS code on a date with units and charge."""

    service_date: date
    procedure_code: str | None = None
    code_system: Literal["CPT", "HCPCS"] | None = None
    #: the code as the clinic sent it when it is not CPT/HCPCS: a charge
    #: master code (``local_system`` None) or another code system's code
    #: (``local_system`` e.g. ``http://snomed.info/sct``), mapped by the
    #: charge master and code map plugins
    local_code: str | None = None
    local_system: str | None = None
    modifiers: list[str] = Field(default_factory=list, max_length=4)
    units: Units = Decimal(1)
    charge: Money | None = None
    diagnosis_pointers: list[int] = Field(default_factory=list)
    place_of_service: str | None = None
    rendering_provider: Provider | None = None
    #: who ordered this service and who referred the patient for it, when
    #: they differ by line (837P 2420E, 2420F: labs, DME, imaging)
    ordering_provider: Provider | None = None
    referring_provider: Provider | None = None
    ndc: str | None = None
    description: str | None = None
    control_number: str | None = None
    #: the patient pays this line themselves (non-covered or elective
    #: service): it is left off insurance claims and is due on the statement
    self_pay: bool = False
    #: where the line came from in the input, for tracing and for findings
    #: about it: ``FT1[2]`` (``MSG[n]/FT1[2]`` in a batch),
    #: ``Bundle.entry[5].resource`` (``….item[0]`` for a Claim item),
    #: ``$.encounters[0].service_lines[1]``; None when the reader does not say
    source_ref: str | None = None


class Guarantor(_Model):
    """Who receives the patient statement (GT1, FHIR Account.guarantor)."""

    name: PersonName
    address: Address | None = None
    phone: str | None = None
    relationship: str | None = None
    account_number: str | None = None
    #: where statements may be e-mailed (sets the statement document's "to")
    email: str | None = None


class Encounter(_Model):
    """One visit as the clinic reported it, format details removed.

    ``id`` is the visit/account number (PV1-19, FHIR Encounter id).
    ``extensions`` keeps what a format carries that the model has no place
    for (HL7 Z-segments, FHIR extensions) so mapping plugins can use it.
    """

    id: str
    clinic_id: str | None = None
    source: str | None = None
    patient: Patient
    coverages: list[Coverage] = Field(default_factory=list)
    guarantor: Guarantor | None = None
    billing_provider: Provider | None = None
    rendering_provider: Provider | None = None
    referring_provider: Provider | None = None
    service_facility: Provider | None = None
    place_of_service: str | None = None
    start_date: date | None = None
    diagnoses: list[Diagnosis] = Field(default_factory=list)
    service_lines: list[ServiceLine] = Field(default_factory=list)
    #: what the patient paid at the visit toward this encounter (copays
    #: collected at the front desk: HL7 FT1-6 = PY); on the claim as AMT*F5
    #: and on the statement as paid
    patient_paid: Money | None = None
    extensions: dict[str, Any] = Field(default_factory=dict)

    def primary_coverage(self) -> Coverage | None:
        ordered = sorted(self.coverages, key=lambda c: c.order)
        return ordered[0] if ordered else None


class Claim(_Model):
    """A professional claim (837P 2300 loop) for one payer.

    ``id`` is the patient control number (CLM01, at most 20 characters),
    deterministic from clinic, encounter and part so a reprocessed message
    yields the same claim id. ``frequency_code`` is CLM05-3 (1 original,
    7 replacement, 8 void; 7/8 need ``original_reference``).
    """

    id: str = Field(max_length=20)
    clinic_id: str
    encounter_id: str
    part: int = 1
    parts: int = 1
    frequency_code: str = "1"
    original_reference: str | None = None
    billing_provider: Provider
    rendering_provider: Provider | None = None
    referring_provider: Provider | None = None
    service_facility: Provider | None = None
    patient: Patient
    coverage: Coverage
    other_coverages: list[Coverage] = Field(default_factory=list)
    place_of_service: str = "11"
    diagnoses: list[Diagnosis] = Field(default_factory=list)
    service_lines: list[ServiceLine] = Field(default_factory=list)
    total_charge: Money
    #: patient amount paid (2300 AMT*F5): copays collected at the visit
    patient_paid: Money | None = None

    @property
    def payer(self) -> Payer:
        return self.coverage.payer


class StatementLine(_Model):
    """One row of a patient statement, by date of service."""

    service_date: date
    description: str
    charge: Money
    insurance_paid: Money = Decimal("0.00")
    adjustments: Money = Decimal("0.00")
    patient_paid: Money = Decimal("0.00")
    insurance_pending: bool = False
    #: visit the line comes from, and whose care it was (an account may hold
    #: several patients' visits: a parent's account for two children)
    encounter_id: str | None = None
    patient_name: str | None = None
    #: the service line's ``source_ref`` (where in the input it came from)
    source_ref: str | None = None

    @property
    def balance(self) -> Decimal:
        return self.charge - self.insurance_paid - self.adjustments - self.patient_paid


class Aging(_Model):
    """Balance by age of the charge: current, 31–60, 61–90, over 90 days."""

    current: Money = Decimal("0.00")
    days_31_60: Money = Decimal("0.00")
    days_61_90: Money = Decimal("0.00")
    over_90: Money = Decimal("0.00")


class Statement(_Model):
    """A patient statement (invoice) for one guarantor account."""

    id: str
    clinic_id: str
    account_number: str
    statement_date: date
    due_date: date
    patient: Patient
    guarantor: Guarantor
    lines: list[StatementLine] = Field(default_factory=list)
    aging: Aging = Field(default_factory=Aging)

    @property
    def total_due(self) -> Decimal:
        """Patient balance of all lines not waiting for insurance."""
        return sum((ln.balance for ln in self.lines if not ln.insurance_pending), Decimal("0.00"))

    @property
    def total_pending(self) -> Decimal:
        """Balance of lines billed to insurance and not answered yet (not due)."""
        return sum((ln.balance for ln in self.lines if ln.insurance_pending), Decimal("0.00"))
