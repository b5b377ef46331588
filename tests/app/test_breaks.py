"""Skip today, pause until a date, "call me in 10 minutes": through the API, with the worker
placing (or not placing) the calls as a fake clock moves on."""

from __future__ import annotations

import datetime as dt

from services.devtools.callees import ScriptedCallee
from tests.app.conftest import Service

UTC = dt.UTC


def new_york(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A December 2026 instant given in New York time (EST, UTC-5)."""
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=UTC) + dt.timedelta(hours=5)


async def evening_calls(service: Service, token: str, time: str = "20:00") -> None:
    await service.api("Schedule/setDaily", {"timezone": "America/New_York", "time": time}, token)


async def calls_over(service: Service, days: int) -> list[dt.datetime]:
    """Run the worker minute by minute (coarser between calls) for ``days``; when it dialled."""
    placed = []
    end = service.clock.now() + dt.timedelta(days=days)
    while service.clock.now() < end:
        await service.worker.plan_due()
        calls = await service.dial_due()
        if calls:
            placed.append(service.clock.now())
            result = await service.play(calls[0], ScriptedCallee(["Snow.", "Tea.", "Rest."]))
            assert result.final_status == "completed", result.errors
        service.clock.advance(minutes=1 if service.clock.now().minute % 30 else 29)
    return placed


# -- skip today ------------------------------------------------------------------------------


async def test_skipping_today_drops_todays_call_and_keeps_tomorrows(service: Service):
    service.clock.set(new_york(1, 12))
    token = await service.sign_up()
    await evening_calls(service, token)
    out = await service.api("Schedule/skipToday", {}, token)
    assert out == {"day": "2026-12-01", "endsAt": "2026-12-02T05:00:00Z"}
    (row,) = await service.api("Schedule/_schedule", {}, token)
    assert row["skippedToday"] is True
    assert await calls_over(service, 2) == [new_york(2, 20)]
    assert await service.api("Schedule/_skipped", {}, token) == [{"day": "2026-12-01"}]


async def test_skipping_cancels_the_call_already_queued_for_today(service: Service):
    service.clock.set(new_york(1, 19, 59))
    token = await service.sign_up()
    await evening_calls(service, token)
    await service.worker.plan_due()  # 20:00 is within the worker's lead: queued
    (queued,) = await service.api("CallScheduler/_upcoming", {}, token)
    await service.api("Schedule/skipToday", {}, token)
    assert await service.api("CallScheduler/_upcoming", {}, token) == []
    (cancelled,) = await service.api("CallScheduler/_recent", {}, token)
    assert (cancelled["scheduledCall"], cancelled["status"]) == (
        queued["scheduledCall"],
        "CANCELLED",
    )
    service.clock.advance(minutes=5)
    assert await service.dial_due() == []


async def test_skipping_keeps_a_call_snoozed_past_midnight(service: Service):
    service.clock.set(new_york(1, 23, 55))
    token = await service.sign_up()
    await evening_calls(service, token)
    snoozed = await service.api("Calls/snooze", {"minutes": 10}, token)
    await service.api("Schedule/skipToday", {}, token)
    (kept,) = await service.api("CallScheduler/_upcoming", {}, token)
    assert kept["scheduledCall"] == snoozed["scheduledCall"]


async def test_taking_back_a_skip_calls_today_after_all(service: Service):
    service.clock.set(new_york(1, 12))
    token = await service.sign_up()
    await evening_calls(service, token)
    await service.api("Schedule/skipToday", {}, token)
    assert (await service.api("Schedule/_nextCall", {}, token))[0]["at"].startswith("2026-12-03")
    await service.api("Schedule/unskipToday", {}, token)
    assert await calls_over(service, 1) == [new_york(1, 20)]


# -- pause until a date ------------------------------------------------------------------------


async def test_a_pause_until_a_date_places_no_call_until_that_day(service: Service):
    service.clock.set(new_york(1, 12))
    token = await service.sign_up()
    await evening_calls(service, token)
    assert await service.api("Schedule/pause", {"until": "2026-12-04"}, token) == {}
    (row,) = await service.api("Schedule/_schedule", {}, token)
    assert (row["paused"], row["pausedUntil"]) == (True, "2026-12-04")
    (nxt,) = await service.api("Schedule/_nextCall", {}, token)
    assert nxt["at"] == "2026-12-05T01:00:00Z"  # 20:00 on 4 December in New York
    assert await calls_over(service, 4) == [new_york(4, 20)]
    (row,) = await service.api("Schedule/_schedule", {}, token)
    assert (row["paused"], row["pausedUntil"]) == (False, None)


async def test_a_pause_date_in_the_past_or_malformed_is_refused(service: Service):
    service.clock.set(new_york(1, 12))
    token = await service.sign_up()
    await evening_calls(service, token)
    refused = await service.api("Schedule/pause", {"until": "2026-12-01"}, token, expect=422)
    assert "after today" in refused["error"]
    bad = await service.api("Schedule/pause", {"until": "4 December"}, token, expect=422)
    assert bad["detail"][0]["loc"] == ["body", "until"]
    (row,) = await service.api("Schedule/_schedule", {}, token)
    assert row["paused"] is False


# -- "call me in 10 minutes" ------------------------------------------------------------------


async def test_call_me_in_ten_minutes_rings_then_and_not_before(service: Service):
    token = await service.sign_up()
    out = await service.api("Calls/snooze", {"minutes": 10}, token)
    at = dt.datetime.fromisoformat(out["at"])
    assert at == service.clock.now() + dt.timedelta(minutes=10)
    (queued,) = await service.api("CallScheduler/_upcoming", {}, token)
    assert (queued["scheduledCall"], queued["origin"]) == (out["scheduledCall"], "now")
    service.clock.advance(minutes=9, seconds=59)
    assert await service.dial_due() == []
    service.clock.advance(seconds=1)
    (placed,) = await service.dial_due()
    result = await service.play(placed, ScriptedCallee(["Frost.", "Soup.", "Sleep."]))
    assert result.final_status == "completed", result.errors


async def test_snoozing_the_planned_call_moves_it_ten_minutes(service: Service):
    service.clock.set(new_york(1, 19, 59))
    token = await service.sign_up()
    await evening_calls(service, token)
    await service.worker.plan_due()
    (planned,) = await service.api("CallScheduler/_upcoming", {}, token)
    out = await service.api("Calls/snooze", {"minutes": 10}, token)
    assert out["scheduledCall"] == planned["scheduledCall"]
    service.clock.set(new_york(1, 20, 1))
    assert await service.dial_due() == []
    service.clock.set(new_york(1, 20, 9))
    assert len(await service.dial_due()) == 1


async def test_snooze_is_refused_without_a_verified_number_and_while_ringing(service: Service):
    unverified = await service.sign_up(verify=False)
    refused = await service.api("Calls/snooze", {"minutes": 10}, unverified, expect=409)
    assert refused["error"] == "verify your phone number first"
    assert await service.api("CallScheduler/_upcoming", {}, unverified) == []

    token = await service.sign_up()
    await service.call_now(token)
    await service.dial_due()  # ringing
    busy = await service.api("Calls/snooze", {"minutes": 10}, token, expect=409)
    assert "already under way" in busy["error"]
    for minutes in (0, 121, "10"):
        r = await service.api("Calls/snooze", {"minutes": minutes}, token, expect=422)
        assert r["detail"][0]["loc"] == ["body", "minutes"]


async def test_snooze_needs_a_profile(service: Service):
    await service.api("Accounts/register", {"username": "noprofile", "password": "x" * 12})
    login = await service.api("Accounts/login", {"username": "noprofile", "password": "x" * 12})
    refused = await service.api("Calls/snooze", {"minutes": 10}, login["token"], expect=409)
    assert refused["error"] == "create your profile first"
