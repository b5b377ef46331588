"""End to end with real processes: the worker dials through the real Twilio client, the
stand-in plays the call against the server with signed webhooks."""

from __future__ import annotations

import random
import signal
import time

import httpx
import pytest

from services.devtools.callees import (
    BusyCallee,
    HangUpAfter,
    InteractiveCallee,
    NoAnswerCallee,
    ScriptedCallee,
    VoicemailCallee,
)
from services.webhooks.signature import sign_twilio_request
from tests.e2e.conftest import AUTH_TOKEN, PUBLIC, Stack

pytestmark = pytest.mark.slow

ANSWERS = [
    ["I was grateful for", "my sister's call."],
    "A long walk in the park.",
    "Rest more tomorrow.",
]


def history(stack: Stack, token: str) -> list[dict]:
    return stack.api("ReflectionSession/_history", {}, token)


def scheduled(stack: Stack, token: str, sc: str) -> dict:
    return next(
        r for r in stack.api("CallScheduler/_recent", {}, token) if r["scheduledCall"] == sc
    )


def test_a_full_call_with_real_processes(stack: Stack):
    phone = "+14155550101"
    token = stack.sign_up(phone, namePronunciation="Gray-ss")
    stack.standin.callee_for(phone, ScriptedCallee(ANSWERS))
    sc = stack.api("Calls/now", {}, token)["scheduledCall"]
    created = stack.wait_until(
        lambda: [r for r in stack.standin.state.requests if r.endpoint == "calls.create"],
        30,
        "the dial",
    )
    assert len(created) == 1, "dialled once"  # how soon is measured in bench/, not asserted
    (result,) = stack.standin.wait_for_calls_sync(1, timeout=30)
    assert result.final_status == "completed", (result.errors, result.notes)
    assert result.said[0] == "Hi Gray-ss. It's time for your daily reflection."
    assert result.said[-1].startswith("Thank you for reflecting")

    def done():
        rows = history(stack, token)
        return rows and rows[0]["status"] == "COMPLETED" and rows[0]["hasRecording"] and rows

    (session,) = stack.wait_until(done, 20, "the session to complete with its recording")
    assert [p["answer"] for p in session["prompts"]] == [
        "I was grateful for my sister's call.",
        "A long walk in the park.",
        "Rest more tomorrow.",
    ]
    assert "recordingUrl" not in session  # the provider's URL stays in the service
    assert scheduled(stack, token, sc)["status"] == "COMPLETED"


def test_a_busy_callee_is_called_again_and_then_reached(stack: Stack):
    phone = "+14155550102"
    token = stack.sign_up(phone)
    stack.standin.callee_for(phone, BusyCallee(), ScriptedCallee(["Tea.", "Reading.", "Sleep."]))
    sc = stack.api("Calls/now", {}, token)["scheduledCall"]
    results = stack.standin.wait_for_calls_sync(2, timeout=40)
    assert [r.final_status for r in results] == ["busy", "completed"]
    stack.wait_until(lambda: scheduled(stack, token, sc)["status"] == "COMPLETED", 20, "completion")
    assert scheduled(stack, token, sc)["attempts"] == 2


def test_hanging_up_midway_keeps_the_answers_and_is_not_retried(stack: Stack):
    phone = "+14155550103"
    token = stack.sign_up(phone)
    stack.standin.callee_for(phone, HangUpAfter(1, answers=["The sunshine."]))
    sc = stack.api("Calls/now", {}, token)["scheduledCall"]
    stack.standin.wait_for_calls_sync(1, timeout=30)
    rows = stack.wait_until(
        lambda: (h := history(stack, token)) and h[0]["status"] == "ABANDONED" and h,
        20,
        "abandonment",
    )
    assert rows[0]["prompts"][0]["answer"] == "The sunshine."
    time.sleep(1.5)
    assert len(stack.standin.results) == 1, "not retried"
    assert scheduled(stack, token, sc)["status"] == "COMPLETED"


def test_a_forged_webhook_gets_403(stack: Stack):
    r = stack.http.post(
        "/webhooks/twilio/status", data={"CallSid": "CA" + "0" * 32, "CallStatus": "completed"}
    )
    assert r.status_code == 403
    params = {"CallSid": "CA" + "0" * 32, "CallStatus": "completed"}
    wrong = sign_twilio_request("not-the-token", PUBLIC + "/webhooks/twilio/status", params)
    assert (
        stack.http.post(
            "/webhooks/twilio/status", data=params, headers={"X-Twilio-Signature": wrong}
        ).status_code
        == 403
    )
    right = sign_twilio_request(AUTH_TOKEN, PUBLIC + "/webhooks/twilio/status", params)
    assert (
        stack.http.post(
            "/webhooks/twilio/status", data=params, headers={"X-Twilio-Signature": right}
        ).status_code
        == 200
    )
    # signed for the URL the server sees instead of the public one: refused
    seen = sign_twilio_request(AUTH_TOKEN, stack.base + "/webhooks/twilio/status", params)
    assert (
        stack.http.post(
            "/webhooks/twilio/status", data=params, headers={"X-Twilio-Signature": seen}
        ).status_code
        == 403
    )


@pytest.mark.timeout(400)
@pytest.mark.parametrize(
    "stack",
    [
        {
            "TWILIO_CALLS_PER_SECOND": "3",
            "WORKER_LEASE_SECONDS": "2",
            "RECOVERY_GRACE_SECONDS": "1",
            "DIAL_UNCLEAR_GIVE_UP_SECONDS": "15",
        }
    ],
    indirect=True,
)
def test_a_worker_killed_at_random_points_never_dials_an_attempt_twice(stack: Stack):
    """Calls are paced at 3 per second, so the kills land while dialling is under way."""
    rng = random.Random(20261125)
    phones = [f"+1415555{n:04d}" for n in range(200, 208)]
    tokens = [stack.sign_up(p) for p in phones]
    for p in phones:
        stack.standin.callee_for(p, ScriptedCallee(["Yes.", "Fine.", "Rest."]))
    scs = [stack.api("Calls/now", {}, t)["scheduledCall"] for t in tokens]
    dialled_at_kill = []
    for _ in range(8):
        time.sleep(rng.uniform(0.3, 1.6))
        victim = stack.workers[-1]
        victim.send_signal(signal.SIGKILL)
        victim.wait(5)
        dialled_at_kill.append(
            sum(r.endpoint == "calls.create" for r in stack.standin.state.requests)
        )
        stack.start_worker()
    assert min(dialled_at_kill) < len(phones), f"no kill landed mid-dispatch: {dialled_at_kill}"

    def all_done():
        rows = [scheduled(stack, t, sc) for t, sc in zip(tokens, scs, strict=True)]
        all_done.last = [(r["status"], r["attempts"]) for r in rows]
        return all(r["status"] in ("COMPLETED", "FAILED") for r in rows) and rows

    try:
        # a dial killed after it was sent but before it reached the provider stays unclear
        # until the provider has shown nothing for 15 s here (90 s by default), then it is
        # retried
        rows = stack.wait_until(all_done, 180, "every call to end")
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}; last states {all_done.last}; dialled at kills {dialled_at_kill}"
        ) from None
    print("dialled at each kill:", dialled_at_kill, "attempts:", [r["attempts"] for r in rows])
    assert all(r["status"] == "COMPLETED" for r in rows), rows
    created = [r for r in stack.standin.state.requests if r.endpoint == "calls.create"]
    per_number: dict[str, int] = {}
    for req in created:
        (to,) = req.form_values("To")
        per_number[to] = per_number.get(to, 0) + 1
    for phone, row in zip(phones, rows, strict=True):
        assert per_number.get(phone, 0) <= row["attempts"], (phone, per_number, row)
        assert per_number.get(phone, 0) >= 1


def test_readyz_reports_the_database(stack: Stack):
    assert httpx.get(stack.base + "/readyz").json()["status"] == "ready"


def test_missed_calls_are_retried_until_max_retries_then_failed(stack: Stack):
    phone = "+14155550104"
    token = stack.sign_up(phone, maxRetries=3)
    stack.standin.callee_for(phone, BusyCallee(), NoAnswerCallee(), VoicemailCallee())
    sc = stack.api("Calls/now", {}, token)["scheduledCall"]
    results = stack.standin.wait_for_calls_sync(3, timeout=40)
    assert [r.final_status for r in results] == ["busy", "no-answer", "completed"]
    assert results[2].said == [], "a voicemail is hung up on without a word"
    row = stack.wait_until(
        lambda: (r := scheduled(stack, token, sc))["status"] == "FAILED" and r, 20, "FAILED"
    )
    assert row["attempts"] == 3
    time.sleep(1.5)
    assert len(stack.standin.results) == 3, "no fourth attempt"


def test_cancelling_a_live_call_ends_it_and_stops_the_attempts(stack: Stack):
    phone = "+14155550105"
    token = stack.sign_up(phone)
    callee = InteractiveCallee(response_timeout_s=20)
    stack.standin.callee_for(phone, callee)
    sc = stack.api("Calls/now", {}, token)["scheduledCall"]
    stack.wait_until(
        lambda: callee.listening is not None, 20, "the call to be answered and listening"
    )
    stack.api("CallScheduler/cancel", {"scheduledCall": sc}, token)
    (result,) = stack.standin.wait_for_calls_sync(1, timeout=20)
    assert result.ended_by == "api", "the service ended the live call"
    assert scheduled(stack, token, sc)["status"] == "CANCELLED"
    time.sleep(1.5)
    assert len(stack.standin.results) == 1


def test_a_worker_stops_cleanly_on_sigterm(stack: Stack):
    worker = stack.workers[-1]
    log = stack.logs / "worker-0.log"
    stack.wait_until(lambda: "started" in log.read_text(), 20, "the worker to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(10) == 0
    assert "stopped" in log.read_text()
    early = stack.start_worker()  # a stop while it is still importing and connecting is clean too
    time.sleep(0.3)
    early.send_signal(signal.SIGTERM)
    assert early.wait(10) == 0
