"""What happens when a call does not reach the user? It is retried, while attempts remain.

The retry policy, all of it here: an attempt that did not reach the user is recorded
with ``CallScheduler.recordMissed(scheduledCall, outcome)``. While the user's
``maxRetries`` (their profile; attempts counted per scheduled call) allow another, the
scheduled call is due again after ``RETRY_DELAY_SECONDS`` (default 300); the last one
leaves it FAILED. A missed attempt is one whose outcome is

- NO_ANSWER, BUSY or FAILED: the provider said so (``RetryMissedCall``);
- VOICEMAIL: a machine answered, by the answer itself or by the end of a call a machine
  had picked up (``MachineAnswered``, ``RetryAfterVoicemail``, ``RetryMissedCall``);
- HUNG_UP: picked up, then hung up before the first prompt (``HungUpBeforeTheReflection``);
- FAILED on our side: the reflection could not start, or a turn took too long and the
  caller heard our apology, which promises a call back (``OurApology``,
  ``RetryAfterFailedStart``);
- FAILED before the dial: the provider refused it, or it was never placed
  (``DialFailed``, ``LostDialEnds``);
- BUSY: the user is already on a call (``UserAlreadyOnACall``);
- LOST: the reconciler found an attempt whose call ended unnoticed
  (``AttemptMissedButNotRetried`` in invariants.py, with the call's outcome).

A call that reached the user (the reflection began) is never retried, however it ended
(call_ended.py); an unclear dial is not a miss until the provider shows it was never
placed (dialing.py). A reply the provider waits for (the hang-up after a machine
answered) goes out before this bookkeeping of the same report (syncs/plugin.py ``ORDER``).
"""

from __future__ import annotations

from conceptkit import Filter, Sync, concepts, vars

from .answered import ANSWERED

Requesting, PhoneCall, CallScheduler, Dialer = concepts("Requesting PhoneCall CallScheduler Dialer")
request, sid, call, scheduled, outcome, attempt, err = vars(
    "request sid call scheduled outcome attempt err"
)

MISSED = ("NO_ANSWER", "BUSY", "VOICEMAIL", "FAILED")

# -- a machine answered ------------------------------------------------------------------

MachineAnswered = Sync(
    "MachineAnswered",
    doc="voicemail or a fax picked up: hang up without a word; the attempt counts as missed",
    when=[
        Requesting.request(
            {
                "path": ANSWERED,
                "body": {"callSid": sid, "answeredBy": "machine", "call": call},
            },
            {"request": request},
        )
    ],
    then=[  # the provider waits for the hang-up: it goes first, the bookkeeping follows
        Requesting.respond({"request": request, "output": {"hangup": True}}),
        PhoneCall.markMissed({"callSid": sid, "outcome": "VOICEMAIL", "call": call}),
    ],
)

RetryAfterVoicemail = Sync(
    "RetryAfterVoicemail",
    when=[PhoneCall.markMissed({}, {"scheduledCall": scheduled, "outcome": outcome})],
    then=[CallScheduler.recordMissed({"scheduledCall": scheduled, "outcome": outcome})],
)

# -- the provider reports the call missed, or hung up before the reflection began ---------

RetryMissedCall = Sync(
    "RetryMissedCall",
    doc="busy, no answer, voicemail or failed: retry later while attempts remain, else FAILED",
    when=[
        PhoneCall.applyStatus({}, {"outcome": outcome, "changed": True, "scheduledCall": scheduled})
    ],
    where=[Filter(lambda f: f["outcome"] in MISSED, "the call did not reach the user")],
    then=[CallScheduler.recordMissed({"scheduledCall": scheduled, "outcome": outcome})],
)

HungUpBeforeTheReflection = Sync(
    "HungUpBeforeTheReflection",
    doc="picked up and hung up before the first prompt (or our apology ended a slow first "
    "turn): the call did not reach them, so it counts as missed and is retried",
    when=[
        PhoneCall.applyStatus(
            {},
            {
                "outcome": "ABANDONED",
                "changed": True,
                "reflectionStarted": False,
                "scheduledCall": scheduled,
            },
        )
    ],
    then=[CallScheduler.recordMissed({"scheduledCall": scheduled, "outcome": "HUNG_UP"})],
)

# -- failed on our side (the caller heard an apology) ---------------------------------------

OurApology = Sync(
    "OurApology",
    doc="a turn took too long and the caller heard our apology, which promises a call back: "
    "the call failed on our side, so it is retried (RetryAfterFailedStart)",
    when=[
        Requesting.request({"path": "/call/apologised", "body": {"callSid": sid, "call": call}}, {})
    ],
    then=[
        PhoneCall.markFailed(
            {
                "callSid": sid,
                "error": "the service did not answer in time; the caller heard an apology",
                "call": call,
            }
        )
    ],
)

RetryAfterFailedStart = Sync(
    "RetryAfterFailedStart",
    when=[PhoneCall.markFailed({}, {"scheduledCall": scheduled})],
    then=[CallScheduler.recordMissed({"scheduledCall": scheduled, "outcome": "FAILED"})],
)

# -- never dialled, or not dialled now -----------------------------------------------------

DialFailed = Sync(
    "DialFailed",
    doc="the provider refused, or the outcome is unclear (the next attempt reconciles first)",
    when=[
        CallScheduler.claimDue({}, {"scheduledCall": scheduled, "attempt": attempt}),
        Dialer.dial({"call": call}, {"error": err, "errorKind": "unavailable"}),
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
        CallScheduler.claimDue(
            {}, {"scheduledCall": scheduled, "attempt": attempt, "takeover": False}
        ),
        PhoneCall.initiate({}, {"error": err}),
    ],
    then=[
        CallScheduler.recordMissed(
            {"scheduledCall": scheduled, "outcome": "BUSY", "attempt": attempt}
        )
    ],
)

LostDialEnds = Sync(
    "LostDialEnds",
    when=[PhoneCall.failBeforeDial({"error": "never dialled"}, {"scheduledCall": scheduled})],
    then=[CallScheduler.recordMissed({"scheduledCall": scheduled, "outcome": "FAILED"})],
)
