"""The canonical billing model: the only thing plugins share.

Every format plugin turns its input into :class:`Encounter` objects; the core
turns encounters into :class:`Claim` and :class:`Statement` objects; render
plugins turn those into documents. Money is :class:`~decimal.Decimal`, never
float, and every model survives a JSON round trip unchanged
(``Model.model_validate_json(m.model_dump_json()) == m``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    model_validator,
)

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

    model_config = ConfigDict(extra="forbid", validate_assignment=False, defer_build=True)


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


class PriorAdjustment(_Model):
    """One CAS group/reason/amount of an earlier payer's answer as a later
    payer's claim carries it (837P 2320 or 2430 CAS): ``group`` CO, PR, OA,
    PI, CR; ``reason`` the CARC; a positive amount is money not paid."""

    group: str
    reason: str
    amount: Money
    quantity: Units | None = None


class LineAdjudication(_Model):
    """How an earlier payer paid one of our service lines (837P 2430):
    ``line`` is our LX (1-based); SVD procedure, modifiers, units and paid
    amount (SVD02); the line's CAS; the adjudication date (DTP*573)."""

    line: int = Field(ge=1, le=50)
    procedure_code: str
    code_qualifier: str = "HC"
    modifiers: list[str] = Field(default_factory=list, max_length=4)
    units: Units = Decimal(1)
    paid: Money
    adjustments: list[PriorAdjustment] = Field(default_factory=list)
    adjudication_date: date


class PriorAdjudication(_Model):
    """What an earlier payer answered (its 835 CLP), carried by the claim to
    the next payer on that payer's :class:`Coverage` in ``other_coverages``:
    what it paid (2320 AMT*D), its claim-level CAS (2320), the remaining
    patient liability (AMT*EAF), its claim control number (ICN, CLP07; 2330B
    REF*F8), the adjudication date (DTP*573) and, when it answered per line,
    the line adjudications (2430). Built by :mod:`gateway.secondary`."""

    paid: Money
    adjustments: list[PriorAdjustment] = Field(default_factory=list)
    patient_responsibility: Money
    claim_control_number: str | None = None
    adjudication_date: date
    lines: list[LineAdjudication] = Field(default_factory=list)


class Coverage(_Model):
    """One insurance policy that pays for the patient's care.

    ``order`` 1 is primary, 2 secondary, 3 tertiary. ``relationship`` is the
    patient's X12 relationship to the subscriber ("18" = self).
    ``claim_filing_indicator`` is SBR09 (CI commercial, MB Medicare Part B,
    MC Medicaid, BL Blue Cross…). ``adjudication`` is set on an earlier
    payer's coverage in a later payer's claim (secondary, tertiary): what
    that payer answered (left out of the JSON when None, as every None).
    """

    order: int = Field(1, ge=1, le=3)
    payer: Payer
    subscriber: Subscriber
    relationship: str = "18"
    claim_filing_indicator: str = "CI"
    plan_name: str | None = None
    prior_payer_paid: Money | None = None
    adjudication: PriorAdjudication | None = None

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
    #: who supervised the rendering provider for this line (837P 2420D)
    supervising_provider: Provider | None = None
    #: the payer's prior-authorization and referral numbers when they differ
    #: by line (837P 2400 REF*G1, REF*9F)
    prior_authorization: str | None = None
    referral_number: str | None = None
    #: a note about this line for the payer (837P 2400 NTE*ADD)
    note: str | None = None
    #: the drug's National Drug Code, 11 digits (5-4-2) without dashes, for
    #: drug lines (837P 2410 LIN*N4); ``ndc_quantity`` and ``ndc_unit`` (F2
    #: international unit, GR gram, ME milligram, ML millilitre, UN unit) are
    #: CTP04/CTP05 (the line's units, UN, when not sent)
    ndc: str | None = None
    ndc_quantity: Units | None = None
    ndc_unit: str | None = None
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


def _empty(value: Any) -> bool:
    """Fields added to Encounter and Claim after stores held their JSON
    (``related_causes``, ``additions``; statements' too, with :func:`_is`) are left out when empty,
    so a claim without them serialises (and digests: the store's duplicate
    rule) as before these fields existed. A field-level ``exclude_if`` keeps
    the whole dump in pydantic-core (a model-level wrap serializer went
    through Python for every encounter and claim)."""
    return not value


class _ClaimInfo(_Model):
    """Situational claim data payers require, on the encounter as the clinic
    sent it and on each of its claims (copied by the core)."""

    #: the payer's prior-authorization number for this care (837P 2300 REF*G1)
    prior_authorization: str | None = None
    #: the referral number the payer issued (837P 2300 REF*9F)
    referral_number: str | None = None
    #: onset of the current illness or symptom (837P 2300 DTP*431)
    onset_date: date | None = None
    #: date of the accident the care results from (837P 2300 DTP*439)
    accident_date: date | None = None
    #: the date the patient was last seen by the referring or ordering
    #: provider (837P 2300 DTP*304; routine foot care, physical therapy)
    last_seen_date: date | None = None
    #: why the care is related to an accident or employment, at most two of
    #: AA auto accident, EM employment, OA other accident (837P CLM11-1, -2)
    related_causes: list[str] = Field(default_factory=list, exclude_if=_empty)
    #: the state (USPS code) of an auto accident (837P CLM11-4, required with AA)
    accident_state: str | None = None
    #: a note for the payer about the claim (837P 2300 NTE*ADD, 80 characters)
    note: str | None = None
    #: why the claim is sent late: 1-11 or 15, X12 code list 1514 (837P CLM20)
    delay_reason: str | None = None


#: the situational fields an encounter passes on to each of its claims
CLAIM_INFO_FIELDS = tuple(_ClaimInfo.model_fields)


class Encounter(_ClaimInfo):
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


# ---------------------------------------------------------------------------
# Claim additions: what a payer plugin adds to a claim's 837P through the
# ``gateway_claim_additions`` hook (docs/plugins.md). Typed slots with the
# qualifiers 005010X222A1 allows where they go, never segment text: the x12
# renderer writes each in its loop, its value through the same element rules
# as every other value.


class ReferenceQualifier(StrEnum):
    """REF01 of an added reference (2300 claim or 2400 line level)."""

    PRIOR_AUTHORIZATION = "G1"
    REFERRAL = "9F"
    MEDICAL_RECORD = "EA"
    CLIA = "X4"
    REFERRING_CLIA = "F4"
    IMMUNIZATION_BATCH = "BT"
    MAMMOGRAPHY_CERTIFICATION = "EW"
    DEMONSTRATION_PROJECT = "P4"
    INVESTIGATIONAL_DEVICE = "LX"
    CARE_PLAN_OVERSIGHT = "1J"
    AUTHORIZATION_EXCEPTION = "4N"


class DateQualifier(StrEnum):
    """DTP01 of an added date (2300 claim or 2400 line level)."""

    ONSET = "431"
    INITIAL_TREATMENT = "454"
    LAST_SEEN = "304"
    ACUTE_MANIFESTATION = "453"
    ACCIDENT = "439"
    LAST_MENSTRUAL_PERIOD = "484"
    LAST_XRAY = "455"
    PRESCRIPTION = "471"
    LAST_WORKED = "297"
    RETURN_TO_WORK = "296"
    BEGIN_THERAPY = "463"
    LAST_CERTIFICATION = "461"
    SHIPPED = "011"


class NoteQualifier(StrEnum):
    """NTE01 of an added note."""

    ADDITIONAL = "ADD"
    CERTIFICATION = "CER"
    DIAGNOSIS = "DGN"
    GOALS = "DCP"
    THIRD_PARTY = "TPO"


class AmountQualifier(StrEnum):
    """AMT01 of an added line amount (2400)."""

    SALES_TAX = "T"
    POSTAGE = "F4"


#: which qualifiers 005010X222A1 allows at claim level (2300) and line level (2400)
CLAIM_LEVEL: dict[type[StrEnum], frozenset[str]] = {
    ReferenceQualifier: frozenset({"G1", "9F", "EA", "X4", "EW", "P4", "LX", "1J", "4N"}),
    DateQualifier: frozenset({"431", "454", "304", "453", "439", "484", "455", "471", "297", "296"}),
    NoteQualifier: frozenset({"ADD", "CER", "DGN", "DCP", "TPO"}),
    AmountQualifier: frozenset(),
}
LINE_LEVEL: dict[type[StrEnum], frozenset[str]] = {
    ReferenceQualifier: frozenset({"G1", "9F", "X4", "F4", "BT", "EW"}),
    DateQualifier: frozenset({"471", "463", "461", "304", "011", "455", "454"}),
    NoteQualifier: frozenset({"ADD", "DCP", "TPO"}),
    AmountQualifier: frozenset({"T", "F4"}),
}
#: a reference value: letters, digits and - . / (an 837P REF02 holds 50)
REFERENCE_VALUE = r"^[A-Za-z0-9][A-Za-z0-9./-]{0,49}$"


class _Addition(_Model):
    """``line`` None: the claim (2300); else the 1-based service line (2400)."""

    line: int | None = Field(None, ge=1, le=50)

    def _check_level(self, qualifier: StrEnum) -> None:
        allowed = (CLAIM_LEVEL if self.line is None else LINE_LEVEL)[type(qualifier)]
        if qualifier.value not in allowed:
            where = "claim level (2300)" if self.line is None else "line level (2400)"
            raise ValueError(f"{type(qualifier).__name__} {qualifier.value} is not allowed at {where}")


class ReferenceAddition(_Addition):
    """A REF: ``qualifier`` and ``value`` (letters, digits, ``-./``; 50 at most)."""

    qualifier: ReferenceQualifier
    value: str = Field(pattern=REFERENCE_VALUE)

    @model_validator(mode="after")
    def _level(self) -> ReferenceAddition:
        self._check_level(self.qualifier)
        return self


class DateAddition(_Addition):
    """A DTP with a single date (DTP02 = D8)."""

    qualifier: DateQualifier
    value: date

    @model_validator(mode="after")
    def _level(self) -> DateAddition:
        self._check_level(self.qualifier)
        return self


class NoteAddition(_Addition):
    """An NTE: free text, cleaned to the X12 character set and cut at 80."""

    qualifier: NoteQualifier = NoteQualifier.ADDITIONAL
    text: str = Field(min_length=1, max_length=80)

    @model_validator(mode="after")
    def _level(self) -> NoteAddition:
        self._check_level(self.qualifier)
        return self


class AmountAddition(_Addition):
    """A line AMT (sales tax, postage): ``line`` is required."""

    qualifier: AmountQualifier
    amount: Money = Field(ge=0)

    @model_validator(mode="after")
    def _level(self) -> AmountAddition:
        if self.line is None:
            raise ValueError("an added amount belongs to a service line: set line")
        self._check_level(self.qualifier)
        return self


class ClaimAdditions(_Model):
    """What plugins add to a claim's 837P (``gateway_claim_additions``).

    One of each qualifier per claim and per line (one claim note; per line
    one ADD/DCP note and one TPO note), as the 837P allows; the core refuses
    an addition the claim's own fields already fill (SCRUB-ADDITION).
    """

    references: list[ReferenceAddition] = Field(default_factory=list)
    dates: list[DateAddition] = Field(default_factory=list)
    notes: list[NoteAddition] = Field(default_factory=list)
    amounts: list[AmountAddition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _once(self) -> ClaimAdditions:
        items: list[_Addition] = [*self.references, *self.dates, *self.notes, *self.amounts]
        seen: set[tuple[str, int | None, str]] = set()
        for item in items:
            q = getattr(item, "qualifier")  # noqa: B009
            kind = type(item).__name__
            slot = q.value
            if isinstance(item, NoteAddition):
                slot = "TPO" if q is NoteQualifier.THIRD_PARTY and item.line is not None else "note"
            key = (kind, item.line, slot)
            if key in seen:
                where = "the claim" if item.line is None else f"line {item.line}"
                raise ValueError(f"two {kind}s with {slot} for {where}; the 837P allows one")
            seen.add(key)
        return self

    def __bool__(self) -> bool:
        return bool(self.references or self.dates or self.notes or self.amounts)

    def merged(self, other: ClaimAdditions) -> ClaimAdditions:
        """Both sets of additions (ValidationError when they overlap)."""
        return ClaimAdditions.model_validate(
            {
                "references": [*self.references, *other.references],
                "dates": [*self.dates, *other.dates],
                "notes": [*self.notes, *other.notes],
                "amounts": [*self.amounts, *other.amounts],
            }
        )

    def at(self, line: int | None) -> ClaimAdditions:
        """The additions of the claim (``None``) or of one line."""
        if not self:
            return self
        return ClaimAdditions.model_construct(
            references=[a for a in self.references if a.line == line],
            dates=[a for a in self.dates if a.line == line],
            notes=[a for a in self.notes if a.line == line],
            amounts=[a for a in self.amounts if a.line == line],
        )


class Claim(_ClaimInfo):
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
    #: what plugins added through the ``gateway_claim_additions`` hook
    additions: ClaimAdditions = Field(default_factory=ClaimAdditions, exclude_if=_empty)

    @property
    def payer(self) -> Payer:
        return self.coverage.payer


def _is(default: Any) -> Callable[[Any], bool]:
    """``exclude_if`` for a field added to statements after stores held their
    JSON: left out while at its ``default``, so an older statement serialises
    (and digests) as before (as :func:`_empty` does for claims)."""
    return lambda value: value == default


class InsurancePaid(_Model):
    """What one insurer paid on a statement line (payer place 1 primary, 2
    secondary, 3 tertiary)."""

    payer_seq: int = Field(1, ge=1, le=3)
    payer_name: str
    amount: Money


class PatientShare(_Model):
    """Why the patient owes part of a line: a PR reason in plain words
    (``deductible``, ``coinsurance``, ``copay``) and its amount."""

    reason: str
    words: str
    amount: Money


class StatementLine(_Model):
    """One row of a patient statement, by date of service.

    Self-pay lines carry only the charge (and what was paid at the visit);
    lines of insured claims answered by the payers also say who paid
    (``paid_by``, every insurer) and why the patient owes the rest
    (``patient_share``: deductible, coinsurance, copay). A negative balance
    is a credit (the patient paid more than their share)."""

    service_date: date
    description: str
    charge: Money
    insurance_paid: Money = Decimal("0.00")
    adjustments: Money = Decimal("0.00")
    patient_paid: Money = Decimal("0.00")
    insurance_pending: bool = False
    #: the claim (CLM01) the line belongs to, for lines of insured claims
    claim_id: str | None = Field(None, exclude_if=_empty)
    #: each insurer's payment (their sum is ``insurance_paid``)
    paid_by: list[InsurancePaid] = Field(default_factory=list, exclude_if=_empty)
    #: the patient's share by PR reason, in plain words
    patient_share: list[PatientShare] = Field(default_factory=list, exclude_if=_empty)
    #: when the patient was first billed for this balance (aging counts from
    #: it on cycle statements; None: the service date)
    first_billed: date | None = Field(None, exclude_if=_empty)
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
    """A patient statement (invoice) for one guarantor account.

    Statements of the statement cycle (:mod:`gateway.cycles`) also carry the
    dunning message of the account's age (``dunning_message``, a wording
    template), ``notice`` ``final`` for the final notice before collections
    (``collections``: the account as exported to the clinic's agency), and
    ``aging_from`` ``first_billed``: their aging counts from the date the
    patient was first billed for each balance, not from the service date."""

    id: str
    clinic_id: str
    account_number: str
    statement_date: date
    due_date: date
    patient: Patient
    guarantor: Guarantor
    lines: list[StatementLine] = Field(default_factory=list)
    aging: Aging = Field(default_factory=Aging)
    notice: Literal["statement", "final", "collections"] = Field("statement", exclude_if=_is("statement"))
    dunning_level: int = Field(0, ge=0, exclude_if=_empty)
    dunning_message: str | None = Field(None, exclude_if=_empty)
    aging_from: Literal["service_date", "first_billed"] = Field("service_date", exclude_if=_is("service_date"))
    #: payments on the account not applied to any line (shown as a credit)
    unapplied_credit: Money = Field(Decimal("0.00"), exclude_if=_empty)
    #: when the final notice went out (``notice`` ``collections``: the agency's export)
    final_notice_on: date | None = Field(None, exclude_if=_empty)

    @property
    def total_due(self) -> Decimal:
        """Patient balance of all lines not waiting for insurance, less any
        unapplied credit (negative: the account holds a credit)."""
        due = sum((ln.balance for ln in self.lines if not ln.insurance_pending), Decimal("0.00"))
        return due - self.unapplied_credit

    @property
    def amount_due(self) -> Decimal:
        """What the patient is asked to pay: the total due, never below zero."""
        return max(self.total_due, Decimal("0.00"))

    @property
    def total_pending(self) -> Decimal:
        """Balance of lines billed to insurance and not answered yet (not due)."""
        return sum((ln.balance for ln in self.lines if ln.insurance_pending), Decimal("0.00"))


class DunningStep(_Model):
    """A dunning wording for accounts whose oldest balance is ``min_days``
    old or more (counted from the date the patient was first billed for
    it). ``message`` is a statement wording template (the fields of the
    statements plugin's wording, e.g. ``{amount_due}``, ``{due_date}``)."""

    min_days: int = Field(ge=0, le=3650)
    message: str


class SecondaryBilling(_Model):
    """How claims go to one payer as the next payer (payer directory ``secondary:``).

    ``delay_days``: days after the earlier payer's 835 posted before the
    claim is sent (0: at the batcher's next look). ``wait_for_crossover``:
    the earlier payer usually forwards claims to this payer itself (Medicare
    to a Medigap plan), so even an 835 without a crossover marker does not
    bill it until ``delay_days`` passed; its own 835 arriving meanwhile posts
    on the waiting claim and nothing is sent. ``prior_claim_number``: this
    payer wants the earlier payers' claim control numbers (2330B REF*F8).
    """

    #: the earlier payer usually forwards this payer's claims itself: wait ``delay_days`` for its 835
    wait_for_crossover: bool = False
    #: days after the earlier payer's 835 posted before the claim is sent
    delay_days: int = Field(0, ge=0, le=365)
    #: this payer wants the earlier payers' claim control numbers (2330B REF*F8)
    prior_claim_number: bool = False

    @model_validator(mode="after")
    def _wait(self) -> SecondaryBilling:
        if self.wait_for_crossover and self.delay_days < 1:
            raise ValueError(
                "wait_for_crossover needs delay_days (how many days to wait for the crossover) of 1 or more"
            )
        return self


class StatementCycle(_Model):
    """A clinic's statement cycle (``gateway_statement_cycle``, read by
    :mod:`gateway.cycles`): a statement every ``every_days`` while a balance
    is due; balances up to ``small_balance`` are written off, not mailed;
    dunning wording by age (``dunning``, ascending ``min_days``); a final
    notice once the oldest balance is ``final_notice_after_days`` old, and
    the account goes to collections ``collections_after_days`` after the
    final notice (None: never), exported to the destination ``collections_to``."""

    every_days: int = Field(30, ge=1, le=365)
    small_balance: Money = Field(Decimal("0.00"), ge=0)
    dunning: list[DunningStep] = Field(default_factory=list)
    final_notice_after_days: int | None = Field(None, ge=1, le=3650)
    collections_after_days: int | None = Field(None, ge=0, le=3650)
    #: the destination (a name under ``destinations:``) of the collections export
    collections_to: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> StatementCycle:
        days = [d.min_days for d in self.dunning]
        if days != sorted(set(days)):
            raise ValueError("dunning steps must have increasing min_days, each once")
        if self.collections_after_days is not None and not self.collections_to:
            raise ValueError("collections_after needs collections_to: the destination of the agency's export")
        if self.collections_after_days is not None and self.final_notice_after_days is None:
            raise ValueError(
                "collections_after needs final_notice_after: an account goes to collections only after its final notice"
            )
        return self


# ---------------------------------------------------------------------------
# Responses: what clearinghouses and payers answer (TA1, 999, 277CA, 835)
#
# Read by the ``gateway_read_responses`` hook (docs/remittance.md). Every
# ``segment`` is the 1-based position in the file the document came from
# (the first ISA is segment 1), so a finding can point at it. Codes keep
# their X12 value; ``*_text`` fields say it in plain words. A document's
# ``findings`` are about that document (an error there quarantines it).


class X12Control(_Model):
    """The envelope a response document came in: who sent it and the
    control numbers that tie it to its file (ISA13, GS06, ST02)."""

    interchange: str
    sender: str
    receiver: str
    usage: str = "P"
    group: str | None = None
    group_sender: str | None = None
    group_receiver: str | None = None
    version: str | None = None
    transaction: str | None = None
    segment: int


class InterchangeAck(_Model):
    """A TA1: the clearinghouse's answer to one of our interchanges (TA101 =
    our ISA13), before any functional group is looked at."""

    kind: Literal["TA1"] = "TA1"
    control: X12Control
    interchange: str
    ack_date: date | None = None
    status: str
    status_text: str
    note: str
    note_text: str
    segment: int
    findings: list[Finding] = Field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.status in ("A", "E")


class AckContext(_Model):
    """A CTX segment of a 999: the business context of an error (``name``
    CLM01 with ``reference`` the claim id) or a situational trigger."""

    name: str
    reference: str | None = None
    segment_id: str | None = None
    position: int | None = None
    loop: str | None = None
    element: str | None = None
    segment: int


class AckElementError(_Model):
    """IK4: one element in error inside the segment its IK3 names."""

    position: int | None = None
    component: int | None = None
    repetition: int | None = None
    element_ref: str | None = None
    code: str
    description: str
    segment: int


class AckSegmentError(_Model):
    """IK3 (with its CTX and IK4): a segment of our transaction set in
    error. ``position`` counts from our ST (ST = 1)."""

    segment_id: str
    position: int | None = None
    loop: str | None = None
    code: str | None = None
    description: str
    context: list[AckContext] = Field(default_factory=list)
    elements: list[AckElementError] = Field(default_factory=list)
    segment: int


class TransactionAck(_Model):
    """AK2…IK5: the answer for one of our transaction sets (AK202 = our
    ST02). ``status`` is IK501: A accepted, E accepted with errors, R/M/W/X
    rejected."""

    transaction_set: str
    control_number: str
    convention: str | None = None
    status: str
    status_text: str
    codes: list[str] = Field(default_factory=list)
    code_texts: list[str] = Field(default_factory=list)
    errors: list[AckSegmentError] = Field(default_factory=list)
    segment: int

    @property
    def accepted(self) -> bool:
        return self.status in ("A", "E")


class Ack999(_Model):
    """A 999 (005010X231A1): the answer for one of our functional groups
    (AK102 = our GS06) and each transaction set in it. ``status`` is AK901:
    A accepted, E accepted with errors, P partially accepted, R rejected."""

    kind: Literal["999"] = "999"
    control: X12Control
    functional_id: str
    group_control: str
    convention: str | None = None
    status: str
    status_text: str
    sets_included: int | None = None
    sets_received: int | None = None
    sets_accepted: int | None = None
    codes: list[str] = Field(default_factory=list)
    code_texts: list[str] = Field(default_factory=list)
    transactions: list[TransactionAck] = Field(default_factory=list)
    segment: int
    findings: list[Finding] = Field(default_factory=list)


class StatusCode(_Model):
    """One claim status composite (STC01, STC10 or STC11): category (A1
    received, A2 accepted into adjudication, A3/A6/A7/A8 rejected…), status
    code and the entity it is about (85 billing provider, IL subscriber…)."""

    category: str
    category_text: str
    code: str
    code_text: str
    entity: str | None = None
    entity_text: str | None = None


#: claim status categories that mean "the payer did not take the claim"
REJECTED_CATEGORIES = frozenset({"A3", "A4", "A6", "A7", "A8"})


class Status277(_Model):
    """One STC segment: its status codes, ``status_date`` (STC02), action (STC03) and
    the amount it is about (STC04, the claim's charge); ``message`` is STC12."""

    codes: list[StatusCode]
    status_date: date | None = None
    action: str | None = None
    charge: Money | None = None
    message: str | None = None
    segment: int

    @property
    def rejected(self) -> bool:
        return any(c.category in REJECTED_CATEGORIES for c in self.codes)


class LineAck277(_Model):
    """2220D: the status of one service line of a claim in a 277CA."""

    procedure: str | None = None
    qualifier: str | None = None
    modifiers: list[str] = Field(default_factory=list)
    charge: Money | None = None
    units: Decimal | None = None
    control_number: str | None = None
    service_date: date | None = None
    statuses: list[Status277] = Field(default_factory=list)
    segment: int


class ClaimAck277(_Model):
    """A 277CA (005010X214) answer for one claim: our CLM01 (TRN*2 of the
    patient loop), the payer's claim control number (REF*1K), the
    clearinghouse trace (REF*D9), the billing provider it was filed under and
    the STC statuses. ``provider_statuses`` are the billing provider loop's
    own STCs (a provider-level rejection applies to its claims)."""

    kind: Literal["277CA"] = "277CA"
    control: X12Control
    claim_id: str
    payer_claim_id: str | None = None
    clearinghouse_trace: str | None = None
    batch_reference: str | None = None
    payer_name: str | None = None
    payer_id: str | None = None
    billing_name: str | None = None
    billing_npi: str | None = None
    billing_tax_id: str | None = None
    provider_statuses: list[Status277] = Field(default_factory=list)
    statuses: list[Status277] = Field(default_factory=list)
    charge: Money | None = None
    patient: PersonName | None = None
    member_id: str | None = None
    service_date: date | None = None
    service_end: date | None = None
    lines: list[LineAck277] = Field(default_factory=list)
    segment: int
    findings: list[Finding] = Field(default_factory=list)

    @property
    def rejected(self) -> bool:
        """The payer did not take the claim (A3/A4/A6/A7/A8 at claim or provider level)."""
        return any(s.rejected for s in self.statuses + self.provider_statuses)


class RemitParty(_Model):
    """An 835 party (1000A payer N1*PR, 1000B payee N1*PE) and its ids:
    ``npi`` from N103 = XX, ``tax_id`` from N103 = FI or REF*TJ,
    ``payer_id`` from REF*2U or N103 = XV/PI."""

    name: str | None = None
    id_qualifier: str | None = None
    id: str | None = None
    npi: str | None = None
    tax_id: str | None = None
    payer_id: str | None = None
    address: Address | None = None
    segment: int


class RemitPayment(_Model):
    """BPR + TRN: how much was paid, how and when, and the check or EFT
    trace number (TRN02) that identifies the payment with the payer (TRN03)."""

    handling: str
    amount: Money
    credit_debit: Literal["C", "D"] = "C"
    method: str
    payment_format: str | None = None
    payment_date: date | None = None
    trace_number: str | None = None
    originator: str | None = None
    segment: int

    @property
    def signed_amount(self) -> Decimal:
        """BPR02 with the sign BPR03 gives it (a debit is negative)."""
        return -self.amount if self.credit_debit == "D" else self.amount


class Adjustment(_Model):
    """One CAS group/reason/amount(/quantity) triple. ``group``: CO
    contractual, PR patient responsibility, OA other, PI payer initiated, CR
    correction; ``reason``: the CARC (1 deductible, 2 coinsurance, 45 fee
    schedule…). A positive amount is money not paid."""

    group: str
    reason: str
    amount: Money
    quantity: Decimal | None = None
    segment: int


class RemitLine(_Model):
    """2110: one service line as paid. ``procedure`` is SVC01 (what was
    paid: the payer may have changed or bundled it); ``original_procedure``
    is SVC06 (what we billed) when they differ. ``control_number`` is our
    line's REF*6R when the payer returns it."""

    qualifier: str
    procedure: str
    modifiers: list[str] = Field(default_factory=list)
    charge: Money
    paid: Money
    revenue_code: str | None = None
    units: Decimal | None = None
    original_qualifier: str | None = None
    original_procedure: str | None = None
    original_modifiers: list[str] = Field(default_factory=list)
    original_units: Decimal | None = None
    service_date: date | None = None
    service_end: date | None = None
    control_number: str | None = None
    allowed: Money | None = None
    adjustments: list[Adjustment] = Field(default_factory=list)
    remarks: list[str] = Field(default_factory=list)
    segment: int


class RemitClaim(_Model):
    """2100: one claim as paid (CLP). ``claim_id`` is CLP01 (our CLM01);
    ``status`` CLP02 (1/2/3 processed as primary/secondary/tertiary, 4
    denied, 19/20/21 processed and forwarded, 22 reversal of a previous
    payment, 23 not our claim); ``payer_claim_id`` CLP07 (the ICN).
    ``adjustments`` are claim-level CAS; ``remarks`` the RARCs of MOA/MIA."""

    claim_id: str
    status: str
    status_text: str
    charge: Money
    paid: Money
    patient_responsibility: Money | None = None
    filing_indicator: str | None = None
    payer_claim_id: str | None = None
    facility_type: str | None = None
    frequency: str | None = None
    patient: PersonName | None = None
    member_id: str | None = None
    rendering_npi: str | None = None
    received_date: date | None = None
    service_date: date | None = None
    service_end: date | None = None
    adjustments: list[Adjustment] = Field(default_factory=list)
    remarks: list[str] = Field(default_factory=list)
    lines: list[RemitLine] = Field(default_factory=list)
    #: NM1*TT: the payer the claim was forwarded to (crossover), by id or name
    crossover_payer: str | None = None
    #: NM1*TT: the crossover payer's name
    crossover_name: str | None = None
    segment: int

    @property
    def reversal(self) -> bool:
        return self.status == "22"

    def all_adjustments(self) -> list[Adjustment]:
        """Claim-level and line-level CAS together."""
        return self.adjustments + [a for ln in self.lines for a in ln.adjustments]


class ProviderAdjustment(_Model):
    """One PLB reason/amount pair: a provider-level adjustment (L6
    interest, WO overpayment recovery, FB forward balance…). A positive
    amount reduces the payment, a negative one adds to it."""

    provider_id: str
    fiscal_period: date | None = None
    reason: str
    reference: str | None = None
    amount: Money
    segment: int


class Remit835(_Model):
    """One 835 transaction set (ST…SE, 005010X221A1): one payment (or
    notice) from a payer to a payee, with its claims and provider
    adjustments. It posts whole or not at all: an error finding here
    quarantines it."""

    kind: Literal["835"] = "835"
    control: X12Control
    #: None only in a quarantined document whose BPR or N1 loop is missing
    payment: RemitPayment | None = None
    payer: RemitParty | None = None
    payee: RemitParty | None = None
    production_date: date | None = None
    claims: list[RemitClaim] = Field(default_factory=list)
    provider_adjustments: list[ProviderAdjustment] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    #: a large remit is not held: ``claims`` stays empty and this re-reads them from the file's bytes
    _claim_stream: Callable[[], Iterator[RemitClaim]] | None = PrivateAttr(default=None)
    _claim_count: int = PrivateAttr(default=0)
    #: the reader's lighter walk of the same claims for posting (``gateway.posting.PostedClaim``s)
    _posting_stream: Callable[[], Iterator[Any]] | None = PrivateAttr(default=None)

    def stream_claims(
        self, stream: Callable[[], Iterator[RemitClaim]], count: int, posting: Callable[[], Iterator[Any]] | None = None
    ) -> None:
        """Hand the claims over as a re-iterable stream (``stream()`` reads
        them again from the file, one at a time) instead of a list; with
        ``posting``, a walk of the same claims made for posting them
        (:meth:`iter_posting`)."""
        self.claims = []
        self._claim_stream, self._claim_count, self._posting_stream = stream, count, posting

    @property
    def streamed(self) -> bool:
        """True when the claims come from :meth:`iter_claims` only (a large remit)."""
        return self._claim_stream is not None

    @property
    def claim_count(self) -> int:
        """How many claims (CLP) the transaction set holds."""
        return self._claim_count if self._claim_stream is not None else len(self.claims)

    def iter_claims(self) -> Iterator[RemitClaim]:
        """The claims in file order, held or streamed (each call starts over)."""
        return self._claim_stream() if self._claim_stream is not None else iter(self.claims)

    def iter_posting(self) -> Iterator[Any] | None:
        """A streamed remit's claims as ``gateway.posting.PostedClaim``s, when the reader offers that walk."""
        return self._posting_stream() if self._posting_stream is not None else None


class RemitEnd(_Model):
    """The end of an 835 read claim by claim (the streaming reader yields
    the :class:`Remit835` header, its claims, then this): the provider
    adjustments, every finding of the transaction set and the totals."""

    claims: int
    paid: Money
    provider_adjustments: list[ProviderAdjustment] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    segment: int


#: one response document: a TA1, a 999, a 277CA claim answer or an 835
ResponseDocument = Annotated[InterchangeAck | Ack999 | ClaimAck277 | Remit835, Field(discriminator="kind")]


class ResponseBatch(_Model):
    """Everything read from one response file: the documents in file order
    and the findings about the file itself (syntax, envelope counts)."""

    documents: list[ResponseDocument] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
