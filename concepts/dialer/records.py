"""What the Dialer keeps of an attempt: its states, the call statuses it reads from the
telephony port (neutral words, services/telephony/port.py ``CallProgress``), and the
outputs of its actions."""

from __future__ import annotations

import datetime as dt
from typing import TypedDict

from services.telephony import ENDED_PROGRESS, LIVE_PROGRESS, Answerer, CallProgress

RECONCILE_SKEW = dt.timedelta(seconds=120)
FRESH, RESUMED = "fresh", "resumed"
# Only a call that can still reach the person (ringing: queued, dialling or ringing; or
# answered) is adopted; one already over was an attempt that happened (its status
# callbacks tell its outcome), not one to take over.
LIVE_STATUSES = LIVE_PROGRESS
ENDED_STATUSES = ENDED_PROGRESS  # hung_up, busy, no_answer, failed (cancelled included)
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
    status: CallProgress | None  # None: a status the provider's adapter does not know
    ended: bool
    durationSeconds: int | None
    answeredBy: Answerer | None
