"""How a call ends, and what follows: completion, hang-ups, retries, recordings.

Status callbacks (/webhooks/twilio/status) are applied by PhoneCall.applyStatus,
which ignores duplicates and late events; only a change of state has effects.
"""

from __future__ import annotations

from conceptkit import Computed, Filter, Sync, concepts, vars

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
) = vars(
    "request sid status seq answered_by duration user session scheduled transcript outcome url text err call"
)

MISSED = ("NO_ANSWER", "BUSY", "VOICEMAIL", "FAILED")


def _int(value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# -- a finished reflection ----------------------------------------------------------------

# the call's transcript ("" if nothing was said) onto the reflection
SAVE_TRANSCRIPT = ReflectionSession.setTranscript(
    {
        "user": user,
        "session": session,
        "transcript": Computed(lambda f: f["transcript"] or "", "transcript"),
    }
)
COMPLETE_THE_REFLECTION = (
    SAVE_TRANSCRIPT,
    ReflectionSession.completeSession({"user": user, "session": session}),
    CallScheduler.markCompleted({"scheduledCall": scheduled}),
)

CompleteReflection = Sync(
    "CompleteReflection",
    when=[
        PhoneCall.markCompleted(
            {},
            {
                "user": user,
                "session": session,
                "scheduledCall": scheduled,
                "transcript": transcript,
            },
        )
    ],
    then=[*COMPLETE_THE_REFLECTION],
)

CompleteReflectionOnHangUp = Sync(
    "CompleteReflectionOnHangUp",
    doc="Twilio reported the call completed after every prompt was answered, before "
    "markCompleted ran (it runs after the goodbye is sent): the same completion",
    when=[
        PhoneCall.applyStatus(
            {},
            {
                "outcome": "COMPLETED",
                "changed": True,
                "user": user,
                "session": session,
                "scheduledCall": scheduled,
                "transcript": transcript,
            },
        )
    ],
    where=[Filter(lambda f: f["session"] is not None, "the reflection had started")],
    then=[*COMPLETE_THE_REFLECTION],
)

# -- status callbacks ---------------------------------------------------------------------

ApplyStatus = Sync(
    "ApplyStatus",
    when=[
        Requesting.request(
            {
                "path": "/twilio/status",
                "body": {
                    "CallSid": sid,
                    "CallStatus": status,
                    "SequenceNumber": seq,
                    "AnsweredBy": answered_by,
                    "CallDuration": duration,
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
                "callStatus": status,
                "sequenceNumber": Computed(lambda f: _int(f["seq"]), "int(SequenceNumber)"),
                "answeredBy": Computed(lambda f: f["answered_by"] or None, "AnsweredBy or null"),
                "durationSeconds": Computed(lambda f: _int(f["duration"]), "int(CallDuration)"),
                "call": Computed(lambda f: f["call"] or None, "call or null"),
            }
        )
    ],
)

AcknowledgeStatus = Sync(
    "AcknowledgeStatus",
    doc="answer Twilio once the status was applied (or found to be about an unknown call)",
    when=[
        Requesting.request({"path": "/twilio/status"}, {"request": request}),
        PhoneCall.applyStatus({}, {}),
    ],
    then=[Requesting.respond({"request": request, "output": {}})],
)

AcknowledgeUnknownStatus = Sync(
    "AcknowledgeUnknownStatus",
    when=[
        Requesting.request({"path": "/twilio/status"}, {"request": request}),
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
            {}, {"outcome": "ABANDONED", "changed": True, "scheduledCall": scheduled}
        )
    ],
    then=[CallScheduler.markCompleted({"scheduledCall": scheduled})],
)

KeepPartialReflection = Sync(
    "KeepPartialReflection",
    when=[
        PhoneCall.applyStatus(
            {},
            {
                "outcome": "ABANDONED",
                "changed": True,
                "user": user,
                "session": session,
                "transcript": transcript,
            },
        )
    ],
    where=[Filter(lambda f: f["session"] is not None, "the reflection had started")],
    then=[
        SAVE_TRANSCRIPT,
        ReflectionSession.abandonSession(
            {"user": user, "session": session, "reason": "caller hung up"}
        ),
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
    when=[PhoneCall.markAbandoned({}, {"user": user, "session": session})],
    where=[Filter(lambda f: f["session"] is not None, "the reflection had started")],
    then=[
        ReflectionSession.abandonSession(
            {"user": user, "session": session, "reason": "the call was lost"}
        )
    ],
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
                "path": "/twilio/recording",
                "body": {"CallSid": sid, "RecordingUrl": url, "RecordingStatus": "completed"},
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
    when=[Requesting.request({"path": "/twilio/recording"}, {"request": request})],
    then=[Requesting.respond({"request": request, "output": {}})],
)

StoreTranscription = Sync(
    "StoreTranscription",
    when=[
        Requesting.request(
            {"path": "/twilio/transcription", "body": {"CallSid": sid, "TranscriptionText": text}},
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
    when=[Requesting.request({"path": "/twilio/transcription"}, {"request": request})],
    then=[Requesting.respond({"request": request, "output": {}})],
)

# -- a turn that cannot go on (unknown or finished call) --------------------------------------

TurnOnUnknownCall = Sync(
    "TurnOnUnknownCall",
    when=[
        Requesting.request({"path": "/twilio/gather"}, {"request": request}),
        PhoneCall.appendSpeech({}, {"error": err}),
    ],
    then=[Requesting.respond({"request": request, "output": {"say": [SORRY], "hangup": True}})],
)

SilenceOnUnknownCall = Sync(
    "SilenceOnUnknownCall",
    when=[
        Requesting.request({"path": "/twilio/gather"}, {"request": request}),
        PhoneCall.noteSilence({}, {"error": err}),
    ],
    then=[Requesting.respond({"request": request, "output": {"say": [SORRY], "hangup": True}})],
)
