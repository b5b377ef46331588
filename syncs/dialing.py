"""A due call is claimed by a worker and dialled — only to a verified number, only once per attempt."""

from __future__ import annotations

from conceptkit import Sync, concepts, vars

CallScheduler, PhoneCall, Dialer, Profile, PhoneVerification = concepts(
    "CallScheduler PhoneCall Dialer Profile PhoneVerification"
)
scheduled, user, attempt, worker, phone, call, sid, err = vars(
    "scheduled user attempt worker phone call sid err"
)

StartClaimedCall = Sync(
    "StartClaimedCall",
    doc="dial the number on the profile now, and only if its owner verified it",
    when=[CallScheduler.claimDue({}, {"scheduledCall": scheduled, "user": user})],
    where=[
        Profile._getProfile({"user": user}, {"phoneNumber": phone}),
        PhoneVerification._isVerified({"user": user, "phoneNumber": phone}, {"verified": True}),
    ],
    then=[PhoneCall.initiate({"user": user, "scheduledCall": scheduled, "toNumber": phone})],
)

RefuseUnverifiedNumber = Sync(
    "RefuseUnverifiedNumber",
    when=[CallScheduler.claimDue({}, {"scheduledCall": scheduled, "user": user})],
    where=[
        Profile._getProfile({"user": user}, {"phoneNumber": phone}),
        PhoneVerification._isVerified({"user": user, "phoneNumber": phone}, {"verified": False}),
    ],
    then=[
        CallScheduler.markFailed(
            {"scheduledCall": scheduled, "error": "the phone number is not verified"}
        )
    ],
)

Dial = Sync(
    "Dial",
    when=[
        CallScheduler.claimDue({}, {"scheduledCall": scheduled, "attempt": attempt, "user": user}),
        PhoneCall.initiate({"toNumber": phone}, {"call": call}),
    ],
    then=[
        Dialer.dial(
            {
                "user": user,
                "call": call,
                "scheduledCall": scheduled,
                "attempt": attempt,
                "to": phone,
            }
        )
    ],
)

Dialled = Sync(
    "Dialled",
    when=[
        CallScheduler.claimDue(
            {"worker": worker}, {"scheduledCall": scheduled, "attempt": attempt}
        ),
        Dialer.dial({"call": call}, {"callSid": sid}),
    ],
    then=[
        PhoneCall.attachSid({"call": call, "callSid": sid}),
        CallScheduler.markDialed(
            {"scheduledCall": scheduled, "worker": worker, "attempt": attempt}
        ),
    ],
)

DialFailed = Sync(
    "DialFailed",
    doc="the provider refused, or the outcome is unclear (the next attempt reconciles first)",
    when=[
        CallScheduler.claimDue({}, {"scheduledCall": scheduled, "attempt": attempt}),
        Dialer.dial({"call": call}, {"error": err}),
    ],
    then=[
        PhoneCall.failBeforeDial({"call": call, "error": err}),
        CallScheduler.recordMissed(
            {"scheduledCall": scheduled, "outcome": "FAILED", "attempt": attempt}
        ),
    ],
)

UserAlreadyOnACall = Sync(
    "UserAlreadyOnACall",
    when=[
        CallScheduler.claimDue({}, {"scheduledCall": scheduled, "attempt": attempt}),
        PhoneCall.initiate({}, {"error": err}),
    ],
    then=[
        CallScheduler.recordMissed(
            {"scheduledCall": scheduled, "outcome": "BUSY", "attempt": attempt}
        )
    ],
)
