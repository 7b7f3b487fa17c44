"""CARC/RARC descriptions: the shipped CSV (project's words, package data),
a deployment's replacement named in gateway.yaml, and errors with CSV lines;
payer directory ``follow_up`` days."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner
from gateway_plugins.coding.payers import DEFAULT_FOLLOW_UP, load_directory
from gateway_plugins.inbound.x12_responses import codes as response_codes

import gateway.codes
from gateway import adjustment_codes
from gateway.adjustment_codes import (
    AdjustmentCodesError,
    codes_for,
    load_adjustment_codes,
    parse_adjustment_codes,
    shipped_codes,
)
from gateway.app import Gateway
from gateway.cli import EXIT_CONFIG, cli
from gateway.config import ConfigError, read_config
from tests.test_config import edit, line_of, problems_of

SHIPPED = Path(adjustment_codes.__file__).parent / "data" / "adjustment_codes.csv"


def test_shipped_table_reads_and_covers_the_codes_the_simulator_sends() -> None:
    codes = shipped_codes()
    rows = list(csv.DictReader(SHIPPED.open(newline="")))
    assert len(codes.carc) + len(codes.rarc) == len(rows) > 60
    for carc in ("1", "2", "3", "23", "45", "96"):  # what `gateway dev simulate-payer` answers with
        assert not codes.reason(carc).startswith("reason code"), carc
    assert codes.reason("45").startswith("more than the fee schedule")
    assert codes.remark("N130") == "consult the plan's benefit documents for coverage limits"
    assert codes.adjustment("PR", "1") == "patient responsibility: the patient's deductible"


def test_an_unknown_code_is_said_to_be_unknown_not_guessed() -> None:
    codes = shipped_codes()
    assert codes.reason("Z9") == "reason code Z9 (not in the gateway's list)"
    assert codes.remark("N9999") == "remark code N9999 (not in the gateway's list)"
    assert codes.adjustment("XX", "45").startswith("group XX: ")


def test_one_table_of_adjustment_groups() -> None:
    assert response_codes.ADJUSTMENT_GROUPS is adjustment_codes.ADJUSTMENT_GROUPS is gateway.codes.ADJUSTMENT_GROUPS


def test_every_bad_line_is_named_with_its_csv_line_number() -> None:
    text = (
        "kind,code,description\n"
        "CARC,45,fine\n"
        "CARC,45,again\n"
        "XARC,1,wrong kind\n"
        "RARC,1234,not a remark code\n"
        "CARC,97\n"
        "\n"
        'RARC,N130,"commas, when quoted, are fine"\n'
        "CARC,50,\n"
    )
    with pytest.raises(AdjustmentCodesError) as exc:
        parse_adjustment_codes(text, "codes.csv")
    assert exc.value.problems == [
        "codes.csv: line 3: CARC 45 is listed twice (also line 2)",
        "codes.csv: line 4: kind 'XARC' is not CARC or RARC",
        "codes.csv: line 5: '1234' is not a RARC code",
        "codes.csv: line 6: 2 field(s), expected 3 (kind,code,description); quote a comma",
        "codes.csv: line 9: CARC 50 has no description",
    ]
    good = parse_adjustment_codes(text.split("CARC,45,again")[0] + 'RARC,N130,"a, b"\n', "x")
    assert good.remark("N130") == "a, b"


@pytest.mark.parametrize("text", ["", "code,description\n45,x\n"])
def test_the_header_is_required(text: str) -> None:
    with pytest.raises(AdjustmentCodesError, match=r"f\.csv: line 1: the header must be 'kind,code,description'"):
        parse_adjustment_codes(text, "f.csv")


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(AdjustmentCodesError, match=r"nope\.csv: cannot read the adjustment code file"):
        load_adjustment_codes(tmp_path / "nope.csv")


def test_the_deployment_replaces_the_table_via_gateway_yaml(example_config: Path) -> None:
    (example_config.parent / "codes.csv").write_text("kind,code,description\nCARC,45,our own words for 45\n")
    edit(example_config, "clinics:\n", "remittance:\n  adjustment_codes: codes.csv\n\nclinics:\n")
    Gateway.from_config(example_config)  # valid
    codes = codes_for(read_config(example_config))
    assert codes.reason("45") == "our own words for 45"
    assert codes.reason("1") == "reason code 1 (not in the gateway's list)"  # replaced, not merged
    assert codes_for(read_config(example_config)).source.endswith("codes.csv")


def test_check_config_names_the_key_and_the_csv_line(example_config: Path) -> None:
    (example_config.parent / "codes.csv").write_text("kind,code,description\nCARC,45,ok\nCARC,,empty code\n")
    edit(example_config, "clinics:\n", "remittance:\n  adjustment_codes: codes.csv\n\nclinics:\n")
    (problem,) = problems_of(example_config)
    key_line = line_of(example_config, "adjustment_codes:")
    assert f"gateway.yaml:{key_line}" in problem and "remittance.adjustment_codes" in problem
    assert "codes.csv: line 3: '' is not a CARC code" in problem
    result = CliRunner().invoke(cli, ["check-config", str(example_config)])
    assert result.exit_code == EXIT_CONFIG and "line 3" in result.output and "Traceback" not in result.output


def test_follow_up_days_per_payer_with_documented_defaults(example_gateway: Gateway) -> None:
    directory = example_gateway.clinics["riverside"].resources["payer_directory"]
    days = directory.follow_up_for("EXPAYER1")
    assert (days.ack_days, days.remit_days) == (2, 21)  # the example directory sets them
    assert directory.follow_up_for("EXBCBS01") == DEFAULT_FOLLOW_UP
    assert directory.follow_up_for("NOT-LISTED") == DEFAULT_FOLLOW_UP
    assert (DEFAULT_FOLLOW_UP.ack_days, DEFAULT_FOLLOW_UP.remit_days) == (3, 30)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{ack_days: 0, remit_days: 30}", "ack_days"),
        ("{ack_days: 10, remit_days: 5}", "remit_days (5) is shorter than ack_days (10)"),
        ("{ack_days: 2, remmit_days: 5}", "remmit_days"),
    ],
)
def test_bad_follow_up_days_are_config_errors(example_config: Path, value: str, message: str) -> None:
    payers = example_config.parent / "payers.yaml"
    edit(payers, "follow_up: {ack_days: 2, remit_days: 21}", f"follow_up: {value}")
    with pytest.raises(ConfigError) as exc:
        load_directory(payers)
    text = "\n".join(exc.value.problems)
    assert message in text and "follow_up" in text and "payers.yaml" in text
    assert any(message in p for p in problems_of(example_config))
