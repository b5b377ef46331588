"""Configuration rules: defaults, validation, the combined error message, and secret hygiene."""

from __future__ import annotations

import base64
import logging
import stat
from pathlib import Path

import attrs
import pytest

from services.app.adapters import completion_for
from services.app.config import (
    Config,
    ConfigError,
    EncryptionKey,
    ensure_local_key,
    load_config,
    redact_uri,
)

ROOT = Path(__file__).resolve().parent.parent
KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))
B64_A = base64.b64encode(KEY_A).decode()
B64_B = base64.b64encode(KEY_B).decode()
LIVE = {
    "USE_MOCKS": "false",
    "PUBLIC_BASE_URL": "https://reflect.example.org",
    "TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
    "TWILIO_AUTH_TOKEN": "tw-auth-token-value",
    "TWILIO_PHONE_NUMBER": "+14155550100",
    "GEMINI_API_KEY": "gemini-api-key-value",
    "ENCRYPTION_KEYS": f"main:{B64_A}",
}


def load(**env: str) -> Config:
    return load_config(env, env_file=None)


def errors_of(**env: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(**env)
    return str(info.value)


def test_defaults() -> None:
    config = load()
    assert config.mongodb_uri is None
    assert config.embedded_db is True
    assert config.db_name == "reflection"
    assert config.data_dir == Path("./data").absolute()
    assert (config.host, config.port) == ("127.0.0.1", 8000)
    assert config.public_base_url == "http://localhost:8000"
    assert config.use_mocks is True
    assert config.twilio_api_base_url == "https://api.twilio.com"
    assert config.gemini_model == "gemini-2.5-flash"
    assert config.gemini_base_url is None
    assert config.gemini_timeout_seconds == 2.5
    assert config.encryption_keys == ()
    assert config.retry_delay_seconds == 300
    assert config.twilio_calls_per_second == 1.0
    assert config.max_body_bytes == 65536
    assert config.action_log_retention_days == 30
    assert (config.log_format, config.log_level) == ("text", "INFO")


def test_config_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        load().port = 1  # type: ignore[misc]


def test_public_base_url_follows_port_and_drops_trailing_slash() -> None:
    assert load(PORT="9001").public_base_url == "http://localhost:9001"
    assert load(PUBLIC_BASE_URL="https://x.example/app/").public_base_url == "https://x.example/app"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("1", True), ("YES", True), ("false", False), ("0", False), ("no", False)],
)
def test_use_mocks_spellings(text: str, expected: bool) -> None:
    env = {**LIVE, "USE_MOCKS": text} if not expected else {"USE_MOCKS": text}
    assert load(**env).use_mocks is expected


def test_live_mode_with_everything_set() -> None:
    config = load(**LIVE)
    assert config.use_mocks is False
    assert config.encryption_keys == (EncryptionKey("main", KEY_A),)


def test_live_mode_names_every_missing_variable_in_one_message() -> None:
    message = errors_of(USE_MOCKS="false")
    missing_line = next(line for line in message.splitlines() if "not set" in line)
    for name in (
        "PUBLIC_BASE_URL",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_PHONE_NUMBER",
        "GEMINI_API_KEY",
        "ENCRYPTION_KEYS",
    ):
        assert name in missing_line
    assert len(message.splitlines()) == 2  # heading + that one line


def test_local_completion_check_needs_no_gemini_key_and_uses_the_local_rules() -> None:
    live = {k: v for k, v in LIVE.items() if k != "GEMINI_API_KEY"}
    assert "GEMINI_API_KEY" in errors_of(**live)
    config = load(**live, COMPLETION_CHECK="local")
    assert config.completion_check == "local" and config.gemini_api_key is None
    assert type(completion_for(config)).__name__ == "LocalCompletionChecker"
    # with a key and the default check, Gemini answers
    assert type(completion_for(load(**LIVE))).__name__ == "GeminiCompletionChecker"
    assert "COMPLETION_CHECK" in errors_of(**LIVE, COMPLETION_CHECK="llm")


def test_every_problem_is_reported_at_once() -> None:
    message = errors_of(PORT="http", LOG_FORMAT="xml", RETRY_DELAY_SECONDS="-1", USE_MOCKS="maybe")
    for name in ("PORT", "LOG_FORMAT", "RETRY_DELAY_SECONDS", "USE_MOCKS"):
        assert name in message


def test_blank_values_count_as_unset() -> None:
    assert load(PORT="", MONGODB_URI="  ", DB_NAME="").port == 8000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "0"),
        ("PORT", "65536"),
        ("PORT", "eighty"),
        ("PUBLIC_BASE_URL", "ftp://example.org"),
        ("PUBLIC_BASE_URL", "localhost:8000"),
        ("PUBLIC_BASE_URL", "https://example.org/?a=1"),
        ("TWILIO_API_BASE_URL", "not a url"),
        ("GEMINI_BASE_URL", "http://"),
        ("GEMINI_TIMEOUT_SECONDS", "0"),
        ("GEMINI_TIMEOUT_SECONDS", "soon"),
        ("RETRY_DELAY_SECONDS", "-1"),
        ("WORKER_LEASE_SECONDS", "0"),
        ("WORKER_LEASE_SECONDS", "soon"),
        ("DIAL_UNCLEAR_GIVE_UP_SECONDS", "10"),  # under the REST client's timeout
        ("RECOVERY_GRACE_SECONDS", "-5"),
        ("RETRY_DELAY_SECONDS", "1.5"),
        ("TWILIO_CALLS_PER_SECOND", "-2"),
        ("TWILIO_CALLS_PER_SECOND", "inf"),
        ("MAX_BODY_BYTES", "0"),
        ("ACTION_LOG_RETENTION_DAYS", "0"),
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "LOUD"),
        ("USE_MOCKS", "maybe"),
        ("DB_NAME", "my.db"),
        ("MONGODB_URI", "postgres://localhost"),
        ("TWILIO_PHONE_NUMBER", "555-0100"),
        ("CONVERSATION_TRANSPORT", "websocket"),
        ("RELAY_SPEECH_TIMEOUT_MS", "50"),
        ("RELAY_SILENCE_SECONDS", "0"),
        ("RELAY_RECHECK_SECONDS", "-1"),
        ("TWILIO_PHONE_NUMBER", "+1415555\uff10\uff11\uff10\uff10"),
        ("ENCRYPTION_KEYS", "not base64!"),
        ("ENCRYPTION_KEYS", base64.b64encode(b"short").decode()),
        ("ENCRYPTION_KEYS", f"a:{B64_A},a:{B64_B}"),
        ("ENCRYPTION_KEYS", f"bad kid!:{B64_A}"),
    ],
)
def test_invalid_values_are_rejected_with_the_variable_name(name: str, value: str) -> None:
    assert name in errors_of(**{name: value})


def test_live_mode_requires_https_and_a_real_account_sid() -> None:
    message = errors_of(
        **{**LIVE, "PUBLIC_BASE_URL": "http://reflect.example.org", "TWILIO_ACCOUNT_SID": "AC1"}
    )
    assert "https://" in message
    assert "TWILIO_ACCOUNT_SID" in message


def test_mock_mode_accepts_http_and_fake_twilio_values() -> None:
    config = load(PUBLIC_BASE_URL="http://localhost:8000", TWILIO_ACCOUNT_SID="ACfake")
    assert config.twilio_account_sid == "ACfake"


def test_numbers_and_choices_are_parsed() -> None:
    config = load(
        PORT="9000",
        GEMINI_TIMEOUT_SECONDS="1.25",
        RETRY_DELAY_SECONDS="0",
        TWILIO_CALLS_PER_SECOND="0.5",
        LOG_FORMAT="JSON",
        LOG_LEVEL="debug",
    )
    assert (config.port, config.gemini_timeout_seconds) == (9000, 1.25)
    assert (config.retry_delay_seconds, config.twilio_calls_per_second) == (0, 0.5)
    assert (config.log_format, config.log_level) == ("json", "DEBUG")


def test_encryption_keys_with_and_without_kids() -> None:
    named = load(ENCRYPTION_KEYS=f"new:{B64_B}, old:{B64_A}").encryption_keys
    assert [k.kid for k in named] == ["new", "old"]
    bare = load(ENCRYPTION_KEYS=f"{B64_A},{B64_B}").encryption_keys
    assert bare == (EncryptionKey("k1", KEY_A), EncryptionKey("k2", KEY_B))
    kid, key = bare[0]  # a plain (kid, key) pair, as services.encryption.keys.Encryptor takes
    assert (kid, key) == ("k1", KEY_A)


def test_mongodb_uri_disables_embedded_unless_devrun_says_so() -> None:
    assert load(MONGODB_URI="mongodb://db:27017").embedded_db is False
    assert load(MONGODB_URI="mongodb://db:27017", CONCEPTKIT_EMBEDDED="1").embedded_db is True


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=9100\nDB_NAME=from_file\n# comment\nLOG_LEVEL=warning\n")
    config = load_config({"PORT": "9200"}, env_file=env_file)
    assert config.port == 9200
    assert config.db_name == "from_file"
    assert config.log_level == "WARNING"


def test_missing_env_file_is_fine(tmp_path: Path) -> None:
    assert load_config({}, env_file=tmp_path / "absent.env").port == 8000


def test_secrets_are_not_in_repr_or_str() -> None:
    config = load(**LIVE, MONGODB_URI="mongodb://app:db-password-value@db:27017/x")
    text = repr(config) + str(config) + repr(config.encryption_keys)
    for secret in ("tw-auth-token-value", "gemini-api-key-value", B64_A, "db-password-value"):
        assert secret not in text
    assert repr(KEY_A) not in text


def test_redacted_shows_everything_but_secrets() -> None:
    config = load(**LIVE, MONGODB_URI="mongodb://app:db-password-value@db:27017/x")
    shown = config.redacted()
    assert set(shown) == {f.name for f in attrs.fields(Config)}
    assert shown["twilio_auth_token"] == "***"
    assert shown["gemini_api_key"] == "***"
    assert shown["encryption_keys"] == ["main:***"]
    assert shown["mongodb_uri"] == "mongodb://app:***@db:27017/x"
    assert shown["port"] == 8000
    flat = repr(shown)
    for secret in ("tw-auth-token-value", "gemini-api-key-value", B64_A, "db-password-value"):
        assert secret not in flat


def test_secrets_lists_values_to_mask() -> None:
    config = load(**LIVE, MONGODB_URI="mongodb://app:db-password-value@db:27017/x")
    assert set(config.secrets()) == {
        "tw-auth-token-value",
        "gemini-api-key-value",
        B64_A,
        "db-password-value",
    }


def test_redact_uri() -> None:
    assert redact_uri("mongodb://u:p@h:1/db") == "mongodb://u:***@h:1/db"
    assert redact_uri("mongodb://h:1/db") == "mongodb://h:1/db"


def test_local_key_is_generated_once_and_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load(DATA_DIR=str(tmp_path / "data"))
    with caplog.at_level(logging.WARNING, logger="services.app.config"):
        first = ensure_local_key(config)
    key_file = tmp_path / "data" / "encryption.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [k.kid for k in first.encryption_keys] == ["k1"]
    assert len(first.encryption_keys[0].key) == 32
    assert "encryption.key" in caplog.text
    assert key_file.read_text().strip() not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="services.app.config"):
        second = ensure_local_key(config)
    assert second.encryption_keys == first.encryption_keys
    assert caplog.text == ""
    # Pasting the file into ENCRYPTION_KEYS keeps the same kid and key.
    pasted = load(ENCRYPTION_KEYS=key_file.read_text().strip()).encryption_keys
    assert pasted == first.encryption_keys


def test_local_key_is_not_used_when_keys_are_configured(tmp_path: Path) -> None:
    config = load(DATA_DIR=str(tmp_path), ENCRYPTION_KEYS=B64_A)
    assert ensure_local_key(config) is config
    assert not (tmp_path / "encryption.key").exists()


def test_corrupt_local_key_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "encryption.key").write_text("garbage\n")
    with pytest.raises(ConfigError, match=r"encryption\.key"):
        ensure_local_key(load(DATA_DIR=str(tmp_path)))


def test_env_example_is_valid_and_names_every_variable() -> None:
    example = ROOT / ".env.example"
    assert load_config({}, env_file=example) == load()
    names = {line.split("=", 1)[0] for line in example.read_text().splitlines() if "=" in line}
    names = {name for name in names if not name.startswith("#")}
    assert names == {
        *("MONGODB_URI", "DB_NAME", "DATA_DIR", "HOST", "PORT", "PUBLIC_BASE_URL", "USE_MOCKS"),
        *("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER", "TWILIO_API_BASE_URL"),
        *("GEMINI_API_KEY", "GEMINI_MODEL", "GEMINI_BASE_URL", "GEMINI_TIMEOUT_SECONDS"),
        "COMPLETION_CHECK",
        *("CONVERSATION_TRANSPORT", "RELAY_SPEECH_TIMEOUT_MS", "RELAY_SILENCE_SECONDS"),
        *("RELAY_RECHECK_SECONDS", "RELAY_VOICE"),
        *("ENCRYPTION_KEYS", "RETRY_DELAY_SECONDS", "TWILIO_CALLS_PER_SECOND", "MAX_BODY_BYTES"),
        *("ACTION_LOG_RETENTION_DAYS", "LOG_FORMAT", "LOG_LEVEL"),
        *("WORKER_LEASE_SECONDS", "RECOVERY_GRACE_SECONDS", "DIAL_UNCLEAR_GIVE_UP_SECONDS"),
        *("RECONCILE_EVERY_SECONDS", "RECONCILE_SETTLE_SECONDS"),
        *("METRICS_TOKEN", "WORKER_METRICS_PORT", "METRICS_HOST"),
        "PLUGINS",
    }


def test_plugins_are_a_comma_separated_list_of_names() -> None:
    assert load().plugins == ()
    assert load(PLUGINS=" notes , extra,, ").plugins == ("notes", "extra")


def test_relay_waits_are_the_configured_ones() -> None:
    from services.app.assembly import relay_settings

    assert relay_settings(load()) is None  # <Gather> turns: no relay settings at all
    settings = relay_settings(
        load(
            CONVERSATION_TRANSPORT="relay",
            RELAY_SPEECH_TIMEOUT_MS="400",
            RELAY_SILENCE_SECONDS="2.5",
            RELAY_RECHECK_SECONDS="1.5",
        )
    )
    assert (settings.speech_timeout_ms, settings.silence_s, settings.recheck_pause_s) == (
        400,
        2.5,
        1.5,
    )
    assert relay_settings(load(CONVERSATION_TRANSPORT="relay")).recheck_pause_s == 3.0
