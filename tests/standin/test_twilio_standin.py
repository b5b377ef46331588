"""The real `twilio` client (through TwilioTelephony) against the full stand-in, whose calls
are played over real HTTP against a signature-checking webhook server."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from services.devtools.call_player import StatusCallback
from services.devtools.callees import (
    BusyCallee,
    InteractiveCallee,
    ScriptedCallee,
    SilentCallee,
)
from services.devtools.standin.rest import CALLS_CREATE, server_error
from services.devtools.standin.twilio import TwilioStandIn
from services.devtools.standin.webhooks import ReceivedWebhook, ScriptedWebhooks
from services.telephony import AmbiguousDialError
from services.telephony.twilio import TwilioTelephony
from services.webhooks import twiml

FROM = "+15550001111"
TO = "+14155550100"


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with TwilioStandIn() as server:
        yield server


@pytest.fixture
def hooks(standin: TwilioStandIn) -> Iterator[ScriptedWebhooks]:
    webhooks = ScriptedWebhooks(standin.auth_token)
    heard: dict[str, list[str]] = {}
    webhooks.routes["/answer"] = lambda r: twiml.say_and_gather(
        ["Hello Ana.", "What was good today?"], webhooks.url("/turn")
    )

    def turn(request: ReceivedWebhook) -> str:
        answers = heard.setdefault(request.form["CallSid"], [])
        answers.append(request.form.get("SpeechResult", ""))
        if len(answers) < 2:
            return twiml.say_and_gather(["Tell me more."], webhooks.url("/turn"))
        return twiml.say_and_hangup(["Thank you. Goodbye."])

    webhooks.routes["/turn"] = turn
    with webhooks.serve():
        yield webhooks
    assert all(r.signature_valid for r in webhooks.requests), "a webhook had a bad signature"


def telephony_for(standin: TwilioStandIn) -> TwilioTelephony:
    return TwilioTelephony(
        standin.account_sid,
        standin.auth_token,
        FROM,
        api_base_url=standin.base_url,
        calls_per_second=100.0,
        http_timeout_s=2,
        backoff_base_s=0.01,
    )


async def dial(telephony: TwilioTelephony, hooks: ScriptedWebhooks, to: str = TO) -> str:
    placed = await telephony.place_call(
        to=to,
        answer_url=hooks.url("/answer?call=c1"),
        status_callback_url=hooks.url("/status"),
        recording_callback_url=hooks.url("/recording"),
    )
    return placed.sid


async def wait_until(predicate, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


async def test_a_placed_call_is_played_against_the_server(
    standin: TwilioStandIn, hooks: ScriptedWebhooks
) -> None:
    callee = ScriptedCallee(["I walked by the sea", "and met a friend"])
    standin.callee_for(TO, callee)
    telephony = telephony_for(standin)
    sid = await dial(telephony, hooks)

    [result] = await standin.wait_for_calls(1)
    assert result.sid == sid and result.ok, result.errors
    assert result.final_status == "completed" and result.ended_by == "service"
    assert result.answered_by == "human"  # TwilioTelephony asks for AMD
    assert result.said == [
        "Hello Ana.", "What was good today?", "Tell me more.", "Thank you. Goodbye.",
    ]  # fmt: skip
    assert result.callee_said == ["I walked by the sea", "and met a friend"]
    assert callee.heard == result.said

    assert hooks.statuses() == ["initiated", "ringing", "in-progress", "completed"]
    answer = hooks.received("/answer")[0]
    assert answer.form["AnsweredBy"] == "human" and answer.form["CallSid"] == sid
    assert answer.form["AccountSid"] == standin.account_sid
    assert [r.form["SpeechResult"] for r in hooks.received("/turn")] == result.callee_said
    [recording] = hooks.received("/recording")
    assert recording.form["CallSid"] == sid and recording.form["RecordingSid"].startswith("RE")
    assert hooks.requests[-1].path == "/recording"

    # The REST resource followed the call, as Twilio's would.
    call = standin.state.get_call(sid)
    assert call is not None
    assert call["status"] == "completed" and call["duration"] == str(result.duration_s)
    assert call["answered_by"] == "human" and call["end_time"] is not None
    [summary] = await telephony.calls_to_since(TO, datetime.now(UTC))
    assert (summary.sid, summary.status) == (sid, "hung_up")  # the port's word for completed


async def test_unregistered_numbers_ring_out(
    standin: TwilioStandIn, hooks: ScriptedWebhooks
) -> None:
    await dial(telephony_for(standin), hooks, to="+14155550199")
    [result] = await standin.wait_for_calls(1)
    assert result.final_status == "no-answer"
    assert hooks.statuses() == ["initiated", "ringing", "no-answer"]
    assert hooks.received("/answer") == []


async def test_one_callee_per_call_in_order(
    standin: TwilioStandIn, hooks: ScriptedWebhooks
) -> None:
    standin.callee_for(TO, BusyCallee(), SilentCallee())
    telephony = telephony_for(standin)
    first = await dial(telephony, hooks)
    await standin.wait_for_calls(1)
    second = await dial(telephony, hooks)
    third = await dial(telephony, hooks)
    results = await standin.wait_for_calls(3)
    outcome = {r.sid: r.final_status for r in results}
    assert outcome[first] == "busy"
    assert outcome[second] == outcome[third] == "completed"


async def test_callee_factory_gives_each_call_a_fresh_callee(
    standin: TwilioStandIn, hooks: ScriptedWebhooks
) -> None:
    standin.callee_factory(TO, lambda: ScriptedCallee(["first", "second"]))
    telephony = telephony_for(standin)
    await dial(telephony, hooks)
    await standin.wait_for_calls(1)
    await dial(telephony, hooks)
    results = await standin.wait_for_calls(2)
    assert [r.callee_said for r in results] == [["first", "second"]] * 2


async def test_hanging_up_a_live_call_through_the_api(
    standin: TwilioStandIn, hooks: ScriptedWebhooks
) -> None:
    callee = InteractiveCallee(response_timeout_s=30)
    standin.callee_for(TO, callee)
    telephony = telephony_for(standin)
    sid = await dial(telephony, hooks)
    await wait_until(lambda: callee.listening is not None)
    assert sid in standin.live_calls()

    await telephony.end_call(sid)
    [result] = await standin.wait_for_calls(1)
    assert result.final_status == "completed" and result.ended_by == "api"
    assert hooks.statuses()[-1] == "completed"
    assert hooks.received("/turn") == []
    call = standin.state.get_call(sid)
    assert call is not None and call["status"] == "completed"
    await telephony.end_call(sid)  # already over: 21220, tolerated by the adapter


async def test_hanging_up_while_ringing_cancels(
    standin: TwilioStandIn, hooks: ScriptedWebhooks
) -> None:
    callee = InteractiveCallee(wait_for_pickup=True)
    standin.callee_for(TO, callee)
    telephony = telephony_for(standin)
    sid = await dial(telephony, hooks)
    await wait_until(lambda: bool(callee.events_seen))
    await telephony.end_call(sid)
    [result] = await standin.wait_for_calls(1)
    assert result.final_status == "canceled"
    assert hooks.statuses() == ["initiated", "ringing", "canceled"]
    call = standin.state.get_call(sid)
    assert call is not None and call["status"] == "canceled"


async def test_shuffled_and_duplicated_status_callbacks(
    standin: TwilioStandIn, hooks: ScriptedWebhooks
) -> None:
    standin.configure(duplicate_status=True, shuffle_status=random.Random(1))
    standin.callee_for(TO, ScriptedCallee(["a", "b"]))
    await dial(telephony_for(standin), hooks)
    await standin.wait_for_calls(1)
    pairs = [(r.form["SequenceNumber"], r.form["CallStatus"]) for r in hooks.received("/status")]
    expected = [("0", "initiated"), ("1", "ringing"), ("2", "in-progress"), ("3", "completed")]
    assert sorted(pairs) == sorted(expected * 2)
    assert pairs != sorted(pairs)


async def test_status_delivery_hook(standin: TwilioStandIn, hooks: ScriptedWebhooks) -> None:
    def completed_first(pending: list[StatusCallback]) -> list[StatusCallback]:
        return sorted(pending, key=lambda c: c.status != "completed")

    standin.configure(status_delivery=completed_first)
    standin.callee_for(TO, SilentCallee())
    await dial(telephony_for(standin), hooks)
    await standin.wait_for_calls(1)
    assert hooks.statuses()[0] == "completed"


async def test_an_ambiguous_create_still_rings_the_phone(
    standin: TwilioStandIn, hooks: ScriptedWebhooks
) -> None:
    """Twilio created the call and then answered 500: the callee is called all the same."""
    standin.callee_for(TO, SilentCallee())
    standin.fail_next(CALLS_CREATE, server_error())
    telephony = telephony_for(standin)
    with pytest.raises(AmbiguousDialError) as raised:
        await dial(telephony, hooks)
    [result] = await standin.wait_for_calls(1)
    assert result.final_status == "completed"
    [found] = await telephony.calls_to_since(TO, raised.value.attempted_at)
    assert found.sid == result.sid


async def test_sms_is_recorded(standin: TwilioStandIn) -> None:
    telephony = telephony_for(standin)
    sid = await telephony.send_sms(to=TO, body="Your code is 482913")
    assert sid.startswith("SM")
    assert standin.sms_bodies(TO) == ["Your code is 482913"]
    assert standin.messages()[0]["from"] == FROM
    assert standin.sms_bodies("+14155550199") == []


def test_sync_wait_and_reset(standin: TwilioStandIn, hooks: ScriptedWebhooks) -> None:
    standin.callee_for(TO, SilentCallee())
    sid = asyncio.run(dial(telephony_for(standin), hooks))
    [result] = standin.wait_for_calls_sync(1)
    assert standin.result_for(sid) is result
    standin.reset()
    assert standin.results == [] and standin.state.calls == {}
    with pytest.raises(TimeoutError):
        standin.wait_for_calls_sync(1, timeout=0.05)
