"""Clean-claim rules: every rule fails on a bad claim and passes on a near miss."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from gateway_plugins.rules.scrubber import RULES, ScrubberSettings, scrub
from gateway_plugins.rules.scrubber.base import Context
from pydantic import ValidationError

from gateway.claims import MAX_LINES_PER_CLAIM
from gateway.config import ConfigError
from gateway.model import (
    Address,
    Claim,
    ClaimAdditions,
    Coverage,
    Diagnosis,
    NoteAddition,
    NoteQualifier,
    Patient,
    Payer,
    PersonName,
    Provider,
    ServiceLine,
    Severity,
    Subscriber,
)
from gateway.rules import all_catalogues, catalogue_markdown
from tests.conftest import ROOT, TODAY

DOS = date(2026, 10, 5)


def make_claim(**changes: object) -> Claim:
    """A clean claim: every scrubber rule passes on it."""
    patient = Patient(
        id="MRN1",
        name=PersonName(family="Testperson", given="Alma"),
        birth_date=date(1980, 4, 12),
        sex="F",
        address=Address(lines=["12 Fictional Lane"], city="Springfield", state="IL", postal_code="62701"),
    )
    lines = [
        ServiceLine(
            service_date=DOS,
            procedure_code="99213",
            code_system="CPT",
            charge=Decimal("125.00"),
            diagnosis_pointers=[1, 2],
        ),
        ServiceLine(
            service_date=DOS,
            procedure_code="87880",
            code_system="CPT",
            modifiers=["QW"],
            charge=Decimal("35.50"),
            diagnosis_pointers=[1],
        ),
    ]
    fields: dict = dict(
        id="V1",
        clinic_id="riverside",
        encounter_id="V1",
        billing_provider=Provider(
            npi="1234567893",
            organization_name="Riverside Family Practice LLC",
            tax_id="123456789",
            address=Address(lines=["100 Example Avenue"], city="Springfield", state="IL", postal_code="627010001"),
        ),
        rendering_provider=Provider(npi="1543210987", name=PersonName(family="Example", given="Robin")),
        patient=patient,
        coverage=Coverage(
            payer=Payer(id="EXPAYER1", name="Example Health Plan"),
            subscriber=Subscriber(member_id="XHP123", name=PersonName(family="Testperson", given="Alma")),
        ),
        diagnoses=[Diagnosis(code="J069"), Diagnosis(code="R059")],
        service_lines=lines,
        total_charge=Decimal("160.50"),
    )
    fields.update(changes)
    return Claim(**fields)


def rules_of(claim: Claim, today: date = TODAY) -> set[str]:
    return {f.rule for f in scrub(claim, Context(today=today))}


def with_line(i: int, **changes: object) -> Callable[[Claim], None]:
    def edit(c: Claim) -> None:
        for k, v in changes.items():
            setattr(c.service_lines[i], k, v)

    return edit


def billing_address(**changes: object) -> Callable[[Claim], None]:
    def edit(c: Claim) -> None:
        assert c.billing_provider.address is not None
        for k, v in changes.items():
            setattr(c.billing_provider.address, k, v)

    return edit


def set_attr(path: str, value: object) -> Callable[[Claim], None]:
    def edit(c: Claim) -> None:
        *parents, last = path.split(".")
        obj: object = c
        for p in parents:
            obj = getattr(obj, p)
        setattr(obj, last, value)

    return edit


def many_lines(n: int) -> Callable[[Claim], None]:
    def edit(c: Claim) -> None:
        c.service_lines = [c.service_lines[0].model_copy() for _ in range(n)]
        c.total_charge = Decimal("125.00") * n

    return edit


def dependent(patient_birth: date | None) -> Callable[[Claim], None]:
    def edit(c: Claim) -> None:
        c.coverage.relationship = "19"
        c.patient.birth_date = patient_birth
        c.coverage.subscriber.address = c.patient.address

    return edit


def replacement(ref: str | None) -> Callable[[Claim], None]:
    def edit(c: Claim) -> None:
        c.frequency_code = "7"
        c.original_reference = ref

    return edit


def accident(causes: list[str], state: str | None) -> Callable[[Claim], None]:
    def edit(c: Claim) -> None:
        c.related_causes, c.accident_state, c.accident_date = causes, state, DOS

    return edit


def drug(ndc: str) -> Callable[[Claim], None]:
    def edit(c: Claim) -> None:
        c.service_lines[0].ndc, c.service_lines[0].ndc_quantity, c.service_lines[0].ndc_unit = ndc, Decimal(2), "ML"

    return edit


def added(extra: ClaimAdditions) -> Callable[[Claim], None]:
    """``extra`` on a claim that has a note of its own and a line note on line 2."""

    def edit(c: Claim) -> None:
        c.note, c.service_lines[1].note, c.additions = "Claim note", "Line note", extra

    return edit


# rule id -> (edit that breaks the rule, near-miss edit that must still pass)
CASES: dict[str, tuple[Callable[[Claim], None], Callable[[Claim], None]]] = {
    "SCRUB-NPI": (set_attr("rendering_provider.npi", "1234567890"), set_attr("rendering_provider.npi", "1987654328")),
    "SCRUB-NPI-MISSING": (set_attr("billing_provider.npi", None), set_attr("service_facility", Provider(npi=None))),
    "SCRUB-BILLING-ZIP4": (billing_address(postal_code="62701"), billing_address(postal_code="62701-0001")),
    "SCRUB-BILLING-PO-BOX": (billing_address(lines=["P.O. Box 12"]), billing_address(lines=["12 Box Elder Road"])),
    "SCRUB-BILLING-ADDRESS": (billing_address(city=None), billing_address(lines=["1 Main St", "Suite 2"])),
    "SCRUB-TOTAL": (set_attr("total_charge", Decimal("160.00")), set_attr("total_charge", Decimal("160.5"))),
    "SCRUB-CHARGE": (with_line(1, charge=Decimal("-35.50")), with_line(1, charge=Decimal("0.00"))),
    "SCRUB-UNITS": (with_line(0, units=Decimal(0)), with_line(0, units=Decimal("0.5"))),
    "SCRUB-POINTERS": (with_line(1, diagnosis_pointers=[3]), with_line(1, diagnosis_pointers=[2, 1])),
    "SCRUB-FUTURE-DATE": (
        with_line(0, service_date=TODAY + timedelta(days=1)),
        with_line(0, service_date=TODAY),
    ),
    "SCRUB-BEFORE-BIRTH": (
        with_line(0, service_date=date(1980, 4, 11)),
        with_line(0, service_date=date(1980, 4, 12)),
    ),
    "SCRUB-LINES-MAX": (many_lines(MAX_LINES_PER_CLAIM + 1), many_lines(MAX_LINES_PER_CLAIM)),
    "SCRUB-SPLIT": (set_attr("parts", 2), set_attr("parts", 1)),
    "SCRUB-DIAG-MAX": (
        set_attr("diagnoses", [Diagnosis(code=f"J0{i % 10}9") for i in range(13)]),
        set_attr("diagnoses", [Diagnosis(code=f"Z0{i}") for i in range(12)]),
    ),
    "SCRUB-DIAG-NONE": (set_attr("diagnoses", []), set_attr("diagnoses", [Diagnosis(code="J069")])),
    "SCRUB-DIAG-DUPLICATE": (
        set_attr("diagnoses", [Diagnosis(code="J06.9"), Diagnosis(code="J069")]),
        set_attr("diagnoses", [Diagnosis(code="J06.9"), Diagnosis(code="J09")]),
    ),
    "SCRUB-POS": (set_attr("place_of_service", "1"), with_line(0, place_of_service="02")),
    "SCRUB-SUBSCRIBER": (
        set_attr("coverage.subscriber.member_id", " "),
        set_attr("coverage.subscriber.birth_date", None),
    ),
    "SCRUB-PATIENT": (dependent(None), dependent(date(2015, 1, 1))),
    "SCRUB-ADDRESS": (set_attr("patient.address", None), set_attr("coverage.subscriber.address", None)),
    "SCRUB-RELATIONSHIP": (set_attr("coverage.relationship", "SEL"), set_attr("coverage.relationship", "18")),
    "SCRUB-PAYER": (
        set_attr("coverage.claim_filing_indicator", "XX"),
        set_attr("coverage.claim_filing_indicator", "MB"),
    ),
    "SCRUB-FREQUENCY": (replacement(None), replacement("PAYERCLAIM123")),
    "SCRUB-X12-ID": (
        set_attr("coverage.subscriber.member_id", "XHP123~NM1*ZZ*9"),
        set_attr("coverage.subscriber.member_id", "xhp-123/4 #5"),
    ),
    "SCRUB-X12-TEXT": (set_attr("patient.name.given", "Al*ma"), set_attr("patient.name.given", "Zoë-Ann O’Neil")),
    "SCRUB-ZIP": (
        set_attr("patient.address.postal_code", "ABCDE"),
        set_attr("patient.address.postal_code", "62701-0001"),
    ),
    "SCRUB-STATE": (set_attr("patient.address.state", "62"), set_attr("patient.address.state", "pr")),
    "SCRUB-AMOUNT": (with_line(0, units=Decimal("100000")), with_line(0, units=Decimal("99999"))),
    "SCRUB-PATIENT-PAID": (set_attr("patient_paid", Decimal("-5.00")), set_attr("patient_paid", Decimal("20.00"))),
    "SCRUB-REFERENCE": (set_attr("prior_authorization", "AUTH 123"), with_line(0, prior_authorization="AUTH-1/2.3")),
    "SCRUB-CLAIM-DATE": (set_attr("onset_date", TODAY + timedelta(days=1)), set_attr("last_seen_date", TODAY)),
    "SCRUB-RELATED-CAUSES": (accident(["AA"], None), accident(["AA", "EM"], "IL")),
    "SCRUB-DELAY-REASON": (set_attr("delay_reason", "12"), set_attr("delay_reason", "15")),
    "SCRUB-NDC": (drug("0002-8215-1"), drug("00002-8215-01")),
    "SCRUB-ADDITION": (
        added(ClaimAdditions(notes=[NoteAddition(text="second note")])),
        added(ClaimAdditions(notes=[NoteAddition(text="third party", qualifier=NoteQualifier.THIRD_PARTY, line=1)])),
    ),
}


def test_the_base_claim_is_clean() -> None:
    assert scrub(make_claim(), Context(today=TODAY)) == []


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == {r.id for r in RULES}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fails_on_a_bad_claim(rule_id: str) -> None:
    claim = make_claim()
    CASES[rule_id][0](claim)
    findings = [f for f in scrub(claim, Context(today=TODAY)) if f.rule == rule_id]
    assert findings, f"{rule_id} did not fire"
    f = findings[0]
    assert f.severity is RULES[rule_id].severity and f.location and f.location.startswith("claim")
    for phi in ("Testperson", "Alma", "1980", "XHP123", "1234567890"):
        assert phi not in f.message  # messages never quote patient data


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_passes_on_a_near_miss(rule_id: str) -> None:
    claim = make_claim()
    CASES[rule_id][1](claim)
    assert rule_id not in rules_of(claim)


def test_wrong_total_on_a_claim_object() -> None:
    claim = make_claim(total_charge=Decimal("160.51"))
    (f,) = [f for f in scrub(claim, Context(today=TODAY)) if f.rule == "SCRUB-TOTAL"]
    assert f.location == "claim.total_charge" and f.is_error


def test_future_date_uses_the_processing_date_not_the_clock() -> None:
    claim = make_claim()
    assert "SCRUB-FUTURE-DATE" in rules_of(claim, today=DOS - timedelta(days=1))
    assert "SCRUB-FUTURE-DATE" not in rules_of(claim, today=DOS)


def test_every_npi_on_the_claim_is_checked() -> None:
    claim = make_claim()
    claim.service_lines[1].rendering_provider = Provider(npi="1987654321")
    claim.referring_provider = Provider(npi="2000000000")
    claim.service_lines[0].ordering_provider = Provider(npi="1234567890")
    claim.service_lines[0].referring_provider = Provider(npi="1234567893")  # valid
    claim.service_lines[1].referring_provider = Provider(npi="123456789")
    locations = {f.location for f in scrub(claim, Context(today=TODAY)) if f.rule == "SCRUB-NPI"}
    assert locations == {
        "claim.service_lines[2].rendering_provider.npi",
        "claim.referring_provider.npi",
        "claim.service_lines[1].ordering_provider.npi",
        "claim.service_lines[2].referring_provider.npi",
    }


def test_npis_checked_before_are_still_reported_each_time_and_the_memo_stays_small() -> None:
    from gateway.identifiers import npi_is_valid

    for _ in range(2):  # the second time from the memo: the same findings
        test_every_npi_on_the_claim_is_checked()
    for n in range(2_000):
        npi_is_valid(f"1{n:09d}")
    info = npi_is_valid.cache_info()
    assert info.hits > 0 and info.currsize <= (info.maxsize or 0) == 1024


def test_clinic_can_disable_a_rule_or_change_its_severity() -> None:
    claim = make_claim()
    claim.patient.address = None
    settings = ScrubberSettings(severity={"SCRUB-ADDRESS": Severity.ERROR}, disable=["SCRUB-NPI"])
    claim.rendering_provider.npi = "1234567890"  # type: ignore[union-attr]
    found = {f.rule: f.severity for f in scrub(claim, Context(today=TODAY), settings)}
    assert found == {"SCRUB-ADDRESS": Severity.ERROR}


def test_unknown_rule_in_settings_is_a_config_error(example_config: Path) -> None:
    from gateway.app import Gateway

    text = example_config.read_text().replace(
        "    settings:\n", "    settings:\n      scrubber: {disable: [SCRUB-NOPE]}\n", 1
    )
    example_config.write_text(text)
    with pytest.raises(ConfigError, match="SCRUB-NOPE"):
        Gateway.from_config(example_config)


def test_docs_list_every_rule() -> None:
    """docs/scrubbing.md embeds the generated catalogue table verbatim."""
    doc = (ROOT / "docs" / "scrubbing.md").read_text()
    assert catalogue_markdown(all_catalogues()) in doc


@pytest.mark.parametrize("huge", ["1e9", "1e30", "-1e30", "1e400"])
def test_huge_amounts_are_findings_not_crashes(huge: str) -> None:
    """A charge of 1e30 made the whole-cents check raise InvalidOperation
    (GW-PLUGIN-ERROR without the cause; found by tests/test_fuzz.py). The
    model refuses such amounts; the scrubber still names them on a claim
    built without validation (assignment, model_construct)."""
    with pytest.raises(ValidationError):
        make_claim(patient_paid=Decimal(huge))
    claim = make_claim()
    claim.patient_paid = Decimal(huge)
    claim.service_lines[0].charge = Decimal(huge)
    claim.total_charge = Decimal(huge)
    found = {(f.rule, f.location) for f in scrub(claim, Context(today=TODAY)) if f.is_error}
    assert ("SCRUB-AMOUNT", "claim.service_lines[1].charge") in found
    assert ("SCRUB-AMOUNT", "claim.total_charge") in found and ("SCRUB-AMOUNT", "claim.patient_paid") in found
    assert not {r for r, _ in found} & {"SCRUB-TOTAL", "SCRUB-PATIENT-PAID"}  # one finding per cause


def test_units_finer_than_a_thousandth_are_a_finding() -> None:
    """0.0000000000000001 units cannot be written in SV104 (15 digits; found by tests/test_fuzz.py)."""
    claim = make_claim()
    claim.service_lines[0].units = Decimal("0.0000000000000001")
    found = [(f.rule, f.location) for f in scrub(claim, Context(today=TODAY)) if f.is_error]
    assert found == [("SCRUB-AMOUNT", "claim.service_lines[1].units")]
    claim.service_lines[0].units = Decimal("0.125")
    assert "SCRUB-AMOUNT" not in rules_of(claim)
