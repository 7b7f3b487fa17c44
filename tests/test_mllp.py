"""The MLLP listener against a real MLLP client (python-hl7) on loopback:
ACK only after the message is stored, AE/AR for bad input, a resend gets the
same ACK and no second claim; frame limit, idle timeout, connection limit, TLS."""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import pytest
from gateway_plugins.sources.mllp import END, START, FrameReader, MLLPSource, build_ack, msh_fields, reply_for
from hl7.client import MLLPClient

from gateway.model import Finding, Severity
from gateway.store import MessageFilter
from tests.daemon_helpers import FIXTURES, Harness, deployment
from tests.tls import make_pki

DFT = (FIXTURES / "hl7v2" / "dft_p03_v251_vendor_repeats.hl7").read_bytes()
MISSING_PID = b"MSH|^~\\&|APP|RIVERSIDE|GW|GW|20260101||DFT^P03|BAD-1|P|2.5\rPID|1\r"
UNKNOWN_SENDER = b"MSH|^~\\&|APP|NOWHERE|GW|GW|20260101||DFT^P03|UNK-1|P|2.5\rPID|1\r"


def msa(reply: bytes) -> list[str]:
    assert reply.startswith(START) and reply.endswith(END)
    seg = next(s for s in reply[1:-2].split(b"\r") if s.startswith(b"MSA"))
    return seg.decode().split("|")


def wait_for(cond, timeout: float = 10.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture
def harness(tmp_path: Path):
    config = deployment(tmp_path / "d", {"riverside": [{"type": "mllp", "port": 0, "idle_timeout": 1.0,
                                                          "max_connections": 3, "max_frame_bytes": 100_000}]})  # fmt: skip
    h = Harness(config, poll_max=0.02)
    yield h
    h.close()


def port(h: Harness) -> int:
    return h.source(MLLPSource).port


def test_aa_only_after_the_message_is_stored(harness: Harness) -> None:
    with MLLPClient("127.0.0.1", port(harness)) as client:
        reply = client.send_message(DFT)
    code, control = msa(reply)[1:3]
    assert (code, control) == ("AA", "RV-DFT-0010")
    # the ACK came back, so the bytes are committed: another connection sees them
    (row,) = harness.store.list_messages(MessageFilter())
    assert harness.store.raw(row.id) == DFT and row.control_id == "RV-DFT-0010"
    wait_for(lambda: harness.store.claim_count() == 1)


def test_resend_gets_the_same_ack_and_no_second_claim(harness: Harness) -> None:
    with MLLPClient("127.0.0.1", port(harness)) as client:
        first = client.send_message(DFT)
        wait_for(lambda: harness.store.claim_count() == 1)
        again = client.send_message(DFT)
    assert again == first
    time.sleep(0.2)
    assert harness.store.claim_count() == 1
    assert sum(n for *_, n in harness.store.counts()) == 1
    (row,) = harness.store.list_messages(MessageFilter())
    assert [a.action for a in harness.store.audit_trail(row.id)].count("resent") == 1


def test_ae_for_a_message_with_errors_and_ar_for_no_hl7(harness: Harness) -> None:
    with MLLPClient("127.0.0.1", port(harness)) as client:
        ae = msa(client.send_message(MISSING_PID))
        ar_garbage = msa(client.send_message(b"this is not HL7 at all"))
    assert ae[1:3] == ["AE", "BAD-1"]
    assert ar_garbage[1] == "AR"
    # every one of them is stored for the operator, and none is billed
    wait_for(lambda: {r.status for r in harness.store.list_messages(MessageFilter())} == {"quarantined"})
    assert harness.store.claim_count() == 0


def test_several_frames_in_one_write_and_junk_between_frames(harness: Harness) -> None:
    other = DFT.replace(b"RV-DFT-0010", b"RV-DFT-0011")
    with socket.create_connection(("127.0.0.1", port(harness))) as s:
        s.sendall(b"\r\n" + START + DFT + END + b"\n" + START + other + END)
        data = b""
        while data.count(END) < 2:
            data += s.recv(4096)
    assert data.count(b"MSA|AA|") == 2


def test_frame_over_the_limit_is_refused_and_the_connection_goes_on(harness: Harness) -> None:
    big = DFT + b"NTE|1||" + b"x" * 150_000 + b"\r"
    with MLLPClient("127.0.0.1", port(harness)) as client:
        client.socket.sendall(START + big + END)
        reply = b""
        while not reply.endswith(END):
            reply += client.socket.recv(4096)
        assert msa(reply)[1] == "AR"
        assert msa(client.send_message(DFT))[1] == "AA"
    assert len(harness.store.list_messages(MessageFilter())) == 1


def test_idle_timeout_and_connection_limit(harness: Harness) -> None:
    conns = [socket.create_connection(("127.0.0.1", port(harness))) for _ in range(3)]
    time.sleep(0.2)
    extra = socket.create_connection(("127.0.0.1", port(harness)))
    extra.settimeout(2)
    assert extra.recv(10) == b""  # closed at once: over the limit
    extra.close()
    conns[0].settimeout(3)
    assert conns[0].recv(10) == b""  # idle for longer than idle_timeout (1 s)
    for c in conns:
        c.close()


def test_tls_with_client_certificates(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    ca_file, cc, ck = pki.ca, pki.client_cert, pki.client_key
    tls = pki.server_settings()
    config = deployment(tmp_path / "d", {"riverside": [{"type": "mllp", "port": 0, "tls": tls}]})
    h = Harness(config, worker=False)
    try:
        p = port(h)
        ctx = ssl.create_default_context(cafile=str(ca_file))
        ctx.load_cert_chain(cc, ck)
        with socket.create_connection(("127.0.0.1", p)) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(START + DFT + END)
            data = b""
            while not data.endswith(END):
                data += s.recv(4096)
        assert msa(data)[1] == "AA"
        # without a client certificate the handshake is refused: nothing is stored
        bare = ssl.create_default_context(cafile=str(ca_file))
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            with (
                socket.create_connection(("127.0.0.1", p)) as raw,
                bare.wrap_socket(raw, server_hostname="localhost") as s,
            ):
                s.sendall(START + DFT.replace(b"RV-DFT-0010", b"NOCERT") + END)
                if not s.recv(4096):
                    raise ConnectionError("closed")
        assert len(h.store.list_messages(MessageFilter())) == 1
    finally:
        h.close()


def test_fallback_reply_is_ar_for_an_unknown_sender_and_ae_for_errors() -> None:
    route = Finding(severity=Severity.ERROR, rule="GW-ROUTE", message="no clinic", plugin="core")
    parse = Finding(severity=Severity.ERROR, rule="HL7-REQUIRED", message="PID-3 is empty", plugin="hl7v2")
    assert b"MSA|AR|UNK-1|" in reply_for(UNKNOWN_SENDER, [route])
    ae = reply_for(MISSING_PID, [parse])
    assert b"MSA|AE|BAD-1|errors: HL7-REQUIRED" in ae and b"PID-3" not in ae


def test_fallback_ack_swaps_sender_and_receiver_and_carries_no_patient_data() -> None:
    ack = build_ack(MISSING_PID, "AE", "errors: HL7-REQUIRED")
    f = msh_fields(ack)
    assert f is not None and (f[2], f[3], f[4], f[5]) == ("GW", "GW", "APP", "RIVERSIDE")
    assert b"MSA|AE|BAD-1|" in ack and b"ERR" in ack


async def _frames(data: bytes, limit: int) -> list[bytes | None]:
    import asyncio

    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    fr = FrameReader(reader, limit)
    return [await fr.next(), await fr.next()]


def test_frame_reader_handles_split_markers() -> None:
    import asyncio

    assert asyncio.run(_frames(b"junk" + START + b"AB" + END + START + b"CD" + END, 100)) == [b"AB", b"CD"]
    assert asyncio.run(_frames(START + b"AB", 100)) == [None, None]  # cut mid-frame: nothing
