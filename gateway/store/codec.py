"""Encryption at rest: one codec for every store column that can hold patient data.

With ``store.encryption`` configured, a value is *sealed* before it is written
and *opened* when it is read: AES-256-GCM (the ``cryptography`` package), a
fresh 96-bit nonce per value, and associated data that binds the value to its
purpose (``table.column``) and to its row's natural key (``ref``), so a sealed
value copied into another column or another row does not open. Each sealed
value carries the id of the key that sealed it, so old rows stay readable
under ``previous_keys`` until ``gateway store rotate-key`` re-seals them.

Formats (the prefixes never start valid HL7, X12, PDF or JSON):

* bytes: ``\\x00GW1E`` + key id length (1 byte) + key id + nonce (12) + ciphertext and tag;
* text: ``gw1e:<key id>:`` + base64 of nonce + ciphertext and tag.

A plaintext value that happens to begin like a sealed one is stored behind an
escape prefix (``\\x00GW1P`` / ``gw1p:``), so a sender cannot forge one. Any
other value is plaintext: rows written before encryption was switched on read
as they are, and rows written without encryption are unchanged.

Wiring a new column that can hold patient data (names, member ids, addresses,
documents): write ``store.seal("table.column", value, ref)`` and read
``store.open("table.column", value, ref)`` where ``ref`` is built from columns
that never change after the insert (:func:`ref`), list the purpose in
:data:`PURPOSES`, and add the table to :data:`gateway.store.rotation.ROTATIONS`
so ``gateway store rotate-key`` re-seals it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, overload

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.store.base import StoreUnavailable

if TYPE_CHECKING:
    from gateway.config import LoadedConfig

#: every purpose the store seals, with what it holds
PURPOSES: dict[str, str] = {
    "messages.raw": "raw inbound message bytes (the journal)",
    "encounters.encounter": "the canonical encounter JSON",
    "claims.claim": "a claim's JSON",
    "claims.rendered": "a claim's 837 blocks worked out by a worker (names, member ids, addresses)",
    "statements.statement": "a statement's JSON",
    "records.value": "what earlier messages taught (patients, coverages, guarantors)",
    "records.key": "the lookup key of a record (an MRN, a member id): a keyed hash",
    "outbox.content": "a document waiting for or after delivery (837, statement PDF)",
    "outbox.headers": "a document's delivery headers (a guarantor's e-mail address)",
    "store_keys.check": "a known value that proves a configured key is the one that sealed the rows",
}

SEALED_BYTES = b"\x00GW1E"
PLAIN_BYTES = b"\x00GW1P"
SEALED_TEXT = "gw1e:"
PLAIN_TEXT = "gw1p:"
HASHED_TEXT = "gwh1:"
KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_NONCE = 12
_AAD = b"billing-gateway at rest v1\x00"

V = TypeVar("V", bytes, str)


class StoreKeyError(StoreUnavailable):
    """A sealed value cannot be opened (key not configured, wrong key, altered
    data) or a configured key is not usable. Names the key id and the table;
    never a value or a key."""


def ref(*parts: object) -> str:
    """A row's natural key as associated data (columns that never change)."""
    return "\x1f".join("" if p is None else str(p) for p in parts)


def parse_key(text: str, where: str) -> bytes:
    """A 256-bit key from base64 (``openssl rand -base64 32``) or 64 hex digits;
    ``where`` names the config key in errors (the key is never shown)."""
    t = text.strip()
    raw: bytes | None = None
    if re.fullmatch(r"[0-9A-Fa-f]{64}", t):
        raw = bytes.fromhex(t)
    else:
        try:
            raw = base64.b64decode(t + "=" * (-len(t) % 4), altchars=b"-_" if ("-" in t or "_" in t) else None,
                                   validate=True)  # fmt: skip
        except (binascii.Error, ValueError):
            raise StoreKeyError(
                f"{where}: not base64 or hex (make one with: openssl rand -base64 32)"
            ) from None
    if len(raw) != 32:
        raise StoreKeyError(
            f"{where}: the key is {len(raw)} bytes, AES-256 needs 32 (make one with: openssl rand -base64 32)"
        )
    return raw


@dataclass(frozen=True)
class _Key:
    key_id: str
    aead: AESGCM
    index: bytes  # HMAC key for lookup columns (derived, never the AES key itself)


class Codec:
    """Seals and opens values by purpose. ``keys[0]`` is the current key (new
    values); the others only open old values. No keys: values are stored as
    they are, and a sealed value fails loudly."""

    def __init__(self, keys: list[tuple[str, bytes]] | None = None) -> None:
        self._keys: dict[str, _Key] = {}
        for key_id, secret in keys or []:
            if not KEY_ID.match(key_id):
                raise StoreKeyError(f"store.encryption: key id '{key_id}' must be 1-32 letters, digits, _ . -")
            if key_id in self._keys:
                raise StoreKeyError(f"store.encryption: key id '{key_id}' is configured twice")
            index = hmac.new(secret, b"billing-gateway lookup index v1", hashlib.sha256).digest()
            self._keys[key_id] = _Key(key_id, AESGCM(secret), index)
        self.current: str | None = keys[0][0] if keys else None

    @property
    def enabled(self) -> bool:
        return self.current is not None

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    # -- sealing ---------------------------------------------------------------
    @overload
    def seal(self, purpose: str, value: bytes, row: str = "") -> bytes: ...
    @overload
    def seal(self, purpose: str, value: str, row: str = "") -> str: ...
    def seal(self, purpose: str, value: bytes | str, row: str = "") -> bytes | str:
        """``value`` as stored: sealed under the current key, or as it is
        (escaped if it looks sealed) when encryption is off."""
        text = isinstance(value, str)
        if self.current is None:
            if text:
                return PLAIN_TEXT + value if value.startswith((SEALED_TEXT, PLAIN_TEXT, HASHED_TEXT)) else value
            return PLAIN_BYTES + value if value.startswith((SEALED_BYTES, PLAIN_BYTES)) else value
        key = self._keys[self.current]
        nonce = os.urandom(_NONCE)
        data = value.encode("utf-8") if text else bytes(value)  # type: ignore[union-attr]
        sealed = nonce + key.aead.encrypt(nonce, data, _aad(purpose, row, key.key_id))
        if text:
            return f"{SEALED_TEXT}{key.key_id}:{base64.b64encode(sealed).decode('ascii')}"
        kid = key.key_id.encode("ascii")
        return SEALED_BYTES + bytes([len(kid)]) + kid + sealed

    @overload
    def open(self, purpose: str, value: bytes | memoryview, row: str = "") -> bytes: ...
    @overload
    def open(self, purpose: str, value: str, row: str = "") -> str: ...
    def open(self, purpose: str, value: bytes | memoryview | str, row: str = "") -> bytes | str:
        """The plaintext of a stored value (plaintext rows as they are);
        :class:`StoreKeyError` when a sealed value does not open."""
        if isinstance(value, str):
            if value.startswith(PLAIN_TEXT):
                return value[len(PLAIN_TEXT) :]
            if not value.startswith(SEALED_TEXT):
                return value
            kid, sep, body = value[len(SEALED_TEXT) :].partition(":")
            try:
                blob = base64.b64decode(body, validate=True) if sep else b""
            except (binascii.Error, ValueError):
                blob = b""
            return self._open(purpose, kid, blob, row).decode("utf-8")
        value = bytes(value)
        if value.startswith(PLAIN_BYTES):
            return value[len(PLAIN_BYTES) :]
        if not value.startswith(SEALED_BYTES):
            return value
        n = value[len(SEALED_BYTES)] if len(value) > len(SEALED_BYTES) else 0
        start = len(SEALED_BYTES) + 1
        kid = value[start : start + n].decode("ascii", "replace")
        return self._open(purpose, kid, value[start + n :], row)

    def _open(self, purpose: str, kid: str, blob: bytes, row: str) -> bytes:
        key = self._keys.get(kid)
        if key is None:
            raise StoreKeyError(
                f"{_table(purpose)}: a value is sealed with key '{kid}', which is not configured "
                "(store.encryption.key_id / previous_keys)"
            )
        try:
            return key.aead.decrypt(blob[:_NONCE], blob[_NONCE:], _aad(purpose, row, kid))
        except (InvalidTag, ValueError):
            raise StoreKeyError(
                f"{_table(purpose)}: a value sealed with key '{kid}' does not open: the configured key '{kid}' is "
                "not the one that sealed it, or the stored value was altered or moved"
            ) from None

    # -- lookup columns --------------------------------------------------------
    def index(self, purpose: str, value: str, key_id: str | None = None) -> str:
        """A lookup column's stored form: the value itself without encryption,
        else a keyed hash under ``key_id`` (default: the current key)."""
        kid = key_id or self.current
        if kid is None:
            return PLAIN_TEXT + value if value.startswith((SEALED_TEXT, PLAIN_TEXT, HASHED_TEXT)) else value
        mac = hmac.new(self._keys[kid].index, _aad(purpose, value, kid), hashlib.sha256).digest()
        return f"{HASHED_TEXT}{kid}:{base64.urlsafe_b64encode(mac).decode('ascii').rstrip('=')}"


def key_id_of(value: bytes | memoryview | str | None) -> str | None:
    """The id of the key a stored value is sealed (or hashed) with; None for plaintext."""
    if value is None:
        return None
    if isinstance(value, str):
        for prefix in (SEALED_TEXT, HASHED_TEXT):
            if value.startswith(prefix):
                return value[len(prefix) :].partition(":")[0]
        return None
    value = bytes(value[:40])
    if not value.startswith(SEALED_BYTES) or len(value) <= len(SEALED_BYTES):
        return None
    n = value[len(SEALED_BYTES)]
    return value[len(SEALED_BYTES) + 1 : len(SEALED_BYTES) + 1 + n].decode("ascii", "replace")


def _aad(purpose: str, row: str, kid: str) -> bytes:
    return _AAD + f"{purpose}\x00{row}\x00{kid}".encode()


def _table(purpose: str) -> str:
    return f"table {purpose.partition('.')[0]} (column {purpose.partition('.')[2]})"


#: the codec of a store without encryption
PLAIN = Codec()


def codec_for(loaded: LoadedConfig) -> Codec:
    """The codec ``store.encryption`` of a loaded gateway.yaml asks for
    (:data:`PLAIN` without it). Every key is resolved and checked;
    :class:`StoreKeyError` names the config key path, never the key."""
    enc = loaded.config.store.encryption if getattr(loaded.config, "store", None) else None
    if enc is None:
        return PLAIN
    from gateway.config import ConfigError, resolve_secret

    keys = []
    entries = [(("store", "encryption"), enc), *((("store", "encryption", "previous_keys", i), k)
                                                 for i, k in enumerate(enc.previous_keys))]  # fmt: skip
    for loc, entry in entries:
        where = loaded.problem((*loc, "key"), "")[:-2]
        try:
            secret = resolve_secret(entry.key, loaded.base_dir)
        except ConfigError as exc:
            raise StoreKeyError(f"{where}: {'; '.join(exc.problems)}") from None
        keys.append((entry.key_id, parse_key(secret, where)))
    try:
        return Codec(keys)
    except StoreKeyError as exc:
        raise StoreKeyError(f"{loaded.path.name}: {exc}") from None
