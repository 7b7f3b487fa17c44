"""SFTP transport (paramiko): claim files to a clearinghouse, responses back.

Security: the server's host key must be in the destination's ``known_hosts``
file (OpenSSH format; ``[host]:port`` for other ports). An unknown or changed
host key is refused with a non-retryable error and is never added: verify
the fingerprint with the clearinghouse out of band, then add the line (e.g.
from ``ssh-keyscan -p PORT HOST``). Authentication is by private key
(``private_key``, optional ``private_key_passphrase`` secret), with a
``password`` secret reference as fallback. Agents and ``~/.ssh`` keys are
never consulted.

Delivery of a document named N to ``remote_path``:

1. if ``remote_path/N`` exists with the document's size, it counts as
   delivered (idempotent after a crash between upload and bookkeeping);
   another size is refused, not retryable (two documents collided);
2. upload to ``remote_path/.N.part``, check the uploaded size, then rename
   into place (``posix-rename@openssh.com`` when offered): a clearinghouse
   never picks up half a file.

One SSH connection serves every document of a dispatcher pass; a connection
that dropped is reopened once. Errors say what failed (host, not the file's
content); connection problems are retryable, host key and authentication
problems are not.

Responses (999, 277CA, 835): with ``responses_path`` the dispatcher lists
that folder every ``delivery.responses_poll_s`` and journals each new file
raw; ``responses_after: delete`` removes it from the server once stored.
"""

from __future__ import annotations

import contextlib
import errno
import posixpath
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.config import SecretRef, resolve_secret
from gateway.documents import Document
from gateway.hookspecs import hookimpl
from gateway.transport import BaseTransport, Receipt, TransportError

if TYPE_CHECKING:  # paramiko (and cryptography) load on the first connection, not at registration
    import paramiko


class SftpSettings(BaseModel):
    """Options of a destination with ``transport: sftp``."""

    model_config = ConfigDict(extra="forbid")
    host: str
    port: int = Field(22, ge=1, le=65535)
    username: str
    #: OpenSSH known_hosts file holding the server's key (relative to gateway.yaml); required
    known_hosts: Path
    #: private key file (OpenSSH/PEM; relative to gateway.yaml)
    private_key: Path | None = None
    private_key_passphrase: SecretRef | None = None
    #: fallback when no key is configured or the server refuses the key
    password: SecretRef | None = None
    #: folder on the server for uploads
    remote_path: str = "."
    #: folder on the server where the clearinghouse leaves 999/277CA/835 files
    responses_path: str | None = None
    responses_after: Literal["keep", "delete"] = "keep"
    connect_timeout_s: float = Field(15.0, gt=0, le=300)
    #: seconds one SFTP operation (a write, a rename) may take
    operation_timeout_s: float = Field(60.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _check(self) -> SftpSettings:
        if self.private_key is None and self.password is None:
            raise ValueError("give private_key (preferred) or password (a secret reference)")
        return self


class _Refuse:
    """Never accept a host key that is not in known_hosts (a paramiko
    ``MissingHostKeyPolicy``: paramiko calls ``missing_host_key``)."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise _UnknownHostKey(hostname, key)


class _UnknownHostKey(Exception):
    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        super().__init__(hostname)
        self.hostname, self.key = hostname, key


def _fingerprint(key: paramiko.PKey) -> str:
    return key.fingerprint  # "SHA256:…"


class SftpTransport(BaseTransport):
    """Uploads documents over one SSH connection, opened on first use."""

    def __init__(
        self, settings: SftpSettings, known_hosts: Path, pkey: paramiko.PKey | None, password: str | None
    ) -> None:
        self.settings = settings
        self.known_hosts = known_hosts
        self.pkey = pkey
        self.password = password
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self.closed = False
        self.connections = 0

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    # -- connection ----------------------------------------------------------
    def _connect(self) -> paramiko.SFTPClient:
        s = self.settings
        import paramiko

        client = paramiko.SSHClient()
        try:
            client.load_host_keys(str(self.known_hosts))
        except OSError as exc:
            raise TransportError(
                f"cannot read known_hosts {self.known_hosts} ({exc.strerror}); the host key must be pinned there",
                retryable=False,
            ) from None
        client.set_missing_host_key_policy(_Refuse())
        try:
            client.connect(
                s.host, s.port, username=s.username, pkey=self.pkey,
                password=self.password if self.password is not None else None,
                timeout=s.connect_timeout_s, banner_timeout=s.connect_timeout_s, auth_timeout=s.connect_timeout_s,
                allow_agent=False, look_for_keys=False,
            )  # fmt: skip
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(s.operation_timeout_s)  # type: ignore[union-attr]
        except BaseException as exc:
            client.close()
            raise self._classify(exc) from None
        self._client, self._sftp = client, sftp
        self.connections += 1
        return sftp

    def _classify(self, exc: BaseException) -> TransportError:
        import paramiko

        if isinstance(exc, TransportError):
            return exc
        if isinstance(exc, _UnknownHostKey):
            return TransportError(
                f"host key of {self.where} is not in {self.known_hosts} (offered {exc.key.get_name()} "
                f"{_fingerprint(exc.key)}); refusing to connect. Verify the fingerprint with the clearinghouse "
                "and add it to known_hosts — it is never added automatically",
                retryable=False,
            )
        if isinstance(exc, paramiko.BadHostKeyException):
            return TransportError(
                f"host key of {self.where} CHANGED: known_hosts has {_fingerprint(exc.expected_key)}, the server "
                f"offered {_fingerprint(exc.key)}; refusing to connect (possible interception, or a rotated key "
                "to verify with the clearinghouse)",
                retryable=False,
            )
        if isinstance(exc, paramiko.AuthenticationException):
            return TransportError(f"SFTP authentication to {self.where} failed; check the key or password",
                                  retryable=False)  # fmt: skip
        if isinstance(exc, paramiko.PasswordRequiredException):
            return TransportError("the SFTP private key is encrypted: set private_key_passphrase", retryable=False)
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return TransportError(f"SFTP server {self.where} timed out")
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError | ConnectionRefusedError):
            return TransportError(f"SFTP server {self.where} refused the connection")
        if isinstance(exc, (paramiko.SSHException, EOFError)):
            return TransportError(f"SSH connection to {self.where} failed ({type(exc).__name__})")
        if isinstance(exc, OSError):
            reason = exc.strerror or type(exc).__name__
            if exc.errno in (errno.EACCES, errno.EPERM):
                return TransportError(f"SFTP server {self.where} denied access ({reason})", retryable=False)
            return TransportError(f"SFTP to {self.where} failed ({reason})")
        return TransportError(f"SFTP to {self.where} failed ({type(exc).__name__})")

    def _session(self) -> paramiko.SFTPClient:
        if self.closed:
            raise TransportError("SFTP transport is closed", retryable=False)
        if self._sftp is None or not self._alive():
            self._drop()
            return self._connect()
        return self._sftp

    def _drop(self) -> None:
        with contextlib.suppress(Exception):
            if self._sftp is not None:
                self._sftp.close()
        with contextlib.suppress(Exception):
            if self._client is not None:
                self._client.close()
        self._sftp = self._client = None

    def _alive(self) -> bool:
        transport = self._client.get_transport() if self._client else None
        return transport is not None and transport.is_active()

    def _with_session(self, fn: Callable[[paramiko.SFTPClient], Any]) -> Any:
        """Run ``fn`` on the session; a reused connection found dead is reopened once."""
        reused = self._sftp is not None
        try:
            return fn(self._session())
        except TransportError:
            raise
        except BaseException as exc:
            if self._alive():  # an error of the operation (permission, no such folder): the session is fine
                raise self._classify(exc) from None
            self._drop()
            if not reused:
                raise self._classify(exc) from None
        try:
            return fn(self._session())
        except TransportError:
            raise
        except BaseException as exc:
            if not self._alive():
                self._drop()
            raise self._classify(exc) from None

    # -- delivery ------------------------------------------------------------
    def _target(self, name: str) -> str:
        return posixpath.join(self.settings.remote_path, name)

    def deliver(self, doc: Document) -> Receipt:
        if self.closed:
            raise TransportError("SFTP transport is closed", retryable=False)
        if "/" in doc.name or doc.name.startswith(".") or not doc.name:
            raise TransportError(f"refusing document name '{doc.name}'", retryable=False)
        target = self._target(doc.name)
        location = f"sftp://{self.settings.username}@{self.where}{'' if target.startswith('/') else '/'}{target}"
        present = self._with_session(lambda sftp: self._upload(sftp, doc, target))
        return Receipt(location=location, already_present=present)

    def _upload(self, sftp: paramiko.SFTPClient, doc: Document, target: str) -> bool:
        size = len(doc.content)
        existing = _size(sftp, target)
        if existing is not None:
            if existing == size:
                return True
            raise TransportError(
                f"{doc.name} already exists on {self.where} with a different size; not overwritten", retryable=False
            )
        tmp = self._target(f".{doc.name}.part")
        with sftp.open(tmp, "wb") as fh:
            fh.set_pipelined(True)
            fh.write(doc.content)
        uploaded = _size(sftp, tmp)
        if uploaded != size:
            with contextlib.suppress(OSError):
                sftp.remove(tmp)
            raise TransportError(f"upload to {self.where} came out at {uploaded} of {size} bytes")
        try:
            sftp.posix_rename(tmp, target)
        except OSError:
            sftp.rename(tmp, target)  # servers without the OpenSSH extension
        return False

    # -- responses -------------------------------------------------------
    def fetch_responses(self, known: Callable[[str, int], bool]) -> Iterator[tuple[str, bytes]]:
        """Each regular file of ``responses_path`` not ``known`` (by name and
        size): ``(name, bytes)``. Temporary and hidden names are skipped."""
        folder = self.settings.responses_path
        if folder is None:
            return
        entries = self._with_session(lambda sftp: sftp.listdir_attr(folder))
        for entry in sorted(entries, key=lambda e: e.filename):
            name = entry.filename
            if name.startswith(".") or name.endswith((".part", ".tmp")) or not stat.S_ISREG(entry.st_mode or 0):
                continue
            if known(name, int(entry.st_size or 0)):
                continue
            path = posixpath.join(folder, name)
            yield name, self._with_session(lambda sftp, p=path: _read(sftp, p))

    def response_stored(self, name: str) -> None:
        """The journal holds ``name``: delete it on the server when configured."""
        if self.settings.responses_after == "delete" and self.settings.responses_path is not None:
            path = posixpath.join(self.settings.responses_path, name)
            self._with_session(lambda sftp: sftp.remove(path))

    def close(self) -> None:
        self._drop()
        self.closed = True


def _size(sftp: paramiko.SFTPClient, path: str) -> int | None:
    try:
        return int(sftp.stat(path).st_size or 0)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise


def _read(sftp: paramiko.SFTPClient, path: str) -> bytes:
    with sftp.open(path, "rb") as fh:
        fh.prefetch()
        return fh.read()


def load_key(path: Path, passphrase: str | None) -> paramiko.PKey:
    """A private key of any type paramiko reads (ed25519, ECDSA, RSA)."""
    import paramiko

    try:
        return paramiko.PKey.from_path(path, password=passphrase)
    except paramiko.PasswordRequiredException:
        raise TransportError("the SFTP private key is encrypted: set private_key_passphrase", retryable=False) from None
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise TransportError(
            f"cannot load SFTP private key {path.name} ({type(exc).__name__})", retryable=False
        ) from None


def sftp_transport(settings: SftpSettings, base_dir: Path) -> SftpTransport:
    """Build the transport; secrets and the key are read here."""
    passphrase = resolve_secret(settings.private_key_passphrase, base_dir) if settings.private_key_passphrase else None
    pkey = load_key(base_dir / settings.private_key, passphrase) if settings.private_key else None
    password = resolve_secret(settings.password, base_dir) if settings.password else None
    return SftpTransport(settings, base_dir / settings.known_hosts, pkey, password)


@hookimpl
def gateway_register_transports(register: Callable[[str, Callable[..., Any], type[BaseModel]], None]) -> None:
    register("sftp", sftp_transport, SftpSettings)
