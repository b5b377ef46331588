"""A due call is claimed by a worker and dialled — only to a verified number, only once per attempt.

A claim whose worker died is taken over when its lease expires (``takeover``):
the attempt may already have been dialled, so it is resumed, never restarted. A dial
the provider refused, or one not placed because the user is already on a call, is a
missed call: missed_call.py.
"""

from __future__ import annotations

from conceptkit import Absent, Filter, Sync, concepts, vars

CallScheduler, PhoneCall, Dialer, Profile, PhoneVerification = concepts(
    "CallScheduler PhoneCall Dialer Profile PhoneVerification"
)
scheduled, user, attempt, worker, phone, call, sid, err = vars(
    "scheduled user attempt worker phone call sid err"
)

StartClaimedCall = Sync(
    "StartClaimedCall",
    doc="dial the number on the profile now, and only if its owner verified it",
    when=[
        CallScheduler.claimDue({}, {"scheduledCall": scheduled, "user": user, "takeover": False})
    ],
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
    where=[Filter(lambda f: f["sid"] is not None, "the provider's id is known")],
    then=[
        PhoneCall.attachSid({"call": call, "callSid": sid}),
        CallScheduler.markDialed(
            {"scheduledCall": scheduled, "worker": worker, "attempt": attempt}
        ),
    ],
)

DialUnclear = Sync(
    "DialUnclear",
    doc="the provider may have placed the call: the attempt is under way (not missed) until "
    "the call's callbacks, or the reconciler asking the provider, settle it",
    when=[
        CallScheduler.claimDue(
            {"worker": worker}, {"scheduledCall": scheduled, "attempt": attempt}
        ),
        Dialer.dial({}, {"unclear": True}),
    ],
    then=[
        CallScheduler.markDialed({"scheduledCall": scheduled, "worker": worker, "attempt": attempt})
    ],
)

DialCalledOff = Sync(
    "DialCalledOff",
    doc="the user cancelled (or deleted their account) before the dial went out: the call "
    "waiting for it ends, freeing the user",
    when=[Dialer.dial({"call": call}, {"error": err, "cancelled": True})],
    then=[PhoneCall.markCancelled({"call": call})],
)

HangUpUnwantedCall = Sync(
    "HangUpUnwantedCall",
    doc="the provider placed a call we no longer want (cancelled, or its account deleted, "
    "while it was being dialled): end it as soon as its sid is known",
    when=[
        Dialer.dial({}, {"callSid": sid}),
        PhoneCall.attachSid({"callSid": sid}, {"error": err}),
    ],
    then=[Dialer.hangUp({"callSid": sid})],
)

# -- an unclear dial, settled later by the reconciler (syncs/invariants.py) -----------------

UnclearDialFound = Sync(
    "UnclearDialFound",
    when=[Dialer.reconcile({}, {"call": call, "callSid": sid, "placed": True})],
    then=[PhoneCall.attachSid({"call": call, "callSid": sid})],
)

FoundCallUnwanted = Sync(
    "FoundCallUnwanted",
    when=[
        Dialer.reconcile({}, {"callSid": sid, "placed": True}),
        PhoneCall.attachSid({"callSid": sid}, {"error": err}),
    ],
    then=[Dialer.hangUp({"callSid": sid})],
)

UnclearDialNeverPlaced = Sync(
    "UnclearDialNeverPlaced",
    doc="the provider shows no call for the attempt: it was never placed, so it is a miss",
    when=[Dialer.reconcile({}, {"call": call, "placed": False})],
    then=[PhoneCall.failBeforeDial({"call": call, "error": "never dialled"})],
)

# -- taking over the claim of a worker that died -------------------------------------------

RestartTakenOverCall = Sync(
    "RestartTakenOverCall",
    doc="the dead worker had not started the call yet: start it",
    when=[CallScheduler.claimDue({}, {"scheduledCall": scheduled, "user": user, "takeover": True})],
    where=[
        Absent(PhoneCall._activeForUser({"user": user}, {"scheduledCall": scheduled})),
        Profile._getProfile({"user": user}, {"phoneNumber": phone}),
        PhoneVerification._isVerified({"user": user, "phoneNumber": phone}, {"verified": True}),
    ],
    then=[PhoneCall.initiate({"user": user, "scheduledCall": scheduled, "toNumber": phone})],
)

ResumeTakenOverDial = Sync(
    "ResumeTakenOverDial",
    doc="the dead worker may have dialled: the Dialer reconciles with the provider before any redial",
    when=[
        CallScheduler.claimDue(
            {}, {"scheduledCall": scheduled, "user": user, "attempt": attempt, "takeover": True}
        )
    ],
    where=[
        PhoneCall._activeForUser(
            {"user": user},
            {"call": call, "scheduledCall": scheduled, "callSid": None, "toNumber": phone},
        )
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

ConfirmTakenOverDial = Sync(
    "ConfirmTakenOverDial",
    doc="the dead worker had dialled and recorded the call; only the claim was left",
    when=[
        CallScheduler.claimDue(
            {"worker": worker},
            {"scheduledCall": scheduled, "user": user, "attempt": attempt, "takeover": True},
        )
    ],
    where=[
        PhoneCall._activeForUser({"user": user}, {"scheduledCall": scheduled, "callSid": sid}),
        Filter(lambda f: f["sid"] is not None, "the call has the provider's id"),
    ],
    then=[
        CallScheduler.markDialed({"scheduledCall": scheduled, "worker": worker, "attempt": attempt})
    ],
)
