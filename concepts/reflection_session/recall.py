"""What a call may recall: the user's last answer to a prompt, from an earlier reflection.

The answers are encrypted for their owner, so no index can find one by its words: the
user's recent finished reflections are read newest first and their prompts decrypted here,
in the server's memory, until one asked the prompt and got an answer. Nothing is kept.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from conceptkit import Doc, Len, query

from .rules import ABANDONED, COMPLETED, MAX_PROMPT_CHARS

#: How far back an answer is recalled: a follow-up is about the last days, not last year.
RECALL_WINDOW = dt.timedelta(days=30)
# What the scan reads of a session: the prompts and answers, never the transcript nor marks.
READ = {"user": 1, "startedAt": 1, "prompts": 1, "responses": 1}

PromptText = Annotated[
    str, Len(1, MAX_PROMPT_CHARS), Doc("the prompt whose answer to find, as it is asked")
]


def same_prompt(a: str, b: str) -> bool:
    """The same question: the same words, ignoring case and spacing (as Prompts compares)."""
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


class RecallQueries:
    """``_lastAnswer`` of ReflectionSession (a part of the concept, not a concept)."""

    collection: Any
    services: dict[str, Any]
    _open: Any
    _prompt: Any

    @query(private=("answer",))
    async def _lastAnswer(self, user: str, prompt: PromptText) -> list[dict[str, Any]]:
        """The user's latest non-empty answer to ``prompt`` in a finished (completed or
        abandoned) reflection started in the last 30 days, as it reads now (an edited
        answer as edited): one row ``{answer, startedAt, asOf}``, ``asOf`` the concept's
        clock; none if there is no such answer. The reflection in progress is never one."""
        as_of = self.services["clock"].now()
        filt = {
            "user": user,
            "status": {"$in": [COMPLETED, ABANDONED]},
            "startedAt": {"$gte": as_of - RECALL_WINDOW},
        }
        docs = self.collection("sessions").find(filt, READ).sort("_id", -1)
        async for doc in docs:
            answered = {r["position"]: r for r in doc.get("responses", [])}
            for asked in doc["prompts"]:
                response = answered.get(asked["position"])
                if response is None or not same_prompt(self._prompt(doc, asked) or "", prompt):
                    continue
                field = f"response.{asked['position']}"
                answer = (self._open(response["text"], user, doc["_id"], field) or "").strip()
                if answer:
                    return [{"answer": answer, "startedAt": doc["startedAt"], "asOf": as_of}]
        return []
