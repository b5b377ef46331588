"""A world that outlives the service: the database, the phone provider, the clock, the user.

The service (server and worker in one process, as in tests/app) runs on a
``FaultyDatabase`` that dies at a chosen write. Everything outside the process
survives the crash, as it would: the embedded database, the mock provider and the
calls it is playing (the Twilio call player, which hears a connection failure as
Twilio does: "an application error has occurred", then a hang-up and its status
callback), the clock, and the user with their token. The next request finds the
process dead and starts a new one on the same database, as a process manager
would; it starts "later" (past the recovery grace period), so what the dead
process owed is replayed at once.

Each request's flow is allowed to finish (``Engine.settle``) before the caller goes
on, and the engine's own background writes (log flusher, recovery, heartbeat) are
not crash points, so the n-th write of a flow is the same write on every run:
a failure names its flow and crash point, and reruns the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import httpx

from services.app.adapters import adapters_for
from services.app.assembly import MOCK_AUTH_TOKEN, server_app
from services.app.clock import FakeClock
from services.app.config import load_config
from services.app.worker_loop import CallWorker
from services.devtools.call_player import CallPlayer, CallResult, CallSpec, PlayerOptions
from services.devtools.mock_completion import MockCompletionChecker
from services.telephony import ENDED_PROGRESS
from services.telephony.mock import CallEnded, MockTelephony
from services.telephony.progress import progress
from tests.api_client import call_api, sign_up
from tests.faults import FaultyDatabase, ProcessDied, Rule
from tests.passwords import hash_cheaply

BASE = "http://test.local"
GRACE = 30.0
BACKGROUND = ("conceptkit-",)  # the engine's own tasks: their writes are not crash points


def flow_write(collection: str, method: str) -> bool:
    """A write made by a flow (a request, a worker step), not by the engine's housekeeping."""
    task = asyncio.current_task()
    return task is None or not task.get_name().startswith(BACKGROUND)


@attrs.define
class Process:
    app: Any
    lifespan: Any
    transport: httpx.ASGITransport
    worker: CallWorker
    faults: FaultyDatabase

    @property
    def engine(self) -> Any:
        return self.app.state.concept_app.engine


class SwitchingTransport(httpx.AsyncBaseTransport):
    """Requests reach the live process; a dead one is replaced first (restarted at once)."""

    def __init__(self, world: World) -> None:
        self.world = world

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        process = await self.world.alive()
        try:
            response = await process.transport.handle_async_request(request)
            await response.aread()
        except ProcessDied:
            raise httpx.RemoteProtocolError("server disconnected: the process died") from None
        await process.engine.settle()  # the flow's tail finishes before the caller goes on
        return response


class World:
    """The database, provider, clock and users of one scenario, across any number of crashes."""

    def __init__(self, mongo_uri: str) -> None:
        self.db_name = f"crash_{uuid.uuid4().hex[:12]}"
        environ = {
            "MONGODB_URI": mongo_uri,
            "DB_NAME": self.db_name,
            "USE_MOCKS": "true",
            "PUBLIC_BASE_URL": BASE,
            "ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=",
            "RETRY_DELAY_SECONDS": "0",
            "RECOVERY_GRACE_SECONDS": str(GRACE),
        }
        self.config = load_config(environ, env_file=None)
        self.clock = FakeClock(dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC))
        self.telephony = MockTelephony(seed=5, clock=self.clock.now)
        self.completion = MockCompletionChecker()
        self.later = 0.0  # wall-clock offset of the current process (restarts come "later")
        self.process: Process | None = None
        self.dead: list[Process] = []
        self.http = httpx.AsyncClient(transport=SwitchingTransport(self), base_url=BASE)
        self.players: dict[str, CallPlayer] = {}
        self.results: dict[str, CallResult] = {}
        self.telephony.subscribe(self._provider_event)

    # -- the process ---------------------------------------------------------------------

    async def start(self, rules: list[Rule] | None = None) -> Process:
        services = adapters_for(
            self.config, clock=self.clock, telephony=self.telephony, completion=self.completion
        )
        holder: list[FaultyDatabase] = []

        def wrap(db: Any) -> FaultyDatabase:
            holder.append(FaultyDatabase(db, rules))
            return holder[0]

        offset = self.later
        app = server_app(
            self.config, services, database=wrap, wall_clock=lambda: time.time() + offset
        )
        hash_cheaply(app.state.concept_app.engine)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()  # starts the engine: recovery replays what was owed
        engine = app.state.concept_app.engine
        worker = CallWorker(engine, self.clock, worker_id=f"worker-{len(self.dead)}")
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        self.process = Process(app, lifespan, transport, worker, holder[0])
        return self.process

    async def alive(self) -> Process:
        assert self.process is not None
        if self.process.faults.dead:
            await self.restart()
        return self.process

    async def restart(self) -> Process:
        """The process died: start a new one, after the grace period (what it owed replays)."""
        assert self.process is not None
        self.dead.append(self.process)
        self.later += GRACE + 1
        return await self.start()

    async def step(self, action: Callable[[Process], Awaitable[Any]]) -> Any:
        """Run one step of the user's or the worker's; if the process dies in it, restart and
        run it again (the user presses again; another worker process takes the queue on)."""
        for _ in range(3):
            process = await self.alive()
            try:
                return await action(process)
            except ProcessDied:
                continue
        raise AssertionError("the process kept dying")

    async def close(self) -> None:
        for process in self.dead:  # the dead: stop their tasks, release their connections
            engine = process.engine
            for task in (engine._recovery_task, engine._heartbeat_task, engine.log._flusher):
                if task is not None:
                    task.cancel()
            await engine.db.client.close()
        if self.process is not None:
            await self.process.engine.db.client.drop_database(self.db_name)
            if not self.process.faults.dead:
                await self.process.lifespan.__aexit__(None, None, None)
            else:
                await self.process.engine.db.client.close()
        await self.http.aclose()

    # -- the user ------------------------------------------------------------------------

    async def api(self, path: str, body: dict | None = None, token: str | None = None, **kw):
        return await call_api(self.http, path, body, token, **kw)

    async def sign_up(self, **profile: Any) -> str:
        phone = profile.pop("phone", "+14155550142")
        token = await sign_up(self.http, f"u{uuid.uuid4().hex[:8]}", phone, **profile)
        await self.api("PhoneVerification/start", {"phoneNumber": phone}, token)
        code = re.search(r"\d{6}", self.telephony.messages[-1].body).group(0)
        await self.api("PhoneVerification/confirm", {"code": code}, token)
        return token

    # -- the provider --------------------------------------------------------------------

    async def dial_due(self) -> None:
        async def claim_all(process: Process) -> None:
            while await process.worker.claim_one():
                await process.engine.settle()

        await self.step(claim_all)

    def unplayed(self) -> list[Any]:
        return [c for c in self.telephony.calls if c.sid not in self.results]

    async def play_all(self, callee: Callable[[], Any]) -> None:
        """Play every call the provider placed and has not played yet, one after the other."""
        while pending := self.unplayed():
            call = pending[0]
            self.results[call.sid] = CallResult(sid=call.sid, to=call.to, from_=call.from_)
            if call.status in ENDED_PROGRESS:
                continue  # hung up before it rang
            player = CallPlayer(
                CallSpec.from_mock_call(call),
                auth_token=MOCK_AUTH_TOKEN,
                http=self.http,
                callee=callee(),
                options=PlayerOptions(sleep=_no_sleep, clock=self.clock.now),
            )
            self.players[call.sid] = player
            self.results[call.sid] = await player.play()
            # the player reports as Twilio does; the mock keeps the port's word for it
            call.status = progress(self.results[call.sid].final_status) or call.status

    def _provider_event(self, event: Any) -> None:
        if isinstance(event, CallEnded) and event.call.sid in self.players:
            self.players[event.call.sid].end("api")

    # -- letting it all finish -----------------------------------------------------------

    async def finish(self, callee: Callable[[], Any], rounds: int = 4) -> None:
        """Let time pass as it would, without the reconciler: owed reactions replay, leases
        expire, retries are dialled and answered, until nothing is left to do. Every event
        reaches the service here (restarts are instant), so the engine alone must heal."""
        for _ in range(rounds):
            await self.play_all(callee)
            await self.step(lambda p: p.engine.settle())
            await self.step(lambda p: p.engine.recover())
            self.clock.advance(seconds=90)  # past leases and retry delays
            await self.dial_due()
            await self.play_all(callee)
        await self.step(lambda p: p.engine.settle())
        await self.step(lambda p: p.engine.log.flush())

    async def reconcile_later(self) -> list[str]:
        """What the reconciler finds to repair half an hour later (nothing, if all healed)."""
        self.clock.advance(minutes=30)
        repaired = await self.step(lambda p: p.worker.reconcile())
        await self.step(lambda p: p.engine.settle())
        return repaired


async def _no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def world_of(mongo_uri: str):
    world = World(mongo_uri)
    await world.start()
    try:
        yield world
    finally:
        await world.close()
