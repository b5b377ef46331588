"""Schedule: when each user wants their call (docs/concepts/Schedule.md).

First the pure core, ``next_occurrence``, across daylight-saving changes; then the
concept's actions and queries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conceptkit import describe_operations
from concepts.schedule import DAYS, Schedule, next_occurrence, outside_window, resolve_local
from services.app.clock import FakeClock
from tests.concepts.rivalled import RivalledDatabase

UTC = dt.UTC
NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
KOLKATA = ZoneInfo("Asia/Kolkata")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def daily(time: str | None) -> dict[str, str | None]:
    return dict.fromkeys(DAYS, time)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def local(when: dt.datetime | None, zone: ZoneInfo) -> str:
    assert when is not None
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


# == next_occurrence: the pure core =========================================================


def test_next_occurrence_later_today_then_tomorrow() -> None:
    plan = daily("20:00")
    assert next_occurrence(plan, "Asia/Kolkata", utc(2026, 3, 1, 12, 0)) == utc(2026, 3, 1, 14, 30)
    assert next_occurrence(plan, "Asia/Kolkata", utc(2026, 3, 1, 15, 0)) == utc(2026, 3, 2, 14, 30)


def test_next_occurrence_is_strictly_after() -> None:
    at = utc(2026, 3, 1, 14, 30)  # 20:00 in Kolkata
    assert next_occurrence(daily("20:00"), KOLKATA, at) == at + dt.timedelta(days=1)
    assert next_occurrence(daily("20:00"), KOLKATA, at - dt.timedelta(microseconds=1)) == at


def test_next_occurrence_follows_the_weekly_plan() -> None:
    # 2026-03-02 is a Monday.
    plan = {"mon": "09:00", "thu": "18:30"}
    after = utc(2026, 3, 2, 12, 0)  # Monday noon in London (GMT)
    assert local(next_occurrence(plan, LONDON, after), LONDON) == "2026-03-05 18:30 GMT"
    after = utc(2026, 3, 5, 19, 0)  # Thursday, after 18:30
    assert local(next_occurrence(plan, LONDON, after), LONDON) == "2026-03-09 09:00 GMT"


def test_next_occurrence_a_single_weekday_is_at_most_a_week_away() -> None:
    plan = {"wed": "10:00"}
    after = utc(2026, 3, 4, 10, 0)  # exactly Wednesday 10:00 in London
    assert next_occurrence(plan, LONDON, after) == utc(2026, 3, 11, 10, 0)


def test_next_occurrence_uses_the_local_date_not_the_utc_date() -> None:
    # 2026-03-02 02:00 UTC is still Sunday 1 March 21:00 in New York.
    plan = {"sun": "21:30", "mon": "08:00"}
    assert local(next_occurrence(plan, NY, utc(2026, 3, 2, 2, 0)), NY) == "2026-03-01 21:30 EST"


def test_next_occurrence_none_without_any_time() -> None:
    assert next_occurrence(daily(None), "Europe/London", utc(2026, 3, 1)) is None
    assert next_occurrence({}, "Europe/London", utc(2026, 3, 1)) is None


@pytest.mark.parametrize(
    ("plan", "tz", "after"),
    [
        (daily("20:00"), "Mars/Olympus", utc(2026, 3, 1)),
        (daily("20:00"), "Europe/London", dt.datetime(2026, 3, 1)),  # naive
        ({"monday": "20:00"}, "Europe/London", utc(2026, 3, 1)),
        ({"mon": "8pm"}, "Europe/London", utc(2026, 3, 1)),
        ({"mon": "24:00"}, "Europe/London", utc(2026, 3, 1)),
    ],
)
def test_next_occurrence_rejects_bad_input(
    plan: dict[str, Any], tz: str, after: dt.datetime
) -> None:
    with pytest.raises(ValueError):
        next_occurrence(plan, tz, after)


# -- America/New_York, 2026: clocks spring forward 8 March 02:00, fall back 1 November 02:00.


def test_new_york_20_00_stays_20_00_local_across_spring_forward() -> None:
    plan, at = daily("20:00"), utc(2026, 3, 7, 12, 0)
    calls = []
    for _ in range(3):
        at = next_occurrence(plan, NY, at)
        calls.append(at)
    assert [local(c, NY) for c in calls] == [
        "2026-03-07 20:00 EST",
        "2026-03-08 20:00 EDT",
        "2026-03-09 20:00 EDT",
    ]
    assert calls[0] == utc(2026, 3, 8, 1, 0)
    assert calls[1] == utc(2026, 3, 9, 0, 0)  # 23 hours later: the night was an hour short


def test_new_york_time_in_the_spring_gap_moves_forward_by_the_gap() -> None:
    # 02:30 does not exist on 8 March 2026: it is called at 03:30 EDT (07:30 UTC).
    first = next_occurrence(daily("02:30"), NY, utc(2026, 3, 7, 12, 0))
    assert local(first, NY) == "2026-03-08 03:30 EDT"
    assert first == utc(2026, 3, 8, 7, 30)
    # and the day after, 02:30 exists again
    assert local(next_occurrence(daily("02:30"), NY, first), NY) == "2026-03-09 02:30 EDT"


def test_new_york_gap_edges() -> None:
    assert (
        local(next_occurrence(daily("02:00"), NY, utc(2026, 3, 8, 0)), NY) == "2026-03-08 03:00 EDT"
    )
    assert (
        local(next_occurrence(daily("02:59"), NY, utc(2026, 3, 8, 0)), NY) == "2026-03-08 03:59 EDT"
    )
    assert (
        local(next_occurrence(daily("03:00"), NY, utc(2026, 3, 8, 0)), NY) == "2026-03-08 03:00 EDT"
    )
    assert (
        local(next_occurrence(daily("01:59"), NY, utc(2026, 3, 8, 0)), NY) == "2026-03-08 01:59 EST"
    )


def test_new_york_20_00_stays_20_00_local_across_fall_back() -> None:
    plan, at = daily("20:00"), utc(2026, 10, 31, 12, 0)
    first = next_occurrence(plan, NY, at)
    second = next_occurrence(plan, NY, first)
    assert (local(first, NY), local(second, NY)) == ("2026-10-31 20:00 EDT", "2026-11-01 20:00 EST")
    assert second - first == dt.timedelta(hours=25)


def test_new_york_time_that_happens_twice_is_called_once_at_the_first() -> None:
    plan = daily("01:30")
    first = next_occurrence(plan, NY, utc(2026, 10, 31, 12, 0))
    assert first == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, not 01:30 EST (06:30 UTC)
    assert local(first, NY) == "2026-11-01 01:30 EDT"
    # Between the two 01:30s, and exactly at the first: the next call is the next day.
    for after in (first, utc(2026, 11, 1, 6, 0), utc(2026, 11, 1, 6, 29)):
        assert local(next_occurrence(plan, NY, after), NY) == "2026-11-02 01:30 EST"


# -- Europe/London, 2026: last Sunday of March (29th) 01:00 GMT, last of October (25th) 02:00 BST.


def test_london_across_both_changes() -> None:
    plan = daily("20:00")
    march = next_occurrence(plan, LONDON, utc(2026, 3, 28, 21, 0))
    assert (march, local(march, LONDON)) == (utc(2026, 3, 29, 19, 0), "2026-03-29 20:00 BST")
    october = next_occurrence(plan, LONDON, utc(2026, 10, 25, 0, 0))
    assert (october, local(october, LONDON)) == (utc(2026, 10, 25, 20, 0), "2026-10-25 20:00 GMT")


def test_london_gap_and_repeat() -> None:
    gap = next_occurrence(daily("01:30"), LONDON, utc(2026, 3, 28, 12, 0))
    assert (gap, local(gap, LONDON)) == (utc(2026, 3, 29, 1, 30), "2026-03-29 02:30 BST")
    twice = next_occurrence(daily("01:30"), LONDON, utc(2026, 10, 24, 12, 0))
    assert (twice, local(twice, LONDON)) == (utc(2026, 10, 25, 0, 30), "2026-10-25 01:30 BST")
    assert local(next_occurrence(daily("01:30"), LONDON, twice), LONDON) == "2026-10-26 01:30 GMT"


def test_kolkata_has_no_dst_and_a_half_hour_offset() -> None:
    at = utc(2026, 1, 1)
    for _ in range(400):  # every day of more than a year: always 14:30 UTC
        at = next_occurrence(daily("20:00"), KOLKATA, at)
        assert (at.hour, at.minute) == (14, 30)


def test_lord_howe_half_hour_dst_shift() -> None:
    # DST starts 4 October 2026 02:00 (+10:30 -> +11:00): 02:00-02:29 do not exist.
    gap = next_occurrence(daily("02:15"), LORD_HOWE, utc(2026, 10, 3, 0, 0))
    assert (gap, local(gap, LORD_HOWE)) == (utc(2026, 10, 3, 15, 45), "2026-10-04 02:45 +11")
    # DST ends 5 April 2026 02:00 (+11:00 -> +10:30): 01:30-01:59 happen twice.
    twice = next_occurrence(daily("01:45"), LORD_HOWE, utc(2026, 4, 4, 0, 0))
    assert (twice, local(twice, LORD_HOWE)) == (utc(2026, 4, 4, 14, 45), "2026-04-05 01:45 +11")
    assert local(next_occurrence(daily("01:45"), LORD_HOWE, twice), LORD_HOWE) == (
        "2026-04-06 01:45 +1030"
    )
    evening = next_occurrence(daily("20:00"), LORD_HOWE, utc(2026, 10, 3, 12, 0))
    assert local(evening, LORD_HOWE) == "2026-10-04 20:00 +11"


# -- properties ------------------------------------------------------------------------------

ZONES = [
    "America/New_York",
    "Europe/London",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Pacific/Chatham",
    "America/St_Johns",
    "Asia/Tehran",
    "Pacific/Apia",
    "UTC",
]
times = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
plans = st.fixed_dictionaries({}, optional=dict.fromkeys(DAYS, st.none() | times))
instants = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2037, 12, 31), timezones=st.just(UTC)
)


def exists(naive: dt.datetime, zone: ZoneInfo) -> bool:
    """Whether a local wall time exists (it round-trips through UTC unchanged)."""
    aware = naive.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


def oracle(plan: dict[str, str | None], zone: ZoneInfo, after: dt.datetime) -> dt.datetime | None:
    """Brute force, written independently: for each local date around ``after``, every UTC
    instant whose local wall time is the planned time; the earliest per date, or for a time
    that does not exist, the planned time read with the offset in force an hour earlier."""
    found = []
    start = after.astimezone(zone).date()
    for offset in range(-2, 10):
        day = start + dt.timedelta(days=offset)
        planned = plan.get(DAYS[day.weekday()])
        if planned is None:
            continue
        naive = dt.datetime.combine(day, dt.time.fromisoformat(planned))
        matches = []
        for minutes in range(-26 * 60, 26 * 60 + 1, 15):
            instant = (naive - dt.timedelta(minutes=minutes)).replace(tzinfo=UTC)
            if instant.astimezone(zone).replace(tzinfo=None) == naive:
                matches.append(instant)
        if matches:
            candidate = min(matches)
        else:
            before = (naive - dt.timedelta(hours=3)).replace(tzinfo=zone).utcoffset()
            assert before is not None
            candidate = (naive - before).replace(tzinfo=UTC)
        if candidate > after:
            found.append(candidate)
    return min(found, default=None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=plans, tz=st.sampled_from(ZONES), after=instants)
def test_property_next_occurrence(plan: dict[str, str | None], tz: str, after: dt.datetime) -> None:
    zone = ZoneInfo(tz)
    got = next_occurrence(plan, tz, after)
    if all(t is None for t in plan.values()):
        assert got is None
        return
    assert got is not None
    assert got.tzinfo is not None and got.utcoffset() == dt.timedelta(0)
    assert got > after
    assert got - after <= dt.timedelta(days=8)
    wall = got.astimezone(zone)
    planned = plan.get(DAYS[wall.weekday()])
    if planned is not None and wall.strftime("%H:%M") == planned:
        # the usual case: the planned local time on a planned day, first occurrence only
        naive = wall.replace(tzinfo=None)
        assert got == min(naive.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1))
    else:
        # only a time that did not exist that day may be moved (forward, by the gap)
        moved_from = [
            (day, plan[DAYS[day.weekday()]])
            for day in (wall.date(), wall.date() - dt.timedelta(days=1))
            if plan.get(DAYS[day.weekday()]) is not None
        ]
        assert any(
            not exists(dt.datetime.combine(day, dt.time.fromisoformat(t)), zone)
            and resolve_local(day, dt.time.fromisoformat(t), zone) == got
            for day, t in moved_from
        ), (plan, tz, after, got)
        assert any(
            wall.replace(tzinfo=None) > dt.datetime.combine(day, dt.time.fromisoformat(t))
            for day, t in moved_from
        )
    assert got == oracle(plan, zone, after)


@settings(max_examples=200, deadline=None)
@given(plan=plans, tz=st.sampled_from(ZONES), after=instants)
def test_property_no_planned_instant_is_skipped(
    plan: dict[str, str | None], tz: str, after: dt.datetime
) -> None:
    """Following next_occurrence from one call to the next never skips a planned day."""
    assume(any(t is not None for t in plan.values()))
    zone = ZoneInfo(tz)
    first = next_occurrence(plan, tz, after)
    second = next_occurrence(plan, tz, first)
    assert first is not None and second is not None and second > first
    gap_days = {
        (first.astimezone(zone).date() + dt.timedelta(days=n)).weekday()
        for n in range(1, (second.astimezone(zone).date() - first.astimezone(zone).date()).days)
    }
    assert all(plan.get(DAYS[d]) is None for d in gap_days)


def test_outside_window_is_inclusive_of_08_00_and_21_00() -> None:
    plan = {"mon": "07:59", "tue": "08:00", "wed": "21:00", "thu": "21:01", "fri": None}
    assert outside_window(plan) == ["mon", "thu"]


# == the concept =============================================================================


@pytest.fixture
async def schedule(async_db, clock) -> Schedule:
    concept = Schedule(async_db, {"clock": clock})
    await concept.setup()
    return concept


def errors_of(concept: Schedule, name: str, inputs: dict[str, Any]) -> list[dict[str, Any]]:
    return describe_operations(concept)[name].check_inputs(inputs)[1]


async def next_call(concept: Schedule, user: str, after: dt.datetime | None = None) -> Any:
    rows = await concept._nextCall(user=user, after=after)
    return rows[0]["at"] if rows else None


async def stored(concept: Schedule, user: str) -> dict[str, Any] | None:
    return await concept.collection("schedules").find_one({"_id": user})


# -- principle ------------------------------------------------------------------------------


async def test_principle_daily_call_in_local_time_pausable_windowed(
    schedule: Schedule, clock: FakeClock
) -> None:
    clock.set(utc(2026, 3, 28, 12, 0))
    assert await schedule.setDaily(user="u1", timezone="Europe/London", time="20:00") == {}
    assert local(await next_call(schedule, "u1"), LONDON) == "2026-03-28 20:00 GMT"
    clock.set(utc(2026, 3, 28, 21, 0))
    assert local(await next_call(schedule, "u1"), LONDON) == "2026-03-29 20:00 BST"
    await schedule.pause(user="u1")
    assert await schedule._nextCall(user="u1") == []
    await schedule.resume(user="u1")
    assert local(await next_call(schedule, "u1"), LONDON) == "2026-03-29 20:00 BST"
    refused = await schedule.setDaily(user="u1", timezone="Europe/London", time="22:30")
    assert refused["errorKind"] == "invalid"
    await schedule.allowOutsideWindow(user="u1", allowed=True)
    assert await schedule.setDaily(user="u1", timezone="Europe/London", time="22:30") == {}


# -- setWeekly / setDaily --------------------------------------------------------------------


async def test_set_weekly_stores_the_plan_missing_days_have_no_call(schedule: Schedule) -> None:
    out = await schedule.setWeekly(
        user="u1", timezone="America/New_York", times={"mon": "08:00", "fri": "19:45", "sun": None}
    )
    assert out == {}
    assert await schedule._schedule(user="u1") == [
        {
            "timezone": "America/New_York",
            "times": {**daily(None), "mon": "08:00", "fri": "19:45"},
            "paused": False,
            "pausedUntil": None,
            "skippedToday": False,
            "allowOutsideWindow": False,
        }
    ]


async def test_set_weekly_replaces_the_whole_plan(schedule: Schedule) -> None:
    await schedule.setWeekly(user="u1", timezone="UTC", times={"mon": "09:00", "tue": "09:00"})
    await schedule.setWeekly(user="u1", timezone="Asia/Kolkata", times={"wed": "10:00"})
    (row,) = await schedule._schedule(user="u1")
    assert row["timezone"] == "Asia/Kolkata"
    assert row["times"] == {**daily(None), "wed": "10:00"}


@pytest.mark.parametrize(
    ("times", "message"),
    [
        ({"monday": "09:00"}, "unknown weekday"),
        ({"mon": "9:00"}, "HH:MM"),
        ({"mon": "09:60"}, "HH:MM"),
        ({"mon": "24:00"}, "HH:MM"),
    ],
)
async def test_set_weekly_rejects_bad_times_and_changes_nothing(
    schedule: Schedule, times: dict[str, Any], message: str
) -> None:
    await schedule.setDaily(user="u1", timezone="UTC", time="09:00")
    out = await schedule.setWeekly(user="u1", timezone="UTC", times=times)
    assert out["errorKind"] == "invalid"
    assert message in out["error"]
    assert (await schedule._schedule(user="u1"))[0]["times"] == daily("09:00")


@pytest.mark.parametrize("tz", ["Mars/Olympus", "EST+5", "../../etc/passwd", "", "Europe/"])
async def test_set_weekly_and_daily_reject_unknown_time_zones(schedule: Schedule, tz: str) -> None:
    out = await schedule.setWeekly(user="u1", timezone=tz, times={"mon": "09:00"})
    assert out["errorKind"] == "invalid"
    assert "IANA" in out["error"]
    assert (await schedule.setDaily(user="u1", timezone=tz, time="09:00"))["errorKind"] == "invalid"
    assert await schedule._schedule(user="u1") == []


async def test_outside_the_window_fails_invalid_with_a_clear_message(schedule: Schedule) -> None:
    out = await schedule.setWeekly(
        user="u1", timezone="UTC", times={"mon": "07:30", "tue": "12:00", "sat": "21:15"}
    )
    assert out["errorKind"] == "invalid"
    assert "08:00-21:00" in out["error"]
    assert "Monday 07:30 and Saturday 21:15 are outside" in out["error"]
    assert "allow" in out["error"]
    assert await schedule._schedule(user="u1") == []
    # the edges are inside
    assert (
        await schedule.setWeekly(user="u1", timezone="UTC", times={"mon": "08:00", "tue": "21:00"})
        == {}
    )


async def test_a_daily_time_outside_the_window_is_named_once_not_per_weekday(
    schedule: Schedule,
) -> None:
    out = await schedule.setDaily(user="u1", timezone="UTC", time="22:30")
    assert out["error"] == (
        "we only call between 08:00-21:00 your time, and 22:30 every day is outside those "
        "hours: choose a time inside them, or first allow calls outside them"
    )


async def test_set_daily_sets_every_weekday(schedule: Schedule) -> None:
    assert await schedule.setDaily(user="u1", timezone="Europe/London", time="18:00") == {}
    assert (await schedule._schedule(user="u1"))[0]["times"] == daily("18:00")
    out = await schedule.setDaily(user="u1", timezone="Europe/London", time="06:00")
    assert out["errorKind"] == "invalid"
    assert (await schedule.setDaily(user="u1", timezone="UTC", time="6pm"))[
        "errorKind"
    ] == "invalid"


def test_set_weekly_and_daily_validation_as_http_sees_it(schedule: Schedule) -> None:
    ok = {"user": "u1", "timezone": "Europe/London", "times": {"mon": "09:00", "tue": None}}
    assert errors_of(schedule, "setWeekly", ok) == []
    extra = errors_of(schedule, "setWeekly", {**ok, "times": {"funday": "09:00"}})
    assert extra[0]["loc"] == ["body", "times", "funday"]
    assert extra[0]["type"] == "extra_forbidden"
    bad = errors_of(schedule, "setWeekly", {**ok, "times": {"mon": "9am"}})
    assert bad[0]["loc"] == ["body", "times", "mon"]
    assert (
        errors_of(schedule, "setWeekly", {**ok, "timezone": "x" * 65})[0]["type"] == "value_error"
    )
    assert errors_of(schedule, "setWeekly", {**ok, "times": {"mon": 9}})[0]["type"] == "type_error"
    assert errors_of(schedule, "setDaily", {"user": "u1", "timezone": "UTC", "time": "07:00"}) == []
    assert errors_of(schedule, "setDaily", {"user": "u1", "timezone": "UTC", "time": "7:00"})
    assert errors_of(schedule, "setDaily", {"user": "u1", "timezone": "UTC", "time": None})


# -- setTimezone ----------------------------------------------------------------------------


async def test_set_timezone_keeps_local_times(schedule: Schedule, clock: FakeClock) -> None:
    clock.set(utc(2026, 3, 2, 12, 0))
    await schedule.setDaily(user="u1", timezone="Europe/London", time="20:00")
    assert await schedule.setTimezone(user="u1", timezone="America/New_York") == {}
    assert local(await next_call(schedule, "u1"), NY) == "2026-03-02 20:00 EST"
    assert (await schedule._schedule(user="u1"))[0]["times"] == daily("20:00")


async def test_set_timezone_rejects_unknown_zones(schedule: Schedule) -> None:
    await schedule.setDaily(user="u1", timezone="Europe/London", time="20:00")
    assert (await schedule.setTimezone(user="u1", timezone="Nowhere/Special"))[
        "errorKind"
    ] == "invalid"
    assert (await schedule._schedule(user="u1"))[0]["timezone"] == "Europe/London"


async def test_set_timezone_before_any_times_creates_an_empty_plan(schedule: Schedule) -> None:
    assert await schedule.setTimezone(user="u1", timezone="Asia/Kolkata") == {}
    (row,) = await schedule._schedule(user="u1")
    assert (row["timezone"], row["times"]) == ("Asia/Kolkata", daily(None))
    assert await schedule._nextCall(user="u1") == []


# -- pause / resume -------------------------------------------------------------------------


async def test_pause_and_resume(schedule: Schedule, clock: FakeClock) -> None:
    await schedule.setDaily(user="u1", timezone="UTC", time="20:00")
    assert await schedule.pause(user="u1") == {}
    assert (await schedule._schedule(user="u1"))[0]["paused"] is True
    assert await schedule._nextCall(user="u1") == []
    await schedule.setDaily(user="u1", timezone="UTC", time="19:00")  # editing keeps the pause
    assert await schedule._nextCall(user="u1") == []
    clock.advance(days=3)
    assert await schedule.resume(user="u1") == {}
    assert await next_call(schedule, "u1") == utc(2026, 3, 4, 19, 0)  # from now, not the past


async def test_pause_and_resume_without_a_schedule_are_not_found(schedule: Schedule) -> None:
    assert (await schedule.pause(user="u1"))["errorKind"] == "not_found"
    assert (await schedule.resume(user="u1"))["errorKind"] == "not_found"
    assert await schedule._schedule(user="u1") == []


# -- allowOutsideWindow ---------------------------------------------------------------------


async def test_allow_outside_window_before_any_times(schedule: Schedule) -> None:
    assert await schedule.allowOutsideWindow(user="u1", allowed=True) == {}
    assert await schedule.setDaily(user="u1", timezone="UTC", time="06:30") == {}
    (row,) = await schedule._schedule(user="u1")
    assert (row["allowOutsideWindow"], row["times"]["mon"]) == (True, "06:30")


async def test_withdrawing_consent_with_outside_times_is_a_conflict(schedule: Schedule) -> None:
    await schedule.allowOutsideWindow(user="u1", allowed=True)
    await schedule.setWeekly(user="u1", timezone="UTC", times={"mon": "22:00", "tue": "12:00"})
    out = await schedule.allowOutsideWindow(user="u1", allowed=False)
    assert out["errorKind"] == "conflict"
    assert "Monday 22:00" in out["error"] and "Tuesday" not in out["error"]
    assert (await schedule._schedule(user="u1"))[0]["allowOutsideWindow"] is True
    await schedule.setWeekly(user="u1", timezone="UTC", times={"mon": "20:00"})
    assert await schedule.allowOutsideWindow(user="u1", allowed=False) == {}
    assert (await schedule._schedule(user="u1"))[0]["allowOutsideWindow"] is False
    assert (await schedule.setDaily(user="u1", timezone="UTC", time="22:00"))[
        "errorKind"
    ] == "invalid"


async def test_withdrawing_consent_never_given_is_a_no_op(schedule: Schedule) -> None:
    assert await schedule.allowOutsideWindow(user="u1", allowed=False) == {}
    assert await schedule._schedule(user="u1") == []


def test_allow_outside_window_validation(schedule: Schedule) -> None:
    assert errors_of(schedule, "allowOutsideWindow", {"user": "u1", "allowed": True}) == []
    assert errors_of(schedule, "allowOutsideWindow", {"user": "u1", "allowed": "yes"})
    assert errors_of(schedule, "allowOutsideWindow", {"user": "u1", "allowed": 1})


# -- nextAt, _dueUsers and advance (the call worker's side) ---------------------------------


async def test_next_at_is_an_indexed_float_recomputed_on_every_change(
    schedule: Schedule, clock: FakeClock
) -> None:
    keys = [
        info["key"]
        for info in (await schedule.collection("schedules").index_information()).values()
    ]
    assert [("nextAt", 1)] in keys
    await schedule.setDaily(user="u1", timezone="UTC", time="20:00")
    doc = await stored(schedule, "u1")
    assert isinstance(doc["nextAt"], float)
    assert doc["nextAt"] == utc(2026, 3, 1, 20, 0).timestamp()
    await schedule.setTimezone(user="u1", timezone="Asia/Kolkata")
    assert (await stored(schedule, "u1"))["nextAt"] == utc(2026, 3, 1, 14, 30).timestamp()
    await schedule.pause(user="u1")
    assert "nextAt" not in await stored(schedule, "u1")
    await schedule.resume(user="u1")
    assert (await stored(schedule, "u1"))["nextAt"] == utc(2026, 3, 1, 14, 30).timestamp()
    await schedule.setWeekly(user="u1", timezone="UTC", times={})
    assert "nextAt" not in await stored(schedule, "u1")


async def test_due_users_earliest_first_with_limit(schedule: Schedule, clock: FakeClock) -> None:
    await schedule.setDaily(user="late", timezone="UTC", time="20:00")
    await schedule.setDaily(user="early", timezone="UTC", time="13:00")
    await schedule.setDaily(user="paused", timezone="UTC", time="14:00")
    await schedule.pause(user="paused")
    await schedule.setTimezone(user="no-times", timezone="UTC")
    due = await schedule._dueUsers(before=utc(2026, 3, 1, 23, 0))
    assert due == [
        {"user": "early", "at": utc(2026, 3, 1, 13, 0)},
        {"user": "late", "at": utc(2026, 3, 1, 20, 0)},
    ]
    assert await schedule._dueUsers(before=utc(2026, 3, 1, 23, 0), limit=1) == due[:1]
    assert await schedule._dueUsers(before=utc(2026, 3, 1, 12, 59)) == []
    assert await schedule._dueUsers(before=utc(2026, 3, 1, 13, 0)) == due[:1]  # inclusive


def test_due_users_validation(schedule: Schedule) -> None:
    assert errors_of(schedule, "_dueUsers", {"before": "2026-03-01T12:00:00Z"}) == []
    assert errors_of(schedule, "_dueUsers", {"before": "2026-03-01T12:00:00"})[0]["msg"] == (
        "must include a UTC offset"
    )
    assert errors_of(schedule, "_dueUsers", {"before": "2026-03-01T12:00:00Z", "limit": 0})


async def test_advance_plans_the_next_call_and_never_the_same_slot_twice(
    schedule: Schedule, clock: FakeClock
) -> None:
    await schedule.setDaily(user="u1", timezone="UTC", time="20:00")
    clock.set(utc(2026, 3, 1, 20, 0, 5))  # the worker wakes and finds u1 due
    (due,) = await schedule._dueUsers(before=clock.now())
    assert await schedule.advance(user="u1", after=due["at"]) == {
        "nextAt": utc(2026, 3, 2, 20, 0),
        "missed": None,  # on time: call it
    }
    assert await schedule._dueUsers(before=clock.now()) == []
    # Touching the schedule later that evening does not bring today's slot back.
    await schedule.pause(user="u1")
    await schedule.resume(user="u1")
    assert await next_call(schedule, "u1") == utc(2026, 3, 2, 20, 0)


async def test_advance_when_the_worker_plans_ahead(schedule: Schedule, clock: FakeClock) -> None:
    await schedule.setDaily(user="u1", timezone="UTC", time="20:00")
    clock.set(utc(2026, 3, 1, 19, 58))  # planned two minutes early
    assert (await schedule.advance(user="u1", after=utc(2026, 3, 1, 20, 0)))["nextAt"] == utc(
        2026, 3, 2, 20, 0
    )
    # Moving today's time later, or any other change, gives no second call today.
    await schedule.setDaily(user="u1", timezone="UTC", time="20:30")
    assert await next_call(schedule, "u1") == utc(2026, 3, 2, 20, 30)
    assert (await stored(schedule, "u1"))["nextAt"] == utc(2026, 3, 2, 20, 30).timestamp()


async def test_advance_only_moves_forward(schedule: Schedule, clock: FakeClock) -> None:
    await schedule.setDaily(user="u1", timezone="UTC", time="20:00")
    clock.set(utc(2026, 3, 1, 20, 1))
    await schedule.advance(user="u1", after=utc(2026, 3, 1, 20, 0))
    out = await schedule.advance(user="u1", after=utc(2026, 2, 20, 20, 0))  # a stale report
    assert out["errorKind"] == "conflict", "planned already: nothing is queued twice"
    assert await next_call(schedule, "u1") == utc(2026, 3, 2, 20, 0)


async def test_advance_fails_for_unknown_user_and_far_future(schedule: Schedule) -> None:
    assert (await schedule.advance(user="u1", after=utc(2026, 3, 1, 12)))[
        "errorKind"
    ] == "not_found"
    await schedule.setDaily(user="u1", timezone="UTC", time="20:00")
    out = await schedule.advance(user="u1", after=utc(2026, 3, 9, 12))
    assert out["errorKind"] == "invalid"
    assert (await stored(schedule, "u1"))["nextAt"] == utc(2026, 3, 1, 20, 0).timestamp()


async def test_advance_while_paused_records_the_plan_but_no_next_call(schedule: Schedule) -> None:
    await schedule.setDaily(user="u1", timezone="UTC", time="20:00")
    await schedule.pause(user="u1")
    assert (await schedule.advance(user="u1", after=utc(2026, 3, 1, 12)))["nextAt"] is None


def test_advance_validation(schedule: Schedule) -> None:
    assert (
        errors_of(schedule, "advance", {"user": "u1", "after": "2026-03-01T20:00:00+00:00"}) == []
    )
    assert errors_of(schedule, "advance", {"user": "u1", "after": "tomorrow"})
    assert errors_of(schedule, "advance", {"user": "u1"})[0]["type"] == "missing"


async def test_next_call_after_a_given_instant(schedule: Schedule) -> None:
    await schedule.setWeekly(user="u1", timezone="America/New_York", times={"sun": "20:00"})
    at = await next_call(schedule, "u1", after=utc(2026, 3, 7, 0, 0))
    assert local(at, NY) == "2026-03-08 20:00 EDT"
    assert await schedule._nextCall(user="nobody") == []


# -- concurrent changes ---------------------------------------------------------------------

KEPT = ("timezone", "times", "paused", "allowOutsideWindow", "plannedThrough", "nextAt")


async def kept(concept: Schedule, user: str) -> dict[str, Any]:
    doc = await concept.collection("schedules").find_one({"_id": user})
    return {k: doc.get(k) for k in (*KEPT, "version")}


async def test_concurrent_changes_end_as_serial_ones_with_next_at_from_the_final_plan(
    schedule: Schedule,
) -> None:
    """Six changes of one schedule at once, none of whose effects depend on the order:
    the stored schedule is the one a serial run gives, and ``nextAt`` is computed from
    the final plan (a change decided on a stale read would leave an old time there, or
    a lower ``plannedThrough``)."""

    def changes(user: str) -> list[Any]:
        return [
            schedule.setDaily(user=user, timezone="Europe/London", time="19:00"),
            schedule.allowOutsideWindow(user=user, allowed=True),
            *(schedule.noteReflected(user=user, at=utc(2026, 3, 1, h)) for h in (11, 10, 9, 8)),
        ]

    for user in ("raced", "serial"):
        await schedule.setDaily(user=user, timezone="Europe/London", time="20:00")
    assert all(out == {} for out in await asyncio.gather(*changes("raced")))
    for change in changes("serial"):
        assert await change == {}
    raced = await kept(schedule, "raced")
    assert raced == await kept(schedule, "serial")
    assert raced["version"] == 6  # created at version 0, then each change written once
    assert raced["plannedThrough"] == utc(2026, 3, 1, 11).timestamp()
    assert raced["nextAt"] == utc(2026, 3, 2, 19).timestamp()  # reflected today: tomorrow


async def test_concurrent_first_changes_create_one_schedule_holding_both(
    schedule: Schedule,
) -> None:
    outs = await asyncio.gather(
        schedule.setDaily(user="u1", timezone="Europe/London", time="09:00"),
        schedule.allowOutsideWindow(user="u1", allowed=True),
    )
    assert outs == [{}, {}]
    assert await schedule._schedule(user="u1") == [
        {
            "timezone": "Europe/London",
            "times": daily("09:00"),
            "paused": False,
            "pausedUntil": None,
            "skippedToday": False,
            "allowOutsideWindow": True,
        }
    ]
    assert (await kept(schedule, "u1"))["version"] == 1  # created by one, changed by the other


async def test_a_change_that_keeps_losing_races_is_busy_and_changes_nothing(
    async_db, clock: FakeClock, schedule: Schedule
) -> None:
    await schedule.setDaily(user="u1", timezone="Europe/London", time="20:00")
    before = await kept(schedule, "u1")
    losing = Schedule(RivalledDatabase(async_db, "Schedule_schedules"), {"clock": clock})
    busy = {"error": "the schedule is changing too often; try again", "errorKind": "unavailable"}
    assert await losing.setTimezone(user="u1", timezone="Asia/Kolkata") == busy
    assert await losing.pause(user="u1") == busy
    after = await kept(schedule, "u1")
    assert {k: after[k] for k in KEPT} == {k: before[k] for k in KEPT}


# -- deleteAllFor ---------------------------------------------------------------------------


async def test_delete_all_for_forgets_only_that_user(schedule: Schedule) -> None:
    await schedule.setDaily(user="u1", timezone="UTC", time="20:00")
    await schedule.setDaily(user="u2", timezone="UTC", time="20:00")
    assert await schedule.deleteAllFor(user="u1") == {}
    assert await schedule._schedule(user="u1") == []
    assert await schedule._nextCall(user="u1") == []
    assert [d["user"] for d in await schedule._dueUsers(before=utc(2026, 3, 2))] == ["u2"]
    assert await schedule.deleteAllFor(user="u1") == {}  # idempotent
