"""The folder source: only complete files are taken, a file dropped twice is
billed once, temp names are ignored, bad files go to error/ with a reason."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from gateway_plugins.sources.folder import FolderSource

from gateway.store import MessageFilter
from tests.daemon_helpers import FIXTURES, Harness, deployment

INSURED = (FIXTURES / "encounters" / "riverside-insured.json").read_bytes()


def wait_for(cond, timeout: float = 10.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def setup(tmp_path: Path, **settings) -> tuple[Harness, Path]:
    src = {"type": "folder", "path": "inbound", "settle": 0.1, "stable_seconds": 5.0, **settings}
    h = Harness(deployment(tmp_path / "d", {"riverside": [src]}), poll_max=0.02)
    return h, h.source(FolderSource).inbound


@pytest.fixture
def harness(tmp_path: Path):
    h, inbound = setup(tmp_path)
    yield h, inbound
    h.close()


def messages(h: Harness) -> list:
    return h.store.list_messages(MessageFilter())


def test_a_partially_written_file_is_not_taken_early(harness) -> None:
    h, inbound = harness
    half = len(INSURED) // 2
    with open(inbound / "visit.json", "wb") as fh:
        fh.write(INSURED[:half])
        fh.flush()
        os.fsync(fh.fileno())
        time.sleep(1.2)  # far longer than `settle`: still open, so not complete
        assert (inbound / "visit.json").exists() and messages(h) == []
        fh.write(INSURED[half:])
    wait_for(lambda: not (inbound / "visit.json").exists())
    (row,) = messages(h)
    assert h.store.raw(row.id) == INSURED
    assert (inbound / "processed" / "visit.json").read_bytes() == INSURED
    wait_for(lambda: h.store.claim_count() == 1)


def test_a_file_dropped_twice_is_billed_once(harness) -> None:
    h, inbound = harness
    (inbound / "a.json").write_bytes(INSURED)
    wait_for(lambda: h.store.claim_count() == 1)
    (inbound / "a.json").write_bytes(INSURED)  # the same file again, same name
    (inbound / "b.json").write_bytes(INSURED)  # and under another name
    wait_for(lambda: not (inbound / "a.json").exists() and not (inbound / "b.json").exists())
    time.sleep(0.3)
    assert h.store.claim_count() == 1
    (row,) = messages(h)
    assert [a.action for a in h.store.audit_trail(row.id)].count("resent") == 2
    assert len(list((inbound / "processed").iterdir())) == 3  # all kept, none overwritten


def test_temporary_names_are_ignored_and_a_rename_is_taken_at_once(harness) -> None:
    h, inbound = harness
    for name in (".hidden.json", "upload.json.part", "upload.tmp", "~lock.json"):
        (inbound / name).write_bytes(INSURED)
    time.sleep(0.5)
    assert messages(h) == []
    os.rename(inbound / "upload.tmp", inbound / "upload.json")
    wait_for(lambda: len(messages(h)) == 1, timeout=3)
    assert (inbound / "upload.json.part").exists()


def test_a_bad_file_goes_to_error_with_a_reason_and_no_content(harness) -> None:
    h, inbound = harness
    canary = b"Zanzibarquux Canarypatient 1970-01-01"
    (inbound / "junk.txt").write_bytes(canary)
    (inbound / "empty.json").write_bytes(b"")
    wait_for(lambda: (inbound / "error" / "junk.txt.reason.txt").exists())
    wait_for(lambda: (inbound / "error" / "empty.json.reason.txt").exists())
    reason = (inbound / "error" / "junk.txt.reason.txt").read_text()
    assert "not in a format" in reason and b"Zanzibarquux" not in reason.encode()
    assert "empty" in (inbound / "error" / "empty.json.reason.txt").read_text()
    (row,) = messages(h)  # the unrecognised file is kept, quarantined; the empty one has nothing to keep
    assert row.status == "quarantined" and row.findings[0]["rule"] == "GW-FORMAT"


def test_files_present_at_start_are_taken_and_delete_mode(tmp_path: Path) -> None:
    inbound = tmp_path / "d" / "inbound"
    inbound.mkdir(parents=True)
    (inbound / "early.json").write_bytes(INSURED)
    old = time.time() - 60
    os.utime(inbound / "early.json", (old, old))
    h, _ = setup(tmp_path, after="delete", stable_seconds=0.3)
    try:
        wait_for(lambda: not (inbound / "early.json").exists())
        assert len(messages(h)) == 1 and not any((inbound / "processed").iterdir())
        wait_for(lambda: h.store.claim_count() == 1)
    finally:
        h.close()
