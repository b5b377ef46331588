"""Telephony: the port the concepts are given, and its adapters.

The package's public API is the port (`services.telephony.port`) and what counts as a
phone number (`services.telephony.numbers`: E.164, normalised with phonenumbers). The
adapters are `services.telephony.twilio.TwilioTelephony` and
`services.telephony.mock.MockTelephony`, imported by the assembly only, so importing the
port never loads the twilio library.
"""

from .numbers import E164_PATTERN, is_e164, normalize_e164
from .port import (
    ENDED_PROGRESS,
    LIVE_PROGRESS,
    AmbiguousDialError,
    Answerer,
    CallProgress,
    CallRateLimiter,
    CallSummary,
    DialFenced,
    Fence,
    PlacedCall,
    SentText,
    Telephony,
    TelephonyError,
)

__all__ = [
    "E164_PATTERN",
    "ENDED_PROGRESS",
    "LIVE_PROGRESS",
    "AmbiguousDialError",
    "Answerer",
    "CallProgress",
    "CallRateLimiter",
    "CallSummary",
    "DialFenced",
    "Fence",
    "PlacedCall",
    "SentText",
    "Telephony",
    "TelephonyError",
    "is_e164",
    "normalize_e164",
]
