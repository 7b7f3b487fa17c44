"""docs/model.md is generated from the models (python -m gateway.docs model) and stays true."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from gateway import model as model_module
from gateway.docs.model import missing_entries, model_markdown, models
from gateway.docs.x12_places import PLACES
from gateway.documents import MemoryControlNumbers, RenderContext
from gateway.model import Payer
from gateway.testing import build_claim, build_coverage, build_line
from tests.conftest import ROOT
from tests.x12check import assert_valid_837

MODEL_MD = ROOT / "docs" / "model.md"


def test_docs_model_md_is_up_to_date() -> None:
    assert MODEL_MD.read_text() == model_markdown(), "docs/model.md is stale: run python -m gateway.docs model"


def test_every_model_and_field_is_documented() -> None:
    text = MODEL_MD.read_text()
    for m in models():
        assert f"\n## {m.__name__}\n" in text
        section = text.split(f"\n## {m.__name__}\n", 1)[1].split("\n## ", 1)[0]
        for name in m.model_fields:
            assert f"| `{name}` |" in section, f"{m.__name__}.{name}"


def test_the_command_writes_and_checks(tmp_path: Path) -> None:
    out = tmp_path / "model.md"
    cmd = [sys.executable, "-m", "gateway.docs", "model", "--out", str(out)]
    assert subprocess.run(cmd, capture_output=True, text=True).returncode == 0
    assert out.read_text() == MODEL_MD.read_text()
    assert subprocess.run([*cmd, "--check"], capture_output=True).returncode == 0
    out.write_text(out.read_text().replace("2300 CLM02", "somewhere"))
    stale = subprocess.run([*cmd, "--check"], capture_output=True, text=True)
    assert stale.returncode == 1 and "stale: run python -m gateway.docs model" in stale.stderr


def test_a_new_field_without_placement_data_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    class ClaimNote(BaseModel):
        """A note for the payer."""

        text: str

    ClaimNote.__module__ = model_module.__name__
    monkeypatch.setattr(model_module, "ClaimNote", ClaimNote, raising=False)
    assert missing_entries() == (["ClaimNote.text", "ClaimNote"], ["ClaimNote.text"], [])
    with pytest.raises(ValueError, match=r"no PLACES entry .*: ClaimNote\.text, ClaimNote;"):
        model_markdown()


def _elements(x12: bytes) -> list[list[str]]:
    text = x12.decode()
    element, terminator = text[3], text[105]
    return [s.strip().split(element) for s in text.split(terminator) if s.strip()]


def test_placements_agree_with_a_rendered_837(example_gateway) -> None:
    """A sample of PLACES checked against the x12-837p renderer's output (pyx12-valid)."""
    coverage = build_coverage(payer=Payer(id="EXPAYER1", name="Example Health Plan"))
    lines = [build_line(), build_line(procedure_code="87880", modifiers=["QW"], charge=Decimal("35.50"), units=2)]
    claim = build_claim(coverage=coverage, service_lines=lines, place_of_service="11")
    ctx = RenderContext(
        created=datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
        config=example_gateway.config,
        control_numbers=MemoryControlNumbers(),
        clinics=example_gateway.clinics,
    )
    (doc,) = example_gateway.renderer("claims-out").render([claim], ctx)
    assert_valid_837(doc.content)
    segs = _elements(doc.content)
    seg = {s[0] + (s[1] if s[0] in {"NM1", "DTP", "REF"} else ""): s for s in segs}
    assert PLACES["Claim.total_charge"] == "2300 CLM02" and Decimal(seg["CLM"][2]) == claim.total_charge
    assert PLACES["Claim.id"].startswith("2300 CLM01") and seg["CLM"][1] == claim.id
    assert PLACES["Claim.place_of_service"] == "2300 CLM05-1" and seg["CLM"][5].split(":")[0] == "11"
    assert PLACES["Claim.frequency_code"] == "2300 CLM05-3" and seg["CLM"][5].split(":")[2] == "1"
    assert PLACES["Payer.id"].startswith("2010BB NM109") and seg["NM1PR"][9] == "EXPAYER1"
    assert PLACES["Subscriber.member_id"].startswith("2010BA NM109") and seg["NM1IL"][9] == "XHP123456789"
    assert PLACES["Subscriber.group_number"] == "2000B SBR03" and seg["SBR"][3] == "GRP-2001"
    assert PLACES["Coverage.claim_filing_indicator"] == "SBR09" and seg["SBR"][9] == "CI"
    sv1 = [s for s in segs if s[0] == "SV1"]
    assert PLACES["ServiceLine.charge"] == "2400 SV102" and [Decimal(s[2]) for s in sv1] == [
        Decimal("125"),
        Decimal("35.5"),
    ]
    assert PLACES["ServiceLine.units"].startswith("2400 SV104") and sv1[1][4] == "2"
    assert PLACES["ServiceLine.modifiers"].startswith("2400 SV101-3") and sv1[1][1] == "HC:87880:QW"
    assert PLACES["ServiceLine.service_date"].startswith("2400 DTP03") and seg["DTP472"][3] == "20261005"
    assert PLACES["ServiceLine.control_number"].startswith("2400 REF02") and seg["REF6R"][2] == "V90001-2"
    assert PLACES["Diagnosis.code"].startswith("2300 HI01-2") and seg["HI"][1] == "ABK:J069"
