"""CallScheduler: the queue of calls to place, with leases and retries.

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
from typing import Annotated, Any, Literal, TypedDict

from conceptkit import Change, Concept, Doc, Len, Pattern, Range, action, fail, query
from services.telephony import E164_PATTERN

PENDING = "PENDING"
DIALING = "DIALING"
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"

ACTIVE = (PENDING, DIALING, IN_PROGRESS)
ATTEMPTING = (DIALING, IN_PROGRESS)
TERMINAL = (COMPLETED, FAILED, CANCELLED)

MAX_RETRIES = 10
FIELD_NUMBER = "CallScheduler.phoneNumber"  # the encrypted number's field label

Attempt = Annotated[int, Range(1, MAX_RETRIES), Doc("attempt number from claimDue")]


class Scheduled(TypedDict):
    scheduledCall: str


class Claimed(TypedDict):
    scheduledCall: str
    user: str
    phoneNumber: str
    attempt: int
    takeover: bool


class Missed(TypedDict):
    scheduledCall: str
    user: str
    status: str
    retryAt: dt.datetime | None
    attemptsLeft: int


class Cancelled(TypedDict):
    wasInProgress: bool


class Deleted(TypedDict):
    deleted: int


class CallScheduler(Concept):
    """The queue of reflection calls to place, claimed by workers under a lease, with retries."""

    uses = ("clock", "call_policy", "encryption")

    async def setup(self) -> None:
        calls = self.collection("calls")
        await calls.create_index([("status", 1), ("dueAt", 1)])
        await calls.create_index([("status", 1), ("leaseUntil", 1)])
        await calls.create_index("user")
        await calls.create_index("activeUser", unique=True, sparse=True)
        # While an attempt is under way: when it began, as an epoch float, for the
        # reconciler's search of attempts that outlived their call.
        await calls.create_index("attemptTs", sparse=True)
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

    def _number(self, doc: dict[str, Any]) -> str:
        return self.services["encryption"].decrypt(
            doc["phoneNumber"], user=doc["user"], field=FIELD_NUMBER
        )

    def _view(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {**_view(doc), "phoneNumber": self._number(doc)}

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

    @staticmethod
    def _logged(doc: dict[str, Any], outcome: str) -> list[dict[str, Any]]:
        """attemptLog with the current attempt's outcome appended (whole list, for $set)."""
        entry = {"attempt": doc["attempts"], "at": doc.get("lastAttemptAt"), "outcome": outcome}
        return [*doc.get("attemptLog", []), entry]

    def _finish(
        self, doc: dict[str, Any], status: str, outcome: str, **fields: Any
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The $set/$unset that end a call: frees the user's slot and drops the lease."""
        changes = {"status": status, "completedAt": self._now(), "lastOutcome": outcome, **fields}
        if doc["status"] in ATTEMPTING:
            changes["attemptLog"] = self._logged(doc, outcome)
        return changes, ("activeUser", "leaseUntil", "claimKind", "attemptTs")

    @staticmethod
    def _stale(doc: dict[str, Any], attempt: int | None) -> dict[str, Any] | None:
        if attempt is not None and attempt != doc["attempts"]:
            return fail(f"attempt {attempt} is not the current attempt ({doc['attempts']})")
        return None

    # -- actions ---------------------------------------------------------------------

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
        now = self._now()

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc["status"] != PENDING:
                return fail("a call to you is already under way")
            changes = {
                "scheduledFor": now,
                "dueAt": now.timestamp(),
                "nextRetryAt": None,
                "origin": "now",
                "phoneNumber": self._seal(user, phoneNumber),
            }
            return Change({"scheduledCall": doc["_id"]}, set=changes)

        for _ in range(3):
            out = await self.store("calls").change({"activeUser": user}, decide, missing={})
            if out:
                return out
            out = await self.scheduleCall(user, phoneNumber, now, maxRetries, "now")
            if "error" not in out:
                return out  # else one was queued meanwhile: bring that one forward
        return fail("your calls are changing too often; try again", "unavailable")

    @action(private=("phoneNumber",))
    async def claimDue(
        self,
        worker: Annotated[str, Len(1, 200)],
        now: dt.datetime | None = None,
        leaseSeconds: Annotated[float, Range(1, 3600)] = 60,
    ) -> Claimed:
        """Atomically claim the next due call for worker: an expired claim first, else the earliest PENDING."""
        now = (now or self._now()).astimezone(dt.UTC)
        ts = now.timestamp()
        lease = {"claimedBy": worker, "leaseUntil": ts + float(leaseSeconds)}
        takeover = {"status": DIALING, "leaseUntil": {"$lte": ts}}  # a crashed worker's claim
        fresh = {"status": PENDING, "dueAt": {"$lte": ts}, "attemptsLeft": {"$gt": 0}}

        def decide(doc: dict[str, Any], which: int) -> Change:
            if which == 0:  # the same attempt number: it may already have been dialled
                changes: dict[str, Any] = {**lease, "claimKind": "takeover"}
            else:
                changes = {
                    **lease,
                    "status": DIALING,
                    "claimKind": "fresh",
                    "lastAttemptAt": now,
                    "attemptTs": ts,
                    "attempts": doc["attempts"] + 1,
                    "attemptsLeft": doc["attemptsLeft"] - 1,
                }
            out = {
                "scheduledCall": doc["_id"],
                "user": doc["user"],
                "phoneNumber": self._number(doc),
                "attempt": changes.get("attempts", doc["attempts"]),
                "takeover": which == 0,
            }
            return Change(out, set=changes)

        claimed = await self.store("calls").claim(
            [takeover, fresh],
            sort=[("dueAt", 1)],
            decide=decide,
            among={"status": {"$in": list(ACTIVE)}},
        )
        return fail("no call is due", "not_found") if claimed is None else claimed

    @action
    async def markDialed(
        self, scheduledCall: str, worker: Annotated[str, Len(1, 200)], attempt: Attempt
    ) -> dict[str, Any]:
        """The lease holder dialled attempt: DIALING -> IN_PROGRESS (a repeat changes nothing)."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc["status"] not in ATTEMPTING:
                return fail(f"the call is {doc['status']}, not DIALING")
            if doc.get("claimedBy") != worker:
                return fail("the claim belongs to another worker")
            if doc["attempts"] != attempt:
                return fail(f"attempt {attempt} is not the current attempt ({doc['attempts']})")
            if doc["status"] == IN_PROGRESS:
                return Change({})  # a repeat: already IN_PROGRESS for this worker and attempt
            return Change({}, set={"status": IN_PROGRESS}, unset=("leaseUntil",))

        return await self._change(scheduledCall, decide)

    @action
    async def releaseClaim(
        self, scheduledCall: str, worker: Annotated[str, Len(1, 200)]
    ) -> dict[str, Any]:
        """Give back an undialled claim (graceful shutdown): DIALING -> PENDING, attempt not counted."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc["status"] != DIALING:
                return fail(f"the call is {doc['status']}, not DIALING")
            if doc.get("claimedBy") != worker:
                return fail("the claim belongs to another worker")
            changes: dict[str, Any] = {"status": PENDING, "claimedBy": None}
            if doc.get("claimKind") == "fresh":  # a taken-over attempt may have been dialled
                changes.update(attempts=doc["attempts"] - 1, attemptsLeft=doc["attemptsLeft"] + 1)
            return Change({}, set=changes, unset=("leaseUntil", "claimKind", "attemptTs"))

        return await self._change(scheduledCall, decide)

    @action
    async def markCompleted(
        self, scheduledCall: str, attempt: Attempt | None = None
    ) -> dict[str, Any]:
        """The reflection call succeeded: DIALING/IN_PROGRESS -> COMPLETED (of ``attempt``, if given)."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc["status"] not in ATTEMPTING:
                return fail(
                    f"the call is {doc['status']}; only a dialling or active call completes"
                )
            stale = self._stale(doc, attempt)
            if stale:
                return stale
            changes, unset = self._finish(doc, COMPLETED, COMPLETED)
            return Change({}, set=changes, unset=unset)

        return await self._change(scheduledCall, decide)

    @action
    async def recordMissed(
        self,
        scheduledCall: str,
        outcome: Annotated[str, Len(1, 60), Doc("e.g. NO_ANSWER, BUSY, VOICEMAIL, ABANDONED")],
        retryDelaySeconds: Annotated[float, Range(0, 7 * 24 * 3600)] | None = None,
        attempt: Attempt | None = None,
    ) -> Missed:
        """An attempt did not reach the user: retry after a delay while attempts remain, else FAILED.

        The delay defaults to the configured retry delay (RETRY_DELAY_SECONDS).
        """
        if retryDelaySeconds is None:
            retryDelaySeconds = float(self.services["call_policy"].retry_delay_seconds)

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc["status"] not in ATTEMPTING:
                return fail(f"the call is {doc['status']}; no attempt is under way")
            stale = self._stale(doc, attempt)
            if stale:
                return stale
            left = doc["maxRetries"] - doc["attempts"]  # attempts already counts this one
            out: Missed = {
                "scheduledCall": doc["_id"],
                "user": doc["user"],
                "status": FAILED,
                "retryAt": None,
                "attemptsLeft": 0,
            }
            if left > 0:
                retry_at = self._now() + dt.timedelta(seconds=float(retryDelaySeconds))
                changes = {
                    "status": PENDING,
                    "nextRetryAt": retry_at,
                    "dueAt": retry_at.timestamp(),
                    "lastOutcome": outcome,
                    "claimedBy": None,
                    "attemptLog": self._logged(doc, outcome),
                }
                unset: tuple[str, ...] = ("leaseUntil", "claimKind", "attemptTs")
                out.update(status=PENDING, retryAt=retry_at, attemptsLeft=left)
            else:
                message = f"not reached after {doc['attempts']} attempt(s); last outcome {outcome}"
                changes, unset = self._finish(doc, FAILED, outcome, errorMessage=message)
            return Change(dict(out), set=changes, unset=unset)

        return await self._change(scheduledCall, decide)

    @action
    async def markFailed(
        self,
        scheduledCall: str,
        error: Annotated[str, Len(1, 1000)],
        attempt: Attempt | None = None,
    ) -> dict[str, Any]:
        """Give up on a call that has not ended (no retries): -> FAILED with the error."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc["status"] in TERMINAL:
                return fail(f"the call has already ended ({doc['status']})")
            stale = self._stale(doc, attempt)
            if stale:
                return stale
            changes, unset = self._finish(doc, FAILED, FAILED, errorMessage=error)
            return Change({}, set=changes, unset=unset)

        return await self._change(scheduledCall, decide)

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

    # -- queries ---------------------------------------------------------------------

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


def _view(doc: dict[str, Any]) -> dict[str, Any]:
    """What queries show of a scheduled call, but the number (``CallScheduler._view``)."""
    return {
        "scheduledCall": doc["_id"],
        "user": doc["user"],
        "scheduledFor": doc["scheduledFor"],
        "status": doc["status"],
        "attempts": doc["attempts"],
        "maxRetries": doc["maxRetries"],
        "lastAttemptAt": doc.get("lastAttemptAt"),
        "nextRetryAt": doc.get("nextRetryAt"),
        "lastOutcome": doc.get("lastOutcome"),
        "errorMessage": doc.get("errorMessage"),
        "attemptLog": doc.get("attemptLog", []),
        "createdAt": doc["createdAt"],
        "completedAt": doc.get("completedAt"),
        "origin": doc["origin"],
    }
