"""Posting a large 835 streamed (issue 13): the posting tests of
tests/test_posting.py and tests/test_posting_nodes.py again, with every 835 streamed (``STREAM_OVER`` 0:
its claims read again from the file's bytes when posted, never held) and
posted three CLPs at a time (a claim paid twice in one remit spans two
batches) — the same statuses, ledgers, duplicates, corrections, reversals,
quarantines and unmatched answers as the whole-remit path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gateway_plugins.inbound.x12_responses import read
from gateway_plugins.inbound.x12_responses.read import read_responses

import gateway.store.sql_remits as sql_remits
from benchmarks.bench_remit import remit_file
from gateway.model import Remit835, RemitClaim, RemitEnd
from gateway.posting import document_hash
from tests.pg import pg_url, store_url  # noqa: F401  (fixtures)
from tests.test_posting import (  # noqa: F401  (collected again, streamed)
    loop,
    test_a_response_message_reprocessed_posts_nothing_twice_and_reports_once,
    test_a_second_835_for_a_paid_claim_posts_as_a_correction_and_keeps_the_ledger_balanced,
    test_a_truncated_835_is_stored_with_a_finding_at_its_last_segment_and_posts_nothing,
    test_an_out_of_balance_835_is_quarantined_naming_the_amounts_and_posts_nothing,
    test_the_same_835_twice_posts_once_by_content_and_by_trn,
    test_the_whole_loop_posts_every_answer_and_every_ledger_balances,
    test_unmatched_answers_are_kept_and_reported_never_dropped,
)
from tests.test_posting_nodes import (  # noqa: F401  (collected again, streamed: SQLite and PostgreSQL, two nodes)
    test_the_daemons_workers_post_the_answers_on_either_store,
    test_two_nodes_posting_different_remits_for_the_same_claims_at_once_lose_no_update,
)


@pytest.fixture(autouse=True)
def streamed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(read, "STREAM_OVER", 0)
    monkeypatch.setattr(sql_remits, "_CLP_BATCH", 3)
    yield


def test_a_streamed_remit_holds_no_claims_reads_them_again_and_hashes_the_same() -> None:
    data = remit_file(40)
    (whole,) = read_responses(data, stream_over=10_000).documents
    (header,) = read_responses(data).documents
    assert isinstance(whole, Remit835) and isinstance(header, Remit835)
    assert not whole.streamed and header.streamed and header.claims == [] and header.claim_count == 40
    assert list(header.iter_claims()) == whole.claims == list(header.iter_claims())
    assert header.provider_adjustments == whole.provider_adjustments and header.findings == whole.findings
    assert document_hash(header) == document_hash(whole)
    (other,) = read_responses(remit_file(41)).documents
    assert document_hash(other) != document_hash(header)


def test_inspect_shows_a_streamed_remits_claims_as_the_whole_one() -> None:
    from gateway.pipeline import ResponseResult

    data = remit_file(12)
    (whole,) = read_responses(data, stream_over=10_000).documents
    (header,) = read_responses(data).documents
    assert ResponseResult(header, None, None, []).as_dict() == ResponseResult(whole, None, None, []).as_dict()


def test_the_checking_pass_makes_models_of_the_claims_it_keeps_only_and_finds_the_same() -> None:
    data = remit_file(30).replace(b"CLP*B00000025*1*", b"CLP*B00000025*1*1", 1)  # claim 26's charge out of balance
    every = list(read.stream_responses(data))
    kept = list(read.stream_responses(data, keep=5))
    claims = [c for c in every if isinstance(c, RemitClaim)]
    assert len(claims) == 30 and [c for c in kept if isinstance(c, RemitClaim)] == claims[:5]
    (end,) = [e for e in every if isinstance(e, RemitEnd)]
    assert [e for e in kept if isinstance(e, RemitEnd)] == [end] and end.claims == 30
    (error,) = [f for f in end.findings if f.is_error]
    assert error.rule == "X12-835-BALANCE-CLAIM" and "claim B00000025" in error.message
    (header,) = read_responses(data, stream_over=5).documents
    assert isinstance(header, Remit835) and header.streamed and header.claims == [] and header.claim_count == 30
    assert header.findings == end.findings and list(header.iter_claims()) == claims
