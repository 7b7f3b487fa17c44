"""The 837P reader and `gateway validate` on third-party 837P samples."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_plugins.renderers.x12.reader import read_837
from gateway_plugins.renderers.x12.validate import ClaimRules, FileValidator

INVALID_NO_HI = "oopfactory_837P_X222A1_medicaid_redacted_bom_indented.x12"
EXPECTED_CLAIMS = {
    "ims_837P_X222A1_complex_multi_claim.x12": 6,
    "ims_837P_X222A1_nonstandard_delimiters.x12": 2,
    "lfh_837P_X222A2_cob_secondary_payer_example3B.x12": 1,
    "lfh_837P_X222A2_example1_four_service_lines.x12": 1,
    "oopfactory_837P_X222A1_CRLF_segment_terminator.x12": 1,
    INVALID_NO_HI: 5,
}


def _files(corpus: Path) -> list[Path]:
    return sorted((corpus / "x12").glob("*837P*"))


def test_every_837p_sample_is_read(corpus: Path) -> None:
    files = _files(corpus)
    assert {f.name for f in files} == set(EXPECTED_CLAIMS)
    for f in files:
        read = read_837(f.read_bytes())
        assert len(read.claims) == EXPECTED_CLAIMS[f.name], f.name
        for claim in read.claims:
            assert claim.claim_id and claim.lines, f.name
            assert all(ln.procedure_code for ln in claim.lines), f.name


def test_reader_copes_with_delimiters_bom_crlf_and_indentation(corpus: Path) -> None:
    odd = read_837((corpus / "x12" / "ims_837P_X222A1_nonstandard_delimiters.x12").read_bytes())
    assert odd.delimiters is not None and (odd.delimiters.element, odd.delimiters.segment) == ("~", "_")
    crlf = read_837((corpus / "x12" / "oopfactory_837P_X222A1_CRLF_segment_terminator.x12").read_bytes())
    assert crlf.delimiters is not None and crlf.delimiters.segment == "\r"
    (claim,) = crlf.claims
    assert len(claim.lines) == 2 and claim.total_charge is not None
    assert claim.lines_total == claim.total_charge
    example = read_837((corpus / "x12" / "lfh_837P_X222A2_example1_four_service_lines.x12").read_bytes())
    (claim,) = example.claims
    assert len(claim.lines) == 4 and claim.lines_total == claim.total_charge
    assert claim.relationship != "18" and claim.patient != claim.subscriber  # the TR3 example's dependent
    cob = read_837((corpus / "x12" / "lfh_837P_X222A2_cob_secondary_payer_example3B.x12").read_bytes())
    assert cob.claims[0].other_payers and cob.claims[0].other_payers[0].paid is not None


def test_the_sample_without_hi_is_flagged(corpus: Path) -> None:
    data = (corpus / "x12" / INVALID_NO_HI).read_bytes()
    read = read_837(data)
    missing = [p for p in read.problems if p.rule == "X12-HI-MISSING"]
    assert len(missing) == 5
    others = [f for f in _files(corpus) if f.name != INVALID_NO_HI]
    for f in others:
        assert not [p for p in read_837(f.read_bytes()).problems if p.rule == "X12-HI-MISSING"], f.name
    report = FileValidator(ClaimRules(None)).validate(data, INVALID_NO_HI)
    assert any(i.source == "pyx12" and i.seg_id == "HI" and "missing" in i.message for i in report.errors)


@pytest.mark.parametrize("name", sorted(EXPECTED_CLAIMS))
def test_validator_never_crashes_on_samples(corpus: Path, name: str) -> None:
    report = FileValidator(ClaimRules(None)).validate((corpus / "x12" / name).read_bytes(), name)
    assert report.claims == EXPECTED_CLAIMS[name]
