"""The Twilio stand-in: its REST API served, and the calls created played for real.

`TwilioRestStandIn` serves the REST API (`services.devtools.standin.rest`) on a local
port. `TwilioStandIn` is the REST stand-in whose calls come alive: when the real `twilio`
client creates a call (POST Calls.json), a `services.devtools.call_player.CallPlayer`
plays it in the background, on the stand-in's own uvicorn thread and loop, sending signed webhooks over real HTTP to the server under test
and answering as the callee registered for the `To` number. `calls(sid).update(status=
"completed")` hangs up a live call. Messages are recorded, so tests can read SMS codes.

    with TwilioStandIn() as twilio:
        twilio.callee_for("+14155550100", ScriptedCallee(["I was grateful for..."]))
        telephony = TwilioTelephony(twilio.account_sid, twilio.auth_token, FROM,
                                    api_base_url=twilio.base_url)
        ...
        [result] = await twilio.wait_for_calls(1, timeout=5)

The phone simulator plays its calls with the same `CallPlayer` (docs/twilio-standin.md);
`services.devtools.standin.webhooks.ScriptedWebhooks` is a scripted webhook server for
testing the player and the stand-in themselves.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import httpx

from services.devtools.call_player import CallPlayer, CallResult, CallSpec, PlayerOptions
from services.devtools.callees import NoAnswerCallee
from services.devtools.standin.rest import (
    ENDED,
    Fault,
    RecordedRequest,
    StandInState,
    build_app,
    new_sid,
    rfc2822,
)
from services.devtools.standin.servers import RoutingTransport, ServerThread

__all__ = [
    "PlayingState",
    "TwilioRestStandIn",
    "TwilioStandIn",
    "no_sleep",
]

CalleeFactory = Callable[[], Any]


async def no_sleep(_seconds: float) -> None:
    """The stand-in's default `sleep`: callee pauses cost no real time."""


class TwilioRestStandIn:
    """`with TwilioRestStandIn() as twilio:` then point `api_base_url` at `twilio.base_url`."""

    def __init__(self, account_sid: str | None = None, auth_token: str = "standin-token") -> None:
        self.state = StandInState(account_sid or new_sid("AC"), auth_token)
        self.server = ServerThread(build_app(self.state))

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def account_sid(self) -> str:
        return self.state.account_sid

    @property
    def auth_token(self) -> str:
        return self.state.auth_token

    def fail_next(self, endpoint: str, fault: Fault, times: int = 1) -> None:
        self.state.fail_next(endpoint, fault, times)

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        return self.state.requests_to(endpoint)

    def __enter__(self) -> TwilioRestStandIn:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.stopping.set()
        self.server.stop()


class PlayingState(StandInState):
    """`StandInState` whose calls are played: creation starts a player, hang-up ends it."""

    def __init__(self, account_sid: str, auth_token: str, owner: TwilioStandIn) -> None:
        super().__init__(account_sid, auth_token)
        self.owner = owner

    def create_call(self, form: dict[str, list[str]]) -> dict[str, Any]:
        call = super().create_call(form)  # runs inside the REST handler, on the server loop
        spec = CallSpec.from_rest_params(form, sid=call["sid"], account_sid=self.account_sid)
        self.owner._start(spec)
        return call

    def set_call_status(self, sid: str, status: str) -> dict[str, Any]:
        """Only the REST endpoint (calls.update) calls this: hang up the live call."""
        call = super().set_call_status(sid, status)
        if status in ENDED:
            self.owner._hang_up(sid)
        return call

    def progress(self, sid: str, status: str, result: CallResult) -> None:
        """The player reached `status`: mirror it in the call resource (never undo an end)."""
        now = rfc2822(datetime.now(UTC))
        with self.lock:
            call = self.calls.get(sid)
            if call is None:
                return
            if status != "initiated" and call["status"] not in ENDED:
                call["status"] = status
                call["date_updated"] = now
                if call["start_time"] is None:
                    call["start_time"] = now
                if status in ENDED:
                    call["end_time"] = now
            call["answered_by"] = result.answered_by
            if status in ENDED:
                call["duration"] = str(result.duration_s)
                call["end_time"] = call["end_time"] or now


class TwilioStandIn(TwilioRestStandIn):
    """REST stand-in + call player. Player options (see `PlayerOptions`) are keyword
    arguments here, or changed later with `configure(...)`; `sleep` defaults to no-op.
    Calls to a number without a registered callee ring out (`NoAnswerCallee`)."""

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str = "standin-token",
        *,
        default_callee: CalleeFactory = NoAnswerCallee,
        route: tuple[str, str] | None = None,
        **options: Any,
    ) -> None:
        """``route=(public_base, local_base)`` delivers webhooks (and ConversationRelay
        sockets) addressed to the public https URL to the local server, as a
        TLS-terminating proxy would; they stay signed for the public URL."""
        self.route = route
        # Not calling super().__init__: it would build a plain state and bind a second port.
        self.state = PlayingState(account_sid or new_sid("AC"), auth_token, self)
        self.server = ServerThread(build_app(self.state))
        self.options = PlayerOptions(**{"sleep": no_sleep, **options})
        self.default_callee = default_callee
        self._lock = threading.Lock()
        self._callees: dict[str, list[Any]] = {}
        self._factories: dict[str, CalleeFactory] = {}
        self._players: dict[str, CallPlayer] = {}
        self._results: list[CallResult] = []
        self._crashes: list[BaseException] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: httpx.AsyncClient | None = None

    # -- configuration (any thread) -----------------------------------------------------

    def configure(self, **options: Any) -> None:
        """Change player options for calls created from now on."""
        self.options = attrs.evolve(self.options, **options)

    def callee_for(self, to: str, *callees: Any) -> None:
        """Who answers calls to `to`: one callee for every call, or one per call in order
        (the last one then stays)."""
        if not callees:
            raise ValueError("give at least one callee")
        with self._lock:
            self._factories.pop(to, None)
            self._callees[to] = list(callees)

    def callee_factory(self, to: str, factory: CalleeFactory) -> None:
        """A fresh callee from `factory()` for each call to `to`."""
        with self._lock:
            self._callees.pop(to, None)
            self._factories[to] = factory

    def reset(self) -> None:
        """Forget calls, messages, requests, callees and results (live calls play on)."""
        self.state.reset()
        with self._lock:
            self._callees.clear()
            self._factories.clear()
            self._results.clear()
            self._crashes.clear()

    # -- results (any thread) -----------------------------------------------------------

    @property
    def results(self) -> list[CallResult]:
        """Finished calls, in the order they ended."""
        with self._lock:
            return list(self._results)

    def result_for(self, sid: str) -> CallResult | None:
        return next((r for r in self.results if r.sid == sid), None)

    def live_calls(self) -> list[str]:
        with self._lock:
            return [sid for sid, p in self._players.items() if p.result.final_status is None]

    def player(self, sid: str) -> CallPlayer:
        with self._lock:
            return self._players[sid]

    def _check_crashes(self) -> None:
        with self._lock:
            if self._crashes:
                raise RuntimeError("a call player crashed") from self._crashes[0]

    async def wait_for_calls(self, n: int, timeout: float = 5.0) -> list[CallResult]:
        """The first `n` finished calls; raises TimeoutError (or a player's crash)."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_crashes()
            results = self.results
            if len(results) >= n:
                return results[:n]
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(results)} of {n} calls finished in {timeout}s; live: {self.live_calls()}"
                )
            await asyncio.sleep(0.01)

    def wait_for_calls_sync(self, n: int, timeout: float = 5.0) -> list[CallResult]:
        return asyncio.run(self.wait_for_calls(n, timeout))

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """Messages created through the API, oldest first."""
        with self.state.lock:
            found = list(self.state.messages.values())
        return [m for m in found if to is None or m["to"] == to]

    def sms_bodies(self, to: str | None = None) -> list[str]:
        return [m["body"] for m in self.messages(to)]

    # -- playing (server loop) ----------------------------------------------------------

    def _take_callee(self, to: str) -> Any:
        with self._lock:
            if to in self._factories:
                return self._factories[to]()
            queue = self._callees.get(to)
            if queue:
                return queue.pop(0) if len(queue) > 1 else queue[0]
        return self.default_callee()

    def _start(self, spec: CallSpec) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        if self._http is None:
            transport = RoutingTransport(*self.route) if self.route else None
            self._http = httpx.AsyncClient(trust_env=False, transport=transport)
        player = CallPlayer(
            spec,
            auth_token=self.state.auth_token,
            http=self._http,
            callee=self._take_callee(spec.to),
            options=self.options,
            on_status=lambda status, result: self.state.progress(spec.sid, status, result),
            ws_route=self.route,
        )
        with self._lock:
            self._players[spec.sid] = player
        task = loop.create_task(self._play(player))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _play(self, player: CallPlayer) -> None:
        try:
            result = await player.play()
        except Exception as exc:
            with self._lock:
                self._crashes.append(exc)
            return
        with self._lock:
            self._results.append(result)

    def _hang_up(self, sid: str) -> None:
        with self._lock:
            player = self._players.get(sid)
        if player is not None:
            player.end(by="api")

    async def _shutdown(self) -> None:
        for sid in self.live_calls():
            self._hang_up(sid)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=2)
            for task in pending:
                task.cancel()
        if self._http is not None:
            await self._http.aclose()

    def __enter__(self) -> TwilioStandIn:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            try:
                future.result(timeout=5)
            except Exception:
                future.cancel()
        super().__exit__(*exc)
