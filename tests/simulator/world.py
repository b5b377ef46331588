"""The service as `make run` has it in mock mode: a web server and a worker sharing a database.

The web server (with the phone simulator mounted) runs under uvicorn in a thread, on a
real port that is also its PUBLIC_BASE_URL, so the simulator's call player reaches the
webhooks over HTTP exactly as in development. The "worker" is a second `ConceptApp` on
the same database with its own `MockTelephony`, in the test's event loop: like the real
worker process, it shares nothing with the server but the database. Tests talk to the
server over HTTP only (its database client belongs to the server's thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import httpx
import uvicorn

from services.app.adapters import adapters_for
from services.app.assembly import concept_app, server_app
from services.app.clock import SystemClock
from services.app.config import Config, load_config
from services.app.worker_loop import CallWorker
from services.devtools.mock_completion import MockCompletionChecker
from services.devtools.phone_simulator import PhoneSimulator, attach_simulator
from services.devtools.phone_simulator_routes import install_simulator
from services.storage.database import make_async_client
from services.telephony.mock import MockTelephony
from tests.api_client import call_api, sign_up
from tests.passwords import hash_cheaply


class LiveServer:
    """uvicorn in a daemon thread on a free port, with the app's lifespan (engine, simulator)."""

    def __init__(self) -> None:
        # IPPROTO_TCP so accepted sockets get TCP_NODELAY (see docs/twilio-standin.md, Notes)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, app: Any) -> None:
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
        self._sock.close()


def adapters(config: Config, telephony: MockTelephony) -> dict[str, Any]:
    return adapters_for(config, telephony=telephony, completion=MockCompletionChecker())


@attrs.define
class World:
    http: httpx.AsyncClient
    base_url: str
    simulator: PhoneSimulator  # lives in the server's thread: read plain attributes only
    server_telephony: MockTelephony
    worker_telephony: MockTelephony
    worker: CallWorker
    worker_db: Any

    async def api(
        self,
        path: str,
        body: dict | None = None,
        token: str | None = None,
        expect: int | None = 200,
    ) -> Any:
        return await call_api(self.http, path, body, token, expect)

    async def sim(
        self, method: str, path: str, token: str | None, body: Any = None, expect: int | None = 200
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = await self.http.request(method, f"/simulator/api/{path}", json=body, headers=headers)
        if expect is not None:
            assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()

    async def sign_up(self, phone: str, *, verify: bool = True, **profile: Any) -> str:
        username = f"u{uuid.uuid4().hex[:10]}"
        token = await sign_up(self.http, username, phone, **profile)
        if verify:
            await self.api("PhoneVerification/start", {"phoneNumber": phone}, token)
            inbox = await self.sim("GET", "inbox", token)
            code = inbox["messages"][0]["code"]  # read from the simulator, as a developer would
            await self.api("PhoneVerification/confirm", {"code": code}, token)
        return token

    async def dial_due(self) -> list[Any]:
        """The worker claims and dials everything due; returns the calls it placed."""
        before = len(self.worker_telephony.calls)
        while await self.worker.claim_one():
            pass
        return self.worker_telephony.calls[before:]

    async def call_now(self, token: str) -> tuple[str, str]:
        """ "Call me now" and let the worker dial: (scheduled call id, call sid)."""
        scheduled = (await self.api("Calls/now", {}, token))["scheduledCall"]
        (placed,) = await self.dial_due()
        return scheduled, placed.sid

    async def call(self, token: str, sid: str) -> dict[str, Any]:
        return await self.sim("GET", f"calls/{sid}", token)

    async def until_call(
        self, token: str, sid: str, check: Callable[[dict[str, Any]], bool], timeout: float = 15
    ) -> dict[str, Any]:
        return await until(lambda: self.call(token, sid), check, timeout, what=f"call {sid}")

    async def scheduled(
        self, token: str, scheduled: str, check: Callable[[dict[str, Any]], bool] = lambda _: True
    ) -> dict[str, Any]:
        """The scheduled call once `check` holds (its syncs may finish after the webhook's reply)."""

        async def fetch() -> dict[str, Any]:
            rows = await self.api("CallScheduler/_recent", {}, token)
            return next(r for r in rows if r["scheduledCall"] == scheduled)

        return await until(fetch, check, what=f"scheduled call {scheduled}")


async def until(
    fetch: Callable[[], Awaitable[Any]],
    check: Callable[[Any], bool],
    timeout: float = 15,
    *,
    what: str = "condition",
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value!r}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_world(
    mongo_uri: str,
    *,
    worker_telephony: MockTelephony | None = None,
    settings: dict[str, str] | None = None,
    **simulator_options: Any,
) -> AsyncIterator[World]:
    """Web server (uvicorn thread, simulator mounted) + worker engine on one fresh database.

    ``worker_telephony``: the worker's provider (e.g. one that holds a dial midway);
    ``settings``: more configuration (e.g. ``CONVERSATION_TRANSPORT``).
    """
    server = LiveServer()
    environ = {
        "MONGODB_URI": mongo_uri,
        "DB_NAME": f"sim_{uuid.uuid4().hex[:12]}",
        "USE_MOCKS": "true",
        "PUBLIC_BASE_URL": server.base_url,
        "ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=",
        "RETRY_DELAY_SECONDS": "0",
        **(settings or {}),
    }
    config = load_config(environ, env_file=None)

    # the web server process: what services/app/assembly.py wires in mock mode
    server_telephony = MockTelephony()
    app = server_app(config, adapters(config, server_telephony))
    engine = app.state.concept_app.engine
    hash_cheaply(engine)
    attach_simulator(server_telephony, engine.db)
    options = {"tick_s": 0.05, "listen_timeout_s": 30, **simulator_options}
    simulator = install_simulator(app, engine, engine.db, config, **options)
    server.start(app)

    # the worker process
    client = make_async_client(mongo_uri)
    worker_db = client[config.db_name]
    worker_telephony = worker_telephony or MockTelephony()
    worker_app = concept_app(config, worker_db, adapters(config, worker_telephony))
    attach_simulator(worker_telephony, worker_db)
    try:
        async with (
            worker_app.running(),
            httpx.AsyncClient(base_url=server.base_url, timeout=20) as http,
        ):
            worker = CallWorker(worker_app.engine, SystemClock(), worker_id="test-worker")
            yield World(
                http,
                server.base_url,
                simulator,
                server_telephony,
                worker_telephony,
                worker,
                worker_db,
            )
    finally:
        server.stop()
        await client.drop_database(config.db_name)
        await client.close()
