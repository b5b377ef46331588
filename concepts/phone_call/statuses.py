"""PhoneCall's statuses, and what the provider's neutral progress reports do to them.

The provider's own words (Twilio's ``CallStatus``, ``AnsweredBy``) never reach this
package: the webhook edge (services/webhooks/) and the telephony port's adapters
(services/telephony/) translate them into the neutral vocabulary below, which
docs/webhooks.md lists, so a second provider or transport plugs in at the edge
without a change here.
"""

from __future__ import annotations

from typing import Any, Literal

INITIATED = "INITIATED"
CONNECTED = "CONNECTED"
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
ABANDONED = "ABANDONED"
FAILED = "FAILED"
NO_ANSWER = "NO_ANSWER"
BUSY = "BUSY"
VOICEMAIL = "VOICEMAIL"
CANCELLED = "CANCELLED"

ACTIVE = (INITIATED, CONNECTED, IN_PROGRESS)
TERMINAL = (COMPLETED, ABANDONED, FAILED, NO_ANSWER, BUSY, VOICEMAIL, CANCELLED)

#: How the line is doing, as the provider reports it (neutral names).
RINGING = "ringing"  # queued, dialling or ringing: never changes the status
ANSWERED = "answered"  # someone (or something) picked up: INITIATED -> CONNECTED
HUNG_UP = "hung_up"  # the line was answered and is down now, whoever hung up
LINE_ENDED = {"busy": BUSY, "no_answer": NO_ANSWER, "failed": FAILED}  # never answered
PROGRESS = (RINGING, ANSWERED, HUNG_UP, *LINE_ENDED)
Progress = Literal["ringing", "answered", "hung_up", "busy", "no_answer", "failed"]

#: Who picked up, when the provider can tell (None: it cannot).
PERSON, MACHINE = "person", "machine"
Answerer = Literal["person", "machine"]

HANGUP_REASON = "caller hung up"
ENDED_EARLY_REASON = "the caller ended the call early (keypad)"
EARLY_HANGUP_REASON = "hung up before the reflection began"


def is_final(progress: str) -> bool:
    """The line is down: nothing more will happen on it."""
    return progress == HUNG_UP or progress in LINE_ENDED


def status_after(doc: dict[str, Any], progress: str, answeredBy: str | None) -> str | None:
    """The status a (new) progress report moves the call to, or None for no change."""
    status = doc["status"]
    if status in TERMINAL or progress == RINGING:
        return None
    if progress == ANSWERED:
        return CONNECTED if status == INITIATED else None
    if progress in LINE_ENDED:
        return LINE_ENDED[progress]
    # hung up: what it means depends on how far the call got
    if status == IN_PROGRESS:
        return COMPLETED if doc["answeredCount"] >= doc["promptCount"] else ABANDONED
    machine = (answeredBy or doc.get("answeredBy")) == MACHINE
    return VOICEMAIL if machine else ABANDONED


def ending_reason(target: str, progress: str, before: str) -> dict[str, Any]:
    """What an ending a progress report caused records: ``errorMessage`` or ``reason``."""
    if target == FAILED:
        return {"errorMessage": f"the provider reported the call {progress}"}
    if target == ABANDONED:
        return {"reason": HANGUP_REASON if before == IN_PROGRESS else EARLY_HANGUP_REASON}
    if target == COMPLETED:
        return {}
    return {"reason": target.lower().replace("_", " ")}
