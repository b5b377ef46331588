"""The conversation over ConversationRelay, served by a real uvicorn with real WebSockets.

Each test plays Twilio's side by hand: the signed voice webhook, the signed upgrade of the
socket the TwiML names, the protocol's JSON messages, and the signed session-ended
callback. What is asserted is what the caller hears, in order, and what the reflection
keeps: the same conversation rules as the Gather transport, through the same syncs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest
import uvicorn
import websockets

from services.app.assembly import MOCK_AUTH_TOKEN
from services.storage.embedded_mongo import free_port
from services.webhooks.relay import RelaySettings
from services.webhooks.relay_session import ACKNOWLEDGEMENT
from services.webhooks.signature import sign_twilio_request
from services.webhooks.turns import APOLOGY
from tests.app.conftest import Service, running_service

ANSWERS = ["A quiet morning.", "A long walk in the park.", "Rest more tomorrow."]
# the greeting is "heard" at once; a silent turn lasts 0.2 s (order is asserted, not time)
FAST = RelaySettings(silence_s=0.2, words_per_second=1e6, ack_after_s=30)


@attrs.define
class Served:
    svc: Service
    port: int


@contextlib.asynccontextmanager
async def served(mongo_uri: str, relay: RelaySettings = FAST) -> AsyncIterator[Served]:
    settings = {"CONVERSATION_TRANSPORT": "relay"}
    async with running_service(mongo_uri, settings=settings, relay=relay) as svc:
        port = free_port()
        config = uvicorn.Config(
            svc.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
        server = uvicorn.Server(config)
        task = asyncio.ensure_future(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        try:
            yield Served(svc, port)
        finally:
            server.should_exit = True
            await task


@attrs.define
class Relay:
    """Twilio's side of one ConversationRelay session."""

    served: Served
    sid: str
    socket_url: str
    action_url: str
    parameters: dict[str, str]
    greeting: str
    attributes: dict[str, str]
    socket: Any = None
    heard: list[str] = attrs.Factory(list)  # utterances we were sent, in order
    handoff: str | None = None

    def local(self, url: str) -> str:
        parts = urlsplit(url)
        return f"ws://127.0.0.1:{self.served.port}{parts.path}?{parts.query}"

    async def open(self, signature: str | None = "valid") -> None:
        headers = {}
        if signature == "valid":
            headers["X-Twilio-Signature"] = sign_twilio_request(MOCK_AUTH_TOKEN, self.socket_url)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        self.socket = await websockets.connect(
            self.local(self.socket_url), additional_headers=headers
        )
        await self.send(
            type="setup",
            sessionId="VX" + "0" * 32,
            callSid=self.sid,
            accountSid="AC" + "0" * 32,
            customParameters=self.parameters,
        )

    async def send(self, **message: Any) -> None:
        await self.socket.send(json.dumps(message))

    async def say(self, text: str, *, partial: str | None = None) -> None:
        if partial:
            await self.send(type="prompt", voicePrompt=partial, lang="en-US", last=False)
        await self.send(type="prompt", voicePrompt=text, lang="en-US", last=True)

    async def utterance(self) -> str:
        """The next whole utterance we are sent (tokens up to last:true), or "END"."""
        tokens = []
        while True:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), 30))
            if message["type"] == "end":
                self.handoff = message["handoffData"]
                return "END"
            assert message["type"] == "text", message
            tokens.append(message["token"])
            if message["last"]:
                self.heard.append("".join(tokens))
                return self.heard[-1]

    async def finish(self, **form: str) -> str:
        """The session-ended callback, signed; returns its TwiML."""
        fields = {"AccountSid": "AC" + "0" * 32, "CallSid": self.sid, "SessionId": "VX1"}
        fields.update(form)
        if self.handoff is not None and "HandoffData" not in form:
            fields["HandoffData"] = self.handoff
        path = urlsplit(self.action_url)
        relative = f"{path.path}?{path.query}"
        signature = sign_twilio_request(MOCK_AUTH_TOKEN, self.action_url, fields)
        r = await self.served.svc.http.post(
            relative, data=fields, headers={"X-Twilio-Signature": signature}
        )
        assert r.status_code == 200, r.text
        return r.text


async def answered(served: Served, token: str | None, placed: Any = None) -> Relay:
    """Call the user (or take the call ``placed``), and answer: the voice webhook's TwiML
    hands the call to the relay."""
    svc = served.svc
    if placed is None:
        await svc.call_now(token)
        (placed,) = await svc.dial_due()
    call = re.search(r"call=([0-9a-f]+)", placed.answer_url).group(1)
    r = await svc.webhook("voice", {"CallSid": placed.sid, "AnsweredBy": "human"}, call=call)
    root = ET.fromstring(r.text)
    connect = root.find("Connect")
    assert connect is not None, r.text
    relay = connect.find("ConversationRelay")
    params = {p.get("name"): p.get("value") for p in relay.findall("Parameter")}
    return Relay(
        served,
        placed.sid,
        relay.get("url"),
        connect.get("action"),
        params,
        relay.get("welcomeGreeting"),
        dict(relay.attrib),
    )


async def prompts_of(svc: Service, token: str) -> list[str]:
    return [p["text"] for p in await svc.api("Prompts/_prompts", {}, token)]


async def history(svc: Service, token: str) -> dict:
    await svc.engine.settle()
    (done,) = await svc.api("ReflectionSession/_history", {}, token)
    return done


async def test_a_whole_call_streams_each_prompt_and_keeps_every_answer(mongo_uri):
    async with served(mongo_uri) as s:
        token = await s.svc.sign_up()
        prompts = await prompts_of(s.svc, token)
        relay = await answered(s, token)
        assert relay.attributes["url"].startswith("ws://test.local/webhooks/twilio/relay?call=")
        assert prompts[0] in relay.greeting, "the first prompt is spoken with the greeting"
        assert relay.attributes["interruptible"] == "any"
        assert relay.attributes["dtmfDetection"] == "true"
        await relay.open()
        await relay.say(ANSWERS[0])
        assert prompts[1] in await relay.utterance()
        await relay.say(ANSWERS[1])
        assert prompts[2] in await relay.utterance()
        await relay.say(ANSWERS[2])
        assert await relay.utterance() == "END"
        twiml = await relay.finish(CallStatus="in-progress", SessionStatus="ended")
        assert "<Say>" in twiml and "<Hangup" in twiml, "the goodbye is spoken, then hang-up"
        done = await history(s.svc, token)
        assert done["status"] == "COMPLETED" and done["method"] == "PHONE"
        assert [p["answer"] for p in done["prompts"]] == ANSWERS


async def test_a_two_part_answer_is_kept_whole(mongo_uri):
    """A trailing-off first part is judged incomplete: nothing is said, the call listens on."""
    async with served(mongo_uri) as s:
        token = await s.svc.sign_up()
        prompts = await prompts_of(s.svc, token)
        relay = await answered(s, token)
        await relay.open()
        await relay.say("I was grateful for my sister and", partial="I was grateful")
        await relay.say("her phone call this morning.")
        assert prompts[1] in await relay.utterance(), "the next prompt only after both parts"
        await relay.say(ANSWERS[1])
        await relay.utterance()
        await relay.say(ANSWERS[2])
        assert await relay.utterance() == "END"
        await relay.finish(CallStatus="in-progress", SessionStatus="ended")
        done = await history(s.svc, token)
        first = done["prompts"][0]["answer"]
        assert "my sister and" in first and "her phone call this morning" in first


async def test_silence_asks_again_then_moves_on(mongo_uri):
    async with served(mongo_uri) as s:
        token = await s.svc.sign_up()
        prompts = await prompts_of(s.svc, token)
        relay = await answered(s, token)
        await relay.open()
        again = await relay.utterance()  # nothing said after the greeting
        assert prompts[0] in again and again != relay.greeting, "the prompt, asked once more"
        assert prompts[1] in await relay.utterance(), "silent twice: the call moves on"
        await relay.say(ANSWERS[1])
        await relay.utterance()
        await relay.say(ANSWERS[2])
        assert await relay.utterance() == "END"
        await relay.finish(CallStatus="in-progress", SessionStatus="ended")
        done = await history(s.svc, token)
        assert [p["answer"] for p in done["prompts"]][1:] == ANSWERS[1:]
        assert not done["prompts"][0]["answer"]


async def test_barge_in_answers_the_prompt_being_asked(mongo_uri):
    async with served(mongo_uri) as s:
        token = await s.svc.sign_up()
        prompts = await prompts_of(s.svc, token)
        relay = await answered(s, token)
        await relay.open()
        await relay.say(ANSWERS[0])
        assert prompts[1] in await relay.utterance()
        # the caller talks over the second prompt
        await relay.send(
            type="interrupt", utteranceUntilInterrupt="Thank", durationUntilInterruptMs=300
        )
        await relay.say(ANSWERS[1])
        assert prompts[2] in await relay.utterance()
        await relay.say(ANSWERS[2])
        assert await relay.utterance() == "END"
        await relay.finish(CallStatus="in-progress", SessionStatus="ended")
        done = await history(s.svc, token)
        assert [p["answer"] for p in done["prompts"]] == ANSWERS


async def test_a_slow_verdict_is_acknowledged_before_the_reply(mongo_uri):
    """A judge slower than ``ack_after_s`` (here: any) gets "Mm-hm." first, then the reply."""
    eager = attrs.evolve(FAST, ack_after_s=0.0)
    async with served(mongo_uri, eager) as s:
        token = await s.svc.sign_up()
        prompts = await prompts_of(s.svc, token)
        relay = await answered(s, token)
        await relay.open()
        await relay.say(ANSWERS[0])
        assert await relay.utterance() == ACKNOWLEDGEMENT
        assert prompts[1] in await relay.utterance()


@pytest.mark.parametrize("signature", [None, "forged", "other-url"])
async def test_an_unsigned_or_forged_upgrade_is_refused_and_changes_nothing(mongo_uri, signature):
    async with served(mongo_uri) as s:
        token = await s.svc.sign_up()
        relay = await answered(s, token)
        before = await s.svc.concept_state()
        if signature == "other-url":
            signature = sign_twilio_request(MOCK_AUTH_TOKEN, relay.socket_url + "x")
        with pytest.raises(websockets.InvalidStatus) as refused:
            await relay.open(signature)
        assert refused.value.response.status_code == 403
        assert await s.svc.concept_state() == before


async def test_a_replayed_upgrade_cannot_open_a_second_session(mongo_uri):
    async with served(mongo_uri) as s:
        token = await s.svc.sign_up()
        prompts = await prompts_of(s.svc, token)
        relay = await answered(s, token)
        await relay.open()
        intruder = attrs.evolve(relay, socket=None)
        await intruder.open()  # the same signed upgrade, replayed
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await intruder.utterance()
        assert closed.value.rcvd.code == 1008
        await relay.say(ANSWERS[0])
        assert prompts[1] in await relay.utterance(), "the first session goes on"


async def test_a_session_lost_midway_keeps_the_answers_and_calls_back(mongo_uri):
    """The socket's process died: Twilio posts SessionStatus=failed with the caller still on
    the line. They hear an apology; the reflection is closed with every answer already
    acknowledged, and the call is failed on our side, so the user is called again."""
    async with served(mongo_uri) as s:
        token = await s.svc.sign_up()
        prompts = await prompts_of(s.svc, token)
        relay = await answered(s, token)
        await relay.open()
        await relay.say(ANSWERS[0])
        assert prompts[1] in await relay.utterance()
        await relay.socket.close()  # as Twilio sees a dead server: the session is over
        twiml = await relay.finish(CallStatus="in-progress", SessionStatus="failed")
        assert APOLOGY.split(".")[0] in twiml and "<Hangup" in twiml
        status = {"CallSid": relay.sid, "CallStatus": "completed", "SequenceNumber": "9"}
        await s.svc.webhook("status", status)
        lost = await history(s.svc, token)
        assert lost["prompts"][0]["answer"] == ANSWERS[0], "the acknowledged answer is kept"
        assert await s.svc.api("ReflectionSession/_active", {}, token) == [], "nothing stuck"
        (retry,) = await s.svc.dial_due()
        assert retry.sid != relay.sid, "we call again"
        again = await answered(s, None, retry)
        assert prompts[0] in again.greeting, "the new call greets and asks as usual"


async def test_a_caller_who_hangs_up_needs_no_twiml(mongo_uri):
    async with served(mongo_uri) as s:
        token = await s.svc.sign_up()
        relay = await answered(s, token)
        await relay.open()
        await relay.socket.close()
        twiml = await relay.finish(CallStatus="completed", SessionStatus="completed")
        assert "<Say" not in twiml and APOLOGY not in twiml


async def test_the_callers_words_stay_out_of_the_logs(mongo_uri, caplog):
    secret = "my neighbour's secret garden"
    caplog.set_level(logging.DEBUG)
    async with served(mongo_uri) as s:
        token = await s.svc.sign_up()
        relay = await answered(s, token)
        await relay.open()
        await relay.say(secret + ".")
        await relay.utterance()
        await relay.send(type="error", description="something")
        await relay.send(type="nonsense")
        await relay.socket.send("{not json")
        await relay.say(ANSWERS[1])
        await relay.utterance()
    assert caplog.records, "the session logged something"
    assert not any(secret in r.getMessage() for r in caplog.records)


async def test_keys_work_on_the_relay_as_on_gather(mongo_uri):
    """1 skips the prompt, 0 repeats it, 9 ends the call keeping what was said."""
    async with served(mongo_uri) as s:
        token = await s.svc.sign_up()
        prompts = await prompts_of(s.svc, token)
        relay = await answered(s, token)
        await relay.open()
        await relay.send(type="dtmf", digit="1")
        assert prompts[1] in await relay.utterance(), "1 skipped the first prompt"
        await relay.send(type="dtmf", digit="0")
        assert prompts[1] in await relay.utterance(), "0 asked it again"
        await relay.say(ANSWERS[1])
        assert prompts[2] in await relay.utterance()
        await relay.send(type="dtmf", digit="9")
        assert await relay.utterance() == "END"
        twiml = await relay.finish(CallStatus="in-progress", SessionStatus="ended")
        assert "<Hangup" in twiml
        done = await history(s.svc, token)
        assert [p["answer"] for p in done["prompts"]][1] == ANSWERS[1]
        assert not done["prompts"][0]["answer"] and not done["prompts"][2]["answer"]
        await s.svc.engine.settle()
        assert await s.svc.dial_due() == [], "finishing by key is not a missed call"
