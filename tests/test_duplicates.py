"""One duplicate rule for the daemon's path (journal → worker → batcher →
outbox → dispatcher, the components ``gateway run`` runs): an identical
resend is not billed again, a changed claim or self-pay statement for a visit
already billed is held with a finding naming the operator's command, every
message ends final, and ``gateway claims resolve --replace --icn`` sends a
frequency-7 claim with REF*F8 that pyx12 accepts (issue 17 item 4)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from gateway.cli import cli
from gateway.examples import FIXTURES
from gateway.store import IN_PROGRESS, MessageFilter
from gateway.store.submissions import SubmissionFilter
from tests.delivery_helpers import Line, deployment, hl7_visit
from tests.x12check import assert_valid_837

SELF_PAY = (FIXTURES / "hl7v2" / "dft_p03_v25_selfpay_guarantor.hl7").read_bytes()


def changed(raw: bytes, old: bytes, new: bytes, control: bytes) -> bytes:
    """``raw`` with a value changed and a new MSH-10 (as a sender's correction)."""
    assert old in raw
    return raw.replace(old, new).replace(b"|P|2.5", b"-" + control + b"|P|2.5", 1)


def files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())} if folder.exists() else {}


def test_resends_and_corrections_end_final_and_a_replacement_goes_out_as_frequency_7(tmp_path: Path) -> None:
    config = deployment(tmp_path / "dep")
    line = Line(config)
    visit = hl7_visit(1)
    line.ingest([
        visit,
        hl7_visit(2),
        changed(visit, b"X", b"X", b"R1"),  # the same visit again under another control id: a resend
        changed(visit, b"|110.00|", b"|250.00|", b"C1"),  # the charge changed: held
        SELF_PAY,
        changed(SELF_PAY, b"|125.00|", b"|140.00|", b"C2"),  # a self-pay visit resent with a new amount: held
    ])  # fmt: skip
    line.cut()
    line.deliver_until_idle()
    counts = Counter()
    for _, status, n in line.store.counts():
        counts[status] += n
    assert not set(counts) & IN_PROGRESS, counts  # nothing stuck (issue 17: 96 messages stayed `claimed`)
    assert counts == {"delivered": 3, "duplicate": 1, "quarantined": 2}
    held = {
        (s.key, s.version)
        for k in ("claims", "statements")
        for s in line.store.list_submissions(k, SubmissionFilter(status="held"))
    }
    assert held == {("BH0000001", 2), ("SLV20017", 2)}
    findings = [
        f
        for m in line.store.list_messages(MessageFilter(status="quarantined"))
        for e in line.store.encounters(m.id)
        for f in e["findings"]
    ]
    rules = sorted(f["rule"] for f in findings if f["severity"] == "error")
    assert rules == ["GW-DUPLICATE-CLAIM", "GW-DUPLICATE-STATEMENT"]
    claims_dir = config.parent / "outbox" / "claims"
    (first_837,) = files(claims_dir).values()
    assert first_837.count(b"CLM*BH0000001*") == 1 and first_837.count(b"CLM*BH0000002*") == 1

    runner = CliRunner()
    status = json.loads(runner.invoke(cli, ["status", "--config", str(config), "--json"]).output)
    assert status["in_progress"]["messages"] == 0 and status["held"] == {"claims": 1, "statements": 1}
    text = runner.invoke(cli, ["status", "--config", str(config)]).output
    assert "nothing in progress" in text and "held for an operator: 1 claim(s), 1 statement(s)" in text

    resolve = ["claims", "resolve", "BH0000001", "--clinic", "riverside", "--config", str(config)]
    refused = runner.invoke(cli, [*resolve, "--replace"])
    assert refused.exit_code == 1 and "--icn" in refused.output  # the payer's ICN is not known yet
    done = runner.invoke(cli, [*resolve, "--replace", "--icn", "ICN26001", "--reason", "charge corrected"])
    assert done.exit_code == 0, done.output
    assert "replacement (frequency 7, REF*F8 ICN26001)" in done.output
    st = ["statements", "resolve", "SLV20017", "--clinic", "lakeside", "--config", str(config), "--replace"]
    assert runner.invoke(cli, st).exit_code == 0
    line.cut()
    line.deliver_until_idle()

    new_837 = [b for n, b in files(claims_dir).items() if b != first_837]
    assert len(new_837) == 1
    assert_valid_837(new_837[0])
    text_837 = new_837[0].decode()
    assert "CLM*BH0000001*288*" in text_837 and ":B:7*" in text_837 and "REF*F8*ICN26001~" in text_837
    pdfs = sorted(files(config.parent / "outbox" / "statements"))
    assert len(pdfs) == 2 and pdfs[0] == pdfs[1].replace(".pdf", "-2.pdf")  # the corrected one under a new name
    shown = json.loads(runner.invoke(cli, ["claims", "show", "BH0000001", "--config", str(config), "--json"]).output)
    assert [(s["version"], s["frequency_code"], s["status"]) for s in shown["submissions"]] == [
        (1, "1", "delivered"), (2, "7", "delivered"),
    ]  # fmt: skip
    assert [e["kind"] for e in shown["events"]] == [
        "created", "resent", "held", "batched", "delivered", "replacement", "replaced", "batched", "delivered",
    ]  # fmt: skip
    assert shown["events"][0]["at"].endswith("Z")
    assert not {s for _, s, _ in line.store.counts()} & IN_PROGRESS
    line.close()
