"""`gateway validate`: pyx12 plus clean-claim checks, plain words with
segment positions, non-zero exit on errors."""

from __future__ import annotations

import re
from decimal import Decimal
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from click.testing import CliRunner
from gateway_plugins.renderers.x12.cli import validate
from gateway_plugins.renderers.x12.facts import facts_of, to_claim
from gateway_plugins.renderers.x12.reader import read_837
from gateway_plugins.renderers.x12.syntax import tokenize
from gateway_plugins.renderers.x12.validate import ClaimRules, FileValidator

from gateway.hookspecs import hookimpl
from gateway.model import Finding, PersonName, Provider, Severity
from gateway.plugins import PluginHost
from tests.x12check import PYX12, assert_valid_837, fixture_claims, render

CLAIMS = fixture_claims()


def _bad_claims_file() -> bytes:
    """pyx12-valid, but: rendering NPI with a wrong check digit, CLM02 not the
    sum of lines, a pointer to a fifth diagnosis of two."""
    claim = CLAIMS["self"].model_copy(deep=True)
    claim.rendering_provider.npi = "1543210988"  # type: ignore[union-attr]
    claim.total_charge = Decimal("170.50")
    claim.service_lines[1].diagnosis_pointers = [5]
    data = render([claim, CLAIMS["dependent"]]).content
    assert_valid_837(data)  # pyx12 alone sees nothing wrong
    return data


def test_scrubber_rules_find_what_pyx12_misses() -> None:
    validator = FileValidator(ClaimRules(PluginHost()), PYX12)
    report = validator.validate(_bad_claims_file())
    rules = {(i.rule, i.seg_id, i.claim_id) for i in report.errors}
    assert ("SCRUB-TOTAL", "CLM", "RIV-1001") in rules
    assert ("SCRUB-POINTERS", "SV1", "RIV-1001") in rules
    assert any(r == "SCRUB-NPI" and c == "RIV-1001" for r, _, c in rules)
    pointer = next(i for i in report.errors if i.rule == "SCRUB-POINTERS")
    assert pointer.segment == read_837(_bad_claims_file()).claims[0].where.lines[1]
    assert all(i.claim_id != "RIV-2003" for i in report.errors)


def test_fixture_claims_read_back_pass_the_scrubber() -> None:
    rules = ClaimRules(PluginHost())
    for claim in CLAIMS.values():
        assert [f for f in rules.check(to_claim(facts_of(claim))) if f.is_error] == []


def test_cli_exit_codes_and_plain_messages(tmp_path: Path) -> None:
    good = tmp_path / "good.x12"
    good.write_bytes(render(list(CLAIMS.values())).content)
    bad = tmp_path / "bad.x12"
    bad.write_bytes(_bad_claims_file())
    no_hi = tmp_path / "no-hi.x12"
    no_hi.write_bytes(good.read_bytes().replace(b"HI*ABK:J069*ABF:R059~\n", b"", 1))
    runner = CliRunner()
    ok = runner.invoke(validate, [str(good)])
    assert ok.exit_code == 0, ok.output
    assert f"{good}: OK ({len(CLAIMS)} claim(s))" in ok.output
    result = runner.invoke(validate, [str(good), str(bad), str(no_hi)])
    assert result.exit_code == 1
    assert "3 file(s), 2 with errors" in result.output
    assert re.search(
        r'segment \d+ \(HI\): Mandatory segment "Health Care Diagnosis Code" \(HI\) missing', result.output
    )
    assert "claim RIV-1001: claim has no HI (diagnosis) segment [structure X12-HI-MISSING]" in result.output
    assert "SE count" in result.output
    assert "TESTPERSON" not in result.output.upper()  # no patient data in messages


def test_validator_uses_the_scrub_hook_when_a_scrubber_is_loaded() -> None:
    class Scrubber:
        @hookimpl
        def gateway_scrub_claim(self, claim, clinic, meta):  # type: ignore[no-untyped-def]
            return Finding(
                severity=Severity.ERROR, rule="TEST-SCRUB", message="seen", location="claim.service_lines[2].units"
            )

    others = [ep.name for ep in entry_points(group="gateway.plugins")]
    host = PluginHost(disable=others, extra=[("test-scrubber", Scrubber())])
    rules = ClaimRules(host)
    assert rules.uses_hook
    report = FileValidator(rules, PYX12).validate(_bad_claims_file())
    assert {i.rule for i in report.issues if i.source == "claim"} == {"TEST-SCRUB"}
    hit = next(i for i in report.issues if i.claim_id == "RIV-1001")
    assert hit.seg_id == "SV1" and hit.segment == read_837(_bad_claims_file()).claims[0].where.lines[1]
    without = ClaimRules(PluginHost(disable=others))
    assert not without.uses_hook


def test_cli_warns_when_no_clean_claim_rules_are_loaded(tmp_path: Path) -> None:
    bad = tmp_path / "bad.x12"
    bad.write_bytes(_bad_claims_file())
    result = CliRunner().invoke(validate, [str(bad)], env={"GATEWAY_DISABLE_PLUGINS": "scrubber"})
    assert result.exit_code == 0  # pyx12 alone finds nothing wrong…
    assert "clean-claim rules NOT run" in result.output  # …and the command says what it did not check


NOT_837P = sorted((Path(__file__).parent / "x12_files").glob("*.x12"))


@pytest.mark.parametrize("path", NOT_837P, ids=lambda p: p.name)
def test_a_file_that_is_not_a_5010_837p_gets_one_message(path: Path) -> None:
    """An 837I or a 4010 file: "not a 5010 837P" and nothing else (no line
    rules on SV2 segments, no 4010 structure read as 5010)."""
    report = FileValidator(ClaimRules(PluginHost()), PYX12).validate(path.read_bytes(), path.name)
    (issue,) = report.issues
    assert issue.rule == "X12-NOT-837P" and issue.seg_id == "ST" and issue.severity == "error"
    kind = "837I" if "837i" in path.name else "4010 837P"
    assert kind in issue.message and report.claims == 0


def test_cli_reports_a_non_837p_in_one_line(tmp_path: Path) -> None:
    (path,) = [p for p in NOT_837P if "837i" in p.name]
    result = CliRunner().invoke(validate, [str(path)])
    assert result.exit_code == 1
    assert [ln for ln in result.output.splitlines() if ln.startswith("  ")] == [
        "  error: segment 3 (ST): not a 5010 837P: an 837I (institutional) (005010X223A2); "
        "only 005010X222 files are checked [structure X12-NOT-837P]"
    ]


def _with_line_providers() -> bytes:
    """A pyx12-valid file whose line 1 has a referring (2420F) and line 2 an
    ordering (2420E) provider with wrong NPI check digits, and a supervising
    provider (2420D) the claim model has no place for."""
    claim = CLAIMS["self"].model_copy(deep=True)
    claim.service_lines[0].referring_provider = Provider(npi="1987654321", name=PersonName(family="Refer", given="R"))
    claim.service_lines[1].ordering_provider = Provider(npi="1122334450", name=PersonName(family="Order", given="O"))
    data = render([claim]).content
    supervising = b"NM1*DQ*1*SUPER*VISOR****XX*1234567890~\n"
    at = data.index(b"NM1*DK")
    data = data[:at] + supervising + data[at:]
    data = re.sub(rb"SE\*(\d+)\*", lambda m: b"SE*%d*" % (int(m.group(1)) + 1), data)
    assert_valid_837(data)
    return data


def test_every_npi_in_the_file_is_checked_including_line_providers() -> None:
    data = _with_line_providers()
    (facts,) = read_837(data).claims
    assert (facts.lines[0].referring_npi, facts.lines[1].ordering_npi) == ("1987654321", "1122334450")
    report = FileValidator(ClaimRules(PluginHost()), PYX12).validate(data)
    at = {s.elements[1]: s.index for s in tokenize(data).segments if s.id == "NM1"}
    npi = [(i.source, i.rule, i.segment) for i in report.errors if "NPI" in i.rule]
    assert npi == [
        ("claim", "SCRUB-NPI", at["DN"]),
        ("claim", "SCRUB-NPI", at["DQ"]),  # 2420D is read into the model: a clean-claim rule names the line
        ("claim", "SCRUB-NPI", at["DK"]),
    ]
    messages = [i.message for i in report.errors if "NPI" in i.rule]
    assert "referring provider of line 1" in messages[0] and "ordering provider of line 2" in messages[2]
    assert "supervising provider of line 2" in messages[1]
