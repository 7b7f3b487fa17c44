"""Every corpus 999, 277CA and 835 through `gateway process` on the example
deployment's store: the well-formed ones are stored and reported as
unmatched (their claims are not ours: nothing is posted, nothing dropped),
the malformed and out-of-balance ones are quarantined with their reasons."""

from __future__ import annotations

from pathlib import Path

from gateway.examples import write_example_deployment
from gateway.store import FILE_NAME, MessageFilter, open_store
from gateway.store.remits import RemitFilter
from tests.corpus.test_responses_corpus import EXPECTED, responses
from tests.posting_helpers import process


def test_every_corpus_answer_is_stored_as_unmatched_or_quarantined(corpus: Path, tmp_path: Path) -> None:
    config = write_example_deployment(tmp_path / "deploy")
    files = responses(corpus)
    process(config, tmp_path / "out", *files, code=None)
    with open_store(config.parent / "state" / FILE_NAME) as store:
        messages = {m.name: m for m in store.list_messages(MessageFilter(limit=100))}
        assert set(messages) == {p.name for p in files}
        remits = store.list_remits(RemitFilter(limit=100))
        acks = store.list_acks(limit=100)
        for path in files:
            kinds, rules = EXPECTED[path.name]
            m = messages[path.name]
            mine = [r for r in remits if r.message_id == m.id] + [a for a in acks if a.message_id == m.id]
            assert sorted(d.status for d in mine) == sorted(["quarantined" if rules else "unmatched"] * len(kinds)), (
                path.name
            )  # every document kept, none posted
            if rules:
                assert m.status == "quarantined", path.name
                assert rules <= {f["rule"] for f in m.findings}, path.name  # the reasons, on the message
            else:
                assert m.status == "parsed", (path.name, m.status)
                unmatched = [f for f in m.findings if f["rule"] in ("GW-ACK-UNMATCHED", "GW-RESPONSE-UNMATCHED")]
                assert unmatched and all(f["severity"] == "warning" for f in unmatched), path.name
        assert store.list_remits(RemitFilter(status="posted")) == []
        assert {u.kind for u in store.unmatched()} >= {"835", "999", "277CA"}
