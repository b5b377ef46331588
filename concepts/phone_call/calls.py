"""The calls collection and the one way PhoneCall changes a call: a compare-and-set.

Every change is conceptkit's ``Store.change`` on the document's ``version`` (read,
decide, write if unchanged; a lost race re-reads and decides again), so concurrent
webhooks for one call never interleave, and each change carries its action's mark,
so a replayed action returns what it returned the first time. The spoken text is
sealed with the per-user encryption adapter before it is stored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from pymongo.errors import DuplicateKeyError

from conceptkit import NO_MARKS, Change, Doc, Len, Pattern, fail
from services.telephony import E164_PATTERN

from .outputs import Ended
from .statuses import IN_PROGRESS, TERMINAL
from .views import positions

MAX_PROMPTS = 20
MAX_ANSWER_CHARS = 20_000
E164 = E164_PATTERN  # the telephony port's one rule (services/telephony/numbers.py)

FIELD_BUFFER = "PhoneCall.currentAnswer"
FIELD_ANSWER = "PhoneCall.answers"
FIELD_TRANSCRIPT = "PhoneCall.transcript"
FIELD_TO = "PhoneCall.toNumber"  # the number called, encrypted (only _activeForUser shows it)

#: The provider's id of the placed call: opaque here (the edge knows its shape).
ProviderCallId = Annotated[
    str, Len(1, 64), Pattern(r"[A-Za-z0-9._:-]+"), Doc("the provider's id of the placed call")
]
Decide = Callable[[dict[str, Any]], Any]
# a change that ends a call frees the user's active slot and drops what only a live call has
ENDING_UNSET = ("activeUser", "currentAnswer", "liveTs", "liveSince")


class Calls:
    """PhoneCall's shared helpers (a mixin of the concept class): find, seal, change, end."""

    # given by conceptkit's Concept, which the concept class also derives from
    services: dict[str, Any]
    collection: Callable[[str], Any]
    store: Callable[[str], Any]
    new_id: Callable[[], str]

    def _now(self) -> dt.datetime:
        return self.services["clock"].now()

    def _seal(self, text: str, user: str, field: str) -> str:
        return self.services["encryption"].encrypt(text, user=user, field=field)

    def _open(self, token: str | None, user: str, field: str) -> str:
        if token is None:
            return ""
        return self.services["encryption"].decrypt(token, user=user, field=field)

    async def _by_sid(
        self, callSid: str, call: str | None = None, projection: Any = NO_MARKS
    ) -> dict[str, Any] | None:
        """The call with this provider id. Webhook URLs also carry our own call id, so a
        webhook that arrives before ``attachSid`` (a fast answer, or a worker that died
        between dialling and recording the id) attaches the id to its dialled call."""
        calls = self.collection("calls")
        doc = await calls.find_one({"callSid": callSid}, projection)
        if doc is None and call:
            with contextlib.suppress(DuplicateKeyError):
                await calls.update_one(
                    {"_id": call, "status": "INITIATED", "callSid": {"$exists": False}},
                    {"$set": {"callSid": callSid}, "$inc": {"version": 1}},
                )
            doc = await calls.find_one({"callSid": callSid}, projection)
        return doc

    async def _change(self, callSid: str, decide: Decide, call: str | None = None) -> Any:
        """Compare-and-set the call with this id (see ``_by_sid``); ``decide(doc)`` returns a
        failure or a Change. Every change also records when the call last changed."""

        def decided(doc: dict[str, Any]) -> Any:
            out = decide(doc)
            if isinstance(out, Change):
                touched = self._touched(doc, out)
                return Change(out.outputs, set={**out.set, **touched}, unset=out.unset)
            return out

        store = self.store("calls")
        return await store.change(
            lambda: self._by_sid(callSid, call, store.projection),
            decided,
            missing=fail("no call with that provider id", "not_found"),
        )

    def _touched(self, doc: dict[str, Any], change: Change) -> dict[str, Any]:
        """When the call changed: ``updatedAt``, and ``liveTs`` while it stays live (not for
        a change that ends it, nor for a late one to a call already over)."""
        now = self._now()
        if doc["status"] in TERMINAL or "activeUser" in change.unset:
            return {"updatedAt": now}
        return {"updatedAt": now, "liveTs": now.timestamp()}

    def _ending(self, status: str, **fields: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The $set/$unset of a terminal transition: frees the user's active slot."""
        return {"status": status, "endedAt": self._now(), **fields}, ENDING_UNSET

    def _ended(self, doc: dict[str, Any], outcome: str) -> Ended:
        """What an ending reports: who and what, and what was said (the reflection keeps it)."""
        user = doc["user"]
        asked = positions(doc)
        answers = [
            {"position": asked[i], "text": self._open(token, user, FIELD_ANSWER)}
            for i, token in enumerate(doc["answers"])
            if i < len(asked)
        ]
        transcript = self._open(doc.get("transcript"), user, FIELD_TRANSCRIPT)
        unfinished = self._open(doc.get("currentAnswer"), user, FIELD_BUFFER)
        if unfinished and doc["answeredCount"] < doc["promptCount"]:
            said = f"Q: Prompt {asked[doc['promptIndex']]}\nA: {unfinished} (unfinished)"
            transcript = f"{transcript}\n{said}" if transcript else said
        return {
            "call": doc["_id"],
            "user": user,
            "scheduledCall": doc["scheduledCall"],
            "session": doc.get("session"),
            "outcome": outcome,
            "reflectionStarted": doc.get("session") is not None,
            "transcript": transcript,
            "answers": answers,
        }

    async def _end(
        self, callSid: str, status: str, call: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Move a non-terminal call to a terminal ``status``."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc["status"] in TERMINAL:
                return fail(f"the call has already ended ({doc['status']})")
            changes, unset = self._ending(status, **fields)
            return Change(self._ended(doc, status), set=changes, unset=unset)

        return await self._change(callSid, decide, call)

    def _answer_recorded(
        self, doc: dict[str, Any], answer: str, question: str | None = None
    ) -> dict[str, Any]:
        """The $set that records ``answer`` to the current prompt: the answers, the count
        and a ``Q:``/``A:`` pair in the transcript (``Prompt n`` when no question is given)."""
        user, index = doc["user"], doc["promptIndex"]
        transcript = self._open(doc.get("transcript"), user, FIELD_TRANSCRIPT)
        asked = question.strip() if question and question.strip() else None
        lines = f"Q: {asked or f'Prompt {positions(doc)[index]}'}\nA: {answer or '(no answer)'}"
        transcript = f"{transcript}\n{lines}" if transcript else lines
        return {
            "answers": [*doc["answers"], self._seal(answer, user, FIELD_ANSWER)],
            "answeredCount": index + 1,
            "transcript": self._seal(transcript, user, FIELD_TRANSCRIPT),
        }

    @staticmethod
    def _prompting_problem(doc: dict[str, Any], promptIndex: int | None) -> dict[str, Any] | None:
        """Why speech/silence/answers for ``promptIndex`` cannot be taken now, or None."""
        status = doc["status"]
        if status in TERMINAL:
            return fail(f"the call has already ended ({status})")
        if status != IN_PROGRESS:
            return fail(f"the call is {status}; prompting has not started")
        if doc["answeredCount"] >= doc["promptCount"]:
            return fail("every prompt has already been answered")
        if promptIndex is not None and promptIndex != doc["promptIndex"]:
            return fail(
                f"prompt {promptIndex} is not the current prompt ({doc['promptIndex']}); "
                "a duplicated or late webhook changes nothing"
            )
        return None
