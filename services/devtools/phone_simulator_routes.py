"""HTTP side of the phone simulator: the page at /simulator and its JSON API (mock mode only).

Every API route but ``status`` takes the web app's session token (``Authorization:
Bearer``) and shows or acts on only the caller's own calls and SMS; someone else's
call is "no such call" (404). Errors have the API's shape: ``{"error": ...}``.

    GET  /simulator                              the page (simulator/index.html)
    GET  /simulator/api/status                   {"mock": true}
    GET  /simulator/api/inbox                    ringing / live / recent calls, SMS
    GET  /simulator/api/calls/{sid}              one call with its live transcript
    POST /simulator/api/calls/{sid}/answer       (also decline, ignore, voicemail)
    POST /simulator/api/calls/{sid}/say          {"text": "..."}
    POST /simulator/api/calls/{sid}/partial      {"text": "..."} (interim speech, streaming)
    POST /simulator/api/calls/{sid}/key          {"key": "1"} (0-9, * or #)
    POST /simulator/api/calls/{sid}/silence
    POST /simulator/api/calls/{sid}/hangup
    POST /simulator/api/messages/{sid}/reply     {"text": "CALL"} (as the phone texted)
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from conceptkit import JSON, ApiError, EngineError, bearer_token, error_response, read_json_object
from services.app.assembly import webhook_auth_token
from services.devtools.phone_simulator import (
    DECISIONS,
    MAX_SPOKEN_CHARS,
    PhoneSimulator,
    SimulatorError,
)
from services.devtools.simulator_texts import MAX_REPLY_CHARS
from services.telephony.mock import MockTelephony
from services.webhooks.texts import TEXT_WEBHOOK
from services.webhooks.urls import WebhookUrls
from syncs import queries

__all__ = ["PAGE_DIR", "install_simulator", "phone_simulator_for", "simulator_routes"]

PAGE_DIR = Path(__file__).resolve().parents[2] / "simulator"
PAGE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "simulator.js": "text/javascript; charset=utf-8",
    "simulator.css": "text/css; charset=utf-8",
}
CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
MESSAGE_SID = re.compile(r"^SM[0-9a-fA-F]{32}$")
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
}
CONVERSATION = ("say", "partial", "key", "silence", "hangup")
KEYPAD = frozenset("0123456789*#")

Handler = Callable[[Request], Awaitable[Response]]


def phone_simulator_for(engine: Any, db: Any, config: Any, **options: Any) -> PhoneSimulator:
    """The simulator of a mock-mode server: webhooks signed as the server expects them."""
    if not config.use_mocks:
        raise ValueError("the phone simulator exists only with USE_MOCKS=true")
    text_url = WebhookUrls(config.public_base_url).url(TEXT_WEBHOOK)
    return PhoneSimulator(
        engine, db, auth_token=webhook_auth_token(config), text_url=text_url, **options
    )


def install_simulator(
    asgi: Any, engine: Any, db: Any, config: Any, **options: Any
) -> PhoneSimulator:
    """Mount the simulator on the Starlette app `server_app` built, and run it with the app
    (what the mock-mode hook does: services/devtools/simulator_plugin.py).

    Its routes go first (so a catch-all mount of the web app cannot shadow them) and its
    background work starts and stops inside the app's own lifespan.
    """
    simulator = phone_simulator_for(engine, db, config, **options)
    asgi.router.routes[0:0] = simulator_routes(simulator)
    app = getattr(asgi.state, "concept_app", None)
    telephony = app.services.get("telephony") if app is not None else None
    if isinstance(telephony, MockTelephony):  # the recordings of the calls played here
        telephony.recording_source = simulator.recording_audio
    inner = asgi.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as state, simulator.running():
            yield state

    asgi.router.lifespan_context = lifespan
    asgi.state.phone_simulator = simulator
    return simulator


def simulator_routes(simulator: PhoneSimulator) -> list[Route]:
    """The page and its API; mount them only in mock mode."""
    engine = simulator.engine

    async def user_of(request: Request) -> str:
        token = bearer_token(request)
        if token is None:
            raise ApiError(401, "log in first: send Authorization: Bearer <session token>")
        try:
            user = await queries.user_for_token(engine, token)
        except EngineError:
            user = None
        if user is None:
            raise ApiError(401, "your session has expired or was logged out; log in again")
        return user

    def api(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return error_response(exc.status, exc.message, exc.detail)
            except SimulatorError as exc:
                return error_response(exc.status, exc.message)

        return endpoint

    def call_sid(request: Request) -> str:
        sid = request.path_params["sid"]
        if not CALL_SID.match(sid):
            raise SimulatorError(404, "no such call")
        return sid

    async def status(_: Request) -> Response:
        return JSON({"mock": True})

    async def inbox(request: Request) -> Response:
        user = await user_of(request)
        return JSON(await simulator.inbox(user))

    async def call(request: Request) -> Response:
        user = await user_of(request)
        return JSON(await simulator.call(user, call_sid(request)))

    async def act(request: Request) -> Response:
        user = await user_of(request)
        sid = call_sid(request)
        action = request.path_params["action"]
        if action in DECISIONS:
            return JSON(await simulator.decide(user, sid, action))
        if action not in CONVERSATION:
            raise SimulatorError(404, f"no such action {action!r}")
        if action in ("say", "partial"):
            text = spoken_text(await read_json_object(request))
            speak = simulator.say if action == "say" else simulator.partial
            return JSON(await speak(user, sid, text))
        if action == "key":
            return JSON(
                await simulator.press(user, sid, pressed_key(await read_json_object(request)))
            )
        if action == "silence":
            return JSON(await simulator.silence(user, sid))
        return JSON(await simulator.hang_up(user, sid))

    async def reply(request: Request) -> Response:
        user = await user_of(request)
        sid = request.path_params["sid"]
        if not MESSAGE_SID.match(sid):
            raise SimulatorError(404, "no such text message")
        text = written_text(await read_json_object(request))
        return JSON(await simulator.reply(user, sid, text))

    def page(name: str) -> Handler:
        async def serve(_: Request) -> Response:
            path = PAGE_DIR / name
            if not path.is_file():
                return error_response(404, "the simulator page is not installed")
            return FileResponse(path, media_type=PAGE_FILES[name], headers=PAGE_HEADERS)

        return serve

    return [
        Route("/simulator", page("index.html"), methods=["GET"]),
        Route("/simulator/simulator.js", page("simulator.js"), methods=["GET"]),
        Route("/simulator/simulator.css", page("simulator.css"), methods=["GET"]),
        Route("/simulator/api/status", api(status), methods=["GET"]),
        Route("/simulator/api/inbox", api(inbox), methods=["GET"]),
        Route("/simulator/api/calls/{sid}", api(call), methods=["GET"]),
        Route("/simulator/api/calls/{sid}/{action}", api(act), methods=["POST"]),
        Route("/simulator/api/messages/{sid}/reply", api(reply), methods=["POST"]),
    ]


def spoken_text(body: dict[str, Any], limit: int = MAX_SPOKEN_CHARS) -> str:
    """The `text` of a say request: a non-blank string of at most ``limit`` characters."""

    def invalid(msg: str, kind: str) -> ApiError:
        return ApiError(
            422, "invalid request", [{"loc": ["body", "text"], "msg": msg, "type": kind}]
        )

    text = body.get("text")
    if text is None:
        raise invalid("field required", "missing")
    if not isinstance(text, str):
        raise invalid("must be a string", "type_error")
    text = " ".join(text.split())
    if not text:
        raise invalid(
            "write something" if limit == MAX_REPLY_CHARS else "say something, or use /silence",
            "value_error",
        )
    if len(text) > limit:
        raise invalid(f"at most {limit} characters", "value_error")
    return text


def written_text(body: dict[str, Any]) -> str:
    """The `text` of a reply to a text message: non-blank, at most MAX_REPLY_CHARS."""
    return spoken_text(body, MAX_REPLY_CHARS)


def pressed_key(body: dict[str, Any]) -> str:
    """The `key` of a key request: one key of the phone's keypad."""
    key = body.get("key")
    if not isinstance(key, str) or key not in KEYPAD:
        detail = [{"loc": ["body", "key"], "msg": "one of 0-9, * or #", "type": "value_error"}]
        raise ApiError(422, "invalid request", detail)
    return key
