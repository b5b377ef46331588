"""The whole service in-process: real concepts, syncs, routes and database; mock phone and LLM.

Calls are played by the Twilio call player against the ASGI app, with signed
webhooks, so the conversation syncs run exactly as they would behind uvicorn.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import pytest

from services.app.adapters import adapters_for
from services.app.assembly import MOCK_AUTH_TOKEN, server_app
from services.app.clock import FakeClock
from services.app.config import load_config
from services.app.worker_loop import CallWorker
from services.devtools.call_player import CallResult, CallSpec, play_call
from services.devtools.mock_completion import MockCompletionChecker
from services.telephony.mock import MockTelephony
from services.webhooks.signature import sign_twilio_request
from tests.api_client import call_api, sign_up
from tests.faults import FaultyDatabase, Rule
from tests.passwords import hash_cheaply

BASE = "http://test.local"
_numbers = (f"+1415555{n:04d}" for n in itertools.count(3000))


def next_number() -> str:
    """A phone number no other test user has (codes are throttled per number)."""
    return next(_numbers)


@attrs.define
class Service:
    http: httpx.AsyncClient
    app: Any
    telephony: MockTelephony
    worker: CallWorker
    faults: FaultyDatabase | None = None

    @property
    def clock(self) -> FakeClock:
        return self.worker.clock

    @property
    def engine(self) -> Any:
        return self.app.state.concept_app.engine

    async def api(
        self,
        path: str,
        body: dict | None = None,
        token: str | None = None,
        expect: int | None = 200,
    ) -> Any:
        return await call_api(self.http, path, body, token, expect)

    async def sign_up(
        self,
        username: str | None = None,
        *,
        phone: str | None = None,
        verify: bool = True,
        **profile: Any,
    ) -> str:
        username = username or f"u{uuid.uuid4().hex[:10]}"
        phone = phone or next_number()  # a number of its own: codes are throttled per number
        token = await sign_up(self.http, username, phone, **profile)
        if verify:
            await self.verify_phone(token, phone)
        return token

    async def verify_phone(self, token: str, phone: str) -> None:
        await self.api("PhoneVerification/start", {"phoneNumber": phone}, token)
        sms = [m for m in self.telephony.messages if m.to == phone][-1]
        code = re.search(r"\d{6}", sms.body).group(0)
        await self.api("PhoneVerification/confirm", {"code": code}, token)

    async def call_now(self, token: str) -> str:
        return (await self.api("Calls/now", {}, token))["scheduledCall"]

    async def dial_due(self) -> list[Any]:
        """Let the worker claim and dial everything due; returns the calls placed."""
        before = len(self.telephony.calls)
        while await self.worker.claim_one():
            pass
        return self.telephony.calls[before:]

    async def concept_state(self) -> dict[str, list[dict[str, Any]]]:
        """Every concept's documents (the action log aside), to compare before and after."""
        db = self.engine.db
        state = {}
        for name in sorted(await db.list_collection_names()):
            if name != "conceptkit_actions":
                state[name] = await db[name].find({}).sort("_id", 1).to_list(None)
        return state

    async def webhook(self, name: str, params: dict[str, str], *, call: str | None = None) -> Any:
        """POST a signed Twilio webhook, as Twilio would (``call``: our id in its URL)."""
        path = f"/webhooks/twilio/{name}" + (f"?call={call}" if call else "")
        signature = sign_twilio_request(MOCK_AUTH_TOKEN, BASE + path, params)
        return await self.http.post(path, data=params, headers={"X-Twilio-Signature": signature})

    async def play(self, placed: Any, callee: Any, **options: Any) -> CallResult:
        result = await play_call(
            CallSpec.from_mock_call(placed),
            auth_token=MOCK_AUTH_TOKEN,
            http=self.http,
            callee=callee,
            **options,
        )
        await self.engine.settle()  # flows still running after their reply (the goodbye's)
        await self.engine.log.flush()
        return result


@asynccontextmanager
async def running_service(
    mongo_uri: str,
    *,
    rules: list[Rule] | None = None,
    webhook_timeout_s: float = 8.0,
    telephony: MockTelephony | None = None,
    settings: dict[str, str] | None = None,
    relay: Any = None,
) -> AsyncIterator[Service]:
    """The whole service in-process; ``rules`` inject database faults (tests/faults.py)."""
    environ = {
        "MONGODB_URI": mongo_uri,
        "DB_NAME": f"app_{uuid.uuid4().hex[:12]}",
        "USE_MOCKS": "true",
        "PUBLIC_BASE_URL": BASE,
        "ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=",
        "RETRY_DELAY_SECONDS": "0",
        **(settings or {}),
    }
    config = load_config(environ, env_file=None)
    telephony = telephony or MockTelephony(seed=7)
    services = adapters_for(
        config,
        clock=FakeClock(dt.datetime.now(dt.UTC)),
        telephony=telephony,
        completion=MockCompletionChecker(),
    )
    faults: list[FaultyDatabase] = []

    def wrap(db: Any) -> Any:
        faults.append(FaultyDatabase(db, rules))
        return faults[-1]

    app = server_app(
        config,
        services,
        webhook_timeout_s=webhook_timeout_s,
        database=wrap if rules is not None else None,
        relay=relay,
    )
    hash_cheaply(app.state.concept_app.engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            engine = app.state.concept_app.engine
            worker = CallWorker(engine, services["clock"], worker_id="test-worker")
            yield Service(http, app, telephony, worker, faults[0] if faults else None)
            await engine.settle()
            await engine.log.flush()
            await engine.db.client.drop_database(config.db_name)


@pytest.fixture
async def service(mongo_uri) -> AsyncIterator[Service]:
    async with running_service(mongo_uri) as svc:
        yield svc
