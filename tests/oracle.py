"""What a call's webhooks say the service acknowledged: for checks that nothing said was lost."""

from __future__ import annotations

from services.devtools.call_player import CallResult
from syncs.wording import GOODBYE, RATING_QUESTION, TRANSITIONS

MOVED_ON = (*TRANSITIONS, RATING_QUESTION, GOODBYE)


def acknowledged(result: CallResult) -> list[str]:
    """The answers the service moved on from: after them it thanked the caller, asked the
    next prompt or the rating, or said goodbye. Parts of one answer are joined by a space."""
    answers: list[str] = []
    heard: list[str] = []
    for exchange in result.webhooks_of("gather"):
        speech = exchange.params.get("SpeechResult", "")
        if speech:
            heard.append(speech)
        if exchange.status_code == 200 and any(line in exchange.body for line in MOVED_ON):
            if heard:
                answers.append(" ".join(heard))
            heard = []
    return answers


def lost_answers(results: list[CallResult], history: list[dict]) -> list[str]:
    """Acknowledged answers that no reflection in ``history`` keeps."""
    kept = {p["answer"] for s in history for p in s["prompts"] if p["answer"]}
    return [a for r in results for a in acknowledged(r) if a not in kept]
