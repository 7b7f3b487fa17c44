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
