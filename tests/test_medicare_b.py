"""The example Medicare Part B payer plugin (its tests use the plugin test kit, gateway.testing)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from gateway_plugins.rules import payers_medicare_b as mb

from gateway.app import Gateway
from gateway.config import Clinic
from gateway.messages import MessageMeta
from gateway.model import Claim
from gateway.testing import (
    SERVICE_DATE,
    TODAY,
    Deployment,
    Hl7Message,
    assert_finding,
    assert_no_errors,
    build_claim,
    build_line,
    run_claim,
    run_one,
)

META = MessageMeta(source="test", today=TODAY)


@pytest.fixture
def clinic(example_gateway: Gateway) -> Clinic:
    return example_gateway.clinics["riverside"]


def medicare_claim() -> Claim:
    lines = [build_line(), build_line(procedure_code="87880", modifiers=["QW"], charge=Decimal("35.50"))]
    claim = build_claim(service_lines=lines)
    claim.coverage.claim_filing_indicator = "MB"
    claim.coverage.subscriber.member_id = "1EG4-TE5-MK73"  # CMS's published example MBI
    return claim


def rules(claim: Claim, clinic: Clinic, meta: MessageMeta = META) -> list[str]:
    return [f.rule for f in mb.gateway_payer_rules(claim, clinic, meta) or []]


def test_other_payers_are_left_alone(clinic: Clinic) -> None:
    assert mb.gateway_payer_rules(build_claim(), clinic, META) is None


def test_clean_medicare_claim_and_mbi_normalised(clinic: Clinic) -> None:
    claim = medicare_claim()
    assert rules(claim, clinic) == []
    assert claim.coverage.subscriber.member_id == "1EG4TE5MK73"


def set_member(value: str) -> Callable[[Claim], None]:
    return lambda c: setattr(c.coverage.subscriber, "member_id", value)


CASES: dict[str, tuple[Callable[[Claim], None], Callable[[Claim], None]]] = {
    "MB-MBI": (set_member("123456789A"), set_member("1eg4te5mk73")),
    "MB-RELATIONSHIP": (
        lambda c: setattr(c.coverage, "relationship", "01"),
        lambda c: setattr(c.coverage, "relationship", "18"),
    ),
    "MB-TIMELY": (
        lambda c: setattr(c.service_lines[0], "service_date", TODAY - timedelta(days=366)),
        lambda c: setattr(c.service_lines[0], "service_date", TODAY - timedelta(days=365)),
    ),
}


def test_every_rule_has_a_case() -> None:
    assert {*CASES, "MB-FILING"} == {r.id for r in mb.RULES}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fails_and_passes(rule_id: str, clinic: Clinic) -> None:
    bad, good = medicare_claim(), medicare_claim()
    CASES[rule_id][0](bad)
    CASES[rule_id][1](good)
    assert rules(bad, clinic) == [rule_id]
    assert rules(good, clinic) == []


def test_hicn_gets_a_hint_and_no_member_id_in_the_message(clinic: Clinic) -> None:
    claim = medicare_claim()
    claim.coverage.subscriber.member_id = "123456789A"
    (f,) = mb.gateway_payer_rules(claim, clinic, META) or []
    assert "HICN" in f.message and "123456789A" not in f.message


def test_payer_listed_in_settings_gets_filing_indicator_mb(clinic: Clinic) -> None:
    listed = dataclasses.replace(
        clinic, settings={**clinic.settings, "medicare_b": mb.MedicareBSettings(payer_ids=["EXPAYER1"])}
    )
    claim = medicare_claim()
    claim.coverage.claim_filing_indicator = "CI"
    assert rules(claim, listed) == ["MB-FILING"]
    assert claim.coverage.claim_filing_indicator == "MB"
    good = medicare_claim()
    assert rules(good, listed) == []


def test_timely_filing_uses_the_processing_date(clinic: Clinic) -> None:
    claim = medicare_claim()
    later = MessageMeta(source="t", today=SERVICE_DATE + timedelta(days=400))
    assert rules(claim, clinic, later) == ["MB-TIMELY", "MB-TIMELY"]


def test_through_the_gateway_with_the_clinic_settings(gateway_deployment: Deployment) -> None:
    """The plugin as loaded (entry point), the clinic's settings from gateway.yaml, every other rule too."""
    gw = gateway_deployment.settings("medicare_b", {"timely_filing_days": 30}, clinic="riverside").gateway()
    assert_no_errors(run_claim(gw, medicare_claim(), today=SERVICE_DATE + timedelta(days=30)))
    late = run_claim(gw, medicare_claim(), today=SERVICE_DATE + timedelta(days=31))
    f = assert_finding(late, "MB-TIMELY", severity="error", plugin="payers_medicare_b")
    assert f.location == "claim.service_lines[1].service_date" and "30 days" in f.message
    assert_no_errors(run_claim(gw, medicare_claim(), clinic="lakeside", today=SERVICE_DATE + timedelta(days=31)))


def test_an_hl7_charge_for_medicare_with_a_hicn_is_quarantined(example_gateway: Gateway) -> None:
    msg = Hl7Message.dft_p03().set("IN1-3.1", "MEDICARE").set("IN1-4", "Medicare").set("IN1-36", "123456789A")
    result = run_one(example_gateway, msg)
    assert_finding(result, "MB-MBI", severity="error", location="claim.coverage.subscriber.member_id")
    assert result.quarantined and not result.claims
    assert_no_errors(run_one(example_gateway, msg.set("IN1-36", "1EG4-TE5-MK73")))
