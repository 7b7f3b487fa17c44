"""`gateway process` on the deployment's store (issue 17 items 3 and 8): re-runs
bill nothing twice, corrections are held with a finding (never a traceback),
a held claim resolved with --replace --icn goes out as frequency 7 with
REF*F8, everything lands under --out with unique report names, one-shot
documents stay out of a daemon's way, and a killed run leaves no partial
files and is completed by the next run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from gateway_plugins.renderers.statements.pdf import statement_name
from gateway_plugins.renderers.x12.reader import read_837

from gateway.app import Gateway
from gateway.cli import EXIT_FAILED, EXIT_QUARANTINED, cli
from gateway.delivery.batcher import Batcher
from gateway.delivery.dispatcher import Dispatcher
from gateway.examples import FIXTURES, write_example_deployment
from gateway.oneshot import OneShot, Run, expand_inputs
from gateway.store import FILE_NAME, IN_PROGRESS, open_store
from tests.conftest import TODAY
from tests.delivery_helpers import Line, deployment, hl7_visit
from tests.pg import pg_url  # noqa: F401  (fixture)
from tests.test_duplicates import SELF_PAY, changed
from tests.x12check import assert_valid_837


def process(config: Path, out: Path, *inputs: Path | str, code: int = 0, extra: tuple[str, ...] = ()) -> str:
    args = ["process", "--config", str(config), "--out", str(out), "--today", TODAY.isoformat(), *extra]
    result = CliRunner().invoke(cli, [*args, *map(str, inputs)])
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.output


def x12_files(out: Path) -> dict[str, bytes]:
    folder = out / "claims-out"
    return {f.name: f.read_bytes() for f in sorted(folder.glob("*.x12"))} if folder.exists() else {}


def claim_ids(files: dict[str, bytes]) -> Counter[str]:
    return Counter(c.claim_id for data in files.values() for c in read_837(data).claims)


def everything_under(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_example_deployment(tmp_path / "deploy")


def test_the_same_folder_processed_three_times_gives_one_837_per_claim_and_nothing_else(
    config: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(3):
        (inputs / f"visit-{i}.hl7").write_bytes(hl7_visit(i))
    (inputs / "selfpay.hl7").write_bytes(SELF_PAY)
    (inputs / "bad.hl7").write_bytes((FIXTURES / "hl7v2" / "invalid" / "no_pid.hl7").read_bytes())
    out = tmp_path / "out"
    first = process(config, out, inputs)
    assert "documents written                        2" in first  # one 837, one statement PDF
    after_first = everything_under(out)
    for _ in range(2):
        again = process(config, out, inputs)
        assert (
            "already processed, skipped               4" in again
            and "documents written                        0" in again
        )
        assert "quarantined before, processed again      1" in again  # the bad one is tried again, and fails again
    assert everything_under(out) == after_first
    files = x12_files(out)
    assert claim_ids(files) == Counter({"BH0000000": 1, "BH0000001": 1, "BH0000002": 1})
    for data in files.values():
        assert_valid_837(data)
    # into another folder: still nothing billed twice (the store remembers, not the folder)
    process(config, tmp_path / "elsewhere", inputs)
    assert x12_files(tmp_path / "elsewhere") == {}


def test_a_changed_self_pay_file_gives_a_held_statement_finding_not_a_traceback(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "selfpay.hl7").write_bytes(SELF_PAY)
    process(config, out, tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "selfpay.hl7").write_bytes(changed(SELF_PAY, b"|125.00|", b"|140.00|", b"C2"))
    text = process(config, out, tmp_path / "b", code=EXIT_QUARANTINED, extra=("--strict",))
    assert "statements held for an operator          1" in text and "GW-DUPLICATE-STATEMENT" in text
    report = json.loads((out / "quarantine" / "b" / "selfpay.hl7.findings.json").read_text())
    (finding,) = report["encounters"][0]["findings"]
    assert finding["rule"] == "GW-DUPLICATE-STATEMENT" and "gateway statements resolve SLV20017" in finding["message"]
    assert len(list((out / "statements-out").iterdir())) == 1


def test_an_insured_dft_resent_with_a_changed_charge_is_held_then_replaced_with_frequency_7(
    config: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "visit.hl7").write_bytes(hl7_visit(7))
    process(config, out, tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "visit.hl7").write_bytes(changed(hl7_visit(7), b"|110.00|", b"|250.00|", b"C1"))
    text = process(config, out, tmp_path / "b")
    assert "claims held for an operator              1" in text and "GW-DUPLICATE-CLAIM" in text
    assert len(x12_files(out)) == 1
    runner = CliRunner()
    resolve = ["claims", "resolve", "BH0000007", "--clinic", "riverside", "--config", str(config)]
    assert runner.invoke(cli, [*resolve, "--replace", "--icn", "2026ICN77"]).exit_code == 0
    published = process(config, out)  # no inputs: publish what waits for this folder
    assert "documents written                        1" in published
    (new,) = [data for name, data in x12_files(out).items() if b"REF*F8" in data]
    assert_valid_837(new)
    (claim,) = read_837(new).claims
    assert (claim.claim_id, claim.frequency_code, claim.original_reference) == ("BH0000007", "7", "2026ICN77")


def test_everything_goes_under_out_relative_to_the_current_folder_with_unique_report_names(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = (FIXTURES / "hl7v2" / "invalid" / "no_pid.hl7").read_bytes()
    for sub, extra in (("x", b""), ("y", b"\r")):
        (tmp_path / "in" / sub).mkdir(parents=True)
        (tmp_path / "in" / sub / "bad.hl7").write_bytes(bad + extra)
    (tmp_path / "in" / "x" / "visit.hl7").write_bytes(hl7_visit(1))
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    text = process(config, Path("rel-out"), tmp_path / "in" / "x", tmp_path / "in" / "y")
    assert "messages quarantined                     2" in text and "(2 files)" in text
    assert everything_under(work / "rel-out") == [
        "claims-out/" + next(iter(x12_files(work / "rel-out"))),
        "quarantine/x/bad.hl7.findings.json",
        "quarantine/y/bad.hl7.findings.json",
    ]
    assert not (config.parent / "rel-out").exists()  # not under the configuration's folder
    names = {json.loads((work / "rel-out" / "quarantine" / s / "bad.hl7.findings.json").read_text())["input"]
             for s in "xy"}  # fmt: skip
    assert names == {"x/bad.hl7", "y/bad.hl7"}


def test_warnings_are_counted_by_rule_and_listed_on_request(config: Path, tmp_path: Path) -> None:
    f = FIXTURES / "hl7v2" / "dft_p03_v25_units_cob.hl7"
    quiet = process(config, tmp_path / "out", f)
    assert "warnings, by rule:\n  HL7-AMOUNT                       1" in quiet and f"{f.name}: HL7-AMOUNT" not in quiet
    other = write_example_deployment(tmp_path / "other")
    shown = process(other, tmp_path / "out2", f, extra=("--show-warnings",))
    assert f"{f.name}: HL7-AMOUNT FT1[" in shown


def test_one_store_for_process_and_run_a_claim_sent_by_one_is_known_to_the_other(tmp_path: Path) -> None:
    config = deployment(tmp_path / "dep")
    line = Line(config)  # the daemon's components on the deployment's store
    line.ingest([hl7_visit(1)])
    line.cut()
    line.deliver_until_idle()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "resent.hl7").write_bytes(changed(hl7_visit(1), b"X", b"X", b"R"))  # other bytes, same claim
    (tmp_path / "in" / "new.hl7").write_bytes(hl7_visit(2))
    text = process(config, tmp_path / "out", tmp_path / "in")
    assert "duplicate claims, not billed again       1" in text
    assert claim_ids(x12_files(tmp_path / "out")) == Counter({"BH0000002": 1})
    line.ingest([changed(hl7_visit(2), b"X", b"X", b"R2")])  # and the daemon knows what process sent
    assert line.batcher.tick(force=True) == []
    counts: Counter[str] = Counter()
    for _, status, n in line.store.counts():
        counts[status] += n
    assert not set(counts) & IN_PROGRESS and counts["duplicate"] == 2
    line.close()


def test_a_run_that_dies_before_publishing_leaves_out_empty_and_its_documents_wait_for_its_next_run(
    tmp_path: Path,
) -> None:
    config = deployment(tmp_path / "dep")
    gw = Gateway.from_config(config)
    out = tmp_path / "out"
    store = open_store(gw.loaded.state_dir / FILE_NAME)
    run = OneShot(gw, store, out, today=TODAY)
    (tmp_path / "in").mkdir()
    for i in range(4):
        (tmp_path / "in" / f"{i}.hl7").write_bytes(hl7_visit(i))
    run._journal(expand_inputs([tmp_path / "in"]))
    run._process()
    Batcher(gw, store, lane=run.lane, publish=run.destination).tick(force=True)  # in the outbox, not yet written
    assert not out.exists()
    # a daemon running on the same store neither batches nor delivers the run's work
    daemon = Dispatcher(gw, store)
    assert daemon.run_once().handled == 0
    assert Batcher(gw, store).waiting("claims") == {}
    (row,) = store.outbox_list()
    assert row.destination == f"folder:{out.resolve() / 'claims-out'}" and row.status == "pending"
    store.close()
    text = process(config, out)
    assert "documents written                        1" in text
    assert claim_ids(x12_files(out)) == Counter({f"BH000000{i}": 1 for i in range(4)})


def test_kill_9_mid_run_leaves_no_partial_file_and_the_next_run_bills_each_claim_once(tmp_path: Path) -> None:
    config = deployment(tmp_path / "dep", delivery={"batch_max_items": 20})
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(300):
        (inputs / f"{i:03d}.hl7").write_bytes(hl7_visit(i))
    out = tmp_path / "out"
    args = [sys.executable, "-m", "gateway.cli", "process", "--config", str(config), "--out", str(out), str(inputs)]
    for delay in (2.5, 4.0, 6.0):  # the machine is shared: try to catch the run while it writes
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and proc.poll() is None and not x12_files(out):
            time.sleep(0.01)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for name, data in x12_files(out).items():  # whatever is there is whole
            assert data.rstrip().endswith(b"~") and b"IEA*1*" in data, name
        if x12_files(out) and len(claim_ids(x12_files(out))) < 300:
            break
    process(config, out, inputs)
    ids = claim_ids(x12_files(out))
    assert len(ids) == 300 and set(ids.values()) == {1}
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporary file left behind
    with open_store(Gateway.from_config(config).loaded.state_dir / FILE_NAME) as store:
        assert not {s for _, s, _ in store.counts()} & IN_PROGRESS


def test_a_foreign_file_under_a_documents_name_is_refused_clearly_and_kept(config: Path, tmp_path: Path) -> None:
    gw = Gateway.from_config(config)
    run = Run(gateway=gw, today=TODAY)
    run.process_bytes(SELF_PAY, "selfpay.hl7")
    (st,) = run.statements["lakeside"]
    folder = tmp_path / "out" / "statements-out"
    folder.mkdir(parents=True)
    (folder / statement_name(st)).write_bytes(b"someone else's file")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "selfpay.hl7").write_bytes(SELF_PAY)
    text = process(config, tmp_path / "out", tmp_path / "in", code=EXIT_FAILED)
    assert "not written" in text and "already exists with different content" in text
    assert (folder / statement_name(st)).read_bytes() == b"someone else's file"


def test_process_on_a_postgresql_store_shares_it_like_gateway_run(config: Path, tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "visit.hl7").write_bytes(hl7_visit(5))
    out = tmp_path / "out"
    assert "documents written                        1" in process(
        config, out, tmp_path / "in", extra=("--store", pg_url)
    )
    again = process(config, tmp_path / "out2", tmp_path / "in", extra=("--store", pg_url))
    assert "already processed, skipped               1" in again
    with open_store(pg_url) as store:
        assert [s.status for s in store.submissions("claims", "riverside", "BH0000005")] == ["delivered"]
    assert not (Gateway.from_config(config).loaded.state_dir / FILE_NAME).exists()  # the SQLite default was not used


def test_a_run_larger_than_one_publishing_slice_writes_every_claim_once(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streaming (issue 18): with the batcher's slice, the dispatcher's window
    and the reports' chunk smaller than the run, every claim still goes out
    in an 837 exactly once and the summary counts every input."""
    import gateway.oneshot as oneshot

    monkeypatch.setattr(oneshot, "WAITING_SCAN", 2)
    monkeypatch.setattr(oneshot, "PUBLISH_BATCH", 1)
    monkeypatch.setattr(oneshot, "REPORT_CHUNK", 2)
    monkeypatch.setattr(oneshot, "CLAIM_BYTES", 1)  # one input per claim of the worker
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(5):
        (inputs / f"visit-{i}.hl7").write_bytes(hl7_visit(i))
    out = tmp_path / "out"
    summary = process(config, out, inputs)
    assert (
        "inputs read                              5" in summary
        and "claims                                   5" in summary
    )
    files = x12_files(out)
    assert len(files) == 3  # slices of 2, 2 and 1 claims
    assert claim_ids(files) == Counter({f"BH000000{i}": 1 for i in range(5)})
    for data in files.values():
        assert_valid_837(data)


def test_the_summary_reads_reports_of_large_files_a_few_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file of many messages is one stored message with many encounters:
    the summary reads as many messages' reports at once as its encounter
    budget holds of the largest so far (here one file at a time), and counts
    the same as when it reads them all at once."""
    import gateway.oneshot as oneshot
    from gateway.store.sqlstore import SQLStore

    inputs = tmp_path / "in"
    inputs.mkdir()
    for f in range(3):
        (inputs / f"batch-{f}.hl7").write_bytes(b"".join(hl7_visit(f * 10 + k) for k in range(5)))
    (inputs / "one.hl7").write_bytes(hl7_visit(99))
    outputs = []
    reports = SQLStore.reports
    for budget in (100_000, 4):
        monkeypatch.setattr(oneshot, "REPORT_ENCOUNTERS", budget)
        read: list[int] = []
        monkeypatch.setattr(SQLStore, "reports", lambda s, ids, read=read: read.append(len(ids)) or reports(s, ids))
        config = write_example_deployment(tmp_path / f"deploy-{budget}")
        outputs.append(process(config, tmp_path / f"out-{budget}", inputs).split("written under")[0])
        assert sum(read) == 4
        assert max(read) == (1 if budget == 4 else 3)  # the first message alone, then as many as the budget holds
    assert "encounters                              16" in outputs[0] and outputs[1] == outputs[0]
