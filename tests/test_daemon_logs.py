"""Logs are JSON lines and carry no patient data: fixtures with canary names,
member ids and addresses go through the folder source, the MLLP listener, the
journal and a worker (good, bad and quarantined inputs), and no canary shows
up in the log output."""

from __future__ import annotations

import io
import json
import logging
import socket
import time
from pathlib import Path

from gateway_plugins.sources.folder import FolderSource
from gateway_plugins.sources.mllp import END, START, MLLPSource

from gateway import logging as glog
from tests.daemon_helpers import FIXTURES, Harness, deployment

CANARIES = ["Qzxcanaryfam", "Wvycanarygiven", "CANARYMEMBER77", "77 Canaryway Street", "Canarytown"]


def canary_json(n: int, broken: bool = False) -> bytes:
    doc = json.loads((FIXTURES / "encounters" / "riverside-insured.json").read_text())
    doc["message_id"] = f"LOG-{n}"
    enc = doc["encounters"][0]
    enc["id"] = f"LOGV{n}"
    enc["patient"]["name"] = {"family": CANARIES[0], "given": CANARIES[1]}
    enc["patient"]["address"] = {"lines": [CANARIES[3]], "city": CANARIES[4], "state": "IL", "postal_code": "62701"}
    enc["coverages"][0]["subscriber"]["member_id"] = CANARIES[2]
    if broken:
        enc["rendering_provider"]["npi"] = "1234567890"  # bad check digit: quarantined
        enc["patient"]["birth_date"] = CANARIES[0]  # not a date: a parse error naming the field
    return json.dumps(doc).encode()


def canary_hl7(control: str, drop_pid3: bool = False) -> bytes:
    raw = (FIXTURES / "hl7v2" / "dft_p03_v251_vendor_repeats.hl7").read_bytes()
    raw = raw.replace(b"TESTPATIENT^XI", f"{CANARIES[0]}^{CANARIES[1]}".encode()).replace(
        b"RV-DFT-0010", control.encode()
    )
    raw = raw.replace(b"XEH101010101", CANARIES[2].encode())
    if drop_pid3:
        raw = raw.replace(b"999001111^^^SSA^SS~RV10010^^^RIVERSIDE^MR~E5550010^^^EPI^PI", b"")
    return raw


def test_no_patient_data_in_logs(tmp_path: Path) -> None:
    stream = io.StringIO()
    glog.setup("debug", stream)
    folder = {"type": "folder", "path": "inbound", "settle": 0.05}
    h = Harness(deployment(tmp_path / "d", {"riverside": [folder, {"type": "mllp", "port": 0}]}), poll_max=0.02)
    try:
        inbound = h.source(FolderSource).inbound
        (inbound / "good.json").write_bytes(canary_json(1))
        (inbound / "broken.json").write_bytes(canary_json(2, broken=True))
        (inbound / "junk.txt").write_bytes(f"{CANARIES[0]} {CANARIES[2]}".encode())
        with socket.create_connection(("127.0.0.1", h.source(MLLPSource).port)) as s:
            for frame in (canary_hl7("LOG-H1"), canary_hl7("LOG-H2", drop_pid3=True), canary_hl7("LOG-H1")):
                s.sendall(START + frame + END)
                reply = b""
                while not reply.endswith(END):
                    reply += s.recv(4096)
        end = time.time() + 10
        while time.time() < end and (h.worker.processed < 4 or any(p.is_file() for p in inbound.iterdir())):
            time.sleep(0.05)
        assert (
            h.worker.processed == 4
        )  # 2 files, 2 MLLP frames (the resend is not processed again; junk is quarantined at intake)
    finally:
        h.close()
        logging.getLogger(glog.LOGGER).handlers.clear()
    out = stream.getvalue()
    lines = out.splitlines()
    assert len(lines) > 10 and all(json.loads(line)["event"] for line in lines)
    events = {json.loads(line)["event"] for line in lines}
    assert {"message.journaled", "message.processed", "folder.taken", "folder.rejected"} <= events
    for canary in CANARIES:
        assert canary not in out, canary
