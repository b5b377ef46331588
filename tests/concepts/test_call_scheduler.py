"""CallScheduler, rule by rule (docs/concepts/CallScheduler.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from conceptkit import describe_operations
from concepts.call_scheduler import CallScheduler
from services.app.clock import FakeClock
from tests.concepts.rivalled import RivalledDatabase

NUMBER = "+15551234567"
POLICY = SimpleNamespace(retry_delay_seconds=300)  # RETRY_DELAY_SECONDS


# `clock` (FakeClock) comes from tests/concepts/conftest.py.
@pytest.fixture
async def cs(async_db, clock, encryptor) -> CallScheduler:
    services = {"clock": clock, "call_policy": POLICY, "encryption": encryptor}
    concept = CallScheduler(async_db, services)
    await concept.setup()
    return concept


def is_error(out: dict[str, Any], kind: str = "conflict") -> bool:
    return "error" in out and out["errorKind"] == kind


async def schedule(
    cs: CallScheduler, clock: FakeClock, user: str = "u1", minutes: float = 0, **kw
) -> str:
    out = await cs.scheduleCall(
        user=user,
        phoneNumber=NUMBER,
        scheduledFor=clock.now() + dt.timedelta(minutes=minutes),
        **kw,
    )
    return out["scheduledCall"]


async def state(cs: CallScheduler, call: str) -> dict[str, Any]:
    return (await cs._call(scheduledCall=call))[0]


async def claimed(cs: CallScheduler, clock: FakeClock, worker: str = "w1", **kw) -> str:
    call = await schedule(cs, clock, **kw)
    out = await cs.claimDue(worker=worker)
    assert out["scheduledCall"] == call
    return call


async def dialled(cs: CallScheduler, clock: FakeClock, **kw) -> str:
    call = await claimed(cs, clock, **kw)
    assert await cs.markDialed(scheduledCall=call, worker="w1", attempt=1) == {}
    return call


# -- scheduleCall ---------------------------------------------------------------------------


async def test_schedule_call_queues_a_pending_call(cs, clock):
    when = clock.now() + dt.timedelta(hours=2)
    call = (await cs.scheduleCall(user="u1", phoneNumber=NUMBER, scheduledFor=when, origin="now"))[
        "scheduledCall"
    ]
    s = await state(cs, call)
    assert (s["status"], s["attempts"], s["maxRetries"], s["origin"]) == ("PENDING", 0, 4, "now")
    assert (s["scheduledFor"], s["dueAt"], s["createdAt"]) == (when, when.timestamp(), clock.now())
    assert [c["scheduledCall"] for c in await cs._upcoming(user="u1")] == [call]


async def test_schedule_call_refuses_a_second_pending_call_per_user(cs, clock):
    first = await schedule(cs, clock)
    assert is_error(await cs.scheduleCall(user="u1", phoneNumber=NUMBER, scheduledFor=clock.now()))
    assert "scheduledCall" in await cs.scheduleCall(
        user="u2", phoneNumber=NUMBER, scheduledFor=clock.now()
    )
    await cs.cancel(user="u1", scheduledCall=first)
    assert "scheduledCall" in await cs.scheduleCall(
        user="u1", phoneNumber=NUMBER, scheduledFor=clock.now()
    )


async def test_concurrent_schedules_for_one_user_let_one_through(cs, clock):
    results = await asyncio.gather(
        *(
            cs.scheduleCall(user="u1", phoneNumber=NUMBER, scheduledFor=clock.now())
            for _ in range(4)
        )
    )
    assert sum("scheduledCall" in r for r in results) == 1


@pytest.mark.parametrize("bad", [0, 11, 2.5, True])
async def test_schedule_call_max_retries_is_an_integer_from_1_to_10(cs, clock, bad):
    out = await cs.scheduleCall(
        user="u1", phoneNumber=NUMBER, scheduledFor=clock.now(), maxRetries=bad
    )
    assert is_error(out, "invalid")
    spec = describe_operations(cs)["scheduleCall"]
    _, errors = spec.check_inputs(
        {
            "user": "u1",
            "phoneNumber": NUMBER,
            "scheduledFor": "2026-03-01T12:00:00Z",
            "maxRetries": bad,
        }
    )
    assert errors


async def test_schedule_call_validates_time_and_number(cs, clock):
    naive = dt.datetime(2026, 3, 1, 12, 0)
    assert is_error(
        await cs.scheduleCall(user="u1", phoneNumber=NUMBER, scheduledFor=naive), "invalid"
    )
    spec = describe_operations(cs)["scheduleCall"]
    _, errors = spec.check_inputs(
        {"user": "u1", "phoneNumber": "12345", "scheduledFor": "2026-03-01T12:00:00Z"}
    )
    assert [e["loc"] for e in errors] == [["body", "phoneNumber"]]


# -- claimDue -------------------------------------------------------------------------------


async def test_claim_due_takes_the_earliest_due_call_and_counts_the_attempt(cs, clock):
    later = await schedule(cs, clock, user="u1", minutes=-1)
    earlier = await schedule(cs, clock, user="u2", minutes=-5)
    await schedule(cs, clock, user="u3", minutes=10)  # not due yet
    out = await cs.claimDue(worker="w1", leaseSeconds=30)
    assert out == {
        "scheduledCall": earlier,
        "user": "u2",
        "phoneNumber": NUMBER,
        "attempt": 1,
        "takeover": False,
    }
    s = await state(cs, earlier)
    assert (s["status"], s["claimedBy"], s["leaseUntil"]) == (
        "DIALING",
        "w1",
        clock.now().timestamp() + 30,
    )
    assert s["lastAttemptAt"] == clock.now()
    assert (await cs.claimDue(worker="w1"))["scheduledCall"] == later
    assert is_error(await cs.claimDue(worker="w1"), "not_found")


async def test_claim_due_respects_the_given_now(cs, clock):
    call = await schedule(cs, clock, minutes=10)
    assert is_error(await cs.claimDue(worker="w1"), "not_found")
    out = await cs.claimDue(worker="w1", now=clock.now() + dt.timedelta(minutes=10))
    assert out["scheduledCall"] == call


async def test_claim_due_takes_over_an_expired_claim_with_the_same_attempt(cs, clock):
    call = await claimed(cs, clock, worker="crashed")
    assert is_error(await cs.claimDue(worker="w2"), "not_found")  # lease still valid
    clock.advance(seconds=61)
    out = await cs.claimDue(worker="w2")
    assert (out["scheduledCall"], out["attempt"], out["takeover"]) == (call, 1, True)
    s = await state(cs, call)
    assert (s["attempts"], s["claimedBy"], s["status"]) == (1, "w2", "DIALING")
    assert is_error(await cs.markDialed(scheduledCall=call, worker="crashed", attempt=1))


async def test_claim_due_never_exceeds_max_retries(cs, clock):
    call = await schedule(cs, clock, maxRetries=2)
    for attempt in (1, 2):
        out = await cs.claimDue(worker="w1")
        assert out["attempt"] == attempt
        await cs.recordMissed(scheduledCall=call, outcome="NO_ANSWER", retryDelaySeconds=0)
    s = await state(cs, call)
    assert (s["status"], s["attempts"]) == ("FAILED", 2)
    assert is_error(await cs.claimDue(worker="w1"), "not_found")


async def test_two_workers_never_claim_the_same_call(cs, clock):
    await schedule(cs, clock)
    a, b = await asyncio.gather(cs.claimDue(worker="w1"), cs.claimDue(worker="w2"))
    assert sorted("error" in r for r in (a, b)) == [False, True]


async def test_four_claimers_over_200_due_calls_claim_each_exactly_once(cs, clock):
    ids = [await schedule(cs, clock, user=f"u{i}", minutes=i / 60) for i in range(200)]
    now = clock.now() + dt.timedelta(minutes=5)  # all 200 are due

    async def claimer(worker: str) -> list[str]:
        got = []
        while "scheduledCall" in (out := await cs.claimDue(worker=worker, now=now)):
            got.append(out["scheduledCall"])
        return got

    results = await asyncio.gather(*(claimer(f"w{i}") for i in range(4)))
    everything = [c for r in results for c in r]
    assert sorted(everything) == sorted(ids)
    assert len(set(everything)) == 200
    assert await cs.collection("calls").count_documents({"status": "DIALING", "attempts": 1}) == 200


# -- markDialed / releaseClaim ------------------------------------------------------------------


async def test_mark_dialed_by_the_lease_holder_moves_to_in_progress(cs, clock):
    call = await dialled(cs, clock)
    s = await state(cs, call)
    assert (s["status"], s["leaseUntil"]) == ("IN_PROGRESS", None)
    assert (
        await cs.markDialed(scheduledCall=call, worker="w1", attempt=1) == {}
    )  # a repeat is harmless


async def test_mark_dialed_refused_for_another_worker_attempt_or_state(cs, clock):
    call = await claimed(cs, clock)
    assert is_error(await cs.markDialed(scheduledCall=call, worker="w2", attempt=1))
    assert is_error(await cs.markDialed(scheduledCall=call, worker="w1", attempt=2))
    assert (await state(cs, call))["status"] == "DIALING"
    assert is_error(await cs.markDialed(scheduledCall="nope", worker="w1", attempt=1), "not_found")
    pending = await schedule(cs, clock, user="u2", minutes=30)
    assert is_error(await cs.markDialed(scheduledCall=pending, worker="w1", attempt=1))


async def test_release_claim_returns_the_call_uncounted(cs, clock):
    call = await claimed(cs, clock)
    assert await cs.releaseClaim(scheduledCall=call, worker="w1") == {}
    s = await state(cs, call)
    assert (s["status"], s["attempts"], s["claimedBy"], s["leaseUntil"]) == (
        "PENDING",
        0,
        None,
        None,
    )
    assert (await cs.claimDue(worker="w2"))["attempt"] == 1


async def test_release_claim_only_by_the_holder_of_a_dialing_call(cs, clock):
    call = await claimed(cs, clock)
    assert is_error(await cs.releaseClaim(scheduledCall=call, worker="w2"))
    await cs.markDialed(scheduledCall=call, worker="w1", attempt=1)
    assert is_error(await cs.releaseClaim(scheduledCall=call, worker="w1"))
    assert is_error(await cs.releaseClaim(scheduledCall="nope", worker="w1"), "not_found")


async def test_release_of_a_taken_over_claim_keeps_the_attempt_counted(cs, clock):
    call = await claimed(cs, clock, worker="crashed")
    clock.advance(minutes=2)
    await cs.claimDue(worker="w2")
    await cs.releaseClaim(scheduledCall=call, worker="w2")
    assert (await cs.claimDue(worker="w3"))["attempt"] == 2  # attempt 1 may have been dialled


# -- outcomes ---------------------------------------------------------------------------------


async def test_mark_completed_ends_the_call_and_logs_the_attempt(cs, clock):
    call = await dialled(cs, clock)
    clock.advance(minutes=3)
    assert await cs.markCompleted(scheduledCall=call) == {}
    s = await state(cs, call)
    assert (s["status"], s["completedAt"], s["lastOutcome"]) == (
        "COMPLETED",
        clock.now(),
        "COMPLETED",
    )
    assert s["attemptLog"] == [
        {"attempt": 1, "at": clock.now() - dt.timedelta(minutes=3), "outcome": "COMPLETED"}
    ]
    assert await cs._upcoming(user="u1") == []


async def test_mark_completed_refused_when_pending_ended_or_unknown(cs, clock):
    pending = await schedule(cs, clock)
    assert is_error(await cs.markCompleted(scheduledCall=pending))
    await cs.claimDue(worker="w1")
    await cs.markCompleted(scheduledCall=pending)
    assert is_error(await cs.markCompleted(scheduledCall=pending))
    assert is_error(await cs.markCompleted(scheduledCall="nope"), "not_found")


async def test_record_missed_schedules_a_retry_while_attempts_remain(cs, clock):
    call = await dialled(cs, clock, maxRetries=2)
    out = await cs.recordMissed(scheduledCall=call, outcome="NO_ANSWER", retryDelaySeconds=300)
    retry_at = clock.now() + dt.timedelta(minutes=5)
    assert (out["status"], out["retryAt"], out["attemptsLeft"]) == ("PENDING", retry_at, 1)
    s = await state(cs, call)
    assert (s["status"], s["nextRetryAt"], s["dueAt"], s["lastOutcome"]) == (
        "PENDING",
        retry_at,
        retry_at.timestamp(),
        "NO_ANSWER",
    )
    assert is_error(await cs.claimDue(worker="w1"), "not_found")
    clock.advance(minutes=5)
    assert (await cs.claimDue(worker="w1"))["attempt"] == 2


async def test_record_missed_on_the_last_attempt_fails_the_call(cs, clock):
    # the original computed "retries left" from the count before the increment: one attempt too many
    call = await dialled(cs, clock, maxRetries=1)
    out = await cs.recordMissed(
        scheduledCall=call, outcome="BUSY", retryDelaySeconds=300, attempt=1
    )
    assert (out["status"], out["retryAt"], out["attemptsLeft"]) == ("FAILED", None, 0)
    s = await state(cs, call)
    assert (s["status"], s["attempts"], s["lastOutcome"]) == ("FAILED", 1, "BUSY")
    assert "BUSY" in s["errorMessage"]
    assert [e["outcome"] for e in s["attemptLog"]] == ["BUSY"]


async def test_record_missed_refused_without_an_attempt_or_for_a_stale_one(cs, clock):
    call = await dialled(cs, clock)
    await cs.recordMissed(scheduledCall=call, outcome="NO_ANSWER", retryDelaySeconds=0)
    assert is_error(
        await cs.recordMissed(scheduledCall=call, outcome="NO_ANSWER", retryDelaySeconds=0)
    )
    await cs.claimDue(worker="w1")
    stale = await cs.recordMissed(
        scheduledCall=call, outcome="NO_ANSWER", retryDelaySeconds=0, attempt=1
    )
    assert is_error(stale)
    assert (await state(cs, call))["status"] == "DIALING"
    assert is_error(
        await cs.recordMissed(scheduledCall="nope", outcome="X", retryDelaySeconds=0), "not_found"
    )


async def test_mark_failed_ends_any_non_terminal_call(cs, clock):
    pending = await schedule(cs, clock)
    assert await cs.markFailed(scheduledCall=pending, error="number disconnected") == {}
    s = await state(cs, pending)
    assert (s["status"], s["errorMessage"], s["attemptLog"]) == (
        "FAILED",
        "number disconnected",
        [],
    )
    active = await dialled(cs, clock, user="u2")
    assert is_error(await cs.markFailed(scheduledCall=active, error="x", attempt=2))
    assert await cs.markFailed(scheduledCall=active, error="x", attempt=1) == {}
    assert is_error(await cs.markFailed(scheduledCall=active, error="again"))
    assert is_error(await cs.markFailed(scheduledCall="nope", error="x"), "not_found")


# -- cancel / deleteAllFor -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "was_in_progress"), [("PENDING", False), ("DIALING", True), ("IN_PROGRESS", True)]
)
async def test_cancel_by_the_owner(cs, clock, stage, was_in_progress):
    if stage == "PENDING":
        call = await schedule(cs, clock)
    elif stage == "DIALING":
        call = await claimed(cs, clock)
    else:
        call = await dialled(cs, clock)
    assert await cs.cancel(user="u1", scheduledCall=call) == {"wasInProgress": was_in_progress}
    s = await state(cs, call)
    assert (s["status"], s["leaseUntil"]) == ("CANCELLED", None)
    assert is_error(
        await cs.claimDue(worker="w9", now=clock.now() + dt.timedelta(days=1)), "not_found"
    )


async def test_cancel_refused_for_another_user_or_an_ended_call(cs, clock):
    call = await schedule(cs, clock)
    assert is_error(await cs.cancel(user="intruder", scheduledCall=call), "not_found")
    assert (await state(cs, call))["status"] == "PENDING"
    await cs.cancel(user="u1", scheduledCall=call)
    assert is_error(await cs.cancel(user="u1", scheduledCall=call))


async def test_delete_all_for_removes_only_that_users_calls(cs, clock):
    await schedule(cs, clock, user="u1")
    keep = await schedule(cs, clock, user="u2")
    assert await cs.deleteAllFor(user="u1") == {"deleted": 1}
    assert await cs._recent(user="u1", limit=10) == []
    assert [c["scheduledCall"] for c in await cs._recent(user="u2", limit=10)] == [keep]


# -- queries --------------------------------------------------------------------------------------


async def test_for_user_and_recent_are_owner_scoped(cs, clock):
    first = await schedule(cs, clock)
    await cs.cancel(user="u1", scheduledCall=first)
    second = await schedule(cs, clock)
    assert [c["scheduledCall"] for c in await cs._recent(user="u1", limit=10)] == [second, first]
    assert [c["scheduledCall"] for c in await cs._recent(user="u1", limit=1)] == [second]
    assert (await cs._forUser(user="u1", scheduledCall=first))[0]["status"] == "CANCELLED"
    assert await cs._forUser(user="u2", scheduledCall=first) == []
    view = (await cs._forUser(user="u1", scheduledCall=second))[0]
    assert not {"claimedBy", "leaseUntil", "activeUser", "version"} & view.keys()
    assert [c["scheduledCall"] for c in await cs._upcoming(user="u1")] == [second]


async def test_missed_lists_the_users_failed_calls_newest_first_within_a_window(cs, clock):
    start = clock.now()
    days = []
    for day in range(3):  # a missed slot on each of three days, and a call that went fine
        at = start + dt.timedelta(days=day)
        out = await cs.recordMissedSlot(
            user="u1", phoneNumber=NUMBER, scheduledFor=at, reason="the service was down"
        )
        days.append(out["scheduledCall"])
    fine = await dialled(cs, clock)
    assert await cs.markCompleted(scheduledCall=fine) == {}
    await cs.recordMissedSlot(user="u2", phoneNumber=NUMBER, scheduledFor=start, reason="down")

    missed = await cs._missed(user="u1")
    assert [c["scheduledCall"] for c in missed] == days[::-1]
    assert {c["status"] for c in missed} == {"FAILED"}
    assert missed[0]["lastOutcome"] == "NOT_CALLED" and missed[0]["phoneNumber"] == NUMBER
    middle = await cs._missed(
        user="u1", before=start + dt.timedelta(days=2), after=start
    )  # both ends open
    assert [c["scheduledCall"] for c in middle] == [days[1]]
    assert [c["scheduledCall"] for c in await cs._missed(user="u1", limit=1)] == [days[2]]
    assert not {"claimedBy", "leaseUntil", "activeUser"} & missed[0].keys()


async def test_next_due_at_covers_pending_calls_and_expiring_leases(cs, clock):
    assert await cs._nextDueAt() == []
    await schedule(cs, clock, user="u1", minutes=30)
    assert await cs._nextDueAt() == [{"dueAt": clock.now().timestamp() + 1800}]
    await schedule(cs, clock, user="u2", minutes=0)
    await cs.claimDue(worker="w1", leaseSeconds=60)
    assert await cs._nextDueAt() == [{"dueAt": clock.now().timestamp() + 60}]


# -- callNow ---------------------------------------------------------------------------


async def test_call_now_queues_a_call_due_at_once(cs, clock):
    out = await cs.callNow(user="u1", phoneNumber=NUMBER)
    (row,) = await cs._upcoming(user="u1")
    assert row["scheduledCall"] == out["scheduledCall"] and row["origin"] == "now"
    claimed = await cs.claimDue(worker="w", now=clock.now())
    assert claimed["scheduledCall"] == out["scheduledCall"]


async def test_call_now_brings_the_planned_call_forward_instead_of_adding_one(cs, clock):
    planned = await schedule(cs, clock, minutes=240)
    out = await cs.callNow(user="u1", phoneNumber=NUMBER)
    assert out["scheduledCall"] == planned
    assert len(await cs._upcoming(user="u1")) == 1
    assert (await cs.claimDue(worker="w", now=clock.now()))["scheduledCall"] == planned


async def test_call_now_is_refused_while_a_call_is_under_way(cs, clock):
    await schedule(cs, clock)
    await cs.claimDue(worker="w", now=clock.now())
    assert is_error(await cs.callNow(user="u1", phoneNumber=NUMBER))


@pytest.mark.parametrize("planned", [False, True])
async def test_concurrent_call_nows_share_one_call_as_serial_ones_would(cs, clock, planned):
    """Four at once: the first queues a call (or brings the planned one forward) and
    each of the others brings that one forward, as a serial run would; a second call
    queued beside it would break "one active call per user"."""
    before = await schedule(cs, clock, minutes=240) if planned else None
    outs = await asyncio.gather(*(cs.callNow(user="u1", phoneNumber=NUMBER) for _ in range(4)))
    (call,) = {out["scheduledCall"] for out in outs}
    assert before in (None, call)
    (doc,) = await cs.collection("calls").find({"user": "u1"}).to_list(None)
    assert (doc["_id"], doc["status"], doc["origin"]) == (call, "PENDING", "now")
    assert doc["dueAt"] == clock.now().timestamp()
    assert doc["version"] == (4 if planned else 3)  # one write per callNow but a creation


async def test_call_now_that_keeps_losing_races_is_busy_and_changes_nothing(
    async_db, cs, clock, encryptor
):
    planned = await schedule(cs, clock, minutes=240)
    services = {"clock": clock, "call_policy": POLICY, "encryption": encryptor}
    losing = CallScheduler(RivalledDatabase(async_db, "CallScheduler_calls"), services)
    assert await losing.callNow(user="u1", phoneNumber=NUMBER) == {
        "error": "your calls are changing too often; try again",
        "errorKind": "unavailable",
    }
    s = await state(cs, planned)
    assert (s["scheduledFor"], s["origin"]) == (clock.now() + dt.timedelta(minutes=240), "schedule")


@pytest.mark.parametrize("bad", [0, 11, 2.5, True])
async def test_call_now_max_retries_is_an_integer_from_1_to_10(cs, bad):
    out = await cs.callNow(user="u1", phoneNumber=NUMBER, maxRetries=bad)
    assert is_error(out, "invalid") and "maxRetries" in out["error"]
    assert await cs._upcoming(user="u1") == []


async def test_a_missed_call_is_retried_after_the_configured_delay_by_default(cs, clock):
    sc = await schedule(cs, clock)
    await cs.claimDue(worker="w", now=clock.now())
    out = await cs.recordMissed(scheduledCall=sc, outcome="NO_ANSWER")
    assert out["retryAt"] == clock.now() + dt.timedelta(seconds=300)


# -- private at rest ---------------------------------------------------------------------


async def test_the_number_is_stored_only_encrypted_and_shown_to_its_owner(cs, clock, encryptor):
    call = (await cs.scheduleCall(user="u1", phoneNumber=NUMBER, scheduledFor=clock.now()))[
        "scheduledCall"
    ]
    other = "+15557654321"
    await cs.callNow(user="u1", phoneNumber=other)  # brings it forward, to the new number
    doc = await cs.collection("calls").find_one({"_id": call})
    assert NUMBER[1:] not in str(doc) and other[1:] not in str(doc)
    assert encryptor.decrypt(doc["phoneNumber"], user="u1", field="CallScheduler.phoneNumber") == (
        other
    )
    assert [r["phoneNumber"] for r in await cs._upcoming(user="u1")] == [other]
    claimed = await cs.claimDue(worker="w1", now=clock.now())
    assert claimed["phoneNumber"] == other
    ops = describe_operations(cs)
    for name in ("scheduleCall", "callNow", "claimDue", "recordMissedSlot"):
        assert "phoneNumber" in ops[name].private, name
