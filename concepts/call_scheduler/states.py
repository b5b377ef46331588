"""The life of a scheduled call: its states, its outputs, and what queries show of it.

PENDING until a worker claims it (DIALING, under a time-limited lease), IN_PROGRESS once
dialled, and COMPLETED, FAILED or CANCELLED at the end; a missed attempt goes back to
PENDING with a later due time while attempts remain.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, TypedDict

from conceptkit import Doc, Range

PENDING = "PENDING"
DIALING = "DIALING"
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"

ACTIVE = (PENDING, DIALING, IN_PROGRESS)
ATTEMPTING = (DIALING, IN_PROGRESS)
TERMINAL = (COMPLETED, FAILED, CANCELLED)

MAX_RETRIES = 10
MAX_SNOOZE_MINUTES = 120  # "call me in 10 minutes"; later than that is a call of another hour
FIELD_NUMBER = "CallScheduler.phoneNumber"  # the encrypted number's field label

Attempt = Annotated[int, Range(1, MAX_RETRIES), Doc("attempt number from claimDue")]


class Scheduled(TypedDict):
    scheduledCall: str


class Snoozed(TypedDict):
    scheduledCall: str
    at: dt.datetime  # when the call is now due


class Claimed(TypedDict):
    scheduledCall: str
    user: str
    phoneNumber: str
    attempt: int
    takeover: bool


class Missed(TypedDict):
    scheduledCall: str
    user: str
    status: str
    retryAt: dt.datetime | None
    attemptsLeft: int


class Cancelled(TypedDict):
    wasInProgress: bool


class Deleted(TypedDict):
    deleted: int


def logged(doc: dict[str, Any], outcome: str) -> list[dict[str, Any]]:
    """attemptLog with the current attempt's outcome appended (whole list, for $set)."""
    entry = {"attempt": doc["attempts"], "at": doc.get("lastAttemptAt"), "outcome": outcome}
    return [*doc.get("attemptLog", []), entry]


def view(doc: dict[str, Any]) -> dict[str, Any]:
    """What queries show of a scheduled call, but the number (``CallQueries._view`` adds it)."""
    return {
        "scheduledCall": doc["_id"],
        "user": doc["user"],
        "scheduledFor": doc["scheduledFor"],
        "status": doc["status"],
        "attempts": doc["attempts"],
        "maxRetries": doc["maxRetries"],
        "lastAttemptAt": doc.get("lastAttemptAt"),
        "nextRetryAt": doc.get("nextRetryAt"),
        "lastOutcome": doc.get("lastOutcome"),
        "errorMessage": doc.get("errorMessage"),
        "attemptLog": doc.get("attemptLog", []),
        "createdAt": doc["createdAt"],
        "completedAt": doc.get("completedAt"),
        "origin": doc["origin"],
    }
