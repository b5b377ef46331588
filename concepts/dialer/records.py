"""What the Dialer keeps of an attempt: its states, the provider's call statuses it
reads, and the outputs of its actions."""

from __future__ import annotations

import datetime as dt
from typing import TypedDict

RECONCILE_SKEW = dt.timedelta(seconds=120)
FRESH, RESUMED = "fresh", "resumed"
# Only a call that can still reach the person is adopted; one already over was an
# attempt that happened (its status callbacks tell its outcome), not one to take over.
LIVE_STATUSES = frozenset({"queued", "initiated", "ringing", "in-progress"})
ENDED_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
UNCLEAR = ("dialing", "ambiguous")
FIELD_TO = "Dialer.to"  # the encrypted number's field label
LOOKUP_PURPOSE = "phone"  # the lookup key's HMAC label (services.encryption.keys.PHONE)


class Dialled(TypedDict):
    callSid: str | None  # None while the outcome is unclear
    adopted: bool
    unclear: bool


class Reconciled(TypedDict):
    call: str
    callSid: str | None
    placed: bool


class Looked(TypedDict):
    callSid: str
    status: str
    ended: bool
    durationSeconds: int | None
    answeredBy: str | None
