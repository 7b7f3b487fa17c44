"""`gateway console`, `gateway users` and `gateway tokens` as an operator runs
them: HTTPS from console.tls, the refusal of a non-loopback address without
it, users and tokens through their life cycle."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner

from gateway.cli import cli
from gateway.examples import write_example_deployment
from tests.conftest import free_port
from tests.console_helpers import PASSWORD

GATEWAY = [sys.executable, "-c", "from gateway.cli import main; main()"]


def self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    crt = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    k, c = folder / "console.key", folder / "console.crt"
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))  # fmt: skip
    c.write_bytes(crt.public_bytes(serialization.Encoding.PEM))
    return k, c


def test_gateway_console_serves_https_from_the_config(tmp_path: Path) -> None:
    config = write_example_deployment(tmp_path / "d")
    key, crt = self_signed(config.parent)
    data = yaml.safe_load(config.read_text())
    data["console"] = {"tls": {"cert": crt.name, "key": key.name}}
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    add = CliRunner().invoke(cli, ["users", "add", "ada", "--config", str(config), "--role", "admin", "--all-clinics",
                                   "--password-stdin"], input=PASSWORD + "\n")  # fmt: skip
    assert add.exit_code == 0, add.output
    port = free_port()
    proc = subprocess.Popen([*GATEWAY, "console", "--config", str(config), "--http", f"127.0.0.1:{port}"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)  # fmt: skip
    ctx = ssl.create_default_context(cafile=str(crt))
    try:
        deadline = time.time() + 30
        while True:
            try:
                r = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=ctx, timeout=5)
                break
            except httpx.ConnectError:
                assert time.time() < deadline and proc.poll() is None, "gateway console did not start"
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["mode"] == "console"
        assert r.headers["strict-transport-security"].startswith("max-age=")
        login = httpx.get(f"https://127.0.0.1:{port}/ui/", verify=ctx)
        assert login.status_code == 303 and login.headers["location"].startswith("/ui/login")
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)  # plain HTTP is not spoken
        proc.send_signal(signal.SIGHUP)  # a reload announced by the console process itself
        time.sleep(3)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert '"event":"config.announced"' in err.decode()


def test_a_non_loopback_address_without_tls_is_refused(tmp_path: Path) -> None:
    config = write_example_deployment(tmp_path / "d")
    out = subprocess.run([*GATEWAY, "console", "--config", str(config), "--http", "0.0.0.0:0"], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 2 and "refusing to serve the console on 0.0.0.0 without TLS" in out.stderr


def test_users_and_tokens_through_their_life(tmp_path: Path) -> None:
    config = write_example_deployment(tmp_path / "d")
    run = lambda *a, **kw: CliRunner().invoke(cli, [*a, "--config", str(config)], **kw)  # noqa: E731
    assert run("users", "add", "bo", "--role", "viewer", "--password-stdin", input=PASSWORD + "\n").exit_code == 2
    short = run("users", "add", "bo", "--role", "viewer", "--clinic", "riverside", "--password-stdin", input="short\n")
    assert short.exit_code == 2 and "at least 12 characters" in short.output
    ok = run("users", "add", "bo", "--role", "viewer", "--clinic", "riverside", "--password-stdin",
             input=PASSWORD + "\n")  # fmt: skip
    assert ok.exit_code == 0
    assert run("users", "add", "bo", "--role", "viewer", "--clinic", "riverside", "--password-stdin",
               input=PASSWORD + "\n").exit_code == 1  # fmt: skip
    (user,) = json.loads(run("users", "list", "--json").output)
    assert user["username"] == "bo" and user["clinics"] == ["riverside"] and "password_hash" not in user
    assert run("users", "disable", "bo").exit_code == 0
    assert json.loads(run("users", "list", "--json").output)[0]["disabled"] is True
    assert run("users", "disable", "bo", "--enable").exit_code == 0
    assert run("users", "reset-password", "bo", "--password-stdin", input="another long password\n").exit_code == 0
    assert run("users", "reset-password", "nobody", "--password-stdin", input=PASSWORD + "\n").exit_code == 1
    assert run("tokens", "create", "--scope", "intake").exit_code == 2  # an intake token needs its clinic
    created = run("tokens", "create", "--scope", "read", "--clinic", "riverside", "--expires", "30")
    token = created.stdout.strip()
    assert token.startswith("gw_") and len(token) > 40
    (listed,) = json.loads(run("tokens", "list", "--json").output)
    assert listed["scope"] == "read" and listed["expires_at"] > time.time() + 29 * 86400
    assert token.split("_")[2] not in json.dumps(listed)  # the secret is never stored or shown again
    assert run("tokens", "revoke", str(listed["id"])).exit_code == 0
    assert run("tokens", "revoke", str(listed["id"])).exit_code == 1
    from gateway.store import SQLiteStore
    from gateway.store.users import Accounts

    store = SQLiteStore(config.parent / "state" / "gateway.sqlite")
    try:
        actions = [r.action for r in Accounts(store).audit_rows(limit=20)]
    finally:
        store.close()
    for a in ("user-added", "user-disabled", "user-enabled", "password-reset", "token-created", "token-revoked"):
        assert a in actions
    assert os.stat(config.parent / "state" / "gateway.sqlite").st_mode & 0o077 == 0
