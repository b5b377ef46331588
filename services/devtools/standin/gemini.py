"""A local stand-in for the Gemini `generateContent` REST endpoint.

Lets tests run the real google-genai SDK (via `HttpOptions(base_url=...)`)
against a server that records every request and misbehaves on demand:
slow replies, HTTP errors, non-JSON or wrongly typed model output.

What google-genai 3.x actually sends (observed, not assumed):
  POST {base_url}/v1/models/{model}:generateContent   (v1beta if configured)
  headers: x-goog-api-key, x-server-timeout (ceil of the client timeout, s)
  body: {"contents": [...], "systemInstruction": {...},
         "generationConfig": {"responseMimeType", "responseSchema", ...}}
Any API version segment is accepted so an SDK default change does not break tests.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from typing import Any

import attrs
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["Behaviour", "GeminiStandIn", "RecordedRequest", "generate_content_response"]

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@attrs.frozen
class RecordedRequest:
    """One request as the stand-in received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    raw_body: str
    received_at: float  # time.monotonic()

    @property
    def body(self) -> Any:
        try:
            return json.loads(self.raw_body)
        except ValueError:
            return None

    @property
    def model(self) -> str | None:
        """`gemini-2.5-flash` from `/v1/models/gemini-2.5-flash:generateContent`."""
        _, sep, rest = self.path.partition("/models/")
        return rest.split(":", 1)[0] if sep else None

    @property
    def api_key(self) -> str | None:
        return self.headers.get("x-goog-api-key")

    @property
    def generation_config(self) -> dict[str, Any]:
        body = self.body
        return body.get("generationConfig", {}) if isinstance(body, dict) else {}

    @property
    def prompt_text(self) -> str:
        """All user text in `contents`, joined."""
        body = self.body if isinstance(self.body, dict) else {}
        return "\n".join(_texts(body.get("contents", [])))

    @property
    def system_text(self) -> str:
        body = self.body if isinstance(self.body, dict) else {}
        return "\n".join(_texts([body.get("systemInstruction") or {}]))


def _texts(contents: list[Any]) -> list[str]:
    return [
        part["text"]
        for content in contents
        if isinstance(content, dict)
        for part in content.get("parts", [])
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    ]


@attrs.frozen
class Behaviour:
    """How the stand-in answers the next requests.

    `status` != 200 returns a Google-style error envelope. Otherwise `raw_body`
    (if set) is sent verbatim, else a GenerateContentResponse whose only part
    holds `model_text`; `model_text=None` means no candidates (a blocked prompt).
    """

    model_text: str | None = json.dumps(
        {"is_complete": True, "confidence": 0.9, "reasoning": "A full answer."}
    )
    status: int = 200
    raw_body: str | None = None
    delay_s: float = 0.0
    finish_reason: str = "STOP"


def generate_content_response(
    model_text: str | None, *, model: str, finish_reason: str = "STOP", response_id: str = "r"
) -> dict[str, Any]:
    """A GenerateContentResponse as the REST API returns it (camelCase JSON)."""
    usage = {"promptTokenCount": 120, "candidatesTokenCount": 20, "totalTokenCount": 140}
    if model_text is None:
        return {
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": usage,
            "modelVersion": model,
            "responseId": response_id,
        }
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": model_text}]},
                "finishReason": finish_reason,
                "index": 0,
            }
        ],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": response_id,
    }


class GeminiStandIn:
    """Starlette app + uvicorn in a background thread on a free 127.0.0.1 port.

    Use as a context manager (or start()/stop()); program it with the
    `reply_*` and `delay` methods; inspect `requests`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._answered: set[int] = set()  # ids of recorded requests whose answer went out
        self._behaviour = Behaviour()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- programming ---------------------------------------------------------

    @property
    def behaviour(self) -> Behaviour:
        return self._behaviour

    def set_behaviour(self, behaviour: Behaviour) -> None:
        self._behaviour = behaviour

    def reply_with_verdict(
        self, *, is_complete: bool = True, confidence: float = 0.9, reasoning: str = "Done."
    ) -> None:
        """Well-formed structured output."""
        self.reply_with_json(
            {"is_complete": is_complete, "confidence": confidence, "reasoning": reasoning}
        )

    def reply_with_json(self, value: Any) -> None:
        """Model text = `json.dumps(value)`: use for wrong types or missing fields."""
        self.reply_with_text(json.dumps(value))

    def reply_with_text(self, text: str | None) -> None:
        """Model text verbatim (e.g. not JSON); None means no candidates at all."""
        self._behaviour = attrs.evolve(self._behaviour, model_text=text, status=200, raw_body=None)

    def reply_with_status(self, status: int) -> None:
        """An HTTP error with Google's error envelope."""
        self._behaviour = attrs.evolve(self._behaviour, status=status)

    def reply_with_raw_body(self, body: str) -> None:
        """A 200 whose body is not a GenerateContentResponse at all."""
        self._behaviour = attrs.evolve(self._behaviour, status=200, raw_body=body)

    def delay(self, seconds: float) -> None:
        """Wait this long before answering (interrupted when the stand-in stops)."""
        self._behaviour = attrs.evolve(self._behaviour, delay_s=seconds)

    def reset(self) -> None:
        """Default behaviour (a complete verdict, no delay) and no recorded requests."""
        self._behaviour = Behaviour()
        with self._lock:
            self._requests.clear()
            self._answered.clear()

    def answered(self, request: RecordedRequest) -> bool:
        """Whether ``request`` has been answered yet (after its delay)."""
        with self._lock:
            return id(request) in self._answered

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    # --- serving ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _record(self, request: Request, raw: bytes) -> RecordedRequest:
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            raw_body=raw.decode("utf-8", errors="replace"),
            received_at=time.monotonic(),
        )
        with self._lock:
            self._requests.append(recorded)
        return recorded

    async def _generate_content(self, request: Request) -> Response:
        recorded = self._record(request, await request.body())
        behaviour = self._behaviour
        deadline = time.monotonic() + behaviour.delay_s
        while not self._stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.05))
        with self._lock:
            self._answered.add(id(recorded))
        if behaviour.status != 200:
            status = behaviour.status
            name = _STATUS_NAMES.get(status, "UNKNOWN")
            envelope = {"error": {"code": status, "message": f"stand-in {name}", "status": name}}
            return JSONResponse(envelope, status_code=status)
        if behaviour.raw_body is not None:
            return Response(behaviour.raw_body, media_type="application/json")
        model = request.path_params["model"]
        body = generate_content_response(
            behaviour.model_text,
            model=model,
            finish_reason=behaviour.finish_reason,
            response_id=f"standin-{next(self._ids)}",
        )
        return JSONResponse(body)

    async def _not_found(self, request: Request) -> Response:
        self._record(request, await request.body())
        error = {"code": 404, "message": "stand-in: no such endpoint", "status": "NOT_FOUND"}
        return JSONResponse({"error": error}, status_code=404)

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(
                    "/{version}/models/{model}:generateContent",
                    self._generate_content,
                    methods=["POST"],
                ),
                Route("/{path:path}", self._not_found, methods=["GET", "POST", "PUT", "DELETE"]),
            ]
        )

    def start(self) -> GeminiStandIn:
        # Bind first and hand uvicorn the socket: no race for the port.
        sock = socket.socket(
            socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
        )  # TCP_NODELAY on accepted sockets
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app(),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name="gemini-standin"
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("Gemini stand-in did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> GeminiStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
