"""Statement runs end to end (gateway/statement_runs.py, `gateway statements
run`): claims billed and answered with a patient share through the real
store, the guarantor accounts read through AccountStore, statements and the
final notice rendered as PDFs (read back with pypdf), the collections CSV,
everything delivered by the outbox to real folder destinations."""

from __future__ import annotations

import csv
import io
import json
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from gateway_plugins.renderers.statements.collections import COLUMNS

from gateway.app import Gateway
from gateway.cli import cli
from gateway.delivery.dispatcher import Dispatcher
from gateway.examples import write_example_deployment
from gateway.statement_runs import run_clinic
from gateway.store import open_store
from gateway.store.accounts import PatientPayment
from tests.accounts_helpers import CLINIC, Books, ledger_total
from tests.pg import store_url  # noqa: F401  (fixture)
from tests.statements_pdfcheck import pdf_text

D = Decimal
TODAY = datetime.now(UTC).date()
CYCLE = """        cycle:
          every_days: 30
          small_balance: "5.00"
          final_notice_after: 90
          collections_after: 30
          collections_to: agency-out
          dunning:
            - {min_days: 30, message: "Reminder: {amount_due} is past due."}
            - {min_days: 60, message: "Second reminder: please pay {amount_due} now."}
"""
AGENCY = """  agency-out:
    transport: folder
    format: collections-csv
    path: outbox/agency
"""
ENCOUNTER = {
    "id": "V1",
    "patient": {"id": "P1", "name": {"family": "Rivera", "given": "Ana"},
                "address": {"lines": ["12 Elm Street"], "city": "Springfield", "state": "IL",
                            "postal_code": "627010042"}},
    "guarantor": {"name": {"family": "Rivera", "given": "Luis"}, "relationship": "01", "phone": "5555550177",
                  "address": {"lines": ["12 Elm Street"], "city": "Springfield", "state": "IL",
                              "postal_code": "627010042"}},
}  # fmt: skip


def deployment(root: Path) -> Path:
    config = write_example_deployment(root / "deployment")
    text = config.read_text()
    anchor = "        wording_file: statements/riverside-wording.yaml\n"
    assert anchor in text and "destinations:\n" in text
    config.write_text(text.replace(anchor, anchor + CYCLE).replace("destinations:\n", "destinations:\n" + AGENCY))
    return config


def books(store) -> Books:
    """ACC1: a claim answered with deductible + coinsurance (40.00 due);
    ACC2: a claim leaving 3.00 coinsurance (a small balance)."""
    b = Books(store)
    b.bill("V1", [D("200.00")], account="ACC1", encounter=json.dumps(ENCOUNTER))
    b.remit("V1", D("150.00"), [("CO", "45", D("10.00")), ("PR", "1", D("25.00")), ("PR", "2", D("15.00"))])
    b.bill("V2", [D("100.00")], account="ACC2", encounter=json.dumps({**ENCOUNTER, "id": "V2"}))
    b.remit("V2", D("97.00"), [("PR", "2", D("3.00"))])
    return b


def outcome(run, account: str):
    (a,) = [a for a in run.accounts if a.account == account]
    return a


def test_a_cycle_from_first_statement_to_collections(tmp_path: Path) -> None:
    config = deployment(tmp_path)
    gw = Gateway.from_config(config)
    store = open_store(gw.loaded.state_dir / "gateway.sqlite")
    books(store)
    before = ledger_total(store)
    deliver = Dispatcher(gw, store)
    statements_dir = config.parent / "outbox" / "statements"

    def run(day: date):
        r = run_clinic(gw, store, CLINIC, day, "test")
        deliver.run_once()
        return r

    def pdf_of(r) -> str:
        (doc,) = [a.document for a in r.accounts if a.account == "ACC1"]
        return "\n".join(pdf_text((statements_dir / doc).read_bytes())[1])

    # day 0: the first statement; the small balance is written off, not mailed
    first = run(TODAY)
    assert (outcome(first, "ACC1").action, outcome(first, "ACC1").reason) == ("statement", "first statement")
    assert outcome(first, "ACC2").action == "write_off" and outcome(first, "ACC2").total_due == D("3.00")
    assert ledger_total(store) == before - D("3.00")  # the write-off row, nothing else
    text = pdf_of(first)
    assert "Luis Rivera" in text and "Ana Rivera" in text  # the guarantor is addressed, the patient named
    assert "Paid by: PAYER1 150.00" in text and "Your share: deductible 25.00; coinsurance 15.00" in text
    assert "200.00 150.00 10.00 0.00 40.00" in text and "Total due $40.00" in text
    assert "Aging counts from the date you were first billed" in text
    assert store.account(CLINIC, "ACC1").items[0].first_billed == TODAY

    # the same day again: nothing new
    again = run(TODAY)
    assert outcome(again, "ACC1").action == "none" and again.documents == []
    assert len(list(statements_dir.iterdir())) == 1

    # a payment: a new statement at the next run
    store.post_payments([PatientPayment(2, CLINIC, "ACC1", TODAY, D("10.00"), "check", "CHK-1")], "test")
    paid = run(TODAY + timedelta(days=1))
    assert (outcome(paid, "ACC1").action, outcome(paid, "ACC1").reason) == ("statement", "balance changed")
    assert "200.00 150.00 10.00 10.00 30.00" in pdf_of(paid) and "Total due $30.00" in pdf_of(paid)
    assert run(TODAY + timedelta(days=10)).accounts[0].action == "none"  # unchanged, cycle not due

    # dunning escalates with the age since first billed (day 0), every cycle
    levels = []
    for day in (31, 61):
        r = run(TODAY + timedelta(days=day))
        levels.append((outcome(r, "ACC1").reason, outcome(r, "ACC1").dunning_level))
        assert ("Reminder: $30.00 is past due." if day == 31 else "Second reminder: please pay $30.00 now.") in pdf_of(
            r
        )
    assert levels == [("cycle due", 1), ("cycle due", 2)]

    # day 91: the final notice
    final = run(TODAY + timedelta(days=91))
    assert outcome(final, "ACC1").action == "final_notice"
    text = pdf_of(final)
    assert "FINAL NOTICE" in text and "collection agency" in text and "Total due $30.00" in text
    assert "61-90 days $0.00 Over 90 days $30.00" in text.replace("\n", " ")  # aged from first billed

    # 30 days after the final notice: collections, exported to the agency's folder
    gone = run(TODAY + timedelta(days=121))
    assert outcome(gone, "ACC1").action == "collections"
    (export,) = (config.parent / "outbox" / "agency").iterdir()
    rows = list(csv.reader(io.StringIO(export.read_text())))
    assert tuple(rows[0]) == COLUMNS
    row = dict(zip(COLUMNS, rows[1], strict=True))
    assert (row["account"], row["amount_due"], row["first_billed"], row["final_notice_date"]) == (
        "ACC1", "30.00", TODAY.isoformat(), (TODAY + timedelta(days=91)).isoformat())  # fmt: skip
    assert (row["responsible_party"], row["postal_code"], row["phone"]) == ("Luis Rivera", "627010042", "5555550177")
    assert "Ana" not in export.read_text()  # the patient is not the agency's business
    assert run(TODAY + timedelta(days=200)).accounts[0].reason == "sent to collections"
    assert len(list(statements_dir.iterdir())) == 5  # days 0, 1, 31, 61 and the final notice on day 91
    store.close()


def test_statements_run_command_twice_on_one_day(store_url: str, tmp_path: Path) -> None:  # noqa: F811
    config = deployment(tmp_path)
    store = open_store(store_url, config.parent)
    books(store)
    store.close()
    args = ["statements", "run", "--config", str(config), "--store", store_url, "--as-of", TODAY.isoformat()]
    first = CliRunner().invoke(cli, [*args, "--json"])
    assert first.exit_code == 0, first.output
    runs = {r["clinic"]: r for r in json.loads(first.output)["runs"]}
    assert runs["lakeside"]["accounts"] == [] and runs["lakeside"]["documents"] == []  # every clinic ran
    run = runs["riverside"]
    assert run["counts"] == {"statement": 1, "write_off": 1} and len(run["documents"]) == 1
    assert {a["account"]: a["total_due"] for a in run["accounts"]} == {"ACC1": "40.00", "ACC2": "3.00"}
    second = CliRunner().invoke(cli, args)
    assert second.exit_code == 0, second.output
    assert (
        "riverside" in second.output
        and "0 document(s)" in second.output
        and "already run for this date" in second.output
    )
    assert "Rivera" not in first.output + second.output  # ids and amounts only
    with open_store(store_url, config.parent) as store:
        assert [r.notice for r in store.cycle_history(CLINIC)] == ["statement"]
        assert len(store.outbox_list(destination="statements-out")) == 1


def test_a_bad_collections_destination_names_the_key(tmp_path: Path) -> None:
    config = deployment(tmp_path)
    config.write_text(config.read_text().replace("collections_to: agency-out", "collections_to: nowhere"))
    result = CliRunner().invoke(cli, ["statements", "run", "--config", str(config), "--clinic", "riverside"])
    assert result.exit_code == 2
    assert "settings.statements.cycle.collections_to 'nowhere' is not a configured destination" in result.output


@pytest.mark.parametrize("clinic", ["nosuch"])
def test_an_unknown_clinic_is_refused(tmp_path: Path, clinic: str) -> None:
    config = deployment(tmp_path)
    result = CliRunner().invoke(cli, ["statements", "run", "--config", str(config), "--clinic", clinic])
    assert result.exit_code == 2 and f"clinic {clinic} is not configured" in result.output


def _daemon(config: Path, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from gateway.cli import main; main()", "run", "--config", str(config),
           "--workers", "0", "--statements-every", "0.3"]  # fmt: skip
    return subprocess.Popen(cmd, stderr=log.open("ab"), stdout=subprocess.DEVNULL)


def _events(log: Path, name: str) -> list[dict]:
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    return [e for e in lines if e.get("event") == name]


def _wait(check, timeout: float = 40.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_gateway_run_makes_the_daily_run_once_and_takes_over_a_crashed_one(tmp_path: Path) -> None:
    config = deployment(tmp_path)
    gw = Gateway.from_config(config)
    db = gw.loaded.state_dir / "gateway.sqlite"
    with open_store(db) as store:
        books(store)
        # a run of today held by a process that died mid-run (kill -9): taken over at once, not after an hour
        assert store.begin_statement_run(CLINIC, TODAY, f"{socket.gethostname()}:999999999:statements", 3600)
    statements_dir = config.parent / "outbox" / "statements"
    log = tmp_path / "daemon.log"
    proc = _daemon(config, log)
    try:
        _wait(lambda: statements_dir.exists() and len(list(statements_dir.iterdir())) == 1)
        _wait(lambda: len(_events(log, "statements.run")) == 2)  # riverside and lakeside, once each
        time.sleep(1.5)  # several more looks: the runs are done, nothing is run again
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0
    runs = _events(log, "statements.run")
    assert sorted(e["clinic"] for e in runs) == ["lakeside", "riverside"] and not _events(log, "statements.run_failed")
    (pdf,) = statements_dir.iterdir()
    assert "Total due $40.00" in "\n".join(pdf_text(pdf.read_bytes())[1])

    # a restart the same day: the store says the run is done, nothing is redone
    proc = _daemon(config, log)
    try:
        time.sleep(3)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert len(_events(log, "statements.run")) == 2 and len(list(statements_dir.iterdir())) == 1
    with open_store(db) as store:
        done = {r.clinic_id: r for r in store.statement_runs()}
        assert done[CLINIC].status == "done" and done[CLINIC].summary == {"statement": 1, "write_off": 1}
        assert [r.notice for r in store.cycle_history(CLINIC)] == ["statement"]
