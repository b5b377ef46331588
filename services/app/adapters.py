"""The service adapters of the reflection service, chosen once at startup by USE_MOCKS.

Mock mode swaps the outside world (Twilio, Gemini) for local stand-ins; the
database, the clock and the encryption are always real.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conceptkit import hookimpl
from services.app.clock import SystemClock
from services.app.config import Config
from services.encryption.keys import Encryptor
from services.webhooks.urls import WebhookUrls

LOG_USER = "conceptkit-action-log"


class LogSealer:
    """Seals private values in the action log with the encryption service (own key scope)."""

    def __init__(self, encryptor: Encryptor) -> None:
        self.encryptor = encryptor

    def seal(self, plaintext: str, *, context: str) -> str:
        return self.encryptor.encrypt(plaintext, user=LOG_USER, field=context)

    def open(self, token: str, *, context: str) -> str:
        return self.encryptor.decrypt(token, user=LOG_USER, field=context)


def encryptor_for(config: Config) -> Encryptor:
    if not config.encryption_keys:
        raise ValueError("no encryption keys configured (ensure_local_key runs first in mock mode)")
    return Encryptor([(k.kid, k.key) for k in config.encryption_keys])


def telephony_for(config: Config) -> Any:
    if config.use_mocks:
        from services.telephony.mock import MockTelephony

        return MockTelephony(
            from_number=config.twilio_phone_number or "+15005550006",
            calls_per_second=config.twilio_calls_per_second,
        )
    from services.telephony.twilio import TwilioTelephony

    return TwilioTelephony(
        account_sid=config.twilio_account_sid,
        auth_token=config.twilio_auth_token,
        from_number=config.twilio_phone_number,
        api_base_url=config.twilio_api_base_url,
        calls_per_second=config.twilio_calls_per_second,
    )


def completion_for(config: Config) -> Any:
    if config.use_mocks or config.completion_check == "local" or not config.gemini_api_key:
        from services.completion.local import LocalCompletionChecker

        return LocalCompletionChecker()
    from services.completion.gemini import GeminiCompletionChecker

    return GeminiCompletionChecker(
        api_key=config.gemini_api_key,
        model=config.gemini_model,
        timeout_s=config.gemini_timeout_seconds,
        base_url=config.gemini_base_url,
    )


class CallPolicy:
    """Settings the call syncs need (read from the configuration, once)."""

    def __init__(self, config: Config) -> None:
        self.retry_delay_seconds = config.retry_delay_seconds
        self.claim_lease_seconds = config.worker_lease_seconds
        self.unclear_give_up_seconds = config.dial_unclear_give_up_seconds


def adapters_for(config: Config, **overrides: Any) -> dict[str, Any]:
    """Every service adapter of the app for this configuration; ``overrides`` replace some
    (tests swap in a fake clock or a mock phone they keep a handle on)."""
    encryptor = overrides.get("encryption") or encryptor_for(config)
    made: dict[str, Any] = {
        "clock": SystemClock,
        "encryption": lambda: encryptor,
        "log_sealer": lambda: LogSealer(encryptor),
        "telephony": lambda: telephony_for(config),
        "completion": lambda: completion_for(config),
        "webhook_urls": lambda: WebhookUrls(config.public_base_url),
        "call_policy": lambda: CallPolicy(config),
    }
    unknown = set(overrides) - set(made)
    if unknown:
        raise ValueError(f"no such service adapter: {sorted(unknown)}")
    return {name: overrides[name] if name in overrides else make() for name, make in made.items()}


@hookimpl
def conceptkit_services(
    register: Callable[[str, Any], None], use_mocks: bool, settings: Config
) -> None:
    for name, adapter in adapters_for(settings).items():
        register(name, adapter)
