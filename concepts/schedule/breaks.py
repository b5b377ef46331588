"""Breaks in a user's plan: a pause (with or without an end date) and a skipped day.

A part of the Schedule concept (a mixin, not a concept). Both are kept on the schedule
document, so the next call (``nextAt``) is computed from them in the same compare-and-set
as every other change (``Schedule._change``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, TypedDict

from conceptkit import Doc, Pattern, Range, action, fail, query

from .plan import DATE_RE, PAUSE_LIMIT, day_start, load_zone, local_today, parse_date

# Skipped days are kept for History's calendar: about three years of daily skips at most.
KEEP_SKIPS = 1100

LocalDate = Annotated[
    str, Pattern(DATE_RE.pattern), Doc("a local date in the schedule's time zone, YYYY-MM-DD")
]


class Skipped(TypedDict):
    day: str  # the local date, YYYY-MM-DD
    endsAt: dt.datetime  # when that local day ends (UTC)


def _no_schedule() -> dict[str, Any]:
    return fail("you have no call schedule yet", "not_found")


def _no_zone() -> dict[str, Any]:
    return fail("choose your time zone first", "conflict")


class Breaks:
    """The pause and skip actions of Schedule."""

    _change: Any
    _now: Any
    collection: Any

    @action
    async def pause(
        self,
        user: str,
        until: Annotated[
            LocalDate | None, Doc("the local date calls start again; null: until resumed")
        ] = None,
    ) -> dict[str, Any]:
        """Stop automatic calls, the plan kept: until ``resume``, or until the local date
        ``until``, when calls resume on their own (a holiday)."""
        if until is None:
            return await self._change(
                user, {"paused": True, "pausedUntil": None}, missing=_no_schedule()
            )
        day = parse_date(until)
        if day is None:
            return fail(f"{until!r} is not a date (YYYY-MM-DD)", "invalid")
        now = self._now()

        def paused(doc: Mapping[str, Any]) -> dict[str, Any]:
            zone = load_zone(doc.get("timezone") or "")
            if zone is None:
                return _no_zone()
            today = local_today(zone, now)
            if day <= today:
                return fail("choose a date after today for calls to start again", "invalid")
            if day > today + PAUSE_LIMIT:
                return fail(
                    "a pause with an end date is at most a year; pause with no end date instead",
                    "invalid",
                )
            return {"paused": True, "pausedUntil": day.isoformat()}

        return await self._change(user, paused, missing=_no_schedule())

    @action
    async def resume(self, user: str) -> dict[str, Any]:
        """Start automatic calls again, from the next planned time after now."""
        return await self._change(
            user, {"paused": False, "pausedUntil": None}, missing=_no_schedule()
        )

    async def _today(self, user: str, change: Any) -> dict[str, Any]:
        """Change the user's skipped days by ``change(skipped, today)``; outputs that day."""
        now = self._now()
        day: dict[str, Any] = {}

        def decide(doc: Mapping[str, Any]) -> dict[str, Any]:
            zone = load_zone(doc.get("timezone") or "")
            if zone is None:
                return _no_zone()
            today = local_today(zone, now)
            day.update(day=today.isoformat(), endsAt=day_start(today + dt.timedelta(days=1), zone))
            kept = [d for d in doc.get("skipped") or () if d != day["day"]]
            return {"skipped": change(kept, day["day"])[-KEEP_SKIPS:]}

        return await self._change(
            user, decide, missing=_no_schedule(), report=lambda doc, nxt: dict(day)
        )

    @action
    async def skipToday(self, user: str) -> Skipped:
        """No automatic call for the rest of today (local): retries, a call queued for later
        today, or the planned one. Tomorrow's calls are as planned. Repeating it changes
        nothing more."""
        return await self._today(user, lambda kept, today: sorted([*kept, today]))

    @action
    async def unskipToday(self, user: str) -> Skipped:
        """Take back today's skip: today's planned call is made after all, if its time is
        still to come (a time that passed while skipped is not made up)."""
        return await self._today(user, lambda kept, today: kept)

    @query
    async def _skipped(
        self, user: str, limit: Annotated[int, Range(1, KEEP_SKIPS)] = 100
    ) -> list[dict[str, Any]]:
        """The local days the user skipped, newest first (for History's calendar)."""
        doc = await self.collection("schedules").find_one({"_id": user}, {"skipped": 1})
        days = list(reversed((doc or {}).get("skipped") or []))
        return [{"day": d} for d in days[:limit]]

    @query
    async def _skippedDays(self, user: str) -> list[dict[str, Any]]:
        """Every kept skipped day (local ISO dates, oldest first) in one row, also when there
        are none or no schedule: for a where-clause that must not lose its frame."""
        doc = await self.collection("schedules").find_one({"_id": user}, {"skipped": 1})
        return [{"days": list((doc or {}).get("skipped") or [])}]
