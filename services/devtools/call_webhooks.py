"""How the call player talks to the service: signed webhooks out, TwiML documents back.

A mixin of `CallPlayer` (services/devtools/call_player.py): it signs each request as
Twilio does, records every exchange in the call's result, and turns a bad answer into
the error Twilio would report (and the end of the call).
"""

from __future__ import annotations

import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from urllib.parse import urlencode

import httpx

from services.devtools.call_model import (
    DOCUMENT_PARSE_FAILURE,
    HTTP_CONNECTION_FAILURE,
    HTTP_RETRIEVAL_FAILURE,
    INVALID_CONTENT_TYPE,
    MAX_TWIML_BYTES,
    RESPONSE_TOO_LARGE,
    CallError,
    CallOver,
    CallResult,
    CallSpec,
    PlayerOptions,
    WebhookExchange,
)
from services.webhooks.signature import sign_twilio_request


class WebhookSender:
    """Sends the player's webhooks and fetches its TwiML; see `CallPlayer`."""

    spec: CallSpec
    auth_token: str
    http: httpx.AsyncClient
    options: PlayerOptions
    result: CallResult
    _vt: float

    async def _send(
        self,
        kind: str,
        url: str,
        method: str,
        params: dict[str, str],
        *,
        token: str | None = None,
        virtual: bool = True,
    ) -> WebhookExchange:
        """Sign and send one webhook. `virtual`: the wait counts as call time."""
        method = method.upper()
        headers = {
            "User-Agent": "TwilioProxy/1.1",
            "Accept": "*/*",
            "I-Twilio-Idempotency-Token": token or secrets.token_hex(16),
        }
        content: bytes | None = None
        if method == "GET":
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
            signature = sign_twilio_request(self.auth_token, url, {})
        else:
            method = "POST"
            content = urlencode(params).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            signature = sign_twilio_request(self.auth_token, url, params)
        headers["X-Twilio-Signature"] = signature
        timeout = httpx.Timeout(self.options.webhook_timeout_s, connect=10.0)
        started = time.perf_counter()
        status_code: int | None = None
        body = content_type = error = ""
        try:
            response = await self.http.request(
                method, url, content=content, headers=headers, timeout=timeout
            )
            status_code = response.status_code
            content_type = response.headers.get("content-type", "")
            body = response.text
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - started
        if virtual:
            self._vt += elapsed
        exchange = WebhookExchange(
            kind=kind,
            method=method,
            url=url,
            params=dict(params),
            signature=signature,
            status_code=status_code,
            content_type=content_type,
            body=body,
            elapsed_ms=elapsed * 1000,
            error=error,
            sent_at=started,
        )
        self.result.webhooks.append(exchange)
        return exchange

    def _fail(self, code: int | None, message: str, url: str = "") -> CallOver:
        self.result.errors.append(CallError(code, message, url))
        return CallOver("error")

    async def _fetch_twiml(
        self,
        kind: str,
        url: str,
        method: str,
        extra: Mapping[str, str] | None = None,
        *,
        params: Mapping[str, str] | None = None,
    ) -> ET.Element:
        """The TwiML at `url`, sent the call's parameters plus `extra` (or exactly `params`)."""
        self._step()
        sent = dict(params) if params is not None else self._call_params("in-progress")
        sent.update(extra or {})
        exchange = await self._send(kind, url, method, sent)
        if exchange.status_code is None:
            raise self._fail(HTTP_CONNECTION_FAILURE, f"{kind} webhook: {exchange.error}", url)
        if not 200 <= exchange.status_code < 300:
            raise self._fail(
                HTTP_RETRIEVAL_FAILURE, f"{kind} webhook answered HTTP {exchange.status_code}", url
            )
        if len(exchange.body.encode()) > MAX_TWIML_BYTES:
            raise self._fail(RESPONSE_TOO_LARGE, f"{kind} webhook: TwiML over 64 kB", url)
        ctype = exchange.content_type.lower()
        if "xml" not in ctype and "html" not in ctype:
            raise self._fail(
                INVALID_CONTENT_TYPE, f"{kind} webhook: content type {ctype or 'missing'!r}", url
            )
        return self._parse(exchange.body, f"{kind} webhook", url)

    def _parse(self, text: str, what: str, url: str = "") -> ET.Element:
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            raise self._fail(DOCUMENT_PARSE_FAILURE, f"{what}: invalid XML: {exc}", url) from None
        if root.tag != "Response":
            raise self._fail(DOCUMENT_PARSE_FAILURE, f"{what}: root is <{root.tag}>", url)
        return root
