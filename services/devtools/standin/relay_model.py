"""The vocabulary of a ConversationRelay session as Twilio's side plays it.

Data and small helpers for `services.devtools.standin.relay.RelayCaller`: what the
`<Connect><ConversationRelay>` TwiML asked for, what the service did on the socket, the
action callback's answer, and how a caller's speech is cut into prompt messages.
"""

from __future__ import annotations

import math
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from typing import Any, Literal
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import attrs
import httpx

from services.webhooks.signature import sign_twilio_request

__all__ = [
    "DTMF_KEYS",
    "RELAY_CONNECT_FAILURE",
    "RELAY_INVALID_MESSAGE",
    "RELAY_SOCKET_ENDED",
    "RelayEnding",
    "RelayEvent",
    "RelayRefused",
    "RelayTwiml",
    "parse_connect",
    "partial_prefixes",
    "post_signed_form",
    "routed_ws_url",
    "split_parts",
]

DTMF_KEYS = frozenset("0123456789*#")
# Twilio's error codes for a session (https://www.twilio.com/docs/api/errors/641xx)
RELAY_CONNECT_FAILURE = 64102  # unable to connect to the websocket URL
RELAY_SOCKET_ENDED = 64105  # the websocket ended from the server side during the call
RELAY_INVALID_MESSAGE = 64107  # a message ConversationRelay cannot act upon
WORDS_PER_SECOND = 2.5  # the call player's speaking rate, for durationUntilInterruptMs
Sleep = Callable[[float], Awaitable[None]]
Speaker = Literal["agent", "caller", "dtmf", "interrupt"]


@attrs.frozen
class RelayTwiml:
    """What `<Connect><ConversationRelay>` asked of Twilio."""

    url: str  # the WebSocket URL (ws:// or wss://, with its query)
    action_url: str | None  # `<Connect action>`, resolved against the document's URL
    action_method: str
    attributes: dict[str, str]  # every attribute of <ConversationRelay>, as written
    parameters: dict[str, str]  # the <Parameter>s: `customParameters` in setup

    @property
    def welcome_greeting(self) -> str:
        return " ".join(self.attributes.get("welcomeGreeting", "").split())


def parse_connect(twiml: str | ET.Element, document_url: str = "") -> RelayTwiml:
    """The ConversationRelay of a TwiML `<Response>` (or of a `<Connect>` element).

    Raises ValueError when there is no `<Connect><ConversationRelay url=...>`.
    """
    root = ET.fromstring(twiml) if isinstance(twiml, str) else twiml
    connect_el = root if root.tag == "Connect" else root.find("Connect")
    relay = None if connect_el is None else connect_el.find("ConversationRelay")
    if connect_el is None or relay is None or not relay.get("url"):
        raise ValueError("no <Connect><ConversationRelay url=...> in this TwiML")
    action = connect_el.get("action")
    parameters = {
        p.get("name", ""): p.get("value", "") for p in relay.iter("Parameter") if p.get("name")
    }
    return RelayTwiml(
        url=str(relay.get("url")),
        action_url=urljoin(document_url, action) if action else None,
        action_method=connect_el.get("method", "POST").upper(),
        attributes=dict(relay.attrib),
        parameters=parameters,
    )


class RelayRefused(Exception):
    """The service refused the upgrade (`status_code`, e.g. 403) or closed at once (`close_code`)."""

    def __init__(self, status_code: int | None = None, close_code: int | None = None) -> None:
        super().__init__(f"relay refused: HTTP {status_code}, close code {close_code}")
        self.status_code = status_code
        self.close_code = close_code


@attrs.frozen
class RelayEvent:
    """One thing the service did on the socket, in order: a whole utterance, `end`, the
    socket closing, another message, or a frame that was not a valid message."""

    kind: Literal["utterance", "end", "closed", "message", "invalid"]
    text: str = ""  # the utterance; end: handoffData; closed: the reason
    message: dict[str, Any] = attrs.Factory(dict)
    code: int | None = None  # closed: the close code (1006: dropped)


@attrs.frozen
class RelayEnding:
    """The action callback Twilio posted and what the service answered."""

    params: dict[str, str]
    status_code: int | None  # None: no answer (the server is down)
    content_type: str
    body: str  # the TwiML that decides the rest of the call
    error: str = ""


def split_parts(text: str, parts: int) -> list[str]:
    """`text` in `parts` pieces of about as many words each (for a multi-part answer)."""
    words = text.split()
    parts = max(1, min(parts, len(words) or 1))
    size = math.ceil(len(words) / parts)
    return [" ".join(words[i : i + size]) for i in range(0, len(words), size)] or [text]


def partial_prefixes(text: str, most: int = 3) -> list[str]:
    """The partial results Twilio sends while the caller speaks: growing prefixes."""
    words = text.split()
    if len(words) < 2:
        return []
    cuts = sorted({max(1, round(len(words) * k / (most + 1))) for k in range(1, most + 1)})
    return [" ".join(words[:c]) for c in cuts if c < len(words)]


def routed_ws_url(url: str, route: tuple[str, str] | None) -> str:
    """`url` addressed to `route`'s public base, sent to its local base (a TLS proxy)."""
    if route is None:
        return url
    public, local = urlsplit(route[0]), urlsplit(route[1])
    target = urlsplit(url)
    if target.hostname != public.hostname:
        return url
    scheme = "wss" if local.scheme == "https" else "ws"
    return urlunsplit((scheme, local.netloc, target.path, target.query, ""))


async def post_signed_form(
    http: httpx.AsyncClient, method: str, url: str, params: dict[str, str], auth_token: str
) -> RelayEnding:
    """POST `params` form-encoded and signed as Twilio does; a failure is kept, not raised."""
    headers = {
        "User-Agent": "TwilioProxy/1.1",
        "Content-Type": "application/x-www-form-urlencoded",
        "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        "X-Twilio-Signature": sign_twilio_request(auth_token, url, params),
    }
    try:
        response = await http.request(
            method, url, content=urlencode(params).encode(), headers=headers
        )
    except httpx.HTTPError as exc:
        return RelayEnding(params, None, "", "", f"{type(exc).__name__}: {exc}")
    content_type = response.headers.get("content-type", "")
    return RelayEnding(params, response.status_code, content_type, response.text)
