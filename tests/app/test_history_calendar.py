"""History by day through the API: the calendar's day states and streaks, and the week.

A user in New York over ten days of March 2026 (daylight saving starts on the 8th):
typed reflections, a call cancelled, a reflection left unfinished, a planned call the
service was down for, and a week read back with its answers.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from syncs.days import calendar, day_states, streaks
from tests.app.conftest import Service

NY = ZoneInfo("America/New_York")


def local(day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=NY).astimezone(dt.UTC)


async def typed(service: Service, token: str, answers: list[str], *, finish: bool = True) -> str:
    session = (await service.api("Reflection/startText", {}, token))["session"]
    (active,) = await service.api("ReflectionSession/_active", {}, token)
    for position, answer in zip(range(1, len(active["prompts"]) + 1), answers, strict=False):
        body = {"session": session, "position": position, "text": answer}
        await service.api("ReflectionSession/recordResponse", body, token)
    if finish:
        await service.api("ReflectionSession/completeSession", {"session": session}, token)
    else:
        body = {"session": session, "reason": "left for later"}
        await service.api("ReflectionSession/abandonSession", body, token)
    return session


async def month(service: Service, token: str, **body: str) -> dict:
    return await service.api(
        "History/calendar", {"start": "2026-03-01", "end": "2026-03-31", **body}, token
    )


async def test_the_month_shows_each_day_and_the_streaks(service: Service):
    service.clock.set(local(2, 9))
    token = await service.sign_up()
    three = ["Rain.", "Music.", "Calm."]
    first = await typed(service, token, three)
    await service.api("ReflectionSession/setRating", {"session": first, "rating": 1}, token)
    service.clock.set(local(3, 21, 30))
    await typed(service, token, three)
    service.clock.set(local(4))
    cancelled = await service.call_now(token)
    await service.api("CallScheduler/cancel", {"scheduledCall": cancelled}, token)
    service.clock.set(local(5, 23, 50))  # late in the evening: still the 5th in New York
    await typed(service, token, three)
    service.clock.set(local(6))
    await typed(service, token, ["Only this."], finish=False)
    service.clock.set(local(7))
    await typed(service, token, three)
    # the 8th: a call planned for 12:00, and the service down until 15:00 (missed)
    service.clock.set(local(8, 10))
    await service.api("Schedule/setDaily", {"timezone": "America/New_York", "time": "12:00"}, token)
    service.clock.set(local(8, 15))
    await service.worker.plan_due()
    await service.api("Schedule/pause", {}, token)
    service.clock.set(local(9))
    await typed(service, token, three)
    service.clock.set(local(10, 8))

    shown = await month(service, token)
    states = {d["date"][-2:]: d["state"] for d in shown["days"]}
    assert [states[f"{n:02d}"] for n in range(1, 13)] == [
        "none", "done", "done", "skipped", "done", "unfinished",
        "done", "missed", "done", "none", "future", "future",
    ]  # fmt: skip
    assert (shown["today"], shown["timezone"]) == ("2026-03-10", "America/New_York")
    assert (shown["currentStreak"], shown["longestStreak"]) == (1, 3)
    by_date = {d["date"]: d for d in shown["days"]}
    assert by_date["2026-03-02"]["rating"] == 1 and by_date["2026-03-02"]["method"] == "TEXT"
    assert by_date["2026-03-02"]["sessions"][0]["session"] == first
    assert len(by_date["2026-03-08"]["missed"]) == 1
    assert shown["counts"]["done"] == 5 and shown["counts"]["future"] == 21
    assert len(shown["days"]) == 31 and shown["days"][0]["weekday"] == "sun"

    # the week of Monday the 2nd, read back in full: answers, oldest first
    week = await service.api(
        "ReflectionSession/_between",
        {"since": local(2, 0).isoformat(), "until": local(9, 0).isoformat()},
        token,
    )
    assert [s["status"] for s in week] == ["COMPLETED"] * 3 + ["ABANDONED", "COMPLETED"]
    assert week[3]["prompts"][0]["answer"] == "Only this."

    # a reflection typed later on the day of the missed call: that day is done
    service.clock.set(local(8, 20))
    await typed(service, token, three)
    service.clock.set(local(10, 8))
    shown = await month(service, token)
    assert shown["days"][7]["state"] == "done" and shown["days"][7]["missed"]
    assert (shown["currentStreak"], shown["longestStreak"]) == (3, 3)

    other = await service.sign_up()
    assert (await month(service, other))["longestStreak"] == 0  # nothing of the first user


async def test_a_day_skipped_before_its_call_was_queued_shows_as_skipped(service: Service):
    """ "Skip today" leaves no cancelled call behind when no call was queued yet: the
    calendar reads the skipped days from the schedule, and a skip keeps the streak."""
    service.clock.set(local(2, 9))
    token = await service.sign_up()
    await service.api("Schedule/setDaily", {"timezone": "America/New_York", "time": "20:00"}, token)
    await typed(service, token, ["Rain.", "Music.", "Calm."])
    service.clock.set(local(3, 9))
    await service.api("Schedule/skipToday", {}, token)
    service.clock.set(local(4, 9))
    await typed(service, token, ["Sun.", "Tea.", "Sleep."])
    shown = await month(service, token)
    assert [d["state"] for d in shown["days"][1:4]] == ["done", "skipped", "done"]
    assert (shown["currentStreak"], shown["longestStreak"]) == (2, 2)


async def test_a_range_that_cannot_be_shown_is_refused(service: Service):
    token = await service.sign_up()
    for start, end in (
        ("2026-03-10", "2026-03-01"),
        ("2026-02-30", "2026-03-01"),
        ("2026-01-01", "2026-03-31"),
    ):
        r = await service.api("History/calendar", {"start": start, "end": end}, token, expect=422)
        assert r["errorKind"] == "invalid", r
    r = await service.api(
        "History/calendar", {"start": "2026-3-1", "end": "2026-03-02"}, token, expect=422
    )
    assert r["detail"][0]["loc"] == ["body", "start"]
    await service.api(
        "Accounts/register", {"username": "noprofile1", "password": "long enough pw 1"}
    )
    login = await service.api(
        "Accounts/login", {"username": "noprofile1", "password": "long enough pw 1"}
    )
    r = await service.api(
        "History/calendar", {"start": "2026-03-01", "end": "2026-03-02"}, login["token"], expect=409
    )
    assert "profile" in r["error"]
    await service.api(
        "History/calendar", {"start": "2026-03-01", "end": "2026-03-01"}, None, expect=401
    )


STATES = st.sampled_from(["COMPLETED", "ABANDONED", "FAILED", "CANCELLED"])


@given(st.lists(st.tuples(st.integers(0, 40), STATES), max_size=40))
def test_streaks_follow_the_rule(records: list[tuple[int, str]]):
    """Against a direct reading of the rule: the longest run of done days, skipping days
    with nothing or only a skip; a missed or unfinished (and not done) day ends it."""
    base = dt.datetime(2026, 1, 1, 15, tzinfo=dt.UTC)
    sessions = [
        {
            "session": f"s{i}",
            "method": "TEXT",
            "status": kind,
            "startedAt": base + dt.timedelta(days=d),
        }
        for i, (d, kind) in enumerate(records)
        if kind in ("COMPLETED", "ABANDONED")
    ]
    calls = [
        {
            "scheduledCall": f"c{i}",
            "status": kind,
            "scheduledFor": base + dt.timedelta(days=d),
            "lastOutcome": kind,
        }
        for i, (d, kind) in enumerate(records)
        if kind in ("FAILED", "CANCELLED")
    ]
    today = dt.date(2026, 1, 21)
    days = day_states(sessions, calls, ZoneInfo("UTC"))
    current, longest = streaks(days, today)
    kinds: dict[int, set[str]] = {}
    for d, kind in records:
        kinds.setdefault(d, set()).add(kind)
    runs, run = [], 0
    for d in range(0, 21):
        k = kinds.get(d, set())
        if "COMPLETED" in k:
            run += 1
        elif k & {"ABANDONED", "FAILED"}:
            run = 0
        runs.append(run)
    assert (current, longest) == (runs[-1], max(runs))
    shown = calendar(
        sessions, calls, "UTC", base + dt.timedelta(days=20), "2026-01-01", "2026-02-10"
    )
    assert (
        shown["counts"]["future"]
        + sum(1 for d in shown["days"] if d["date"] > "2026-01-21" and d["state"] != "future")
        == 20
    )
