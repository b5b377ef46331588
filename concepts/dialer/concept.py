"""Dialer, the concept: placing a call attempt exactly once, even across crashes and ambiguous failures.

Purpose: turn "phone this number for this attempt" into at most one real call.
Principle: the attempt is written before the provider is asked, with a fencing token
that grows with each holder; the token is checked right before the request goes out,
so a stalled holder whose attempt was taken over (or cancelled) sends nothing. If the
outcome is unknown (a crash, a timeout, a 5xx after sending), the attempt stays
*unclear*: the call's own callbacks carry our call id and settle it, and the
provider's list of calls is read to adopt it, but only when no other unclear attempt
to the same number could own what is found. An unclear attempt is never counted as
missed while it may be live; only after the provider has been asked and shows
nothing for long enough is it given up as never placed.

The number dialled is stored encrypted for the user (``to``), with its lookup key, a
keyed hash (``toKey``), for finding the other attempts to the same number.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from pymongo import IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from conceptkit import Change, Concept, action, fail, query
from services.telephony import AmbiguousDialError, DialFenced, TelephonyError

from .reconciling import Reconciling
from .records import (
    ENDED_STATUSES,
    FIELD_TO,
    FRESH,
    LOOKUP_PURPOSE,
    RESUMED,
    UNCLEAR,
    Dialled,
    Looked,
)

log = logging.getLogger("concepts.dialer")


def _unclear() -> dict[str, Any]:
    return {"callSid": None, "adopted": False, "unclear": True}


def _cancelled() -> dict[str, Any]:
    """A dial called off: ``cancelled`` lets syncs end the call that was waiting for it."""
    return {**fail("the call was cancelled before it was dialled"), "cancelled": True}


class Dialer(Reconciling, Concept):
    """Turns "phone this number for this attempt" into at most one real call: a worker can
    stall or die mid-dial and a provider's answer can be lost, and nobody should be rung
    twice for one attempt, nor counted as missed by a call that did ring.

    Principle: ``dial(u, c, s, 1, to)`` writes attempt ``s:1`` with fencing token 1 before
    asking the provider, which checks the token right before the request leaves; whoever
    resumes the attempt after its lock expires gets token 2, so the stalled holder sends
    nothing, and first adopts a live call the provider already has for it. An ambiguous
    answer leaves the attempt unclear (under way, not missed) until the call's callbacks
    or ``reconcile(c)`` settle it; ``cancelDial(s)`` stops every attempt not yet sent.
    """

    uses = ("clock", "telephony", "webhook_urls", "call_policy", "encryption")

    @property
    def _lock_seconds(self) -> float:
        """How long one dial may hold its attempt: the worker's claim lease."""
        return float(self.services["call_policy"].claim_lease_seconds)

    def _give_up_unclear_after(self) -> dt.timedelta:
        """The provider lists a created call within seconds, and a create still being
        processed when its sender died is done within the client's timeout (10 s): an
        unclear attempt the provider still does not show after this long (default 90 s,
        DIAL_UNCLEAR_GIVE_UP_SECONDS) was never placed, so a user whose dial died with its
        worker is called again within two minutes."""
        return dt.timedelta(seconds=self.services["call_policy"].unclear_give_up_seconds)

    @property
    def attempts(self) -> Any:
        return self.collection("attempts")

    async def setup(self) -> None:
        # cancellations are only needed while a dial of theirs could still be in flight
        await self.collection("cancelled").create_index("at", expireAfterSeconds=7 * 86400)
        await self.attempts.create_indexes(  # one command, not one per index
            [
                IndexModel("scheduledCall"),
                IndexModel("toKey"),
                IndexModel("user"),
                IndexModel("call"),
                IndexModel("state"),  # the few unclear ones, among every attempt
            ]
        )

    def _to_key(self, to: str) -> dict[str, Any]:
        """A filter on the number dialled, under any configured key (rotation keeps them)."""
        return {"$in": self.services["encryption"].lookup_keys(to, purpose=LOOKUP_PURPOSE)}

    def _to(self, attempt: dict[str, Any]) -> str:
        enc = self.services["encryption"]
        return enc.decrypt(attempt["to"], user=attempt["user"], field=FIELD_TO)

    @action(private=("to",))
    async def dial(
        self, user: str, call: str, scheduledCall: str, attempt: int, to: str
    ) -> Dialled:
        """Place the call for this attempt, or adopt the one an earlier, unclear try placed."""
        key = f"{scheduledCall}:{attempt}"
        done = await self.store("attempts").recorded({"_id": key})
        if done is not None:
            return done  # a replay: what this dial returned
        now = self.services["clock"].now()
        held = await self._lock(key, user, call, scheduledCall, to, now)
        if held is None:
            return fail("this attempt is being dialled by another worker right now", "conflict")
        if isinstance(held, str):
            return await self._settle(key, held, adopted=True)
        how, fence, sent = held
        if await self._called_off(scheduledCall, user):
            return await self._outcome(key, _cancelled(), {"state": "cancelled"}, fence)
        if sent:
            # An earlier try of this very attempt may have reached the provider: never send
            # again; adopt what the provider has (live or over), else it stays unclear.
            found = await self._reconcile(scheduledCall, to, quiet=True, own=True)
            if found:
                return await self._settle(key, found, adopted=True, fence=fence)
            return await self._outcome(key, _unclear(), {"state": "ambiguous"}, fence)
        adopted = await self._reconcile(scheduledCall, to, skip=key if how == FRESH else None)
        if adopted:
            return await self._settle(key, adopted, adopted=True, fence=fence)
        urls = self.services["webhook_urls"]

        async def still_ours() -> bool:
            """The fence: this holder still owns the attempt and nobody cancelled it."""
            res = await self.attempts.update_one(
                {"_id": key, "fence": fence, "callSid": None, "cancelled": {"$in": [False, None]}},
                {"$set": {"sentAt": self.services["clock"].now()}},
            )
            return res.matched_count == 1

        try:
            # Bounded well inside the lock, so nobody else can resume this attempt while
            # our request may still be on its way to the provider.
            placed = await asyncio.wait_for(
                self.services["telephony"].place_call(
                    to=to,
                    answer_url=urls.url("voice", call=call),
                    status_callback_url=urls.url("status", call=call),
                    recording_callback_url=urls.recording,
                    fence=still_ours,
                    user=user,  # whose call it is, for the mock's simulator only
                ),
                timeout=self._lock_seconds * 0.75,
            )
        except DialFenced as exc:
            log.warning("dial of %s called off: %s", key, exc.message)
            if await self._called_off(scheduledCall, user, key):
                return await self._outcome(key, _cancelled(), {"state": "cancelled"}, fence)
            return fail("the attempt was taken over by another worker before it was dialled")
        except (AmbiguousDialError, TimeoutError):
            found = await self._reconcile(scheduledCall, to, quiet=True, own=True)
            if found:
                return await self._settle(key, found, adopted=True, fence=fence)
            # Unclear until reconciled: never counted as missed while it may be live.
            return await self._outcome(key, _unclear(), {"state": "ambiguous"}, fence)
        except TelephonyError as exc:
            message = exc.message.replace(to, "the number")  # no number in the log or state
            return await self._outcome(
                key,
                fail(f"the call could not be placed: {message}", "unavailable"),
                {"state": "failed", "error": message},
                fence,
            )
        return await self._settle(key, placed.sid, adopted=False, fence=fence)

    async def _outcome(
        self, key: str, outputs: dict[str, Any], sets: dict[str, Any], fence: int | None = None
    ) -> Any:
        """Record how the attempt ended, with this action's mark (a replay returns it). With
        ``fence``, only while that token still holds: a holder fenced out records nothing."""
        find: dict[str, Any] = {"_id": key} if fence is None else {"_id": key, "fence": fence}
        return await self.store("attempts").change(
            find,
            lambda doc: Change(outputs, set=sets),
            missing=fail("the attempt moved on (taken over, or forgotten) before its outcome"),
        )

    async def _called_off(self, scheduledCall: str, user: str, key: str | None = None) -> bool:
        """Whether the user cancelled this scheduled call (or was deleted) before the dial."""
        if key is not None:
            doc = await self.attempts.find_one({"_id": key}, {"cancelled": 1})
            if doc is not None and doc.get("cancelled"):
                return True
        found = await self.collection("cancelled").find_one(
            {"_id": {"$in": [scheduledCall, f"user:{user}"]}}, {"_id": 1}
        )
        return found is not None

    async def _lock(
        self, key: str, user: str, call: str, scheduledCall: str, to: str, now: dt.datetime
    ) -> tuple[str, int, bool] | str | None:
        """Take the attempt for dialling: (FRESH or RESUMED, fencing token, whether an earlier
        try may have sent the request), its CallSid (already placed), or None (someone else
        holds it right now).

        The attempt record is written before anyone dials, and holds a short lock, so
        a worker taking over a crashed worker's claim and a replay of the crashed
        worker's own reactions cannot both dial it. Each holder gets a larger token.
        A replay of the very dial that took the lock (same action id) takes it back at
        once: the process that held it died, or its token is now too small to dial.
        """
        until = now.timestamp() + self._lock_seconds
        fresh = {
            "_id": key,
            "user": user,
            "call": call,
            "scheduledCall": scheduledCall,
            "to": self.services["encryption"].encrypt(to, user=user, field=FIELD_TO),
            "toKey": self.services["encryption"].lookup_key(to, purpose=LOOKUP_PURPOSE),
            "at": now,
            "state": "dialing",
            "callSid": None,
            "lockUntil": until,
            "fence": 1,
            "cancelled": False,
            "holder": self.action_id,
            "version": 0,
        }
        try:
            await self.attempts.insert_one(fresh)
            return FRESH, 1, False
        except DuplicateKeyError:
            pass
        existing = await self.attempts.find_one({"_id": key})
        if existing and existing.get("callSid"):
            return existing["callSid"]
        holder = existing.get("holder") if existing else None
        mine = holder is not None and holder == self.action_id
        expired = {} if mine else {"lockUntil": {"$lte": now.timestamp()}}
        taken = await self.attempts.find_one_and_update(
            {
                "_id": key,
                "callSid": None,
                **expired,
                "cancelled": {"$in": [False, None]},  # (None: written before cancelling existed)
            },
            {"$set": {"lockUntil": until, "state": "dialing"}, "$inc": {"fence": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if taken is None:
            return None
        return RESUMED, taken["fence"], taken.get("sentAt") is not None

    @action
    async def cancelDial(self, scheduledCall: str) -> dict[str, Any]:
        """The user cancelled the scheduled call: no attempt of it is sent to the provider from
        now on, whether it is being dialled or not yet begun."""
        await self._tombstone(scheduledCall)
        res = await self.attempts.update_many(
            {"scheduledCall": scheduledCall, "callSid": None}, {"$set": {"cancelled": True}}
        )
        return {"stopped": res.modified_count > 0}

    async def _tombstone(self, key: str) -> None:
        # ``at`` feeds the server's expiry (TTL) index, which runs on real time
        now = dt.datetime.now(dt.UTC)
        await self.collection("cancelled").update_one(
            {"_id": key}, {"$setOnInsert": {"at": now}}, upsert=True
        )

    @action
    async def hangUp(self, callSid: str) -> dict[str, Any]:
        """End a live call (the user cancelled it, or it should not exist)."""
        try:
            await self.services["telephony"].end_call(callSid)
        except TelephonyError as exc:
            return fail(f"could not end the call: {exc.message}", "unavailable")
        return {}

    @action
    async def lookUp(self, callSid: str) -> Looked:
        """Ask the provider what became of a call whose end we never heard of."""
        try:
            summary = await self.services["telephony"].call_status(callSid)
        except TelephonyError as exc:
            return fail(f"the provider could not be asked: {exc.message}", "unavailable")
        return {
            "callSid": callSid,
            "status": summary.status,
            "ended": summary.status in ENDED_STATUSES,
            "durationSeconds": summary.duration_s,
            "answeredBy": summary.answered_by,
        }

    @action
    async def deleteAllFor(self, user: str) -> dict[str, Any]:
        """Forget the user's dial attempts (they hold the number dialled); a dial of theirs
        still in flight is called off (the user is remembered as deleted, nothing else)."""
        await self._tombstone(f"user:{user}")
        await self.attempts.delete_many({"user": user})
        return {}

    @query
    async def _attempts(self, scheduledCall: str) -> list[dict[str, Any]]:
        """The attempts of a scheduled call, oldest first: state, CallSid and when."""
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

    @query
    async def _unclear(self, before: dt.datetime) -> list[dict[str, Any]]:
        """Internal (reconciler): calls whose attempt is unclear and no longer being dialled."""
        docs = await self.attempts.find(
            {"state": {"$in": list(UNCLEAR)}, "lockUntil": {"$lte": before.timestamp()}},
            {"call": 1, "user": 1, "scheduledCall": 1},
        ).to_list(500)
        return [
            {"call": d["call"], "user": d["user"], "scheduledCall": d["scheduledCall"]}
            for d in docs
        ]
