"""SMTP transport against a real SMTP server (aiosmtpd) on loopback:
plain relay, STARTTLS with a self-signed certificate and AUTH, and the
shared transport contract."""

from __future__ import annotations

import email
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from gateway_plugins.transports.smtp import SmtpSettings, message_id, smtp_transport

from gateway.config import ConfigError
from gateway.documents import Document
from gateway.transport import Transport, TransportError
from tests.conftest import free_port
from tests.transport_contract import TransportContract

USER, PASSWORD = "gateway", "correct horse battery"


class Inbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        msg = email.message_from_bytes(envelope.content, policy=default)
        self.messages.append((list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def plain_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    yield inbox, port
    controller.stop()


def settings(port: int, **extra: object) -> SmtpSettings:
    data = {"host": "127.0.0.1", "port": port, "security": "none", "from_address": "Billing <billing@example.com>"}
    return SmtpSettings.model_validate(data | extra)


def statement_doc(n: int = 1, **headers: str) -> Document:
    return Document(
        name=f"riverside-statement-20261127-{n:012d}.pdf",
        content=b"%PDF-1.4 fake statement " + str(n).encode(),
        media_type="application/pdf",
        kind="statements",
        clinic_id="riverside",
        refs=(f"SV{n}",),
        headers={
            "to": "guarantor@example.net",
            "subject": "Your statement from Riverside Family Practice",
            "body": "Hello,\nyour statement is attached.\n",
            "message-key": f"riverside.SV{n}.20261127",
            "filename": "statement-2026-11-27.pdf",
        }
        | headers,
    )


class TestSmtpContract(TransportContract):
    @pytest.fixture(autouse=True)
    def _server(self, plain_server: tuple[Inbox, int], tmp_path: Path) -> None:
        self.inbox, self.port = plain_server
        self.base = tmp_path

    def make_transport(self) -> Transport:
        return smtp_transport(settings(self.port), self.base)

    def make_broken_transport(self) -> Transport:
        return smtp_transport(settings(free_port()), self.base)  # nothing listens: connection refused

    def copies(self, doc: Document) -> int:
        return sum(
            msg["Subject"] == doc.headers["subject"] and doc.headers["to"] in to for to, msg in self.inbox.messages
        )


def test_statement_mail_with_pdf_attachment(plain_server: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, port = plain_server
    s = settings(port, reply_to="questions@example.com", clinics={"lakeside": {"from_address": "lake@example.org"}})
    doc = statement_doc()
    with smtp_transport(s, tmp_path) as t:
        receipt = t.deliver(doc)
    ((rcpts, msg),) = inbox.messages
    assert rcpts == ["guarantor@example.net"]
    assert msg["From"] == "Billing <billing@example.com>" and msg["Reply-To"] == "questions@example.com"
    assert msg["Message-ID"] == message_id(doc, "example.com") and msg["Message-ID"].strip("<>") in receipt.location
    assert "guarantor@example.net" not in receipt.location
    body = msg.get_body(preferencelist=("plain",)).get_content()
    assert body.replace("\r\n", "\n") == doc.headers["body"]
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "statement-2026-11-27.pdf"
    assert attachment.get_content() == doc.content


def test_per_clinic_sender(plain_server: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, port = plain_server
    s = settings(port, clinics={"lakeside": {"from_address": "lake@example.org", "reply_to": "desk@example.org"}})
    doc = Document(**{**statement_doc().__dict__, "clinic_id": "lakeside"})
    with smtp_transport(s, tmp_path) as t:
        t.deliver(doc)
    msg = inbox.messages[0][1]
    assert msg["From"] == "lake@example.org" and msg["Reply-To"] == "desk@example.org"


def test_message_id_is_stable_across_transports_and_a_ledger_prevents_resending(
    plain_server: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = plain_server
    s = settings(port, sent_ledger="state/smtp-sent")
    with smtp_transport(s, tmp_path) as t:
        t.deliver(statement_doc())
    with smtp_transport(s, tmp_path) as t:
        again = t.deliver(statement_doc())
    assert again.already_present and len(inbox.messages) == 1
    # without a ledger a new transport resends, with the same Message-ID: recognisable as a resend
    with smtp_transport(settings(port), tmp_path) as t:
        t.deliver(statement_doc())
    ids = [m["Message-ID"] for _, m in inbox.messages]
    assert len(ids) == 2 and ids[0] == ids[1]
    assert message_id(statement_doc(2), "x") != message_id(statement_doc(1), "x")


def test_starttls_and_auth_with_password_from_a_secret(
    tls_server: tuple[Inbox, int], certificate: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, port = tls_server
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    s = SmtpSettings(
        host="127.0.0.1",
        port=port,
        security="starttls",
        username=USER,
        password="env:TEST_SMTP_PASSWORD",
        from_address="billing@example.com",
        ca_file=certificate[0],
    )
    with smtp_transport(s, tmp_path) as t:
        t.deliver(statement_doc(1))
        t.deliver(statement_doc(2))  # same connection
    assert len(inbox.messages) == 2


def test_wrong_password_is_not_retryable(
    tls_server: tuple[Inbox, int], certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    _, port = tls_server
    (tmp_path / "pw").write_text("wrong\n")
    s = SmtpSettings(
        host="127.0.0.1",
        port=port,
        username=USER,
        password="file:pw",
        from_address="billing@example.com",
        ca_file=certificate[0],
    )
    with smtp_transport(s, tmp_path) as t, pytest.raises(TransportError) as exc:
        t.deliver(statement_doc())
    assert exc.value.retryable is False and "authentication" in str(exc.value)
    assert "wrong" not in str(exc.value)


def test_untrusted_certificate_is_not_retryable(tls_server: tuple[Inbox, int], tmp_path: Path) -> None:
    _, port = tls_server
    s = SmtpSettings(host="127.0.0.1", port=port, from_address="billing@example.com")  # system CAs only
    with smtp_transport(s, tmp_path) as t, pytest.raises(TransportError) as exc:
        t.deliver(statement_doc())
    assert exc.value.retryable is False and "certificate" in str(exc.value)


def test_document_without_recipient_is_refused_with_its_hold_reason(tmp_path: Path) -> None:
    doc = statement_doc()
    headers = {k: v for k, v in doc.headers.items() if k != "to"} | {"hold": "not e-mailed: no password"}
    with smtp_transport(settings(free_port()), tmp_path) as t, pytest.raises(TransportError) as exc:
        t.deliver(Document(**{**doc.__dict__, "headers": headers}))
    assert exc.value.retryable is False and "no password" in str(exc.value)


def test_settings_refuse_plain_text_to_a_remote_host_and_half_credentials() -> None:
    with pytest.raises(ValueError, match="loopback"):
        SmtpSettings(host="smtp.example.com", security="none", from_address="a@example.com")
    with pytest.raises(ValueError, match="both username and password"):
        SmtpSettings(host="smtp.example.com", username="u", from_address="a@example.com")
    with pytest.raises(ValueError, match="secret reference"):
        SmtpSettings(host="smtp.example.com", username="u", password="hunter2", from_address="a@example.com")
    assert SmtpSettings(host="smtp.example.com", from_address="a@example.com").security == "starttls"


def test_missing_secret_is_a_config_error(tmp_path: Path) -> None:
    s = SmtpSettings(host="127.0.0.1", username="u", password="env:NO_SUCH_SMTP_SECRET_SET", from_address="a@b.com")
    with pytest.raises(ConfigError, match="NO_SUCH_SMTP_SECRET_SET"):
        smtp_transport(s, tmp_path)
