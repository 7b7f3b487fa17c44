"""The statement model built by the core: patient responsibility, pending
lines, aging buckets, payment terms and grouping by guarantor account."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

from gateway.app import Gateway
from gateway.claims import aging, build_claims, build_statements, merge_statements, statement_lines
from gateway.model import Encounter, StatementLine
from tests.conftest import FIXTURES, TODAY


def encounters(name: str) -> list[Encounter]:
    doc = json.loads((FIXTURES / "encounters" / name).read_text())
    return [Encounter.model_validate(e) for e in doc["encounters"]]


def line(days_ago: int, charge: str, pending: bool = False) -> StatementLine:
    return StatementLine(
        service_date=TODAY - timedelta(days=days_ago),
        description="x",
        charge=Decimal(charge),
        insurance_pending=pending,
    )


def test_aging_buckets_at_their_edges() -> None:
    lines = [line(0, "1.00"), line(30, "2.00"), line(31, "4.00"), line(60, "8.00"), line(61, "16.00")]
    lines += [line(90, "32.00"), line(91, "64.00"), line(400, "128.00"), line(200, "999.00", pending=True)]
    a = aging(lines, TODAY)
    assert (a.current, a.days_31_60, a.days_61_90, a.over_90) == (
        Decimal("3.00"),
        Decimal("12.00"),
        Decimal("48.00"),
        Decimal("192.00"),
    )


def test_self_pay_encounter_owes_every_charge(example_gateway: Gateway) -> None:
    (enc,) = encounters("lakeside-selfpay.json")
    (st,) = build_statements(enc, example_gateway.clinics["lakeside"], TODAY)
    assert st.total_due == Decimal("222.25") == sum(ln.charge for ln in st.lines)
    assert st.total_pending == 0 and not any(ln.insurance_pending for ln in st.lines)
    assert st.aging.days_31_60 == st.total_due  # 2026-10-20 is 38 days before TODAY
    assert st.due_date == TODAY + timedelta(days=30) and st.account_number == "ACCT-2001"
    assert {ln.patient_name for ln in st.lines} == {"Theo Sampleton"} and st.lines[0].encounter_id == "LV2001"


def test_insured_encounter_with_a_self_pay_line(example_gateway: Gateway) -> None:
    (enc,) = encounters("riverside-insured-selfpay-line.json")
    clinic = example_gateway.clinics["riverside"]
    (st,) = build_statements(enc, clinic, TODAY)
    pending = [ln for ln in st.lines if ln.insurance_pending]
    assert [ln.charge for ln in pending] == [Decimal("165.00")]
    assert st.total_due == Decimal("25.00") and st.total_pending == Decimal("165.00")
    assert st.guarantor.email == "casey.exampleson@example.net"  # patient is their own guarantor
    claims, _ = build_claims(enc, clinic)
    assert [ln.procedure_code for c in claims for ln in c.service_lines] == ["99214"]  # self-pay line left off
    assert claims[0].total_charge == Decimal("165.00")


def test_insured_encounter_without_self_pay_lines_has_no_statement_yet(example_gateway: Gateway) -> None:
    (enc,) = encounters("riverside-insured.json")
    assert build_statements(enc, example_gateway.clinics["riverside"], TODAY) == []
    assert all(ln.insurance_pending for ln in statement_lines(enc))


def test_terms_are_given_else_30_days(example_gateway: Gateway) -> None:
    """The pipeline passes the clinic's terms (gateway_statement_terms: tests/test_core_settings.py)."""
    (enc,) = encounters("lakeside-selfpay.json")
    clinic = example_gateway.clinics["lakeside"]
    assert build_statements(enc, clinic, TODAY)[0].due_date == TODAY + timedelta(days=30)
    assert build_statements(enc, clinic, TODAY, terms_days=45)[0].due_date == TODAY + timedelta(days=45)


def test_family_visits_merge_into_one_statement_per_account(example_gateway: Gateway) -> None:
    clinic = example_gateway.clinics["lakeside"]
    family = [st for enc in encounters("lakeside-family-selfpay.json") for st in build_statements(enc, clinic, TODAY)]
    other = build_statements(encounters("lakeside-selfpay.json")[0], clinic, TODAY)
    merged = merge_statements([family[0], *other, family[1]])
    assert [st.account_number for st in merged] == ["ACCT-2002", "ACCT-2001"]
    fam = merged[0]
    assert fam.id == "AACCT-2002-20261127" and len(fam.lines) == 4
    assert {ln.patient_name for ln in fam.lines} == {"Avery Fakename", "Blake Fakename"}
    assert [ln.service_date for ln in fam.lines] == sorted(ln.service_date for ln in fam.lines)
    assert fam.total_due == family[0].total_due + family[1].total_due == Decimal("389.50")
    assert fam.aging.over_90 == Decimal("241.15") and fam.aging.current == Decimal("148.35")
    assert merged[1] is other[0]  # a group of one is unchanged
    assert merge_statements(merged) == merged


def test_statement_round_trips_through_json(example_gateway: Gateway) -> None:
    (enc,) = encounters("riverside-insured-selfpay-line.json")
    (st,) = build_statements(enc, example_gateway.clinics["riverside"], TODAY)
    assert type(st).model_validate_json(st.model_dump_json()) == st
    assert date.fromisoformat(json.loads(st.model_dump_json())["due_date"]) == st.due_date
