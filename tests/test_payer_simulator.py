"""`gateway dev simulate-payer`: our 837P files answered with 999, 277CA and
835 files that pyx12 accepts, that balance, that the reader reads back, and
that are the same for a seed."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from gateway_plugins.inbound.x12_responses import read_responses
from gateway_plugins.inbound.x12_responses.simulate import PayerSimulator, SimulationError, simulate_payer

from gateway.model import Ack999, ClaimAck277, Remit835
from tests.responses_helpers import envelope, remit
from tests.x12check import assert_valid_x12, fixture_claims, render

D = Decimal


def claim_files() -> list[tuple[str, bytes]]:
    """Three 837P files of the fixture claims (14 claims; one secondary, SBR01 = S)."""
    named = fixture_claims()
    # the outcomes below are the seeded simulator's for these 14 claims; the claim
    # with every situational segment has its own test below
    claims = [c for k, c in named.items() if k != "situational"]
    copies = ("self", "dependent", "rendering-facility", "inpatient", "twelve-dx-modifiers")
    more = [named[k].model_copy(update={"id": f"{named[k].id}-B"}) for k in copies]
    files = [render(claims[:6], usage_indicator="T"), render(claims[6:] + more[:3]), render(more[3:])]
    return [(f"batch-{i}.x12", doc.content) for i, doc in enumerate(files, 1)]


@pytest.fixture(scope="module")
def sim():
    return PayerSimulator(seed=7).run(claim_files())


def kind_of(name: str) -> str:
    return {"999": "999", "277CA": "277", "835": "835"}[name.split(".")[-2]]


def test_every_file_passes_pyx12_and_reads_back_without_a_finding(sim) -> None:
    assert sorted(sim.files) == sorted(
        [f"batch-{i}.{k}.x12" for i in (1, 2, 3) for k in ("999", "277CA")]
        + ["remit-EXPAYER1-1.835.x12", "remit-EXPAYER1-2.835.x12", "remit-EXPAYER2-1.835.x12"]
    )
    for name, text in sim.files.items():
        assert_valid_x12(text.encode(), kind_of(name))
        batch = read_responses(text)
        assert not batch.findings and not any(d.findings for d in batch.documents), name


def test_the_answers_cover_the_outcomes_a_biller_meets(sim) -> None:
    outcomes = Counter(sim.outcomes.values())
    for outcome in ("denied", "reversed", "deductible", "coinsurance", "paid_in_full", "contractual", "copay",
                    "secondary", "rejected_277"):  # fmt: skip
        assert outcomes[outcome] >= 1, outcomes
    assert sum(outcomes.values()) == 14
    remits = [d for name, text in sim.files.items() if "835" in name for d in read_responses(text).documents]
    claims = [c for r in remits for c in r.claims]
    adjustments = {(a.group, a.reason) for c in claims for a in c.all_adjustments()}
    assert {("CO", "45"), ("PR", "1"), ("PR", "2"), ("PR", "3"), ("CO", "96"), ("OA", "23")} <= adjustments
    (denied,) = [c for c in claims if c.status == "4"]
    assert denied.paid == 0 and denied.lines[0].remarks == ["N130"]
    (reversal,) = [c for c in claims if c.status == "22"]
    original = [c for c in claims if c.claim_id == reversal.claim_id and c.status == "1"]
    assert len(original) == 2  # paid in run 1, paid again (higher) in run 2
    assert reversal.paid == -original[0].paid and reversal.payer_claim_id == original[0].payer_claim_id
    assert original[1].paid > original[0].paid and original[1].payer_claim_id != original[0].payer_claim_id
    assert all(a.amount < 0 for a in reversal.all_adjustments())
    paid_in_full = [c for c in claims if sim.outcomes[c.claim_id] == "paid_in_full"]
    assert paid_in_full and all(c.paid == c.charge and not c.all_adjustments() for c in paid_in_full)
    (secondary,) = [c for c in claims if c.status == "2"]
    assert secondary.claim_id == "RIV-3001"
    oa23 = sum((a.amount for a in secondary.all_adjustments() if a.group == "OA"), D(0))
    assert oa23 == D("80.00")  # the primary's payment (2320 AMT*D) sent on the 837
    (plb,) = [a for r in remits for a in r.provider_adjustments]
    assert plb.reason == "L6" and plb.amount < 0
    for c in claims:
        pr = sum((a.amount for a in c.all_adjustments() if a.group == "PR"), D(0))
        assert c.patient_responsibility == pr
        assert c.lines and all(ln.control_number for ln in c.lines)


def test_999_and_277ca_tie_back_to_what_was_sent(sim) -> None:
    sent = {}
    for name, data in claim_files():
        text = data.decode()
        sent[name] = (
            text.split("GS*")[1].split("*")[5],
            [s.split("*")[2] for s in text.split("~") if s.strip().startswith("ST*")],
        )
    for name, (gs06, st02s) in sent.items():
        (ack,) = read_responses(sim.files[name.replace(".x12", ".999.x12")]).documents
        assert isinstance(ack, Ack999) and ack.status == "A" and ack.group_control == gs06
        assert [t.control_number for t in ack.transactions] == st02s and all(t.accepted for t in ack.transactions)
    claim_acks = [d for n, t in sim.files.items() if "277CA" in n for d in read_responses(t).documents]
    assert all(isinstance(d, ClaimAck277) for d in claim_acks) and len(claim_acks) == 14
    (rejected,) = [d for d in claim_acks if d.rejected]
    assert sim.outcomes[rejected.claim_id] == "rejected_277"
    assert [(c.category, c.code, c.entity) for c in rejected.statuses[0].codes] == [("A7", "164", "IL")]
    remitted = {c.claim_id for n, t in sim.files.items() if "835" in n for d in read_responses(t).documents
                for c in d.claims}  # fmt: skip
    assert rejected.claim_id not in remitted
    accepted = {d.claim_id: d for d in claim_acks if not d.rejected}
    assert set(accepted) == remitted
    first_remits = [d for n, t in sim.files.items() if n.endswith("-1.835.x12") for d in read_responses(t).documents]
    for r in first_remits:
        for c in r.claims:
            assert accepted[c.claim_id].payer_claim_id == c.payer_claim_id
            assert accepted[c.claim_id].billing_npi == r.payee.npi


def test_remits_are_per_payee_and_pay_what_they_say(sim) -> None:
    for name, text in sim.files.items():
        if "835" not in name:
            continue
        docs = read_responses(text).documents
        assert all(isinstance(d, Remit835) for d in docs)
        assert len({d.payee.npi for d in docs}) == len(docs)  # one transaction set per payee
        for d in docs:
            total = sum((c.paid for c in d.claims), D(0)) - sum((a.amount for a in d.provider_adjustments), D(0))
            assert d.payment.signed_amount == total and d.payment.trace_number


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_answers() -> None:
    files = claim_files()
    one, two = PayerSimulator(seed=3).run(files), PayerSimulator(seed=3).run(files)
    assert one.files == two.files
    other = PayerSimulator(seed=4).run(files)
    assert other.files.keys() == one.files.keys() and other.files != one.files


def test_a_structural_problem_is_rejected_in_the_999() -> None:
    name, data = claim_files()[0]
    text = data.decode()
    se = next(s for s in text.split("~") if s.strip().startswith("SE*"))
    broken = text.replace(se, se.replace("SE*", "SE*1"))  # a wrong segment count
    sim = PayerSimulator(seed=1).run([(name, broken.encode())])
    (ack,) = sim.acks
    assert ack.status == "R" and ack.transactions[0].codes == ["4"]
    assert set(sim.files) == {"batch-1.999.x12"}  # nothing accepted: no 277CA, no 835
    assert_valid_x12(sim.files["batch-1.999.x12"].encode(), "999")


def test_a_claim_with_every_situational_segment_is_answered() -> None:
    """REF*G1/9F, DTP*431/439/304, CLM11/CLM20, NTE, 2410 LIN/CTP, 2420D: the payer side reads it."""
    claim = fixture_claims()["situational"]
    sim = PayerSimulator(seed=3).run([("situational.x12", render([claim]).content)])
    assert set(sim.outcomes) == {claim.id}
    assert sorted(sim.files) == ["remit-EXPAYER1-1.835.x12", "situational.277CA.x12", "situational.999.x12"]
    for name, text in sim.files.items():
        assert_valid_x12(text.encode(), kind_of(name))
        batch = read_responses(text)
        assert not batch.findings and not any(d.findings for d in batch.documents), name
    (ack,) = sim.acks
    assert ack.status == "A"


def test_the_corpus_style_secondary_claim_does_not_crash(tmp_path: Path) -> None:
    claims = fixture_claims()
    doc = render([claims["secondary"]])
    sim = PayerSimulator().run([("secondary.x12", doc.content)])
    (remit_doc,) = [d for n, t in sim.files.items() if "835" in n for d in read_responses(t).documents]
    assert remit_doc.claims[0].status == "2"


@pytest.mark.parametrize("data", [b"", b"not x12", remit().encode(), envelope("999", [["AK1*HC*1"]]).encode()])
def test_inputs_that_are_not_837_files_are_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(SimulationError):
        PayerSimulator().run([("bad.x12", data)])


def test_the_command_writes_private_files(tmp_path: Path) -> None:
    inputs = []
    for name, data in claim_files():
        (tmp_path / name).write_bytes(data)
        inputs.append(str(tmp_path / name))
    out = tmp_path / "responses"
    cmd = [sys.executable, "-c", "from gateway.cli import main; main()", "dev", "simulate-payer", "--out", str(out),
           "--seed", "7", *inputs]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "14 claim(s)" in done.stdout and "reversed 1" in done.stdout
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 9 and (out.stat().st_mode & 0o777) == 0o700
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in out.iterdir())
    expected = PayerSimulator(seed=7).run(claim_files())
    assert {p.name: p.read_text() for p in out.iterdir()} == expected.files
    bad = tmp_path / "bad.x12"
    bad.write_text("hello")
    failed = subprocess.run([*cmd[:6], str(out), str(bad)], capture_output=True, text=True)
    assert failed.returncode == 1 and "simulate-payer:" in failed.stderr and "Traceback" not in failed.stderr


def test_simulate_payer_function_writes_to_a_folder(tmp_path: Path) -> None:
    paths = []
    for name, data in claim_files()[:1]:
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    sim = simulate_payer(paths, tmp_path / "out", seed=2)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(sim.files)
