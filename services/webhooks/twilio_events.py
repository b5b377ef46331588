"""Twilio's webhook form fields -> the service's neutral call events (docs/webhooks.md).

This file is where Twilio's wire names live (``CallSid``, ``SpeechResult``, ``Digits``,
``AnsweredBy``, ``CallStatus``, ``RecordingUrl``, ...), as pipecat's serializers keep a
vendor's names inside one file: past it, the syncs and PhoneCall see only the events
below, typed (numbers are numbers, an absent value is None, never ""). A second
transport (ConversationRelay) or provider plugs in by producing the same events.

Each event is a ``Requesting.request`` path and body:

- ``/call/answered`` {callSid, call, answeredBy: person | machine | None}
- ``/call/heard`` and ``/call/rating`` {callSid, heard: speech | silence, text}, or for a
  key pressed {callSid, heard: key, key: 0-9 | * | #, text: ""}
- ``/call/progress`` {callSid, call, progress, sequence, answeredBy, durationSeconds}
- ``/call/recording`` {callSid, ready, url}; ``/call/transcription`` {callSid, text}
- ``/call/apologised`` {callSid, call}: not Twilio's, ours (the caller heard our apology)

``call`` is our own call id, which the Dialer puts in the voice and status URLs it gives
Twilio. A form without ``CallSid`` gives a body without ``callSid``, which no sync takes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from services.telephony.progress import answerer, progress

__all__ = ["APOLOGISED", "EVENTS", "apologised", "call_sid", "event_for"]

APOLOGISED = "/call/apologised"
Form = Mapping[str, str]


def call_sid(form: Form) -> str:
    """Twilio's id of the call a webhook is about ("" if it names none)."""
    return form.get("CallSid", "")


def _ids(form: Form, query: Form) -> dict[str, Any]:
    ids: dict[str, Any] = {"call": query.get("call") or None}
    if "CallSid" in form:
        ids["callSid"] = form["CallSid"]
    return ids


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _answered(form: Form, query: Form) -> dict[str, Any]:
    return {**_ids(form, query), "answeredBy": answerer(form.get("AnsweredBy"))}


def _heard(form: Form, query: Form) -> dict[str, Any]:
    """A turn: a key (``Digits``, which wins over any speech), speech, or silence."""
    digits = form.get("Digits", "").strip()
    if digits:
        return {**_ids(form, query), "heard": "key", "key": digits, "text": ""}
    text = form.get("SpeechResult", "")
    body = {"heard": "speech" if text.strip() else "silence", "text": text}
    return {**_ids(form, query), **body}


def _progress(form: Form, query: Form) -> dict[str, Any]:
    return {
        **_ids(form, query),
        "progress": progress(form.get("CallStatus")),  # None: a status we do not know
        "sequence": _int(form.get("SequenceNumber")) or 0,
        "answeredBy": answerer(form.get("AnsweredBy")),
        "durationSeconds": _int(form.get("CallDuration")),  # only final callbacks carry it
    }


def _recording(form: Form, query: Form) -> dict[str, Any]:
    ready = form.get("RecordingStatus") == "completed"
    return {**_ids(form, query), "ready": ready, "url": form.get("RecordingUrl", "")}


def _transcription(form: Form, query: Form) -> dict[str, Any]:
    return {**_ids(form, query), "text": form.get("TranscriptionText", "")}


#: webhook name -> (the event's request path, how its body is read from the form and query)
EVENTS: dict[str, tuple[str, Callable[[Form, Form], dict[str, Any]]]] = {
    "voice": ("/call/answered", _answered),
    "gather": ("/call/heard", _heard),
    "rating": ("/call/rating", _heard),
    "status": ("/call/progress", _progress),
    "recording": ("/call/recording", _recording),
    "transcription": ("/call/transcription", _transcription),
}


def event_for(name: str, form: Form, query: Form) -> tuple[str, dict[str, Any]]:
    """The neutral event (request path, body) of the Twilio webhook ``name``."""
    path, read = EVENTS[name]
    return path, read(form, query)


def apologised(event: Mapping[str, Any]) -> dict[str, Any]:
    """The body of the event our apology starts, from the turn's own event."""
    return {"callSid": event.get("callSid", ""), "call": event.get("call")}
