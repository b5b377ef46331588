"""ConversationRelay's wire names -> the service's neutral call events (docs/webhooks.md).

The socket's messages (``voicePrompt``, ``last``, ``digit``, ...) and the session-ended
callback's form fields (``HandoffData``, ``SessionStatus``, ...) are Twilio's words, kept
here as twilio_events.py keeps the webhooks' words: past this file the conversation is
the same ``/call/heard`` and ``/call/rating`` events a ``<Gather>`` result becomes, so no
conversation rule is written twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["Message", "SessionEnded", "read_message", "session_ended"]

#: the neutral turn event of what the call is listening for
LISTEN_PATHS = {"answer": "/call/heard", "rating": "/call/rating"}
KEYS = frozenset("0123456789*#")
MAX_TEXT = 4000  # a spoken turn is far shorter; longer is not speech recognition


@attrs.frozen
class Message:
    """One message from Twilio, in neutral words.

    ``kind`` is ``setup`` (``call_sid``, ``parameters``), ``speech`` (``text``, and
    ``final``: False for a partial result), ``key`` (``key``), ``interrupted`` (the caller
    spoke over us), ``error`` (``text``: Twilio's description) or ``unknown``.
    """

    kind: str
    text: str = ""
    final: bool = True
    key: str = ""
    call_sid: str = ""
    parameters: Mapping[str, str] = attrs.Factory(dict)


def read_message(raw: str) -> Message:
    """The neutral reading of one text frame (``unknown`` for what is not a message we know)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return Message("unknown")
    if not isinstance(data, dict):
        return Message("unknown")
    kind = data.get("type")
    if kind == "setup":
        params = data.get("customParameters")
        params = {str(k): str(v) for k, v in params.items()} if isinstance(params, dict) else {}
        return Message("setup", call_sid=_text(data.get("callSid")), parameters=params)
    if kind == "prompt":
        text = _text(data.get("voicePrompt"))[:MAX_TEXT]
        return Message("speech", text=text, final=data.get("last") is not False)
    if kind == "dtmf":
        digit = _text(data.get("digit"))
        return Message("key", key=digit) if digit in KEYS else Message("unknown")
    if kind == "interrupt":
        return Message("interrupted")
    if kind == "error":
        return Message("error", text=_text(data.get("description"))[:500])
    return Message("unknown")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@attrs.frozen
class SessionEnded:
    """The session-ended callback (``<Connect action>``), in neutral words."""

    call_sid: str
    handoff: Mapping[str, Any] | None  # what our ``end`` message handed over, if anything
    line_up: bool  # the caller is still on the line (False: they hung up)


def session_ended(form: Mapping[str, str]) -> SessionEnded:
    """Read the callback Twilio posts when a ConversationRelay session is over."""
    handoff: Mapping[str, Any] | None = None
    try:
        data = json.loads(form.get("HandoffData") or "null")
        handoff = data if isinstance(data, dict) else None
    except ValueError:
        handoff = None
    hung_up = form.get("CallStatus") == "completed" or form.get("SessionStatus") == "completed"
    return SessionEnded(form.get("CallSid", ""), handoff, not hung_up)
