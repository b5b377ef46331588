"""CallScheduler against a simple model, with a fake clock (docs/concepts/CallScheduler.md).

Every action's success or failure must match the model; a call is claimable
exactly when the model says; two concurrent claims never take the same call;
attempts never exceed maxRetries; terminal states stay terminal; at most one
active call per user.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from concepts.call_scheduler import ACTIVE, ATTEMPTING, TERMINAL, CallScheduler
from services.app.clock import FakeClock
from services.encryption.keys import Encryptor
from tests.concepts.loop_harness import Harness

USERS = ("u1", "u2", "u3")
WORKERS = ("w1", "w2")
LEASE = 60.0


class Model:
    def __init__(self, call: str, user: str, due: float, max_retries: int) -> None:
        self.call = call
        self.user = user
        self.status = "PENDING"
        self.attempts = 0
        self.max_retries = max_retries
        self.due = due
        self.claimed_by: str | None = None
        self.lease_until: float | None = None
        self.takeover = False


class CallSchedulerMachine(RuleBasedStateMachine):
    harness: Harness

    def __init__(self) -> None:
        super().__init__()
        self.db_name = f"machine_{uuid.uuid4().hex[:12]}"
        self.clock = FakeClock()
        self.cs = CallScheduler(
            self.harness.client[self.db_name],
            {
                "clock": self.clock,
                "call_policy": SimpleNamespace(retry_delay_seconds=300),
                "encryption": Encryptor([("k1", bytes(32))]),
            },
        )
        self.run(self.cs.setup())
        self.calls: dict[str, Model] = {}

    def run(self, coro: Any) -> Any:
        return self.harness.run(coro)

    def teardown(self) -> None:
        self.run(self.harness.client.drop_database(self.db_name))

    # -- model ---------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now().timestamp()

    def active(self, user: str) -> list[Model]:
        return [m for m in self.calls.values() if m.user == user and m.status in ACTIVE]

    def takeovers(self) -> list[Model]:
        return [
            m for m in self.calls.values() if m.status == "DIALING" and m.lease_until <= self.now()
        ]

    def due_pending(self) -> list[Model]:
        return [
            m
            for m in self.calls.values()
            if m.status == "PENDING" and m.due <= self.now() and m.attempts < m.max_retries
        ]

    def claimable(self) -> list[Model]:
        """What the next claim may take: an expired claim first, else the earliest due PENDING call."""
        for group in (self.takeovers(), self.due_pending()):
            if group:
                first = min(m.due for m in group)
                return [m for m in group if m.due == first]
        return []

    def apply_claim(self, m: Model, worker: str, out: dict[str, Any]) -> None:
        m.takeover = m.status == "DIALING"
        if not m.takeover:
            m.attempts += 1
        m.status, m.claimed_by, m.lease_until = "DIALING", worker, self.now() + LEASE
        assert (out["attempt"], out["takeover"], out["user"]) == (m.attempts, m.takeover, m.user)

    def finish(self, m: Model, status: str) -> None:
        m.status, m.lease_until = status, None

    def check(self, out: dict[str, Any], ok: bool) -> None:
        assert ("error" not in out) == ok, out

    def pick(self, data: st.DataObject) -> Model:
        return data.draw(st.sampled_from([self.calls[c] for c in sorted(self.calls)]))

    # -- model-checked steps --------------------------------------------------------------

    def do_schedule(self, user: str, minutes: int, max_retries: int) -> None:
        when = self.clock.now() + dt.timedelta(minutes=minutes)
        out = self.run(
            self.cs.scheduleCall(
                user=user, phoneNumber="+15550001111", scheduledFor=when, maxRetries=max_retries
            )
        )
        ok = not self.active(user)
        self.check(out, ok)
        if ok:
            self.calls[out["scheduledCall"]] = Model(
                out["scheduledCall"], user, when.timestamp(), max_retries
            )

    def do_claim(self, worker: str) -> Model | None:
        expected = self.claimable()
        out = self.run(self.cs.claimDue(worker=worker, leaseSeconds=LEASE))
        if not expected:
            assert out.get("errorKind") == "not_found", out
            return None
        assert out["scheduledCall"] in {m.call for m in expected}, out
        m = self.calls[out["scheduledCall"]]
        self.apply_claim(m, worker, out)
        return m

    def do_dial(self, m: Model, worker: str, attempt: int) -> None:
        ok = m.claimed_by == worker and m.attempts == attempt and m.status in ATTEMPTING
        self.check(
            self.run(self.cs.markDialed(scheduledCall=m.call, worker=worker, attempt=attempt)), ok
        )
        if ok:
            m.status, m.lease_until = "IN_PROGRESS", None

    def do_release(self, m: Model, worker: str) -> None:
        ok = m.status == "DIALING" and m.claimed_by == worker
        self.check(self.run(self.cs.releaseClaim(scheduledCall=m.call, worker=worker)), ok)
        if ok:
            if not m.takeover:
                m.attempts -= 1
            m.status, m.claimed_by, m.lease_until = "PENDING", None, None

    def do_complete(self, m: Model) -> None:
        ok = m.status in ATTEMPTING
        self.check(self.run(self.cs.markCompleted(scheduledCall=m.call)), ok)
        if ok:
            self.finish(m, "COMPLETED")

    def do_missed(self, m: Model, delay: int, attempt: int | None) -> None:
        ok = m.status in ATTEMPTING and attempt in (None, m.attempts)
        out = self.run(
            self.cs.recordMissed(
                scheduledCall=m.call, outcome="NO_ANSWER", retryDelaySeconds=delay, attempt=attempt
            )
        )
        self.check(out, ok)
        if not ok:
            return
        if m.attempts < m.max_retries:
            m.status, m.due, m.claimed_by, m.lease_until = "PENDING", self.now() + delay, None, None
            assert (out["status"], out["attemptsLeft"]) == ("PENDING", m.max_retries - m.attempts)
        else:
            self.finish(m, "FAILED")
            assert (out["status"], out["retryAt"], out["attemptsLeft"]) == ("FAILED", None, 0)

    # -- rules ---------------------------------------------------------------------------

    @initialize(
        minutes=st.lists(st.sampled_from((-1, 0, 2)), min_size=3, max_size=3),
        max_retries=st.integers(1, 3),
    )
    def schedule_everyone(self, minutes: list[int], max_retries: int) -> None:
        for user, offset in zip(USERS, minutes, strict=True):
            self.do_schedule(user, offset, max_retries)

    @rule(data=st.data(), steps=st.integers(1, 8))
    def work(self, data: st.DataObject, steps: int) -> None:
        """A worker's life in a few steps: claim, dial, hear the outcome, let time pass, crash."""
        for _ in range(steps):
            move = data.draw(
                st.sampled_from(
                    ("claim", "claim", "dial", "outcome", "time", "schedule", "release")
                )
            )
            worker = data.draw(st.sampled_from(WORKERS))
            mine = [
                m for m in self.calls.values() if m.claimed_by == worker and m.status in ATTEMPTING
            ]
            if move == "claim":
                self.do_claim(worker)
            elif move == "time":
                self.clock.advance(seconds=data.draw(st.sampled_from((30, 61, 300))))
            elif move == "schedule":
                self.do_schedule(data.draw(st.sampled_from(USERS)), 0, data.draw(st.integers(1, 3)))
            elif mine and move == "dial":
                self.do_dial(mine[0], worker, mine[0].attempts)
            elif mine and move == "release":
                self.do_release(mine[0], worker)
            elif mine:
                if data.draw(st.booleans()):
                    self.do_missed(mine[0], data.draw(st.sampled_from((0, 60))), mine[0].attempts)
                else:
                    self.do_complete(mine[0])

    @rule(user=st.sampled_from(USERS), minutes=st.integers(-5, 30), max_retries=st.integers(1, 3))
    def schedule(self, user: str, minutes: int, max_retries: int) -> None:
        self.do_schedule(user, minutes, max_retries)

    @rule(seconds=st.sampled_from((0, 20, 61, 300, 1800)))
    def advance_clock(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    @rule(worker=st.sampled_from(WORKERS))
    def claim(self, worker: str) -> None:
        self.do_claim(worker)

    @rule()
    def claim_concurrently(self) -> None:
        candidates = {m.call for m in self.takeovers() + self.due_pending()}

        async def both() -> list[dict[str, Any]]:
            return await asyncio.gather(
                *(self.cs.claimDue(worker=w, leaseSeconds=LEASE) for w in WORKERS)
            )

        results = self.run(both())
        won = [(w, r) for w, r in zip(WORKERS, results, strict=True) if "scheduledCall" in r]
        assert len(won) == min(2, len(candidates))
        assert len({r["scheduledCall"] for _, r in won}) == len(won)  # never the same call twice
        for worker, r in won:
            assert r["scheduledCall"] in candidates
            self.apply_claim(self.calls[r["scheduledCall"]], worker, r)

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), worker=st.sampled_from(WORKERS), offset=st.sampled_from((0, 0, 1)))
    def mark_dialed(self, data: st.DataObject, worker: str, offset: int) -> None:
        m = self.pick(data)
        self.do_dial(m, worker, max(1, m.attempts + offset))

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), worker=st.sampled_from(WORKERS))
    def release_claim(self, data: st.DataObject, worker: str) -> None:
        self.do_release(self.pick(data), worker)

    @precondition(lambda self: self.calls)
    @rule(data=st.data())
    def mark_completed(self, data: st.DataObject) -> None:
        self.do_complete(self.pick(data))

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), delay=st.sampled_from((0, 60, 600)), stale=st.sampled_from((None, 0, -1)))
    def record_missed(self, data: st.DataObject, delay: int, stale: int | None) -> None:
        m = self.pick(data)
        self.do_missed(m, delay, None if stale is None else max(1, m.attempts + stale))

    @precondition(lambda self: self.calls)
    @rule(data=st.data())
    def mark_failed(self, data: st.DataObject) -> None:
        m = self.pick(data)
        ok = m.status not in TERMINAL
        self.check(self.run(self.cs.markFailed(scheduledCall=m.call, error="gave up")), ok)
        if ok:
            self.finish(m, "FAILED")

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), owner=st.booleans())
    def cancel(self, data: st.DataObject, owner: bool) -> None:
        m = self.pick(data)
        user = m.user if owner else "intruder"
        ok = owner and m.status not in TERMINAL
        out = self.run(self.cs.cancel(user=user, scheduledCall=m.call))
        self.check(out, ok)
        if ok:
            assert out["wasInProgress"] == (m.status in ATTEMPTING)
            self.finish(m, "CANCELLED")

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def matches_model(self) -> None:
        docs = {d["_id"]: d for d in self.run(self.cs.collection("calls").find({}).to_list(None))}
        assert docs.keys() == self.calls.keys()
        for call, m in self.calls.items():
            d = docs[call]
            assert (d["status"], d["attempts"]) == (m.status, m.attempts)
            assert 0 <= d["attempts"] <= d["maxRetries"]
            assert d["attemptsLeft"] == d["maxRetries"] - d["attempts"]
            assert (d.get("activeUser") is not None) == (m.status in ACTIVE)
            if m.status in ("PENDING", "DIALING"):
                assert d["dueAt"] == pytest.approx(m.due)
            if m.status == "DIALING":
                assert (d["claimedBy"], d["leaseUntil"]) == (
                    m.claimed_by,
                    pytest.approx(m.lease_until),
                )
        for user in USERS:
            assert sum(1 for d in docs.values() if d["user"] == user and d["status"] in ACTIVE) <= 1

    @invariant()
    def next_due_matches_model(self) -> None:
        times = [
            m.due
            for m in self.calls.values()
            if m.status == "PENDING" and m.attempts < m.max_retries
        ]
        times += [m.lease_until for m in self.calls.values() if m.status == "DIALING"]
        got = self.run(self.cs._nextDueAt())
        assert got == ([{"dueAt": pytest.approx(min(times))}] if times else [])


def test_call_scheduler_state_machine(harness: Harness) -> None:
    CallSchedulerMachine.harness = harness
    run_state_machine_as_test(
        CallSchedulerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
