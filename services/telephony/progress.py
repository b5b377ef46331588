"""What the provider's call statuses and answering-machine verdicts mean, in neutral words.

The telephony port reports a call's state in the provider's own words
(``CallSummary.status``, ``answered_by``: Twilio's names, which the mock copies), and
Twilio's status callbacks use the same words. Calls (concepts/phone_call) take only the
neutral vocabulary of docs/webhooks.md, "The neutral events": this is the one table
between the two, used by the webhook edge and by the reconciler's look-up
(syncs/invariants.py, ``ProviderEndedTheCall``). A second provider brings its own table.
"""

from __future__ import annotations

__all__ = ["PROGRESS", "answerer", "progress"]

#: The provider's call status -> how the line is doing (None: a status we do not know).
PROGRESS = {
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


def progress(status: str | None) -> str | None:
    """The neutral progress of a provider status (None for a status we do not know)."""
    return PROGRESS.get(status or "")


def answerer(answered_by: str | None) -> str | None:
    """Who picked up: "person" (``human``), "machine" (``machine_start``, ``machine_end_beep``,
    ..., or ``fax``), or None when the provider cannot tell (``unknown``, or no detection)."""
    verdict = answered_by or ""
    if verdict.startswith("machine") or verdict == "fax":
        return "machine"
    return "person" if verdict == "human" else None
