"""Schedule, the concept: each user's weekly plan, stored, and the next call it plans.

The rules it applies (time zones, the calling window, the next occurrence) are the pure
functions of :mod:`concepts.schedule.plan`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypedDict

from conceptkit import Change, Concept, Doc, Len, Pattern, Range, action, fail, query

from .breaks import Breaks
from .plan import (
    DAYS,
    TIME_RE,
    WINDOW_TEXT,
    calls_resume_at,
    check_times,
    epoch,
    from_epoch,
    full_plan,
    load_zone,
    local_today,
    next_occurrence,
    outside_in_words,
    outside_window,
    pause_in_effect,
    why_not_now,
)

ADVANCE_LIMIT = dt.timedelta(days=1)

LocalTime = Annotated[str, Pattern(TIME_RE.pattern), Doc("local wall-clock time, 24-hour HH:MM")]
OptionalTime = Annotated[
    str | None, Pattern(TIME_RE.pattern), Doc("HH:MM (24-hour) or null for no call that day")
]
TimeZoneName = Annotated[
    str,
    Len(1, 64),
    Pattern(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,3}"),
    Doc("an IANA time zone name, e.g. Europe/London or America/New_York"),
]


class WeeklyTimes(TypedDict, total=False):
    """One optional local time per weekday; a missing day means no call that day."""

    mon: OptionalTime
    tue: OptionalTime
    wed: OptionalTime
    thu: OptionalTime
    fri: OptionalTime
    sat: OptionalTime
    sun: OptionalTime


class Planned(TypedDict):
    nextAt: dt.datetime | None
    missed: str | None  # why the slot just passed is not called (None: call it now)


def _bad_zone(name: str) -> dict[str, Any]:
    return fail(f"{name!r} is not an IANA time zone name (like Europe/London)", "invalid")


def _busy() -> dict[str, Any]:
    return fail("the schedule is changing too often; try again", "unavailable")


class Schedule(Breaks, Concept):
    """Remembers when each user wants their reflection call: a local time per weekday in
    their time zone, which can be paused, and by default only inside 08:00-21:00 local time.

    Principle: after ``setDaily(u, "Europe/London", "20:00")``, ``_nextCall(u)`` is the
    next 20:00 London time, still 20:00 on the other side of a clock change; ``pause(u)``
    empties it and ``resume(u)`` brings it back; a time like 22:30 is refused until
    ``allowOutsideWindow(u, True)``. The call worker asks ``_dueUsers(before)``, plans a
    call for each, and reports it with ``advance(u, at)``, so no slot is planned twice.
    """

    uses = ("clock",)

    async def setup(self) -> None:
        await self.collection("schedules").create_index("nextAt")

    def _now(self) -> dt.datetime:
        return self.services["clock"].now()

    # -- helpers ------------------------------------------------------------------------

    @staticmethod
    def _next_for(doc: Mapping[str, Any], start: dt.datetime) -> dt.datetime | None:
        """The next call of a stored schedule after ``start``, honouring pause and advance.

        A slot is never planned twice: the search starts after the last instant passed to
        ``advance`` (``plannedThrough``), and skips the rest of that instant's local day,
        so at most one automatic call is planned per local day even if the worker plans
        ahead or the user edits the plan after today's call.
        """
        zone = load_zone(doc.get("timezone") or "")
        if zone is None:
            return None
        if doc.get("paused"):  # with an end date, calls resume on their own from that date
            resumes = calls_resume_at(doc, zone)
            if resumes is None:
                return None
            start = max(start, resumes - dt.timedelta(microseconds=1))
        plan = doc.get("times") or {}
        through = from_epoch(doc.get("plannedThrough"))
        if through is not None and through > start:
            start = through
        done_day = through.astimezone(zone).date() if through is not None else dt.date.min
        skipped = set(doc.get("skipped") or ())
        found = next_occurrence(plan, zone, start)
        # each step is a later local day, and only a few days are ever skipped
        while found is not None and (
            found.astimezone(zone).date() <= done_day
            or found.astimezone(zone).date().isoformat() in skipped
        ):
            found = next_occurrence(plan, zone, found)
        return found

    async def _change(
        self,
        user: str,
        changes: Mapping[str, Any] | Callable[[Mapping[str, Any]], dict[str, Any]],
        *,
        missing: dict[str, Any] | None = None,
        report: Callable[[Mapping[str, Any], dt.datetime | None], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Set fields of the user's schedule and recompute ``nextAt`` in the same write.

        ``changes`` is the fields to set, or a function of the stored schedule returning
        them (or a failure). With ``missing`` given, a user without a schedule gets that
        failure; otherwise a schedule with defaults is created. Every change is a
        compare-and-set (conceptkit's ``Store``), so ``nextAt`` always matches the plan
        it was computed from. Outputs ``report(schedule, nextAt)`` if given, else ``{}``.
        """
        now = self._now()
        store = self.store("schedules")

        def decide(doc: Mapping[str, Any]) -> Change | dict[str, Any]:
            sets = changes(doc) if callable(changes) else dict(changes)
            if "error" in sets:
                return sets
            sets["updatedAt"] = now
            after = {**doc, **sets}
            nxt = self._next_for(after, now)
            out = report(after, nxt) if report else {}
            if nxt is None:
                return Change(out, set=sets, unset=("nextAt",))
            return Change(out, set={**sets, "nextAt": epoch(nxt)})

        find = {"_id": user}
        if missing is not None:
            return await store.change(find, decide, missing=missing, busy=_busy())
        defaults = {
            "_id": user,
            "timezone": None,
            "times": full_plan({}),
            "paused": False,
            "allowOutsideWindow": False,
            "createdAt": now,
            "version": 0,
        }  # a second creator's insert is refused by the _id: it changes the first one's
        return await store.change_or_create(find, decide, initial=defaults, busy=_busy())

    @staticmethod
    def _window_failure(plan: Mapping[str, str | None]) -> dict[str, Any]:
        words = outside_in_words(plan)
        verb = "is" if len(outside_window(plan)) == 1 or words.endswith("every day") else "are"
        return fail(
            f"we only call between {WINDOW_TEXT} your time, and {words} "
            f"{verb} outside those hours: choose a time inside them, or first allow calls "
            "outside them",
            "invalid",
        )

    async def _set_plan(
        self, user: str, timezone: str, plan: dict[str, str | None]
    ) -> dict[str, Any]:
        if load_zone(timezone) is None:
            return _bad_zone(timezone)
        sets = {"timezone": timezone, "times": plan}
        if not outside_window(plan):
            return await self._change(user, sets)

        def with_consent(doc: Mapping[str, Any]) -> dict[str, Any]:
            # outside the window only with consent, checked in the same write as the change
            return sets if doc.get("allowOutsideWindow") else self._window_failure(plan)

        return await self._change(user, with_consent)

    # -- actions ------------------------------------------------------------------------

    @action
    async def setWeekly(
        self, user: str, timezone: TimeZoneName, times: WeeklyTimes
    ) -> dict[str, Any]:
        """Replace the weekly plan: a local HH:MM (or none) for each weekday, in a time zone."""
        problem = check_times(times)
        if problem:
            return fail(problem, "invalid")
        return await self._set_plan(user, timezone, full_plan(times))

    @action
    async def setDaily(self, user: str, timezone: TimeZoneName, time: LocalTime) -> dict[str, Any]:
        """Call every day at the same local time."""
        if not isinstance(time, str) or not TIME_RE.fullmatch(time):
            return fail(f"{time!r} is not a 24-hour HH:MM time", "invalid")
        return await self._set_plan(user, timezone, dict.fromkeys(DAYS, time))

    @action
    async def setTimezone(self, user: str, timezone: TimeZoneName) -> dict[str, Any]:
        """Move the plan to another time zone; local times stay as they are (20:00 stays 20:00)."""
        if load_zone(timezone) is None:
            return _bad_zone(timezone)
        return await self._change(user, {"timezone": timezone})

    @action
    async def allowOutsideWindow(self, user: str, allowed: bool) -> dict[str, Any]:
        """Consent (or withdraw consent) to automatic calls outside 08:00-21:00 local time.

        Consent may be given before any time is set. Withdrawing it while the plan has
        a time outside the window fails: change those times first.
        """
        if allowed:
            return await self._change(user, {"allowOutsideWindow": True})

        def withdraw(doc: Mapping[str, Any]) -> dict[str, Any]:
            late = outside_window(doc.get("times") or {})
            if late:
                return fail(
                    f"your plan has calls outside {WINDOW_TEXT} "
                    f"({outside_in_words(doc.get('times') or {})}); change those times first",
                    "conflict",
                )
            return {"allowOutsideWindow": False}

        # nothing to withdraw without a schedule: calls stay inside the window by default
        return await self._change(user, withdraw, missing={})

    @action
    async def advance(self, user: str, after: dt.datetime) -> Planned:
        """Internal (call worker): a call up to ``after`` has been planned; plan the next one.

        The next call is the first planned time after both now and ``after``, on a later
        local day than ``after``. ``after`` only ever moves forward, and may be at most a
        day ahead of now (a worker bug must not silently stop someone's calls).
        """
        if after.tzinfo is None:
            return fail("after must include a UTC offset", "invalid")
        if after > self._now() + ADVANCE_LIMIT:
            return fail(
                "after is more than a day ahead: plan calls only when they are due", "invalid"
            )

        now = self._now()

        def planned(doc: Mapping[str, Any]) -> dict[str, Any]:
            if after.timestamp() <= (doc.get("plannedThrough") or float("-inf")):
                return fail("that time was planned already", "conflict")  # a stale report
            sets: dict[str, Any] = {"plannedThrough": after.timestamp()}
            if doc.get("paused") and doc.get("pausedUntil") and not pause_in_effect(doc, after):
                sets.update(paused=False, pausedUntil=None)  # the pause ended on its own
            return sets

        def report(doc: Mapping[str, Any], nxt: dt.datetime | None) -> dict[str, Any]:
            return {"nextAt": nxt, "missed": why_not_now(doc, after, now)}

        return await self._change(
            user,
            planned,
            missing=fail("no call schedule for this user", "not_found"),
            report=report,
        )

    @action
    async def noteReflected(self, user: str, at: dt.datetime) -> dict[str, Any]:
        """The user reflected at ``at`` (a call, or typing): no automatic call later that day.

        A call they ask for still happens. Without a schedule there is nothing to skip."""
        if at.tzinfo is None:
            return fail("at must include a UTC offset", "invalid")

        def through(doc: Mapping[str, Any]) -> dict[str, Any]:
            return {
                "plannedThrough": max(doc.get("plannedThrough") or float("-inf"), at.timestamp())
            }

        return await self._change(user, through, missing={})

    @action
    async def deleteAllFor(self, user: str) -> dict[str, Any]:
        """Forget the user's schedule."""
        await self.collection("schedules").delete_many({"_id": user})
        return {}

    # -- queries ------------------------------------------------------------------------

    @query
    async def _schedule(self, user: str) -> list[dict[str, Any]]:
        """The user's plan: time zone, a time (or null) per weekday, paused (and until which
        local date, if it ends on its own), whether today is skipped, window consent."""
        doc = await self.collection("schedules").find_one({"_id": user})
        if doc is None:
            return []
        now = self._now()
        paused = pause_in_effect(doc, now)
        zone = load_zone(doc.get("timezone") or "")
        today = local_today(zone, now).isoformat() if zone is not None else None
        return [
            {
                "timezone": doc.get("timezone"),
                "times": full_plan(doc.get("times") or {}),
                "paused": paused,
                "pausedUntil": doc.get("pausedUntil") if paused else None,
                "skippedToday": today is not None and today in (doc.get("skipped") or ()),
                "allowOutsideWindow": bool(doc.get("allowOutsideWindow")),
            }
        ]

    @query
    async def _nextCall(self, user: str, after: dt.datetime | None = None) -> list[dict[str, Any]]:
        """When the next automatic call is planned (after ``after``, default now); empty if none."""
        doc = await self.collection("schedules").find_one({"_id": user})
        if doc is None:
            return []
        start = self._now() if after is None else after
        found = self._next_for(doc, start)
        return [] if found is None else [{"at": found}]

    @query
    async def _dueUsers(
        self, before: dt.datetime, limit: Annotated[int, Range(1, 1000)] = 100
    ) -> list[dict[str, Any]]:
        """Internal (call worker only; never expose over HTTP): users whose next call is at
        or before ``before``, earliest first, with that time."""
        docs = (
            self.collection("schedules")
            .find({"nextAt": {"$lte": before.timestamp()}}, {"nextAt": 1})
            .sort("nextAt", 1)
            .limit(limit)
        )
        return [{"user": d["_id"], "at": from_epoch(d["nextAt"])} async for d in docs]
