"""Twilio's side of one ConversationRelay session, for tests and the call player.

With ConversationRelay, Twilio does the speech recognition and the text-to-speech and
the service sees text only: Twilio opens a WebSocket to the `<ConversationRelay url>`
(the upgrade signed with `X-Twilio-Signature`), sends `setup`, then `prompt` (what the
caller said: partials with ``last: false``, then the final), `interrupt`, `dtmf` and
`error` messages; the service answers with `text` tokens (an utterance ends at
``last: true``) and finally `end`. Then Twilio POSTs the `<Connect action>` URL, signed
like any webhook, and the TwiML it gets back decides the rest of the call.

`RelayCaller` plays that part for one call: it reads the URLs and attributes from the
service's TwiML (never hard-coded), opens the socket signed (or unsigned, or with a
forged signature, to test refusals), speaks, presses keys, interrupts, keeps the order
of everything in `transcript`, and posts the action callback with `finish()`.
See docs/twilio-standin.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from services.devtools.standin.relay_model import (
    DTMF_KEYS,
    WORDS_PER_SECOND,
    RelayEnding,
    RelayEvent,
    RelayRefused,
    RelayTwiml,
    Sleep,
    Speaker,
    parse_connect,
    partial_prefixes,
    post_signed_form,
    routed_ws_url,
    split_parts,
)
from services.webhooks.signature import sign_twilio_request

__all__ = ["RelayCaller"]


class RelayCaller:
    """Twilio's side of one ConversationRelay session (async; one per call).

    `route=(public_base, local_base)` connects to the local server for a socket
    addressed to the public URL (a TLS-terminating proxy); the signature is still over
    the public URL. `http` posts the action callback (its own transport may route too).
    """

    def __init__(
        self,
        relay: RelayTwiml,
        *,
        auth_token: str,
        call_sid: str,
        account_sid: str,
        from_: str,
        to: str,
        http: httpx.AsyncClient | None = None,
        route: tuple[str, str] | None = None,
        sleep: Sleep = asyncio.sleep,
        open_timeout_s: float = 10.0,
    ) -> None:
        self.relay = relay
        self.auth_token = auth_token
        self.call_sid = call_sid
        self.account_sid = account_sid
        self.from_ = from_
        self.to = to
        self.http = http
        self.route = route
        self.sleep = sleep
        self.open_timeout_s = open_timeout_s
        self.session_id = "VX" + secrets.token_hex(16)
        self.transcript: list[tuple[Speaker, str]] = []
        self.received: list[RelayEvent] = []  # in order
        self.sent: list[dict[str, Any]] = []  # every message sent, in order
        self.handoff_data: str | None = None
        self.ended = False  # the service sent `end`
        self.hung_up = False  # the caller hung up (we closed the socket)
        self.close_code: int | None = None
        self.ending: RelayEnding | None = None
        self._tokens: list[str] = []
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._opened_at: float | None = None
        self._closed_at: float | None = None
        self._utterance_cursor = 0
        self._event_cursor = 0

    @classmethod
    def from_twiml(
        cls, twiml: str | ET.Element, *, document_url: str = "", **kwargs: Any
    ) -> RelayCaller:
        return cls(parse_connect(twiml, document_url), **kwargs)

    # -- the socket ------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed_at is not None

    @property
    def dropped(self) -> bool:
        """The socket went away without `end` and without the caller hanging up."""
        return self.closed and not self.ended and not self.hung_up

    @property
    def utterances(self) -> list[str]:
        return [e.text for e in self.received if e.kind == "utterance"]

    def signature(self) -> str:
        """`X-Twilio-Signature` of the upgrade: over the full URL with its query, no params."""
        return sign_twilio_request(self.auth_token, self.relay.url, {})

    def dial_url(self) -> str:
        """Where the socket really connects (the public URL, or its local route)."""
        return routed_ws_url(self.relay.url, self.route)

    async def open(
        self, *, unsigned: bool = False, forged_signature: str | None = None, setup: bool = True
    ) -> None:
        """Open the socket (signed unless told otherwise) and send `setup`.

        Raises `RelayRefused` if the upgrade is refused (its HTTP status).
        """
        headers: dict[str, str] = {}
        if not unsigned:
            headers["X-Twilio-Signature"] = forged_signature or self.signature()
        try:
            self._ws = await connect(
                self.dial_url(),
                additional_headers=headers,
                proxy=None,
                open_timeout=self.open_timeout_s,
                user_agent_header="Twilio.TmeWs/1.0",
            )
        except InvalidStatus as exc:
            raise RelayRefused(status_code=exc.response.status_code) from None
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            raise RelayRefused() from exc
        self._opened_at = time.monotonic()
        self._reader = asyncio.create_task(self._read(self._ws), name=f"relay-{self.call_sid}")
        if setup:
            await self.send(self.setup_message())

    def setup_message(self) -> dict[str, Any]:
        return {
            "type": "setup",
            "sessionId": self.session_id,
            "callSid": self.call_sid,
            "accountSid": self.account_sid,
            "from": self.from_,
            "to": self.to,
            "direction": "outbound-api",
            "callType": "PSTN",
            "callStatus": "IN-PROGRESS",
            "parentCallSid": "",
            "forwardedFrom": "",
            "callerName": "",
            "customParameters": dict(self.relay.parameters),
        }

    async def send(self, message: dict[str, Any]) -> bool:
        """Send one message as is; False if the socket is already closed."""
        if self._ws is None or self.closed:
            return False
        try:
            await self._ws.send(json.dumps(message))
        except ConnectionClosed:
            return False
        self.sent.append(message)
        return True

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                self._receive(frame)
        except ConnectionClosed:
            pass
        finally:
            code = ws.close_code if ws.close_code is not None else 1006  # 1006: no close frame
            reason = ws.close_reason or ""
            self.close_code = code
            self._closed_at = time.monotonic()
            self.received.append(RelayEvent("closed", reason, code=code))
            self._changed.set()

    def _receive(self, frame: str | bytes) -> None:
        try:
            message = json.loads(frame)
            kind = message["type"] if isinstance(message, dict) else None
        except (ValueError, KeyError, TypeError):
            message, kind = None, None
        if not isinstance(message, dict) or not isinstance(kind, str):
            text = frame if isinstance(frame, str) else frame.decode(errors="replace")
            self.received.append(RelayEvent("invalid", text[:200]))
        elif kind == "text":
            self._tokens.append(str(message.get("token", "")))
            if message.get("last") is True:
                utterance = " ".join("".join(self._tokens).split())
                self._tokens = []
                self.transcript.append(("agent", utterance))
                self.received.append(RelayEvent("utterance", utterance, message))
        elif kind == "end":
            handoff = message.get("handoffData")
            self.handoff_data = None if handoff is None else str(handoff)
            self.ended = True
            self.received.append(RelayEvent("end", self.handoff_data or "", message))
        else:
            self.received.append(RelayEvent("message", kind, message))
        self._changed.set()

    # -- the caller ------------------------------------------------------------------------

    async def prompt(self, text: str, *, last: bool = True) -> bool:
        """One `prompt` message: what the recogniser heard (a partial unless `last`)."""
        sent = await self.send(
            {"type": "prompt", "voicePrompt": text, "lang": "en-US", "last": last}
        )
        if sent and last:
            self.transcript.append(("caller", text))
        return sent

    async def say(
        self,
        text: str | Sequence[str],
        *,
        parts: int = 1,
        pause_s: float = 0.0,
        partials: bool = True,
    ) -> None:
        """The caller speaks: partial results then a final, per part.

        A list is one answer in those parts; a string is split into `parts` pieces. Parts
        are separate finals with `pause_s` (slept) between them, as when the caller
        pauses longer than the speechTimeout mid-answer.
        """
        pieces = split_parts(text, parts) if isinstance(text, str) else list(text)
        for i, piece in enumerate(pieces):
            if i and pause_s > 0:
                await self.sleep(pause_s)
            if partials:
                for prefix in partial_prefixes(piece):
                    await self.prompt(prefix, last=False)
            await self.prompt(piece, last=True)

    async def press(self, digit: str) -> bool:
        if digit not in DTMF_KEYS or len(digit) != 1:
            raise ValueError(f"a key is one of {''.join(sorted(DTMF_KEYS))}, got {digit!r}")
        sent = await self.send({"type": "dtmf", "digit": digit})
        if sent:
            self.transcript.append(("dtmf", digit))
        return sent

    async def interrupt(self, heard: str | None = None, *, duration_ms: int | None = None) -> bool:
        """The caller talks over the service: `heard` is what of its speech got through
        (default: the first half of its last utterance, or of the tokens so far)."""
        if heard is None:
            current = "".join(self._tokens) or (self.utterances[-1] if self.utterances else "")
            words = current.split()
            heard = " ".join(words[: len(words) // 2])
        if duration_ms is None:
            duration_ms = round(len(heard.split()) / WORDS_PER_SECOND * 1000)
        message = {
            "type": "interrupt",
            "utteranceUntilInterrupt": heard,
            "durationUntilInterruptMs": duration_ms,
        }
        sent = await self.send(message)
        if sent:
            self.transcript.append(("interrupt", heard))
        return sent

    async def error(self, description: str) -> bool:
        return await self.send({"type": "error", "description": description})

    async def hang_up(self) -> None:
        """The caller hangs up: Twilio closes the socket (normal closure)."""
        self.hung_up = not self.ended and not self.closed
        await self.close()

    async def close(self, code: int = 1000) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close(code)
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    # -- waiting for the service -----------------------------------------------------------

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """The first true `predicate()` (checked after each event); TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            while not (value := predicate()):
                self._changed.clear()
                await self._changed.wait()
            return value

    async def next_event(self, timeout: float = 10.0) -> RelayEvent | None:
        """The next event not yet returned; None once the socket is closed and all are read."""

        def ready() -> bool:
            return self._event_cursor < len(self.received) or self.closed

        await self.wait_until(ready, timeout)
        if self._event_cursor >= len(self.received):
            return None
        event = self.received[self._event_cursor]
        self._event_cursor += 1
        return event

    async def next_utterance(self, timeout: float = 10.0) -> str | None:
        """The service's next whole utterance; None if the session ended without one."""

        def ready() -> bool:
            return len(self.utterances) > self._utterance_cursor or self.closed or self.ended

        await self.wait_until(ready, timeout)
        spoken = self.utterances
        if len(spoken) <= self._utterance_cursor:
            return None
        self._utterance_cursor += 1
        return spoken[self._utterance_cursor - 1]

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        await self.wait_until(lambda: self.closed, timeout)
        return self.close_code

    # -- the end ---------------------------------------------------------------------------

    def session_duration_s(self) -> int:
        if self._opened_at is None:
            return 0
        end = self._closed_at if self._closed_at is not None else time.monotonic()
        return max(0, math.ceil(end - self._opened_at))

    def default_statuses(self) -> tuple[str, str]:
        """(SessionStatus, CallStatus) as Twilio would report how the session ended."""
        if self.ended:
            return "ended", "in-progress"
        if self.hung_up:
            return "completed", "completed"
        return "failed", "in-progress"

    def action_params(
        self, session_status: str | None = None, call_status: str | None = None
    ) -> dict[str, str]:
        default_session, default_call = self.default_statuses()
        params = {
            "AccountSid": self.account_sid,
            "CallSid": self.call_sid,
            "CallStatus": call_status or default_call,
            "SessionId": self.session_id,
            "SessionStatus": session_status or default_session,
            "SessionDuration": str(self.session_duration_s()),
        }
        if self.handoff_data is not None:
            params["HandoffData"] = self.handoff_data
        return params

    async def finish(
        self, session_status: str | None = None, call_status: str | None = None
    ) -> RelayEnding:
        """Close the socket if still open and POST the signed action callback.

        Defaults: "ended" / "in-progress" after `end`, "completed" / "completed" after
        `hang_up()`, "failed" / "in-progress" when the socket dropped.
        """
        if not self.closed:
            await self.close()
        params = self.action_params(session_status, call_status)
        url = self.relay.action_url
        if url is None or self.http is None:
            raise ValueError("finish() needs an action URL in the TwiML and an http client")
        self.ending = await post_signed_form(
            self.http, self.relay.action_method, url, params, self.auth_token
        )
        return self.ending

    async def __aenter__(self) -> RelayCaller:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
