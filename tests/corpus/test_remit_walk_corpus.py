"""Every corpus 835 walked for posting (plugins/inbound/x12_responses/remit_walk.py):
each transaction set's claims equal the typed reader's, JSON byte for byte
(the walk hands over to the typed reader where it does not read a form)."""

from __future__ import annotations

from pathlib import Path

from gateway_plugins.inbound.x12_responses import read_responses

from gateway.model import Remit835
from tests.test_remit_walk import same_claims


def test_every_corpus_835_walks_to_the_typed_readers_claims(corpus: Path) -> None:
    files = sorted((corpus / "x12").glob("*_835_*"))
    assert len(files) >= 4
    for path in files:
        data = path.read_bytes()
        remits = [d for d in read_responses(data).documents if isinstance(d, Remit835)]
        for i, remit in enumerate(remits):
            claims, _ = same_claims(data, i)
            assert len(claims) == remit.claim_count, path.name
