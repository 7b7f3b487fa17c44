"""SMTP transport: statement PDFs e-mailed to patients.

A destination ``transport: smtp`` sends each document as one e-mail: the
recipient is ``doc.headers["to"]`` (set by the statement renderer when the
guarantor's address is known), the subject and plain-text body come from the
clinic's wording (``subject``/``body`` headers) and the document is attached.
From and Reply-To are per destination, optionally per clinic.

Security: STARTTLS (default, port 587) or implicit TLS (port 465) with the
system's CA store or ``ca_file``; plain SMTP only to a loopback host. The
password is a secret reference. Errors and receipts never hold the
recipient's address or the body.

Idempotency: the Message-ID is derived from the statement (``message-key``
header), so a resend carries the same Message-ID and a mail client or the
practice's archive recognises it. A transport does not send the same
Message-ID twice in its lifetime, and with ``sent_ledger`` (a folder) not
across runs either; a crash between the server's "250 OK" and the ledger
write can still send once more, with the same Message-ID.
"""

from __future__ import annotations

import contextlib
import hashlib
import smtplib
import socket
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Any, Literal

from gateway_plugins.transports.folder import write_atomically
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.config import SecretRef, resolve_secret
from gateway.documents import Document
from gateway.hookspecs import hookimpl
from gateway.transport import BaseTransport, Receipt, TransportError, is_loopback

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
DEFAULT_BODY = "Please find your document attached.\n"


class Sender(BaseModel):
    """From / Reply-To of one clinic's mail."""

    model_config = ConfigDict(extra="forbid")
    from_address: str
    reply_to: str | None = None


class SmtpSettings(BaseModel):
    """Options of a destination with ``transport: smtp``."""

    model_config = ConfigDict(extra="forbid")
    host: str
    port: int | None = Field(None, ge=1, le=65535)
    #: starttls (submission, 587), tls (implicit TLS, 465) or none (loopback relay only)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretRef | None = None
    from_address: str
    reply_to: str | None = None
    #: per-clinic From/Reply-To, by clinic id
    clinics: dict[str, Sender] = Field(default_factory=dict)
    #: right-hand side of Message-IDs; default: the From address's domain
    message_id_domain: str | None = None
    #: PEM CA bundle to trust instead of the system store (relative to gateway.yaml)
    ca_file: Path | None = None
    timeout_s: float = Field(30.0, gt=0, le=300)
    #: folder recording sent Message-IDs so a rerun does not send again
    sent_ledger: Path | None = None

    @model_validator(mode="after")
    def _check(self) -> SmtpSettings:
        if self.security == "none" and not is_loopback(self.host):
            raise ValueError("security 'none' (plain text) is only allowed to a loopback host; use starttls or tls")
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        for address in [self.from_address, *(s.from_address for s in self.clinics.values())]:
            if "@" not in parseaddr(address)[1]:
                raise ValueError(f"'{address}' is not an e-mail address")
        return self


def message_id(doc: Document, domain: str) -> str:
    """Deterministic Message-ID: the same statement always gets the same one."""
    key = doc.headers.get("message-key") or f"{doc.clinic_id}|{doc.name}"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def build_message(doc: Document, sender: Sender, msg_id: str) -> EmailMessage:
    """The e-mail for one document: plain-text body and the document attached."""
    msg = EmailMessage()
    msg["From"] = sender.from_address
    msg["To"] = doc.headers["to"]
    if sender.reply_to:
        msg["Reply-To"] = sender.reply_to
    msg["Subject"] = doc.headers.get("subject", "Your document")
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = msg_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(doc.headers.get("body") or DEFAULT_BODY)
    maintype, _, subtype = doc.media_type.partition("/")
    msg.add_attachment(
        doc.content,
        maintype=maintype,
        subtype=subtype or "octet-stream",
        filename=doc.headers.get("filename", doc.name),
    )
    return msg


def classify(exc: BaseException) -> TransportError:
    """A TransportError saying what failed and whether a retry can help
    (no addresses or message text from the server, which may echo them)."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return TransportError(
            f"SMTP authentication failed ({exc.smtp_code}); check username and password", retryable=False
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return TransportError("SMTP server does not support a required extension (STARTTLS or AUTH)", retryable=False)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        temporary = all(400 <= c < 500 for c in codes)
        return TransportError(f"SMTP server refused the recipient ({', '.join(map(str, codes))})", retryable=temporary)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransportError("SMTP server closed the connection")
    if isinstance(exc, smtplib.SMTPResponseException):
        return TransportError(f"SMTP server answered {exc.smtp_code}", retryable=400 <= exc.smtp_code < 500)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TransportError("SMTP server certificate is not trusted (check ca_file)", retryable=False)
    if isinstance(exc, ssl.SSLError):
        return TransportError(f"TLS error talking to the SMTP server ({exc.reason})")
    if isinstance(exc, ConnectionRefusedError):
        return TransportError("SMTP server refused the connection")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return TransportError("SMTP server timed out")
    if isinstance(exc, OSError):
        return TransportError(f"cannot reach the SMTP server ({exc.strerror or type(exc).__name__})")
    return TransportError(f"SMTP delivery failed ({type(exc).__name__})")


class SmtpTransport(BaseTransport):
    """Sends documents over one SMTP connection, opened on first use."""

    def __init__(self, settings: SmtpSettings, password: str | None, ca_file: Path | None, ledger: Path | None):
        self.settings = settings
        self.password = password
        self.ca_file = ca_file
        self.ledger = ledger
        self.port = settings.port or DEFAULT_PORTS[settings.security]
        self.domain = settings.message_id_domain or parseaddr(settings.from_address)[1].rpartition("@")[2]
        self._conn: smtplib.SMTP | None = None
        self._sent: set[str] = set()
        self.closed = False

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "tls":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(s.host, self.port, timeout=s.timeout_s, context=self._tls())
        else:
            conn = smtplib.SMTP(s.host, self.port, timeout=s.timeout_s)
        try:
            conn.ehlo()
            if s.security == "starttls":
                conn.starttls(context=self._tls())
                conn.ehlo()
            if s.username and self.password is not None:
                conn.login(s.username, self.password)
        except BaseException:
            conn.close()
            raise
        return conn

    def _marker(self, msg_id: str) -> Path | None:
        return self.ledger / f"{msg_id.strip('<>').partition('@')[0]}.sent" if self.ledger else None

    def sender(self, clinic_id: str) -> Sender:
        s = self.settings
        return s.clinics.get(clinic_id) or Sender(from_address=s.from_address, reply_to=s.reply_to)

    def deliver(self, doc: Document) -> Receipt:
        if self.closed:
            raise TransportError("SMTP transport is closed", retryable=False)
        if not doc.headers.get("to"):
            reason = doc.headers.get("hold") or "document has no e-mail recipient (headers['to'])"
            raise TransportError(reason, retryable=False)
        msg_id = message_id(doc, self.domain)
        location = f"smtp://{self.settings.host}/{msg_id.strip('<>')}"
        marker = self._marker(msg_id)
        if msg_id in self._sent or (marker is not None and marker.exists()):
            return Receipt(location=location, already_present=True)
        msg = build_message(doc, self.sender(doc.clinic_id), msg_id)
        try:
            self._send(msg)
        except TransportError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise classify(exc) from None
        self._sent.add(msg_id)
        if marker is not None:
            # the mail is sent: a ledger that cannot be written only means a
            # rerun may send it again (with the same Message-ID), so no error
            with contextlib.suppress(OSError):
                marker.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                write_atomically(marker, f"{doc.sha256}\n".encode())
        return Receipt(location=location)

    def _send(self, msg: EmailMessage) -> None:
        if self._conn is None:
            self._conn = self._connect()
        try:
            self._conn.send_message(msg)
        except smtplib.SMTPServerDisconnected:
            # an idle connection the server dropped: reconnect once
            self._conn = self._connect()
            self._conn.send_message(msg)

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._conn.quit()
            self._drop()
        self.closed = True


def smtp_transport(settings: SmtpSettings, base_dir: Path) -> SmtpTransport:
    """Build the transport; the password secret is read here (ConfigError if missing)."""
    password = resolve_secret(settings.password, base_dir) if settings.password else None
    ca_file = base_dir / settings.ca_file if settings.ca_file else None
    ledger = base_dir / settings.sent_ledger if settings.sent_ledger else None
    return SmtpTransport(settings, password, ca_file, ledger)


@hookimpl
def gateway_register_transports(register: Callable[[str, Callable[..., Any], type[BaseModel]], None]) -> None:
    register("smtp", smtp_transport, SmtpSettings)
