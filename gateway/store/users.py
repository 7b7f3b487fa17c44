"""Console accounts: users, sessions, API tokens, settings and the audit trail's
review, export and retention (tables from migrations 11 and 12).

Like the outbox operations of the store, :class:`Accounts` runs the
shared SQL (``?`` placeholders, both dialects) on a store's ``read()`` /
``write()`` transactions. Secrets never reach the database: passwords are
argon2 hashes made by the caller, session ids and token secrets are stored
as SHA-256 digests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.store.sqlstore import SQLStore, to_json

ROLES = ("viewer", "operator", "admin")
#: the setting that holds the audit log's retention in days (none: kept forever)
AUDIT_RETENTION = "audit_retention_days"
SCOPES = ("read", "operate", "intake")
#: a user's clinic list holding this sees every clinic
ALL_CLINICS = "*"


@dataclass(frozen=True)
class User:
    id: int
    username: str
    password_hash: str
    role: str
    clinics: tuple[str, ...]
    disabled: bool
    failed_logins: int
    locked_until: float | None
    created_at: float
    last_login_at: float | None

    def public(self) -> dict[str, Any]:
        """What ``users list --json`` shows (no hash)."""
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role,
            "clinics": list(self.clinics),
            "disabled": self.disabled,
            "locked_until": self.locked_until,
            "last_login_at": self.last_login_at,
        }


@dataclass(frozen=True)
class Session:
    id_hash: str
    user_id: int
    csrf: str
    created_at: float
    last_seen: float


@dataclass(frozen=True)
class Token:
    id: int
    prefix: str
    secret_hash: str
    name: str
    scope: str
    clinic_id: str | None
    created_by: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None

    def public(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d.pop("secret_hash")
        return d


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: float
    actor: str
    action: str
    message_id: int | None
    clinic_id: str | None
    ip: str | None
    detail: dict[str, Any]


_USER = "id, username, password_hash, role, clinics, disabled, failed_logins, locked_until, created_at, last_login_at"
_TOKEN = "id, prefix, secret_hash, name, scope, clinic_id, created_by, created_at, expires_at, revoked_at, last_used_at"
_AUDIT = "id, at, actor, action, message_id, clinic_id, ip, detail"


def _user(r: Any) -> User:
    return User(r[0], r[1], r[2], r[3], tuple(json.loads(r[4])), bool(r[5]), int(r[6]), r[7], r[8], r[9])


def _audit(r: Any) -> AuditRow:
    return AuditRow(int(r[0]), float(r[1]), r[2], r[3], r[4], r[5], r[6], json.loads(r[7] or "{}"))


class Accounts:
    """Users, sessions, tokens, settings and audit over one store."""

    def __init__(self, store: SQLStore) -> None:
        self.store = store

    # -- users -------------------------------------------------------------
    def add_user(self, username: str, password_hash: str, role: str, clinics: list[str]) -> int:
        """A new user (ValueError when the name is taken or the role unknown)."""
        if role not in ROLES:
            raise ValueError(f"unknown role '{role}' (roles: {', '.join(ROLES)})")
        now = time.time()
        with self.store.write() as cur:
            cur.execute(
                "INSERT INTO console_users (username, password_hash, role, clinics, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (username) DO NOTHING RETURNING id",
                (username, password_hash, role, to_json(sorted(set(clinics))), now, now),
            )
            row = cur.fetchone()
            if row is None:
                raise ValueError(f"user '{username}' exists")
            return int(row[0])

    def user(self, username: str) -> User | None:
        with self.store.read() as cur:
            cur.execute(f"SELECT {_USER} FROM console_users WHERE username = ?", (username,))
            r = cur.fetchone()
        return _user(r) if r else None

    def user_by_id(self, user_id: int) -> User | None:
        with self.store.read() as cur:
            cur.execute(f"SELECT {_USER} FROM console_users WHERE id = ?", (user_id,))
            r = cur.fetchone()
        return _user(r) if r else None

    def users(self) -> list[User]:
        with self.store.read() as cur:
            cur.execute(f"SELECT {_USER} FROM console_users ORDER BY username")
            return [_user(r) for r in cur.fetchall()]

    def set_disabled(self, username: str, disabled: bool) -> bool:
        """Disable (or enable) a user; disabling ends their sessions."""
        with self.store.write() as cur:
            cur.execute(
                "UPDATE console_users SET disabled = ?, updated_at = ? WHERE username = ? RETURNING id",
                (1 if disabled else 0, time.time(), username),
            )
            row = cur.fetchone()
            if row and disabled:
                cur.execute("DELETE FROM console_sessions WHERE user_id = ?", (row[0],))
        return row is not None

    def set_password(self, username: str, password_hash: str) -> bool:
        """New password: the lock and failure count are cleared, sessions end."""
        with self.store.write() as cur:
            cur.execute(
                "UPDATE console_users SET password_hash = ?, failed_logins = 0, locked_until = NULL, updated_at = ? "
                "WHERE username = ? RETURNING id",
                (password_hash, time.time(), username),
            )
            row = cur.fetchone()
            if row:
                cur.execute("DELETE FROM console_sessions WHERE user_id = ?", (row[0],))
        return row is not None

    def login_failed(self, user_id: int, max_failures: int, lockout: float) -> bool:
        """Count a failed login; lock the user for ``lockout`` s at ``max_failures``.
        True when the user is now locked."""
        now = time.time()
        with self.store.write() as cur:
            cur.execute(
                "UPDATE console_users SET failed_logins = failed_logins + 1 WHERE id = ? RETURNING failed_logins",
                (user_id,),
            )
            (n,) = cur.fetchone()
            if n >= max_failures:
                cur.execute(
                    "UPDATE console_users SET locked_until = ?, failed_logins = 0 WHERE id = ?",
                    (now + lockout, user_id),
                )
                return True
        return False

    def login_succeeded(self, user_id: int) -> None:
        with self.store.write() as cur:
            cur.execute(
                "UPDATE console_users SET failed_logins = 0, locked_until = NULL, last_login_at = ? WHERE id = ?",
                (time.time(), user_id),
            )

    # -- sessions ----------------------------------------------------------
    def create_session(self, id_hash: str, user_id: int, csrf: str, ip: str | None) -> None:
        now = time.time()
        with self.store.write() as cur:
            cur.execute(
                "INSERT INTO console_sessions (id_hash, user_id, csrf, created_at, last_seen, ip) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (id_hash, user_id, csrf, now, now, ip),
            )

    def session(self, id_hash: str) -> Session | None:
        with self.store.read() as cur:
            cur.execute(
                "SELECT id_hash, user_id, csrf, created_at, last_seen FROM console_sessions WHERE id_hash = ?",
                (id_hash,),
            )
            r = cur.fetchone()
        return Session(*r) if r else None

    def touch_session(self, id_hash: str) -> None:
        with self.store.write() as cur:
            cur.execute("UPDATE console_sessions SET last_seen = ? WHERE id_hash = ?", (time.time(), id_hash))

    def end_session(self, id_hash: str) -> None:
        with self.store.write() as cur:
            cur.execute("DELETE FROM console_sessions WHERE id_hash = ?", (id_hash,))

    def purge_sessions(self, idle_before: float, created_before: float) -> int:
        with self.store.write() as cur:
            cur.execute(
                "DELETE FROM console_sessions WHERE last_seen < ? OR created_at < ?", (idle_before, created_before)
            )
            return cur.rowcount

    # -- API tokens --------------------------------------------------------
    def add_token(
        self, prefix: str, secret_hash: str, name: str, scope: str, clinic_id: str | None, created_by: str,
        expires_at: float | None,
    ) -> int:  # fmt: skip
        if scope not in SCOPES:
            raise ValueError(f"unknown scope '{scope}' (scopes: {', '.join(SCOPES)})")
        with self.store.write() as cur:
            cur.execute(
                "INSERT INTO api_tokens (prefix, secret_hash, name, scope, clinic_id, created_by, created_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (prefix, secret_hash, name, scope, clinic_id, created_by, time.time(), expires_at),
            )
            return int(cur.fetchone()[0])

    def token(self, prefix: str) -> Token | None:
        with self.store.read() as cur:
            cur.execute(f"SELECT {_TOKEN} FROM api_tokens WHERE prefix = ?", (prefix,))
            r = cur.fetchone()
        return Token(*r) if r else None

    def tokens(self) -> list[Token]:
        with self.store.read() as cur:
            cur.execute(f"SELECT {_TOKEN} FROM api_tokens ORDER BY id")
            return [Token(*r) for r in cur.fetchall()]

    def revoke_token(self, token_id: int) -> bool:
        with self.store.write() as cur:
            cur.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (time.time(), token_id)
            )
            return cur.rowcount == 1

    def token_used(self, token_id: int) -> None:
        with self.store.write() as cur:
            cur.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (time.time(), token_id))

    # -- settings ------------------------------------------------------------
    def setting(self, key: str) -> str | None:
        with self.store.read() as cur:
            cur.execute("SELECT value FROM settings WHERE key = ?", (key,))
            r = cur.fetchone()
        return r[0] if r else None

    def set_setting(self, key: str, value: str, actor: str, ip: str | None = None) -> None:
        """Set ``key`` (audited as ``setting``)."""
        now = time.time()
        with self.store.write() as cur:
            cur.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (key, value, now),
            )
            self._audit(cur, actor, "setting", {"key": key, "value": value}, None, None, ip)

    def bump(self, key: str, actor: str, detail: dict[str, Any], ip: str | None = None) -> int:
        """Increment the integer setting ``key`` (first value 1) and audit it
        as ``<key>``; the new value. Atomic across processes and nodes."""
        now = time.time()
        with self.store.write() as cur:
            cur.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?, '1', ?) ON CONFLICT (key) DO UPDATE "
                "SET value = CAST(CAST(settings.value AS INTEGER) + 1 AS TEXT), updated_at = excluded.updated_at "
                "RETURNING value",
                (key, now),
            )
            value = int(cur.fetchone()[0])
            self._audit(cur, actor, key, {**detail, "generation": value}, None, None, ip)
        return value

    # -- audit -----------------------------------------------------------------
    def audit(
        self, actor: str, action: str, detail: dict[str, Any] | None = None, message_id: int | None = None,
        clinic_id: str | None = None, ip: str | None = None,
    ) -> None:  # fmt: skip
        """Record who did (or viewed) what, for which clinic, from where."""
        with self.store.write() as cur:
            self._audit(cur, actor, action, detail or {}, message_id, clinic_id, ip)

    @staticmethod
    def _audit(
        cur: Any, actor: str, action: str, detail: dict[str, Any], message_id: int | None, clinic_id: str | None,
        ip: str | None,
    ) -> None:  # fmt: skip
        cur.execute(
            "INSERT INTO audit (message_id, at, actor, action, detail, clinic_id, ip) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (message_id, time.time(), actor, action, to_json(detail), clinic_id, ip),
        )

    def audit_rows(
        self, before_id: int | None = None, limit: int = 100, actor: str | None = None, action: str | None = None,
        since: float | None = None, until: float | None = None,
    ) -> list[AuditRow]:  # fmt: skip
        """Newest first; ``before_id`` is the keyset cursor (the last id shown)."""
        where, args = [], []
        for clause, value in (
            ("id < ?", before_id), ("actor = ?", actor), ("action = ?", action), ("at >= ?", since), ("at < ?", until),
        ):  # fmt: skip
            if value is not None:
                where.append(clause)
                args.append(value)
        sql = f"SELECT {_AUDIT} FROM audit" + (" WHERE " + " AND ".join(where) if where else "")
        with self.store.read() as cur:
            cur.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
            return [_audit(r) for r in cur.fetchall()]

    def iter_audit(
        self, since: float | None = None, until: float | None = None, chunk: int = 1000
    ) -> Iterator[AuditRow]:
        """Every audit row in order (for the CSV export), read in chunks."""
        last = 0
        while True:
            where, args = ["id > ?"], [last]
            if since is not None:
                where.append("at >= ?")
                args.append(since)
            if until is not None:
                where.append("at < ?")
                args.append(until)
            with self.store.read() as cur:
                cur.execute(
                    f"SELECT {_AUDIT} FROM audit WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", (*args, chunk)
                )
                rows = [_audit(r) for r in cur.fetchall()]
            if not rows:
                return
            yield from rows
            last = rows[-1].id

    def prune_audit(self, older_than: float, actor: str) -> int:
        """Delete audit rows older than ``older_than``; the pruning is audited."""
        with self.store.write() as cur:
            cur.execute("DELETE FROM audit WHERE at < ?", (older_than,))
            n = cur.rowcount
            if n:
                self._audit(cur, actor, "audit-pruned", {"rows": n, "older_than": older_than}, None, None, None)
        return n

    def housekeeping(self, idle_s: float, max_s: float) -> tuple[int, int]:
        """Expired sessions out, audit rows past the retention out (run hourly
        by every console host); how many of each."""
        now = time.time()
        sessions = self.purge_sessions(now - idle_s, now - max_s)
        days = self.setting(AUDIT_RETENTION)
        pruned = self.prune_audit(now - float(days) * 86400, "retention") if days else 0
        return sessions, pruned
