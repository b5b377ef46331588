"""When calls happen: the user's schedule, "call me now", pausing and cancelling."""

from __future__ import annotations

from typing import Any, TypedDict

from conceptkit import Absent, Filter, Sync, concepts, vars

(
    Requesting,
    Schedule,
    CallScheduler,
    Profile,
    PhoneCall,
    Dialer,
    PhoneVerification,
    ReflectionSession,
) = concepts(
    "Requesting Schedule CallScheduler Profile PhoneCall Dialer PhoneVerification ReflectionSession"
)
user, at, phone, retries, request, scheduled, err, sid, status, origin, call = vars(
    "user at phone retries request scheduled err sid status origin call"
)
reason, session, timezone = vars("reason session timezone")

CALL_NOW = "/Calls/now"


class NoBody(TypedDict):
    pass


QueueScheduledCall = Sync(
    "QueueScheduledCall",
    doc="the worker reached a planned time: queue that call (refused if one is already pending)",
    when=[Schedule.advance({"user": user, "after": at}, {"missed": None})],
    where=[Profile._getProfile({"user": user}, {"phoneNumber": phone, "maxRetries": retries})],
    then=[
        CallScheduler.scheduleCall(
            {
                "user": user,
                "phoneNumber": phone,
                "scheduledFor": at,
                "maxRetries": retries,
                "origin": "schedule",
            }
        )
    ],
)

RecordMissedSlot = Sync(
    "RecordMissedSlot",
    doc="a planned time that passed while the service was down, and is now too late (another "
    "day for them, outside their calling window, or over two hours late): the day is "
    "recorded as missed with the reason, not dialled at a strange hour",
    when=[Schedule.advance({"user": user, "after": at}, {"missed": reason})],
    where=[
        Filter(lambda f: f["reason"] is not None, "the slot is too late to call"),
        Profile._getProfile({"user": user}, {"phoneNumber": phone}),
    ],
    then=[
        CallScheduler.recordMissedSlot(
            {"user": user, "phoneNumber": phone, "scheduledFor": at, "reason": reason}
        )
    ],
)

CallMeNow = Sync(
    "CallMeNow",
    when=[Requesting.request({"path": CALL_NOW, "user": user}, {})],
    where=[
        Profile._getProfile({"user": user}, {"phoneNumber": phone, "maxRetries": retries}),
        PhoneVerification._isVerified({"user": user, "phoneNumber": phone}, {"verified": True}),
    ],
    then=[CallScheduler.callNow({"user": user, "phoneNumber": phone, "maxRetries": retries})],
)

CallNowQueued = Sync(
    "CallNowQueued",
    when=[
        Requesting.request({"path": CALL_NOW}, {"request": request}),
        CallScheduler.callNow({}, {"scheduledCall": scheduled}),
    ],
    then=[Requesting.respond({"request": request, "output": {"scheduledCall": scheduled}})],
)


def refusals_of_a_call_request(name: str, path: str, action: Any) -> tuple[Sync, Sync, Sync]:
    """The three refusals of a request to be called (``/Calls/now``, ``/Calls/snooze``): the
    scheduler's own (409 with its error), no verified number, no profile."""
    refused = Sync(
        f"{name}Refused",
        when=[
            Requesting.request({"path": path}, {"request": request}),
            action({}, {"error": err}),
        ],
        then=[Requesting.respond({"request": request, "output": {"error": err}, "status": 409})],
    )
    needs_number = Sync(
        f"{name}NeedsVerifiedNumber",
        when=[Requesting.request({"path": path, "user": user}, {"request": request})],
        where=[
            Profile._getProfile({"user": user}, {"phoneNumber": phone}),
            PhoneVerification._isVerified(
                {"user": user, "phoneNumber": phone}, {"verified": False}
            ),
        ],
        then=[_conflict("verify your phone number first")],
    )
    needs_profile = Sync(
        f"{name}NeedsProfile",
        when=[Requesting.request({"path": path, "user": user}, {"request": request})],
        where=[Absent(Profile._getProfile({"user": user}, {}))],
        then=[_conflict("create your profile first")],
    )
    return refused, needs_number, needs_profile


def _conflict(message: str) -> Any:
    output = {"error": message, "errorKind": "conflict"}
    return Requesting.respond({"request": request, "output": output, "status": 409})


CallNowRefused, CallNowNeedsVerifiedNumber, CallNowNeedsProfile = refusals_of_a_call_request(
    "CallNow", CALL_NOW, CallScheduler.callNow
)

CancelCallsOffTheDial = Sync(
    "CancelCallsOffTheDial",
    doc="cancelling a call being attempted calls off its dial at whatever stage: one not "
    "begun yet, or not yet sent to the provider, is never sent (DialCalledOff)",
    when=[CallScheduler.cancel({"scheduledCall": scheduled}, {"wasInProgress": True})],
    then=[Dialer.cancelDial({"scheduledCall": scheduled})],
)

CancelEndsTheCall = Sync(
    "CancelEndsTheCall",
    doc="...and ends its call: a placed one is hung up (HangUpCancelledCall)",
    when=[
        CallScheduler.cancel({"user": user, "scheduledCall": scheduled}, {"wasInProgress": True})
    ],
    where=[PhoneCall._activeForUser({"user": user}, {"call": call, "scheduledCall": scheduled})],
    then=[PhoneCall.markCancelled({"call": call})],
)

HangUpCancelledCall = Sync(
    "HangUpCancelledCall",
    doc="a cancelled call the provider has placed is hung up now; one whose sid is not known "
    "yet is hung up when it is (HangUpUnwantedCall)",
    when=[PhoneCall.markCancelled({}, {"callSid": sid})],
    where=[Filter(lambda f: f["sid"] is not None, "the provider's id is known")],
    then=[Dialer.hangUp({"callSid": sid})],
)

# -- a user who has reflected today is not called again that day (unless they ask) ---------

ReflectedByPhone = Sync(
    "ReflectedByPhone",
    doc="a completed phone reflection: no more automatic calls that day",
    when=[ReflectionSession.closeCall({}, {"user": user, "status": "COMPLETED", "endedAt": at})],
    then=[
        Schedule.noteReflected({"user": user, "at": at}),
        CallScheduler.dropPending({"user": user}),
    ],
)

ReflectedByTyping = Sync(
    "ReflectedByTyping",
    doc="a completed typed reflection: no more automatic calls that day, and a queued one "
    "(a retry, a planned call) is dropped",
    when=[ReflectionSession.completeSession({"user": user, "session": session}, {})],
    where=[ReflectionSession._session({"user": user, "session": session}, {"endedAt": at})],
    then=[
        Schedule.noteReflected({"user": user, "at": at}),
        CallScheduler.dropPending({"user": user}),
    ],
)

PausingCancelsPlannedCall = Sync(
    "PausingCancelsPlannedCall",
    when=[Schedule.pause({"user": user}, {})],
    where=[
        CallScheduler._upcoming(
            {"user": user}, {"scheduledCall": scheduled, "status": status, "origin": origin}
        ),
        Filter(
            lambda f: f["status"] == "PENDING" and f["origin"] == "schedule",
            "a planned call not yet dialled",
        ),
    ],
    then=[CallScheduler.cancel({"user": user, "scheduledCall": scheduled})],
)

# -- the schedule follows the profile ---------------------------------------------------

ScheduleFollowsProfileTimezone = Sync(
    "ScheduleFollowsProfileTimezone",
    when=[Profile.updateTimezone({"user": user, "timezone": timezone}, {})],
    then=[Schedule.setTimezone({"user": user, "timezone": timezone})],
)
