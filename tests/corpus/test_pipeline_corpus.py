"""Every third-party sample goes through the whole gateway without an
exception: it yields encounters, response documents (999/277CA/835), or
findings saying why not; and no billable line of it vanishes (tests/invariant.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.examples import write_example_deployment
from gateway.messages import MemoryRecords, MessageMeta
from tests.conftest import TODAY
from tests.corpus.conftest import CORPUS
from tests.invariant import check_nothing_vanishes

SAMPLES = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "PROVENANCE.md") if CORPUS.is_dir() else []


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Gateway:
    return Gateway.from_config(write_example_deployment(tmp_path_factory.mktemp("corpus") / "deployment"))


def test_corpus_is_present(corpus: Path) -> None:
    assert len(SAMPLES) >= 40, f"expected the shared corpus in {corpus}, found {len(SAMPLES)} files"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_never_crashes_the_pipeline(gateway: Gateway, sample: Path) -> None:
    meta = MessageMeta(source="corpus", today=TODAY, clinic_id="riverside", name=sample.name)
    raw = sample.read_bytes()
    result = gateway.pipeline.process(raw, meta, MemoryRecords())
    assert result.encounters or result.responses or result.findings or result.updates, "nothing came out"
    for finding in result.all_findings():
        assert finding.rule and finding.message
    check_nothing_vanishes(raw, result)
