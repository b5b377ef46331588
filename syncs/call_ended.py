"""What does a call leave when it ends? The reflection keeps what was said, the scheduled
call is settled, and the call's answer checks are forgotten.

However a call ends (completed, hung up midway, ended early with the keypad, failed,
cancelled, lost), its ending reports what it heard (``transcript``, ``answers``), and a
reflection that had begun is closed with it: COMPLETED if every prompt has an answer, else ABANDONED with the reason.
A call that reached the user completes its scheduled call (no retry); one that did not
is a missed call (missed_call.py, registered before this module, so that a retry is
queued before a completed reflection drops the user's pending calls: ``ReflectedByPhone``).
AnswerCheck's verdicts for the call are kept only while it is live (the action log keeps
them for tuning, for its retention period).
"""

from __future__ import annotations

from conceptkit import Filter, Sync, concepts, vars

PhoneCall, ReflectionSession, CallScheduler, AnswerCheck = concepts(
    "PhoneCall ReflectionSession CallScheduler AnswerCheck"
)
user, session, scheduled, transcript, answers, sid = vars(
    "user session scheduled transcript answers sid"
)


def close_the_reflection(reason: str):
    """The reflection keeps what the call heard (answers, transcript) and is closed: COMPLETED
    if every prompt has an answer, else ABANDONED with ``reason``."""
    return ReflectionSession.closeCall(
        {
            "user": user,
            "session": session,
            "answers": answers,
            "transcript": transcript,
            "reason": reason,
        }
    )


WHAT_WAS_SAID = {"user": user, "session": session, "transcript": transcript, "answers": answers}

HAD_STARTED = Filter(lambda f: f["session"] is not None, "the reflection had started")

# -- completed -----------------------------------------------------------------------------

CompleteReflection = Sync(
    "CompleteReflection",
    when=[PhoneCall.markCompleted({}, {**WHAT_WAS_SAID, "scheduledCall": scheduled})],
    then=[
        close_the_reflection("the call ended"),
        CallScheduler.markCompleted({"scheduledCall": scheduled}),
    ],
)

CompleteReflectionOnHangUp = Sync(
    "CompleteReflectionOnHangUp",
    doc="the provider reported the line hung up after every prompt was answered, before "
    "markCompleted ran (it runs after the goodbye is sent): the same completion",
    when=[
        PhoneCall.applyStatus(
            {},
            {
                **WHAT_WAS_SAID,
                "outcome": "COMPLETED",
                "changed": True,
                "scheduledCall": scheduled,
            },
        )
    ],
    where=[HAD_STARTED],
    then=[
        close_the_reflection("the call ended"),
        CallScheduler.markCompleted({"scheduledCall": scheduled}),
    ],
)

# -- ended early -------------------------------------------------------------------------

CallerHungUp = Sync(
    "CallerHungUp",
    doc="hung up midway: the reflection is abandoned with the answers it got; no retry",
    when=[
        PhoneCall.applyStatus(
            {},
            {
                "outcome": "ABANDONED",
                "changed": True,
                "reflectionStarted": True,
                "scheduledCall": scheduled,
            },
        )
    ],
    then=[CallScheduler.markCompleted({"scheduledCall": scheduled})],
)

KeepPartialReflection = Sync(
    "KeepPartialReflection",
    when=[PhoneCall.applyStatus({}, {**WHAT_WAS_SAID, "outcome": "ABANDONED", "changed": True})],
    where=[HAD_STARTED],
    then=[close_the_reflection("caller hung up")],
)

FailedCallKeepsItsAnswers = Sync(
    "FailedCallKeepsItsAnswers",
    doc="the provider reported the call failed midway: keep what was said",
    when=[PhoneCall.applyStatus({}, {**WHAT_WAS_SAID, "outcome": "FAILED", "changed": True})],
    where=[HAD_STARTED],
    then=[close_the_reflection("the call failed")],
)

FailedOnOurSideKeepsItsAnswers = Sync(
    "FailedOnOurSideKeepsItsAnswers",
    doc="we ended the call with an apology (a turn too slow, a reflection that could not "
    "start): keep what was said; RetryAfterFailedStart calls back",
    when=[PhoneCall.markFailed({}, WHAT_WAS_SAID)],
    where=[HAD_STARTED],
    then=[close_the_reflection("the call failed on our side")],
)

CancelledCallKeepsItsAnswers = Sync(
    "CancelledCallKeepsItsAnswers",
    when=[PhoneCall.markCancelled({}, WHAT_WAS_SAID)],
    where=[HAD_STARTED],
    then=[close_the_reflection("the call was cancelled")],
)

CallEndedEarlyKeepsItsAnswers = Sync(
    "CallEndedEarlyKeepsItsAnswers",
    doc="the caller ended the call with the keypad (keypad.py): the reflection keeps what "
    "was said, and the scheduled call is complete (no retry: they chose to stop)",
    when=[PhoneCall.endEarly({}, {**WHAT_WAS_SAID, "scheduledCall": scheduled})],
    then=[
        close_the_reflection("the caller ended the call early"),
        CallScheduler.markCompleted({"scheduledCall": scheduled}),
    ],
)

LostCallEnds = Sync(
    "LostCallEnds",
    doc="a call whose end was never reported (closed by the worker) releases its queued call",
    when=[PhoneCall.markAbandoned({}, {"scheduledCall": scheduled})],
    then=[CallScheduler.markCompleted({"scheduledCall": scheduled})],
)

LostCallKeepsItsAnswers = Sync(
    "LostCallKeepsItsAnswers",
    when=[PhoneCall.markAbandoned({}, WHAT_WAS_SAID)],
    where=[HAD_STARTED],
    then=[close_the_reflection("the call was lost")],
)

# -- the answer checks of a call that is over ------------------------------------------------

STARTED = {"reflectionStarted": True}

ForgetChecksOfCompletedCall = Sync(
    "ForgetChecksOfCompletedCall",
    doc="AnswerCheck keeps its verdicts only while the call is live",
    when=[PhoneCall.markCompleted({"callSid": sid}, {})],
    then=[AnswerCheck.forgetCall({"callSid": sid})],
)

ForgetChecksOfEndedCall = Sync(
    "ForgetChecksOfEndedCall",
    doc="a report that changes a call whose reflection began ends it",
    when=[PhoneCall.applyStatus({"callSid": sid}, {**STARTED, "changed": True})],
    then=[AnswerCheck.forgetCall({"callSid": sid})],
)

ForgetChecksOfAbandonedCall = Sync(
    "ForgetChecksOfAbandonedCall",
    when=[PhoneCall.markAbandoned({"callSid": sid}, STARTED)],
    then=[AnswerCheck.forgetCall({"callSid": sid})],
)

ForgetChecksOfCallEndedEarly = Sync(
    "ForgetChecksOfCallEndedEarly",
    when=[PhoneCall.endEarly({"callSid": sid}, {})],
    then=[AnswerCheck.forgetCall({"callSid": sid})],
)

ForgetChecksOfFailedCall = Sync(
    "ForgetChecksOfFailedCall",
    when=[PhoneCall.markFailed({"callSid": sid}, STARTED)],
    then=[AnswerCheck.forgetCall({"callSid": sid})],
)

ForgetChecksOfCancelledCall = Sync(
    "ForgetChecksOfCancelledCall",
    doc="also when the account is deleted (HangUpBeforeDeletion cancels its call)",
    when=[PhoneCall.markCancelled({}, {**STARTED, "callSid": sid})],
    where=[Filter(lambda f: f["sid"] is not None, "the call was dialled")],
    then=[AnswerCheck.forgetCall({"callSid": sid})],
)
