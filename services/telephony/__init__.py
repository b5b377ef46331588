"""Telephony: the port the concepts are given, and its adapters.

The package's public API is the port (`services.telephony.port`); the adapters are
`services.telephony.twilio.TwilioTelephony` and `services.telephony.mock.MockTelephony`,
imported by the assembly only, so importing the port never loads the twilio library.
"""

from .port import (
    AmbiguousDialError,
    CallRateLimiter,
    CallSummary,
    DialFenced,
    Fence,
    PlacedCall,
    Telephony,
    TelephonyError,
)

__all__ = [
    "AmbiguousDialError",
    "CallRateLimiter",
    "CallSummary",
    "DialFenced",
    "Fence",
    "PlacedCall",
    "Telephony",
    "TelephonyError",
]
