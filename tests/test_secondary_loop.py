"""Secondary claims end to end (issue 14) on real stores: a visit with two
coverages billed to the primary with `gateway process`, the payer
simulator's 835 (PR coinsurance) posted, the secondary 837 the store
creates and the batcher sends (pyx12 and `gateway validate` clean), the
simulator's secondary 835 posted: every payer's ledger balances to the
cent. Crossovers wait, per-payer delays hold the claim back, a second
primary answer never bills twice; PostgreSQL too."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import yaml
from click.testing import CliRunner
from gateway_plugins.inbound.x12_responses import read_responses
from gateway_plugins.inbound.x12_responses.simulate import Simulation, simulate_payer
from gateway_plugins.renderers.x12.validate import FileValidator

from gateway.adjustment_codes import codes_for
from gateway.app import Gateway
from gateway.claim_reports import aging, follow_up_days, follow_up_list, today, without_response_counts
from gateway.cli import cli
from gateway.delivery.batcher import Batcher
from gateway.examples import write_example_deployment
from gateway.model import Remit835
from gateway.posting import balance_of
from gateway.store import Store, open_store
from gateway.store.remits import LedgerEntry
from tests.conftest import TODAY
from tests.edi835 import edi_view
from tests.pg import pg_url  # noqa: F401  (fixture: a PostgreSQL schema of its own)
from tests.posting_helpers import process, write_remit
from tests.statements_pdfcheck import pdf_text
from tests.x12check import assert_valid_x12

ZERO = Decimal("0.00")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hl7v2"
COB = FIXTURES / "dft_p03_v25_units_cob.hl7"
CLINIC = "riverside"


@dataclass
class Cob:
    """A two-coverage visit billed to its primary, and the answers so far."""

    config: Path
    root: Path
    clm01: str
    primary_837: Path
    sim: Simulation
    #: None: the deployment's own SQLite file
    store_url: str | None = None

    def store(self) -> Store:
        return open_store(self.store_url or self.config.parent / "state" / "gateway.sqlite")

    def answers(self, kind: str) -> list[Path]:
        return sorted(p for p in (self.root / "responses").iterdir() if f".{kind}." in p.name)


def cob_deployment(root: Path, secondary: dict | None = None) -> Path:
    """The example deployment; ``secondary`` set on Example Health Plan (EXPAYER1) in the payer directory."""
    config = write_example_deployment(root / "deploy")
    if secondary is not None:
        payers = config.parent / "payers.yaml"
        data = yaml.safe_load(payers.read_text())
        (entry,) = [p for p in data["payers"] if p["payer_id"] == "EXPAYER1"]
        entry["secondary"] = secondary
        payers.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def run(config: Path, out: Path, *inputs: Path, store_url: str | None = None) -> None:
    """`gateway process` (one-shot) on the deployment's store, or on ``store_url``."""
    extra = ["--store", store_url] if store_url else []
    args = ["process", "--config", str(config), "--out", str(out), "--today", TODAY.isoformat(), *extra,
            *map(str, inputs)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output


def bill_primary(root: Path, config: Path, store_url: str | None = None) -> Cob:
    visits = root / "visits"
    visits.mkdir(parents=True)
    shutil.copy(COB, visits / COB.name)
    run(config, root / "out", visits, store_url=store_url)
    (x12,) = sorted((root / "out" / "claims-out").glob("*.x12"))
    sim = simulate_payer([x12], root / "responses")
    (clm01,) = sim.outcomes
    return Cob(config, root, clm01, x12, sim, store_url)


def post(cob: Cob, files: list[Path], name: str) -> Path:
    """`gateway process` of answer files (one-shot run on the deployment's store): its out folder."""
    out = cob.root / name
    run(cob.config, out, *files, store_url=cob.store_url)
    return out


def ledger(store: Store, clm01: str, seq: int) -> list[LedgerEntry]:
    return [e for e in store.ledger(CLINIC, clm01) if e.payer_seq == seq]


def balance(entries: list[LedgerEntry]) -> tuple[Decimal, Decimal, Decimal]:
    return balance_of((e.kind, e.amount) for e in entries)


def primary_pr(remit: Remit835, clm01: str) -> Decimal:
    (clp,) = [c for c in remit.claims if c.claim_id == clm01]
    return sum((a.amount for a in clp.all_adjustments() if a.group == "PR"), ZERO)


def secondary_files(out: Path) -> list[Path]:
    return sorted((out / "claims-out").glob("*.x12")) if (out / "claims-out").exists() else []


def test_primary_835_bills_the_secondary_which_posts_and_balances(tmp_path: Path) -> None:
    cob = bill_primary(tmp_path, cob_deployment(tmp_path))
    assert cob.sim.outcomes == {cob.clm01: "coinsurance"}  # another coverage: something is left for it
    for kind, n in (("999", 0), ("277CA", 1)):
        post(cob, cob.answers(kind), f"answers-{n}")
    (primary_remit_file,) = cob.answers("835")
    assert_valid_x12(primary_remit_file.read_bytes(), "835")
    (remit,) = [r for r in cob.sim.remits]
    left = primary_pr(remit, cob.clm01)
    assert left > 0
    out = post(cob, [primary_remit_file], "answers-2")
    # the store created the secondary and the run's batcher sent it
    (sec_file,) = secondary_files(out)
    data = sec_file.read_bytes()
    assert_valid_x12(data, "837")
    report = FileValidator().validate(data)
    assert report.errors == [], [i.describe() for i in report.errors]
    text = data.decode()
    assert "SBR*S*" in text and "SBR*P*" in text and "SVD*EXMEDB01*" in text and "*D*" in text
    with cob.store() as store:
        subs = store.submissions("claims", CLINIC, cob.clm01)
        assert [(s.payer_seq, s.version, s.frequency_code) for s in subs] == [(1, 1, "1"), (2, 1, "1")]
        primary, secondary = subs
        assert primary.status == "closed" and secondary.status == "delivered" and secondary.payer_id == "EXPAYER1"
        events = store.events("claims", CLINIC, cob.clm01)
        billed = [e for e in events if e.kind == "secondary_billed"]
        assert sorted(e.payer_seq for e in billed) == [1, 2]
        assert [e.kind for e in events if e.payer_seq == 2][:3] == ["secondary_billed", "released", "batched"]
        sec = ledger(store, cob.clm01, 2)
        charge, paid, open_balance = balance(sec)
        assert (charge, paid, open_balance) == (Decimal(primary.total_charge), ZERO, left)
        (prior,) = [e for e in sec if e.kind == "prior_payer"]
        assert (prior.group, prior.reason, prior.amount, prior.remit_id) == ("OA", "23", charge - left, None)
        assert balance(ledger(store, cob.clm01, 1))[2] == 0
    # the secondary payer answers
    sim2 = simulate_payer([sec_file], tmp_path / "responses-2")
    assert sim2.outcomes == {cob.clm01: "secondary"}
    files = {k: sorted(p for p in (tmp_path / "responses-2").iterdir() if f".{k}." in p.name) for k in
             ("999", "277CA", "835")}  # fmt: skip
    (sec_remit_file,) = files["835"]
    assert_valid_x12(sec_remit_file.read_bytes(), "835")
    (edi,) = edi_view(sec_remit_file)
    (sec_remit,) = sim2.remits
    (clp,) = sec_remit.claims
    assert (edi["claim_id"], edi["status"], edi["paid"]) == (cob.clm01, "2", clp.paid)
    assert clp.status == "2" and 0 < clp.paid < left
    oa23 = sum((a.amount for a in clp.all_adjustments() if (a.group, a.reason) == ("OA", "23")), ZERO)
    assert oa23 == Decimal(primary.total_charge) - left  # what the primary settled
    for n, kind in enumerate(("999", "277CA", "835")):
        post(cob, files[kind], f"answers-sec-{n}")
    with cob.store() as store:
        subs = store.submissions("claims", CLINIC, cob.clm01)
        assert [(s.payer_seq, s.status) for s in subs] == [(1, "closed"), (2, "patient_due")]
        kinds = [e.kind for e in store.events("claims", CLINIC, cob.clm01) if e.payer_seq == 2]
        assert {"accepted_999", "acknowledged_277", "partially_paid"} <= set(kinds)  # its own answers
        sec = ledger(store, cob.clm01, 2)
        assert balance(sec) == (Decimal(primary.total_charge), clp.paid, ZERO)
        assert sum(e.amount for e in sec if e.kind == "prior_payer") == 0  # netted out: its own OA-23 says it now
        netted = [e for e in sec if e.kind == "prior_payer" and e.remit_id is not None]
        assert len(netted) == 1 and netted[0].note == "prior payer answered"
        pr = sum((e.amount for e in sec if e.kind == "adjustment" and e.group == "PR"), ZERO)
        assert pr == left - clp.paid  # what is left for the patient
        assert len(store.submissions("claims", CLINIC, cob.clm01)) == 2  # no tertiary: no third coverage
        # the whole claim as the guarantor account sees it: both insurers' payments, the last payer's PR
        account = store.account_of(CLINIC, cob.clm01)
        view = store.account(CLINIC, account)
        (item,) = [i for i in view.items if i.key == cob.clm01]
        primary_paid = sum((e.amount for e in ledger(store, cob.clm01, 1) if e.kind == "payment"), ZERO)
        assert (item.charge, item.insurance_paid, item.pending) == (Decimal(primary.total_charge),
                                                                    primary_paid + clp.paid, ZERO)  # fmt: skip
        assert item.patient_responsibility == left - clp.paid and item.last_payer_seq == 2


def test_a_second_primary_answer_after_the_secondary_bills_nothing_twice(tmp_path: Path) -> None:
    cob = bill_primary(tmp_path, cob_deployment(tmp_path))
    (remit,) = cob.sim.remits
    out = post(cob, cob.answers("835"), "answers-1")
    assert len(secondary_files(out)) == 1
    # the payer corrects its payment: a new ICN, one cent more paid, one cent less coinsurance
    (clp,) = remit.claims
    line = clp.lines[0]
    pr = next(a for a in line.adjustments if a.group == "PR")
    fixed_line = line.model_copy(update={"paid": line.paid + Decimal("0.01"), "adjustments": [
        a.model_copy(update={"amount": a.amount - Decimal("0.01")}) if a is pr else a for a in line.adjustments]})  # fmt: skip
    fixed = clp.model_copy(update={"paid": clp.paid + Decimal("0.01"), "payer_claim_id": "ICN-CORRECTED",
                                   "patient_responsibility": (clp.patient_responsibility or ZERO) - Decimal("0.01"),
                                   "lines": [fixed_line, *clp.lines[1:]]})  # fmt: skip
    payment = remit.payment.model_copy(update={"amount": fixed.paid, "trace_number": "CORRECTION1"})
    again = remit.model_copy(update={"claims": [fixed], "payment": payment, "provider_adjustments": []})
    f = write_remit(tmp_path / "correction.835.x12", [again], 901, payer="EXMEDB01")
    assert_valid_x12(f.read_bytes(), "835")
    out = post(cob, [f], "answers-2")
    assert secondary_files(out) == []
    with cob.store() as store:
        subs = store.submissions("claims", CLINIC, cob.clm01)
        assert [(s.payer_seq, s.version) for s in subs] == [(1, 1), (2, 1)]  # still one secondary
        kinds = [e.kind for e in store.events("claims", CLINIC, cob.clm01) if e.payer_seq == 1]
        assert "corrected" in kinds and kinds.count("secondary_billed") == 1 and "next_payer_exists" in kinds
        assert balance(ledger(store, cob.clm01, 1))[2] == 0


def crossover_of(remit: Remit835) -> Remit835:
    """The primary's remit as a crossover: CLP02 19 and NM1*TT naming the secondary."""
    (clp,) = remit.claims
    clp = clp.model_copy(update={"status": "19", "status_text": "processed as primary, forwarded",
                                 "crossover_payer": "EXPAYER1", "crossover_name": "Example Health Plan"})  # fmt: skip
    return remit.model_copy(update={"claims": [clp]})


def test_a_crossover_sends_no_837_and_the_next_payers_835_posts_on_it(tmp_path: Path) -> None:
    cob = bill_primary(tmp_path, cob_deployment(tmp_path))
    (remit,) = cob.sim.remits
    f = write_remit(tmp_path / "crossover.835.x12", [crossover_of(remit)], 902, payer="EXMEDB01")
    assert_valid_x12(f.read_bytes(), "835")
    (doc,) = read_responses(f.read_bytes()).documents
    assert doc.claims[0].crossover_payer == "EXPAYER1"
    left = primary_pr(remit, cob.clm01)
    out = post(cob, [f], "answers-1")
    assert secondary_files(out) == []  # nothing billed: the payer forwarded it
    with cob.store() as store:
        subs = store.submissions("claims", CLINIC, cob.clm01)
        assert [(s.payer_seq, s.status) for s in subs] == [(1, "closed"), (2, "crossover")]
        assert balance(ledger(store, cob.clm01, 2))[2] == left
        events = [e for e in store.events("claims", CLINIC, cob.clm01) if e.kind == "crossover"]
        assert sorted(e.payer_seq for e in events) == [1, 2] and events[0].detail["crossover_payer"] == "EXPAYER1"
        (row,) = [s.row for s in subs if s.payer_seq == 2]
        body = store.batch_items("claims", [row])[0].body
        # followed up like any claim the payer has: no 835 from the crossover payer after its remit_days
        gw = Gateway.from_config(cob.config)
        days = follow_up_days(gw.clinics)(CLINIC, "EXPAYER1").remit_days
        later = follow_up_list(store, gw.clinics, codes_for(gw.loaded), today() + timedelta(days=days + 1))
        assert [(i.claim_id, i.status, i.awaiting) for i in later.overdue] == [(cob.clm01, "crossover", "remit")]
        assert follow_up_list(store, gw.clinics, codes_for(gw.loaded), today()).overdue == []
        counts = dict((tuple(k.items()), n) for k, n in without_response_counts(
            store, gw.clinics, today() + timedelta(days=days + 1)))  # fmt: skip
        assert counts[(("clinic", CLINIC), ("awaiting", "remit"))] == 1
        # and what the crossover payer owes is on the A/R, aged from the day it got the claim
        (ar,) = [r for r in aging(store, today()).rows if r.payer_id == "EXPAYER1"]
        assert ar.claims == 1 and ar.buckets["0-30"] == left
    # the crossover payer's own 835, as the simulator writes it for the claim it would have received
    sec = tmp_path / "crossover-claim.x12"
    sec.write_text(_render_stored(cob.config, body))
    sim2 = simulate_payer([sec], tmp_path / "responses-2")
    (sec_remit,) = [p for p in (tmp_path / "responses-2").iterdir() if ".835." in p.name]
    post(cob, [sec_remit], "answers-2")
    (clp,) = sim2.remits[0].claims
    with cob.store() as store:
        subs = store.submissions("claims", CLINIC, cob.clm01)
        assert [(s.payer_seq, s.status) for s in subs] == [(1, "closed"), (2, "patient_due")]
        assert balance(ledger(store, cob.clm01, 2)) == (Decimal(subs[1].total_charge), clp.paid, ZERO)


def _render_stored(config: Path, body: str) -> str:
    """The stored next-payer claim as an 837 (what the crossover payer got from the primary)."""
    from gateway.documents import MemoryControlNumbers, RenderContext
    from gateway.model import Claim

    gw = Gateway.from_config(config)
    ctx = RenderContext(created=datetime(2026, 12, 1, 9, 0), config=gw.config, control_numbers=MemoryControlNumbers(),
                        settings=gw.format_settings.get("claims-out"), clinics=gw.clinics)  # fmt: skip
    (doc,) = gw.renderer("claims-out").render([Claim.model_validate_json(body)], ctx)
    return doc.content.decode()


def test_delay_days_hold_the_secondary_until_due_and_prior_claim_number_adds_ref_f8(tmp_path: Path) -> None:
    config = cob_deployment(tmp_path, secondary={"delay_days": 3, "prior_claim_number": True})
    cob = bill_primary(tmp_path, config)
    out = post(cob, cob.answers("835"), "answers-1")
    assert secondary_files(out) == []  # waiting: the payer wants 3 days
    gw = Gateway.from_config(config)
    with cob.store() as store:
        (sec,) = [s for s in store.submissions("claims", CLINIC, cob.clm01) if s.payer_seq == 2]
        assert sec.status == "waiting"
        (lane,) = {s.lane for s in store.submissions("claims", CLINIC, cob.clm01) if s.payer_seq == 2}
        two_days = Batcher(gw, store, lane=lane, clock=lambda: datetime.now().astimezone() + timedelta(days=2))
        assert two_days.release_next_payers() == 0
        four_days = Batcher(gw, store, lane=lane, clock=lambda: datetime.now().astimezone() + timedelta(days=4))
        assert four_days.release_next_payers() == 1
        (sec,) = [s for s in store.submissions("claims", CLINIC, cob.clm01) if s.payer_seq == 2]
        assert sec.status == "created"
        (released,) = [e for e in store.events("claims", CLINIC, cob.clm01) if e.kind == "released"]
        assert released.detail == {"delay_days": 3, "wait_for_crossover": False, "claim_numbers": True}
        (cut,) = four_days.tick(force=True)
        assert cut.items == 1
        (item,) = store.batch_items("claims", [sec.row])
    icn = cob.sim.remits[0].claims[0].payer_claim_id
    assert f'"claim_control_number":"{icn}"' in item.body


def test_wait_for_crossover_the_crossover_835_arrives_and_nothing_is_sent(tmp_path: Path) -> None:
    config = cob_deployment(tmp_path, secondary={"wait_for_crossover": True, "delay_days": 14})
    cob = bill_primary(tmp_path, config)
    out = post(cob, cob.answers("835"), "answers-1")  # no crossover marker
    assert secondary_files(out) == []
    with cob.store() as store:
        (sec,) = [s for s in store.submissions("claims", CLINIC, cob.clm01) if s.payer_seq == 2]
        assert sec.status == "waiting"
        body = store.batch_items("claims", [sec.row])[0].body
    # the secondary's 835 comes anyway (the primary crossed it over): it posts on the waiting claim
    sec_file = tmp_path / "would-be-837.x12"
    sec_file.write_text(_render_stored(config, body))
    simulate_payer([sec_file], tmp_path / "responses-2")
    (f,) = [p for p in (tmp_path / "responses-2").iterdir() if ".835." in p.name]
    post(cob, [f], "answers-2")
    gw = Gateway.from_config(config)
    with cob.store() as store:
        (sec,) = [s for s in store.submissions("claims", CLINIC, cob.clm01) if s.payer_seq == 2]
        assert sec.status == "patient_due"  # the last payer left the patient a share
        late = Batcher(gw, store, lane=sec.lane, clock=lambda: datetime.now().astimezone() + timedelta(days=30))
        assert late.release_next_payers() == 0 and late.tick(force=True) == []  # never billed


def test_no_other_coverage_and_pr_gives_no_secondary(tmp_path: Path) -> None:
    from tests.posting_helpers import claims_out

    loop = claims_out(tmp_path, 8)
    for n, kind in enumerate(("999", "277CA", "835")):
        process(loop.config, loop.root / f"answers-{n}", *loop.files(kind))
    with loop.store() as store:
        with_pr = [c for c, o in loop.sim.outcomes.items() if o in ("deductible", "coinsurance", "copay")]
        assert with_pr
        for clm01 in with_pr:
            subs = store.submissions("claims", CLINIC, clm01)
            assert [s.payer_seq for s in subs] == [1]
            assert not [e for e in store.events("claims", CLINIC, clm01) if e.kind in ("secondary_billed", "crossover")]


def test_secondary_on_postgresql(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    cob = bill_primary(tmp_path, cob_deployment(tmp_path), store_url=pg_url)
    out = post(cob, cob.answers("835"), "answers-1")
    (sec_file,) = secondary_files(out)
    assert_valid_x12(sec_file.read_bytes(), "837")
    assert FileValidator().validate(sec_file.read_bytes()).errors == []
    sim2 = simulate_payer([sec_file], tmp_path / "responses-2")
    (f,) = [p for p in (tmp_path / "responses-2").iterdir() if ".835." in p.name]
    post(cob, [f], "answers-2")
    (clp,) = sim2.remits[0].claims
    with cob.store() as store:
        subs = store.submissions("claims", CLINIC, cob.clm01)
        assert [(s.payer_seq, s.status) for s in subs] == [(1, "closed"), (2, "patient_due")]
        sec = [e for e in store.ledger(CLINIC, cob.clm01) if e.payer_seq == 2]
        assert balance(sec) == (Decimal(subs[1].total_charge), clp.paid, ZERO)


def test_gateway_demo_shows_primary_secondary_837_and_secondary_835(tmp_path: Path) -> None:
    import json

    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    sec = json.loads((tmp_path / "summary.json").read_text())["delivery"]["loop"]["secondary"]
    assert "V10009" in sec["claims"] and sec["response_messages_quarantined"] == 0  # the COB fixture's visit
    assert f"secondary: {len(sec['claims'])} claim(s) billed to the next payer" in result.output
    for name in sec["files"]:
        data = (tmp_path / name).read_bytes()
        assert_valid_x12(data, "837")
        assert FileValidator().validate(data).errors == []
        assert "SBR*S*" in data.decode()
    remits = sorted((tmp_path / "responses-secondary").glob("*.835.x12"))
    for f in remits:
        assert_valid_x12(f.read_bytes(), "835")
    paid = sum((c["paid"] for f in remits for c in edi_view(f)), ZERO)
    assert paid == Decimal(sec["paid"]) > 0
    # then the patients: statements from the account ledger, and a lockbox payment closing one of those claims
    pts = json.loads((tmp_path / "summary.json").read_text())["delivery"]["loop"]["patients"]
    paid = pts["payment"]
    assert pts["statements"] == pts["delivered"] > 0 and pts["delivery_failed"] == 0
    assert paid["claim"] in sec["claims"] and paid["closed"] == [paid["claim"]]
    assert paid["status_after"] == "closed" and paid["patient_balance_after"] == "0.00" and Decimal(paid["amount"]) > 0
    assert f"{paid['file']} paid {paid['amount']} on claim {paid['claim']}" in result.output
    with open_store(tmp_path / "deployment" / "state" / "gateway.sqlite") as store:
        for clm01 in sec["claims"]:
            subs = store.submissions("claims", CLINIC, clm01)
            last = "closed" if clm01 == paid["claim"] else "patient_due"
            assert [(s.payer_seq, s.status) for s in subs] == [(1, "closed"), (2, last)], clm01
            for seq in (1, 2):
                charge, _, left = balance(ledger(store, clm01, seq))
                assert left == 0 and charge == Decimal(subs[0].total_charge)
        whole = store.claim_view(CLINIC, paid["claim"])
        assert whole is not None and whole.patient_paid == Decimal(paid["amount"])
        assert whole.charge == whole.insurance_paid + whole.adjustments + whole.patient_paid + whole.patient_balance
    # claims show: one claim across its payer places (the charge once, every payer's payment and adjustments)
    config = tmp_path / "deployment" / "gateway.yaml"
    for clm01 in sec["claims"]:
        shown = CliRunner().invoke(cli, ["claims", "show", clm01, "--json", "--config", str(config)])
        assert shown.exit_code == 0, shown.output
        view = json.loads(shown.output)
        assert view["charge"] == view["submissions"][0]["charge"] and view["whole_claim"]["charge"] == view["charge"]
        assert view["paid"] == view["whole_claim"]["insurance_paid"]
        assert view["patient_responsibility"] == view["whole_claim"]["patient_responsibility"]
        assert view["status"] == ("closed" if clm01 == paid["claim"] else "patient_due") and view["balance"] == "0.00"
        assert {a["payer_seq"] for a in view["adjustments"]} == {1, 2}
        assert sum(Decimal(m["charge"]) for m in view["lines"].values()) == Decimal(view["charge"])
        assert sum(Decimal(m["paid"]) for m in view["lines"].values()) == Decimal(view["paid"])
    # the statement the patient got before paying: both insurers' payments and the right remainder
    texts = ["\n".join(pdf_text(f.read_bytes())[1]) for f in sorted((tmp_path / "statements-out").glob("*.pdf"))]
    # a self-pay visit's statement made when it came in was its account's first: the run sends that account
    # another today only for a balance that statement did not show (a payer's answer posted since)
    accounts = [t.split("Account number:")[1].split()[0] for t in texts]
    twice = {a for a in accounts if accounts.count(a) > 1}
    assert len(set(accounts)) > len(twice)
    with open_store(tmp_path / "deployment" / "state" / "gateway.sqlite") as store:
        for account in twice:
            view = store.account(CLINIC, account) or store.account("lakeside", account)
            assert view is not None and accounts.count(account) == 2
            assert any(i.kind == "claim" and i.patient_responsibility > 0 for i in view.items), account
    (statement,) = [t for t in texts if f"{paid['account']}" in t and "Paid by:" in t]
    assert statement.count("Paid by:") == 1 and ";" in statement.split("Paid by:")[1].split("\n")[0]  # two payers
    assert f"${paid['amount']}" in statement and f"{whole.insurance_paid:.2f}" in statement


def test_tertiary_after_the_secondary_answers(tmp_path: Path) -> None:
    """A third coverage (Medicaid): the secondary's 835 leaves PR, so the tertiary goes out with both answers."""
    raw = COB.read_bytes()
    in1_1 = next(seg for seg in raw.split(b"\r") if seg.startswith(b"IN1|1|"))
    third = in1_1.replace(b"IN1|1|MEDICARE-B|MEDICARE|Medicare", b"IN1|3|MCD|MEDICAID|Medicaid").replace(
        b"1EG4TE5MK74", b"MCD000777"
    )
    assert third != in1_1
    visits = tmp_path / "visits"
    visits.mkdir()
    (visits / "three.hl7").write_bytes(raw.rstrip(b"\r\n") + b"\r" + third + b"\r")
    config = cob_deployment(tmp_path)
    run(config, tmp_path / "out", visits)
    (x12,) = sorted((tmp_path / "out" / "claims-out").glob("*.x12"))
    sim = simulate_payer([x12], tmp_path / "responses")
    (clm01,) = sim.outcomes
    cob = Cob(config, tmp_path, clm01, x12, sim)
    out = post(cob, cob.answers("835"), "answers-1")
    (sec_file,) = secondary_files(out)
    simulate_payer([sec_file], tmp_path / "responses-2")
    (f,) = [p for p in (tmp_path / "responses-2").iterdir() if ".835." in p.name]
    out = post(cob, [f], "answers-2")
    (ter_file,) = secondary_files(out)
    data = ter_file.read_bytes()
    assert_valid_x12(data, "837")
    assert FileValidator().validate(data).errors == []
    text = data.decode()
    assert "SBR*T*" in text and "SBR*P*" in text and "SBR*S*" in text
    assert "SVD*EXMEDB01*" in text and "SVD*EXPAYER1*" in text
    sim3 = simulate_payer([ter_file], tmp_path / "responses-3")
    (f,) = [p for p in (tmp_path / "responses-3").iterdir() if ".835." in p.name]
    (clp,) = sim3.remits[0].claims
    assert clp.status == "3"
    post(cob, [f], "answers-3")
    with cob.store() as store:
        subs = store.submissions("claims", CLINIC, clm01)
        assert [(s.payer_seq, s.status, s.payer_id) for s in subs] == [
            (1, "closed", "EXMEDB01"), (2, "closed", "EXPAYER1"), (3, "patient_due", "EXMCD01")
        ]  # fmt: skip
        left_by_secondary = sum((e.amount for e in ledger(store, clm01, 2) if e.group == "PR"), ZERO)
        ter = ledger(store, clm01, 3)
        (created,) = [e for e in ter if e.kind == "prior_payer" and e.remit_id is None]
        assert created.amount == Decimal(subs[0].total_charge) - left_by_secondary
        for seq in (1, 2, 3):
            assert balance(ledger(store, clm01, seq))[2] == 0


def test_a_reversal_of_the_secondarys_payment_brings_the_earlier_payers_part_back(tmp_path: Path) -> None:
    from gateway_plugins.inbound.x12_responses.simulate import _negated

    cob = bill_primary(tmp_path, cob_deployment(tmp_path))
    out = post(cob, cob.answers("835"), "answers-1")
    (sec_file,) = secondary_files(out)
    sim2 = simulate_payer([sec_file], tmp_path / "responses-2")
    (f,) = [p for p in (tmp_path / "responses-2").iterdir() if ".835." in p.name]
    post(cob, [f], "answers-2")
    (remit,) = sim2.remits
    (clp,) = remit.claims
    with cob.store() as store:
        asked = Decimal(store.submissions("claims", CLINIC, cob.clm01)[1].total_charge) - sum(
            (e.amount for e in ledger(store, cob.clm01, 2) if e.kind == "prior_payer" and e.remit_id is None), ZERO
        )
    # the secondary payer takes its payment back (CLP02 22), then pays again
    reversal = _negated(clp)
    payment = remit.payment.model_copy(update={"amount": abs(reversal.paid), "credit_debit": "D",
                                               "trace_number": "REVERSAL1"})  # fmt: skip
    back = remit.model_copy(update={"claims": [reversal], "payment": payment, "provider_adjustments": []})
    f = write_remit(tmp_path / "reversal.835.x12", [back], 903, payer="EXPAYER1")
    assert_valid_x12(f.read_bytes(), "835")
    post(cob, [f], "answers-3")
    with cob.store() as store:
        sec = ledger(store, cob.clm01, 2)
        assert balance(sec)[2] == asked  # open again for exactly what it was asked to cover
        assert store.submissions("claims", CLINIC, cob.clm01)[1].status == "reversed"
    paid_again = remit.payment.model_copy(update={"trace_number": "AGAIN1", "amount": clp.paid})
    again = remit.model_copy(update={"payment": paid_again,
                                     "claims": [clp.model_copy(update={"payer_claim_id": "ICN-AGAIN"})],
                                     "provider_adjustments": []})  # fmt: skip
    f = write_remit(tmp_path / "again.835.x12", [again], 904, payer="EXPAYER1")
    post(cob, [f], "answers-4")
    with cob.store() as store:
        sec = ledger(store, cob.clm01, 2)
        assert balance(sec) == (Decimal(store.submissions("claims", CLINIC, cob.clm01)[1].total_charge), clp.paid,
                                ZERO)  # fmt: skip
        assert sum(e.amount for e in sec if e.kind == "prior_payer") == 0
