"""Exactly once in effect: a crash between any two writes, then recovery, leaves the state
the flow would have left without the crash; an action that raises stops the rest of its
sync and leaves the reactions owed; a live flow is never replayed under itself."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from conceptkit import ACTIONS, ConceptApp, InvocationError, plugin_manager
from tests.conceptkit.conftest import TestSealer
from tests.conceptkit.database import async_client
from tests.conceptkit.sample import Flaky, SamplePlugin
from tests.faults import FaultyDatabase, ProcessDied, Rule

GRACE = 30.0


def app_on(db: Any, *, later_by: float = 0.0) -> ConceptApp:
    """The sample app; ``later_by`` seconds ahead on the wall clock (a process started later)."""
    pm = plugin_manager(load_entry_points=False, extra=[SamplePlugin()])
    return ConceptApp(
        pm,
        db,
        services={"log_sealer": TestSealer()},
        recovery_grace_s=GRACE,
        wall_clock=lambda: time.time() + later_by,
    )


def step_id(n: int) -> str:
    """A client-chosen action id for step n (ids sort by time: a fixed 'time' per step)."""
    return f"{0x0190_0000_0000 + n:012x}7000{n:016x}"


# The scenario: each step is one root invocation with a fixed id, so that a client
# retrying a step after the crash retries *that* action (its mark makes it idempotent).
Step = Callable[[Any, str], Awaitable[Any]]


async def open_account(eng: Any, aid: str) -> Any:
    return await eng.invoke("Ledger", "open", {"owner": "ann"}, action_id=aid)


async def big_deposit(eng: Any, aid: str) -> Any:
    acct = (await eng.query("Ledger", "_accounts", {"owner": "ann"}))[0]["account"]
    return await eng.invoke(
        "Ledger", "deposit", {"owner": "ann", "account": acct, "amount": 6000}, action_id=aid
    )


async def overdraft(eng: Any, aid: str) -> Any:
    acct = (await eng.query("Ledger", "_accounts", {"owner": "ann"}))[0]["account"]
    return await eng.invoke(
        "Ledger", "withdraw", {"owner": "ann", "account": acct, "amount": 9999}, action_id=aid
    )


async def grouped_deposit(eng: Any, aid: str) -> Any:
    acct = (await eng.query("Ledger", "_accounts", {"owner": "ann"}))[0]["account"]
    return await eng.invoke(
        "Ledger",
        "deposit",
        {"owner": "ann", "account": acct, "amount": 7000},
        action_id=aid,
        flow="grouped",
        group_commit=True,
    )


async def round_trip_withdraw(eng: Any, aid: str) -> Any:
    """A withdrawal in the grouped deposit's flow: AuditRoundTrip needs both records."""
    acct = (await eng.query("Ledger", "_accounts", {"owner": "ann"}))[0]["account"]
    return await eng.invoke(
        "Ledger",
        "withdraw",
        {"owner": "ann", "account": acct, "amount": 20},
        action_id=aid,
        flow="grouped",
    )


async def three_steps(eng: Any, aid: str) -> Any:
    return await eng.invoke("Flaky", "begin", {"owner": "ann"}, action_id=aid)


SCENARIO: list[Step] = [
    open_account,
    big_deposit,
    overdraft,
    grouped_deposit,
    round_trip_withdraw,
    three_steps,
]


async def run_scenario(eng: Any, start: int = 0) -> None:
    for n, step in enumerate(SCENARIO[start:], start=start):
        await step(eng, step_id(n))
        await eng.log.flush()


async def concept_state(db: Any) -> dict[str, list[dict]]:
    """Every concept document (the log aside), in a comparable form."""
    out = {}
    for name in sorted(await db.list_collection_names()):
        if name != ACTIONS:
            out[name] = await db[name].find({}).sort("_id", 1).to_list(None)
    return out


@pytest.fixture
async def fresh_db(mongo_uri) -> AsyncIterator[Callable[[], Any]]:
    client = async_client(mongo_uri)
    names: list[str] = []

    def new() -> Any:
        names.append(f"once_{uuid.uuid4().hex[:12]}")
        return client[names[-1]]

    yield new
    for name in names:
        await client.drop_database(name)
    await client.close()


async def golden(db: Any) -> tuple[dict, int]:
    """The scenario without a crash: the state it leaves and how many writes it makes."""
    faulty = FaultyDatabase(db)
    app = app_on(faulty)
    await app.engine.start(background=False)
    writes_before = len(faulty.writes)
    await run_scenario(app.engine)
    await app.engine.close()
    return await concept_state(db), len(faulty.writes) - writes_before


async def crash_and_recover(db: Any, point: int) -> None:
    """Run the scenario on a process that dies before write ``point``; recover in a fresh one,
    which then retries the step that was under way (with its id) and the rest."""
    faulty = FaultyDatabase(db)
    app = app_on(faulty)
    await app.engine.start(background=False)
    faulty.rules.append(Rule("crash", nth=point))
    crashed_at = None
    try:
        for n, step in enumerate(SCENARIO):
            crashed_at = n
            await step(app.engine, step_id(n))
            await app.engine.log.flush()
        crashed_at = None
    except ProcessDied:
        pass
    if crashed_at is None:
        return  # the point lies past the end of the scenario
    later = app_on(db, later_by=GRACE + 1)  # a restart after the grace period
    await later.engine.start(background=False)  # recovery: owed reactions run
    await run_scenario(later.engine, crashed_at)  # the client retries the step, then goes on
    await later.engine.close()


async def test_a_crash_at_any_write_then_recovery_leaves_the_state_of_an_uncrashed_run(fresh_db):
    expected, writes = await golden(fresh_db())
    assert writes > 30, "the scenario makes enough writes to be worth enumerating"
    violations = []
    for point in range(1, writes + 1):
        db = fresh_db()
        await crash_and_recover(db, point)
        got = await concept_state(db)
        if got != expected:
            violations.append((point, _diff(expected, got)))
        if (await db[ACTIONS].find_one({"pending": True})) is not None:
            violations.append((point, "a record is still pending after recovery"))
    print(f"crash points enumerated: {writes}; violations: {len(violations)}")
    assert not violations, violations[:3]


def _diff(expected: dict, got: dict) -> str:
    for name in sorted(set(expected) | set(got)):
        if expected.get(name) != got.get(name):
            return f"{name}: expected {expected.get(name)} got {got.get(name)}"
    return "?"


async def test_an_action_that_raises_stops_its_sync_and_the_rest_runs_after_repair(fresh_db):
    db = fresh_db()
    app = app_on(db)
    await app.engine.start(background=False)
    Flaky.broken = True
    try:
        with pytest.raises(InvocationError) as raised:
            await app.engine.invoke("Flaky", "begin", {"owner": "bob"})
        assert raised.value.owed, "the cause completed; its reactions are owed"
        events = await app.engine.query("Audit", "_events", {"owner": "bob"})
        assert [e["event"] for e in events] == ["first"], "the third then-action did not run"
        await app.engine.log.flush()
        begin = await db[ACTIONS].find_one({"action": "begin"})
        assert begin["pending"] is True, "what the cause owes is still owed"
        Flaky.broken = False  # the outage is over
        later = app_on(db, later_by=GRACE + 1)
        await later.engine.start(background=False)
        events = await later.engine.query("Audit", "_events", {"owner": "bob"})
        assert [e["event"] for e in events] == ["first", "third"], "each reaction ran once"
        assert await later.engine.query("Flaky", "_steps", {"owner": "bob"}) == [{"n": 2}]
        await later.engine.log.flush()
        assert await db[ACTIONS].find_one({"pending": True}) is None
    finally:
        Flaky.broken = False


async def test_a_transient_database_error_is_retried_at_once(fresh_db):
    db = fresh_db()
    faulty = FaultyDatabase(db, [Rule("fail", matches=lambda coll, method: coll == "Audit_events")])
    app = app_on(faulty)
    await app.engine.start(background=False)
    await app.engine.invoke("Ledger", "open", {"owner": "cy"})
    events = await app.engine.query("Audit", "_events", {"owner": "cy"})
    assert [e["event"] for e in events] == ["opened"]
    assert faulty.rules[0].fired


async def test_a_replayed_action_returns_what_its_first_run_returned(fresh_db):
    """The mark is what makes it so: a second run with the same id changes nothing."""
    db = fresh_db()
    app = app_on(db)
    await app.engine.start(background=False)
    eng = app.engine
    acct = (await eng.invoke("Ledger", "open", {"owner": "di"}))["account"]
    await eng.invoke("Ledger", "deposit", {"owner": "di", "account": acct, "amount": 100})
    first = await eng.invoke(
        "Ledger", "withdraw", {"owner": "di", "account": acct, "amount": 60}, action_id="w" * 32
    )
    again = await eng.invoke(
        "Ledger", "withdraw", {"owner": "di", "account": acct, "amount": 60}, action_id="w" * 32
    )
    assert again == first == {"account": acct, "amount": 60}
    (row,) = await eng.query("Ledger", "_accounts", {"owner": "di"})
    assert row["balance"] == 40, "withdrawn once"
    other = await eng.invoke("Ledger", "withdraw", {"owner": "di", "account": acct, "amount": 60})
    assert other["error"] == "insufficient funds", "a new action decides afresh"


async def test_a_root_interrupted_before_its_write_is_recorded_as_never_having_happened(fresh_db):
    db = fresh_db()
    faulty = FaultyDatabase(
        db, [Rule("crash", matches=lambda coll, method: coll == "Ledger_accounts")]
    )
    app = app_on(faulty)
    await app.engine.start(background=False)
    with pytest.raises(ProcessDied):
        await app.engine.invoke("Ledger", "open", {"owner": "ed"})
    intent = await db[ACTIONS].find_one({"action": "open"})
    assert intent["pending"] is True and intent["outputs"] is None, "written before the write"
    later = app_on(db, later_by=GRACE + 1)
    await later.engine.start(background=False)
    await later.engine.log.flush()
    record = await db[ACTIONS].find_one({"action": "open"})
    assert record["pending"] is False
    assert record["outputs"]["error"] == "interrupted before it took effect"
    assert await later.engine.query("Ledger", "_accounts", {"owner": "ed"}) == []
    assert await later.engine.query("Audit", "_events", {"owner": "ed"}) == []


async def test_a_live_flow_past_the_grace_period_is_not_replayed_by_another_process(fresh_db):
    db = fresh_db()
    pm = plugin_manager(load_entry_points=False, extra=[SamplePlugin()])
    services = {"log_sealer": TestSealer()}
    live = ConceptApp(pm, db, services=services, recovery_grace_s=0.3)
    other = ConceptApp(pm, db, services=services, recovery_grace_s=0.3)
    async with live.running(), other.running():
        slow = asyncio.ensure_future(slow_flow(live.engine))
        await asyncio.sleep(0.9)  # three grace periods: a replay would have run by now
        replayed = await other.engine.recover()
        await slow
    assert replayed == 0, "the live process's heartbeat kept its flow claimed"
    events = await other.engine.query("Audit", "_events", {"owner": "slow"})
    assert [e["event"] for e in events] == ["opened", "viewed"], "each reaction ran once"


async def slow_flow(eng: Any) -> None:
    """A request whose reaction takes longer than the grace period (SummaryViewed: 1 s)."""
    from conceptkit import run_request

    await eng.invoke("Ledger", "open", {"owner": "slow"})
    answer = await run_request(eng, "/Bank/summary", {"currency": "EUR"}, "slow", 5)
    assert answer is not None
    await eng.settle()


async def test_a_stopped_flow_is_replayed_while_its_process_lives_on(fresh_db):
    """The heartbeat keeps only running flows claimed: a flow that stopped (an action
    raised) is left to recovery, which another process runs after the grace period."""
    db = fresh_db()
    pm = plugin_manager(load_entry_points=False, extra=[SamplePlugin()])
    services = {"log_sealer": TestSealer()}
    live = ConceptApp(pm, db, services=services, recovery_grace_s=0.3)
    other = ConceptApp(pm, db, services=services, recovery_grace_s=0.3)
    Flaky.broken = True
    try:
        async with live.running(), other.running():
            with pytest.raises(InvocationError):
                await live.engine.invoke("Flaky", "begin", {"owner": "gi"})
            Flaky.broken = False
            for _ in range(40):  # about ten grace periods at most
                events = await other.engine.query("Audit", "_events", {"owner": "gi"})
                if [e["event"] for e in events] == ["first", "third"]:
                    break
                await asyncio.sleep(0.1)
            assert [e["event"] for e in events] == ["first", "third"]
            assert await other.engine.query("Flaky", "_steps", {"owner": "gi"}) == [{"n": 2}]
    finally:
        Flaky.broken = False


async def test_a_write_whose_reply_was_lost_is_not_made_twice_by_the_retry(fresh_db):
    """A transient error after the write landed: the immediate retry finds its mark."""
    db = fresh_db()
    lost = Rule("lost_reply", matches=lambda coll, method: coll == "Ledger_accounts")
    faulty = FaultyDatabase(db, [lost])
    app = app_on(faulty)
    await app.engine.start(background=False)
    acct = (await app.engine.invoke("Ledger", "open", {"owner": "hu"}))["account"]
    assert lost.fired
    (row,) = await app.engine.query("Ledger", "_accounts", {"owner": "hu"})
    assert row["account"] == acct
    lost2 = Rule("lost_reply", matches=lambda coll, method: coll == "Ledger_accounts")
    faulty.rules.append(lost2)
    out = await app.engine.invoke(
        "Ledger", "deposit", {"owner": "hu", "account": acct, "amount": 70}
    )
    assert lost2.fired and out == {"account": acct, "amount": 70}
    (row,) = await app.engine.query("Ledger", "_accounts", {"owner": "hu"})
    assert row["balance"] == 70, "deposited once"
