"""A call's listening turns, each taken once (services/webhooks/turn_guard.py): the model
is a counter per call, and a delivery takes turn N iff the call is at N or behind it (it
moves to N + 1), or it is the very delivery that took N (Twilio retrying it)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.storage.database import make_async_client
from services.webhooks.turn_guard import COLLECTION, MAX_TURN, TurnGuard, turn_of


@pytest.mark.parametrize(
    ("query", "turn"),
    [({}, None), ({"turn": "0"}, 0), ({"turn": "17"}, 17), ({"turn": str(MAX_TURN)}, MAX_TURN)],
)
def test_a_listening_url_names_its_turn_or_none(query, turn):
    assert turn_of(query) == turn


@pytest.mark.parametrize(
    "raw", ["", "-1", "1.5", "abc", " 1", "٣", "\uff11", str(MAX_TURN + 1), "9" * 40]
)
def test_a_turn_that_is_no_small_whole_number_is_a_reason_not_a_turn(raw):
    reason = turn_of({"turn": raw})
    assert isinstance(reason, str) and "whole number" in reason


async def test_each_turn_is_taken_once_and_a_retry_of_its_delivery_again(async_db):
    guard = TurnGuard(async_db)
    assert await guard.take("CA1", 0, "k0")
    assert await guard.take("CA1", 0, "k0")  # Twilio retrying the delivery that took it
    assert not await guard.take("CA1", 0, "another")  # a replay with another token
    assert not await guard.take("CA1", 0, None)  # or none
    assert await guard.take("CA1", 1, None)
    assert not await guard.take("CA1", 0, "k0")  # its retry, once the call moved on
    assert await guard.take("CA2", 0, None)  # every call has its own turns
    assert (await async_db[COLLECTION].find_one({"_id": "CA1"}))["turn"] == 2
    assert await guard.current("CA1") == 2 and await guard.current("CA9") == 0


async def test_a_turn_ahead_of_the_record_is_taken_after_a_missed_write(async_db):
    """The database was away when turn 1 was taken (so the record stayed at 1) but the
    flow answered, naming turn 2: turn 2 is taken, and turn 1 is refused from then on."""
    guard = TurnGuard(async_db)
    assert await guard.take("CA6", 0, "k0")
    assert await guard.take("CA6", 2, "k2")
    assert not await guard.take("CA6", 1, "k1")
    assert (await async_db[COLLECTION].find_one({"_id": "CA6"}))["turn"] == 3


async def test_a_call_with_no_record_takes_the_turn_that_comes_first(async_db):
    """After an outage that lost the record (or a call that began before turns were
    named), the call's turns start from the first one that comes."""
    guard = TurnGuard(async_db)
    assert await guard.take("CA3", 4, "k4")
    assert not await guard.take("CA3", 4, "other")
    assert await guard.take("CA3", 5, "k5")


async def test_two_processes_taking_one_turn_at_once_take_it_once(async_db, mongo_uri):
    other = make_async_client(mongo_uri)
    try:
        guards = [TurnGuard(async_db), TurnGuard(other[async_db.name])]
        for turn in range(6):
            taken = await asyncio.gather(
                *(g.take("CA4", turn, f"{turn}-{i}") for i, g in enumerate(guards * 2))
            )
            assert sum(taken) == 1, (turn, taken)
    finally:
        await other.close()


async def test_an_unreachable_database_takes_the_turn(async_db):
    """The flow behind it fails on the same database, and the caller hears the apology."""

    class Away:
        def __getitem__(self, name):
            return self

        async def update_one(self, *args, **kwargs):
            raise ConnectionError("the database is away")

        create_index = update_one

    assert await TurnGuard(Away()).take("CA5", 3, None)


DELIVERY = st.tuples(st.integers(0, 4), st.sampled_from(["a", "b", "c", None]))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(deliveries=st.lists(DELIVERY, max_size=14))
async def test_any_deliveries_take_a_turn_iff_the_call_is_at_it_or_they_took_it(
    async_db, deliveries
):
    guard = TurnGuard(async_db)
    call = f"CA{uuid.uuid4().hex}"
    at, took = None, None  # the model: the call's next turn (None: no record), who took the last
    for turn, key in deliveries:
        moves = at is None or turn >= at
        expected = moves or (key is not None and turn + 1 == at and key == took)
        assert await guard.take(call, turn, key) is expected, (turn, key, at, took)
        if moves:
            at, took = turn + 1, key
