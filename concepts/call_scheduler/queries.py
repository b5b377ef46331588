"""What CallScheduler tells: one call, a user's calls, and what the worker and the
reconciler ask (is a call due, when is the next, which attempts outlived their call)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from conceptkit import Range, query

from .states import ACTIVE, DIALING, FAILED, FIELD_NUMBER, IN_PROGRESS, PENDING, view


class CallQueries:
    """The queries of CallScheduler (a part of the concept, not a concept)."""

    services: dict[str, Any]
    collection: Any

    def _number(self, doc: dict[str, Any]) -> str:
        return self.services["encryption"].decrypt(
            doc["phoneNumber"], user=doc["user"], field=FIELD_NUMBER
        )

    def _view(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {**view(doc), "phoneNumber": self._number(doc)}

    @query(private=("phoneNumber",))
    async def _call(self, scheduledCall: str) -> list[dict[str, Any]]:
        """Everything about one scheduled call, lease included (internal)."""
        doc = await self.collection("calls").find_one({"_id": scheduledCall})
        if doc is None:
            return []
        return [
            {
                **self._view(doc),
                "dueAt": doc["dueAt"],
                "claimedBy": doc.get("claimedBy"),
                "leaseUntil": doc.get("leaseUntil"),
                "claimKind": doc.get("claimKind"),
            }
        ]

    @query(private=("phoneNumber",))
    async def _forUser(self, user: str, scheduledCall: str) -> list[dict[str, Any]]:
        """One of user's scheduled calls."""
        doc = await self.collection("calls").find_one({"_id": scheduledCall, "user": user})
        return [self._view(doc)] if doc else []

    @query(private=("phoneNumber",))
    async def _upcoming(self, user: str) -> list[dict[str, Any]]:
        """User's pending or active calls, soonest first."""
        cursor = self.collection("calls").find({"user": user, "status": {"$in": list(ACTIVE)}})
        return [self._view(d) async for d in cursor.sort("dueAt", 1)]

    @query
    async def _attempting(
        self, before: dt.datetime, limit: Annotated[int, Range(1, 500)] = 100
    ) -> list[dict[str, Any]]:
        """Internal (reconciler): calls dialled (IN_PROGRESS) in an attempt begun before ``before``."""
        docs = (
            self.collection("calls")
            .find(
                {"attemptTs": {"$lt": before.timestamp()}},
                {"user": 1, "attempts": 1, "status": 1},
            )
            .limit(5 * int(limit))
        )
        rows = [
            {"scheduledCall": d["_id"], "user": d["user"], "attempt": d["attempts"]}
            async for d in docs
            if d["status"] == IN_PROGRESS
        ]
        return rows[: int(limit)]

    @query
    async def _isDue(self, now: dt.datetime) -> list[dict[str, Any]]:
        """Whether a call can be claimed at ``now`` (a due one, or a dead worker's): the worker
        asks before claiming, so an idle poll writes nothing."""
        ts = now.astimezone(dt.UTC).timestamp()
        calls = self.collection("calls")
        due = await calls.find_one(
            {"status": PENDING, "dueAt": {"$lte": ts}, "attemptsLeft": {"$gt": 0}}, {"_id": 1}
        ) or await calls.find_one({"status": DIALING, "leaseUntil": {"$lte": ts}}, {"_id": 1})
        return [{"due": True}] if due else []

    @query
    async def _nextDueAt(self) -> list[dict[str, Any]]:
        """The earliest time (epoch seconds) a call becomes claimable, for the worker to sleep until."""
        calls = self.collection("calls")
        pending = await calls.find_one(
            {"status": PENDING, "attemptsLeft": {"$gt": 0}}, {"dueAt": 1}, sort=[("dueAt", 1)]
        )
        dialing = await calls.find_one(
            {"status": DIALING, "leaseUntil": {"$exists": True}},
            {"leaseUntil": 1},
            sort=[("leaseUntil", 1)],
        )
        times = [d["dueAt"] for d in (pending,) if d] + [d["leaseUntil"] for d in (dialing,) if d]
        return [{"dueAt": min(times)}] if times else []

    @query(private=("phoneNumber",))
    async def _recent(
        self, user: str, limit: Annotated[int, Range(1, 100)] = 10
    ) -> list[dict[str, Any]]:
        """User's most recent scheduled calls, newest first."""
        cursor = self.collection("calls").find({"user": user}).sort("_id", -1).limit(int(limit))
        return [self._view(d) async for d in cursor]

    @query(private=("phoneNumber",))
    async def _missed(
        self,
        user: str,
        before: dt.datetime | None = None,
        after: dt.datetime | None = None,
        limit: Annotated[int, Range(1, 100)] = 100,
    ) -> list[dict[str, Any]]:
        """User's missed calls (FAILED: nobody reached after every attempt, or a slot not
        called), newest first, planned in (``after``, ``before``): History shows them
        between the reflections of the same period."""
        window: dict[str, Any] = {}
        if before is not None:
            window["$lt"] = before
        if after is not None:
            window["$gt"] = after
        filt: dict[str, Any] = {"user": user, "status": FAILED}
        if window:
            filt["scheduledFor"] = window
        cursor = self.collection("calls").find(filt).sort("scheduledFor", -1).limit(int(limit))
        return [self._view(d) async for d in cursor]
