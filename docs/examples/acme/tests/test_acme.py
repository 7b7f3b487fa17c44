"""Tests of the Acme Health payer plugin, written with the gateway's test kit."""

from __future__ import annotations

import pytest
from gateway.app import Gateway
from gateway.config import ConfigError
from gateway.model import Claim, Diagnosis, Payer
from gateway.testing import (
    Deployment,
    Hl7Message,
    assert_finding,
    assert_no_errors,
    assert_no_finding,
    build_claim,
    build_coverage,
    build_line,
    private_imports,
    run_claim,
    run_one,
)

import acme as plugin

PAYER_ID = "ACME1"
GOOD_MEMBER_ID = "ACME123456789"


@pytest.fixture
def gateway(gateway_deployment: Deployment) -> Gateway:
    """The example deployment, the payer in its directory, this plugin configured for every clinic."""
    gateway_deployment.add_payer(PAYER_ID, "Acme Health", hl7_ids=["ACME"])
    gateway_deployment.settings(plugin.SECTION, {"member_id_pattern": "ACME[0-9]{9}", "max_diagnoses": 4})
    return gateway_deployment.gateway(plugin)


def payer_claim(member_id: str = GOOD_MEMBER_ID, **changes: object) -> Claim:
    coverage = build_coverage(payer=Payer(id=PAYER_ID, name="Acme Health"))
    coverage.subscriber.member_id = member_id
    return build_claim(coverage=coverage, **changes)


FIVE_DIAGNOSES = [Diagnosis(code=c) for c in ("J069", "R509", "E119", "I10", "Z0000")]


def test_a_clean_claim_passes(gateway: Gateway) -> None:
    assert_no_errors(run_claim(gateway, payer_claim()))


def test_member_id_format(gateway: Gateway) -> None:
    result = run_claim(gateway, payer_claim(member_id="XYZ"))
    finding = assert_finding(result, "ACME-MEMBER-ID", severity="error", plugin="acme")
    assert finding.location == "claim.coverage.subscriber.member_id"
    assert "XYZ" not in finding.message  # no patient data in findings


def test_at_most_four_diagnoses(gateway: Gateway) -> None:
    result = run_claim(gateway, payer_claim(diagnoses=FIVE_DIAGNOSES))
    assert_finding(result, "ACME-MAX-DX", severity="error", message="at most 4")
    assert_no_finding(run_claim(gateway, payer_claim(diagnoses=FIVE_DIAGNOSES[:4])), "ACME-MAX-DX")


def test_other_payers_are_left_alone(gateway: Gateway) -> None:
    result = run_claim(gateway, build_claim(diagnoses=FIVE_DIAGNOSES))  # the example payer, not ours
    assert_no_finding(result, "ACME-MAX-DX")
    assert_no_finding(result, "ACME-MEMBER-ID")


def test_an_hl7_charge_end_to_end(gateway: Gateway) -> None:
    """IN1-3 names the payer as the clinic sends it; the payer directory maps it to ACME1."""
    message = Hl7Message.dft_p03().set("IN1-3.1", "ACME").set("IN1-4", "Acme Health")
    bad = run_one(gateway, message.set("IN1-36", "NOT-A-MEMBER-ID"))
    assert_finding(bad, "ACME-MEMBER-ID", severity="error")
    assert bad.quarantined and not bad.claims
    good = run_one(gateway, message.set("IN1-36", GOOD_MEMBER_ID))
    assert_no_errors(good)
    (claim,) = good.claims
    assert claim.payer.id == PAYER_ID


def test_settings_are_validated_with_key_path(gateway_deployment: Deployment) -> None:
    gateway_deployment.settings(plugin.SECTION, {"max_diagnoses": 13, "member_id_patern": "x"})
    with pytest.raises(ConfigError) as exc:
        gateway_deployment.gateway(plugin)
    text = str(exc.value)
    assert "settings.acme.max_diagnoses" in text
    assert "unknown key 'member_id_patern' (did you mean 'member_id_pattern'?)" in text


def test_rules_are_declared_once_and_listed(gateway: Gateway) -> None:
    assert {r.id for r in plugin.RULES} == {"ACME-MEMBER-ID", "ACME-MAX-DX", "ACME-PRIOR-AUTH", "ACME-AUTH-FORMAT"}
    assert gateway.host.catalogues["acme"] is plugin.RULES


def test_uses_only_the_public_plugin_api() -> None:
    assert private_imports(plugin) == []


# -- prior authorization -------------------------------------------------------------


def test_99215_needs_a_prior_authorization(gateway: Gateway) -> None:
    claim = payer_claim(service_lines=[build_line(), build_line(procedure_code="99215", charge="185.00")])
    finding = assert_finding(run_claim(gateway, claim), "ACME-PRIOR-AUTH", severity="error", plugin="acme")
    assert finding.location == "claim.service_lines[2].procedure_code"
    claim.prior_authorization = "PA20261012"  # the claim's REF*G1 covers every line
    assert_no_errors(run_claim(gateway, claim))


def test_a_line_authorization_is_enough(gateway: Gateway) -> None:
    line = build_line(procedure_code="99215", prior_authorization="PA20261013")  # the line's own REF*G1
    assert_no_errors(run_claim(gateway, payer_claim(service_lines=[line])))


def test_strict_auth_checks_the_format(gateway_deployment: Deployment) -> None:
    gateway_deployment.add_payer(PAYER_ID, "Acme Health", hl7_ids=["ACME"])
    gateway_deployment.settings(plugin.SECTION, {"member_id_pattern": "ACME[0-9]{9}", "strict_auth": True})
    gateway = gateway_deployment.gateway(plugin)
    claim = payer_claim(service_lines=[build_line(procedure_code="99215")], prior_authorization="AUTH-1")
    finding = assert_finding(run_claim(gateway, claim), "ACME-AUTH-FORMAT", location="claim.prior_authorization")
    assert "AUTH-1" not in finding.message
    claim.prior_authorization = "PA12345678"
    assert_no_errors(run_claim(gateway, claim))


def test_an_hl7_dft_with_an_aut_segment(gateway: Gateway) -> None:
    """AUT-6 (the authorization identifier) becomes the claim's REF*G1; without it the claim is held."""
    message = Hl7Message.dft_p03().set("IN1-3.1", "ACME").set("IN1-36", GOOD_MEMBER_ID).set("FT1-25", "99215^^C4")
    held = run_one(gateway, message)
    assert_finding(held, "ACME-PRIOR-AUTH", severity="error")
    assert held.quarantined and not held.claims
    message.add("AUT", {"AUT-1": "ACME-PPO", "AUT-6": "PA20261012"})
    sent = run_one(gateway, message)
    assert_no_errors(sent)
    (claim,) = sent.claims
    assert claim.prior_authorization == "PA20261012"
