"""Per-user, per-field authenticated encryption for sensitive text at rest.

AES-256-GCM under a key derived (HKDF-SHA256) from a master key and the user id.
Tokens are self-describing so a rotation tool can re-encrypt anything it finds
without knowing the schema; the header is also the GCM associated data, so a
token cannot be moved to another user or field, or relabelled with another kid.

Values that must be found by equality (phone numbers) also get a *lookup key*: a
keyed hash (HMAC-SHA256 under a key derived from a master key), tagged with its
kid, stored beside the value's token. Lookups try the hash under every configured
key, so lookups keep working while a rotation is under way.

There is deliberately no mock: dev and test runs use this same code with a
throwaway key (see ``generate_key``). See docs/encryption.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "ENV_VAR",
    "FORMAT_VERSION",
    "PHONE",
    "EncryptionError",
    "Encryptor",
    "InvalidKeyConfig",
    "LookupHeader",
    "MalformedCiphertext",
    "TamperedCiphertext",
    "TokenHeader",
    "UnknownKeyId",
    "WrongContext",
    "encryptor_from_env",
    "generate_key",
    "parse_keys",
]

LOOKUP_VERSION = "hk1"
# HKDF info of the per-kid lookup (HMAC) key: one key per master key, shared by all users,
# so a value can be found whoever holds it. Changing it changes every lookup key.
LOOKUP_HKDF_INFO = b"reflection:lookup-hmac:v1"
PHONE = "phone"  # the purpose (HMAC label) of phone-number lookup keys

FORMAT_VERSION = "ck1"
ENV_VAR = "ENCRYPTION_KEYS"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
# Fixed, project-specific HKDF salt: changing it changes every derived key.
HKDF_SALT = b"reflection-caller/encryption/hkdf-salt/v1"
HKDF_INFO_PREFIX = b"reflection:user:"
KEY_CACHE_SIZE = 1024

_KID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_PURPOSE_RE = re.compile(r"[a-z][a-z0-9-]{0,31}")
_LOOKUP_RE = re.compile(r"hk1\.([A-Za-z0-9_-]{1,32})\.([a-z][a-z0-9-]{0,31})\.([A-Za-z0-9_-]{43})")
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")


class EncryptionError(Exception):
    """Base class: a value could not be encrypted/decrypted. Never carries plaintext."""


class TamperedCiphertext(EncryptionError):
    """GCM authentication failed: bytes were modified or the key is wrong."""


class WrongContext(EncryptionError):
    """The token belongs to a different user or field than the caller expects."""


class UnknownKeyId(EncryptionError):
    """The token's kid is not among the configured keys."""


class MalformedCiphertext(EncryptionError):
    """The value is not a well-formed token of a supported version."""


class InvalidKeyConfig(EncryptionError, ValueError):
    """Key configuration (ENCRYPTION_KEYS / constructor keys) is unusable."""


class LookupHeader(NamedTuple):
    """Which master key and purpose a lookup key was made under."""

    kid: str
    purpose: str


class TokenHeader(NamedTuple):
    """Decoded, unauthenticated header of a token (trust only after decrypt)."""

    kid: str
    field: str
    user: str


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str, what: str) -> bytes:
    """Strict unpadded base64url: rejects odd alphabets and non-canonical forms,
    so every token has exactly one spelling (no silent header/payload variants)."""
    if not _B64URL_RE.fullmatch(text) or len(text) % 4 == 1:
        raise MalformedCiphertext(f"token {what} is not valid unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64e(data) != text:
        raise MalformedCiphertext(f"token {what} is not canonical base64url")
    return data


def _parse(token: object) -> tuple[TokenHeader, str, bytes]:
    """Split a token into (header, header text used as AAD, nonce||ciphertext)."""
    if not isinstance(token, str):
        raise MalformedCiphertext(f"token must be str, got {type(token).__name__}")
    parts = token.split(".")
    if len(parts) != 5:
        raise MalformedCiphertext("token must have 5 dot-separated parts")
    version, kid, field_b64, user_b64, payload_b64 = parts
    if version != FORMAT_VERSION:
        raise MalformedCiphertext(f"unsupported token format version {version[:8]!r}")
    if not _KID_RE.fullmatch(kid):
        raise MalformedCiphertext("token key id is malformed")
    try:
        field = _b64d(field_b64, "field").decode("utf-8")
        user = _b64d(user_b64, "user").decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedCiphertext("token field/user is not UTF-8") from None
    if not field or not user:
        raise MalformedCiphertext("token field/user is empty")
    payload = _b64d(payload_b64, "payload")
    if len(payload) < NONCE_BYTES + TAG_BYTES:
        raise MalformedCiphertext("token payload is too short")
    return TokenHeader(kid, field, user), token[: -len(payload_b64) - 1], payload


def _header_text(kid: str, field: str, user: str) -> str:
    return ".".join((FORMAT_VERSION, kid, _b64e(field.encode()), _b64e(user.encode())))


def _check_context(user: str, field: str) -> None:
    if not isinstance(user, str) or not user:
        raise ValueError("user must be a non-empty str")
    if not isinstance(field, str) or not field:
        raise ValueError("field must be a non-empty str")


def _validate_keys(keys: Sequence[tuple[str, bytes]]) -> dict[str, bytes]:
    if not keys:
        raise InvalidKeyConfig("at least one encryption key is required")
    out: dict[str, bytes] = {}
    for entry in keys:
        try:
            kid, key = entry
        except (TypeError, ValueError):
            raise InvalidKeyConfig("each key must be a (kid, key_bytes) pair") from None
        if not isinstance(kid, str) or not _KID_RE.fullmatch(kid):
            raise InvalidKeyConfig(f"key id {kid!r} must match [A-Za-z0-9_-]{{1,32}}")
        if kid in out:
            raise InvalidKeyConfig(f"duplicate key id {kid!r}")
        if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
            raise InvalidKeyConfig(f"key {kid!r} must be exactly {KEY_BYTES} bytes")
        out[kid] = bytes(key)
    return out


class Encryptor:
    """Encrypts under the first key; decrypts under any configured key by kid."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        self._keys = _validate_keys(keys)
        self._primary = next(iter(self._keys))
        self._cache: OrderedDict[tuple[str, str], AESGCM] = OrderedDict()
        self._lock = threading.Lock()
        self._lookup = {
            kid: HKDF(
                algorithm=hashes.SHA256(), length=KEY_BYTES, salt=HKDF_SALT, info=LOOKUP_HKDF_INFO
            ).derive(master)
            for kid, master in self._keys.items()
        }

    def __repr__(self) -> str:  # never show key material
        return f"Encryptor(primary_kid={self._primary!r}, kids={list(self._keys)!r})"

    @property
    def primary_kid(self) -> str:
        return self._primary

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def _aead(self, kid: str, user: str) -> AESGCM:
        """HKDF per (kid, user), memoised in a bounded LRU: hot paths hit the same users."""
        cache_key = (kid, user)
        with self._lock:
            aead = self._cache.get(cache_key)
            if aead is not None:
                self._cache.move_to_end(cache_key)
                return aead
        master = self._keys.get(kid)
        if master is None:
            raise UnknownKeyId(f"no configured key for kid {kid!r} (known: {list(self._keys)})")
        derived = HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_BYTES,
            salt=HKDF_SALT,
            info=HKDF_INFO_PREFIX + user.encode("utf-8"),
        ).derive(master)
        aead = AESGCM(derived)
        with self._lock:
            self._cache[cache_key] = aead
            self._cache.move_to_end(cache_key)
            while len(self._cache) > KEY_CACHE_SIZE:
                self._cache.popitem(last=False)
        return aead

    def encrypt(self, plaintext: str, *, user: str, field: str) -> str:
        if not isinstance(plaintext, str):
            raise TypeError(f"plaintext must be str, got {type(plaintext).__name__}")
        _check_context(user, field)
        header = _header_text(self._primary, field, user)
        nonce = os.urandom(NONCE_BYTES)
        ct = self._aead(self._primary, user).encrypt(
            nonce, plaintext.encode("utf-8"), header.encode("ascii")
        )
        return f"{header}.{_b64e(nonce + ct)}"

    def decrypt(self, token: str, *, user: str, field: str) -> str:
        _check_context(user, field)
        header, aad, payload = _parse(token)
        if header.field != field:
            raise WrongContext(f"token is for field {header.field!r}, expected {field!r}")
        if header.user != user:
            raise WrongContext(f"token for field {field!r} belongs to a different user")
        aead = self._aead(header.kid, user)
        try:
            data = aead.decrypt(payload[:NONCE_BYTES], payload[NONCE_BYTES:], aad.encode("ascii"))
        except InvalidTag:
            raise TamperedCiphertext(
                f"authentication failed for field {field!r} under kid {header.kid!r}: "
                "the token was modified or the key for that kid is wrong"
            ) from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:  # authenticated but not ours to interpret
            raise MalformedCiphertext("decrypted data is not UTF-8") from None

    def encrypt_optional(self, plaintext: str | None, *, user: str, field: str) -> str | None:
        return None if plaintext is None else self.encrypt(plaintext, user=user, field=field)

    def decrypt_optional(self, token: str | None, *, user: str, field: str) -> str | None:
        return None if token is None else self.decrypt(token, user=user, field=field)

    @staticmethod
    def is_token(value: object) -> bool:
        """Structural check only (no key needed): lets schema-blind tools find tokens."""
        try:
            _parse(value)
        except EncryptionError:
            return False
        return True

    @staticmethod
    def header(token: str) -> TokenHeader:
        """Unauthenticated header; raises MalformedCiphertext if not a token."""
        return _parse(token)[0]

    def needs_rotation(self, token: str) -> bool:
        """Whether a token (or a lookup key) was made under another key than the primary."""
        if Encryptor.is_lookup_key(token):
            return Encryptor.lookup_header(token).kid != self._primary
        return _parse(token)[0].kid != self._primary

    # -- lookup keys (keyed hashes for finding a value by equality) --------------------

    def lookup_key(self, value: str, *, purpose: str, kid: str | None = None) -> str:
        """``hk1.<kid>.<purpose>.<b64url(HMAC-SHA256)>`` of ``value`` under the primary key
        (or ``kid``): equal values give equal keys, and nothing else can be read from one."""
        if not isinstance(value, str):
            raise TypeError(f"value must be str, got {type(value).__name__}")
        if not isinstance(purpose, str) or not _PURPOSE_RE.fullmatch(purpose):
            raise ValueError("purpose must match [a-z][a-z0-9-]{0,31}")
        kid = self._primary if kid is None else kid
        key = self._lookup.get(kid)
        if key is None:
            raise UnknownKeyId(f"no configured key for kid {kid!r} (known: {list(self._keys)})")
        message = purpose.encode("ascii") + b"\x00" + value.encode("utf-8")
        mac = hmac.new(key, message, hashlib.sha256).digest()
        return f"{LOOKUP_VERSION}.{kid}.{purpose}.{_b64e(mac)}"

    def lookup_keys(self, value: str, *, purpose: str) -> list[str]:
        """The lookup key of ``value`` under every configured key, primary first: a query
        with ``$in`` finds values stored before (or during) a rotation."""
        return [self.lookup_key(value, purpose=purpose, kid=kid) for kid in self._keys]

    def matches_lookup(self, value: str, stored: str) -> bool:
        """Whether ``stored`` (a lookup key under any configured kid) is ``value``'s."""
        if not Encryptor.is_lookup_key(stored):
            return False
        kid, purpose = Encryptor.lookup_header(stored)
        if kid not in self._lookup:
            return False
        return hmac.compare_digest(self.lookup_key(value, purpose=purpose, kid=kid), stored)

    @staticmethod
    def is_lookup_key(value: object) -> bool:
        return isinstance(value, str) and _LOOKUP_RE.fullmatch(value) is not None

    @staticmethod
    def lookup_header(value: str) -> LookupHeader:
        found = _LOOKUP_RE.fullmatch(value) if isinstance(value, str) else None
        if found is None:
            raise MalformedCiphertext("not a lookup key")
        return LookupHeader(found.group(1), found.group(2))

    def reencrypt(self, token: str) -> str:
        """Decrypt with the header's own user/field (authenticated via AAD), then
        encrypt under the primary key."""
        header = _parse(token)[0]
        plaintext = self.decrypt(token, user=header.user, field=header.field)
        return self.encrypt(plaintext, user=header.user, field=header.field)


def _decode_key(kid: str, text: str) -> bytes:
    text = text.strip()
    if not re.fullmatch(r"[A-Za-z0-9+/_-]+={0,2}", text):
        raise InvalidKeyConfig(f"key {kid!r} is not valid base64")
    text = text.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidKeyConfig(f"key {kid!r} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise InvalidKeyConfig(
            f"key {kid!r} must decode to {KEY_BYTES} bytes, got {len(key)} "
            "(generate one with services.encryption.keys.generate_key())"
        )
    return key


def parse_keys(spec: str) -> list[tuple[str, bytes]]:
    """Parse "kid:base64,kid2:base64". A bare base64 entry is named k<position>
    (k1, k2, ...), which shifts if entries are reordered: use explicit kids for rotation."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidKeyConfig(f"{ENV_VAR} is empty: expected 'kid:base64key[,kid2:base64key]'")
    keys: list[tuple[str, bytes]] = []
    for position, raw in enumerate(spec.split(","), start=1):
        entry = raw.strip()
        if not entry:
            raise InvalidKeyConfig(f"{ENV_VAR} entry {position} is empty")
        kid, sep, b64 = entry.partition(":")
        if not sep:
            kid, b64 = f"k{position}", entry
        kid = kid.strip()
        if not _KID_RE.fullmatch(kid):
            raise InvalidKeyConfig(
                f"{ENV_VAR} entry {position}: key id {kid!r} must match [A-Za-z0-9_-]{{1,32}}"
            )
        keys.append((kid, _decode_key(kid, b64)))
    _validate_keys(keys)  # duplicate kids
    return keys


def generate_key() -> str:
    """A fresh master key as standard base64 (32 random bytes)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def encryptor_from_env(environ: Mapping[str, str] | None = None) -> Encryptor:
    """Build the process-wide Encryptor from ENCRYPTION_KEYS; fails loudly if unset."""
    env = os.environ if environ is None else environ
    spec = env.get(ENV_VAR, "")
    if not spec.strip():
        raise InvalidKeyConfig(
            f"{ENV_VAR} is not set; generate a key with "
            "`python -c 'from services.encryption.keys import generate_key; print(generate_key())'`"
        )
    return Encryptor(parse_keys(spec))
