"""Situational claim data payers require, through every path: HL7 v2 (default
field map and a clinic's Z-segment map, strict mode), the claim, the
``gateway_claim_additions`` hook, and the 837P (pyx12-checked)."""

from __future__ import annotations

import types
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gateway import hookimpl
from gateway.app import Gateway
from gateway.model import (
    ClaimAdditions,
    DateAddition,
    NoteAddition,
    ReferenceAddition,
    ReferenceQualifier,
)
from gateway.testing import Deployment, FhirBundle, Hl7Message, assert_finding, assert_no_errors, run_one
from tests.x12check import assert_valid_837, render


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    return Deployment(tmp_path / "deployment")


def accident_dft() -> Hl7Message:
    """A DFT^P03 with AUT, RF1 and ACC (an auto accident on the way to work)."""
    message = Hl7Message.dft_p03()
    message.add("AUT", {"AUT-1": "EXHP-PPO", "AUT-6": "AUTH-778"})
    message.add("RF1", {"RF1-1": "A", "RF1-6": "REF-55"})
    message.add("ACC", {"ACC-1": "20261001", "ACC-2": "MVA", "ACC-4": "il", "ACC-5": "Y"})
    return message


def segments(data: bytes) -> list[str]:
    return [s.strip() for s in data.decode("ascii").split("~") if s.strip()]


# -- HL7 v2 -------------------------------------------------------------------------


def test_hl7_default_map_reads_aut_rf1_and_acc(deployment: Deployment) -> None:
    result = run_one(deployment.gateway(), accident_dft())
    assert_no_errors(result)
    (claim,) = result.claims
    assert claim.prior_authorization == "AUTH-778"  # AUT-6.1
    assert claim.referral_number == "REF-55"  # RF1-6.1
    assert claim.accident_date == date(2026, 10, 1)  # ACC-1
    assert claim.related_causes == ["AA", "EM"]  # ACC-2 MVA → AA; ACC-5 Y → EM
    assert claim.accident_state == "IL"  # ACC-4, upper-cased
    assert (claim.onset_date, claim.last_seen_date, claim.note, claim.delay_reason) == (None, None, None, None)
    enc = result.encounters[0]
    assert (enc.prior_authorization, enc.referral_number) == ("AUTH-778", "REF-55")
    data = render(result.claims).content
    assert "REF*G1*AUTH-778" in segments(data) and "REF*9F*REF-55" in segments(data)
    assert "DTP*439*D8*20261001" in segments(data)
    assert any(s.startswith("CLM*") and s.endswith("*Y*A*Y*Y**AA:EM::IL") for s in segments(data))
    assert_valid_837(data)


def test_hl7_in1_14_is_the_fallback_for_the_authorization(deployment: Deployment) -> None:
    message = Hl7Message.dft_p03().set("IN1-14", "IN1-AUTH-9^20261001")
    (claim,) = run_one(deployment.gateway(), message).claims
    assert claim.prior_authorization == "IN1-AUTH-9"
    message.add("AUT", {"AUT-6": "AUT-WINS-1"})
    (claim,) = run_one(deployment.gateway(), message).claims
    assert claim.prior_authorization == "AUT-WINS-1"


def test_hl7_without_them_the_claim_has_none(deployment: Deployment) -> None:
    (claim,) = run_one(deployment.gateway(), Hl7Message.dft_p03()).claims
    assert (claim.prior_authorization, claim.referral_number, claim.accident_date, claim.related_causes) == (
        None,
        None,
        None,
        [],
    )
    assert not any(s.startswith(("REF*G1", "REF*9F", "DTP*439", "NTE")) for s in segments(render([claim]).content))


ZMAP = """\
claim:
  onset_date: [ZCL-1]
  last_seen_date: [ZCL-2]
  note: [ZCL-3]
  delay_reason: [ZCL-4]
  prior_authorization: [ZCL-5]
charge:
  prior_authorization: [ZFT-1]
  referral_number: [ZFT-2]
  note: [ZFT-3]
  supervising: [ZFT-4]
  ndc_quantity: [ZFT-5]
  ndc_unit: [ZFT-6]
"""


def test_a_clinic_field_map_reads_z_segments_value_by_value(deployment: Deployment) -> None:
    deployment.write_file("zmap.yaml", ZMAP)
    deployment.settings("hl7v2", {"field_map": "zmap.yaml"}, clinic="riverside")
    message = Hl7Message.dft_p03()
    message.set("FT1-29", "00002-8215-01^^N4").set("FT1-25", "J3420^^HC")
    message.add("ZCL", {"ZCL-1": "20260928", "ZCL-2": "20260901", "ZCL-3": "Patient seen after fall",
                        "ZCL-4": "7", "ZCL-5": "Z-AUTH-3"})  # fmt: skip
    message.add("ZFT", {"ZFT-1": "LINE-AUTH-1", "ZFT-2": "LINE-REF-1", "ZFT-3": "Left deltoid",
                        "ZFT-4": "1467890129^OVERSEER^SAM^^^^MD^^^^^^NPI", "ZFT-5": "1.5", "ZFT-6": "ml"})  # fmt: skip
    ordered = str(message).split("\r")  # the ZFT right after its FT1 (it belongs to the charge)
    zft = ordered.pop()
    ordered.insert(next(i for i, s in enumerate(ordered) if s.startswith("FT1")) + 1, zft)
    result = run_one(deployment.gateway(), "\r".join(ordered).encode())
    assert_no_errors(result)
    (claim,) = result.claims
    assert claim.onset_date == date(2026, 9, 28) and claim.last_seen_date == date(2026, 9, 1)
    assert (claim.note, claim.delay_reason, claim.prior_authorization) == ("Patient seen after fall", "7", "Z-AUTH-3")
    (line,) = claim.service_lines
    assert (line.prior_authorization, line.referral_number, line.note) == ("LINE-AUTH-1", "LINE-REF-1", "Left deltoid")
    assert line.supervising_provider is not None and line.supervising_provider.npi == "1467890129"
    assert line.supervising_provider.name is not None and line.supervising_provider.name.family == "OVERSEER"
    assert (line.ndc, line.ndc_quantity, line.ndc_unit) == ("00002821501", Decimal("1.5"), "ML")
    data = render([claim]).content
    got = segments(data)
    for expected in ("DTP*431*D8*20260928", "DTP*304*D8*20260901", "NTE*ADD*PATIENT SEEN AFTER FALL",
                     "REF*G1*Z-AUTH-3", "REF*G1*LINE-AUTH-1", "REF*9F*LINE-REF-1", "NTE*ADD*LEFT DELTOID",
                     "LIN**N4*00002821501", "CTP****1.5*ML", "NM1*DQ*1*OVERSEER*SAM****XX*1467890129"):  # fmt: skip
        assert expected in got, expected
    assert any(s.startswith("CLM*") and s.endswith("*7") for s in got)
    assert_valid_837(data)


def test_a_bad_date_in_the_claim_section_names_the_field(deployment: Deployment) -> None:
    deployment.write_file("zmap.yaml", ZMAP)
    deployment.settings("hl7v2", {"field_map": "zmap.yaml"}, clinic="riverside")
    message = Hl7Message.dft_p03()
    message.add("ZCL", {"ZCL-1": "2026-13-45"})
    assert_finding(run_one(deployment.gateway(), message), "HL7-DATE", location="ZCL[1]-1")


def test_strict_mode_accepts_aut_and_rf1_the_map_reads(deployment: Deployment) -> None:
    deployment.settings("hl7v2", {"strict": True}, clinic="riverside")
    gw = deployment.gateway()
    result = run_one(gw, accident_dft())
    assert_no_errors(result)
    assert result.claims[0].prior_authorization == "AUTH-778"
    broken = accident_dft()  # strict mode still validates the rest
    broken.add("OBX", {"OBX-2": "ST", "OBX-3": "x", "OBX-5": "y"})
    assert_finding(run_one(gw, broken), "HL7-STRICT", severity="error")


def test_strict_leaves_out_only_the_mapped_segments() -> None:
    from gateway_plugins.inbound.hl7v2 import strict
    from gateway_plugins.inbound.hl7v2.fieldmap import claim_paths, default_map

    assert strict.mapped_outside(claim_paths(default_map())) == {"AUT", "RF1"}
    assert strict.mapped_outside([]) == frozenset()


# -- the gateway_claim_additions hook -------------------------------------------------


def plugin(name: str, fn: object) -> tuple[str, types.ModuleType]:
    module = types.ModuleType(name)
    module.gateway_claim_additions = hookimpl(fn)  # type: ignore[attr-defined]
    return name, module


def medical_record(claim, clinic):  # type: ignore[no-untyped-def]
    return ClaimAdditions(
        references=[ReferenceAddition(qualifier=ReferenceQualifier.MEDICAL_RECORD, value=claim.patient.id)],
        dates=[DateAddition(qualifier="454", value=date(2026, 10, 1))],
        notes=[NoteAddition(qualifier="TPO", text="Network repricing applies", line=1)],
    )


def gateway_with(deployment: Deployment, *plugins: tuple[str, object]) -> Gateway:
    return deployment.gateway(*plugins)


def test_additions_reach_the_claim_and_the_837(deployment: Deployment) -> None:
    gw = gateway_with(deployment, plugin("acme_mr", medical_record))
    result = run_one(gw, Hl7Message.dft_p03())
    assert_no_errors(result)
    (claim,) = result.claims
    assert [r.value for r in claim.additions.references] == ["RV90001"]
    data = render([claim]).content
    got = segments(data)
    assert "REF*EA*RV90001" in got and "DTP*454*D8*20261001" in got and "NTE*TPO*NETWORK REPRICING APPLIES" in got
    assert got.index("DTP*454*D8*20261001") < got.index("REF*EA*RV90001") < got.index("HI*ABK:J069*ABF:R509")
    assert_valid_837(data)


def test_a_plugin_returning_something_else_is_named(deployment: Deployment) -> None:
    gw = gateway_with(deployment, plugin("acme_raw", lambda claim, clinic: "REF*G1*X~"))
    result = run_one(gw, Hl7Message.dft_p03())
    assert_finding(result, "GW-PLUGIN-RESULT", severity="error", plugin="acme_raw", message="expected ClaimAdditions")
    assert result.quarantined and not result.claims


def test_two_plugins_filling_one_slot_is_an_error(deployment: Deployment) -> None:
    gw = gateway_with(deployment, plugin("acme_a", medical_record), plugin("acme_b", medical_record))
    result = run_one(gw, Hl7Message.dft_p03())
    finding = assert_finding(result, "GW-ADDITIONS", severity="error")
    assert finding.plugin in ("acme_a", "acme_b") and "RV90001" not in finding.message
    assert result.quarantined


def test_a_qualifier_the_loop_does_not_allow_fails_in_the_plugin(deployment: Deployment) -> None:
    def immunization_at_claim_level(claim, clinic):  # type: ignore[no-untyped-def]
        return ClaimAdditions(references=[ReferenceAddition(qualifier="BT", value="LOT-1")])

    gw = gateway_with(deployment, plugin("acme_bt", immunization_at_claim_level))
    result = run_one(gw, Hl7Message.dft_p03())
    assert_finding(result, "GW-PLUGIN-ERROR", plugin="acme_bt", message="(ValidationError)")
    with pytest.raises(ValueError, match="BT is not allowed at claim level"):
        ReferenceAddition(qualifier="BT", value="LOT-1")
    with pytest.raises(ValueError, match="pattern"):
        ReferenceAddition(qualifier="G1", value="AUTH~NM1*ZZ")  # never a segment


def test_an_addition_on_a_missing_line_or_a_taken_slot_is_quarantined(deployment: Deployment) -> None:
    def line_five_and_g1(claim, clinic):  # type: ignore[no-untyped-def]
        return ClaimAdditions(
            references=[ReferenceAddition(qualifier="G1", value="AUTH-2")],
            notes=[NoteAddition(text="Fifth line", line=5)],
        )

    gw = gateway_with(deployment, plugin("acme_bad", line_five_and_g1))
    result = run_one(gw, accident_dft())  # AUT-6 fills REF*G1 already
    assert_finding(result, "SCRUB-ADDITION", location="claim.additions.notes[1].line")
    assert_finding(result, "SCRUB-ADDITION", location="claim.additions.references[1]")
    assert result.quarantined


# -- FHIR R4 ----------------------------------------------------------------------------


def claim_bundle(*, referral_identifier: bool = False) -> FhirBundle:
    """The kit's visit billed through a Claim with a prior authorization, a
    referral, an auto accident and a Condition with an onset."""
    bundle = FhirBundle.visit()
    bundle.set("Condition.onsetDateTime", "2026-09-28T08:30:00-05:00")
    referral = bundle.add(
        {
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "identifier": [{"system": "http://example.org/fhir/referral", "value": "SR-REF-31"}],
            "subject": {"reference": bundle.ref("Patient")},
        }
    )
    reference: dict[str, object] = {"reference": referral}
    if referral_identifier:
        reference = {"identifier": {"system": "http://example.org/fhir/referral", "value": "ID-REF-32"}}
    bundle.add(
        {
            "resourceType": "Claim",
            "status": "active",
            "use": "claim",
            "type": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]
            },
            "patient": {"reference": bundle.ref("Patient")},
            "created": "2026-10-12",
            "provider": {"reference": bundle.ref("Practitioner")},
            "priority": {"coding": [{"code": "normal"}]},
            "insurance": [
                {
                    "sequence": 1,
                    "focal": True,
                    "coverage": {"reference": bundle.ref("Coverage")},
                    "preAuthRef": ["PA-2026-77"],
                },
            ],
            "referral": reference,
            "accident": {
                "date": "2026-09-28",
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "MVA"}]},
                "locationAddress": {"city": "Springfield", "state": "il"},
            },
            "diagnosis": [{"sequence": 1, "diagnosisReference": {"reference": bundle.ref("Condition")}}],
            "item": [
                {
                    "sequence": 1,
                    "diagnosisSequence": [1],
                    "productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99213"}]},
                    "servicedDate": "2026-10-12",
                    "net": {"value": 125.0, "currency": "USD"},
                }
            ],
        }
    )
    bundle.resource("Claim")["item"][0]["encounter"] = [{"reference": bundle.ref("Encounter")}]
    return bundle


def test_fhir_claim_preauth_referral_accident_and_onset(deployment: Deployment) -> None:
    result = run_one(deployment.gateway(), claim_bundle())
    assert_no_errors(result)
    (claim,) = result.claims
    assert claim.prior_authorization == "PA-2026-77"  # Claim.insurance[focal].preAuthRef[0]
    assert claim.referral_number == "SR-REF-31"  # Claim.referral → ServiceRequest.identifier
    assert claim.accident_date == date(2026, 9, 28)  # Claim.accident.date
    assert claim.related_causes == ["AA"]  # accident.type MVA
    assert claim.accident_state == "IL"  # accident.locationAddress.state
    assert claim.onset_date == date(2026, 9, 28)  # Condition.onsetDateTime (its local date)
    data = render([claim]).content
    got = segments(data)
    for expected in ("REF*G1*PA-2026-77", "REF*9F*SR-REF-31", "DTP*439*D8*20260928", "DTP*431*D8*20260928"):
        assert expected in got, expected
    assert_valid_837(data)


def test_fhir_referral_identifier_and_onset_period(deployment: Deployment) -> None:
    bundle = claim_bundle(referral_identifier=True)
    bundle.resource("Condition").pop("onsetDateTime")
    bundle.set("Condition.onsetPeriod", {"start": "2026-09-20"})
    (claim,) = run_one(deployment.gateway(), bundle).claims
    assert claim.referral_number == "ID-REF-32" and claim.onset_date == date(2026, 9, 20)


def test_fhir_encounter_visit_takes_the_condition_onset(deployment: Deployment) -> None:
    bundle = FhirBundle.visit()
    bundle.set("Condition.onsetDateTime", "2026-10-01")
    (claim,) = run_one(deployment.gateway(), bundle).claims
    assert claim.onset_date == date(2026, 10, 1)
    assert (claim.prior_authorization, claim.referral_number, claim.accident_date) == (None, None, None)


def test_a_claim_without_the_new_data_serialises_as_before() -> None:
    """Stores digest the claim JSON (the duplicate rule): a visit sent before this
    data existed must give the same JSON, so no new key appears unless it is set."""
    import json

    from gateway.model import CLAIM_INFO_FIELDS, Claim
    from gateway.testing import build_claim

    claim = build_claim()
    body = json.loads(claim.model_dump_json(exclude_none=True))
    assert not set(body) & {*CLAIM_INFO_FIELDS, "additions"}
    assert not any(k in line for line in body["service_lines"] for k in ("note", "ndc_unit", "supervising_provider"))
    claim.related_causes = ["AA"]
    claim.additions = ClaimAdditions(references=[ReferenceAddition(qualifier="EA", value="MR-1")])
    again = Claim.model_validate_json(claim.model_dump_json())
    assert again == claim and again.additions.references[0].value == "MR-1"
