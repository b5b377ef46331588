"""HTTP: generated routes for declared exposures, and the status-code contract.

- 200 success (an action's outputs, or a query's list of rows)
- 400 malformed JSON, nesting over 32 levels, or text or numbers no layer can
  hold (lone surrogates, control characters, NaN, integers past 64 bits), with
  the field's path in ``detail`` (see json_boundary)
- 415 a body that is not JSON; 413 a body over the limit
- 401 no or invalid session token; 403 an action refused the caller
- 404 unknown route; 405 wrong method
- 422 validation errors, with the failing field paths in ``detail``
- an action's ``{"error"}`` maps by its ``errorKind`` (see ERROR_STATUS)
- 504 a request-driven route got no response in time
- 500 only for bugs: a request id, no internals
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import _context as context
from .._engine import Engine, InvocationError
from .._types import compile_type
from .exposure import Exposure
from .json_boundary import BodyError, decode_json_body
from .requests import run_request

ERROR_STATUS = {
    "invalid": 422,
    "not_found": 404,
    "conflict": 409,
    "forbidden": 403,
    "unauthorized": 401,
    "rate_limited": 429,
    "unavailable": 503,
}
DEFAULT_ERROR_STATUS = 409


@attrs.frozen
class Authenticator:
    """How the engine turns a bearer token into a user: a query of the app's choosing."""

    concept: str
    query: str
    token_input: str = "token"
    user_output: str = "user"


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, detail: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.detail = status, message, detail


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, default=_default, ensure_ascii=False, separators=(",", ":")
        ).encode()


def error_response(status: int, message: str, detail: list[dict[str, Any]] | None = None) -> JSON:
    body: dict[str, Any] = {"error": message}
    if detail:
        body["detail"] = detail
    rid = context.request_id.get()
    if rid:
        body["requestId"] = rid
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSON(body, status_code=status, headers=headers)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 as JSON, with the same shape as every other error."""
    assert isinstance(exc, HTTPException)
    messages = {404: "no such route", 405: f"method {request.method} not allowed here"}
    response = error_response(exc.status_code, messages.get(exc.status_code, exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object: empty body means ``{}``; otherwise 415/400/422.

    Every value is checked at the boundary first (``json_boundary``): a
    body nested too deep, or holding text or numbers no later layer can store
    or render, is a 400 naming the field."""
    raw = await request.body()
    if not raw.strip():
        return {}
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype not in ("application/json", "") and not ctype.endswith("+json"):
        raise ApiError(415, f"send JSON (Content-Type: application/json), not {ctype}")
    try:
        data = decode_json_body(raw)
    except BodyError as exc:
        raise ApiError(exc.status, exc.message, exc.detail) from None
    if not isinstance(data, dict):
        raise ApiError(
            422,
            "invalid request",
            [{"loc": ["body"], "msg": "must be a JSON object", "type": "type_error"}],
        )
    return data


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class RouteBuilder:
    """Builds one Starlette Route per exposure."""

    def __init__(self, engine: Engine, authenticator: Authenticator | None) -> None:
        self.engine = engine
        self.authenticator = authenticator

    async def user_for(self, request: Request) -> str:
        if self.authenticator is None:
            raise ApiError(401, "this server has no authenticator configured")
        token = bearer_token(request)
        if token is None:
            raise ApiError(401, "log in first: send Authorization: Bearer <session token>")
        a = self.authenticator
        rows = await self.engine.query(a.concept, a.query, {a.token_input: token}, validated=True)
        if not rows:
            raise ApiError(401, "your session has expired or was logged out; log in again")
        return rows[0][a.user_output]

    def routes(self, exposures: list[Exposure]) -> list[Route]:
        return [Route(e.path, self._endpoint(e), methods=["POST"], name=e.path) for e in exposures]

    def _endpoint(self, exposure: Exposure) -> Callable[[Request], Awaitable[Response]]:
        if exposure.kind == "requested":
            handle = self._requested(exposure)
        else:
            handle = self._operation(exposure)

        async def endpoint(request: Request) -> Response:
            try:
                return await handle(request)
            except ApiError as exc:
                return error_response(exc.status, exc.message, exc.detail)
            except InvocationError as exc:
                if exc.owed:  # done in part: the engine finishes the rest (it is in the log)
                    return error_response(
                        503,
                        "this was only partly carried out just now; the rest will be "
                        "completed automatically within a few minutes",
                    )
                return error_response(500, "internal error; quote the request id when reporting it")

        return endpoint

    def _operation(self, exposure: Exposure) -> Callable[[Request], Awaitable[Response]]:
        spec = self.engine.spec(exposure.concept, exposure.name)
        if spec is None:
            raise LookupError(
                f"exposure {exposure.path} ({exposure.source}) names unknown {exposure.concept}.{exposure.name}"
            )
        user_input = exposure.user_input if exposure.auth else None
        if user_input and user_input not in spec.params:
            raise LookupError(
                f"authenticated {spec.qualname} has no {user_input!r} input to receive the caller"
            )
        client_input = exposure.client_input
        if client_input and client_input not in spec.params:
            raise LookupError(
                f"{spec.qualname} has no {client_input!r} input to receive the caller's address"
            )
        engine = self.engine

        async def handle(request: Request) -> Response:
            body = await read_json_object(request)
            if user_input:
                _refuse_sent(body, user_input, "comes from your session; do not send it")
                body[user_input] = await self.user_for(request)
            if client_input:
                _refuse_sent(body, client_input, "comes from your connection; do not send it")
                body[client_input] = request.client.host if request.client else "unknown"
            inputs, errors = spec.check_inputs(body)
            if errors:
                raise ApiError(422, "invalid request", errors)
            if spec.kind == "query":
                return JSON(await engine.query(spec.concept, spec.name, inputs, validated=True))
            outputs = await engine.invoke(spec.concept, spec.name, inputs, validated=True)
            if "error" in outputs:
                return _action_error(outputs)
            return JSON(outputs)

        return handle

    def _requested(self, exposure: Exposure) -> Callable[[Request], Awaitable[Response]]:
        check, _ = compile_type(exposure.body)
        path = exposure.name

        async def handle(request: Request) -> Response:
            body = await read_json_object(request)
            errors: list[dict[str, Any]] = []
            body = check(body, ("body",), errors)
            if errors:
                raise ApiError(422, "invalid request", errors)
            user = await self.user_for(request) if exposure.auth else None
            client = None
            if exposure.client_input:
                client = request.client.host if request.client else "unknown"
            answer = await run_request(
                self.engine, path, body, user, exposure.timeout_s, client=client
            )
            if answer is None:
                return error_response(504, f"no response within {exposure.timeout_s:g} s")
            return JSON(
                answer.output, status_code=answer.status, headers=_retry_after(answer.output)
            )

        return handle


def _refuse_sent(body: dict[str, Any], name: str, why: str) -> None:
    """An input the server fills in (the session's user, the connection's address) is
    never taken from the body: a caller could otherwise name someone else."""
    if name in body:
        raise ApiError(
            422, "invalid request", [{"loc": ["body", name], "msg": why, "type": "extra_forbidden"}]
        )


def _action_error(outputs: dict[str, Any]) -> JSON:
    """An action's ``{"error"}`` by its kind; a ``retryAfter`` (whole seconds >= 1) it
    carries goes out as data and as the ``Retry-After`` header."""
    kind = outputs.get("errorKind") or "conflict"
    body: dict[str, Any] = {"error": outputs["error"], "errorKind": kind}
    headers = _retry_after(outputs)
    if headers:
        body["retryAfter"] = outputs["retryAfter"]
    return JSON(body, status_code=ERROR_STATUS.get(kind, DEFAULT_ERROR_STATUS), headers=headers)


def _retry_after(output: Any) -> dict[str, str] | None:
    """``Retry-After`` for a reply that says when to try again (whole seconds >= 1)."""
    retry = output.get("retryAfter") if isinstance(output, dict) else None
    if isinstance(retry, int) and not isinstance(retry, bool) and retry >= 1:
        return {"Retry-After": str(retry)}
    return None
