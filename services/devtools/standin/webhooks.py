"""A scripted webhook server, for testing the call player and the stand-in themselves.

End-to-end tests play calls against the real server; these tests need a server whose
every answer they choose: `ScriptedWebhooks` checks each `X-Twilio-Signature` and
answers each path with its handler's TwiML.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import parse_qsl

import attrs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.devtools.standin.servers import ServerThread
from services.webhooks import twiml
from services.webhooks.signature import validate_twilio_request

__all__ = ["ReceivedWebhook", "ScriptedWebhooks"]


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
        server = ServerThread(self.app)
        self.public_base_url = server.base_url
        server.start()
        try:
            yield self
        finally:
            server.stop()
