"""Configuration, read once at startup from environment variables and an optional `.env` file.

Every problem is collected and reported in one `ConfigError`, so a user fixes
their setup in one pass instead of one restart per mistake. Secrets are kept
out of `repr()`; use `Config.redacted()` to show the configuration.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import attrs
import phonenumbers
from dotenv import dotenv_values

from services.encryption.keys import KEY_BYTES, InvalidKeyConfig, parse_keys
from services.telephony.numbers import is_e164

log = logging.getLogger(__name__)

LOCAL_KEY_FILE = "encryption.key"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LIVE_REQUIRED = (
    "PUBLIC_BASE_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_PHONE_NUMBER",
    "GEMINI_API_KEY",
    "ENCRYPTION_KEYS",
)
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")


class ConfigError(Exception):
    """The configuration is invalid; the message lists every problem, one per line."""


class EncryptionKey(NamedTuple):
    """A 32-byte master key and its id; a plain (kid, key) pair for `Encryptor`."""

    kid: str
    key: bytes

    def __repr__(self) -> str:  # never show key material
        return f"EncryptionKey(kid={self.kid!r}, key=***)"


@attrs.frozen
class Config:
    """Validated settings. Build it with `load_config()`, not directly."""

    mongodb_uri: str | None = attrs.field(repr=False)
    embedded_db: bool
    db_name: str
    data_dir: Path
    host: str
    port: int
    public_base_url: str
    use_mocks: bool
    twilio_account_sid: str | None
    twilio_auth_token: str | None = attrs.field(repr=False)
    twilio_phone_number: str | None
    twilio_api_base_url: str
    gemini_api_key: str | None = attrs.field(repr=False)
    gemini_model: str
    gemini_base_url: str | None
    gemini_timeout_seconds: float
    # "gemini": ask Gemini whether an answer is complete (local rules if it fails);
    # "local": the local rules only, and no spoken text leaves the service
    completion_check: str
    # "gather": each turn is a <Gather> webhook; "relay": the conversation streams over
    # Twilio ConversationRelay (a WebSocket), with the same rules (docs/webhooks.md)
    conversation_transport: str
    # relay only: the caller's pause that ends a turn, the silence that counts as no
    # answer, the longer pause after which an answer judged unfinished is judged again,
    # and the text-to-speech voice (unset: Twilio's default for the language)
    relay_speech_timeout_ms: int
    relay_silence_seconds: float
    relay_recheck_seconds: float
    relay_voice: str | None
    # The first key encrypts new data; all of them decrypt (key rotation).
    encryption_keys: tuple[EncryptionKey, ...] = attrs.field(repr=False)
    retry_delay_seconds: int
    worker_lease_seconds: int
    # an unclear dial (its sender died mid-request) the provider still does not show after
    # this long was never placed, and becomes a miss
    dial_unclear_give_up_seconds: int
    recovery_grace_seconds: float
    # the reconciler (in the worker): how often it checks, and how long a call may go
    # unchanged (and a finished one settle) before it looks into it
    reconcile_every_seconds: float
    reconcile_settle_seconds: float
    # GET /metrics needs "Authorization: Bearer <token>"; unset, it is not served at all
    metrics_token: str | None = attrs.field(repr=False)
    # the worker's own /metrics (on 127.0.0.1 unless METRICS_HOST says otherwise)
    worker_metrics_port: int | None
    metrics_host: str
    twilio_calls_per_second: float
    max_body_bytes: int
    action_log_retention_days: int
    log_format: str
    log_level: str
    plugins: tuple[str, ...] = ()  # installed conceptkit plugins to load beside the app's own

    def secrets(self) -> list[str]:
        """Secret values that must never be logged (for the log masking filter)."""
        values = [self.twilio_auth_token, self.gemini_api_key, self.metrics_token]
        values += [base64.b64encode(k.key).decode() for k in self.encryption_keys]
        password = _uri_password(self.mongodb_uri)
        return [v for v in [*values, password] if v]

    def redacted(self) -> dict[str, Any]:
        """All settings as a dict that is safe to print or log."""
        out = attrs.asdict(self, recurse=False)
        out["data_dir"] = str(self.data_dir)
        out["mongodb_uri"] = redact_uri(self.mongodb_uri) if self.mongodb_uri else None
        for name in ("twilio_auth_token", "gemini_api_key", "metrics_token"):
            out[name] = "***" if out[name] else None
        out["encryption_keys"] = [f"{k.kid}:***" for k in self.encryption_keys]
        return out


def redact_uri(uri: str) -> str:
    """Hide the password in a `scheme://user:password@host` URI."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", uri)


def _uri_password(uri: str | None) -> str | None:
    match = re.search(r"://[^:/@]*:([^@/]*)@", uri or "")
    return match.group(1) if match else None


def load_config(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> Config:
    """Read and validate the configuration; the environment wins over `env_file`."""
    raw: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        raw.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    raw.update(os.environ if environ is None else environ)
    return _Reader(raw).build()


class _Reader:
    """Parses one variable at a time, collecting errors instead of stopping at the first."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = raw
        self.errors: list[str] = []

    def get(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def parsed(self, name: str, default: Any, parse: Callable[[str], Any], rule: str) -> Any:
        value = self.get(name)
        if value is None:
            return default
        try:
            return parse(value)
        except ValueError:
            self.errors.append(f"{name} must be {rule} (got {value!r})")
            return default

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        def parse(text: str) -> int:
            number = int(text)
            if number < low or (high is not None and number > high):
                raise ValueError
            return number

        rule = f"an integer from {low} to {high}" if high else f"an integer >= {low}"
        return self.parsed(name, default, parse, rule)

    def positive(self, name: str, default: float) -> float:
        def parse(text: str) -> float:
            number = float(text)
            if not 0 < number < float("inf"):
                raise ValueError
            return number

        return self.parsed(name, default, parse, "a number > 0")

    def boolean(self, name: str, default: bool) -> bool:
        def parse(text: str) -> bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError

        return self.parsed(name, default, parse, "true or false (also 1/0, yes/no)")

    def choice(
        self,
        name: str,
        default: str,
        options: tuple[str, ...],
        fold: Callable[[str], str] = str.lower,
    ) -> str:
        def parse(text: str) -> str:
            if fold(text) not in options:
                raise ValueError
            return fold(text)

        return self.parsed(name, default, parse, "one of " + ", ".join(options))

    def url(self, name: str, default: str | None, https_only: bool = False) -> str | None:
        value = self.get(name)
        if value is None:
            return default
        try:
            parts = urlsplit(value)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            valid = valid and not parts.query and not parts.fragment and parts.port != 0
        except ValueError:
            valid = False
        if not valid:
            self.errors.append(
                f"{name} must be an http(s):// URL without query or fragment (got {value!r})"
            )
            return default
        if https_only and parts.scheme != "https":
            self.errors.append(
                f"{name} must be an https:// URL when USE_MOCKS=false, so Twilio can reach "
                f"the webhooks (got {value!r})"
            )
        return value.rstrip("/")

    def encryption_keys(self) -> tuple[EncryptionKey, ...]:
        value = self.get("ENCRYPTION_KEYS")
        if value is None:
            return ()
        try:
            return tuple(EncryptionKey(kid, key) for kid, key in parse_keys(value))
        except InvalidKeyConfig as exc:
            message = str(exc)
            if not message.startswith("ENCRYPTION_KEYS"):
                message = f"ENCRYPTION_KEYS: {message}"
            self.errors.append(message)
            return ()

    def build(self) -> Config:
        use_mocks = self.boolean("USE_MOCKS", True)
        live = not use_mocks
        port = self.integer("PORT", 8000, 1, 65535)
        completion_check = self.choice("COMPLETION_CHECK", "gemini", ("gemini", "local"))
        required = [
            n for n in LIVE_REQUIRED if n != "GEMINI_API_KEY" or completion_check == "gemini"
        ]
        missing = [name for name in required if live and self.get(name) is None]
        if missing:
            self.errors.append(
                "USE_MOCKS=false needs these variables, which are not set: " + ", ".join(missing)
            )
        sid = self.get("TWILIO_ACCOUNT_SID")
        if live and sid and not _ACCOUNT_SID.match(sid):
            self.errors.append("TWILIO_ACCOUNT_SID must look like AC followed by 32 hex digits")
        phone = self.get("TWILIO_PHONE_NUMBER")
        if phone and not _is_e164(phone):
            self.errors.append(
                f"TWILIO_PHONE_NUMBER must be in E.164 form like +15551234567 (got {phone!r})"
            )
        db_name = self.get("DB_NAME") or "reflection"
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", db_name):
            self.errors.append(
                "DB_NAME may use only letters, digits, '_' and '-' (at most 64 characters)"
            )
        mongodb_uri = self.get("MONGODB_URI")
        if mongodb_uri and not mongodb_uri.startswith(("mongodb://", "mongodb+srv://")):
            self.errors.append("MONGODB_URI must start with mongodb:// or mongodb+srv://")
        config = Config(
            mongodb_uri=mongodb_uri,
            embedded_db=mongodb_uri is None or self.boolean("CONCEPTKIT_EMBEDDED", False),
            db_name=db_name,
            data_dir=Path(self.get("DATA_DIR") or "./data").expanduser().absolute(),
            host=self.get("HOST") or "127.0.0.1",
            port=port,
            public_base_url=self.url(
                "PUBLIC_BASE_URL", f"http://localhost:{port}", https_only=live
            ),
            use_mocks=use_mocks,
            twilio_account_sid=sid,
            twilio_auth_token=self.get("TWILIO_AUTH_TOKEN"),
            twilio_phone_number=phone,
            twilio_api_base_url=self.url("TWILIO_API_BASE_URL", "https://api.twilio.com"),
            gemini_api_key=self.get("GEMINI_API_KEY"),
            gemini_model=self.get("GEMINI_MODEL") or "gemini-2.5-flash",
            gemini_base_url=self.url("GEMINI_BASE_URL", None),
            gemini_timeout_seconds=self.positive("GEMINI_TIMEOUT_SECONDS", 2.5),
            completion_check=completion_check,
            conversation_transport=self.choice(
                "CONVERSATION_TRANSPORT", "gather", ("gather", "relay")
            ),
            relay_speech_timeout_ms=self.integer("RELAY_SPEECH_TIMEOUT_MS", 1000, 300, 10000),
            relay_silence_seconds=self.positive("RELAY_SILENCE_SECONDS", 6.0),
            relay_recheck_seconds=self.positive("RELAY_RECHECK_SECONDS", 3.0),
            relay_voice=self.get("RELAY_VOICE") or None,
            encryption_keys=self.encryption_keys(),
            retry_delay_seconds=self.integer("RETRY_DELAY_SECONDS", 300, 0),
            worker_lease_seconds=self.integer("WORKER_LEASE_SECONDS", 60, 1, 3600),
            dial_unclear_give_up_seconds=self.integer("DIAL_UNCLEAR_GIVE_UP_SECONDS", 90, 15, 3600),
            recovery_grace_seconds=self.positive("RECOVERY_GRACE_SECONDS", 30.0),
            reconcile_every_seconds=self.positive("RECONCILE_EVERY_SECONDS", 20.0),
            reconcile_settle_seconds=self.positive("RECONCILE_SETTLE_SECONDS", 60.0),
            metrics_token=self.get("METRICS_TOKEN") or None,
            worker_metrics_port=(
                self.integer("WORKER_METRICS_PORT", 0, 1, 65535)
                if self.get("WORKER_METRICS_PORT")
                else None
            ),
            metrics_host=self.get("METRICS_HOST") or "127.0.0.1",
            twilio_calls_per_second=self.positive("TWILIO_CALLS_PER_SECOND", 1.0),
            max_body_bytes=self.integer("MAX_BODY_BYTES", 65536, 1),
            action_log_retention_days=self.integer("ACTION_LOG_RETENTION_DAYS", 30, 1),
            log_format=self.choice("LOG_FORMAT", "text", ("text", "json")),
            log_level=self.choice("LOG_LEVEL", "INFO", LOG_LEVELS, fold=str.upper),
            plugins=tuple(p.strip() for p in (self.get("PLUGINS") or "").split(",") if p.strip()),
        )
        if self.errors:
            raise ConfigError(
                "Invalid configuration:\n" + "\n".join(f"  - {e}" for e in self.errors)
            )
        return config


def _is_e164(number: str) -> bool:
    if not is_e164(number):
        return False
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        return False


def ensure_local_key(config: Config) -> Config:
    """In mock mode without ENCRYPTION_KEYS, use a key kept in `<DATA_DIR>/encryption.key`.

    The key is generated once (mode 0600) and reused, so data written in one
    run can be read in the next. Its kid is "k1", so pasting the file's content
    into ENCRYPTION_KEYS later keeps that data readable.
    """
    if config.encryption_keys or not config.use_mocks:
        return config
    path = config.data_dir / LOCAL_KEY_FILE
    if not path.exists():
        _create_key_file(path)
    try:
        key = base64.b64decode(path.read_text().strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigError(
            f"{path} does not hold a base64 {KEY_BYTES}-byte key; fix it or delete it "
            "(data encrypted with it becomes unreadable)"
        )
    return attrs.evolve(config, encryption_keys=(EncryptionKey("k1", key),))


def _create_key_file(path: Path) -> None:
    """Write a new key atomically; if another process won the race, keep theirs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".encryption-key-")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.b64encode(os.urandom(KEY_BYTES)).decode() + "\n")
        os.chmod(tmp, 0o600)
        os.link(tmp, path)
    except FileExistsError:
        return
    finally:
        os.unlink(tmp)
    log.warning(
        "ENCRYPTION_KEYS is not set: generated a local development key in %s. "
        "Keep this file; set ENCRYPTION_KEYS for real deployments.",
        path,
    )
