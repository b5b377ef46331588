"""RelayCaller (Twilio's side of ConversationRelay) against a tiny relay server of our own.

The server here is a Starlette app under uvicorn on a real port: it checks the upgrade's
`X-Twilio-Signature` (refusing with 403 before accepting, or closing with 1008 after),
records every message, and answers scripted text; its `/relay-ended` route records the
action callback. A socket that vanishes without a close frame (a killed server) is
played by a raw `websockets` server that aborts its transport.
"""

from __future__ import annotations

import asyncio
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
from websockets.asyncio.server import ServerConnection, serve

from services.devtools.standin import relay as relay_module
from services.devtools.standin.relay import RelayCaller
from services.devtools.standin.relay_model import (
    RelayRefused,
    parse_connect,
    partial_prefixes,
    split_parts,
)
from services.devtools.standin.servers import ServerThread
from services.webhooks.signature import validate_twilio_request

TOKEN = "relay-test-token"
GOODBYE = "<Response><Say>Goodbye.</Say><Hangup/></Response>"


class RelayServer:
    """A scripted ConversationRelay server: what it received, in order, and its refusals."""

    def __init__(self, *, refuse: str = "before-accept") -> None:
        self.refuse = refuse  # "before-accept" (403) or "after-accept" (close 1008)
        self.base = ""
        self.messages: list[dict[str, Any]] = []
        self.upgrades: list[tuple[str, bool]] = []  # (signature header, valid)
        self.actions: list[tuple[dict[str, str], bool]] = []
        self.app = Starlette(
            routes=[
                WebSocketRoute("/relay", self.relay),
                Route("/relay-ended", self.ended, methods=["POST"]),
            ]
        )

    def twiml(self, call: str = "c1", greeting: str = "Hello Ada. What went well today?") -> str:
        ws = "ws" + self.base.removeprefix("http")
        return (
            f'<Response><Connect action="{self.base}/relay-ended?call={call}">'
            f'<ConversationRelay url="{ws}/relay?call={call}" welcomeGreeting="{greeting}" '
            'interruptible="any" dtmfDetection="true" language="en-US" speechTimeout="1500">'
            '<Parameter name="call" value="' + call + '"/></ConversationRelay></Connect></Response>'
        )

    async def relay(self, websocket: WebSocket) -> None:
        ws_base = "ws" + self.base.removeprefix("http")
        url = f"{ws_base}{websocket.url.path}?{websocket.url.query}"
        signature = websocket.headers.get("x-twilio-signature", "")
        valid = RequestValidator(TOKEN).validate(url, {}, signature)
        self.upgrades.append((signature, valid))
        if not valid and self.refuse == "before-accept":
            await websocket.close(code=1008)  # before accept: uvicorn answers HTTP 403
            return
        await websocket.accept()
        if not valid:
            await websocket.close(code=1008)
            return
        try:
            while True:
                message = json.loads(await websocket.receive_text())
                self.messages.append(message)
                await self.answer(websocket, message)
        except WebSocketDisconnect:
            return

    async def answer(self, websocket: WebSocket, message: dict[str, Any]) -> None:
        async def say(*tokens: str) -> None:
            for i, token in enumerate(tokens):
                last = i == len(tokens) - 1
                await websocket.send_text(
                    json.dumps({"type": "text", "token": token, "last": last})
                )

        kind = message["type"]
        if kind == "prompt" and message["last"]:
            await say("You said: ", message["voicePrompt"])
        elif kind == "interrupt":
            await say("Go on.")
        elif kind == "dtmf" and message["digit"] == "9":
            await say("Goodbye", " for now.")
            await websocket.send_text(json.dumps({"type": "end", "handoffData": '{"done":1}'}))
        elif kind == "dtmf":
            await say(f"Key {message['digit']}.")

    async def ended(self, request: Request) -> Response:
        body = await request.body()
        valid = validate_twilio_request(
            TOKEN, self.base, request.url.path, request.url.query, dict(request.headers), None, body
        )
        self.actions.append((dict(parse_qsl(body.decode())), valid))
        if not valid:
            return Response("invalid signature", status_code=403)
        return Response(GOODBYE, media_type="application/xml")


@pytest.fixture
def server() -> Iterator[RelayServer]:
    relay = RelayServer()
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


def caller_for(server: RelayServer, http: httpx.AsyncClient, **kwargs: Any) -> RelayCaller:
    return RelayCaller.from_twiml(
        server.twiml(),
        auth_token=TOKEN,
        call_sid="CA" + "1" * 32,
        account_sid="AC" + "2" * 32,
        from_="+15550001111",
        to="+14155550100",
        http=http,
        **kwargs,
    )


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def test_the_twiml_is_read_not_assumed() -> None:
    relay = parse_connect(
        '<Response><Connect action="/end?call=x"><ConversationRelay url="wss://a.test/r?call=x" '
        'welcomeGreeting="  Hello\n Ada. " dtmfDetection="true"><Parameter name="call" '
        'value="x"/><Parameter name="user" value="u1"/></ConversationRelay></Connect></Response>',
        "https://a.test/webhooks/twilio/voice",
    )
    assert relay.url == "wss://a.test/r?call=x"
    assert relay.action_url == "https://a.test/end?call=x"
    assert relay.action_method == "POST"
    assert relay.welcome_greeting == "Hello Ada."
    assert relay.attributes["dtmfDetection"] == "true"
    assert relay.parameters == {"call": "x", "user": "u1"}
    with pytest.raises(ValueError):
        parse_connect("<Response><Say>Hi</Say></Response>")


def test_parts_and_partials() -> None:
    assert split_parts("I was grateful for my sister's call", 2) == [
        "I was grateful for",
        "my sister's call",
    ]
    assert split_parts("Tea.", 3) == ["Tea."]
    assert partial_prefixes("one two three four five six seven eight") == [
        "one two",
        "one two three four",
        "one two three four five six",
    ]
    assert partial_prefixes("Tea.") == []


async def test_a_signed_session_in_order(server: RelayServer, http: httpx.AsyncClient) -> None:
    caller = caller_for(server, http)
    await caller.open()
    await caller.say("A walk by the sea with my dog.")
    assert await caller.next_utterance() == "You said: A walk by the sea with my dog."
    await caller.press("1")
    assert await caller.next_utterance() == "Key 1."
    await caller.press("9")
    assert await caller.next_utterance() == "Goodbye for now."
    await caller.wait_until(lambda: caller.ended)
    assert caller.handoff_data == '{"done":1}'
    ending = await caller.finish()

    assert server.upgrades == [(caller.signature(), True)]
    setup, *rest = server.messages
    assert setup["type"] == "setup"
    assert setup["sessionId"] == caller.session_id and len(setup["sessionId"]) == 34
    assert setup["sessionId"].startswith("VX")
    assert setup["callSid"] == caller.call_sid and setup["accountSid"] == caller.account_sid
    assert (setup["from"], setup["to"]) == ("+15550001111", "+14155550100")
    assert setup["direction"] == "outbound-api" and setup["callStatus"] == "IN-PROGRESS"
    assert setup["customParameters"] == {"call": "c1"}
    prompts = [(m["voicePrompt"], m["last"]) for m in rest if m["type"] == "prompt"]
    assert prompts[-1] == ("A walk by the sea with my dog.", True)
    assert prompts[:-1] and all(not last for _, last in prompts[:-1])  # partials first
    assert [m["digit"] for m in rest if m["type"] == "dtmf"] == ["1", "9"]
    assert caller.transcript == [
        ("caller", "A walk by the sea with my dog."),
        ("agent", "You said: A walk by the sea with my dog."),
        ("dtmf", "1"),
        ("agent", "Key 1."),
        ("dtmf", "9"),
        ("agent", "Goodbye for now."),
    ]
    (form, valid), *_ = server.actions
    assert valid and ending.status_code == 200 and ending.body == GOODBYE
    assert form["SessionStatus"] == "ended" and form["CallStatus"] == "in-progress"
    assert form["SessionId"] == caller.session_id and form["CallSid"] == caller.call_sid
    assert form["HandoffData"] == '{"done":1}' and form["SessionDuration"].isdigit()


async def test_a_two_part_answer_is_two_finals_after_a_pause(
    server: RelayServer, http: httpx.AsyncClient
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    caller = caller_for(server, http, sleep=sleep)
    await caller.open()
    await caller.say(["I was grateful for", "my sister's call."], pause_s=2.0, partials=False)
    await caller.wait_until(lambda: len(caller.utterances) == 2)
    finals = [m["voicePrompt"] for m in server.messages if m["type"] == "prompt"]
    assert finals == ["I was grateful for", "my sister's call."]
    assert slept == [2.0]
    await caller.hang_up()


async def test_an_interrupt_says_what_was_heard(
    server: RelayServer, http: httpx.AsyncClient
) -> None:
    caller = caller_for(server, http)
    await caller.open()
    await caller.say("one two three four", partials=False)
    await caller.next_utterance()
    await caller.interrupt()
    assert await caller.next_utterance() == "Go on."
    (interrupt,) = [m for m in server.messages if m["type"] == "interrupt"]
    assert interrupt["utteranceUntilInterrupt"] == "You said: one"
    assert interrupt["durationUntilInterruptMs"] == 1200
    with pytest.raises(ValueError):
        await caller.press("x")
    await caller.hang_up()


async def test_hanging_up_posts_completed(server: RelayServer, http: httpx.AsyncClient) -> None:
    caller = caller_for(server, http)
    await caller.open()
    await caller.hang_up()
    assert caller.closed and caller.hung_up and not caller.dropped
    await caller.finish()
    await wait_for(lambda: server.actions)
    (form, valid), *_ = server.actions
    assert valid
    assert (form["SessionStatus"], form["CallStatus"]) == ("completed", "completed")
    assert "HandoffData" not in form


async def test_an_unsigned_upgrade_is_refused_with_403(
    server: RelayServer, http: httpx.AsyncClient
) -> None:
    caller = caller_for(server, http)
    with pytest.raises(RelayRefused) as refused:
        await caller.open(unsigned=True)
    assert refused.value.status_code == 403
    with pytest.raises(RelayRefused) as forged:
        await caller.open(forged_signature="bm90IGEgc2lnbmF0dXJl")
    assert forged.value.status_code == 403
    assert server.upgrades == [("", False), ("bm90IGEgc2lnbmF0dXJl", False)]
    assert server.messages == []


async def test_a_forged_upgrade_closed_after_accept_is_1008(
    server: RelayServer, http: httpx.AsyncClient
) -> None:
    server.refuse = "after-accept"
    caller = caller_for(server, http)
    await caller.open(forged_signature="forged")
    assert await caller.wait_closed() == 1008
    assert await caller.next_utterance() is None
    assert server.messages == [] and not caller.ended


async def test_a_dropped_socket_posts_failed(http: httpx.AsyncClient) -> None:
    """The server vanishes mid-session (no close frame): SessionStatus failed, no HandoffData."""
    actions: list[dict[str, str]] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # setup
        await ws.send(json.dumps({"type": "text", "token": "Hi.", "last": True}))
        await ws.recv()  # the caller's answer
        ws.transport.abort()  # killed: no close frame

    def action(request: httpx.Request) -> httpx.Response:
        actions.append(dict(parse_qsl(request.content.decode())))
        return httpx.Response(200, text="<Response/>", headers={"content-type": "text/xml"})

    async with serve(handler, "127.0.0.1", 0) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        twiml = (
            '<Response><Connect action="https://svc.test/end"><ConversationRelay '
            'url="wss://svc.test/relay?call=c2"/></Connect></Response>'
        )
        async with httpx.AsyncClient(transport=httpx.MockTransport(action)) as posting:
            caller = RelayCaller.from_twiml(
                twiml,
                auth_token=TOKEN,
                call_sid="CA" + "3" * 32,
                account_sid="AC" + "4" * 32,
                from_="+15550001111",
                to="+14155550100",
                http=posting,
                route=("https://svc.test", f"http://127.0.0.1:{port}"),
            )
            assert caller.dial_url() == f"ws://127.0.0.1:{port}/relay?call=c2"
            await caller.open()
            assert await caller.next_utterance() == "Hi."
            await caller.say("An answer.", partials=False)
            assert await caller.wait_closed() == 1006
            assert caller.dropped
            ending = await caller.finish()
    assert ending.status_code == 200
    (form,) = actions
    assert (form["SessionStatus"], form["CallStatus"]) == ("failed", "in-progress")
    assert "HandoffData" not in form


async def test_an_invalid_frame_is_kept_not_fatal(http: httpx.AsyncClient) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send("not json")
        await ws.send(json.dumps({"type": "play", "source": "https://x.test/a.mp3"}))
        await ws.send(json.dumps({"type": "text", "token": "Still here.", "last": True}))
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        twiml = f'<Response><Connect><ConversationRelay url="ws://127.0.0.1:{port}/r"/></Connect></Response>'
        caller = RelayCaller.from_twiml(
            twiml, auth_token=TOKEN, call_sid="CA1", account_sid="AC1", from_="+1", to="+2"
        )
        await caller.open()
        assert await caller.next_utterance() == "Still here."
        kinds = [e.kind for e in caller.received]
        assert kinds == ["invalid", "message", "utterance"]
        assert caller.received[1].text == "play"
        await caller.hang_up()
        with pytest.raises(ValueError):
            await caller.finish()  # no action URL to post to


def test_the_module_is_exported() -> None:
    from services.devtools import standin

    assert standin.RelayCaller is relay_module.RelayCaller
