"""AnswerCheck: deciding whether a spoken answer is finished, so the call can move on.

Purpose: let a caller finish their thought — neither cutting them off nor
leaving them in silence. Principle: after each pause the answer so far is
judged (by the LLM, or the local rules when it is slow or down); a complete
answer with enough confidence lets the call advance, otherwise it keeps
listening, with a gentle nudge if the pause was a long silence.
Only the verdicts are kept (for tuning), never the words.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from conceptkit import Concept, action, query
from services.completion import COMPLETE_THRESHOLD


class Judgement(TypedDict):
    callSid: str
    promptIndex: int
    verdict: Literal["complete", "incomplete"]
    confidence: float
    source: str
    nudge: bool


class AnswerCheck(Concept):
    """Lets a caller finish their thought: judges, after each pause, whether the answer so
    far is complete, so the call neither cuts them off nor leaves them in silence.

    Principle: ``judge(sid, 0, "What went well today?", "I was grateful for", 3.0)`` asks
    the completion port (Gemini, or the local rules when it is slow, failing or mocked);
    trailing off is ``incomplete`` and the call keeps listening, a finished answer with
    confidence above 0.6 is ``complete`` and the call moves on, and an answer still
    incomplete after a whole silent turn asks for a gentle nudge. Only the verdicts are
    kept, never the words.
    """

    uses = ("clock", "completion")

    @action(private=("question", "answer"))
    async def judge(
        self,
        callSid: str,
        promptIndex: int,
        question: str,
        answer: str,
        pauseSeconds: float,
        afterSilence: bool = False,
    ) -> Judgement:
        """Judge the answer so far; ``afterSilence`` means the caller then stayed silent for a whole turn."""
        verdict = await self.services["completion"].check(
            question=question, answer=answer, pause_seconds=pauseSeconds
        )
        complete = verdict.is_complete and verdict.confidence > COMPLETE_THRESHOLD
        judged: Judgement = {
            "callSid": callSid,
            "promptIndex": promptIndex,
            "verdict": "complete" if complete else "incomplete",
            "confidence": verdict.confidence,
            "source": verdict.source,
            "nudge": afterSilence and not complete,
        }
        doc = {
            "_id": self.new_id(),
            "callSid": callSid,
            "promptIndex": promptIndex,
            "complete": complete,
            "confidence": verdict.confidence,
            "source": verdict.source,
            "at": self.services["clock"].now(),
        }
        # A replay returns the first verdict (the mark on its judgement), not a new one.
        kept = await self.store("judgements").create(doc, dict(judged))
        return judged if kept is None else kept

    @query
    async def _judgements(self, callSid: str) -> list[dict[str, Any]]:
        """The verdicts of one call, oldest first: what tuning the checker needs, no words."""
        docs = (
            await self.collection("judgements")
            .find({"callSid": callSid})
            .sort("_id", 1)
            .to_list(None)
        )
        return [
            {k: d[k] for k in ("promptIndex", "complete", "confidence", "source")} for d in docs
        ]

    @action
    async def forgetCall(self, callSid: str) -> dict[str, Any]:
        """Delete the verdicts kept for one call."""
        await self.collection("judgements").delete_many({"callSid": callSid})
        return {}
