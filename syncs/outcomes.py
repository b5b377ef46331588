"""How a call ends, and what follows: completion, hang-ups, retries, recordings.

The provider's progress reports (the edge's ``/call/progress`` events, docs/webhooks.md)
are applied by PhoneCall.applyStatus, which ignores duplicates and late events; only a change of state has effects. A
callback for a call that is over (replayed, or late after a retry began) changes
nothing: only a recording, which comes after the end, is attached (once).
"""

from __future__ import annotations

from conceptkit import Filter, Sync, concepts, vars

from .wording import SORRY

Requesting, PhoneCall, ReflectionSession, CallScheduler, AnswerCheck = concepts(
    "Requesting PhoneCall ReflectionSession CallScheduler AnswerCheck"
)
(
    request,
    sid,
    status,
    seq,
    answered_by,
    duration,
    user,
    session,
    scheduled,
    transcript,
    outcome,
    url,
    text,
    err,
    call,
    answers,
) = vars(
    "request sid status seq answered_by duration user session scheduled transcript outcome url text err call answers"
)

MISSED = ("NO_ANSWER", "BUSY", "VOICEMAIL", "FAILED")
PROGRESS = "/call/progress"


# -- a finished reflection ----------------------------------------------------------------


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

# -- status callbacks ---------------------------------------------------------------------

ApplyStatus = Sync(
    "ApplyStatus",
    when=[
        Requesting.request(
            {
                "path": PROGRESS,
                "body": {
                    "callSid": sid,
                    "progress": status,
                    "sequence": seq,
                    "answeredBy": answered_by,
                    "durationSeconds": duration,
                    "call": call,
                },
            },
            {},
        )
    ],
    then=[
        PhoneCall.applyStatus(
            {
                "callSid": sid,
                "progress": status,
                "sequenceNumber": seq,
                "answeredBy": answered_by,
                "durationSeconds": duration,
                "call": call,
            }
        )
    ],
)

AcknowledgeStatus = Sync(
    "AcknowledgeStatus",
    doc="answer Twilio once the status was applied (or found to be about an unknown call)",
    when=[
        Requesting.request({"path": PROGRESS}, {"request": request}),
        PhoneCall.applyStatus({}, {}),
    ],
    then=[Requesting.respond({"request": request, "output": {}})],
)

AcknowledgeUnknownStatus = Sync(
    "AcknowledgeUnknownStatus",
    when=[
        Requesting.request({"path": PROGRESS}, {"request": request}),
        PhoneCall.applyStatus({}, {"error": err}),
    ],
    then=[Requesting.respond({"request": request, "output": {}})],
)

RetryMissedCall = Sync(
    "RetryMissedCall",
    doc="busy, no answer, voicemail or failed: retry later while attempts remain, else FAILED",
    when=[
        PhoneCall.applyStatus({}, {"outcome": outcome, "changed": True, "scheduledCall": scheduled})
    ],
    where=[Filter(lambda f: f["outcome"] in MISSED, "the call did not reach the user")],
    then=[CallScheduler.recordMissed({"scheduledCall": scheduled, "outcome": outcome})],
)

RetryAfterVoicemail = Sync(
    "RetryAfterVoicemail",
    when=[PhoneCall.markMissed({}, {"scheduledCall": scheduled, "outcome": outcome})],
    then=[CallScheduler.recordMissed({"scheduledCall": scheduled, "outcome": outcome})],
)

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

LostDialEnds = Sync(
    "LostDialEnds",
    when=[PhoneCall.failBeforeDial({"error": "never dialled"}, {"scheduledCall": scheduled})],
    then=[CallScheduler.recordMissed({"scheduledCall": scheduled, "outcome": "FAILED"})],
)

# -- recordings and transcriptions (often after the call is over) ------------------------------

StoreRecording = Sync(
    "StoreRecording",
    when=[
        Requesting.request(
            {
                "path": "/call/recording",
                "body": {"callSid": sid, "ready": True, "url": url},
            },
            {},
        )
    ],
    where=[
        PhoneCall._byCallSid({"callSid": sid}, {"user": user, "session": session}),
        Filter(lambda f: f["session"] is not None, "the call had a reflection"),
    ],
    then=[
        ReflectionSession.attachRecording({"user": user, "session": session, "recordingUrl": url})
    ],
)

AcknowledgeRecording = Sync(
    "AcknowledgeRecording",
    when=[Requesting.request({"path": "/call/recording"}, {"request": request})],
    then=[Requesting.respond({"request": request, "output": {}})],
)

StoreTranscription = Sync(
    "StoreTranscription",
    when=[
        Requesting.request(
            {"path": "/call/transcription", "body": {"callSid": sid, "text": text}},
            {},
        )
    ],
    where=[
        PhoneCall._byCallSid({"callSid": sid}, {"user": user, "session": session}),
        Filter(
            lambda f: f["session"] is not None and f["text"].strip() != "",
            "a transcription of a reflection",
        ),
    ],
    then=[ReflectionSession.attachTranscription({"user": user, "session": session, "text": text})],
)

AcknowledgeTranscription = Sync(
    "AcknowledgeTranscription",
    when=[Requesting.request({"path": "/call/transcription"}, {"request": request})],
    then=[Requesting.respond({"request": request, "output": {}})],
)

# -- a turn that cannot go on (unknown or finished call) --------------------------------------

TurnOnUnknownCall = Sync(
    "TurnOnUnknownCall",
    when=[
        Requesting.request({"path": "/call/heard"}, {"request": request}),
        PhoneCall.appendSpeech({}, {"error": err}),
    ],
    then=[Requesting.respond({"request": request, "output": {"say": [SORRY], "hangup": True}})],
)

SilenceOnUnknownCall = Sync(
    "SilenceOnUnknownCall",
    when=[
        Requesting.request({"path": "/call/heard"}, {"request": request}),
        PhoneCall.noteSilence({}, {"error": err}),
    ],
    then=[Requesting.respond({"request": request, "output": {"say": [SORRY], "hangup": True}})],
)
