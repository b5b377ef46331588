"""ReflectionSession, the concept: one daily reflection, spoken on a call or typed in the web app.

Here: starting a reflection (or continuing one by phone), recording answers, rating,
completing and abandoning it. The call's own records (transcript, recording) are in
:mod:`.calls`, editing a finished reflection's answers in :mod:`.edits`, the queries in
:mod:`.queries` (by day: :mod:`.days`; the last answer a call may recall: :mod:`.recall`),
the rules that need no database in :mod:`.rules`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pymongo import IndexModel

from conceptkit import NO_MARKS, Change, Concept, Len, action, fail

from .calls import CallRecords
from .days import DayQueries
from .edits import AnswerEdits
from .index import SearchIndex
from .queries import SessionQueries
from .recall import RecallQueries
from .rules import (
    ABANDONED,
    COMPLETED,
    IN_PROGRESS,
    MAX_ANSWER_CHARS,
    PHONE,
    TEXT,
    AnswerText,
    CallRef,
    Method,
    Position,
    PromptList,
    Rating,
    SessionId,
    Started,
    check_session_prompts,
    missing_positions,
)
from .search import SearchQueries


class ReflectionSession(
    CallRecords,
    AnswerEdits,
    SearchQueries,
    SearchIndex,
    SessionQueries,
    DayQueries,
    RecallQueries,
    Concept,
):
    """Holds one reflection: the prompts it asks, the user's answers to each, how the user
    rated the day, and for a phone reflection its transcript and recording, all answers
    and recordings encrypted for their owner.

    Principle: ``startSession(u, "PHONE", ["What went well?", "What next?"])`` gives a
    session; after ``recordResponse`` for positions 1 and 2 (an empty text where the
    caller said nothing), ``completeSession`` completes it and ``_history(u)`` shows the
    two prompts with their answers, newest reflection first. The recording, which only
    arrives after the call has ended, can still be attached to the completed session.
    Only one reflection per user is in progress at a time.
    """

    uses = ("clock", "encryption")

    async def setup(self) -> None:
        sessions = self.collection("sessions")
        await sessions.create_indexes(
            [
                # Only while IN_PROGRESS (removed, never nulled): one in progress per user.
                IndexModel("activeFor", unique=True, sparse=True),
                # Not (user, _id): nx-27017 rejects inserts under a compound index with _id.
                IndexModel("user"),
                IndexModel([("user", 1), ("callRef", 1)]),
                # While in progress: last touched, as an epoch float, for the idle search.
                IndexModel("openTs", sparse=True),
                IndexModel("reindexFor", sparse=True),  # text ahead of its search entry
            ]
        )
        await self._setup_index()
        async for doc in sessions.find(
            {"activeFor": {"$exists": True}, "openTs": {"$exists": False}},
            {"touchedAt": 1, "startedAt": 1},
        ):  # reflections in progress across the upgrade that added it
            at = doc.get("touchedAt") or doc["startedAt"]
            await sessions.update_one({"_id": doc["_id"]}, {"$set": {"openTs": at.timestamp()}})

    # -- helpers ------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return self.services["clock"].now()

    def _seal(self, text: str, user: str, session: str, field: str) -> str:
        return self.services["encryption"].encrypt(
            text, user=user, field=f"ReflectionSession.{field}.{session}"
        )

    def _open(self, token: str | None, user: str, session: str, field: str) -> str | None:
        return self.services["encryption"].decrypt_optional(
            token, user=user, field=f"ReflectionSession.{field}.{session}"
        )

    def _prompt(self, doc: Mapping[str, Any], prompt: Mapping[str, Any]) -> str | None:
        """A prompt's text (a snapshot, encrypted like the answers)."""
        return self._open(prompt["text"], doc["user"], doc["_id"], f"prompt.{prompt['position']}")

    async def _find(self, user: str, session: str) -> dict[str, Any] | None:
        return await self.collection("sessions").find_one({"_id": session, "user": user}, NO_MARKS)

    async def _update(
        self,
        user: str,
        session: str,
        decide: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> dict[str, Any]:
        """Read the session, let ``decide`` return a failure or the update to make
        (``{"$set": ..., "$unset": ...}``, or ``{}`` for none), and write it only if nobody
        changed the session meanwhile (conceptkit's compare-and-set, with the action's mark)."""

        def decided(doc: dict[str, Any]) -> Change | dict[str, Any]:
            change = decide(doc)
            if "error" in change:
                return change
            unset = tuple(change.get("$unset", {}))
            ended = doc["status"] != IN_PROGRESS or "activeFor" in unset
            return Change({}, set={**change.get("$set", {}), **self._touch(ended)}, unset=unset)

        return await self.store("sessions").change(
            {"_id": session, "user": user}, decided, missing=fail("no such reflection", "not_found")
        )

    def _touch(self, ended: bool = False) -> dict[str, Any]:
        """``touchedAt`` now, and ``openTs`` while the reflection stays in progress."""
        now = self._now()
        return {"touchedAt": now} if ended else {"touchedAt": now, "openTs": now.timestamp()}

    @staticmethod
    def _require_status(
        doc: Mapping[str, Any], allowed: tuple[str, ...], doing: str
    ) -> dict[str, Any] | None:
        if doc["status"] in allowed:
            return None
        return fail(
            f"cannot {doing}: the reflection is {doc['status'].lower().replace('_', ' ')}",
            "conflict",
        )

    @staticmethod
    def _require_phone(doc: Mapping[str, Any], doing: str) -> dict[str, Any] | None:
        if doc["method"] == PHONE:
            return None
        return fail(f"cannot {doing}: only a phone reflection has one", "conflict")

    @staticmethod
    def _touched(doc: Mapping[str, Any], since: dt.datetime) -> dict[str, Any] | None:
        """A failure if the reflection changed after ``since`` (when it was last seen idle)."""
        if (doc.get("touchedAt") or doc["startedAt"]) != since:
            return fail("the reflection changed since it was found idle", "conflict")
        return None

    # -- actions ------------------------------------------------------------------------

    @action(private=("prompts",))
    async def startSession(
        self, user: str, method: Method, prompts: PromptList, callRef: CallRef | None = None
    ) -> Started:
        """Start a reflection that asks ``prompts`` (a snapshot: later prompt edits do not
        change it); fails if the user already has one in progress.

        A phone call continues the user's reflection in progress instead (one begun by
        typing, say): it becomes a phone reflection, and the call asks only the prompts
        still unanswered. Outputs the prompts to ask and their positions."""
        if method not in (PHONE, TEXT):
            return fail("method must be PHONE or TEXT", "invalid")
        cleaned, problem = check_session_prompts(prompts)
        if problem:
            return fail(problem, "invalid")
        store = self.store("sessions")
        done = await store.recorded({"user": user})
        if done is not None:
            return done  # a replay: what this start returned
        if callRef is not None:
            if not isinstance(callRef, str) or not callRef.strip():
                return fail("callRef must be a non-blank string", "invalid")
            finished = await self.collection("sessions").find_one(
                {"user": user, "callRef": callRef, "status": COMPLETED}, {"_id": 1}
            )
            if finished is not None:
                return fail("this call already has a completed reflection", "conflict")
        session = self.new_id()
        now = self._now()
        started = {
            "session": session,
            "prompts": cleaned,
            "positions": list(range(1, len(cleaned) + 1)),
            "resumed": False,
        }
        created = await store.create(
            {
                "_id": session,
                "user": user,
                "activeFor": user,
                "method": method,
                "callRef": callRef,
                "prompts": [
                    {"position": i, "text": self._seal(t, user, session, f"prompt.{i}")}
                    for i, t in enumerate(cleaned, 1)
                ],
                "responses": [],
                "rating": None,
                "transcript": None,
                "recordingUrl": None,
                "transcriptionText": None,
                "status": IN_PROGRESS,
                "abandonReason": None,
                "startedAt": now,
                "touchedAt": now,
                "openTs": now.timestamp(),
                "endedAt": None,
                "version": 0,
                "reindexFor": user,  # its prompts are searchable: indexed just after
            },
            started,
        )
        if created is not None:
            await self._reindex(user, session, started=True)
            return created
        if method != PHONE:
            return fail("you already have a reflection in progress", "conflict")
        return await self._continue_by_phone(user, callRef)

    async def _continue_by_phone(self, user: str, callRef: str | None) -> dict[str, Any]:
        """The reflection in progress goes on as a phone reflection: the call asks what is left."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            missing = missing_positions(doc)
            if not missing:
                return fail("your reflection in progress already has every answer", "conflict")
            texts = {p["position"]: self._prompt(doc, p) for p in doc["prompts"]}
            out = {
                "session": doc["_id"],
                "prompts": [texts[p] for p in missing],
                "positions": missing,
                "resumed": True,
            }
            changes = {
                "method": PHONE,
                "callRef": callRef,
                "continuedFrom": doc["method"],
                **self._touch(),
            }
            return Change(out, set=changes)

        return await self.store("sessions").change(
            {"activeFor": user},
            decide,
            missing=fail("you already have a reflection in progress", "conflict"),
        )

    @action(private=("text",))
    async def recordResponse(
        self,
        user: str,
        session: SessionId,
        position: Position,
        text: AnswerText,
        startedAt: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """Record the answer to the prompt at ``position``, once per prompt, while in progress.

        Whitespace around the answer is removed; an empty answer means "no answer" (a
        prompt skipped on the phone or left blank in the web app) and still counts as
        recorded. ``startedAt`` is when the prompt was asked (default: now).
        """
        if len(text) > MAX_ANSWER_CHARS:
            return fail(f"an answer is at most {MAX_ANSWER_CHARS} characters", "invalid")
        now = self._now()
        asked = startedAt or now
        if asked.tzinfo is None:
            return fail("startedAt must include a UTC offset", "invalid")
        if asked > now:
            return fail("startedAt is in the future", "invalid")
        answer = text.strip()

        def decide(doc: dict[str, Any]) -> dict[str, Any]:
            problem = self._require_status(doc, (IN_PROGRESS,), "record an answer")
            if problem:
                return problem
            count = len(doc["prompts"])
            if not 1 <= position <= count:
                return fail(
                    f"position {position} is out of range: this reflection has {count} prompt(s)",
                    "invalid",
                )
            if any(r["position"] == position for r in doc["responses"]):
                return fail(f"prompt {position} already has an answer", "conflict")
            if asked < doc["startedAt"]:
                return fail("startedAt is before the reflection started", "invalid")
            response = {
                "position": position,
                "text": self._seal(answer, user, session, f"response.{position}"),
                "startedAt": asked,
                "finishedAt": now,
            }
            responses = sorted([*doc["responses"], response], key=lambda r: r["position"])
            return {"$set": {"responses": responses, "reindexFor": user}}

        return await self._indexed(user, session, await self._update(user, session, decide))

    @action
    async def setRating(self, user: str, session: SessionId, rating: Rating) -> dict[str, Any]:
        """Rate the day from -2 to 2, while the reflection is in progress or after it completed."""
        if not isinstance(rating, int) or isinstance(rating, bool) or not -2 <= rating <= 2:
            return fail("a rating is an integer from -2 to 2", "invalid")

        def decide(doc: dict[str, Any]) -> dict[str, Any]:
            problem = self._require_status(doc, (IN_PROGRESS, COMPLETED), "rate it")
            return problem or {"$set": {"rating": rating}}

        return await self._update(user, session, decide)

    @action
    async def completeSession(self, user: str, session: SessionId) -> dict[str, Any]:
        """Complete the reflection; every prompt must have a recorded answer (possibly empty)."""

        def decide(doc: dict[str, Any]) -> dict[str, Any]:
            problem = self._require_status(doc, (IN_PROGRESS,), "complete it")
            if problem:
                return problem
            missing = missing_positions(doc)
            if missing:
                listed = ", ".join(str(p) for p in missing)
                return fail(f"no answer recorded yet for prompt(s) {listed}", "conflict")
            return {
                "$set": {"status": COMPLETED, "endedAt": self._now()},
                "$unset": {"activeFor": "", "openTs": ""},
            }

        return await self._indexed(user, session, await self._update(user, session, decide))

    @action
    async def abandonSession(
        self, user: str, session: SessionId, reason: Annotated[str, Len(1, 200)]
    ) -> dict[str, Any]:
        """End an unfinished reflection (hang-up, no answer, the user gave up); the answers
        recorded so far are kept. ``reason`` is a short operational note, not personal text."""
        if not reason.strip():
            return fail("give a reason", "invalid")

        def decide(doc: dict[str, Any]) -> dict[str, Any]:
            problem = self._require_status(doc, (IN_PROGRESS,), "abandon it")
            if problem:
                return problem
            return {
                "$set": {
                    "status": ABANDONED,
                    "endedAt": self._now(),
                    "abandonReason": reason.strip(),
                },
                "$unset": {"activeFor": "", "openTs": ""},
            }

        return await self._indexed(user, session, await self._update(user, session, decide))

    @action
    async def abandonUntouched(
        self,
        user: str,
        session: SessionId,
        untouchedSince: dt.datetime,
        reason: Annotated[str, Len(1, 200)],
    ) -> dict[str, Any]:
        """Internal (reconciler): abandon a reflection left in progress, answers kept, but only
        if nothing has changed it since ``untouchedSince`` (the user may be back at it)."""

        def decide(doc: dict[str, Any]) -> dict[str, Any]:
            problem = self._require_status(doc, (IN_PROGRESS,), "abandon it") or self._touched(
                doc, untouchedSince
            )
            if problem:
                return problem
            sets = {"status": ABANDONED, "endedAt": self._now(), "abandonReason": reason}
            return {"$set": sets, "$unset": {"activeFor": "", "openTs": ""}}

        return await self._indexed(user, session, await self._update(user, session, decide))

    @action
    async def deleteAllFor(self, user: str) -> dict[str, Any]:
        """Delete every reflection of the user, with its answers, transcript and recording URL,
        and the user's search index (again after the sessions: a search rebuilding it
        meanwhile may have read them)."""
        await self._drop_index(user)
        res = await self.collection("sessions").delete_many({"user": user})
        await self._drop_index(user)
        return {"deleted": res.deleted_count}
