"""CallScheduler.snooze: "call me in 10 minutes" (docs/concepts/CallScheduler.md)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from conceptkit import describe_operations
from concepts.call_scheduler import CallScheduler
from services.app.clock import FakeClock
from tests.concepts.test_call_scheduler import NUMBER, cs, is_error, schedule, state

__all__ = ["cs"]  # the fixture, shared

TEN = dt.timedelta(minutes=10)


async def test_snooze_queues_a_call_ten_minutes_from_now_and_not_before(
    cs: CallScheduler, clock: FakeClock
):
    out = await cs.snooze(user="u1", phoneNumber=NUMBER)
    assert out == {"scheduledCall": out["scheduledCall"], "at": clock.now() + TEN}
    (row,) = await cs._upcoming(user="u1")
    assert (row["scheduledCall"], row["scheduledFor"], row["origin"]) == (
        out["scheduledCall"],
        clock.now() + TEN,
        "now",
    )
    assert await cs._isDue(now=clock.now() + TEN - dt.timedelta(seconds=1)) == []
    assert is_error(await cs.claimDue(worker="w", now=clock.now() + TEN / 2), "not_found")
    clock.advance(minutes=10)
    assert (await cs.claimDue(worker="w"))["scheduledCall"] == out["scheduledCall"]


async def test_snooze_moves_the_waiting_call_instead_of_adding_one(
    cs: CallScheduler, clock: FakeClock
):
    planned = await schedule(cs, clock)  # due now: the planned call, about to ring
    out = await cs.snooze(user="u1", phoneNumber=NUMBER, minutes=15)
    assert out == {"scheduledCall": planned, "at": clock.now() + dt.timedelta(minutes=15)}
    assert len(await cs._upcoming(user="u1")) == 1
    assert is_error(await cs.claimDue(worker="w", now=clock.now()), "not_found")
    s = await state(cs, planned)
    assert (s["status"], s["attempts"], s["dueAt"]) == (
        "PENDING",
        0,
        (clock.now() + dt.timedelta(minutes=15)).timestamp(),
    )


async def test_snoozing_a_retry_keeps_its_attempts(cs: CallScheduler, clock: FakeClock):
    call = await schedule(cs, clock, maxRetries=3)
    await cs.claimDue(worker="w", now=clock.now())
    await cs.recordMissed(scheduledCall=call, outcome="NO_ANSWER", retryDelaySeconds=60)
    await cs.snooze(user="u1", phoneNumber=NUMBER)
    s = await state(cs, call)
    assert (s["status"], s["attempts"], s["nextRetryAt"]) == ("PENDING", 1, None)
    assert s["scheduledFor"] == clock.now() + TEN
    clock.advance(minutes=10)
    assert (await cs.claimDue(worker="w"))["attempt"] == 2


async def test_snooze_is_refused_while_a_call_rings_or_is_under_way(
    cs: CallScheduler, clock: FakeClock
):
    call = await schedule(cs, clock)
    await cs.claimDue(worker="w", now=clock.now())
    out = await cs.snooze(user="u1", phoneNumber=NUMBER)
    assert is_error(out) and "already under way" in out["error"]
    assert (await state(cs, call))["status"] == "DIALING"


async def test_snooze_after_call_now_moves_that_call(cs: CallScheduler, clock: FakeClock):
    asked = (await cs.callNow(user="u1", phoneNumber=NUMBER))["scheduledCall"]
    assert (await cs.snooze(user="u1", phoneNumber=NUMBER))["scheduledCall"] == asked
    assert (await cs.callNow(user="u1", phoneNumber=NUMBER))["scheduledCall"] == asked
    assert (await state(cs, asked))["dueAt"] == clock.now().timestamp()  # and back to now


async def test_concurrent_snoozes_share_one_call(cs: CallScheduler, clock: FakeClock):
    outs = await asyncio.gather(*(cs.snooze(user="u1", phoneNumber=NUMBER) for _ in range(3)))
    assert len({o["scheduledCall"] for o in outs}) == 1
    (doc,) = await cs.collection("calls").find({"user": "u1"}).to_list(None)
    assert doc["dueAt"] == (clock.now() + TEN).timestamp()


@pytest.mark.parametrize("bad", [0, 121, 2.5, True])
async def test_snooze_minutes_are_an_integer_from_1_to_120(cs: CallScheduler, bad):
    out = await cs.snooze(user="u1", phoneNumber=NUMBER, minutes=bad)
    assert is_error(out, "invalid") and "minutes" in out["error"]
    assert await cs._upcoming(user="u1") == []
    check = describe_operations(cs)["snooze"].check_inputs
    assert check({"user": "u1", "phoneNumber": NUMBER, "minutes": bad})[1]
    assert "phoneNumber" in describe_operations(cs)["snooze"].private
