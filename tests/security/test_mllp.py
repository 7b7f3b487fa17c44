"""Issue 17 items 5 and 14: MLLP lock-out and sender authentication.

A client holding many idle sockets (from 127.0.0.2) cannot lock out a
legitimate sender (127.0.0.1, python-hl7's MLLP client): a per-peer cap
refuses its extra connections at once, those it holds are closed when no
frame comes within ``first_frame_timeout``, and the refusals are logged a
few lines, not one each. An allow-list refuses other peers before a byte is
read; with ``require_client_cert`` a client without a certificate is refused."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from gateway_plugins.sources.mllp import END, START, MLLPSource
from hl7.client import MLLPClient

from gateway.app import Gateway
from gateway.config import ConfigError
from gateway.daemon.sniffer import SNIFF_DIED, Sniffer
from gateway.messages import MessageMeta
from gateway.store import MessageFilter
from tests.conftest import TODAY, free_port
from tests.daemon_helpers import FIXTURES, Harness, deployment
from tests.security.daemon import Daemon, children, wait_for
from tests.security.inputs import fhir_bundle
from tests.tls import make_pki

DFT = (FIXTURES / "hl7v2" / "dft_p03_v251_vendor_repeats.hl7").read_bytes()


def dft(n: int) -> bytes:
    return DFT.replace(b"RV-DFT-0010", f"SEC-{n}".encode()).replace(b"V10010", f"SEC{n:05d}".encode())


def code(reply: bytes) -> str:
    seg = next(s for s in reply.strip(START + END).split(b"\r") if s.startswith(b"MSA"))
    return seg.decode().split("|")[1]


def listener(tmp_path: Path, **settings) -> Harness:
    return Harness(deployment(tmp_path / "d", {"riverside": [{"type": "mllp", "port": 0, **settings}]}), worker=False)


def connect_from(source: str, port: int) -> socket.socket:
    s = socket.socket()
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def closed(s: socket.socket, within: float) -> bool:
    """True when the server closes ``s`` (EOF or reset) within ``within`` seconds."""
    s.settimeout(within)
    try:
        return s.recv(10) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_idle_sockets_from_one_peer_do_not_lock_out_a_sender(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.mllp")
    h = listener(tmp_path, first_frame_timeout=1.5)  # defaults otherwise: 64 connections, 8 per peer
    port = h.source(MLLPSource).port
    idle = [connect_from("127.0.0.2", port) for _ in range(64)]
    try:
        time.sleep(0.3)
        shut = [s for s in idle if closed(s, 0.05)]
        assert len(shut) == 64 - 8  # over the per-peer cap: closed at once
        with MLLPClient("127.0.0.1", port) as client:
            assert [code(client.send_message(dft(n))) for n in range(3)] == ["AA"] * 3
        held = [s for s in idle if s not in shut]
        assert all(closed(s, 3.0) for s in held)  # never sent a frame: closed after first_frame_timeout
        with MLLPClient("127.0.0.1", port) as client:
            assert code(client.send_message(dft(3))) == "AA"
    finally:
        for s in idle:
            s.close()
        h.close()
    refused = [r for r in caplog.records if r.getMessage() == "mllp.refused"]
    reasons = sorted(r.reason for r in refused)
    assert reasons == ["no-frame", "peer-connection-limit"]  # 64 refusals, two log lines
    assert next(r for r in refused if r.reason == "peer-connection-limit").suppressed == 0


def test_allow_list_refuses_other_peers_before_reading(tmp_path: Path) -> None:
    h = listener(tmp_path, allow=["127.0.0.1/32", "::1"])
    port = h.source(MLLPSource).port
    try:
        stranger = connect_from("127.0.0.2", port)
        try:
            stranger.sendall(START + dft(1) + END)
        except OSError:
            pass
        assert closed(stranger, 3.0)
        stranger.close()
        with MLLPClient("127.0.0.1", port) as client:
            assert code(client.send_message(dft(2))) == "AA"
        rows = h.store.list_messages(MessageFilter())
        assert [r.control_id for r in rows] == ["SEC-2"]
    finally:
        h.close()


def test_allow_list_entries_are_validated(tmp_path: Path) -> None:
    config = deployment(tmp_path / "d", {"riverside": [{"type": "mllp", "port": 0, "allow": ["10.0.0.0/8", "nope"]}]})
    with pytest.raises(ConfigError) as exc:
        Gateway.from_config(config)
    (problem,) = exc.value.problems
    assert "clinics[0].sources[0].allow" in problem and "'nope' is not an IP address" in problem


def test_a_client_without_a_certificate_is_refused_when_one_is_required(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    h = listener(tmp_path, tls=pki.server_settings(require_client_cert=True), first_frame_timeout=1.0)
    port = h.source(MLLPSource).port
    try:
        bare = ssl.create_default_context(cafile=str(pki.ca))  # trusts the server, presents no certificate
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with (
                socket.create_connection(("127.0.0.1", port)) as raw,
                bare.wrap_socket(raw, server_hostname="localhost") as s,
            ):
                s.sendall(START + dft(1) + END)
                if not s.recv(4096):
                    raise ConnectionError("closed without an ACK")
        # a TLS client that never completes the handshake is not held either
        stalled = [connect_from("127.0.0.2", port) for _ in range(12)]
        assert sum(closed(s, 0.05) for s in stalled) == 12 - 8  # the per-peer cap counts handshakes too
        assert all(closed(s, 3.0) for s in stalled)
        for s in stalled:
            s.close()
        good = ssl.create_default_context(cafile=str(pki.ca))
        good.load_cert_chain(pki.client_cert, pki.client_key)
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            good.wrap_socket(raw, server_hostname="localhost") as s,
        ):
            s.sendall(START + dft(2) + END)
            reply = b""
            while not reply.endswith(END):
                reply += s.recv(4096)
        assert code(reply) == "AA"
        assert [r.control_id for r in h.store.list_messages(MessageFilter())] == ["SEC-2"]
    finally:
        h.close()


def test_ack_latency_stays_low_while_big_fhir_files_are_taken(tmp_path: Path) -> None:
    """Issue 17 item 7: the envelope of a big file is sniffed off the event loop
    (in a helper process: json.loads holds the GIL), so MLLP ACKs keep coming."""
    mllp_port = free_port()
    sources = [{"type": "folder", "path": "inbound", "settle": 0.05}, {"type": "mllp", "port": mllp_port}]
    config = deployment(tmp_path / "d", {"riverside": sources})
    text = config.read_text().replace(
        "    settings:\n      statements:", "    settings:\n      fhir: {max_bytes: 1000000}\n      statements:", 1
    )
    config.write_text(text)  # the worker refuses the bundles at once; the journal still sniffs them whole
    inbound = tmp_path / "d" / "inbound"
    inbound.mkdir()
    bundles = [fhir_bundle(4_000_000, f"BIG-{n}") for n in range(4)]
    latencies: list[float] = []
    stop = threading.Event()

    def sender() -> None:
        with MLLPClient("127.0.0.1", mllp_port) as client:
            n = 0
            while not stop.is_set():
                t0 = time.perf_counter()
                assert code(client.send_message(dft(100 + n))) == "AA"
                latencies.append(time.perf_counter() - t0)
                n += 1
                time.sleep(0.02)

    with Daemon(config, tmp_path, args=("--workers", "1")) as d:
        with MLLPClient("127.0.0.1", mllp_port) as warm:
            assert code(warm.send_message(dft(99))) == "AA"
        thread = threading.Thread(target=sender)
        thread.start()
        time.sleep(0.5)
        before = len(latencies)
        for n, raw in enumerate(bundles):
            (tmp_path / f"b{n}.tmp").write_bytes(raw)
        for n in range(len(bundles)):
            os.rename(tmp_path / f"b{n}.tmp", inbound / f"b{n}.json")
        wait_for(lambda: len(list((inbound / "processed").glob("b*.json"))) == 4, timeout=60, what="bundles journaled")
        stop.set()
        thread.join(30)
        during = latencies[before:]
        assert d.proc.poll() is None
    assert len(during) >= 5
    median = sorted(during)[len(during) // 2]
    # what a loop blocked by the sniff would cost, measured now, under the machine's current load:
    # json.loads of the four bundles back to back (on the event loop ACKs waited 1.26-1.75 s)
    t0 = time.perf_counter()
    for raw in bundles:
        json.loads(raw)
    blocked = time.perf_counter() - t0
    # off the loop 0.14-0.18 s on a quiet machine, up to 0.56 s with the 2 cores loaded 4x over and
    # 1.05 s at 5x (then the blocked loop costs several seconds): the bound sits between
    bound = max(0.9, 0.6 * blocked)
    assert max(during) < bound, (
        f"ACK latency while taking big files: max {max(during):.3f} s, median {median:.3f} s, "
        f"bound {bound:.3f} s (a blocked loop: {blocked:.3f} s)"
    )


def test_a_sniff_helper_that_dies_costs_one_input_not_the_daemon(example_gateway) -> None:
    sniffer = Sniffer(example_gateway.host, example_gateway.loaded.path)
    meta = MessageMeta(source="test", today=TODAY, clinic_id="lakeside")
    before = set(children(os.getpid()))
    try:
        envelope, _ = sniffer.sniff(fhir_bundle(300_000, "WARM"), meta)  # starts the helper
        assert envelope.format == "fhir-json" and envelope.control_id == "WARM" and "doc" not in envelope.extra
        spawned = [p for p in children(os.getpid()) if p not in before]
        (helper,) = [p for p in spawned if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]
        result: list = []
        os.kill(helper, signal.SIGSTOP)  # it cannot answer before it dies, however fast the machine
        slow = threading.Thread(target=lambda: result.append(sniffer.sniff(fhir_bundle(4_500_000, "SLOW"), meta)))
        slow.start()
        time.sleep(0.3)
        os.kill(helper, signal.SIGKILL)
        slow.join(30)
        ((envelope, errors),) = result
        assert envelope is None and [f.rule for f in errors] == [SNIFF_DIED]
        envelope, _ = sniffer.sniff(fhir_bundle(300_000, "AFTER"), meta)  # a new helper
        assert envelope.control_id == "AFTER"
    finally:
        sniffer.close()
