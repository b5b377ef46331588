"""CallScheduler, the concept: the queue of calls to place, with leases and retries.

Spec: docs/concepts/CallScheduler.md. A scheduled call is PENDING until a
worker claims it (DIALING, under a time-limited lease), IN_PROGRESS once
dialled, and ends COMPLETED, FAILED or CANCELLED. A missed attempt goes back to
PENDING with a later due time while attempts remain.

Storage notes: the due time is kept twice, as ``scheduledFor`` / ``nextRetryAt``
(UTC datetimes, for people) and as ``dueAt`` (float epoch seconds, indexed with
``status``: range scans on floats are fast on the embedded server). Every change,
claims included, is a compare-and-set on ``version`` through conceptkit's ``Store``,
so two workers never claim one call and a replayed action returns what it returned. "One
active call per user" is a unique sparse index on ``activeUser``, a field set
while the call is PENDING/DIALING/IN_PROGRESS and ``$unset`` by the same update
that ends it. The number to call is stored encrypted for the user (the ``encryption``
port; nothing looks a call up by number) and is private in the action log.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pymongo import IndexModel

from conceptkit import Change, Concept, Len, Pattern, Range, action, fail
from services.telephony import E164_PATTERN

from .attempts import Attempts
from .days import DayQueries
from .queries import CallQueries
from .states import (
    ATTEMPTING,
    CANCELLED,
    FAILED,
    FIELD_NUMBER,
    MAX_RETRIES,
    MAX_SNOOZE_MINUTES,
    PENDING,
    TERMINAL,
    Cancelled,
    Deleted,
    Scheduled,
    Snoozed,
    logged,
)


class CallScheduler(Attempts, CallQueries, DayQueries, Concept):
    """Keeps the queue of reflection calls to place, so that each is dialled on time, by
    exactly one worker, and retried a bounded number of times when nobody answers.

    Principle: ``scheduleCall(u, n, 09:00)`` queues call ``sc``; at 09:00 a worker's
    ``claimDue("w1")`` gets it as attempt 1 under a lease no other worker can take until
    it expires; ``markDialed`` marks it IN_PROGRESS; ``recordMissed`` puts it back to
    PENDING after the retry delay until ``maxRetries`` attempts have missed (then FAILED);
    ``markCompleted`` ends an answered call, and the user may ``cancel`` before the end.
    """

    uses = ("clock", "call_policy", "encryption")

    async def setup(self) -> None:
        calls = self.collection("calls")
        await calls.create_indexes(
            [
                IndexModel([("status", 1), ("dueAt", 1)]),
                IndexModel([("status", 1), ("leaseUntil", 1)]),
                IndexModel("user"),
                IndexModel("activeUser", unique=True, sparse=True),
                # While an attempt is under way: when it began, as an epoch float, for the
                # reconciler's search of attempts that outlived their call.
                IndexModel("attemptTs", sparse=True),
            ]
        )
        async for doc in calls.find(
            {"status": {"$in": list(ATTEMPTING)}, "attemptTs": {"$exists": False}},
            {"lastAttemptAt": 1, "createdAt": 1},
        ):  # attempts under way across the upgrade that added it
            at = doc.get("lastAttemptAt") or doc["createdAt"]
            await calls.update_one({"_id": doc["_id"]}, {"$set": {"attemptTs": at.timestamp()}})

    # -- helpers ---------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return self.services["clock"].now()

    def _seal(self, user: str, number: str) -> str:
        return self.services["encryption"].encrypt(number, user=user, field=FIELD_NUMBER)

    async def _change(self, scheduledCall: str, decide: Any, user: str | None = None) -> Any:
        """Compare-and-set one scheduled call (of ``user``, if given)."""
        find = {"_id": scheduledCall} if user is None else {"_id": scheduledCall, "user": user}
        return await self.store("calls").change(
            find, decide, missing=fail("no such scheduled call", "not_found")
        )

    def _new_call(
        self,
        call: str,
        user: str,
        phoneNumber: str,
        scheduledFor: dt.datetime,
        origin: str,
        maxRetries: int,
    ) -> dict[str, Any]:
        """A scheduled call's document as it is first stored: PENDING, holding the user's slot."""
        scheduledFor = scheduledFor.astimezone(dt.UTC)
        return {
            "_id": call,
            "user": user,
            "phoneNumber": self._seal(user, phoneNumber),
            "scheduledFor": scheduledFor,
            "dueAt": scheduledFor.timestamp(),
            "status": PENDING,
            "activeUser": user,
            "attempts": 0,
            "attemptsLeft": maxRetries,
            "maxRetries": maxRetries,
            "lastAttemptAt": None,
            "nextRetryAt": None,
            "lastOutcome": None,
            "errorMessage": None,
            "claimedBy": None,
            "attemptLog": [],
            "createdAt": self._now(),
            "completedAt": None,
            "origin": origin,
            "version": 0,
        }

    def _finish(
        self, doc: dict[str, Any], status: str, outcome: str, **fields: Any
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The $set/$unset that end a call: frees the user's slot and drops the lease."""
        changes = {"status": status, "completedAt": self._now(), "lastOutcome": outcome, **fields}
        if doc["status"] in ATTEMPTING:
            changes["attemptLog"] = logged(doc, outcome)
        return changes, ("activeUser", "leaseUntil", "claimKind", "attemptTs")

    # -- actions: the user's side (the worker's are in attempts.py) -----------------

    @action(private=("phoneNumber",))
    async def scheduleCall(
        self,
        user: str,
        phoneNumber: Annotated[str, Pattern(E164_PATTERN)],
        scheduledFor: dt.datetime,
        maxRetries: Annotated[int, Range(1, MAX_RETRIES)] = 4,
        origin: Literal["schedule", "now"] = "schedule",
    ) -> Scheduled:
        """Queue a call to user at scheduledFor; refused while the user has a pending or active call."""
        if type(maxRetries) is not int or not 1 <= maxRetries <= MAX_RETRIES:
            return fail(f"maxRetries must be an integer from 1 to {MAX_RETRIES}", "invalid")
        if not isinstance(scheduledFor, dt.datetime) or scheduledFor.tzinfo is None:
            return fail("scheduledFor must be a timezone-aware date-time", "invalid")
        if origin not in ("schedule", "now"):
            return fail("origin must be 'schedule' or 'now'", "invalid")
        call = self.new_id()
        doc = self._new_call(call, user, phoneNumber, scheduledFor, origin, maxRetries)
        created = await self.store("calls").create(doc, {"scheduledCall": call})
        return fail("this user already has a pending call") if created is None else created

    @action(private=("phoneNumber",))
    async def callNow(
        self,
        user: str,
        phoneNumber: Annotated[str, Pattern(E164_PATTERN)],
        maxRetries: Annotated[int, Range(1, MAX_RETRIES)] = 4,
    ) -> Scheduled:
        """The user asked to be called now: bring their planned call forward, or queue a new one.

        A planned call not yet attempted is moved to now (so the user is not called
        twice today); a call already being attempted is refused.
        """
        return await self._call_at(user, phoneNumber, maxRetries, dt.timedelta(0))

    @action(private=("phoneNumber",))
    async def snooze(
        self,
        user: str,
        phoneNumber: Annotated[str, Pattern(E164_PATTERN)],
        minutes: Annotated[int, Range(1, MAX_SNOOZE_MINUTES)] = 10,
        maxRetries: Annotated[int, Range(1, MAX_RETRIES)] = 4,
    ) -> Snoozed:
        """ "Call me in 10 minutes": the user's waiting call (planned, a retry, asked for)
        is moved to ``minutes`` from now, or a call is queued for then. A call already
        ringing or under way is refused, as for ``callNow``."""
        if type(minutes) is not int or not 1 <= minutes <= MAX_SNOOZE_MINUTES:
            return fail(f"minutes must be an integer from 1 to {MAX_SNOOZE_MINUTES}", "invalid")
        delay = dt.timedelta(minutes=minutes)
        return await self._call_at(user, phoneNumber, maxRetries, delay, tell_when=True)

    async def _call_at(
        self,
        user: str,
        phoneNumber: str,
        maxRetries: int,
        delay: dt.timedelta,
        *,
        tell_when: bool = False,
    ) -> Any:
        """Move the user's waiting call to now + ``delay``, or queue one for then.

        One ``change_or_create`` on the user's active call: the unique activeUser index
        refuses a second call queued meanwhile, and that one is moved instead.
        """
        if type(maxRetries) is not int or not 1 <= maxRetries <= MAX_RETRIES:
            return fail(f"maxRetries must be an integer from 1 to {MAX_RETRIES}", "invalid")
        at = self._now() + delay

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc["status"] != PENDING:
                return fail("a call to you is already under way")
            changes = {
                "scheduledFor": at,
                "dueAt": at.timestamp(),
                "nextRetryAt": None,
                "origin": "now",
                "phoneNumber": self._seal(user, phoneNumber),
            }
            out = {"scheduledCall": doc["_id"], **({"at": at} if tell_when else {})}
            return Change(out, set=changes)

        def new_call() -> dict[str, Any]:
            return self._new_call(self.new_id(), user, phoneNumber, at, "now", maxRetries)

        return await self.store("calls").change_or_create(
            {"activeUser": user},
            decide,
            initial=new_call,
            busy=fail("your calls are changing too often; try again", "unavailable"),
        )

    @action
    async def cancel(self, user: str, scheduledCall: str) -> Cancelled:
        """The owner cancels a pending or active call; wasInProgress says a live call may need hanging up."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc["status"] in TERMINAL:
                return fail(f"the call has already ended ({doc['status']})")
            changes, unset = self._finish(doc, CANCELLED, CANCELLED)
            return Change({"wasInProgress": doc["status"] in ATTEMPTING}, set=changes, unset=unset)

        return await self._change(scheduledCall, decide, user)

    @action
    async def dropPending(self, user: str) -> dict[str, Any]:
        """The user has reflected today: a call queued for them and not yet being attempted
        (a planned call, a retry) is no longer wanted and ends CANCELLED. A call already
        ringing is left alone, and a call asked for later is queued as usual."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc["status"] != PENDING:
                return fail(f"the call is {doc['status']}, not waiting")
            changes, unset = self._finish(doc, CANCELLED, "ALREADY_REFLECTED")
            return Change({"scheduledCall": doc["_id"]}, set=changes, unset=unset)

        # its effect unsets what it finds the call by: a replay looks for its mark first
        done = await self.store("calls").recorded({"user": user})
        if done is not None:
            return done
        return await self.store("calls").change(
            {"activeUser": user}, decide, missing=fail("no call is waiting", "not_found")
        )

    @action(private=("phoneNumber",))
    async def recordMissedSlot(
        self,
        user: str,
        phoneNumber: Annotated[str, Pattern(E164_PATTERN)],
        scheduledFor: dt.datetime,
        reason: Annotated[str, Len(1, 200)],
    ) -> Scheduled:
        """A planned call that was not placed (the service was down at its time): kept as a
        FAILED call with the reason, so the day shows as missed and why."""
        if not isinstance(scheduledFor, dt.datetime) or scheduledFor.tzinfo is None:
            return fail("scheduledFor must be a timezone-aware date-time", "invalid")
        call = self.new_id()
        doc = self._new_call(call, user, phoneNumber, scheduledFor, "schedule", 0)
        doc.pop("activeUser")  # over already: it holds no slot
        doc.update(
            status=FAILED,
            lastOutcome="NOT_CALLED",
            errorMessage=reason,
            completedAt=doc["createdAt"],
        )
        created = await self.store("calls").create(doc, {"scheduledCall": call})
        return fail("recorded already") if created is None else created

    @action
    async def deleteAllFor(self, user: str) -> Deleted:
        """Forget every scheduled call of user (account deletion)."""
        res = await self.collection("calls").delete_many({"user": user})
        return {"deleted": res.deleted_count}
