"""Crash test: ``kill -9`` the whole daemon (sources, journal, worker process)
at random moments while it takes 1,100 messages from a folder and over MLLP,
restart it, repeat; then let it finish.

Every message that was acknowledged over MLLP or moved out of the inbound
folder must be in the store and end processed or quarantined; no message is
stored twice and no encounter becomes two claims.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from gateway.store import NEEDS_PERSON, PROCESSED, SQLiteStore
from tests.conftest import free_port
from tests.daemon_helpers import FIXTURES, deployment

N_FILES, N_MLLP, KILLS = 700, 400, 4
INSURED = json.loads((FIXTURES / "encounters" / "riverside-insured.json").read_text())
DFT = (FIXTURES / "hl7v2" / "dft_p03_v251_vendor_repeats.hl7").read_bytes()
START, END = b"\x0b", b"\x1c\x0d"


def json_message(n: int) -> bytes:
    doc = json.loads(json.dumps(INSURED))
    doc["message_id"] = f"CRJ-{n}"
    doc["encounters"][0]["id"] = f"CRJ{n:05d}"
    return json.dumps(doc).encode()


def hl7_message(n: int) -> bytes:
    return DFT.replace(b"RV-DFT-0010", f"CRH-{n}".encode()).replace(b"V10010", f"CRH{n:05d}".encode())


def drop_files(inbound: Path, rng: random.Random) -> None:
    for n in range(N_FILES):
        data = json_message(n)
        if n % 2:  # written in place
            (inbound / f"m{n:05d}.json").write_bytes(data)
        else:  # written under a temporary name, then renamed
            tmp = inbound / f".m{n:05d}.json.tmp"
            tmp.write_bytes(data)
            os.rename(tmp, inbound / f"m{n:05d}.json")
        if n % 50 == 0:
            time.sleep(rng.uniform(0.0, 0.2))


def send_mllp(port: int, acked: dict[int, bytes]) -> None:
    """A sender that resends until it gets an ACK, like a real interface engine."""
    sock: socket.socket | None = None
    for n in range(N_MLLP):
        frame = START + hl7_message(n) + END
        while n not in acked:
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.sendall(frame)
                reply = b""
                while not reply.endswith(END):
                    chunk = sock.recv(4096)
                    if not chunk:
                        raise ConnectionError("closed")
                    reply += chunk
                acked[n] = reply
            except OSError:
                if sock is not None:
                    sock.close()
                sock = None
                time.sleep(0.05)
    if sock is not None:
        sock.close()


def wait_listening(port: int, timeout: float = 20) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the daemon did not start listening")


def start(config: Path, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from gateway.cli import main; main()", "run", "--config", str(config),
           "--workers", "1", "--lease", "2", "--batch", "32", "--log-level", "warning"]  # fmt: skip
    return subprocess.Popen(cmd, stderr=log.open("ab"), stdout=subprocess.DEVNULL, start_new_session=True)


def test_kill_9_at_random_moments_loses_nothing_and_bills_nothing_twice(tmp_path: Path) -> None:
    rng = random.Random(8)
    port = free_port()
    folder = {"type": "folder", "path": "inbound", "settle": 0.05, "stable_seconds": 0.2, "rescan_seconds": 1}
    config = deployment(tmp_path / "d", {"riverside": [folder, {"type": "mllp", "port": port}]})
    inbound = tmp_path / "d" / "inbound"
    inbound.mkdir()
    log = tmp_path / "daemon.log"
    acked: dict[int, bytes] = {}
    feeders = [
        threading.Thread(target=drop_files, args=(inbound, rng), daemon=True),
        threading.Thread(target=send_mllp, args=(port, acked), daemon=True),
    ]
    proc = start(config, log)
    for t in feeders:
        t.start()
    for _ in range(KILLS):
        time.sleep(rng.uniform(1.5, 3.5))  # start-up takes about a second: kill while it works
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc = start(config, log)
    wait_listening(port)  # the last daemon is up (a SIGTERM before its handlers exist would just kill it)
    db = tmp_path / "d" / "state" / "gateway.sqlite"
    deadline = time.time() + 45
    store = None
    try:
        while time.time() < deadline:
            time.sleep(0.5)
            if any(t.is_alive() for t in feeders) or any(p.is_file() for p in inbound.iterdir()):
                continue
            store = store or SQLiteStore(db, migrate=False)
            if not any(s == "received" for _, s, _ in store.counts()):
                break
        else:
            raise AssertionError(f"not finished in time; log tail: {log.read_text()[-2000:]}")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0  # graceful shutdown
    assert store is not None
    with store.read() as cur:
        stored = dict(cur.execute("SELECT sha256, status FROM messages").fetchall())
        controls = {c for (c,) in cur.execute("SELECT control_id FROM messages WHERE format = 'hl7v2'")}
        dup_encounters = cur.execute("SELECT COUNT(*) FROM encounters WHERE status = 'duplicate'").fetchone()[0]
        per_visit = cur.execute("SELECT MAX(n) FROM (SELECT COUNT(*) n FROM encounters GROUP BY visit)").fetchone()[0]
    # every acknowledged message is stored
    assert len(acked) == N_MLLP
    assert all(b"MSA|AA|" in r for r in acked.values())
    assert {f"CRH-{n}" for n in acked} <= controls
    # every file moved out of the inbound folder is stored
    moved = [p for p in (inbound / "processed").iterdir()] + [
        p for p in (inbound / "error").iterdir() if not p.name.endswith(".reason.txt")
    ]
    assert {hashlib.sha256(p.read_bytes()).hexdigest() for p in moved} <= set(stored)
    # each input once, all finished, none billed twice
    assert len(stored) == N_FILES + N_MLLP
    assert {s for s in stored.values()} <= {str(s) for s in PROCESSED | NEEDS_PERSON}
    assert store.claim_count() == N_FILES + N_MLLP
    assert dup_encounters == 0 and per_visit == 1
    with store.read() as cur:
        rejournaled = cur.execute("SELECT COUNT(*) FROM audit WHERE action = 'resent'").fetchone()[0]
        reclaimed = cur.execute("SELECT COUNT(*) FROM messages WHERE attempts > 1").fetchone()[0]
    print(f"crash test: {KILLS} kills, {rejournaled} inputs journaled again, {reclaimed} messages claimed again")
    store.close()
