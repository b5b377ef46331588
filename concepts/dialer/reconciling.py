"""Finding out what became of an unclear attempt: adopt the provider's call for it, or,
once the provider has shown nothing for long enough, record that it was never placed.

The provider cannot tell whose call it is, only its number, so a call is adopted only
when no other unclear attempt to that number could own it.
"""

from __future__ import annotations

import logging
from typing import Any

from conceptkit import action, fail
from services.telephony import TelephonyError

from .records import LIVE_STATUSES, RECONCILE_SKEW, UNCLEAR, Reconciled

log = logging.getLogger("concepts.dialer")


class Reconciling:
    """The reconciliation of Dialer (a part of the concept, not a concept)."""

    services: dict[str, Any]
    attempts: Any
    store: Any
    _to: Any
    _to_key: Any
    _outcome: Any
    _give_up_unclear_after: Any

    async def _reconcile(
        self,
        scheduledCall: str,
        to: str,
        skip: str | None = None,
        quiet: bool = False,
        own: bool = False,
    ) -> str | None:
        """A call the provider has for an attempt of this scheduled call whose outcome we never
        learned: a live one for an earlier attempt, or (``own``: this attempt's request may
        have left) any, live or over.

        The provider cannot tell whose call it is, only its number: a call is adopted
        only if no other unclear attempt to that number (another user's, say) could own
        it. Otherwise the call's own callbacks, which carry our call id, settle it.
        ``quiet`` turns a failed lookup into "found nothing".
        """
        unclear = await self.attempts.find(
            {"scheduledCall": scheduledCall, "state": {"$in": list(UNCLEAR)}}
        ).to_list(None)
        unclear = [a for a in unclear if a["_id"] != skip]
        if not unclear:
            return None
        ours = {a["_id"] for a in unclear} | ({skip} if skip else set())
        others = await self.attempts.find(
            {
                "toKey": self._to_key(to),
                "state": {"$in": list(UNCLEAR)},
                "_id": {"$nin": sorted(ours)},
            },
            {"_id": 1},
        ).to_list(None)
        if others:
            log.warning("not adopting by number: another unclear attempt to %s exists", to[-4:])
            return None
        since = min(a.get("sentAt") or a["at"] for a in unclear) - RECONCILE_SKEW
        known = await self._known_sids(to)
        try:
            calls = await self.services["telephony"].calls_to_since(to, since)
        except TelephonyError:
            if quiet:
                return None
            raise
        for summary in calls:
            if summary.sid not in known and (own or summary.status in LIVE_STATUSES):
                log.warning("adopting call %s placed by an unclear earlier attempt", summary.sid)
                return summary.sid
        return None

    async def _contested(self, attempt: dict[str, Any]) -> bool:
        """Whether the provider has a live call to this attempt's number, placed since it, that
        no attempt claims: on a shared number it may be ours (its callbacks will tell), so
        the attempt is not given up while it lasts."""
        to = self._to(attempt)
        others = await self.attempts.find_one(
            {
                "toKey": self._to_key(to),
                "state": {"$in": list(UNCLEAR)},
                "_id": {"$ne": attempt["_id"]},
            },
            {"_id": 1},
        )
        if others is None:
            return False
        since = (attempt.get("sentAt") or attempt["at"]) - RECONCILE_SKEW
        known = await self._known_sids(to)
        calls = await self.services["telephony"].calls_to_since(to, since)
        return any(c.sid not in known and c.status in LIVE_STATUSES for c in calls)

    async def _known_sids(self, to: str) -> set[str]:
        """The provider's calls to ``to`` that attempts already own (never adopted again)."""
        owned = self.attempts.find(
            {"toKey": self._to_key(to), "callSid": {"$ne": None}}, {"callSid": 1}
        )
        return {a["callSid"] for a in await owned.to_list(None)}

    async def _settle(
        self,
        key: str,
        sid: str,
        *,
        adopted: bool,
        outputs: dict[str, Any] | None = None,
        fence: int | None = None,
    ) -> Any:
        """The attempt's call is known: record it (marked with ``outputs``, by default the
        dial's), and close its unclear siblings."""
        marked = outputs or {"callSid": sid, "adopted": adopted, "unclear": False}
        done = await self._outcome(key, marked, {"state": "placed", "callSid": sid}, fence)
        doc = await self.attempts.find_one({"_id": key}, {"scheduledCall": 1})
        if doc is not None:
            await self.attempts.update_many(
                {"scheduledCall": doc["scheduledCall"], "state": {"$in": list(UNCLEAR)}},
                {"$set": {"state": "reconciled"}},
            )
        return done

    @action
    async def reconcile(self, call: str) -> Reconciled:
        """Settle the unclear attempt of our call ``call``: adopt the live call the provider
        has for it, or, once the provider has shown nothing for long enough, record that
        it was never placed. Fails (unavailable) while it stays unclear."""
        done = await self.store("attempts").recorded({"call": call})
        if done is not None:
            return done  # a replay: what this reconciliation found
        attempt = await self.attempts.find_one(
            {"call": call, "state": {"$in": list(UNCLEAR)}}, sort=[("at", -1)]
        )
        if attempt is None:
            placed = await self.attempts.find_one({"call": call, "callSid": {"$ne": None}})
            if placed is not None:
                return {"call": call, "callSid": placed["callSid"], "placed": True}
            return fail("no unclear attempt for this call", "not_found")
        now = self.services["clock"].now()
        if attempt.get("lockUntil", 0) > now.timestamp():
            return fail("the attempt is still being dialled", "unavailable")
        try:
            found = await self._reconcile(attempt["scheduledCall"], self._to(attempt))
        except TelephonyError as exc:
            return fail(f"the provider could not be asked: {exc.message}", "unavailable")
        if found:
            placed = {"call": call, "callSid": found, "placed": True}
            return await self._settle(attempt["_id"], found, adopted=True, outputs=placed)
        if now - attempt["at"] < self._give_up_unclear_after():
            return fail("still unclear: the provider shows no call yet", "unavailable")
        try:
            if await self._contested(attempt):
                return fail(
                    "still unclear: a live call to this shared number may be ours", "unavailable"
                )
        except TelephonyError as exc:
            return fail(f"the provider could not be asked: {exc.message}", "unavailable")
        return await self._outcome(
            attempt["_id"],
            {"call": call, "callSid": None, "placed": False},
            {"state": "not_placed"},
        )
