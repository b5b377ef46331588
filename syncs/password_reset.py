"""Where does a password reset code go? Only to the account's verified phone.

``Accounts.requestReset`` answers every caller the same, account or not; this rule is
the only place that knows which account the username names and whether its profile's
number is verified, and it answers nobody.

The same words are not enough: the same *timing* is needed too, or a reply that waits
for a text to go out tells an account with a verified phone from one without. So the
route ``/Accounts/requestReset`` is answered by ``ResetAsked`` (or ``ResetAskedTooOften``)
as soon as the request is counted, and ``TextTheResetCode``, registered after them,
texts the code once the reply has gone (``ORDER`` in syncs/plugin.py).
"""

from __future__ import annotations

from typing import Annotated, TypedDict

from conceptkit import ERROR_STATUS, Doc, Len, Sync, concepts, vars

Requesting, Accounts, Profile, PhoneVerification = concepts(
    "Requesting Accounts Profile PhoneVerification"
)
username, user, number, request, client, err, retry = vars(
    "username user number request client err retry"
)

REQUEST_RESET = "/Accounts/requestReset"


class ResetBody(TypedDict):
    username: Annotated[str, Len(1, 64), Doc("the username given at sign-up")]


AskForAReset = Sync(
    "AskForAReset",
    when=[
        Requesting.request(
            {"path": REQUEST_RESET, "body": {"username": username}, "client": client}, {}
        )
    ],
    then=[Accounts.requestReset({"username": username, "client": client})],
)

ResetAsked = Sync(
    "ResetAsked",
    doc="the same empty answer for every username, before any text is sent",
    when=[
        Requesting.request({"path": REQUEST_RESET}, {"request": request}),
        Accounts.requestReset({}, {}),
    ],
    then=[Requesting.respond({"request": request, "output": {}})],
)

ResetAskedTooOften = Sync(
    "ResetAskedTooOften",
    doc="asked too often (per client, per username): 429 with when to ask again",
    when=[
        Requesting.request({"path": REQUEST_RESET}, {"request": request}),
        Accounts.requestReset({}, {"error": err, "errorKind": "rate_limited", "retryAfter": retry}),
    ],
    then=[
        Requesting.respond(
            {
                "request": request,
                "output": {"error": err, "errorKind": "rate_limited", "retryAfter": retry},
                "status": ERROR_STATUS["rate_limited"],
            }
        )
    ],
)

TextTheResetCode = Sync(
    "TextTheResetCode",
    doc="a reset code is texted only to the profile's number, and only if it is verified",
    when=[Accounts.requestReset({"username": username}, {})],
    where=[
        Accounts._userNamed({"username": username}, {"user": user}),
        Profile._getProfile({"user": user}, {"phoneNumber": number}),
        PhoneVerification._isVerified({"user": user, "phoneNumber": number}, {"verified": True}),
    ],
    then=[Accounts.sendResetCode({"user": user, "phoneNumber": number})],
)
