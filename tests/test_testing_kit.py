"""The plugin test kit (gateway.testing): builders, the deployment, runs, assertions.

Built messages are read back with parsers no one here wrote (python-hl7,
fhir.resources) so a builder cannot agree with our own reader by accident.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import hl7
import pytest
from fhir.resources.R4B.bundle import Bundle

from gateway import hookimpl
from gateway.model import Finding, Severity
from gateway.testing import (
    SERVICE_DATE,
    TODAY,
    Deployment,
    FhirBundle,
    Hl7Message,
    assert_finding,
    assert_no_errors,
    assert_no_finding,
    build_claim,
    build_encounter,
    build_line,
    run_claim,
    run_one,
)
from tests.conftest import FIXTURES
from tests.test_plugins import make_dist


def parsed(msg: Hl7Message) -> hl7.Message:
    return hl7.parse(msg.encode().decode())


# -- Hl7Message ---------------------------------------------------------------


def test_fields_by_name_land_where_python_hl7_reads_them() -> None:
    msg = Hl7Message.dft_p03(FT1_25="99215^^C4", IN1_36="ACM123456789")
    msg.set("PID-5.1", "EXAMPLAR").set("PID-5.2", "PAT").set("FT1-26[1]", "25").set("FT1-26[2]", "59")
    msg.set("FT1-11.2", "USD").set("IN1-3.4.2", "SUB").set("MSH-10", "CTRL-9").set("PV1-44", date(2026, 10, 1))
    m = parsed(msg)
    assert str(m.segment("FT1")[25]) == "99215^^C4"
    assert str(m.segment("IN1")[36]) == "ACM123456789"
    assert m.extract_field("PID", 1, 5, 1, 1) == "EXAMPLAR" and m.extract_field("PID", 1, 5, 1, 2) == "PAT"
    assert m.extract_field("FT1", 1, 26, 1, 1) == "25" and m.extract_field("FT1", 1, 26, 2, 1) == "59"
    assert str(m.segment("FT1")[11]) == "185.00^USD"
    assert str(m.segment("IN1")[3]) == "EXHP^^^&SUB^NIIP"
    assert str(m.segment("MSH")[10]) == "CTRL-9" and str(m.segment("PV1")[44]) == "20261001"
    assert msg.get("FT1-26[2]") == "59" and msg.get("PID-5.2") == "PAT" and msg.get("MSH-1") == "|"


def test_msh_numbering_follows_the_standard() -> None:
    msg = Hl7Message.dft_p03()
    assert msg.get("MSH-2") == "^~\\&" and msg.get("MSH-4") == "RIVERSIDE" and msg.get("MSH-9") == "DFT^P03^DFT_P03"
    assert msg.get("MSH-12") == "2.5"
    with pytest.raises(ValueError, match="delimiters"):
        msg.set("MSH-2", "x")


def test_segments_are_added_numbered_and_removed() -> None:
    msg = Hl7Message.dft_p03()
    msg.add("FT1", {"FT1-7": "LAB-STREP", "FT1-10": "1", "FT1-25": "87880^^C4"})
    msg.add("AUT", {"AUT-5": "PA-123"}, after="IN1")
    m = parsed(msg)
    assert [str(s[0]) for s in m] == ["MSH", "EVN", "PID", "PV1", "FT1", "FT1", "DG1", "DG1", "GT1", "IN1", "AUT"]
    second = m.segments("FT1")[1]
    assert (str(second[1]), str(second[7]), str(second[25])) == ("2", "LAB-STREP", "87880^^C4")
    assert str(m.segment("AUT")[5]) == "PA-123" and msg.get("AUT-1") == "1"
    with pytest.raises(KeyError, match=r"ambiguous.*FT1\[1\]-25 or FT1\[2\]-25"):
        msg.get("FT1-25")
    assert msg.get("FT1[2]-25") == "87880^^C4"
    msg.remove("FT1[1]").remove("GT1")
    assert msg.count("FT1") == 1 and msg.count("GT1") == 0 and msg.get("FT1-7") == "LAB-STREP"
    msg.remove("DG1[*]")
    assert msg.count("DG1") == 0


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("FT1_25", ValueError),
        ("ft1-25", ValueError),
        ("ZZZ-1", KeyError),
        ("FT1[3]-1", KeyError),
        ("PID-0", ValueError),
    ],
)
def test_bad_names_are_clear_errors(name: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        Hl7Message.dft_p03().get(name) if name != "PID-0" else Hl7Message.dft_p03().set(name, "x")


def test_escape_keeps_delimiters_out_of_fields(example_gateway) -> None:
    msg = Hl7Message.dft_p03()
    msg.set("FT1-7.2", msg.escape("Visit | level ^4 & more ~ \\"))
    assert msg.get("FT1-7.2") == "Visit \\F\\ level \\S\\4 \\T\\ more \\R\\ \\E\\"
    assert parsed(msg).extract_field("FT1", 1, 7, 1, 2) == "Visit | level ^4 & more ~ \\"  # python-hl7 unescapes
    (enc,) = run_one(example_gateway, msg).encounters
    assert enc.service_lines[0].description == "Visit | level ^4 & more ~ \\"  # the reader unescapes it


def test_existing_fixture_round_trips() -> None:
    raw = (FIXTURES / "hl7v2" / "dft_p03_v25_cpt_modifiers.hl7").read_bytes()
    msg = Hl7Message(raw.decode())
    assert msg.encode() == raw.replace(b"\n", b"\r").rstrip(b"\r") + b"\r"
    assert msg.get("FT1[2]-26") == "QW~91" and msg.get("FT1[2]-26[2]") == "91"


# -- FhirBundle ---------------------------------------------------------------


def test_fhir_bundle_is_valid_r4_and_edits_by_path() -> None:
    b = FhirBundle.visit()
    b.add_diagnosis("E11.9")
    b.add_charge("36415", "12.00")
    b.set("Coverage.subscriberId", "ACM987654321").set("Patient.name[0].given[0]", "Pat")
    Bundle.model_validate(b.to_dict())  # fhir.resources (R4B) accepts it
    assert b.resource("Coverage")["subscriberId"] == "ACM987654321"
    assert b.resource("Patient")["name"][0]["given"] == ["Pat"]
    assert len(b.resources("Condition")) == 2 and len(b.resources("ChargeItem")) == 2
    refs = {e["fullUrl"] for e in b.to_dict()["entry"]}
    assert b.resource("ChargeItem", 1)["context"]["reference"] in refs


def test_fhir_bundle_through_the_gateway(example_gateway) -> None:
    b = FhirBundle.visit()
    b.add_diagnosis("E11.9")
    b.add_charge("36415", "12.00")
    result = run_one(example_gateway, b)
    assert_no_errors(result)
    (claim,) = result.claims
    assert claim.total_charge == Decimal("137.00") and [d.code for d in claim.diagnoses] == ["J069", "E119"]
    assert result.message is not None and result.message.envelope.format == "fhir-json"
    selfpay = run_one(example_gateway, FhirBundle.visit().remove("Coverage"))
    assert not selfpay.claims and selfpay.statements[0].total_due == Decimal("125.00")


# -- builders and runs ----------------------------------------------------------


def test_defaults_pass_every_built_in_rule(example_gateway) -> None:
    for message in (Hl7Message.dft_p03(), FhirBundle.visit(), build_encounter()):
        result = run_one(example_gateway, message)
        assert_no_errors(result)
        assert len(result.claims) == 1 and result.claims[0].clinic_id == "riverside"
    assert run_claim(example_gateway, build_claim()).findings == []


def test_builders_take_overrides_and_total_the_lines() -> None:
    claim = build_claim(service_lines=[build_line(), build_line(procedure_code="87880", charge=Decimal("35.50"))])
    assert claim.total_charge == Decimal("160.50")
    assert build_claim(total_charge=Decimal("1.00")).total_charge == Decimal("1.00")
    enc = build_encounter(coverages=[])
    assert enc.coverages == [] and enc.patient.name.family == "Testperson"
    assert build_claim() == build_claim() and build_claim() is not build_claim()  # fresh objects each time


def test_run_one_sees_clinic_and_today(example_gateway) -> None:
    late = run_one(example_gateway, build_encounter(), today=SERVICE_DATE - timedelta(days=1))
    assert_finding(late, "SCRUB-FUTURE-DATE", severity="error", plugin="scrubber")
    assert late.quarantined and not late.claims
    lakeside = run_one(example_gateway, Hl7Message.dft_p03(), clinic="lakeside")
    assert lakeside.message is not None and lakeside.message.clinic_id == "lakeside"
    with pytest.raises(KeyError, match="no clinic 'nowhere'"):
        run_one(example_gateway, build_encounter(), clinic="nowhere")


def test_assertions_say_what_was_found(example_gateway) -> None:
    differs = run_one(example_gateway, Hl7Message.dft_p03(FT1_25="99215^^C4"))  # OV-EST-4 is 99214
    f = assert_finding(differs, "CM-CODE-DIFFERS", severity="warning", plugin="chargemaster", message="code is kept")
    assert f.location == "encounter.service_lines[1].procedure_code" and differs.claims
    bad = run_claim(example_gateway, build_claim(total_charge=Decimal("1.00")))
    assert assert_finding(bad, "SCRUB-TOTAL", severity=Severity.ERROR, location="claim.total_charge").is_error
    with pytest.raises(AssertionError, match=r"no finding SCRUB-TOTAL with severity='warning'; findings:\n  error"):
        assert_finding(bad, "SCRUB-TOTAL", severity="warning")
    with pytest.raises(AssertionError, match=r"1 error finding\(s\); findings:\n  error   SCRUB-TOTAL \(scrubber\)"):
        assert_no_errors(bad)
    with pytest.raises(AssertionError, match="unexpected SCRUB-TOTAL"):
        assert_no_finding(bad, "SCRUB-TOTAL")
    assert_no_finding(bad, "SCRUB-NPI")
    with pytest.raises(AssertionError, match="no finding X-1; no findings"):
        assert_finding([], "X-1")


# -- the deployment --------------------------------------------------------------


class Counter:
    """A plugin counting its calls; with settings.counter.limit it reports a finding."""

    calls = 0

    @hookimpl
    def gateway_payer_rules(self, claim, clinic, meta):
        Counter.calls += 1
        if claim.payer.id == "ACME1":
            return Finding(severity=Severity.ERROR, rule="ACME-SEEN", message="acme claim")
        return None


def test_deployment_overrides_clinics_payers_and_settings(tmp_path: Path) -> None:
    dep = Deployment(tmp_path / "dep")
    dep.settings("medicare_b", {"timely_filing_days": 30}, clinic="riverside")
    dep.add_payer("ACME1", "Acme Health", hl7_ids=["ACME"])
    dep.add_clinic("hilltop", billing_provider={"npi": "1112223338"})
    dep.update({"delivery": {"max_attempts": 3}})
    gw = dep.gateway(Counter())
    assert gw.clinics["riverside"].settings["medicare_b"].timely_filing_days == 30
    assert gw.clinics["lakeside"].settings["medicare_b"].timely_filing_days == 365
    assert gw.clinics["hilltop"].config.billing_provider.npi == "1112223338" and gw.config.delivery.max_attempts == 3
    acme = Hl7Message.dft_p03(MSH_4="HILLTOP").set("IN1-3.1", "ACME").set("IN1-4", "Acme Health")
    result = run_one(gw, acme)
    assert result.message is not None and result.message.clinic_id == "hilltop"
    assert_finding(result, "ACME-SEEN", plugin="counter")
    assert result.claims == [] and result.encounters[0].coverages[0].payer.id == "ACME1"


def test_a_bad_override_is_the_gateway_config_error(tmp_path: Path) -> None:
    from gateway.config import ConfigError

    dep = Deployment(tmp_path / "dep").settings("medicare_b", {"timely_filing_dayz": 30})
    with pytest.raises(ConfigError, match=r"settings\.medicare_b\.timely_filing_dayz: unknown key"):
        dep.gateway()


PLUGIN_SOURCE = """
    from gateway import hookimpl
    from gateway.model import Finding, Severity

    GATEWAY_API = ">=1.0,<2"
    CALLS = []

    @hookimpl
    def gateway_payer_rules(claim, clinic, meta):
        CALLS.append(claim.id)
        return Finding(severity=Severity.WARNING, rule="KIT-SEEN", message="seen")
"""


@pytest.fixture
def kit_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield site
    sys.modules.pop("kit_plugin", None)


@pytest.mark.parametrize("installed", [False, True])
def test_plugin_is_loaded_once_whether_or_not_it_is_installed(kit_site: Path, tmp_path: Path, installed: bool) -> None:
    if installed:
        make_dist(kit_site, "kit-plugin", {"kit": "kit_plugin"}, {"kit_plugin": PLUGIN_SOURCE})
    else:
        (kit_site / "kit_plugin.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    import kit_plugin

    gw = Deployment(tmp_path / "dep").gateway(kit_plugin)
    result = run_one(gw, build_encounter())
    f = assert_finding(result, "KIT-SEEN", severity="warning")
    assert kit_plugin.CALLS == ["V90001"]  # called once, not once per registration
    assert f.plugin == ("kit" if installed else "kit_plugin")
    info = next(i for i in gw.host.infos if i.module == "kit_plugin")
    assert (info.distribution, info.api) == (("kit-plugin", ">=1.0,<2") if installed else (None, ">=1.0,<2"))


def test_docs_recipe_works_once_the_plugin_is_installed(kit_site: Path, example_config: Path) -> None:
    """The old recipe crashed with "Plugin already registered under a different name"."""
    from gateway.app import Gateway

    make_dist(kit_site, "kit-plugin", {"kit": "kit_plugin"}, {"kit_plugin": PLUGIN_SOURCE})
    import kit_plugin

    gw = Gateway.from_config(example_config, extra_plugins=[("mine", kit_plugin)])
    assert [i.name for i in gw.host.infos if i.module == "kit_plugin"] == ["kit"]


def test_fixtures_load_in_any_pytest_run(tmp_path: Path) -> None:
    """The pytest11 entry point: a test folder with no conftest gets ``gateway_deployment``."""
    (tmp_path / "test_uses_kit.py").write_text(
        textwrap.dedent(
            """
            from gateway.testing import build_encounter, run_one, assert_no_errors

            def test_kit(gateway_deployment):
                gateway_deployment.settings("medicare_b", {"timely_filing_days": 90})
                gw = gateway_deployment.gateway()
                assert gw.clinics["riverside"].settings["medicare_b"].timely_filing_days == 90
                assert_no_errors(run_one(gw, build_encounter()))
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_kit_processing_date_is_fixed() -> None:
    assert TODAY == date(2026, 11, 27) and SERVICE_DATE < TODAY
