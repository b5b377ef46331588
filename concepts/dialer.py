"""Dialer: placing a call attempt exactly once, even across crashes and ambiguous failures.

Purpose: turn "phone this number for this attempt" into at most one real call.
Principle: the attempt is written before the provider is asked; if the outcome
is unknown (a crash, a timeout, a 5xx after sending), the next try first looks
for calls the provider already has to that number since the attempt, and adopts
one instead of dialling again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, TypedDict

from pymongo.errors import DuplicateKeyError

from conceptkit import Concept, action, fail, query
from services.telephony import AmbiguousDialError, TelephonyError

log = logging.getLogger("concepts.dialer")

RECONCILE_SKEW = dt.timedelta(seconds=120)
# Only a call that can still reach the person is adopted; one already over was an
# attempt that happened (its status callbacks tell its outcome), not one to take over.
FRESH, RESUMED = "fresh", "resumed"
LIVE_STATUSES = frozenset({"queued", "initiated", "ringing", "in-progress"})


class Dialled(TypedDict):
    callSid: str
    adopted: bool


class Dialer(Concept):
    uses = ("clock", "telephony", "webhook_urls", "call_policy")

    @property
    def _lock_seconds(self) -> float:
        """How long one dial may hold its attempt: the worker's claim lease."""
        return float(self.services["call_policy"].claim_lease_seconds)

    @property
    def attempts(self) -> Any:
        return self.collection("attempts")

    async def setup(self) -> None:
        await self.attempts.create_index("scheduledCall")
        await self.attempts.create_index("to")
        await self.attempts.create_index("user")

    @action
    async def dial(
        self, user: str, call: str, scheduledCall: str, attempt: int, to: str
    ) -> Dialled:
        """Place the call for this attempt, or adopt the one an earlier, unclear try placed."""
        key = f"{scheduledCall}:{attempt}"
        now = self.services["clock"].now()
        held = await self._lock(key, user, call, scheduledCall, to, now)
        if held is None:
            return fail("this attempt is being dialled by another worker right now", "conflict")
        if held not in (FRESH, RESUMED):
            return {"callSid": held, "adopted": True}
        adopted = await self._reconcile(scheduledCall, to, skip=key if held == FRESH else None)
        if adopted:
            await self._settle(key, user, call, scheduledCall, to, now, adopted)
            return {"callSid": adopted, "adopted": True}
        urls = self.services["webhook_urls"]
        try:
            # Bounded well inside the lock, so nobody else can resume this attempt while
            # our request may still be on its way to the provider.
            placed = await asyncio.wait_for(
                self.services["telephony"].place_call(
                    to=to,
                    answer_url=urls.url("voice", call=call),
                    status_callback_url=urls.url("status", call=call),
                    recording_callback_url=urls.recording,
                ),
                timeout=self._lock_seconds * 0.75,
            )
        except (AmbiguousDialError, TimeoutError):
            found = await self._reconcile(scheduledCall, to)
            if found:
                await self._settle(key, user, call, scheduledCall, to, now, found)
                return {"callSid": found, "adopted": True}
            await self.attempts.update_one({"_id": key}, {"$set": {"state": "ambiguous"}})
            return fail(
                "the provider may or may not have placed the call; will reconcile before any redial",
                "unavailable",
            )
        except TelephonyError as exc:
            await self.attempts.update_one(
                {"_id": key}, {"$set": {"state": "failed", "error": exc.message}}
            )
            return fail(f"the call could not be placed: {exc.message}", "unavailable")
        await self._settle(key, user, call, scheduledCall, to, now, placed.sid)
        return {"callSid": placed.sid, "adopted": False}

    async def _lock(
        self, key: str, user: str, call: str, scheduledCall: str, to: str, now: dt.datetime
    ) -> str | None:
        """Take the attempt for dialling: FRESH (first try), RESUMED (an earlier try of it
        never finished), its CallSid (already placed), or None (someone is dialling it).

        The attempt record is written before anyone dials, and holds a short lock, so
        a worker taking over a crashed worker's claim and a replay of the crashed
        worker's own reactions cannot both dial it.
        """
        until = now.timestamp() + self._lock_seconds
        fresh = {
            "_id": key,
            "user": user,
            "call": call,
            "scheduledCall": scheduledCall,
            "to": to,
            "at": now,
            "state": "dialing",
            "callSid": None,
            "lockUntil": until,
        }
        try:
            await self.attempts.insert_one(fresh)
            return FRESH
        except DuplicateKeyError:
            pass
        existing = await self.attempts.find_one({"_id": key})
        if existing and existing.get("callSid"):
            return existing["callSid"]
        taken = await self.attempts.update_one(
            {"_id": key, "callSid": None, "lockUntil": {"$lte": now.timestamp()}},
            {"$set": {"lockUntil": until}},
        )
        return RESUMED if taken.modified_count else None

    async def _reconcile(self, scheduledCall: str, to: str, skip: str | None = None) -> str | None:
        """A call the provider has for an earlier attempt whose outcome we never learned."""
        unclear = await self.attempts.find(
            {"scheduledCall": scheduledCall, "state": {"$in": ["dialing", "ambiguous"]}}
        ).to_list(None)
        unclear = [a for a in unclear if a["_id"] != skip]
        if not unclear:
            return None
        since = min(a["at"] for a in unclear) - RECONCILE_SKEW
        known = {
            a["callSid"]
            for a in await self.attempts.find({"to": to, "state": "placed"}).to_list(None)
        }
        calls = await self.services["telephony"].calls_to_since(to, since)
        for summary in calls:
            if summary.sid not in known and summary.status in LIVE_STATUSES:
                log.warning("adopting call %s placed by an unclear earlier attempt", summary.sid)
                return summary.sid
        return None

    async def _settle(
        self, key: str, user: str, call: str, scheduledCall: str, to: str, at: dt.datetime, sid: str
    ) -> None:
        await self.attempts.update_one(
            {"_id": key},
            {
                "$set": {
                    "user": user,
                    "call": call,
                    "scheduledCall": scheduledCall,
                    "to": to,
                    "state": "placed",
                    "callSid": sid,
                },
                "$setOnInsert": {"at": at},
            },
            upsert=True,
        )
        await self.attempts.update_many(
            {"scheduledCall": scheduledCall, "state": {"$in": ["dialing", "ambiguous"]}},
            {"$set": {"state": "reconciled"}},
        )

    @action
    async def hangUp(self, callSid: str) -> dict[str, Any]:
        """End a live call (the user cancelled it)."""
        try:
            await self.services["telephony"].end_call(callSid)
        except TelephonyError as exc:
            return fail(f"could not end the call: {exc.message}", "unavailable")
        return {}

    @action
    async def deleteAllFor(self, user: str) -> dict[str, Any]:
        """Forget the user's dial attempts (they hold the number dialled)."""
        await self.attempts.delete_many({"user": user})
        return {}

    @query
    async def _attempts(self, scheduledCall: str) -> list[dict[str, Any]]:
        docs = (
            await self.attempts.find({"scheduledCall": scheduledCall}).sort("_id", 1).to_list(None)
        )
        return [
            {
                "attempt": d["_id"].rsplit(":", 1)[1],
                "state": d["state"],
                "callSid": d.get("callSid"),
                "at": d["at"],
            }
            for d in docs
        ]
