"""gateway.yaml validation: errors name file, line and key path."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.app import Gateway
from gateway.cli import EXIT_CONFIG, cli
from gateway.config import ConfigError, read_config, resolve_secret


def edit(config: Path, old: str, new: str) -> Path:
    text = config.read_text()
    assert old in text, old
    config.write_text(text.replace(old, new, 1))
    return config


def problems_of(config: Path) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        Gateway.from_config(config)
    return exc.value.problems


def line_of(config: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(config.read_text().splitlines(), 1) if needle in ln)


def test_example_deployment_is_valid(example_config: Path) -> None:
    gw = Gateway.from_config(example_config)
    assert set(gw.clinics) == {"riverside", "lakeside"}


def test_misspelt_key_names_path_line_and_suggestion(example_config: Path) -> None:
    edit(example_config, "    senders: [RIVERSIDE]", "    sendrs: [RIVERSIDE]")
    (problem,) = problems_of(example_config)
    assert f"gateway.yaml:{line_of(example_config, 'sendrs')}" in problem
    assert "clinics[0].sendrs" in problem
    assert "did you mean 'senders'?" in problem


def test_missing_billing_npi_names_key_path(example_config: Path) -> None:
    edit(example_config, '      npi: "1234567893"\n', "")
    (problem,) = problems_of(example_config)
    assert "clinics[0].billing_provider.npi: required key is missing" in problem


def test_bad_npi_check_digit(example_config: Path) -> None:
    edit(example_config, '"1234567893"', '"1234567890"')
    (problem,) = problems_of(example_config)
    assert "clinics[0].billing_provider.npi" in problem and "check digit" in problem
    assert "1234567890" not in problem  # the value itself is not echoed


def test_check_config_cli_exit_codes(example_config: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["check-config", str(example_config)])
    assert ok.exit_code == 0, ok.output
    assert "OK (2 clinic(s)" in ok.output
    edit(
        example_config,
        '    billing_provider:\n      npi: "1234567893"',
        '    billing_provider:\n      nip: "1234567893"',
    )
    bad = runner.invoke(cli, ["check-config", str(example_config)])
    assert bad.exit_code == EXIT_CONFIG
    assert "clinics[0].billing_provider.nip: unknown key 'nip' (did you mean 'npi'?)" in bad.output
    assert "clinics[0].billing_provider.npi: required key is missing" in bad.output


def test_unknown_destination_reference(example_config: Path) -> None:
    edit(example_config, "    claims_to: claims-out\n", "    claims_to: claim-out\n")
    (problem,) = problems_of(example_config)
    assert "clinics[0].claims_to: no destination named 'claim-out'" in problem


def test_unknown_transport_is_suggested(example_config: Path) -> None:
    edit(
        example_config,
        "    transport: folder\n    format: x12-837p",
        "    transport: foldr\n    format: x12-837p",
    )
    problems = problems_of(example_config)
    assert any(
        "destinations.claims-out.transport: unknown transport 'foldr' (did you mean 'folder'?)" in p for p in problems
    )


def test_transport_settings_are_validated_by_the_plugin_model(example_config: Path) -> None:
    edit(example_config, "    path: outbox/claims\n", "    pth: outbox/claims\n")
    problems = problems_of(example_config)
    assert any("destinations.claims-out.pth: unknown key 'pth' (did you mean 'path'?)" in p for p in problems)
    assert any("destinations.claims-out.path: required key is missing" in p for p in problems)


def test_unknown_settings_section(example_config: Path) -> None:
    edit(
        example_config,
        "    claims_to: claims-out\n",
        "    claims_to: claims-out\n    settings:\n      nosuch: {a: 1}\n",
    )
    (problem,) = problems_of(example_config)
    assert "clinics[0].settings.nosuch: unknown settings section 'nosuch'" in problem


def test_duplicate_clinic_id(example_config: Path) -> None:
    edit(example_config, "  - id: lakeside", "  - id: riverside")
    problems = problems_of(example_config)
    assert any("clinics[1].id: duplicate clinic id" in p for p in problems)


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text("clinics:\n  - id: [unclosed\n")
    with pytest.raises(ConfigError) as exc:
        read_config(cfg)
    assert "gateway.yaml:" in exc.value.problems[0] and "not valid YAML" in exc.value.problems[0]


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text("- 1\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        read_config(cfg)


def test_secrets_are_references_not_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import BaseModel, ValidationError

    from gateway.config import SecretRef

    class S(BaseModel):
        password: SecretRef

    with pytest.raises(ValidationError, match="secret reference"):
        S(password="hunter2")
    monkeypatch.setenv("GW_TEST_SECRET", "s3cret")
    assert resolve_secret(S(password="env:GW_TEST_SECRET").password, tmp_path) == "s3cret"
    (tmp_path / "key.txt").write_text("from-file\n")
    assert resolve_secret("file:key.txt", tmp_path) == "from-file"
    with pytest.raises(ConfigError, match="GW_MISSING is not set"):
        resolve_secret("env:GW_MISSING", tmp_path)
    with pytest.raises(ConfigError, match="cannot read file"):
        resolve_secret("file:nope.txt", tmp_path)


def test_sender_claimed_by_two_clinics(example_config: Path) -> None:
    edit(example_config, "senders: [LAKESIDE]", "senders: [RIVERSIDE]")
    (problem,) = problems_of(example_config)
    assert "sender 'RIVERSIDE' is listed by clinics riverside and lakeside" in problem


# -- every problem in one run -------------------------------------------------------


def test_unquoted_numbers_get_a_hint_to_quote_them(example_config: Path) -> None:
    edit(example_config, 'npi: "1234567893"', "npi: 1234567893")
    edit(example_config, 'postal_code: "625650002"', "postal_code: 0625650002")  # YAML 1.1 reads this as octal
    problems = problems_of(example_config)
    npi_line = line_of(example_config, "npi: 1234567893")
    assert (
        f"gateway.yaml:{npi_line}: clinics[0].billing_provider.npi: expected text, but YAML read the unquoted "
        f'1234567893 as a number (dropping leading zeros); quote it: npi: "1234567893"'
    ) in problems
    assert any(
        "clinics[1].billing_provider.address.postal_code: expected text" in p
        and 'quote it: postal_code: "0625650002"' in p
        for p in problems
    ), problems


def test_check_config_reports_every_problem_in_one_run(example_config: Path) -> None:
    base = example_config.parent
    # clinic 0: a schema problem in its own block, and bad mapping rows (every column of each)
    edit(example_config, 'npi: "1234567893"', "npi: 1234567893")
    with (base / "chargemaster.csv").open("a") as f:
        f.write("BAD-1,9921X,ABCDE,Broken row,12.x,51,abc\n")
        f.write("BAD-2,99213,,Too many,1.00,0510,,extra\n")
    with (base / "codemap-example.csv").open("a") as f:
        f.write("http://example.org/x,X1,99213,LOINC,,bad system\n")
    with (base / "codemap-synthea-snomed.csv").open("a") as f:
        f.write("http://snomed.info/sct,1,ABC,CPT,TOOLONG,bad code\n")
    # clinic 1: a reference, a plugin settings section; the top level: a delivery reference
    text = example_config.read_text()
    head, lakeside = text.split("  - id: lakeside", 1)
    lakeside = lakeside.replace("    claims_to: claims-out", "    claims_to: claim-out").replace(
        "        logo: statements/lakeside-logo.png", "        logo: statements/lakeside-logo.png\n        wordng: x"
    )
    example_config.write_text(
        head + "  - id: lakeside" + lakeside + "delivery:\n  destinations:\n    nowhere: {max_attempts: 2}\n"
    )

    result = CliRunner().invoke(cli, ["check-config", str(example_config)])
    assert result.exit_code == EXIT_CONFIG
    out = result.output
    expected = [
        "clinics[0].billing_provider.npi: expected text, but YAML read the unquoted 1234567893",
        "chargemaster.csv:15: procedure_code for BAD-1 is not a CPT or HCPCS Level II code",
        "chargemaster.csv:15: modifiers for BAD-1 must be up to 4 two-character codes",
        "chargemaster.csv:15: unit_price for BAD-1 is not an amount",
        "chargemaster.csv:15: revenue_code for BAD-1 must be 4 digits",
        "chargemaster.csv:15: ndc for BAD-1 is not a valid NDC",
        "chargemaster.csv:16: 8 fields, the header has 7",
        "codemap-example.csv:",
        "target_system must be CPT or HCPCS, not LOINC",
        "codemap-synthea-snomed.csv:",
        "target_code for 1 is not a CPT code",
        "modifiers for 1 must be up to 4 two-character codes",
        "clinics[1].claims_to: no destination named 'claim-out'",
        "clinics[1].settings.statements.wordng: unknown key 'wordng' (did you mean 'wording'?)",
        "delivery.destinations.nowhere: no destination named 'nowhere'",
    ]
    missing = [e for e in expected if e not in out]
    assert not missing, f"missing {missing} in:\n{out}"
    assert "could not load mapping data" not in out  # no follow-on noise


def test_a_bad_clinic_block_keeps_its_good_keys_for_the_other_checks(example_config: Path) -> None:
    """Clinic 0's core block is invalid; its charge master is still read and its bad row reported."""
    edit(example_config, "    name: Riverside Family Practice\n", "    name: [not, text]\n")
    with (example_config.parent / "chargemaster.csv").open("a") as f:
        f.write("BAD-1,99213,,x,abc,,\n")
    problems = problems_of(example_config)
    assert any("clinics[0].name: Input should be a valid string" in p for p in problems), problems
    assert any("chargemaster.csv:15: unit_price for BAD-1 is not an amount" in p for p in problems), problems
    with pytest.raises(ConfigError) as exc:
        read_config(example_config)  # the core schema alone still refuses it
    assert [p for p in exc.value.problems if "clinics[0].name" in p]
