"""Schedule's breaks: a pause until a date (calls resume on their own), a pause with no end
date, and skipping today (docs/concepts/Schedule.md, "Breaks")."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conceptkit import describe_operations
from concepts.schedule import DAYS, Schedule, resolve_local
from concepts.schedule.breaks import KEEP_SKIPS
from services.app.clock import FakeClock

UTC = dt.UTC
LONDON = ZoneInfo("Europe/London")
NY = ZoneInfo("America/New_York")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
async def schedule(async_db, clock) -> Schedule:
    concept = Schedule(async_db, {"clock": clock})
    await concept.setup()
    return concept


async def next_call(concept: Schedule, user: str = "u1") -> dt.datetime | None:
    rows = await concept._nextCall(user=user)
    return rows[0]["at"] if rows else None


async def row(concept: Schedule, user: str = "u1") -> dict[str, Any]:
    (found,) = await concept._schedule(user=user)
    return found


async def due(concept: Schedule, before: dt.datetime) -> list[str]:
    return [r["user"] for r in await concept._dueUsers(before=before)]


# -- pause until a date --------------------------------------------------------------------


async def test_a_pause_until_a_date_resumes_on_its_own_that_day(
    schedule: Schedule, clock: FakeClock
) -> None:
    # Sunday 1 March 2026, 12:00 in London; calls at 20:00 every day
    await schedule.setDaily(user="u1", timezone="Europe/London", time="20:00")
    assert await schedule.pause(user="u1", until="2026-03-05") == {}
    assert (await row(schedule))["paused"] is True
    assert (await row(schedule))["pausedUntil"] == "2026-03-05"
    assert await next_call(schedule) == utc(2026, 3, 5, 20, 0)
    # the worker finds nothing due on the days of the holiday, then that day's call
    assert await due(schedule, utc(2026, 3, 4, 20, 0)) == []
    assert await due(schedule, utc(2026, 3, 5, 20, 0)) == ["u1"]

    clock.set(utc(2026, 3, 5, 0, 1))  # the date has come: no longer paused, with no write
    assert (await row(schedule))["paused"] is False
    assert (await row(schedule))["pausedUntil"] is None
    clock.set(utc(2026, 3, 5, 20, 0))
    out = await schedule.advance(user="u1", after=utc(2026, 3, 5, 20, 0))
    assert out == {"nextAt": utc(2026, 3, 6, 20, 0), "missed": None}
    stored = await schedule.collection("schedules").find_one({"_id": "u1"})
    assert (stored["paused"], stored["pausedUntil"]) == (False, None)  # tidied by the worker


async def test_a_pause_until_a_date_calls_a_midnight_slot_of_that_date(
    schedule: Schedule,
) -> None:
    await schedule.allowOutsideWindow(user="u1", allowed=True)
    await schedule.setDaily(user="u1", timezone="America/New_York", time="00:00")
    await schedule.pause(user="u1", until="2026-03-04")
    assert await next_call(schedule) == resolve_local(dt.date(2026, 3, 4), dt.time(0, 0), NY)


async def test_a_pause_with_no_end_date_waits_for_resume(
    schedule: Schedule, clock: FakeClock
) -> None:
    await schedule.setDaily(user="u1", timezone="Europe/London", time="20:00")
    await schedule.pause(user="u1", until="2026-03-05")
    assert await schedule.pause(user="u1") == {}  # no end date now
    assert ((await row(schedule))["paused"], (await row(schedule))["pausedUntil"]) == (True, None)
    clock.advance(days=10)
    assert await next_call(schedule) is None
    await schedule.pause(user="u1", until="2026-03-20")
    assert await schedule.resume(user="u1") == {}  # resuming early drops the end date
    assert ((await row(schedule))["paused"], (await row(schedule))["pausedUntil"]) == (False, None)
    assert await next_call(schedule) == utc(2026, 3, 11, 20, 0)


async def test_a_plan_edited_during_a_pause_resumes_at_the_new_time(schedule: Schedule) -> None:
    await schedule.setDaily(user="u1", timezone="Europe/London", time="20:00")
    await schedule.pause(user="u1", until="2026-03-05")
    await schedule.setWeekly(user="u1", timezone="Europe/London", times={"fri": "09:30"})
    assert await next_call(schedule) == utc(2026, 3, 6, 9, 30)  # Friday: the first on or after


@pytest.mark.parametrize(
    ("until", "message"),
    [
        ("2026-03-01", "after today"),  # today
        ("2026-02-27", "after today"),
        ("2026-02-30", "not a date"),
        ("2027-03-03", "at most a year"),
    ],
)
async def test_a_pause_until_a_date_that_is_not_ahead_is_refused(
    schedule: Schedule, until: str, message: str
) -> None:
    await schedule.setDaily(user="u1", timezone="Europe/London", time="20:00")
    out = await schedule.pause(user="u1", until=until)
    assert out["errorKind"] == "invalid" and message in out["error"], out
    assert (await row(schedule))["paused"] is False
    assert await next_call(schedule) == utc(2026, 3, 1, 20, 0)


async def test_a_pause_until_reads_the_date_in_the_users_zone(
    schedule: Schedule, clock: FakeClock
) -> None:
    clock.set(utc(2026, 3, 2, 2, 0))  # Monday in UTC, still Sunday 21:00 in New York
    await schedule.setDaily(user="u1", timezone="America/New_York", time="20:00")
    assert await schedule.pause(user="u1", until="2026-03-02") == {}  # tomorrow in New York
    assert await next_call(schedule) == utc(2026, 3, 3, 1, 0)  # Monday 20:00 EST


def test_a_pause_date_must_look_like_a_date_over_http(schedule: Schedule) -> None:
    check = describe_operations(schedule)["pause"].check_inputs
    assert check({"user": "u1", "until": "5 March"})[1]
    assert check({"user": "u1", "until": "2026-3-5"})[1]
    assert not check({"user": "u1", "until": "2026-03-05"})[1]
    assert not check({"user": "u1", "until": None})[1]
    assert not check({"user": "u1"})[1]


async def test_pausing_until_a_date_needs_a_schedule_and_a_zone(schedule: Schedule) -> None:
    assert (await schedule.pause(user="u1", until="2026-03-05"))["errorKind"] == "not_found"
    await schedule.allowOutsideWindow(user="u1", allowed=True)  # a schedule with no zone yet
    assert (await schedule.pause(user="u1", until="2026-03-05"))["errorKind"] == "conflict"


# -- skip today ------------------------------------------------------------------------------


async def test_skipping_today_moves_the_next_call_to_tomorrow_and_can_be_taken_back(
    schedule: Schedule,
) -> None:
    await schedule.setDaily(user="u1", timezone="Europe/London", time="20:00")
    out = await schedule.skipToday(user="u1")
    assert out == {"day": "2026-03-01", "endsAt": utc(2026, 3, 2, 0, 0)}
    assert await next_call(schedule) == utc(2026, 3, 2, 20, 0)
    assert await due(schedule, utc(2026, 3, 1, 20, 0)) == []
    assert (await row(schedule))["skippedToday"] is True
    assert await schedule.skipToday(user="u1") == out  # again: nothing more
    assert await schedule._skipped(user="u1") == [{"day": "2026-03-01"}]

    assert await schedule.unskipToday(user="u1") == out
    assert await next_call(schedule) == utc(2026, 3, 1, 20, 0)
    assert (await row(schedule))["skippedToday"] is False
    assert await schedule._skipped(user="u1") == []


async def test_a_skipped_call_time_that_passed_is_not_made_up(
    schedule: Schedule, clock: FakeClock
) -> None:
    await schedule.setDaily(user="u1", timezone="Europe/London", time="20:00")
    await schedule.skipToday(user="u1")
    clock.set(utc(2026, 3, 1, 20, 30))
    await schedule.unskipToday(user="u1")
    assert await next_call(schedule) == utc(2026, 3, 2, 20, 0)


async def test_skipped_days_are_kept_newest_first_and_today_is_read_in_the_users_zone(
    schedule: Schedule, clock: FakeClock
) -> None:
    clock.set(utc(2026, 3, 2, 2, 0))  # Sunday 21:00 in New York
    await schedule.setDaily(user="u1", timezone="America/New_York", time="20:00")
    out = await schedule.skipToday(user="u1")
    assert out == {"day": "2026-03-01", "endsAt": utc(2026, 3, 2, 5, 0)}
    assert await next_call(schedule) == utc(2026, 3, 3, 1, 0)  # Monday's call is as planned
    clock.set(utc(2026, 3, 3, 12, 0))  # Tuesday
    assert (await row(schedule))["skippedToday"] is False
    await schedule.skipToday(user="u1")
    assert await schedule._skipped(user="u1") == [{"day": "2026-03-03"}, {"day": "2026-03-01"}]
    assert await schedule._skipped(user="u1", limit=1) == [{"day": "2026-03-03"}]


async def test_skipping_after_todays_call_was_planned_keeps_tomorrows(
    schedule: Schedule, clock: FakeClock
) -> None:
    await schedule.setDaily(user="u1", timezone="Europe/London", time="20:00")
    clock.set(utc(2026, 3, 1, 20, 0))
    await schedule.advance(user="u1", after=utc(2026, 3, 1, 20, 0))
    await schedule.skipToday(user="u1")
    assert await next_call(schedule) == utc(2026, 3, 2, 20, 0)


async def test_skipped_days_are_bounded(schedule: Schedule) -> None:
    await schedule.setDaily(user="u1", timezone="Europe/London", time="20:00")
    old = [(dt.date(2020, 1, 1) + dt.timedelta(days=n)).isoformat() for n in range(KEEP_SKIPS)]
    await schedule.collection("schedules").update_one({"_id": "u1"}, {"$set": {"skipped": old}})
    await schedule.skipToday(user="u1")
    days = [r["day"] for r in await schedule._skipped(user="u1", limit=KEEP_SKIPS)]
    assert len(days) == KEEP_SKIPS
    assert days[0] == "2026-03-01" and days[-1] == old[1]  # the oldest one made room


async def test_skipping_needs_a_schedule_and_a_zone(schedule: Schedule) -> None:
    assert (await schedule.skipToday(user="u1"))["errorKind"] == "not_found"
    assert (await schedule.unskipToday(user="u1"))["errorKind"] == "not_found"
    await schedule.allowOutsideWindow(user="u1", allowed=True)
    assert (await schedule.skipToday(user="u1"))["errorKind"] == "conflict"


# -- the next call, with breaks, against a day-by-day oracle -----------------------------------

ZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
times = st.one_of(
    st.none(),
    st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 30])),
)


def oracle(
    plan: dict[str, str | None],
    zone: ZoneInfo,
    start: dt.datetime,
    resume: dt.date | None,
    skipped: set[str],
) -> dt.datetime | None:
    """The first planned instant after ``start``, on or after ``resume``, not skipped:
    each local date in turn, from the day before ``start`` on."""
    day = start.astimezone(zone).date() - dt.timedelta(days=1)
    for _ in range(20):
        at = plan.get(DAYS[day.weekday()])
        if at is not None and (resume is None or day >= resume) and day.isoformat() not in skipped:
            when = resolve_local(day, dt.time.fromisoformat(at), zone)
            if when > start:
                return when
        day += dt.timedelta(days=1)
    return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone_name=st.sampled_from(ZONES),
    plan=st.fixed_dictionaries({d: times for d in DAYS}),
    start=st.datetimes(dt.datetime(2026, 1, 1), dt.datetime(2027, 1, 1), timezones=st.just(UTC)),
    resume_in=st.one_of(st.none(), st.integers(1, 6)),
    skip_offsets=st.sets(st.integers(0, 8), max_size=4),
)
def test_the_next_call_skips_skipped_days_and_waits_for_the_end_of_a_pause(
    zone_name: str,
    plan: dict[str, str | None],
    start: dt.datetime,
    resume_in: int | None,
    skip_offsets: set[int],
) -> None:
    zone = ZoneInfo(zone_name)
    today = start.astimezone(zone).date()
    resume = None if resume_in is None else today + dt.timedelta(days=resume_in)
    skipped = {(today + dt.timedelta(days=n)).isoformat() for n in skip_offsets}
    doc = {
        "timezone": zone_name,
        "times": plan,
        "paused": resume is not None,
        "pausedUntil": resume.isoformat() if resume else None,
        "skipped": sorted(skipped),
    }
    assert Schedule._next_for(doc, start) == oracle(plan, zone, start, resume, skipped)
