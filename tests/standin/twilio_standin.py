"""The full Twilio stand-in for end-to-end tests: REST API plus calls played for real.

`TwilioStandIn` is the REST stand-in (`tests.services.twilio_rest_standin`) whose calls
come alive: when the real `twilio` client creates a call (POST Calls.json), a
`services.devtools.call_player.CallPlayer` plays it in the background, on the stand-in's own
uvicorn thread and loop, sending signed webhooks over real HTTP to the server under test
and answering as the callee registered for the `To` number. `calls(sid).update(status=
"completed")` hangs up a live call. Messages are recorded, so tests can read SMS codes.

    with TwilioStandIn() as twilio:
        twilio.callee_for("+14155550100", ScriptedCallee(["I was grateful for..."]))
        telephony = TwilioTelephony(twilio.account_sid, twilio.auth_token, FROM,
                                    api_base_url=twilio.base_url)
        ...
        [result] = await twilio.wait_for_calls(1, timeout=5)

`ScriptedWebhooks` is a small signature-checking webhook server, for testing the player
and the stand-in themselves (end-to-end tests use the real server instead).
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import attrs
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.devtools.call_player import CallPlayer, CallResult, CallSpec, PlayerOptions
from services.devtools.callees import NoAnswerCallee
from services.webhooks import twiml
from services.webhooks.signature import validate_twilio_request
from tests.services.twilio_rest_standin import (
    ENDED,
    ServerThread,
    StandInState,
    TwilioRestStandIn,
    build_app,
    new_sid,
    rfc2822,
)

__all__ = [
    "NoDelayServerThread",
    "PlayingState",
    "ReceivedWebhook",
    "ScriptedWebhooks",
    "TwilioStandIn",
    "no_sleep",
]

CalleeFactory = Callable[[], Any]


async def no_sleep(_seconds: float) -> None:
    """The stand-in's default `sleep`: callee pauses cost no real time."""


class NoDelayServerThread(ServerThread):
    """`ServerThread` on a socket created with proto=IPPROTO_TCP.

    asyncio only sets TCP_NODELAY on accepted sockets whose proto is IPPROTO_TCP, and
    `ServerThread` binds a proto-0 socket; uvicorn then writes response head and body
    separately and every keep-alive request stalls ~40 ms (Nagle + delayed ACK), which
    would swamp the turn latencies the player measures.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        super().__init__(app)
        self._sock.close()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._sock = sock
        self.port = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )


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
        """``route=(public_base, local_base)`` delivers webhooks addressed to the public
        https URL to the local server, as a TLS-terminating proxy would; they stay signed
        for the public URL."""
        self.route = route
        # Not calling super().__init__: it would build a plain state and bind a second port.
        self.state = PlayingState(account_sid or new_sid("AC"), auth_token, self)
        self.server = NoDelayServerThread(build_app(self.state))
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
            transport = _RoutingTransport(*self.route) if self.route else None
            self._http = httpx.AsyncClient(trust_env=False, transport=transport)
        player = CallPlayer(
            spec,
            auth_token=self.state.auth_token,
            http=self._http,
            callee=self._take_callee(spec.to),
            options=self.options,
            on_status=lambda status, result: self.state.progress(spec.sid, status, result),
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


# -- a scripted webhook server ----------------------------------------------------------------


@attrs.frozen
class ReceivedWebhook:
    method: str
    path: str
    query: str
    form: dict[str, str]  # last value of each name
    signature_valid: bool
    headers: dict[str, str]
    received_at: float  # time.monotonic()


Handler = Callable[[ReceivedWebhook], "str | Response | Awaitable[str | Response | None] | None"]


class ScriptedWebhooks:
    """A webhook app that checks every `X-Twilio-Signature` (refusing bad ones with 403),
    records every request, and answers each path with its handler's TwiML (a string), a
    ready `Response`, or, for None, an empty `<Response/>`. Unknown paths get 404;
    `/status` and `/recording` answer `<Response/>` unless given other handlers."""

    def __init__(
        self,
        auth_token: str,
        routes: Mapping[str, Handler] | None = None,
        *,
        public_base_url: str = "https://service.test",
    ) -> None:
        self.auth_token = auth_token
        self.public_base_url = public_base_url
        self.routes: dict[str, Handler] = {
            "/status": lambda r: None,
            "/recording": lambda r: None,
            **(routes or {}),
        }
        self.requests: list[ReceivedWebhook] = []
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])

    def url(self, path: str) -> str:
        return self.public_base_url.rstrip("/") + path

    def received(self, path: str | None = None) -> list[ReceivedWebhook]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def statuses(self, path: str = "/status") -> list[str]:
        return [r.form["CallStatus"] for r in self.received(path)]

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        query = request.url.query
        valid = validate_twilio_request(
            self.auth_token,
            self.public_base_url,
            request.url.path,
            query,
            dict(request.headers),
            None,
            body,
        )
        pairs = parse_qsl(body.decode(), keep_blank_values=True)
        if request.method == "GET":
            pairs = parse_qsl(query, keep_blank_values=True)
        received = ReceivedWebhook(
            method=request.method,
            path=request.url.path,
            query=query,
            form=dict(pairs),
            signature_valid=valid,
            headers=dict(request.headers),
            received_at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(received)
        if not valid:
            return Response("invalid signature", status_code=403)
        handler = self.routes.get(request.url.path)
        if handler is None:
            return Response("not found", status_code=404)
        answer = handler(received)
        if inspect.isawaitable(answer):
            answer = await answer
        if isinstance(answer, Response):
            return answer
        return Response(answer or twiml.empty_response(), media_type="application/xml")

    @contextmanager
    def serve(self) -> Iterator[ScriptedWebhooks]:
        """Serve over real HTTP on 127.0.0.1 (public_base_url becomes the server's URL)."""
        server = NoDelayServerThread(self.app)
        self.public_base_url = server.base_url
        server.start()
        try:
            yield self
        finally:
            server.stop()


class _RoutingTransport(httpx.AsyncBaseTransport):
    """Sends requests for ``public_base`` to ``local_base`` (a proxy in front of the server)."""

    def __init__(self, public_base: str, local_base: str) -> None:
        self.public = httpx.URL(public_base)
        self.local = httpx.URL(local_base)
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == self.public.host:
            request.url = request.url.copy_with(
                scheme=self.local.scheme, host=self.local.host, port=self.local.port
            )
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
