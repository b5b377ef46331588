"""A worker's side of CallScheduler: claim a due call under a lease, and report each
attempt (dialled, released, completed, missed, failed).

Every change is a compare-and-set on the call's ``version`` (conceptkit's ``Store``), so
two workers never claim one call, and a report for an attempt that is no longer the
current one changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from conceptkit import Change, Doc, Len, Range, action, fail

from .states import (
    ACTIVE,
    ATTEMPTING,
    COMPLETED,
    DIALING,
    FAILED,
    IN_PROGRESS,
    PENDING,
    TERMINAL,
    Attempt,
    Claimed,
    Missed,
    logged,
)


class Attempts:
    """The attempt actions of CallScheduler (a part of the concept, not a concept)."""

    services: dict[str, Any]
    store: Any
    _now: Any
    _number: Any
    _change: Any
    _finish: Any

    @staticmethod
    def _stale(doc: dict[str, Any], attempt: int | None) -> dict[str, Any] | None:
        if attempt is not None and attempt != doc["attempts"]:
            return fail(f"attempt {attempt} is not the current attempt ({doc['attempts']})")
        return None

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
                    "attemptLog": logged(doc, outcome),
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
