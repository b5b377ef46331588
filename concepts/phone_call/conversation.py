"""The reflection on the line: speech and silence for the current prompt, answers, completion.

Each step names the prompt it is for (``promptIndex``), so a late or repeated turn for
an earlier prompt changes nothing instead of leaking into the current one.
"""

from __future__ import annotations

from typing import Annotated, Any

from conceptkit import Change, Doc, Len, Range, action, fail

from .calls import (
    FIELD_BUFFER,
    MAX_ANSWER_CHARS,
    MAX_PROMPTS,
    Calls,
    ProviderCallId,
)
from .outputs import Answered, Completed, Silence, Speech
from .statuses import COMPLETED, IN_PROGRESS, TERMINAL
from .views import positions

PromptIndex = Annotated[int, Range(0, MAX_PROMPTS - 1)]


class Conversation(Calls):
    """The actions of the conversation itself (a mixin of ``PhoneCall``)."""

    @action(private=("text", "answerSoFar"))
    async def appendSpeech(
        self,
        callSid: ProviderCallId,
        text: Annotated[str, Len(1, 5000)],
        promptIndex: PromptIndex | None = None,
    ) -> Speech:
        """Add recognised speech to the answer of the current prompt (IN_PROGRESS only)."""
        fragment = text.strip() if isinstance(text, str) else ""
        if not fragment:
            return fail("no speech to append; use noteSilence for an empty turn", "invalid")

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            problem = self._prompting_problem(doc, promptIndex)
            if problem:
                return problem
            user = doc["user"]
            buffer = self._open(doc.get("currentAnswer"), user, FIELD_BUFFER)
            combined = f"{buffer} {fragment}" if buffer else fragment
            if len(combined) > MAX_ANSWER_CHARS:
                return fail(f"an answer may have at most {MAX_ANSWER_CHARS} characters", "invalid")
            out = {
                "call": doc["_id"],
                "user": user,
                "session": doc["session"],
                "answerSoFar": combined,
                "promptIndex": doc["promptIndex"],
                "sessionPosition": positions(doc)[doc["promptIndex"]],
            }
            changes = {"currentAnswer": self._seal(combined, user, FIELD_BUFFER), "silentTurns": 0}
            return Change(out, set=changes)

        return await self._change(callSid, decide)

    @action(private=("answerSoFar",))
    async def noteSilence(
        self, callSid: ProviderCallId, promptIndex: PromptIndex | None = None
    ) -> Silence:
        """Count an empty turn (no speech heard) for the current prompt (IN_PROGRESS only)."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            problem = self._prompting_problem(doc, promptIndex)
            if problem:
                return problem
            turns = doc["silentTurns"] + 1
            out = {
                "call": doc["_id"],
                "user": doc["user"],
                "session": doc["session"],
                "silentTurns": turns,
                "promptIndex": doc["promptIndex"],
                "sessionPosition": positions(doc)[doc["promptIndex"]],
                "answerSoFar": self._open(doc.get("currentAnswer"), doc["user"], FIELD_BUFFER),
            }
            return Change(out, set={"silentTurns": turns})

        return await self._change(callSid, decide)

    @action(private=("answer", "question"))
    async def finishAnswer(
        self,
        callSid: ProviderCallId,
        promptIndex: PromptIndex,
        question: Annotated[str, Len(0, 2000), Doc("prompt text for the transcript")] | None = None,
    ) -> Answered:
        """Record the buffered speech as the answer to prompt promptIndex (must be current) and move on."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            problem = self._prompting_problem(doc, promptIndex)
            if problem:
                return problem
            user, index, count = doc["user"], doc["promptIndex"], doc["promptCount"]
            answer = self._open(doc.get("currentAnswer"), user, FIELD_BUFFER)
            asked_at = positions(doc)
            is_last = index == count - 1
            changes = {
                **self._answer_recorded(doc, answer, question),
                "promptIndex": index if is_last else index + 1,
                "silentTurns": 0,
            }
            out = {
                "call": doc["_id"],
                "user": user,
                "session": doc["session"],
                "position": index,
                "answer": answer,
                "nextIndex": None if is_last else index + 1,
                "isLast": is_last,
                "sessionPosition": asked_at[index],
                "nextSessionPosition": None if is_last else asked_at[index + 1],
            }
            return Change(out, set=changes, unset=("currentAnswer",))

        return await self._change(callSid, decide)

    @action(private=("transcript", "answers"))
    async def markCompleted(
        self,
        callSid: ProviderCallId,
        durationSeconds: Annotated[int, Range(0, None)] | None = None,
    ) -> Completed:
        """Finish a call whose every prompt is answered: IN_PROGRESS -> COMPLETED."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            status = doc["status"]
            if status in TERMINAL:
                return fail(f"the call has already ended ({status})")
            if status != IN_PROGRESS:
                return fail(f"the call is {status}; the reflection has not started")
            missing = doc["promptCount"] - doc["answeredCount"]
            if missing > 0:
                return fail(
                    f"{missing} of {doc['promptCount']} prompts are unanswered; abandon the call instead"
                )
            extra = {} if durationSeconds is None else {"durationSeconds": durationSeconds}
            changes, unset = self._ending(COMPLETED, **extra)
            ended = self._ended(doc, COMPLETED)
            out = {k: ended[k] for k in ("call", "user", "scheduledCall", "session")}
            out.update(transcript=ended["transcript"], answers=ended["answers"])
            return Change(out, set=changes, unset=unset)

        return await self._change(callSid, decide)
