"""Correcting a past answer: the user fills in or changes an answer of a finished
reflection, and the answer first recorded is kept beside it, so it can still be shown."""

from __future__ import annotations

from typing import Any

from conceptkit import Change, action, fail

from .rules import ABANDONED, COMPLETED, MAX_ANSWER_CHARS, AnswerText, Edited, Position, SessionId


class AnswerEdits:
    """``editAnswer`` of ReflectionSession (a part of the concept, not a concept)."""

    store: Any
    _now: Any
    _seal: Any
    _open: Any
    _touch: Any
    _require_status: Any
    _indexed: Any

    @action(private=("text",))
    async def editAnswer(
        self, user: str, session: SessionId, position: Position, text: AnswerText
    ) -> Edited:
        """Replace the answer at ``position`` of the user's finished (completed or abandoned)
        reflection with ``text``, marked as edited, keeping the answer first recorded.

        A reflection in progress is answered with ``recordResponse``, not edited. Whitespace
        around the text is removed; an empty text means "no answer", as when recording. A
        prompt never answered can be filled in too (its original is then none). The same
        text as the answer now writes nothing. Outputs when the answer was last edited."""
        if len(text) > MAX_ANSWER_CHARS:
            return fail(f"an answer is at most {MAX_ANSWER_CHARS} characters", "invalid")
        answer = text.strip()
        now = self._now()

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            problem = self._require_status(doc, (COMPLETED, ABANDONED), "edit an answer")
            if problem:
                return problem
            count = len(doc["prompts"])
            if not 1 <= position <= count:
                return fail(
                    f"position {position} is out of range: this reflection has {count} prompt(s)",
                    "invalid",
                )
            responses = [dict(r) for r in doc["responses"]]
            current = next((r for r in responses if r["position"] == position), None)
            was = None
            if current is not None:
                was = self._open(current["text"], user, session, f"response.{position}")
            if was == answer:  # not a Change: the reflection is left exactly as it was
                return {"editedAt": None if current is None else current.get("editedAt")}
            sealed = self._seal(answer, user, session, f"response.{position}")
            if current is None:  # never answered: filled in now, with no original
                responses.append(
                    {
                        "position": position,
                        "text": sealed,
                        "startedAt": now,
                        "finishedAt": now,
                        "editedAt": now,
                    }
                )
            else:
                if "editedAt" not in current:  # the first edit keeps what was recorded
                    current["original"] = self._seal(was, user, session, f"original.{position}")
                current.update(text=sealed, editedAt=now)
            ordered = sorted(responses, key=lambda r: r["position"])
            sets = {"responses": ordered, "reindexFor": user, **self._touch(True)}
            return Change({"editedAt": now}, set=sets)

        edited = await self.store("sessions").change(
            {"_id": session, "user": user}, decide, missing=fail("no such reflection", "not_found")
        )
        return await self._indexed(user, session, edited)
