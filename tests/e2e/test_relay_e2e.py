"""End to end over ConversationRelay (CONVERSATION_TRANSPORT=relay), with real processes.

The worker dials through the real Twilio client; the stand-in plays each call: the voice
webhook's `<Connect><ConversationRelay>` opens a signed WebSocket to the server (routed
from the public wss:// URL to the local port), the callee's answers go out as prompt
messages, and the `<Connect action>` callback's TwiML ends the call.
"""

from __future__ import annotations

import asyncio
import signal
import threading

import pytest

from services.devtools.call_player import CallResult, Press, Silence, Utterance
from services.devtools.callees import ScriptedCallee
from services.devtools.standin.relay import RelayCaller
from services.devtools.standin.relay_model import RelayRefused
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.slow

RELAY = {
    "CONVERSATION_TRANSPORT": "relay",
    "RELAY_SILENCE_SECONDS": "1",
    "RELAY_SPEECH_TIMEOUT_MS": "300",
    "RELAY_RECHECK_SECONDS": "1",  # the local rules judge these answers again after 1 s, not 3 s
}
ANSWERS = ["A quiet morning by the sea.", "A long walk in the park.", "Rest more tomorrow."]
INTRUDER = "Somebody else was here."

relay_stack = pytest.mark.parametrize("stack", [RELAY], indirect=True)


def history(stack: Stack, token: str) -> list[dict]:
    return stack.api("ReflectionSession/_history", {}, token)


def finished(stack: Stack, token: str, status: str = "COMPLETED") -> dict:
    def done():
        rows = history(stack, token)
        return rows and rows[0]["status"] == status and rows[0]

    return stack.wait_until(done, 30, f"the reflection to be {status}")


def answers_of(session: dict) -> list[str | None]:
    return [p.get("answer") or None for p in session["prompts"]]


def prompts_of(stack: Stack, token: str) -> list[str]:
    return [p["text"] for p in stack.api("Prompts/_prompts", {}, token)]


def one_call(stack: Stack, phone: str, callee, **profile) -> tuple[str, CallResult]:
    token = stack.sign_up(phone, **profile)
    stack.standin.callee_for(phone, callee)
    stack.api("Calls/now", {}, token)
    (result,) = stack.standin.wait_for_calls_sync(1, timeout=60)
    return token, result


def relay_actions(result: CallResult) -> list[dict[str, str]]:
    return [w.params for w in result.webhooks_of("relay")]


@relay_stack
def test_a_full_call_over_conversation_relay(stack: Stack):
    token, result = one_call(
        stack, "+14155550201", ScriptedCallee(ANSWERS), namePronunciation="Gray-ss"
    )
    prompts = prompts_of(stack, token)
    assert result.final_status == "completed" and result.ok, (result.errors, result.notes)
    assert [w.kind for w in result.webhooks if w.kind != "status"][:2] == ["answer", "relay"]
    greeting = result.said[0]
    assert greeting.startswith("Hi Gray-ss.") and prompts[0] in greeting
    assert any(prompts[1] in s for s in result.said) and any(prompts[2] in s for s in result.said)
    assert result.said[-1].startswith("Thank you for reflecting"), "the goodbye, by <Say>"
    (session,) = result.relay_sessions
    assert session.ended and not session.dropped
    sent = [m for m in session.sent if m["type"] == "prompt"]
    assert not sent[0]["last"] and [m["voicePrompt"] for m in sent if m["last"]] == ANSWERS
    (action,) = relay_actions(result)
    assert (action["SessionStatus"], action["CallStatus"]) == ("ended", "in-progress")
    assert "HandoffData" in action
    reflection = finished(stack, token)
    assert answers_of(reflection) == ANSWERS


@relay_stack
def test_a_two_part_answer_with_a_pause_is_kept_whole(stack: Stack):
    stack.standin.configure(sleep=asyncio.sleep)  # the pause between the parts is real
    first = [
        Utterance("I was grateful for my sister and", more=True),
        Utterance("her phone call this morning.", pause_before_s=1.0),
    ]
    token, result = one_call(stack, "+14155550202", ScriptedCallee([*first, *ANSWERS[1:]]))
    assert result.final_status == "completed", (result.errors, result.notes)
    (session,) = result.relay_sessions
    finals = [m["voicePrompt"] for m in session.sent if m["type"] == "prompt" and m["last"]]
    assert finals[:2] == ["I was grateful for my sister and", "her phone call this morning."]
    answer = answers_of(finished(stack, token))[0]
    assert answer is not None
    assert "my sister and" in answer and "her phone call this morning" in answer
    assert answers_of(finished(stack, token))[1:] == ANSWERS[1:]


@relay_stack
def test_an_interrupt_answers_the_prompt_being_asked(stack: Stack):
    callee = ScriptedCallee([ANSWERS[0], Utterance(ANSWERS[1], interrupts=True), ANSWERS[2]])
    token, result = one_call(stack, "+14155550203", callee)
    assert result.final_status == "completed", (result.errors, result.notes)
    (session,) = result.relay_sessions
    kinds = [m["type"] for m in session.sent]
    assert kinds.index("interrupt") < len(kinds) - 1
    after = session.sent[kinds.index("interrupt") + 1 :]
    assert next(m["voicePrompt"] for m in after if m.get("last")) == ANSWERS[1]
    assert answers_of(finished(stack, token)) == ANSWERS


@relay_stack
def test_a_key_press_reaches_the_service(stack: Stack):
    """The key reaches the service as `dtmf` and key 1 skips the prompt being asked
    (syncs/keypad.py): nothing was said to it, so its answer is empty (None here)."""
    token, result = one_call(stack, "+14155550204", ScriptedCallee([Press("1"), *ANSWERS[1:]]))
    (session,) = result.relay_sessions
    assert {"type": "dtmf", "digit": "1"} in session.sent
    assert result.final_status == "completed", (result.errors, result.notes)
    assert session.ended and not session.dropped
    assert answers_of(finished(stack, token)) == [None, *ANSWERS[1:]]


@relay_stack
def test_silence_asks_again_then_moves_on(stack: Stack):
    callee = ScriptedCallee([Silence(), Silence(), *ANSWERS[1:]])
    token, result = one_call(stack, "+14155550205", callee)
    prompts = prompts_of(stack, token)
    assert result.final_status == "completed", (result.errors, result.notes)
    asked_first = [s for s in result.said if prompts[0] in s]
    assert len(asked_first) == 2, f"the first prompt, asked once more: {result.said}"
    later = result.said.index(asked_first[1])
    assert any(prompts[1] in s for s in result.said[later + 1 :]), "then the call moves on"
    assert answers_of(finished(stack, token)) == [None, *ANSWERS[1:]]


@relay_stack
def test_a_forged_upgrade_is_refused_and_changes_nothing(stack: Stack):
    refusals: list[int | None] = []

    class Checker(ScriptedCallee):
        async def converse(self, relay: RelayCaller) -> None:
            for how in ({"unsigned": True}, {"forged_signature": "bm90IGEgc2lnbmF0dXJl"}):
                intruder = RelayCaller(
                    relay.relay,
                    auth_token="not-the-token",
                    call_sid=relay.call_sid,
                    account_sid=relay.account_sid,
                    from_=relay.from_,
                    to=relay.to,
                    route=relay.route,
                )
                try:
                    await intruder.open(**how)
                    await intruder.say(INTRUDER)
                    refusals.append(await intruder.wait_closed())
                except RelayRefused as refused:
                    refusals.append(refused.status_code)
            for answer in ANSWERS:
                await relay.say(answer)
                await relay.next_utterance(30)
            await relay.wait_until(lambda: relay.ended, 30)

    token, result = one_call(stack, "+14155550206", Checker())
    assert refusals == [403, 403]
    assert result.final_status == "completed", (result.errors, result.notes)
    reflection = finished(stack, token)
    assert answers_of(reflection) == ANSWERS
    assert INTRUDER not in str(reflection)


@relay_stack
def test_the_server_killed_mid_session(stack: Stack):
    """The server dies mid-session: the socket drops, Twilio posts SessionStatus=failed
    (here once the server is back), the caller hears an apology, the acknowledged answer
    is kept, and the call is tried again."""
    acknowledged, restarted = threading.Event(), threading.Event()

    class Talker(ScriptedCallee):
        async def converse(self, relay: RelayCaller) -> None:
            await relay.say(ANSWERS[0])
            await relay.next_utterance(30)  # the next prompt: the first answer is kept
            acknowledged.set()
            await relay.wait_closed(30)
            while not restarted.is_set():
                await asyncio.sleep(0.05)

    phone = "+14155550207"
    token = stack.sign_up(phone)
    stack.standin.callee_for(phone, Talker(), ScriptedCallee(ANSWERS))
    stack.api("Calls/now", {}, token)
    assert acknowledged.wait(60), "the first answer was acknowledged"
    stack.server.send_signal(signal.SIGKILL)
    stack.server.wait(10)
    stack.start_server()
    restarted.set()

    first, second = stack.standin.wait_for_calls_sync(2, timeout=90)
    (session,) = first.relay_sessions
    assert session.dropped and session.close_code == 1006
    (action,) = relay_actions(first)
    assert (action["SessionStatus"], action["CallStatus"]) == ("failed", "in-progress")
    assert "HandoffData" not in action
    assert 64105 in [e.code for e in first.errors]
    assert "<Hangup" in first.webhooks_of("relay")[0].body, "an apology, then hang-up"
    assert second.final_status == "completed" and second.sid != first.sid, "called again"
    rows = stack.wait_until(
        lambda: len(history(stack, token)) >= 1 and history(stack, token), 30, "the reflections"
    )
    kept = [answers_of(r) for r in rows]
    assert any(a[0] == ANSWERS[0] for a in kept), f"the acknowledged answer is kept: {kept}"
