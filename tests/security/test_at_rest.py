"""Issue 17 item 15: PHI at rest. With ``store.encryption`` on, the store's
files (SQLite file and WAL) and every text/bytea column of a PostgreSQL schema
hold no patient name, member id or e-mail address of the inputs, while
operators and delivery still see the right content; a wrong or missing key
fails loudly and changes nothing; ``gateway store rotate-key`` re-seals
everything (resumable after ``kill -9``) so the old key can go.

Real parts only: the gateway CLI and ``gateway run`` as processes, SQLite
files, PostgreSQL on 127.0.0.1:5432, aiosmtpd for e-mailed statements, the
console on a real listener, pyx12 for every 837 and pypdf for every PDF.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from aiosmtpd.controller import Controller

from gateway.store import StoreKeyError, open_store
from gateway.store.codec import PLAIN, Codec, key_id_of, parse_key, ref
from gateway.store.rotation import ROTATIONS
from gateway.store.submissions import SubmissionFilter
from tests.conftest import FIXTURES, free_port
from tests.console_helpers import Console
from tests.delivery_helpers import deployment, hl7_visit
from tests.pg import pg_schema
from tests.security.daemon import GATEWAY, Daemon, wait_for
from tests.statements_pdfcheck import pdf_text
from tests.test_smtp import Inbox
from tests.x12check import assert_valid_837

#: inputs, in the order they go in (a FHIR registration before its visit)
INPUTS = [
    "hl7v2/dft_p03_v25_copay_insured.hl7",  # TESTPATIENT^TAU, member XEH313131313
    "hl7v2/dft_p03_v23_email_net.hl7",  # SAMPLEKID^HE, guarantor SAMPLEPARENT^VAV, e-mail
    "fhir/riverside-companion-1-registration.json",  # Rowan Hypothetical, Coverage.subscriberId 1EG4TE5MK77
    "fhir/riverside-companion-2-visit.json",
    "fhir/lakeside-guarantor-email.json",  # Phi Samplekid, RelatedPerson Psi Sampleparent
]
#: what must never be readable in the store's files (compared case-insensitively)
CANARIES = ["TESTPATIENT", "XEH313131313", "31 Sample Road", "SAMPLEKID", "SAMPLEPARENT", "Hypothetical",
            "1EG4TE5MK77", "Sampleparent", "parent.vav@example.org", "psi.parent@example.org"]  # fmt: skip


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def encrypt(config: Path, key_id: str = "k1", env: str = "GW_TEST_KEY_1",
            previous: list[tuple[str, str]] | None = None) -> Path:  # fmt: skip
    """Switch ``store.encryption`` on in ``config`` (keys from environment variables)."""
    data = yaml.safe_load(config.read_text())
    enc: dict[str, Any] = {"key": f"env:{env}", "key_id": key_id}
    if previous:
        enc["previous_keys"] = [{"key": f"env:{e}", "key_id": k} for k, e in previous]
    data["store"] = {"encryption": enc}
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def gateway(*args: Any, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The gateway CLI as its own process."""
    return subprocess.run([*GATEWAY, *map(str, args)], env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def cli(*args: Any, env: dict[str, str | None]) -> Any:
    """The gateway CLI in this process (quicker for commands that only start and stop)."""
    from click.testing import CliRunner

    from gateway.cli import cli as group

    done = CliRunner().invoke(group, [str(a) for a in args], env=env)
    done.returncode = done.exit_code  # type: ignore[attr-defined]
    return done


def process(config: Path, out: Path, *inputs: Path, store: str | None = None, env: dict[str, str]) -> None:
    """``gateway process`` of ``inputs``, in order (the FHIR registration before its visit)."""
    extra = ("--store", store) if store else ()
    done = gateway("process", "--config", config, "--out", out, *extra, *inputs, env=env)
    assert done.returncode == 0, done.stderr[-3000:]


def opened(config: Path, url: str | None, env: dict[str, str]) -> Any:
    """The deployment's store opened in-process with the keys of ``env``."""
    from gateway.app import Gateway
    from gateway.store import codec_for

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        gw = Gateway.from_config(config)
        return open_store(url or gw.loaded.state_dir / "gateway.sqlite", codec=codec_for(gw.loaded))
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def sqlite_bytes(db: Path) -> bytes:
    """The SQLite file and its WAL, as a stolen disk would show them."""
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def leaks(data: bytes) -> list[str]:
    low = data.lower()
    return [c for c in CANARIES if c.lower().encode() in low]


def pg_columns(url: str) -> bytes:
    """Every text and bytea value of every table of the store's schema."""
    out = []
    with psycopg.connect(url, autocommit=True) as conn:
        cols = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type IN ('text', 'bytea', 'character varying', 'jsonb')"
        ).fetchall()
        assert {"raw", "encounter", "claim", "statement", "value", "content", "headers"} <= {c for _, c, _ in cols}
        for table, column, dtype in cols:
            expr = f"encode(\"{column}\", 'escape')" if dtype == "bytea" else f'"{column}"::text'
            for (value,) in conn.execute(f'SELECT {expr} FROM "{table}"'):
                out.append((value or "").encode())
    return b"\n".join(out)


def hashes(*paths: Path) -> dict[str, str | None]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None for p in paths}


# -- the codec ---------------------------------------------------------------------------------------
def test_the_codec_seals_with_a_fresh_nonce_a_key_id_and_associated_data_per_column_and_row() -> None:
    k1, k2 = secrets.token_bytes(32), secrets.token_bytes(32)
    codec = Codec([("k1", k1)])
    raw = b"MSH|^~\\&|X|RIVERSIDE|||20261021||DFT^P03|1|P|2.5\rPID|1||R1||TESTPATIENT^TAU"
    a, b = codec.seal("messages.raw", raw, ref("s", "h")), codec.seal("messages.raw", raw, ref("s", "h"))
    assert a != b and b"TESTPATIENT" not in a and key_id_of(a) == "k1"  # fresh nonce, key id in the header
    assert codec.open("messages.raw", a, ref("s", "h")) == raw
    text = codec.seal("claims.claim", '{"patient":"TESTPATIENT"}', ref("c", "1", 1, 1))
    assert text.startswith("gw1e:k1:") and codec.open("claims.claim", text, ref("c", "1", 1, 1)).endswith('"}')
    # moved to another column or another row: does not open, and says where
    for purpose, row in (("outbox.content", ref("s", "h")), ("messages.raw", ref("s", "other"))):
        with pytest.raises(StoreKeyError, match=r"table (outbox|messages).*'k1' does not open"):
            codec.open(purpose, a, row)
    # an older key still opens what it sealed; an unknown key id is named
    rotated = Codec([("k2", k2), ("k1", k1)])
    assert rotated.open("messages.raw", a, ref("s", "h")) == raw and key_id_of(rotated.seal("x.y", b"1")) == "k2"
    with pytest.raises(StoreKeyError, match=r"table messages \(column raw\).*key 'k1', which is not configured"):
        Codec([("k2", k2)]).open("messages.raw", a, ref("s", "h"))
    with pytest.raises(StoreKeyError, match="not configured"):
        PLAIN.open("messages.raw", a, ref("s", "h"))
    # plaintext rows read as they are; plaintext that looks sealed cannot be forged into a sealed value
    assert codec.open("messages.raw", raw) == raw and PLAIN.seal("messages.raw", raw) == raw
    forged = b"\x00GW1E\x02k1" + secrets.token_bytes(40)
    assert PLAIN.open("messages.raw", PLAIN.seal("messages.raw", forged)) == forged
    assert codec.open("messages.raw", codec.seal("messages.raw", forged)) == forged


def test_keys_must_be_32_bytes_of_base64_or_hex() -> None:
    assert parse_key(base64.b64encode(b"k" * 32).decode(), "store.encryption.key") == b"k" * 32
    assert parse_key("ab" * 32, "store.encryption.key") == b"\xab" * 32
    with pytest.raises(StoreKeyError, match=r"store.encryption.key: the key is 16 bytes, AES-256 needs 32"):
        parse_key(base64.b64encode(b"k" * 16).decode(), "store.encryption.key")
    with pytest.raises(StoreKeyError, match=r"store.encryption.previous_keys\[0\].key: not base64 or hex"):
        parse_key("not a key!", "store.encryption.previous_keys[0].key")


def test_check_config_reports_a_bad_key_with_its_config_path(tmp_path: Path) -> None:
    config = encrypt(deployment(tmp_path / "dep"), previous=[("k0", "GW_TEST_KEY_0")])
    ok = cli("check-config", config, env={"GW_TEST_KEY_1": new_key(), "GW_TEST_KEY_0": new_key()})
    assert ok.returncode == 0, ok.stderr
    short = cli("check-config", config, env={"GW_TEST_KEY_1": new_key(), "GW_TEST_KEY_0": "c2hvcnQ="})
    assert short.returncode == 2
    assert "store.encryption.previous_keys[0].key: the key is 5 bytes, AES-256 needs 32" in short.stderr
    unset = cli("check-config", "--strict", config, env={"GW_TEST_KEY_0": new_key(), "GW_TEST_KEY_1": None})
    assert unset.returncode == 2 and "store.encryption.key: secret env:GW_TEST_KEY_1" in unset.stderr
    assert "is not set" in unset.stderr


# -- gateway process on both backends ------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_gateway_process_stores_no_patient_data_readable_yet_shows_and_writes_it(tmp_path: Path, backend: str) -> None:
    env = {"GW_TEST_KEY_1": new_key()}
    config = encrypt(deployment(tmp_path / "dep"))
    out = tmp_path / "out"
    db = tmp_path / "dep" / "state" / "gateway.sqlite"
    with pg_schema() if backend == "postgresql" else _no_schema() as url:
        process(config, out, *(FIXTURES / f for f in INPUTS), store=url, env=env)
        stored = pg_columns(url) if url else sqlite_bytes(db)
        assert stored and leaks(stored) == []
        # what operators asked for, and what was delivered, is plaintext
        store_args = ("--store", url) if url else ()
        shown = gateway("messages", "show", "1", "--raw", "--config", config, *store_args, env=env)
        assert shown.returncode == 0 and "TESTPATIENT^TAU" in shown.stdout and "XEH313131313" in shown.stdout
        # message 4: the FHIR visit, its patient and coverage from the records message 3 left
        enc = gateway("messages", "show", "4", "--encounter", "0", "--config", config, *store_args, env=env)
        assert enc.returncode == 0 and "Hypothetical" in enc.stdout and "1EG4TE5MK77" in enc.stdout
    x12 = b"".join(p.read_bytes() for p in sorted((out / "claims-out").iterdir()))
    for member in (b"XEH313131313", b"1EG4TE5MK77"):  # the FHIR one from the records the registration left
        assert member in x12
    for f in (out / "claims-out").iterdir():
        assert_valid_837(f.read_bytes())
    pdfs = "\n".join("\n".join(pdf_text(p.read_bytes())[1]) for p in (out / "statements-out").iterdir())
    assert "SAMPLEKID" in pdfs.upper() and "SAMPLEPARENT" in pdfs.upper()


class _no_schema:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_without_encryption_the_same_inputs_are_readable_in_the_file(tmp_path: Path) -> None:
    """The control: the scan above finds the canaries when they are there."""
    config = deployment(tmp_path / "dep")
    process(config, tmp_path / "out", *(FIXTURES / f for f in INPUTS[:3]), env={})
    found = leaks(sqlite_bytes(tmp_path / "dep" / "state" / "gateway.sqlite"))
    assert {"TESTPATIENT", "XEH313131313", "SAMPLEKID", "Hypothetical", "1EG4TE5MK77"} <= set(found)


# -- gateway run: folder intake, 837 to a folder, statements by e-mail, the console ---------------------------
def test_a_daemon_with_encryption_takes_delivers_and_shows_yet_keeps_nothing_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GW_TEST_KEY_1", new_key())
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    smtp = {"transport": "smtp", "format": "pdf", "host": "127.0.0.1", "port": port, "security": "none",
            "from_address": "Billing <billing@example.com>", "timeout_s": 5}  # fmt: skip
    folder = {"type": "folder", "path": "inbound", "settle": 0.05}
    config = encrypt(deployment(tmp_path / "dep", destinations={"statements-out": smtp},
                                sources={"riverside": [folder], "lakeside": [folder | {"path": "inbound-lk"}]}))  # fmt: skip
    dep = tmp_path / "dep"
    db = dep / "state" / "gateway.sqlite"
    claims_out = dep / "outbox" / "claims"
    try:
        with Daemon(config, tmp_path, args=("--workers", "1")) as daemon:
            for name, folder_name in (("hl7v2/dft_p03_v25_copay_insured.hl7", "inbound"),
                                      ("hl7v2/dft_p03_v23_email_net.hl7", "inbound-lk"),
                                      ("fhir/lakeside-guarantor-email.json", "inbound-lk")):  # fmt: skip
                (dep / folder_name).mkdir(exist_ok=True)
                drop = tmp_path / "drop.tmp"
                drop.write_bytes((FIXTURES / name).read_bytes())
                drop.rename(dep / folder_name / Path(name).name)
            wait_for(lambda: len(inbox.messages) == 2 and claims_out.is_dir() and any(claims_out.iterdir()),
                     timeout=90, what="an 837 in the folder and two statement e-mails")  # fmt: skip
            assert daemon.proc.poll() is None
            running = sqlite_bytes(db)  # the WAL of a running daemon included
            assert db.with_name("gateway.sqlite-wal").exists()
        stopped = sqlite_bytes(db)
    finally:
        controller.stop()
    assert leaks(running) == [] and leaks(stopped) == []
    assert sorted(r for rs, _ in inbox.messages for r in rs) == ["parent.vav@example.org", "psi.parent@example.org"]
    for _, mail in inbox.messages:
        (pdf,) = list(mail.iter_attachments())
        assert "Sample" in "\n".join(pdf_text(pdf.get_content())[1])
    (x12,) = [p.read_bytes() for p in claims_out.iterdir()]
    assert b"XEH313131313" in x12 and b"TESTPATIENT" in x12
    assert_valid_837(x12)
    # the console's raw view, over a real listener, opens what the daemon sealed
    console = Console(config)
    try:
        console.user("ria", "operator", ["riverside"])
        client = console.client()
        assert client.login("ria").status_code == 303
        from gateway.store import MessageFilter

        (mid,) = [m.id for m in console.store.list_messages(MessageFilter(clinic_id="riverside"))]
        page = client.get(f"/ui/messages/{mid}/raw")
        assert page.status_code == 200 and "TESTPATIENT^TAU" in page.text and "XEH313131313" in page.text
    finally:
        console.close()


# -- wrong or missing keys ---------------------------------------------------------------------------------
def test_a_wrong_or_missing_key_fails_loudly_and_changes_nothing(tmp_path: Path) -> None:
    key = new_key()
    config = encrypt(deployment(tmp_path / "dep"))
    process(config, tmp_path / "out", FIXTURES / INPUTS[0], env={"GW_TEST_KEY_1": key})
    db = tmp_path / "dep" / "state" / "gateway.sqlite"
    files = (db, db.with_name("gateway.sqlite-wal"), db.with_name("gateway.sqlite-shm"))
    before = hashes(*files)
    wrong = {"GW_TEST_KEY_1": new_key()}
    for args in (("messages", "show", "1", "--raw"), ("process", "--out", tmp_path / "o2", FIXTURES / INPUTS[1]),
                 ("store", "rotate-key"), ("run", "--workers", "0")):  # fmt: skip
        run = gateway if args[0] == "run" else cli  # the daemon as a real process
        done = run(*args, "--config", config, env=wrong)
        assert done.returncode == 2, (args, done.stderr)
        assert "key 'k1' is not the key that sealed this store's rows" in done.stderr and "store_keys" in done.stderr
        assert "Traceback" not in done.stderr and "TESTPATIENT" not in done.stdout + done.stderr
    gone = cli("messages", "list", "--config", config, env={"GW_TEST_KEY_1": None})
    assert gone.returncode == 2 and "store.encryption.key: secret env:GW_TEST_KEY_1" in gone.stderr
    # encryption switched off on an encrypted store: refused too, not read as garbage
    data = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({k: v for k, v in data.items() if k != "store"}, sort_keys=False))
    off = gateway("run", "--config", config, "--workers", "0", env={}, timeout=60)
    assert off.returncode == 2 and "sealed with key 'k1', which is not configured" in off.stderr
    encrypt(config)
    assert hashes(*files) == before
    assert not (tmp_path / "o2").exists()
    again = gateway("messages", "show", "1", "--raw", "--config", config, env={"GW_TEST_KEY_1": key})
    assert again.returncode == 0 and "TESTPATIENT" in again.stdout


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_value_moved_to_another_row_does_not_open(tmp_path: Path, backend: str) -> None:
    codec = Codec([("k1", secrets.token_bytes(32))])
    with pg_schema() if backend == "postgresql" else _no_schema() as url:
        store = open_store(url or tmp_path / "gateway.sqlite", codec=codec)
        try:
            from gateway.store import NewMessage

            msgs = [NewMessage(scope="t", sha256=str(i), raw=hl7_visit(i), source="test", received_at=time.time())
                    for i in (1, 2)]  # fmt: skip
            a, b = (j.message_id for j in store.journal(msgs))
            assert store.raw(a) == hl7_visit(1)
            with store.write() as cur:  # someone with write access swaps two patients' messages
                cur.execute(
                    "UPDATE message_raw SET raw = (SELECT raw FROM message_raw WHERE message_id = ?) WHERE message_id = ?",
                    (b, a),
                )
            with pytest.raises(StoreKeyError, match=r"table messages \(column raw\).*'k1' does not open"):
                store.raw(a)
        finally:
            store.close()


# -- rotation ---------------------------------------------------------------------------------------
def _sealed_with(db_or_url: str | Path) -> dict[str | None, int]:
    """How many stored values carry each key id (None: plaintext), over every sealed column."""
    counts: dict[str | None, int] = {}
    specs = [(s.stored_in, c) for s in ROTATIONS for c in s.columns] + [("records", "key"), ("records", "value")]
    if isinstance(db_or_url, Path):
        with sqlite3.connect(f"file:{db_or_url}?mode=ro", uri=True) as conn:
            rows = [v for t, c in specs for (v,) in conn.execute(f"SELECT {c} FROM {t}")]
    else:
        with psycopg.connect(db_or_url, autocommit=True) as conn:
            rows = [v for t, c in specs for (v,) in conn.execute(f"SELECT {c} FROM {t}")]
    for v in rows:
        if v is not None and len(v):
            counts[key_id_of(v)] = counts.get(key_id_of(v), 0) + 1
    return counts


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_rotate_key_reseals_everything_so_the_old_key_can_go(tmp_path: Path, backend: str) -> None:
    k0, k1, k2 = new_key(), new_key(), new_key()
    dep = tmp_path / "dep"
    db = dep / "state" / "gateway.sqlite"
    with pg_schema() if backend == "postgresql" else _no_schema() as url:
        target = url or db
        extra = ("--store", url) if url else ()
        # a store from before encryption, switched on (k0) half-way, then rotated to k1 with k0 kept for reading
        config = deployment(dep)
        process(config, tmp_path / "o1", FIXTURES / INPUTS[0], FIXTURES / INPUTS[2], store=url, env={})
        encrypt(config, "k0", "K0")
        process(config, tmp_path / "o2", FIXTURES / INPUTS[1], FIXTURES / INPUTS[3], store=url, env={"K0": k0})
        mixed = _sealed_with(target)
        assert mixed.get(None) and mixed.get("k0"), mixed
        encrypt(config, "k1", "K1", previous=[("k0", "K0")])
        env = {"K0": k0, "K1": k1}
        done = gateway("store", "rotate-key", "--config", config, *extra, "--json", env=env)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["retired"] == ["k0"] and report["tables"]["messages"] == {"rows": 4, "resealed": 4, "current": 0}
        assert set(_sealed_with(target)) == {"k1"}
        # k0 removed from the config: everything still reads, and a record the registration left still resolves
        encrypt(config, "k1", "K1")
        store = opened(config, url, {"K1": k1})
        try:
            raws = [store.raw(i) for i in (1, 2, 3, 4)]
            assert raws == [(FIXTURES / INPUTS[i]).read_bytes() for i in (0, 2, 1, 3)]
            assert store.encounter_json(4, 0)["patient"]["name"]["family"] == "Hypothetical"
        finally:
            store.close()
        again = FIXTURES / "fhir" / "riverside-companion-2-visit.json"
        visit2 = tmp_path / "visit-again.json"
        visit2.write_bytes(again.read_bytes().replace(b"RV-V-7007", b"RV-V-7008"))
        process(config, tmp_path / "o3", visit2, store=url, env={"K1": k1})
        assert b"1EG4TE5MK77" in b"".join(p.read_bytes() for p in (tmp_path / "o3" / "claims-out").iterdir())
        leaked = leaks(pg_columns(url) if url else sqlite_bytes(db))
        assert leaked == []
        # and a second rotation to k2 leaves k1 retired the same way
        encrypt(config, "k2", "K2", previous=[("k1", "K1")])
        assert gateway("store", "rotate-key", "--config", config, *extra, env={"K1": k1, "K2": k2}).returncode == 0
        encrypt(config, "k2", "K2")
        assert set(_sealed_with(target)) == {"k2"}
        shown = gateway("messages", "show", "3", "--raw", "--config", config, *extra, env={"K2": k2})
        assert shown.returncode == 0 and "SAMPLEPARENT^VAV" in shown.stdout


def test_rotate_key_killed_half_way_completes_when_run_again(tmp_path: Path) -> None:
    config = deployment(tmp_path / "dep")
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(150):
        (inputs / f"visit-{i}.hl7").write_bytes(hl7_visit(i))
    process(config, tmp_path / "out", inputs, env={})
    db = tmp_path / "dep" / "state" / "gateway.sqlite"
    total = sum(_sealed_with(db).values())
    assert total >= 450  # messages, encounters, claims and the outbox
    encrypt(config)
    env = {**os.environ, "GW_TEST_KEY_1": new_key()}
    proc = subprocess.Popen([*GATEWAY, "store", "rotate-key", "--config", str(config), "--batch", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    wait_for(lambda: _sealed_with(db).get("k1", 0) >= 20, timeout=120, what="rotation under way")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    half = _sealed_with(db)
    assert half.get("k1") and half.get(None), half  # stopped part-way: some sealed, some not
    done = subprocess.run([*GATEWAY, "store", "rotate-key", "--config", str(config), "--json"], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["tables"]["messages"]["rows"] == 150
    assert set(_sealed_with(db)) == {"k1"} and sum(_sealed_with(db).values()) >= total
    store = open_store(db, codec=Codec([("k1", parse_key(env["GW_TEST_KEY_1"], "k"))]))
    try:
        assert sorted(store.raw(i) for i in range(1, 151)) == sorted(hl7_visit(i) for i in range(150))
    finally:
        store.close()
    audit = (
        sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        .execute("SELECT action, detail FROM audit WHERE action LIKE 'store-rotate-key%' ORDER BY id")
        .fetchall()
    )
    assert [a for a, _ in audit] == ["store-rotate-key-started", "store-rotate-key-started", "store-rotate-key"]


# -- the closed loop: 999, 277CA and 835 back in ------------------------------------------------------------
def test_posted_answers_keep_no_patient_data_readable_and_ledgers_balance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The payer's 835 names the patient (NM1*QC) and the member (NM1*IL):
    stored as a message (sealed) and posted into tables that hold ids, codes
    and amounts only."""
    from tests.posting_helpers import assert_balanced, claims_out, money
    from tests.posting_helpers import process as post

    monkeypatch.setenv("GW_TEST_KEY_1", new_key())
    config = encrypt(deployment(tmp_path / "dep"))
    loop = claims_out(tmp_path, 6, config=config)
    answers = b"".join(f.read_bytes() for kind in ("999", "277CA", "835") for f in loop.files(kind))
    assert b"TESTPATIENT" in answers and b"XEH101010101" in answers  # the canaries are in what comes back
    for n, kind in enumerate(("999", "277CA", "835")):
        post(loop.config, tmp_path / f"answers-{n}", *loop.files(kind))
    db = tmp_path / "dep" / "state" / "gateway.sqlite"
    data = sqlite_bytes(db).lower()
    assert b"testpatient" not in data and b"xeh101010101" not in data and b"vendor plaza" not in data
    store = opened(config, None, {"GW_TEST_KEY_1": os.environ["GW_TEST_KEY_1"]})
    try:
        posted = store.list_submissions("claims", SubmissionFilter(limit=100))
        assert len(posted) == 6
        for c in posted:
            m, _ = money(store, c.clinic_id, c.key)
            assert_balanced(m)
        assert any(money(store, c.clinic_id, c.key)[0].paid > 0 for c in posted)
    finally:
        store.close()
