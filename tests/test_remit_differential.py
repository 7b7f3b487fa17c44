"""Our 835 reader against edi-835-parser (PyPI) on every 835 the payer
simulator writes: the same claims, amounts, patient responsibility and
adjustments (tests/edi835.py says what is compared; the corpus 835s are
compared in tests/corpus/test_responses_corpus.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_plugins.inbound.x12_responses import read_responses
from gateway_plugins.inbound.x12_responses.simulate import PayerSimulator

from tests.edi835 import edi_view, our_view
from tests.test_payer_simulator import claim_files


@pytest.mark.parametrize("seed", [0, 5])
def test_simulated_remits_read_the_same_with_edi_835_parser(seed: int, tmp_path: Path) -> None:
    sim = PayerSimulator(seed=seed).run(claim_files())
    remits = {name: text for name, text in sim.files.items() if name.endswith(".835.x12")}
    assert len(remits) >= 2
    compared = 0
    for name, text in remits.items():
        path = tmp_path / name
        path.write_text(text)
        ours = our_view(read_responses(text))
        assert edi_view(path) == ours, name
        compared += len(ours)
    assert compared >= 14  # every remitted claim, reversal and correction included
