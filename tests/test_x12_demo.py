"""The example deployment writes 837P claim files that pyx12 accepts, with
no CLM01 or ISA13 used twice, and `gateway validate` agrees."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from click.testing import CliRunner
from gateway_plugins.renderers.x12.reader import read_837

from gateway.cli import cli
from tests.delivery_helpers import hl7_visit
from tests.x12check import assert_valid_837


def _claim_files(out: Path) -> list[Path]:
    return sorted((out / "claims-out").glob("*.x12"))


def test_demo_837_is_valid_and_control_numbers_do_not_repeat(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "demo"
    result = runner.invoke(cli, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    # a `gateway process` in the same deployment (its store) must not reuse ISA13
    config = out / "deployment" / "gateway.yaml"
    new = tmp_path / "new.hl7"
    new.write_bytes(hl7_visit(99))
    result = runner.invoke(cli, ["process", "--config", str(config), "--out", str(tmp_path / "again"), str(new)])
    assert result.exit_code == 0, result.output
    files = _claim_files(out) + _claim_files(tmp_path / "again")
    assert len(files) >= 2
    clm01: Counter[str] = Counter()
    isa13: Counter[str] = Counter()
    for f in files:
        data = f.read_bytes()
        assert_valid_837(data)
        read = read_837(data)
        assert read.problems == []
        isa13.update(read.interchanges)
        clm01.update({c.claim_id for c in read.claims})
        assert re.fullmatch(r"[a-z]+-837P-\d{8}-\d{6}-\d{9}\.x12", f.name)
    assert max(isa13.values()) == 1
    # never a claim twice in one file
    for f in files:
        ids = [c.claim_id for c in read_837(f.read_bytes()).claims]
        assert len(ids) == len(set(ids)) > 0


def test_validate_command_accepts_the_demo_output(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "demo"
    assert runner.invoke(cli, ["demo", "--out", str(out)]).exit_code == 0
    from gateway_plugins.renderers.x12.cli import validate

    result = runner.invoke(validate, [str(f) for f in _claim_files(out)])
    assert result.exit_code == 0, result.output
    assert "0 with errors" in result.output
