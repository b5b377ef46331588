"""What Twilio's call statuses and answering-machine verdicts mean, in neutral words.

Twilio's REST API (a call's ``status``, ``answered_by``) and its status callbacks
(``CallStatus``, ``AnsweredBy``) use the same words. Past the Twilio edge everything
speaks the neutral vocabulary of docs/webhooks.md, "The neutral events": the telephony
port (services/telephony/port.py, ``CallProgress``, ``Answerer``) and PhoneCall alike.
This is the one table between the two, used by the webhook edge
(services/webhooks/twilio_events.py) and by the REST adapter
(services/telephony/twilio.py). A second provider brings its own table.
"""

from __future__ import annotations

from services.telephony.port import Answerer, CallProgress

__all__ = ["PROGRESS", "answerer", "progress"]

#: Twilio's call status -> how the line is doing (None: a status we do not know).
PROGRESS: dict[str, CallProgress] = {
    "queued": "ringing",
    "initiated": "ringing",
    "ringing": "ringing",
    "in-progress": "answered",
    "answered": "answered",
    "completed": "hung_up",
    "busy": "busy",
    "no-answer": "no_answer",
    "failed": "failed",
    "canceled": "failed",
}


def progress(status: str | None) -> CallProgress | None:
    """The neutral progress of a Twilio status (None for a status we do not know)."""
    return PROGRESS.get(status or "")


def answerer(answered_by: str | None) -> Answerer | None:
    """Who picked up: "person" (``human``), "machine" (``machine_start``, ``machine_end_beep``,
    ..., or ``fax``), or None when the provider cannot tell (``unknown``, or no detection)."""
    verdict = answered_by or ""
    if verdict.startswith("machine") or verdict == "fax":
        return "machine"
    return "person" if verdict == "human" else None
