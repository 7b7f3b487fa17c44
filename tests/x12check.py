"""Shared helpers for X12 tests: pyx12 validation of every X12 file written
or read, and synthetic claim fixtures (fictitious people, valid-Luhn fake
NPIs).

``assert_valid_x12(data, kind)`` runs pyx12's ``x12n_document`` (maps
loaded once per test session) on any kind pyx12 has a map for (837P, 835,
277CA, 999) and fails with pyx12's messages; ``assert_valid_837`` is its
837P case.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from gateway_plugins.renderers.x12.pyx12check import Pyx12Error, Pyx12Validator
from gateway_plugins.renderers.x12.render import Claim837Renderer
from gateway_plugins.renderers.x12.settings import X12Settings

from gateway.config import PartyConfig
from gateway.documents import Document, MemoryControlNumbers, RenderContext
from gateway.model import (
    Address,
    Claim,
    Coverage,
    Diagnosis,
    Patient,
    Payer,
    PersonName,
    Provider,
    ServiceLine,
    Subscriber,
)

PYX12 = Pyx12Validator()
CREATED = datetime(2026, 11, 27, 9, 15)


def pyx12_errors(data: bytes) -> list[Pyx12Error]:
    return PYX12.validate(data)


def assert_valid_837(data: bytes) -> None:
    """pyx12 (x12n_document) finds no error in ``data``."""
    assert_valid_x12(data, "837")


#: transaction set → the implementation guide (GS08) pyx12 must have checked it against
GUIDES = {"837": "005010X222A1", "835": "005010X221A1", "277": "005010X214", "999": "005010X231A1"}


def assert_valid_x12(data: bytes, kind: str) -> None:
    """``data`` holds ``kind`` transaction sets (837, 835, 277, 999) under
    their 5010 implementation guide, and pyx12 finds no error in it."""
    from gateway.x12 import SegmentStream

    segments = list(SegmentStream(data))
    assert {s.get(8) for s in segments if s.id == "GS"} == {GUIDES[kind]}, "not the implementation guide expected"
    assert {s.get(1) for s in segments if s.id == "ST"} == {kind}
    errors = pyx12_errors(data)
    assert not errors, "pyx12 errors:\n" + "\n".join(f"segment {e.segment} {e.element}: {e.message}" for e in errors)


# -- configuration and rendering ----------------------------------------------

CONFIG = SimpleNamespace(
    submitter=PartyConfig(name="Example Billing Services", id="EXBILL01", contact_name="Claims Desk",
                          contact_phone="555-555-0100"),
    receiver=PartyConfig(name="Example Clearinghouse", id="EXCLEAR01"),
    clinics=[],
)  # fmt: skip


def render(claims: list[Claim], numbers: Any = None, config: Any = CONFIG, **settings: Any) -> Document:
    """One clinic's claims rendered to one 837P document."""
    ctx = RenderContext(
        created=CREATED,
        config=config,
        control_numbers=numbers or MemoryControlNumbers(),
        settings=X12Settings(**settings),
    )
    docs = Claim837Renderer().render(claims, ctx)
    assert len(docs) == 1
    return docs[0]


# -- synthetic claims ------------------------------------------------------------

DOS = date(2026, 10, 5)
BILLING = Provider(
    npi="1234567893",
    organization_name="Riverside Family Practice LLC",
    taxonomy="207Q00000X",
    tax_id="123456789",
    address=Address(lines=["100 Example Avenue"], city="Springfield", state="IL", postal_code="627010001"),
)
OTHER_BILLING = Provider(
    npi="1987654328",
    organization_name="Lakeside Pediatrics PC",
    tax_id="987654321",
    address=Address(lines=["200 Sample Road", "Suite 3"], city="Shelbyville", state="IL", postal_code="62565-0002"),
)
RENDERING = Provider(
    npi="1543210987", name=PersonName(family="Example", given="Robin", middle="Q"), taxonomy="207Q00000X"
)
REFERRING = Provider(npi="1122334455", name=PersonName(family="Sample", given="Jordan"))
FACILITY = Provider(
    npi="1678901236",
    organization_name="Riverside Annex Clinic",
    address=Address(lines=["300 Annex Way"], city="Springfield", state="IL", postal_code="627020003"),
)
PAYER = Payer(id="EXPAYER1", name="Example Health Plan")
SECOND_PAYER = Payer(id="EXPAYER2", name="Sample Supplemental Insurance")


def _home(n: int) -> Address:
    return Address(lines=[f"{n} Fictional Lane"], city="Springfield", state="IL", postal_code="62701")


def _line(code: str, charge: str, pointers: list[int], **kw: Any) -> ServiceLine:
    return ServiceLine(service_date=kw.pop("service_date", DOS), procedure_code=code, code_system="CPT",
                       charge=Decimal(charge), diagnosis_pointers=pointers, **kw)  # fmt: skip


def _claim(cid: str, patient: Patient, coverage: Coverage, lines: list[ServiceLine], dx: list[str], **kw: Any) -> Claim:
    return Claim(
        id=cid,
        clinic_id="riverside",
        encounter_id=cid,
        billing_provider=kw.pop("billing_provider", BILLING),
        patient=patient,
        coverage=coverage,
        diagnoses=[Diagnosis(code=c) for c in dx],
        service_lines=lines,
        total_charge=sum((ln.charge for ln in lines), Decimal("0.00")),  # type: ignore[misc]
        **kw,
    )


def _adult(n: int, family: str, given: str, born: date, sex: str = "F") -> tuple[Patient, Subscriber]:
    patient = Patient(id=f"MRN{n}", name=PersonName(family=family, given=given), birth_date=born, sex=sex,  # type: ignore[arg-type]
                      address=_home(n))  # fmt: skip
    sub = Subscriber(member_id=f"XHP{n:09d}", name=patient.name, birth_date=born, sex=sex, group_number="GRP-100")  # type: ignore[arg-type]
    return patient, sub


def fixture_claims() -> dict[str, Claim]:
    """Named synthetic claims covering the 837P variants the renderer writes."""
    alma, alma_sub = _adult(1001, "Testperson", "Alma", date(1980, 4, 12))
    casey, casey_sub = _adult(1002, "Exampleson", "Casey", date(1975, 2, 3), "M")
    parent_sub = Subscriber(member_id="XHP000002002", name=PersonName(family="Parentname", given="Pat"),
                            address=_home(2002), group_number="GRP-200")  # fmt: skip
    child = Patient(id="MRN2003", name=PersonName(family="Parentname", given="Kiddo", suffix="Jr"),
                    birth_date=date(2019, 6, 1), sex="M", address=_home(2002))  # fmt: skip
    primary = Coverage(order=1, payer=PAYER, subscriber=alma_sub)
    secondary_primary = Coverage(order=1, payer=PAYER, subscriber=casey_sub, prior_payer_paid=Decimal("80.00"))
    secondary = Coverage(order=2, payer=SECOND_PAYER, subscriber=casey_sub.model_copy(update={"member_id": "SSI77"}),
                         claim_filing_indicator="CI")  # fmt: skip
    dependent = Coverage(order=1, payer=PAYER, subscriber=parent_sub, relationship="19")
    twelve = [
        "J06.9",
        "R05.9",
        "E11.9",
        "I10",
        "M54.50",
        "R51.9",
        "Z00.00",
        "K21.9",
        "F41.1",
        "J45.909",
        "E78.5",
        "N39.0",
    ]
    return {
        "self": _claim("RIV-1001", alma, primary,
                       [_line("99213", "125.00", [1, 2]), _line("87880", "35.50", [1], modifiers=["QW"])],
                       ["J06.9", "R05.9"], rendering_provider=RENDERING),
        "self-second-visit": _claim("RIV-1002", alma, primary, [_line("99212", "90", [1])], ["J02.9"],
                                    rendering_provider=BILLING),
        "dependent": _claim("RIV-2003", child, dependent, [_line("99392", "150.00", [1])], ["Z00.129"]),
        "secondary": _claim("RIV-3001", casey, secondary, [_line("99214", "165.00", [1, 2]), _line("36415", "15", [1])],
                            ["E11.9", "I10"], other_coverages=[secondary_primary]),
        "rendering-facility": _claim("RIV-4001", alma, primary, [_line("99203", "210.00", [1])], ["M54.50"],
                                     rendering_provider=RENDERING, referring_provider=REFERRING,
                                     service_facility=FACILITY, place_of_service="22"),
        "twelve-dx-modifiers": _claim("RIV-5001", casey, Coverage(payer=PAYER, subscriber=casey_sub),
                                      [_line("20610", "300.00", [1, 2, 3, 4], modifiers=["RT", "59", "XS", "76"],
                                             units=Decimal("2")),
                                       _line("99214", "165.00", [5, 6, 7, 8], modifiers=["25"]),
                                       _line("J1030", "12.34", [9, 10, 11, 12], units=Decimal("1.5"),
                                             place_of_service="22")],
                                      twelve),
        "replacement": _claim("RIV-1001R", alma, primary, [_line("99213", "125.00", [1])], ["J06.9"],
                              frequency_code="7", original_reference="PAYERCLM0001"),
        "inpatient": _claim("RIV-6001", casey, Coverage(payer=PAYER, subscriber=casey_sub),
                            [_line("99223", "400", [1], service_date=date(2026, 10, 6)),
                             _line("99232", "150", [1], service_date=date(2026, 10, 7))],
                            ["J18.9"], place_of_service="21"),
        "other-billing": _claim("LAK-7001", alma, primary, [_line("99213", "110.00", [1])], ["J06.9"],
                                billing_provider=OTHER_BILLING),
        "situational": situational_claim(casey, Coverage(payer=PAYER, subscriber=casey_sub)),
    }  # fmt: skip


SUPERVISING = Provider(npi="1467890129", name=PersonName(family="Overseer", given="Sam"))
ORDERING = Provider(npi="1356789010", name=PersonName(family="Orderly", given="Dana"))


def situational_claim(patient: Patient, coverage: Coverage) -> Claim:
    """Every situational segment at once: REF*G1/9F, DTP*431/439/304, CLM11, NTE and CLM20
    at claim level; REF*G1/9F, NTE, 2410 LIN/CTP, 2420D/E/F on lines; plugin additions."""
    from gateway.model import AmountAddition, ClaimAdditions, DateAddition, NoteAddition, ReferenceAddition

    drug = _line(
        "J3420",
        "25.00",
        [1],
        ndc="00002-8215-01",
        ndc_quantity=Decimal("1.5"),
        ndc_unit="ML",
        prior_authorization="LINE-AUTH-2",
        referral_number="LINE-REF-2",
        note="Given in left deltoid",
        supervising_provider=SUPERVISING,
        ordering_provider=ORDERING,
        referring_provider=REFERRING,
    )
    visit = _line("99214", "165.00", [1, 2], supervising_provider=SUPERVISING)
    additions = ClaimAdditions(
        references=[
            ReferenceAddition(qualifier="EA", value="MR-5560"),
            ReferenceAddition(qualifier="X4", value="12D3456789", line=1),
        ],
        dates=[
            DateAddition(qualifier="454", value=date(2026, 9, 30)),
            DateAddition(qualifier="471", value=date(2026, 10, 1), line=2),
        ],
        notes=[NoteAddition(qualifier="TPO", text="Repriced per contract", line=2)],
        amounts=[AmountAddition(qualifier="T", amount=Decimal("1.25"), line=2)],
    )
    return _claim(
        "RIV-8001",
        patient,
        coverage,
        [visit, drug],
        ["S43.401A", "V43.52XA"],
        rendering_provider=RENDERING,
        prior_authorization="AUTH-0001",
        referral_number="REF-0002",
        onset_date=date(2026, 9, 28),
        accident_date=date(2026, 9, 28),
        last_seen_date=date(2026, 9, 1),
        related_causes=["AA", "EM"],
        accident_state="IL",
        note="Auto accident on the way to work",
        delay_reason="7",
        additions=additions,
    )


# -- the segment property (security and fuzz tests) ------------------------------


def assert_segments_intact(data: bytes, claims: list[Claim]) -> None:
    """``data`` (rendered from ``claims`` with the default delimiters) has
    exactly the segments the renderer wrote: a raw split on the terminator,
    the project's tokenizer and the SE/GE/IEA counts agree, the reader finds
    no problem, and every claim reads back as the facts it was rendered from."""
    from gateway_plugins.renderers.x12.facts import facts_of
    from gateway_plugins.renderers.x12.reader import read_837
    from gateway_plugins.renderers.x12.syntax import tokenize

    text = data.decode("ascii")
    raw = [s for s in text.split("~") if s.strip()]
    segments = tokenize(data).segments
    se_counts = [int(s.get(1)) for s in segments if s.id == "SE"]
    assert len(raw) == len(segments) == 4 + sum(se_counts)  # + ISA, GS, GE, IEA
    assert [s.split("*", 1)[0].strip() for s in raw] == [s.id for s in segments]
    read = read_837(data)
    assert read.problems == []
    key = lambda f: f.claim_id  # noqa: E731
    assert sorted(read.claims, key=key) == sorted(map(facts_of, claims), key=key)


def check_render(claim: Claim, validate: bool) -> None:
    """Scrubber and renderer agree on ``claim`` (inside a hypothesis test): a
    claim the scrubber passes renders with its segments intact (and pyx12-valid
    when ``validate``); a claim the renderer refuses was an error finding
    already, SCRUB-X12-ID when an identifier was refused."""
    from gateway_plugins.renderers.x12.values import X12RenderError, X12ValueError
    from gateway_plugins.rules.scrubber import scrub
    from gateway_plugins.rules.scrubber.base import Context
    from hypothesis import event

    errors = [f for f in scrub(claim, Context(today=CREATED.date())) if f.is_error]
    try:
        doc = render([claim])
    except X12ValueError:
        event("identifier refused")
        assert any(f.rule == "SCRUB-X12-ID" for f in errors)
        return
    except X12RenderError:
        event("claim refused")
        assert errors
        return
    assert_segments_intact(doc.content, [claim])
    if validate and not errors:
        event("rendered and checked by pyx12")
        assert_valid_837(doc.content)
    else:
        event("rendered" + (" (scrubber errors)" if errors else ""))
