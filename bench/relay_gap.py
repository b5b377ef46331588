"""The caller-perceived gap on ConversationRelay: from the caller's final words to our reply.

Measured as the time from sending a final ``prompt`` message (``last: true``) to receiving
the first ``text`` token of the reply, over a real uvicorn with a real WebSocket, the
whole service in-process (embedded database, mock telephony), for complete answers.
The completeness check is either the local rules (``COMPLETION_CHECK=local``: they lean
on the pause, so a plain sentence after the 1 s pause waits for the second look at 3 s)
or a checker that knows the answer is whole after 0 s, 0.4 s (a typical Gemini verdict)
or 1.5 s (a slow one, which the caller hears acknowledged first: the gap is then to
the "Mm-hm.").

Twilio adds its own end-of-speech pause before the prompt message (``speechTimeout``,
1 s by default here) and its speech synthesis after our token; neither is in this figure.
On ``<Gather>`` the same gap is 3 s of ``speechTimeout`` plus the webhook's turn
(bench/turn_profile.py), before Twilio even fetches the TwiML.

Usage: python bench/relay_gap.py [--calls 6] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import statistics
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import uvicorn
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.app.adapters import adapters_for
from services.app.assembly import MOCK_AUTH_TOKEN, server_app
from services.app.clock import FakeClock
from services.app.config import load_config
from services.app.worker_loop import CallWorker
from services.completion.port import CompletionVerdict
from services.devtools.mock_completion import MockCompletionChecker
from services.storage.embedded_mongo import EmbeddedMongo, free_port
from services.telephony.mock import MockTelephony
from services.webhooks.relay import RelaySettings
from services.webhooks.signature import sign_twilio_request
from tests.api_client import call_api, sign_up

BASE = "http://bench.local"
ANSWERS = ["A quiet morning with coffee.", "Finishing the report on time.", "Sleep early."]
DELAYS = (0.0, 0.4, 1.5)


class VerdictIn:
    """A checker that knows each answer is whole after ``delay_s`` (as Gemini would, in its
    time): what the transport adds to a verdict, without the local rules' wait for a pause."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    async def check(self, *, question: str, answer: str, pause_seconds: float) -> CompletionVerdict:
        await asyncio.sleep(self.delay_s)
        return CompletionVerdict(True, 0.95, "whole", source="gemini")


async def one_setting(uri: str, checker: object, calls: int) -> list[float]:
    config = load_config(
        {
            "MONGODB_URI": uri,
            "DB_NAME": f"bench_{uuid.uuid4().hex[:8]}",
            "USE_MOCKS": "true",
            "PUBLIC_BASE_URL": BASE,
            "ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=",
            "LOG_LEVEL": "WARNING",
            "CONVERSATION_TRANSPORT": "relay",
        },
        env_file=None,
    )
    telephony = MockTelephony(seed=1)
    services = adapters_for(
        config,
        clock=FakeClock(dt.datetime.now(dt.UTC)),
        telephony=telephony,
        completion=checker,
    )
    app = server_app(config, services, relay=RelaySettings(silence_s=60))
    gaps: list[float] = []
    async with app.router.lifespan_context(app):
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
        )
        serving = asyncio.ensure_future(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        engine = app.state.concept_app.engine
        worker = CallWorker(engine, services["clock"], worker_id="bench")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for i in range(calls):
                await _sign_up_and_call(http, telephony, f"+1415555{i:04d}")
            while await worker.claim_one():
                pass
            for placed in telephony.calls:
                gaps += await _play(http, port, placed)
        server.should_exit = True
        await serving
        await engine.settle()
        await engine.log.flush()
        await engine.db.client.drop_database(config.db_name)
    return gaps


async def _play(http: httpx.AsyncClient, port: int, placed) -> list[float]:
    call = re.search(r"call=([0-9a-f]+)", placed.answer_url).group(1)
    path = f"/webhooks/twilio/voice?call={call}"
    form = {"CallSid": placed.sid, "AnsweredBy": "human"}
    signature = sign_twilio_request(MOCK_AUTH_TOKEN, BASE + path, form)
    twiml = (await http.post(path, data=form, headers={"X-Twilio-Signature": signature})).text
    relay = ET.fromstring(twiml).find("Connect/ConversationRelay")
    url = relay.get("url")
    params = {p.get("name"): p.get("value") for p in relay.findall("Parameter")}
    local = f"ws://127.0.0.1:{port}{urlsplit(url).path}?{urlsplit(url).query}"
    headers = {"X-Twilio-Signature": sign_twilio_request(MOCK_AUTH_TOKEN, url)}
    gaps = []
    async with websockets.connect(local, additional_headers=headers) as socket:
        setup = {"type": "setup", "callSid": placed.sid, "customParameters": params}
        await socket.send(json.dumps(setup))
        for answer in ANSWERS:
            prompt = {"type": "prompt", "voicePrompt": answer, "lang": "en-US", "last": True}
            sent = time.perf_counter()
            await socket.send(json.dumps(prompt))
            first = json.loads(await socket.recv())
            gaps.append(time.perf_counter() - sent)
            while first.get("type") == "text" and not first.get("last"):
                first = json.loads(await socket.recv())
            if first.get("type") == "text" and first.get("token") == "Mm-hm.":
                first = json.loads(await socket.recv())  # the reply after the acknowledgement
                while first.get("type") == "text" and not first.get("last"):
                    first = json.loads(await socket.recv())
    return gaps


async def _sign_up_and_call(http: httpx.AsyncClient, telephony: MockTelephony, phone: str) -> None:
    token = await sign_up(http, f"u{uuid.uuid4().hex[:10]}", phone)
    await call_api(http, "PhoneVerification/start", {"phoneNumber": phone}, token)
    sms = [m for m in telephony.messages if m.to == phone][-1]
    code = re.search(r"\d{6}", sms.body).group(0)
    await call_api(http, "PhoneVerification/confirm", {"code": code}, token)
    await call_api(http, "Calls/now", {}, token)


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=6)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedMongo(tmp) as server:
        print(f"{'checker':<22} {'run':>4} {'n':>4} {'p50 ms':>8} {'p90 ms':>8} {'max ms':>8}")
        settings = [("local rules", MockCompletionChecker)]
        settings += [(f"verdict in {d:.1f} s", lambda d=d: VerdictIn(d)) for d in DELAYS]
        for label, make in settings:
            medians = []
            for run in range(1, args.runs + 1):
                gaps = asyncio.run(one_setting(server.uri, make(), args.calls))
                medians.append(statistics.median(gaps) * 1000)
                print(
                    f"{label:<22} {run:>4} {len(gaps):>4} {_ms(gaps, 0.5):>8.1f}"
                    f" {_ms(gaps, 0.9):>8.1f} {max(gaps) * 1000:>8.1f}"
                )
            print(f"{'':<22} median of the runs' medians: {statistics.median(medians):.1f} ms")


if __name__ == "__main__":
    main()
