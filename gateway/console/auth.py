"""Who is asking: console users (argon2 passwords, signed session cookies),
API bearer tokens, roles, clinic scopes and login throttling.

* Passwords are argon2id hashes (argon2-cffi defaults); an unknown user name
  costs the same verification as a known one.
* A session cookie is ``<random id>.<HMAC-SHA256(secret, id)>``: forged or
  altered cookies are refused before the store is asked; the store keeps only
  SHA-256(id), the CSRF token, and the times that bound the session (idle and
  absolute timeouts).
* A bearer token is ``gw_<prefix>_<secret>``; the store keeps SHA-256(secret).
  Scopes: ``read`` (GET API), ``operate`` (read plus reprocess/retry/reload),
  ``intake`` (``POST /fhir`` for one clinic, nothing else).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gateway.config import ConsoleConfig, LoadedConfig, resolve_secret
from gateway.store.users import ALL_CLINICS, Accounts, Token, User
from gateway.store.views import Scope

ROLE_RANK = {"viewer": 0, "operator": 1, "admin": 2}
#: what a token scope may do, as the role it acts with
SCOPE_ROLE = {"read": "viewer", "operate": "operator", "intake": "intake"}
COOKIE = "__Host-gw_session"
LOGIN_COOKIE = "__Host-gw_login"

_hasher = PasswordHasher()
_DUMMY = _hasher.hash("not a password anyone has")


def hash_password(password: str) -> str:
    if len(password) < 12:
        raise ValueError("a password needs at least 12 characters")
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Constant work whether or not the user exists."""
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str  # "alice" or "token:<prefix>"
    role: str  # viewer | operator | admin | intake
    scope: Scope
    kind: str  # "session" | "token"
    csrf: str | None = None
    session: str | None = None  # SHA-256 of the session id
    clinic_id: str | None = None  # an intake token's clinic
    sender: str | None = None  # a token's name (the intake source's sender label)

    def at_least(self, role: str) -> bool:
        return self.role in ROLE_RANK and ROLE_RANK[self.role] >= ROLE_RANK[role]

    @property
    def sees_phi(self) -> bool:
        return self.at_least("operator")


def user_scope(user: User) -> Scope:
    clinics = None if ALL_CLINICS in user.clinics else frozenset(user.clinics)
    return Scope(clinics, unrouted=user.role == "admin")


def session_secret(settings: ConsoleConfig, loaded: LoadedConfig) -> bytes:
    """The configured secret, else ``<state_dir>/console-secret`` (made 0600 once)."""
    if settings.session_secret:
        return resolve_secret(settings.session_secret, loaded.base_dir).encode()
    path = loaded.state_dir / "console-secret"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return Path(path).read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_urlsafe(48).encode())
        f.flush()
        os.fsync(f.fileno())
    return Path(path).read_bytes().strip()


class Signer:
    """HMAC-SHA256 signatures of cookie values."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def _mac(self, value: str) -> str:
        mac = hmac.new(self.secret, value.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def sign(self, value: str) -> str:
        return f"{value}.{self._mac(value)}"

    def unsign(self, signed: str | None) -> str | None:
        if not signed or "." not in signed:
            return None
        value, _, mac = signed.rpartition(".")
        return value if hmac.compare_digest(mac, self._mac(value)) else None


class Throttle:
    """At most ``per_minute`` attempts per key in any 60 s window (in memory,
    per process; the per-user lockout in the store holds across nodes)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return False
            hits.append(now)
            if len(self._hits) > 10000:  # forget idle keys
                for k in [k for k, v in self._hits.items() if not v]:
                    del self._hits[k]
            return True


class Authenticator:
    """Sessions and tokens against the store's accounts."""

    def __init__(self, accounts: Accounts, settings: ConsoleConfig, signer: Signer) -> None:
        self.accounts, self.settings, self.signer = accounts, settings, signer
        self.throttle = Throttle(settings.login_rate_per_minute)

    # -- login -----------------------------------------------------------
    def login(self, username: str, password: str, ip: str | None) -> tuple[str, User] | None:
        """A new session cookie value and the user, or None (wrong, disabled or
        locked — the caller says the same thing in every case). Audited."""
        user = self.accounts.user(username)
        ok = verify_password(user.password_hash if user else None, password)
        now = time.time()
        if user is None:
            self.accounts.audit(f"login:{username[:64]}", "login-failed", {"reason": "unknown user"}, ip=ip)
            return None
        if user.disabled or (user.locked_until and user.locked_until > now):
            reason = "disabled" if user.disabled else "locked"
            self.accounts.audit(user.username, "login-failed", {"reason": reason}, ip=ip)
            return None
        if not ok:
            locked = self.accounts.login_failed(
                user.id, self.settings.login_max_failures, self.settings.login_lockout_minutes * 60
            )
            self.accounts.audit(user.username, "login-failed", {"reason": "password", "locked": locked}, ip=ip)
            return None
        self.accounts.login_succeeded(user.id)
        sid = secrets.token_urlsafe(32)
        self.accounts.create_session(digest(sid), user.id, secrets.token_urlsafe(32), ip)
        self.accounts.audit(user.username, "login", {}, ip=ip)
        return self.signer.sign(sid), user

    def session(self, cookie: str | None) -> Principal | None:
        """The principal of a session cookie that is genuine and unexpired."""
        sid = self.signer.unsign(cookie)
        if sid is None:
            return None
        key = digest(sid)
        sess = self.accounts.session(key)
        if sess is None:
            return None
        now = time.time()
        if (
            now - sess.last_seen > self.settings.session_idle_minutes * 60
            or now - sess.created_at > self.settings.session_max_hours * 3600
        ):
            self.accounts.end_session(key)
            return None
        user = self.accounts.user_by_id(sess.user_id)
        if user is None or user.disabled:
            return None
        if now - sess.last_seen > 30:
            self.accounts.touch_session(key)
        return Principal(user.username, user.role, user_scope(user), "session", sess.csrf, key)

    def logout(self, principal: Principal, ip: str | None) -> None:
        if principal.session:
            self.accounts.end_session(principal.session)
            self.accounts.audit(principal.name, "logout", {}, ip=ip)

    # -- tokens ------------------------------------------------------------
    def token(self, header: str | None) -> Principal | None:
        """The principal of ``Authorization: Bearer gw_<prefix>_<secret>``."""
        if not header or not header.startswith("Bearer "):
            return None
        parts = header[7:].strip().split("_")
        if len(parts) != 3 or parts[0] != "gw":
            return None
        tok = self.accounts.token(parts[1])
        if tok is None or not hmac.compare_digest(tok.secret_hash, digest(parts[2])):
            return None
        if tok.revoked_at or (tok.expires_at and tok.expires_at < time.time()):
            return None
        if not tok.last_used_at or time.time() - tok.last_used_at > 60:
            self.accounts.token_used(tok.id)
        return token_principal(tok)


def token_principal(tok: Token) -> Principal:
    scope = Scope(frozenset({tok.clinic_id}), False) if tok.clinic_id else Scope(None, True)
    return Principal(
        f"token:{tok.prefix}", SCOPE_ROLE[tok.scope], scope, "token", clinic_id=tok.clinic_id, sender=tok.name
    )


def new_token(
    accounts: Accounts, name: str, scope: str, clinic_id: str | None, created_by: str, expires_days: float | None
) -> tuple[str, int]:
    """Create a token; returns the full token text (shown once) and its id."""
    if scope == "intake" and not clinic_id:
        raise ValueError("an intake token belongs to one clinic: give --clinic")
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32).replace("_", "-")
    expires = time.time() + expires_days * 86400 if expires_days else None
    tid = accounts.add_token(prefix, digest(secret), name, scope, clinic_id, created_by, expires)
    return f"gw_{prefix}_{secret}", tid
