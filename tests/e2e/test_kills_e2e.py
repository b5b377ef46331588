"""Real processes killed at random moments of a live call, then restarted at once.

The server (and in half the trials the worker too) gets SIGKILL while the stand-in
plays a call against it. The stand-in then behaves as Twilio does: a webhook that
cannot reach the server ends the call with "an application error has occurred",
and the status callback of that end is lost too. Once restarted, the service must
free the user by itself (the worker's reconciler asks the provider about a call
that went quiet), so that:

- the user can be called again ("call me now" answers 200), within the bound of
  docs/invariants.md: here the limits are seconds, so the wait is generous;
- every answer the service acknowledged before the kill is kept.

The trials are seeded: a failure names its trial and reruns the same schedule.
"""

from __future__ import annotations

import random
import signal
import time

import pytest

from services.devtools.call_player import Utterance
from services.devtools.callees import ScriptedCallee
from tests.e2e.conftest import Stack
from tests.oracle import lost_answers

pytestmark = pytest.mark.slow

TRIALS = 8
ANSWERS = ["A quiet morning by the sea.", "A long walk in the park.", "Rest more tomorrow."]
QUICK = {
    "RECOVERY_GRACE_SECONDS": "1",
    "RECONCILE_EVERY_SECONDS": "0.5",
    "RECONCILE_SETTLE_SECONDS": "2",
    "WORKER_LEASE_SECONDS": "3",
    "RETRY_DELAY_SECONDS": "30",
}


def talker() -> ScriptedCallee:
    """A caller who takes a moment before each answer, so a kill lands mid-call."""
    return ScriptedCallee([Utterance(a, pause_before_s=0.6) for a in ANSWERS])


def kill(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def can_be_called_again(stack: Stack, token: str) -> bool:
    r = stack.http.post("/api/Calls/now", json={}, headers={"Authorization": f"Bearer {token}"})
    if r.status_code != 200:
        return False
    stack.api("CallScheduler/cancel", {"scheduledCall": r.json()["scheduledCall"]}, token)
    return True


def trial(stack: Stack, rng: random.Random, n: int, both: bool) -> tuple:
    """One call killed at a random moment; returns (trial, killed, call cut, user free,
    answers lost)."""
    phone = f"+1415555{300 + n:04d}"
    token = stack.sign_up(phone)
    stack.standin.callee_for(phone, talker())
    done_before = len(stack.standin.results)
    stack.api("Calls/now", {}, token)
    stack.wait_until(lambda: stack.standin.live_calls(), 30, "the call to be live")
    time.sleep(rng.uniform(0.1, 1.6))
    kill(stack.server)
    if both:
        kill(stack.workers[-1])
    time.sleep(rng.uniform(0.0, 0.5))
    stack.start_server()
    if both:
        stack.start_worker()
    try:
        stack.wait_until(lambda: can_be_called_again(stack, token), 120, "a free user")
        freed = True
    except AssertionError:
        freed = False
    stack.wait_until(lambda: len(stack.standin.results) > done_before, 30, "the call's end")
    results = stack.standin.results[done_before:]
    history = stack.api("ReflectionSession/_history", {}, token)
    cut = any(r.application_error for r in results)
    return n, "server+worker" if both else "server", cut, freed, lost_answers(results, history)


@pytest.mark.timeout(900)  # eight trials of real processes: minutes on a busy machine
@pytest.mark.parametrize("stack", [QUICK], indirect=True)
def test_killing_the_server_or_the_worker_mid_call_leaves_no_one_stuck(stack: Stack):
    rng = random.Random(20261201)
    stack.standin.configure(sleep=_real_sleep)
    outcomes = [trial(stack, rng, n, both=n % 2 == 1) for n in range(TRIALS)]
    print("kill trials (trial, killed, call cut, user free, answers lost):", outcomes)
    assert sum(o[2] for o in outcomes) >= TRIALS // 2, f"too few kills cut a call: {outcomes}"
    stuck = [o for o in outcomes if not o[3]]
    lost = [o for o in outcomes if o[4]]
    assert not stuck, f"{len(stuck)} of {TRIALS} trials left the user stuck: {stuck}"
    assert not lost, f"acknowledged answers lost: {lost}"


async def _real_sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
