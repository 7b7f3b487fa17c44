"""The fast walk of a large 835's claims for posting (issue 13,
plugins/inbound/x12_responses/remit_walk.py) against the typed reader:
every claim's posting values equal, its JSON byte for byte the model's
``model_dump_json(exclude_none=True)`` (the content hash is taken from
it), on the benchmark's remit and on claims that use every segment form
the walk reads, and the hand-over to the typed reader at what it does not
read (the claims after it still the same)."""

from __future__ import annotations

import dataclasses

import pytest
from gateway_plugins.inbound.x12_responses.read import read_responses, remit_claims
from gateway_plugins.inbound.x12_responses.remit_walk import posting_claims

from benchmarks.bench_remit import remit_file
from gateway.model import Remit835, RemitClaim
from gateway.posting import PostedClaim, document_hash

FIELDS = [f.name for f in dataclasses.fields(PostedClaim) if f.name != "_model"]


def same_claims(data: bytes, index: int = 0) -> tuple[list[PostedClaim], int]:
    """The walk's claims, checked against the typed reader's, and how many
    the walk made itself (the typed reader's carry their model)."""
    walked = [PostedClaim.of(c) if isinstance(c, RemitClaim) else PostedClaim.walked(c)
              for c in posting_claims(data, index, remit_claims)]  # fmt: skip
    made = sum(c._model is None for c in walked)
    models = list(remit_claims(data, index))
    assert len(walked) == len(models)
    for w, m in zip(walked, models, strict=True):
        assert w.json == m.model_dump_json(exclude_none=True).encode(), m.claim_id
        expected = PostedClaim.of(m)
        assert [getattr(w, f) for f in FIELDS] == [getattr(expected, f) for f in FIELDS], m.claim_id
        assert w.model() == m
    return walked, made


def test_the_benchmark_remit_is_walked_whole_and_reads_as_the_typed_reader() -> None:
    assert same_claims(remit_file(300))[1] == 300


# every claim-level and line-level form the walk reads: names, dates, multi-triple CAS with a quantity,
# SVC04-07, MOA/MIA, LQ, AMT, REF*6R, a crossover (NM1*TT), an empty CLP05, text JSON must escape
EXTRA = (
    'CLP*W1*19*100*60**12*ICN1*11*1~NM1*QC*1*DOE "Q"*JANE*M***MI*M1~NM1*IL*1*DOE*JOHN****MI*M2~'
    "NM1*82*1*SMITH*AL****XX*1234567893~NM1*TT*2*NEXT PAYER CO*****PI*NP01~MOA***MA01*N1~"
    "DTM*050*20261001~DTM*232*20261002~DTM*233*20261003~CAS*OA*23*10*1*45*5~"
    "SVC*HC:99213:25:59*100*60*0450*2*HC:99212:76*3~DTM*150*20261002~DTM*151*20261003~"
    "CAS*CO*45*20**2*5*1~REF*6R*W1-1~AMT*B6*80~LQ*HE*M15~LQ*RX*X~"
    "CLP*W2*4*50*0*~NM1*QC*1*ÜMLAUT\\BACK~MIA*0***1*MA02****************N2*N3*N4*N5~"
    "SVC*HC:99211*50*0~DTM*472*20261004-20261005~CAS*CO*50*50~"
)


def _with_extra(data: bytes, n: int) -> bytes:
    extra = EXTRA.encode()
    at = data.index(b"PLB*")
    out = data[:at] + extra + data[at:]
    # the remit no longer balances nor counts right: findings, but the same claims either way
    return out


def test_every_segment_form_the_walk_reads_is_the_typed_readers_value_for_value() -> None:
    claims, made = same_claims(_with_extra(remit_file(5), 5))
    assert made == 7
    w1, w2 = claims[-2:]
    assert w1.crossover_payer == "NP01" and w1.patient_responsibility is None and len(w1.all_adjustments()) == 4
    assert w2.status == "4" and w2.lines[0].paid == 0


@pytest.mark.parametrize(
    "odd",
    [
        "QTY*CA*1~LQ*ZZ*1~",  # an LQ01 the reader warns about
        "CAS*CR*45*1~",  # a 4010 group
        "CAS*CO*45*1.234.5~",  # an amount that is none
        "DTM*232*2026~",  # a date that is none
        "N1*PR*LATE~",  # a header segment among the claims
        "XYZ*1~",  # a segment the reader does not know
    ],
)
def test_what_the_walk_does_not_read_hands_over_to_the_typed_reader_at_that_claim(odd: str) -> None:
    data = remit_file(6)
    at = data.index(b"CLP*B00000003")
    at = data.index(b"SVC*", at)
    claims, made = same_claims(data[:at] + odd.encode() + data[at:])
    assert len(claims) == 6 and made == 3  # the three claims before it; the typed reader made the rest


def test_a_walked_remit_hashes_as_the_whole_one() -> None:
    data = _with_extra(remit_file(20), 20)
    (whole,) = read_responses(data, stream_over=10_000).documents
    (header,) = read_responses(data, stream_over=0).documents
    assert isinstance(header, Remit835) and header.streamed and header.iter_posting() is not None
    assert document_hash(header) == document_hash(whole)


def test_the_second_835_of_a_file_is_walked_from_its_own_claims() -> None:
    one = remit_file(4)
    body = one[one.index(b"ST*835") : one.index(b"GE*")]
    two = one.replace(b"GE*1*", b"GE*2*").replace(b"GE*", body.replace(b"0001", b"0002") + b"GE*", 1)
    two = two.replace(b"CLP*B0000", b"CLP*C0000")  # (both sets: the same ids either way)
    claims, made = same_claims(two, 1)
    assert len(claims) == 4 and all(c.claim_id.startswith("C") for c in claims) and made == 4
