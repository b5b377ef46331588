"""What is kept of a call's recording? Its URL and transcription, on the reflection, once.

Both usually arrive after the call is over (the edge's ``/call/recording`` and
``/call/transcription`` events): they are attached to the reflection the call had, the
first one wins, and the provider is acknowledged whatever happened.
"""

from __future__ import annotations

from conceptkit import Filter, Sync, concepts, vars

Requesting, PhoneCall, ReflectionSession = concepts("Requesting PhoneCall ReflectionSession")
request, sid, user, session, url, text = vars("request sid user session url text")

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
