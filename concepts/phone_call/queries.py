"""What PhoneCall tells: a call by id or provider id, a user's live call, what a call heard,
and the calls the reconciler must look at (idle, or never ended)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from conceptkit import NO_MARKS, Range, query

from .calls import FIELD_ANSWER, FIELD_BUFFER, FIELD_TO, Calls
from .statuses import ABANDONED, CANCELLED, COMPLETED, IN_PROGRESS, TERMINAL
from .views import VIEW_FIELDS, positions, view

Limit = Annotated[int, Range(1, 500)]


class CallQueries(Calls):
    """The queries (a mixin of ``PhoneCall``)."""

    @query
    async def _byCallSid(self, callSid: str) -> list[dict[str, Any]]:
        """The call with this provider id (no private fields)."""
        doc = await self._by_sid(callSid)
        return [view(doc)] if doc else []

    @query
    async def _call(self, call: str) -> list[dict[str, Any]]:
        """The call with this id (no private fields)."""
        doc = await self.collection("calls").find_one({"_id": call}, VIEW_FIELDS)
        return [view(doc)] if doc else []

    @query
    async def _stale(self, before: dt.datetime, limit: Limit = 100) -> list[dict[str, Any]]:
        """Internal (worker): calls still not ended that were created before ``before``,
        i.e. whose end the provider never reported (lost status callbacks)."""
        docs = (
            self.collection("calls")
            .find({"liveSince": {"$lt": before.timestamp()}}, VIEW_FIELDS)
            .limit(int(limit))
        )
        stale = [view(d) async for d in docs]
        return sorted(stale, key=lambda v: v["createdAt"])

    @query
    async def _idle(self, before: dt.datetime, limit: Limit = 100) -> list[dict[str, Any]]:
        """Internal (reconciler): dialled calls not ended that nothing has changed since
        ``before`` (their end may have happened while we could not hear of it)."""
        docs = (
            self.collection("calls")
            .find({"liveTs": {"$lt": before.timestamp()}}, VIEW_FIELDS)
            .limit(int(limit))
        )
        idle = [view(d) async for d in docs if d.get("callSid")]
        return sorted(idle, key=lambda v: v["createdAt"])

    @query(private=("answers", "transcript"))
    async def _saidInSession(self, user: str, session: str) -> list[dict[str, Any]]:
        """What the user's call for reflection ``session`` heard (one row, empty if no call
        got that far): for closing a reflection whose call ended unnoticed."""
        doc = await self.collection("calls").find_one(
            {"user": user, "session": session}, NO_MARKS, sort=[("_id", -1)]
        )
        if doc is None:
            return [{"answers": [], "transcript": ""}]
        ended = self._ended(doc, doc["status"])
        return [{"answers": ended["answers"], "transcript": ended["transcript"]}]

    @query
    async def _lastOutcome(self, scheduledCall: str) -> list[dict[str, Any]]:
        """How the newest call for a scheduled call ended (one row): ``outcome`` (None: no
        call, or still live) and ``reached`` (the reflection began: no retry is owed)."""
        doc = await self.collection("calls").find_one(
            {"scheduledCall": scheduledCall}, NO_MARKS, sort=[("_id", -1)]
        )
        if doc is None or doc["status"] not in TERMINAL:
            return [{"outcome": None, "reached": False, "live": doc is not None}]
        reached = doc["status"] == COMPLETED or (
            doc["status"] in (ABANDONED, CANCELLED) and doc.get("session") is not None
        )
        outcome = "HUNG_UP" if doc["status"] == ABANDONED and not reached else doc["status"]
        return [{"outcome": outcome, "reached": reached, "live": False}]

    @query(private=("toNumber",))
    async def _activeForUser(self, user: str) -> list[dict[str, Any]]:
        """The user's non-terminal call, if any, with the number it calls (to resume a dial)."""
        shown = {**VIEW_FIELDS, "toNumber": 1}
        doc = await self.collection("calls").find_one({"activeUser": user}, shown)
        if doc is None:
            return []
        return [{**view(doc), "toNumber": self._open(doc["toNumber"], user, FIELD_TO)}]

    @query(private=("answerSoFar",))
    async def _answerSoFar(self, callSid: str) -> list[dict[str, Any]]:
        """The answer being given to the current prompt of a live call, decrypted: for
        judging it again after a longer pause (internal use). Nothing while no word of it
        was heard, or every prompt is answered."""
        doc = await self._by_sid(callSid)
        if doc is None or doc["status"] != IN_PROGRESS or doc.get("promptIndex") is None:
            return []
        if doc["answeredCount"] >= doc["promptCount"]:
            return []  # every prompt is answered: the rating question, or goodbye
        user = doc["user"]
        answer = self._open(doc.get("currentAnswer"), user, FIELD_BUFFER)
        if not answer:
            return []
        return [
            {
                "call": doc["_id"],
                "user": user,
                "session": doc["session"],
                "answerSoFar": answer,
                "promptIndex": doc["promptIndex"],
                "sessionPosition": positions(doc)[doc["promptIndex"]],
            }
        ]

    @query(private=("answer",))
    async def _answers(self, callSid: str) -> list[dict[str, Any]]:
        """The recorded answers of a call by position, decrypted (internal use only)."""
        doc = await self._by_sid(callSid)
        if doc is None:
            return []
        user = doc["user"]
        return [
            {"position": i, "answer": self._open(token, user, FIELD_ANSWER)}
            for i, token in enumerate(doc["answers"])
        ]

    @query
    async def _forUser(self, user: str) -> list[dict[str, Any]]:
        """Internal (account deletion): every call of the user, newest first."""
        cursor = self.collection("calls").find({"user": user}, VIEW_FIELDS).sort("_id", -1)
        return [view(d) async for d in cursor]

    @query
    async def _forScheduledCall(self, scheduledCall: str) -> list[dict[str, Any]]:
        """Every call placed for a scheduled call (one per attempt), newest first."""
        cursor = (
            self.collection("calls")
            .find({"scheduledCall": scheduledCall}, VIEW_FIELDS)
            .sort("_id", -1)
        )
        return [view(d) async for d in cursor]
