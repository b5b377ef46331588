"""What does an account get, and what does deleting it remove? Default prompts; everything.

Deletion needs the password again; a call under way is ended first, then every
concept forgets the user (the order is declared in syncs/plugin.py ``ORDER``).
"""

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
    AnswerCheck,
    TextMessages,
) = concepts(
    "Accounts Requesting Profile Prompts Schedule ReflectionSession PhoneVerification "
    "CallScheduler PhoneCall Dialer AnswerCheck TextMessages"
)
user, request, password, err, call, kind, scheduled, wait, sid, session = vars(
    "user request password err call kind scheduled wait sid session"
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

ForgetAnswerChecksOfTheAccount = Sync(
    "ForgetAnswerChecksOfTheAccount",
    doc="AnswerCheck's verdicts name a call, not its user: forget those of every call of the "
    "account that reached a reflection (before DeleteEverything deletes the calls)",
    when=[
        Requesting.request({"path": DELETE_ACCOUNT}, {}),
        Accounts.verifyPassword({"user": user}, {}),
    ],
    where=[
        PhoneCall._forUser({"user": user}, {"callSid": sid, "session": session}),
        Filter(lambda f: f["sid"] is not None and f["session"] is not None, "it was prompting"),
    ],
    then=[AnswerCheck.forgetCall({"callSid": sid})],
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
        TextMessages.forgetUser({"user": user}),
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
