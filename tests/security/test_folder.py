"""Issue 17 item 2: the watched folder takes regular files only.

A symbolic link (to a file outside the folder, or to /dev/zero), a FIFO or
a file with other hard links is moved to error/ with a reason and never
read; no more than ``max_bytes`` are read whatever size a file reports;
intake of the other files goes on."""

from __future__ import annotations

import os
import resource
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import cli
from gateway.sources import InputRefused, read_input
from gateway.store import MessageFilter
from tests.daemon_helpers import FIXTURES, Harness, deployment
from tests.security.daemon import Daemon, proc_status, wait_for

INSURED = (FIXTURES / "encounters" / "riverside-insured.json").read_bytes()
OUTSIDE = (FIXTURES / "encounters" / "riverside-selfpay-long.json").read_bytes()


def folder(tmp_path: Path, **settings) -> tuple[Path, Path]:
    src = {"type": "folder", "path": "inbound", "settle": 0.05, "stable_seconds": 0.3, **settings}
    config = deployment(tmp_path / "d", {"riverside": [src]})
    inbound = tmp_path / "d" / "inbound"
    inbound.mkdir()
    return config, inbound


def reason(inbound: Path, name: str) -> str:
    note = inbound / "error" / f"{name}.reason.txt"
    wait_for(note.exists, what=f"{name} moved to error/")
    return note.read_text()


def test_a_symlink_or_hard_link_to_a_file_outside_is_never_journaled(tmp_path: Path) -> None:
    config, inbound = folder(tmp_path)
    outside = tmp_path / "outside" / "secret.json"
    outside.parent.mkdir()
    outside.write_bytes(OUTSIDE)
    h = Harness(config, poll_max=0.02)
    try:
        (inbound / "visit.json").symlink_to(outside)
        os.link(outside, inbound / "hard.json")
        (inbound / "real.json").write_bytes(INSURED)
        assert "symbolic link" in reason(inbound, "visit.json")
        assert "hard links" in reason(inbound, "hard.json")
        wait_for(lambda: h.store.claim_count() == 1, what="the regular file billed")
        assert os.path.islink(inbound / "error" / "visit.json")  # the link was moved, not its target
        assert outside.read_bytes() == OUTSIDE
        rows = h.store.list_messages(MessageFilter())
        assert [h.store.raw(r.id) for r in rows] == [INSURED]
    finally:
        h.close()
    runner = CliRunner()
    for mid in range(1, 4):  # `messages show --raw` has nothing of the outside file to print
        shown = runner.invoke(cli, ["messages", "show", str(mid), "--config", str(config), "--raw"]).output
        assert OUTSIDE.decode()[:200] not in shown and "Placeholder" not in shown


def test_a_fifo_does_not_stop_intake_and_goes_to_error(tmp_path: Path) -> None:
    config, inbound = folder(tmp_path)
    os.mkfifo(inbound / "present.hl7")  # found by the start-up scan
    h = Harness(config, poll_max=0.02)
    try:
        os.mkfifo(inbound / "pipe.hl7")  # and one announced by inotify
        (inbound / "real.json").write_bytes(INSURED)
        wait_for(lambda: h.store.claim_count() == 1, what="the regular file billed next to a FIFO")
        for name in ("pipe.hl7", "present.hl7"):
            assert "FIFO" in reason(inbound, name)
            assert stat.S_ISFIFO(os.lstat(inbound / "error" / name).st_mode)
        second = INSURED.replace(b"RIV-0001", b"RIV-0002").replace(b"V10001", b"V10002")
        (inbound / "after.json").write_bytes(second)  # and intake goes on after it
        wait_for(lambda: h.store.claim_count() == 2, what="a file after the FIFO billed")
        assert len(h.store.list_messages(MessageFilter())) == 2
    finally:
        for name in ("pipe.hl7", "present.hl7"):  # before the fix a reader blocks in open(): release it
            try:
                os.close(os.open(inbound / name, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        h.close()


def test_a_symlink_to_dev_zero_costs_no_memory_and_no_retry_loop(tmp_path: Path) -> None:
    config, inbound = folder(tmp_path)

    def cap_memory() -> None:  # before the fix the daemon reads /dev/zero until memory runs out
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    with Daemon(config, tmp_path, preexec=cap_memory) as d:
        before = proc_status(d.pid, "VmRSS")
        (inbound / "zero.hl7").symlink_to("/dev/zero")
        (inbound / "real.json").write_bytes(INSURED)
        assert "symbolic link" in reason(inbound, "zero.hl7")
        wait_for(lambda: (inbound / "processed" / "real.json").exists(), what="the regular file taken")
        peak = proc_status(d.pid, "VmHWM")
        assert peak - before < 64_000, f"RSS grew by {peak - before} kB"
        refused = [e for e in d.events() if e["event"] in ("folder.refused", "folder.take_failed")]
        assert [(e["event"], e.get("kind")) for e in refused] == [("folder.refused", "not-regular")]
        assert d.proc.poll() is None


def test_read_input_never_reads_more_than_max_bytes_whatever_the_size_says(tmp_path: Path) -> None:
    maps = Path(f"/proc/{os.getpid()}/maps")  # a regular file that reports size 0
    assert stat.S_ISREG(os.lstat(maps).st_mode) and os.lstat(maps).st_size == 0
    with pytest.raises(InputRefused, match="more than 100 bytes read") as exc:
        read_input(maps, 100)
    assert exc.value.kind == "too-large"
    with pytest.raises(InputRefused, match="character device"):
        read_input(Path("/dev/zero"), 100, follow_symlinks=True)  # an operator's path may be a link, not a device
    small = tmp_path / "a.hl7"
    small.write_bytes(b"MSH|x")
    assert read_input(small, 5) == b"MSH|x"
    with pytest.raises(InputRefused, match=r"\(6 > 5\)"):
        small.write_bytes(b"MSH|xy")
        read_input(small, 5)
    link = tmp_path / "l.hl7"
    link.symlink_to(small)
    assert read_input(link, 10, follow_symlinks=True) == b"MSH|xy"
    with pytest.raises(InputRefused, match="symbolic link"):
        read_input(link, 10)
