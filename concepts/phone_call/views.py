"""What PhoneCall's queries show of a call: never the spoken text, the number or the marks."""

from __future__ import annotations

from typing import Any

# what view() shows: queries that list calls read only these (not the answers or the marks)
VIEW_FIELDS = dict.fromkeys(
    [
        "user",
        "scheduledCall",
        "session",
        "callSid",
        "status",
        "promptIndex",
        "promptCount",
        "answeredCount",
        "silentTurns",
        "answeredBy",
        "durationSeconds",
        "lastSequence",
        "createdAt",
        "connectedAt",
        "endedAt",
        "errorMessage",
        "reason",
    ],
    1,
)


def view(doc: dict[str, Any]) -> dict[str, Any]:
    """The call as queries show it (``call`` is its id)."""
    return {
        "call": doc["_id"],
        "user": doc["user"],
        "scheduledCall": doc["scheduledCall"],
        "session": doc.get("session"),
        "callSid": doc.get("callSid"),
        "status": doc["status"],
        "promptIndex": doc["promptIndex"],
        "promptCount": doc["promptCount"],
        "answeredCount": doc["answeredCount"],
        "silentTurns": doc["silentTurns"],
        "answeredBy": doc.get("answeredBy"),
        "durationSeconds": doc.get("durationSeconds"),
        "lastSequence": doc["lastSequence"],
        "createdAt": doc["createdAt"],
        "connectedAt": doc.get("connectedAt"),
        "endedAt": doc.get("endedAt"),
        "errorMessage": doc.get("errorMessage"),
        "reason": doc.get("reason"),
    }


def positions(doc: dict[str, Any]) -> list[int]:
    """The reflection's positions of the prompts the call asks (1..n unless it continues one)."""
    return list(doc.get("positions") or range(1, doc["promptCount"] + 1))
