"""The middleware around every route: request ids, the body limit, security headers,
and a JSON 500 that leaks nothing."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import _context as context
from .._ids import new_id
from .routes import ApiError, error_response

log = logging.getLogger("conceptkit.http")

# Every response is nosniff; a JSON reply, never meant to be rendered or framed,
# also gets a CSP that allows nothing. The docs page allows only its own files.
NOSNIFF = (b"x-content-type-options", b"nosniff")
JSON_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
DOCS_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
}


class ApiMiddleware:
    """Pure ASGI: request id, body size limit, security headers, and a JSON 500 that leaks nothing."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = 65536) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_request_id(scope) or new_id()
        token = context.request_id.set(rid)
        started = False
        too_large = False
        received = 0
        declared = _content_length(scope)

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    raise ApiError(413, f"request body is larger than {self.max_body_bytes} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = _secured(
                    [*message.get("headers", ()), (b"x-request-id", rid.encode())]
                )
            await send(message)

        try:
            if declared is not None and declared > self.max_body_bytes:
                response = error_response(
                    413, f"request body is larger than {self.max_body_bytes} bytes"
                )
                await response(scope, receive, tracking_send)
                return
            await self.app(scope, limited_receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            if isinstance(exc, ApiError) or too_large:
                status = exc.status if isinstance(exc, ApiError) else 413
                message = exc.message if isinstance(exc, ApiError) else "request body too large"
                await error_response(status, message)(scope, receive, tracking_send)
            else:
                log.exception("unhandled error")
                await error_response(500, "internal error; quote the request id when reporting it")(
                    scope, receive, tracking_send
                )
        finally:
            context.request_id.reset(token)


def _secured(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Add nosniff everywhere, and the deny-all CSP to JSON replies that carry none."""
    names = {name.lower(): value for name, value in headers}
    if NOSNIFF[0] not in names:
        headers.append(NOSNIFF)
    is_json = names.get(b"content-type", b"").startswith(b"application/json")
    if is_json and JSON_CSP[0] not in names:
        headers.append(JSON_CSP)
    return headers


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if 0 < len(text) <= 64 and text.replace("-", "").isalnum():
                return text
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
