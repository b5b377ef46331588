"""Crash-point enumeration (the approach of FoundationDB's simulation testing).

For each flow, a run without a crash counts the flow's database writes; each is a
crash point. The flow is then run again for every point, with the process dying
just before that write; a new process starts on the same database (it replays
what the dead one owed), the world goes on (the provider, the user retrying, time
passing), and the outcome is checked against what must always hold:

- every owed reaction ran: no record is still pending;
- no user is stuck: no call, scheduled call or reflection left in progress, and
  "call me now" works;
- no double dial: at most one provider call per call of ours, and no more calls
  than attempts;
- no acknowledged answer lost: each answer the service moved on from is kept;
- a call that ended in a goodbye left a completed reflection;
- all of it by the engine alone (recovery and effect marks): the process restarts at
  once here, so every event but the one in flight at the crash reaches the service,
  and the reconciler, run half an hour later, must find nothing to repair. Only a
  status callback lost with the dying server (Twilio does not retry it) is left to
  the reconciler, as in production.

Deterministic: the n-th write is the same write on every run (see crash_world), so
a failure names the flow and the point, and ``CRASH_POINT=flow:n`` reruns just it.
``CRASH_POINTS=all`` enumerates every point. To fit ``make test``, the default run takes
the first and last point of each flow and an even spread between them, every point of
a short flow; the spread moves on by one point each day (``CRASH_SEED``, by default the
day's number), so successive runs cover every point of the longer flows in turn, as a
simulation tester runs new seeds, while any one run is repeatable from its seed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import httpx
import pytest

from conceptkit import ACTIONS
from services.devtools.call_player import Silence
from services.devtools.callees import BusyCallee, ScriptedCallee, VoicemailCallee
from syncs.wording import GOODBYE
from tests.api_client import PASSWORD
from tests.app.crash_world import World, flow_write, world_of
from tests.faults import Rule
from tests.oracle import lost_answers

ANSWERS = ["A quiet morning.", "A long walk in the park.", "Rest more tomorrow."]
TWO_PART = [["I was grateful for", "my sister's call."], "Tea in the garden.", "Sleep early."]
SAMPLE = 6  # crash points per flow in a default run (all of a flow that has fewer)


async def user(action: Callable[[], Awaitable[Any]]) -> Any:
    """The user's request; if the server died under it, they press again."""
    for _ in range(3):
        try:
            return await action()
        except httpx.TransportError:
            continue
    raise AssertionError("the user's request kept failing")


async def call_now(world: World, token: str) -> None:
    await user(lambda: world.api("Calls/now", {}, token, expect=None))


async def a_call(world: World, token: str) -> None:
    await call_now(world, token)
    await world.dial_due()
    await world.play_all(world.callee)


async def retried_until_failed(world: World, token: str) -> None:
    await call_now(world, token)
    for _ in range(2):
        await world.dial_due()
        await world.play_all(world.callee)


async def cancel(world: World, token: str) -> None:
    upcoming = await user(lambda: world.api("CallScheduler/_upcoming", {}, token))
    for row in upcoming:
        body = {"scheduledCall": row["scheduledCall"]}
        await user(lambda b=body: world.api("CallScheduler/cancel", b, token, expect=None))


async def cancel_while_ringing(world: World, token: str) -> None:
    await call_now(world, token)
    await world.dial_due()
    await cancel(world, token)
    await world.play_all(world.callee)


async def start_typing(world: World, token: str) -> str:
    """Start a typed reflection (or find the one a retried request already started)."""
    started = await user(lambda: world.api("Reflection/startText", {}, token, expect=None))
    if "session" in started:
        return started["session"]
    return (await world.api("ReflectionSession/_active", {}, token))[0]["session"]


async def typed(world: World, token: str) -> None:
    session = await start_typing(world, token)
    for position, text in enumerate(ANSWERS, 1):
        body = {"session": session, "position": position, "text": text}
        await user(
            lambda b=body: world.api("ReflectionSession/recordResponse", b, token, expect=None)
        )
    body = {"session": session}
    await user(lambda: world.api("ReflectionSession/completeSession", body, token, expect=None))


async def call_with_typed_open(world: World, token: str) -> None:
    session = await start_typing(world, token)
    body = {"session": session, "position": 1, "text": ANSWERS[0]}
    await user(lambda: world.api("ReflectionSession/recordResponse", body, token, expect=None))
    await a_call(world, token)


async def delete_account(world: World, token: str) -> None:
    body = {"password": PASSWORD}
    for _ in range(3):
        try:
            r = await world.http.post(
                "/api/Account/delete", json=body, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.TransportError:
            continue
        if r.status_code in (200, 401):
            return


async def daily_advance(world: World, token: str) -> None:
    world.clock.advance(seconds=40)  # the planned 15:01 is within the worker's lead
    await world.step(lambda p: p.worker.plan_due())
    world.clock.advance(seconds=25)
    await world.dial_due()
    await world.play_all(world.callee)


async def schedule_for_1501(world: World, token: str) -> None:
    await world.api("Schedule/setDaily", {"timezone": "UTC", "time": "15:01"}, token)


async def one_full_call_first(world: World, token: str) -> None:
    await a_call(world, token)
    await world.finish(world.callee, rounds=1)


async def sign_up_through_crashes(world: World, _: str) -> str:
    """Register, log in and make a profile, pressing again on errors; then verify the number."""
    who = {"username": "crashproof", "password": PASSWORD}
    await user(lambda: world.api("Accounts/register", who, expect=None))
    token = (await user(lambda: world.api("Accounts/login", who)))["token"]
    profile = {"displayName": "Ada", "phoneNumber": "+14155550142", "timezone": "UTC"}
    await user(lambda: world.api("Profile/createProfile", profile, token, expect=None))
    # (verifying the number is enumerated no further: its text message is at most once)
    (await world.alive()).faults.rules.clear()
    number = {"phoneNumber": "+14155550142"}
    await user(lambda: world.api("PhoneVerification/start", number, token, expect=None))
    code = re.search(r"\d{6}", world.telephony.messages[-1].body).group(0)
    await user(lambda: world.api("PhoneVerification/confirm", {"code": code}, token, expect=None))
    return token


async def has_its_prompts(world: World, token: str) -> list[str]:
    prompts = await world.api("Prompts/_prompts", {}, token)
    return [] if len(prompts) == 3 else [f"the new account has {len(prompts)} prompts, not 3"]


class CancellingCallee(ScriptedCallee):
    """Answers the first prompt, then cancels the call from the web app while on it."""

    def __init__(self, world: World, token: str) -> None:
        super().__init__([ANSWERS[0]])
        self.world, self.token = world, token

    async def respond(self, ctx: Any) -> Any:
        if not self.script and not getattr(self, "cancelled", False):
            # The user's request runs in the server, not in this caller's task: when the
            # hang-up it causes ends this listen, the request itself must go on.
            self.cancelled = asyncio.ensure_future(cancel(self.world, self.token))
            await asyncio.shield(self.cancelled)
            return Silence()
        return await super().respond(ctx)


@attrs.frozen
class Flow:
    name: str
    run: Callable[[World, str], Awaitable[str | None]]
    callee: Callable[[World, str], Any] = lambda world, token: ScriptedCallee(ANSWERS)
    profile: dict[str, Any] = attrs.Factory(dict)
    setup: Callable[[World, str], Awaitable[None]] | None = None
    account_remains: bool = True
    signed_up: bool = True  # False: the flow signs the user up itself (and returns the token)
    check: Callable[[World, str], Awaitable[list[str]]] | None = None


FLOWS = [
    Flow("full call", a_call),
    Flow("two-part answer", a_call, callee=lambda w, t: ScriptedCallee(TWO_PART)),
    Flow("missed, retried, then failed", retried_until_failed, lambda w, t: BusyCallee(), {"maxRetries": 2}),
    Flow("voicemail", a_call, lambda w, t: VoicemailCallee(), {"maxRetries": 1}),
    Flow("cancel while ringing", cancel_while_ringing),
    Flow("cancel during the call", a_call, callee=lambda w, t: CancellingCallee(w, t)),
    Flow("typed reflection", typed),
    Flow("call now with a typed reflection open", call_with_typed_open,
         callee=lambda w, t: ScriptedCallee(ANSWERS[1:])),
    Flow("account deletion", delete_account, setup=one_full_call_first, account_remains=False),
    Flow("the schedule's daily advance", daily_advance, setup=schedule_for_1501),
    Flow("sign-up", sign_up_through_crashes, signed_up=False, check=has_its_prompts),
]  # fmt: skip


async def prepare(world: World, flow: Flow) -> str:
    token = await world.sign_up(**flow.profile) if flow.signed_up else ""
    world.callee = lambda: flow.callee(world, token)
    if flow.setup is not None:
        await flow.setup(world, token)
    return token


async def crash_at(mongo_uri: str, flow: Flow, point: int | None) -> tuple[int, list[str]]:
    """Run the flow with the process dying just before its ``point``-th write (``None``: no
    crash), let the world finish, and check it; returns (the writes the flow made before
    finishing, what was found wrong). Run without a crash, the count is the flow's crash
    points."""
    async with world_of(mongo_uri) as world:
        token = await prepare(world, flow)
        rule = Rule("crash", nth=10**9 if point is None else point, matches=flow_write)
        world.process.faults.rules.append(rule)
        token = await flow.run(world, token) or token
        await world.step(lambda p: p.engine.settle())
        writes = rule.seen
        await world.finish(world.callee)
        if lost_callbacks(world):
            # A callback that died with the server is lost for good (Twilio does not
            # retry it): finding out what it said is the reconciler's job.
            await world.reconcile_later()
            await world.finish(world.callee, rounds=1)
        found = await violations(world, token, flow)
        if flow.check is not None:
            found += await flow.check(world, token)
        repaired = await world.reconcile_later()
        if repaired:
            found.append(f"the engine left the reconciler to repair {repaired}")
        return writes, found


def lost_callbacks(world: World) -> list[str]:
    """Status callbacks the provider could not deliver (the server died under them)."""
    return [
        w.params.get("CallStatus", "")
        for result in world.results.values()
        for w in result.webhooks_of("status")
        if w.status_code is None
    ]


async def violations(world: World, token: str, flow: Flow) -> list[str]:
    db = world.process.engine.db
    found = []
    if n := await db[ACTIONS].count_documents({"pending": True}):
        found.append(f"{n} record(s) still owe reactions")
    if live := await db["PhoneCall_calls"].find({"activeUser": {"$exists": True}}).to_list(None):
        found.append(f"calls still live: {[c['status'] for c in live]}")
    if (
        active := await db["CallScheduler_calls"]
        .find({"activeUser": {"$exists": True}})
        .to_list(None)
    ):
        found.append(
            f"scheduled calls still active: {[(c['status'], c['attempts']) for c in active]}"
        )
    if open_ := await db["ReflectionSession_sessions"].count_documents({"status": "IN_PROGRESS"}):
        found.append(f"{open_} reflection(s) still in progress")
    found += await double_dials(world)
    if flow.account_remains:
        found += await answers_kept(world, token)
        r = await world.http.post(
            "/api/Calls/now", json={}, headers={"Authorization": f"Bearer {token}"}
        )
        if r.status_code != 200:
            found.append(f"'call me now' answers {r.status_code} {r.text}")
    else:
        for name in (
            "ReflectionSession_sessions",
            "ReflectionSession_searchIndex",
            "PhoneCall_calls",
            "CallScheduler_calls",
            "Profile_profiles",
        ):
            if await db[name].count_documents({}):
                found.append(f"{name} still holds the deleted user's data")
    return found


async def double_dials(world: World) -> list[str]:
    db = world.process.engine.db
    per_call: dict[str, int] = {}
    for placed in world.telephony.calls:
        ours = re.search(r"call=([0-9a-f]+)", placed.answer_url).group(1)
        per_call[ours] = per_call.get(ours, 0) + 1
    found = [f"call {c} was dialled {n} times" for c, n in per_call.items() if n > 1]
    for scheduled in await db["CallScheduler_calls"].find({}).to_list(None):
        calls = await db["PhoneCall_calls"].find({"scheduledCall": scheduled["_id"]}).to_list(None)
        dialled = sum(per_call.get(c["_id"], 0) for c in calls)
        if dialled > scheduled["attempts"]:
            found.append(f"{dialled} calls placed for {scheduled['attempts']} attempt(s)")
    return found


async def answers_kept(world: World, token: str) -> list[str]:
    history = await world.api("ReflectionSession/_history", {}, token)
    results = list(world.results.values())
    found = [f"the acknowledged answer {a!r} was lost" for a in lost_answers(results, history)]
    for result in results:
        if GOODBYE in result.said and not any(s["status"] == "COMPLETED" for s in history):
            found.append("the caller heard goodbye but no reflection was completed")
    return found


def crash_seed() -> int:
    """Which spread of crash points this run takes (``CRASH_SEED``; by default, the day's)."""
    return int(os.environ.get("CRASH_SEED") or dt.date.today().toordinal())


def points_to_try(flow: Flow, writes: int, seed: int) -> list[int]:
    only = os.environ.get("CRASH_POINT", "")
    if only:
        name, _, point = only.rpartition(":")
        return [int(point)] if name == flow.name else []
    if os.environ.get("CRASH_POINTS") == "all" or writes <= SAMPLE:
        return list(range(1, writes + 1))
    return spread(writes, SAMPLE, seed)


def spread(writes: int, sample: int, seed: int) -> list[int]:
    """The first and last write and ``sample`` more evenly spaced, shifted by ``seed``: the
    ``ceil(writes / sample)`` successive seeds between them take every write at least once."""
    step = writes / sample
    shift = seed % math.ceil(step)
    return sorted({1, writes, *(min(writes, 1 + shift + int(i * step)) for i in range(sample))})


def test_successive_seeds_cover_every_crash_point():
    for writes in (SAMPLE + 1, 38, 102, 108):
        days = range(math.ceil(writes / SAMPLE))
        covered = set().union(*(spread(writes, SAMPLE, seed) for seed in days))
        assert covered == set(range(1, writes + 1)), writes
        assert all(len(spread(writes, SAMPLE, seed)) <= SAMPLE + 2 for seed in days)


@pytest.mark.slow
@pytest.mark.timeout(900)  # a run per crash point: minutes on a busy machine
@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
async def test_a_crash_at_any_write_leaves_no_one_stuck_and_nothing_lost(mongo_uri, flow):
    writes, problems = await crash_at(mongo_uri, flow, None)
    assert writes > 5, f"{flow.name}: the flow makes writes"
    assert problems == [], "the flow itself is sound"
    failures = {}
    seed = crash_seed()
    tried = points_to_try(flow, writes, seed)
    for point in tried:
        _, problems = await crash_at(mongo_uri, flow, point)
        if problems:
            failures[point] = problems
    print(
        f"{flow.name}: {writes} crash points, {len(tried)} tried (CRASH_SEED={seed}), "
        f"{len(failures)} with violations"
    )
    assert not failures, "\n".join(
        f"CRASH_POINT='{flow.name}:{p}': {'; '.join(v)}" for p, v in sorted(failures.items())
    )
