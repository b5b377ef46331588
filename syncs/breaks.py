"""Breaks the user asks for from Today: skipping today's call, and "call me in 10 minutes".

A pause (with or without an end date) cancels a planned call through
``PausingCancelsPlannedCall`` in scheduling.py; here, a skipped day cancels the call
waiting for today, and a snooze moves (or queues) the call, to the verified number of
the profile as "call me now" does.
"""

from __future__ import annotations

from typing import Annotated, TypedDict

from conceptkit import Filter, Range, Sync, concepts, vars
from concepts.call_scheduler.states import MAX_SNOOZE_MINUTES

from .scheduling import refusals_of_a_call_request

Requesting, Schedule, CallScheduler, Profile, PhoneVerification = concepts(
    "Requesting Schedule CallScheduler Profile PhoneVerification"
)
user, ends, scheduled, status, when = vars("user ends scheduled status when")
phone, retries, minutes, request, err, at = vars("phone retries minutes request err at")

SNOOZE = "/Calls/snooze"


class SnoozeBody(TypedDict):
    minutes: Annotated[int, Range(1, MAX_SNOOZE_MINUTES)]


SkipCancelsTodaysCall = Sync(
    "SkipCancelsTodaysCall",
    doc="a skipped day: the call waiting for it (planned, a retry, snoozed) is cancelled; one "
    "already ringing is left alone, and one due after the day ends is kept",
    when=[Schedule.skipToday({"user": user}, {"endsAt": ends})],
    where=[
        CallScheduler._upcoming(
            {"user": user}, {"scheduledCall": scheduled, "status": status, "scheduledFor": when}
        ),
        Filter(
            lambda f: f["status"] == "PENDING" and f["when"] < f["ends"],
            "a call waiting for the skipped day",
        ),
    ],
    then=[CallScheduler.cancel({"user": user, "scheduledCall": scheduled})],
)

SnoozeCall = Sync(
    "SnoozeCall",
    doc='"call me in N minutes": the waiting call moves there, or one is queued for then, to '
    "the profile's number once it is verified",
    when=[
        Requesting.request({"path": SNOOZE, "user": user, "body": {"minutes": minutes}}, {}),
    ],
    where=[
        Profile._getProfile({"user": user}, {"phoneNumber": phone, "maxRetries": retries}),
        PhoneVerification._isVerified({"user": user, "phoneNumber": phone}, {"verified": True}),
    ],
    then=[
        CallScheduler.snooze(
            {"user": user, "phoneNumber": phone, "minutes": minutes, "maxRetries": retries}
        )
    ],
)

SnoozeQueued = Sync(
    "SnoozeQueued",
    when=[
        Requesting.request({"path": SNOOZE}, {"request": request}),
        CallScheduler.snooze({}, {"scheduledCall": scheduled, "at": at}),
    ],
    then=[
        Requesting.respond({"request": request, "output": {"scheduledCall": scheduled, "at": at}})
    ],
)

SnoozeRefused, SnoozeNeedsVerifiedNumber, SnoozeNeedsProfile = refusals_of_a_call_request(
    "Snooze", SNOOZE, CallScheduler.snooze
)
