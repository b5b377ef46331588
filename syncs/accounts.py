"""Accounts: sign-up gives default prompts; deleting an account removes everything of that user."""

from __future__ import annotations

from typing import TypedDict

from conceptkit import Filter, Sync, concepts, vars

(
    Accounts,
    Requesting,
    Profile,
    Prompts,
    Schedule,
    ReflectionSession,
    PhoneVerification,
    CallScheduler,
    PhoneCall,
    Dialer,
) = concepts(
    "Accounts Requesting Profile Prompts Schedule ReflectionSession PhoneVerification CallScheduler PhoneCall Dialer"
)
user, request, password, err, timezone, call, kind, scheduled, wait = vars(
    "user request password err timezone call kind scheduled wait"
)

DELETE_ACCOUNT = "/Account/delete"


class DeleteAccountBody(TypedDict):
    password: str


DefaultPrompts = Sync(
    "DefaultPrompts",
    when=[Accounts.register({}, {"user": user})],
    then=[Prompts.setDefaults({"user": user})],
)

ConfirmDeletion = Sync(
    "ConfirmDeletion",
    doc="deleting an account needs the password again",
    when=[
        Requesting.request(
            {"path": DELETE_ACCOUNT, "user": user, "body": {"password": password}}, {}
        )
    ],
    then=[Accounts.verifyPassword({"user": user, "password": password})],
)

HangUpBeforeDeletion = Sync(
    "HangUpBeforeDeletion",
    doc="a call under way is ended first, at whatever stage (see CancelEndsTheCall)",
    when=[
        Requesting.request({"path": DELETE_ACCOUNT}, {}),
        Accounts.verifyPassword({"user": user}, {}),
    ],
    where=[PhoneCall._activeForUser({"user": user}, {"call": call, "scheduledCall": scheduled})],
    then=[
        PhoneCall.markCancelled({"call": call}),
        Dialer.cancelDial({"scheduledCall": scheduled}),
    ],
)

DeleteEverything = Sync(
    "DeleteEverything",
    when=[
        Requesting.request({"path": DELETE_ACCOUNT}, {"request": request}),
        Accounts.verifyPassword({"user": user}, {}),
    ],
    then=[
        CallScheduler.deleteAllFor({"user": user}),
        ReflectionSession.deleteAllFor({"user": user}),
        PhoneCall.deleteAllFor({"user": user}),
        Schedule.deleteAllFor({"user": user}),
        Prompts.deleteAllFor({"user": user}),
        PhoneVerification.forget({"user": user}),
        Dialer.deleteAllFor({"user": user}),
        Profile.deleteProfile({"user": user}),
        Accounts.deleteAccount({"user": user}),
        Requesting.respond({"request": request, "output": {"deleted": True}}),
    ],
)

DeletionRefused = Sync(
    "DeletionRefused",
    when=[
        Requesting.request({"path": DELETE_ACCOUNT}, {"request": request}),
        Accounts.verifyPassword({}, {"error": err, "errorKind": kind}),
    ],
    where=[Filter(lambda f: f["kind"] != "rate_limited", "the password was wrong")],
    doc="a wrong password is 403",
    then=[
        Requesting.respond(
            {"request": request, "output": {"error": err, "errorKind": kind}, "status": 403}
        )
    ],
)

DeletionThrottled = Sync(
    "DeletionThrottled",
    when=[
        Requesting.request({"path": DELETE_ACCOUNT}, {"request": request}),
        Accounts.verifyPassword(
            {}, {"error": err, "errorKind": "rate_limited", "retryAfter": wait}
        ),
    ],
    doc="too many wrong passwords: 429, saying when to try again (also as Retry-After)",
    then=[
        Requesting.respond(
            {
                "request": request,
                "output": {"error": err, "errorKind": "rate_limited", "retryAfter": wait},
                "status": 429,
            }
        )
    ],
)

ScheduleFollowsProfileTimezone = Sync(
    "ScheduleFollowsProfileTimezone",
    when=[Profile.updateTimezone({"user": user, "timezone": timezone}, {})],
    then=[Schedule.setTimezone({"user": user, "timezone": timezone})],
)
