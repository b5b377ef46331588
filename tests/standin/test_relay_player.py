"""The call player on `<Connect><ConversationRelay>`: callees become prompt messages.

The service here is a small scripted reflection over ConversationRelay (Starlette under
uvicorn on a real port): its voice webhook answers the Connect TwiML, the socket asks
three prompts (an answer is complete when it ends with a full stop; key 1 skips; after
`SILENCE_S` of silence it asks again, then moves on), then says thanks and sends `end`;
the action URL answers goodbye. What it received is asserted, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from twilio.request_validator import RequestValidator

from services.devtools.call_player import (
    CallPlayer,
    CallSpec,
    PlayerOptions,
    Press,
    Silence,
    Utterance,
)
from services.devtools.callees import HangUpAfter, InteractiveCallee, ScriptedCallee
from services.devtools.standin.relay import RelayCaller
from services.devtools.standin.servers import ServerThread
from services.devtools.standin.twilio import no_sleep
from services.webhooks.signature import validate_twilio_request

TOKEN = "relay-player-token"
PROMPTS = ["What went well today?", "What did you learn?", "What will you do tomorrow?"]
GREETING = "Hello Ada. " + PROMPTS[0]
SILENCE_S = 1.0


class ReflectionRelay:
    """A three-prompt reflection over ConversationRelay, recording what it received."""

    def __init__(self) -> None:
        self.base = ""
        self.refuse = False
        self.messages: list[dict[str, Any]] = []
        self.answers: list[str | None] = []
        self.actions: list[dict[str, str]] = []
        self.app = Starlette(
            routes=[
                Route("/voice", self.voice, methods=["POST"]),
                WebSocketRoute("/relay", self.relay),
                Route("/relay-ended", self.ended, methods=["POST"]),
            ]
        )

    def _valid(self, request: Request, body: bytes) -> bool:
        path, query = request.url.path, request.url.query
        headers = dict(request.headers)
        return validate_twilio_request(TOKEN, self.base, path, query, headers, None, body)

    async def voice(self, request: Request) -> Response:
        if not self._valid(request, await request.body()):
            return Response("bad signature", status_code=403)
        ws = "ws" + self.base.removeprefix("http")
        twiml = (
            f'<Response><Connect action="{self.base}/relay-ended?call=c1">'
            f'<ConversationRelay url="{ws}/relay?call=c1" welcomeGreeting="{GREETING}" '
            'interruptible="any" dtmfDetection="true" speechTimeout="1500">'
            '<Parameter name="call" value="c1"/></ConversationRelay></Connect></Response>'
        )
        return Response(twiml, media_type="application/xml")

    async def ended(self, request: Request) -> Response:
        body = await request.body()
        if not self._valid(request, body):
            return Response("bad signature", status_code=403)
        self.actions.append(dict(parse_qsl(body.decode())))
        return Response("<Response><Say>Goodbye.</Say><Hangup/></Response>", media_type="text/xml")

    async def relay(self, websocket: WebSocket) -> None:
        ws = "ws" + self.base.removeprefix("http")
        url = f"{ws}{websocket.url.path}?{websocket.url.query}"
        signature = websocket.headers.get("x-twilio-signature", "")
        if self.refuse or not RequestValidator(TOKEN).validate(url, {}, signature):
            await websocket.close(code=1008)
            return
        await websocket.accept()
        index, parts, asked = 0, [], 1
        timer: asyncio.Task[None] | None = None

        async def say(text: str) -> None:
            words = text.split(" ")
            for i, word in enumerate(words):
                token = word if i == len(words) - 1 else word + " "
                last = i == len(words) - 1
                await websocket.send_text(
                    json.dumps({"type": "text", "token": token, "last": last})
                )

        async def next_prompt(answer: str | None) -> None:
            nonlocal index, parts, asked, timer
            self.answers.append(answer)
            index, parts, asked = index + 1, [], 1
            if index < len(PROMPTS):
                await say("Thanks. " + PROMPTS[index])
                timer = asyncio.create_task(silence())
            else:
                await say("Thank you for reflecting.")
                await websocket.send_text(json.dumps({"type": "end", "handoffData": "done"}))

        async def silence() -> None:
            nonlocal asked, timer
            await asyncio.sleep(SILENCE_S)
            if asked == 1:
                asked = 2
                await say(PROMPTS[index])
                timer = asyncio.create_task(silence())
            else:
                await next_prompt(None)

        timer = None
        try:
            while True:
                message = json.loads(await websocket.receive_text())
                self.messages.append(message)
                kind = message["type"]
                if kind == "setup":
                    timer = asyncio.create_task(silence())
                    continue
                if kind in ("prompt", "dtmf") and timer is not None:
                    timer.cancel()
                if kind == "prompt" and message["last"]:
                    parts.append(message["voicePrompt"])
                    if message["voicePrompt"].endswith("."):
                        await next_prompt(" ".join(parts))
                    else:
                        timer = asyncio.create_task(silence())
                elif kind == "dtmf" and message["digit"] == "1":
                    await next_prompt(None)
        except WebSocketDisconnect:
            pass
        finally:
            if timer is not None:
                timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await timer

    def kinds(self) -> list[str]:
        return [m["type"] for m in self.messages]

    def finals(self) -> list[str]:
        return [m["voicePrompt"] for m in self.messages if m["type"] == "prompt" and m["last"]]


@pytest.fixture
def service() -> Iterator[ReflectionRelay]:
    relay = ReflectionRelay()
    thread = ServerThread(relay.app)
    relay.base = thread.base_url
    thread.start()
    try:
        yield relay
    finally:
        thread.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


def player(service: ReflectionRelay, http: httpx.AsyncClient, callee: Any) -> CallPlayer:
    spec = CallSpec(to="+14155550100", from_="+15550001111", answer_url=service.base + "/voice")
    options = PlayerOptions(sleep=no_sleep, relay_settle_s=0.05, relay_idle_s=10)
    return CallPlayer(spec, auth_token=TOKEN, http=http, callee=callee, options=options)


async def test_a_full_call(service: ReflectionRelay, http: httpx.AsyncClient) -> None:
    callee = ScriptedCallee(["A walk by the sea with my dog.", "Patience.", "Rest more."])
    result = await player(service, http, callee).play()
    assert result.final_status == "completed" and result.ok, (result.errors, result.notes)
    assert service.answers == ["A walk by the sea with my dog.", "Patience.", "Rest more."]
    assert result.said == [
        GREETING,
        "Thanks. " + PROMPTS[1],
        "Thanks. " + PROMPTS[2],
        "Thank you for reflecting.",
        "Goodbye.",
    ]
    assert callee.heard == result.said
    assert service.kinds()[0] == "setup"
    first = [m["last"] for m in service.messages if m["type"] == "prompt"][:4]
    assert first == [False, False, False, True]  # partials, then the final
    (action,) = service.actions
    assert (action["SessionStatus"], action["CallStatus"]) == ("ended", "in-progress")
    assert action["HandoffData"] == "done" and action["CallSid"] == result.sid
    assert [w.kind for w in result.webhooks] == ["answer", "relay"]
    assert result.ended_by == "service"
    (session,) = result.relay_sessions
    assert session.ended and session.closed and not session.dropped


async def test_a_two_part_answer_is_kept_whole(
    service: ReflectionRelay, http: httpx.AsyncClient
) -> None:
    callee = ScriptedCallee([["I was grateful for", "my sister's call."], "Tea.", "Sleep."])
    result = await player(service, http, callee).play()
    assert result.final_status == "completed", result.errors
    assert service.finals()[:2] == ["I was grateful for", "my sister's call."]
    assert service.answers[0] == "I was grateful for my sister's call."


async def test_a_key_press_and_silence(service: ReflectionRelay, http: httpx.AsyncClient) -> None:
    callee = ScriptedCallee([Press("1"), Silence(), Silence(), "Rest."])
    result = await player(service, http, callee).play()
    assert result.final_status == "completed", result.errors
    assert service.answers == [None, None, "Rest."]
    assert result.said[1:4] == ["Thanks. " + PROMPTS[1], PROMPTS[1], "Thanks. " + PROMPTS[2]]
    assert [m["digit"] for m in service.messages if m["type"] == "dtmf"] == ["1"]


async def test_an_interrupting_answer(service: ReflectionRelay, http: httpx.AsyncClient) -> None:
    callee = ScriptedCallee(["One.", Utterance("Two.", interrupts=True), "Three."])
    result = await player(service, http, callee).play()
    assert result.final_status == "completed", result.errors
    kinds = [k for k in service.kinds() if k != "prompt"]
    assert kinds == ["setup", "interrupt"]
    (interrupt,) = [m for m in service.messages if m["type"] == "interrupt"]
    assert interrupt["utteranceUntilInterrupt"] == "Thanks. What"
    after = service.messages[service.messages.index(interrupt) + 1 :]
    assert next(m["voicePrompt"] for m in after if m["last"]) == "Two."
    assert service.answers == ["One.", "Two.", "Three."]


async def test_hanging_up_posts_completed(
    service: ReflectionRelay, http: httpx.AsyncClient
) -> None:
    result = await player(service, http, HangUpAfter(1, ["One."])).play()
    assert result.final_status == "completed" and result.ended_by == "callee"
    (action,) = service.actions
    assert (action["SessionStatus"], action["CallStatus"]) == ("completed", "completed")
    assert "HandoffData" not in action
    assert "Goodbye." not in result.said  # the caller is gone: the answer is not played


async def test_a_refused_socket(service: ReflectionRelay, http: httpx.AsyncClient) -> None:
    service.refuse = True
    result = await player(service, http, ScriptedCallee(["One."])).play()
    assert [e.code for e in result.errors] == [64102]
    (action,) = service.actions
    assert action["SessionStatus"] == "failed"
    assert result.said == [] or result.said[-1] == "Goodbye."
    assert service.messages == []


async def test_an_interactive_callee_streams_partials(
    service: ReflectionRelay, http: httpx.AsyncClient
) -> None:
    callee = InteractiveCallee(response_timeout_s=10)
    callee.say_partial("A walk")
    callee.say_partial("A walk by the sea")
    callee.say("A walk by the sea.")
    callee.say("Patience.")
    callee.say("Rest.")
    result = await player(service, http, callee).play()
    assert result.final_status == "completed", result.errors
    prompts = [(m["voicePrompt"], m["last"]) for m in service.messages if m["type"] == "prompt"]
    assert prompts[:3] == [
        ("A walk", False),
        ("A walk by the sea", False),
        ("A walk by the sea.", True),
    ]
    assert service.answers == ["A walk by the sea.", "Patience.", "Rest."]


async def test_a_conversing_callee_drives_the_session(
    service: ReflectionRelay, http: httpx.AsyncClient
) -> None:
    class Driver(ScriptedCallee):
        async def converse(self, relay: RelayCaller) -> None:
            assert relay.relay.parameters == {"call": "c1"}
            await relay.say("One.", partials=False)
            assert await relay.next_utterance() == "Thanks. " + PROMPTS[1]
            await relay.press("1")
            await relay.next_utterance()
            await relay.say(["Half", "and the rest."], pause_s=0.1)
            await relay.wait_until(lambda: relay.ended)

    result = await player(service, http, Driver()).play()
    assert result.final_status == "completed", result.errors
    assert service.answers == ["One.", None, "Half and the rest."]
    assert service.actions[0]["SessionStatus"] == "ended"
    assert result.said[-1] == "Goodbye."
