"""Plays one outbound call against a webhook server, the way Twilio would.

Twilio drives a call by POSTing signed, form-encoded webhooks and obeying the TwiML it
gets back. `CallPlayer` does the same against any server reachable by an
`httpx.AsyncClient`: status callbacks (initiated, ringing, in-progress, completed or
busy / no-answer / failed / canceled, numbered by `SequenceNumber`), the answer webhook
(with `AnsweredBy` under answering-machine detection), `<Say>` / `<Pause>` / `<Gather
input="speech dtmf">` (speech, or a key as `Digits`) / `<Redirect>` / `<Record>` /
`<Hangup>`, `<Connect><ConversationRelay>` (services/devtools/relay_interpreter.py), and
the recording status callback once the call is over. The person (or machine) at the other end is a `Callee`
(see `services.devtools.callees` for scripted and interactive ones).

Time is emulated, not waited for: a `<Gather timeout>` or `<Pause>` only advances a
virtual clock that yields `CallDuration` and the callbacks' `Timestamp`s. Only a
callee's `Utterance.pause_before_s` is slept, through an injectable `sleep`.

Used by the Twilio stand-in (services/devtools/standin/twilio.py) and by the local phone
simulator. The call's vocabulary is in `call_model` (re-exported here), the webhooks it
sends in `call_webhooks`, and its TwiML interpreter in `twiml_interpreter`.
docs/twilio-standin.md lists what is emulated and what is not.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from services.devtools.call_model import (
    API_VERSION,
    APPLICATION_ERROR_MESSAGE,
    BUSY_S,
    CALLBACK_WARNING,
    FAILED_S,
    MACHINE_DETECTION_S,
    OUTCOMES,
    RING_S,
    SIP_FAILED,
    SIP_RESPONSE_CODES,
    STATUS_CALLBACK_EVENTS,
    TERMINAL_STATUSES,
    Callee,
    CallError,
    CallOver,
    CallResult,
    CallSpec,
    GatherContext,
    HangUp,
    Partial,
    PlayerOptions,
    Press,
    Reply,
    Silence,
    StatusCallback,
    TranscriptLine,
    Utterance,
    WebhookExchange,
    new_sid,
    recording_url,
    rfc2822,
)
from services.devtools.call_webhooks import WebhookSender
from services.devtools.relay_interpreter import RelayInterpreter

__all__ = [
    "API_VERSION",
    "APPLICATION_ERROR_MESSAGE",
    "OUTCOMES",
    "STATUS_CALLBACK_EVENTS",
    "CallError",
    "CallPlayer",
    "CallResult",
    "CallSpec",
    "Callee",
    "GatherContext",
    "HangUp",
    "Partial",
    "PlayerOptions",
    "Press",
    "Reply",
    "Silence",
    "StatusCallback",
    "TranscriptLine",
    "Utterance",
    "WebhookExchange",
    "new_sid",
    "play_call",
    "recording_url",
    "rfc2822",
]


class CallPlayer(WebhookSender, RelayInterpreter):
    """Plays `spec` once: `result = await CallPlayer(...).play()`.

    `end(by="api")` ends the call from outside (what `calls(sid).update(status=
    "completed")` does); it may be called from any thread. `on_status(status, result)`
    is told each status the call reaches, when it is reached (not when delivered).
    `ws_route=(public_base, local_base)` connects a ConversationRelay socket addressed to
    the public URL to the local server (as `http`'s transport may route webhooks).
    """

    def __init__(
        self,
        spec: CallSpec,
        *,
        auth_token: str,
        http: httpx.AsyncClient,
        callee: Callee,
        options: PlayerOptions | None = None,
        on_status: Callable[[str, CallResult], None] | None = None,
        ws_route: tuple[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self.ws_route = ws_route
        self.auth_token = auth_token
        self.http = http
        self.callee = callee
        self.options = options or PlayerOptions()
        self.on_status = on_status
        self.result = CallResult(
            sid=spec.sid, to=spec.to, from_=spec.from_, account_sid=spec.account_sid
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._end = asyncio.Event()
        self._end_by: str | None = None
        self._vt = 0.0  # virtual seconds since the call was created
        self._answered_at: float | None = None
        self._started: datetime | None = None
        self._sequence = 0
        self._steps = 0
        self._pending: list[StatusCallback] = []
        self._heard_since_listen: list[str] = []
        self._machine = False

    # -- control -------------------------------------------------------------------------

    @property
    def answered(self) -> bool:
        return self._answered_at is not None

    def end(self, by: str = "api") -> None:
        """Hang up from outside; the player stops at its next step (webhooks in flight finish)."""
        if self._end_by is None:
            self._end_by = by
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or loop is running:
            self._end.set()
        else:
            loop.call_soon_threadsafe(self._end.set)

    async def play(self) -> CallResult:
        self._loop = asyncio.get_running_loop()
        self._started = self.options.clock()
        try:
            await self._run()
        except asyncio.CancelledError:
            if self.result.final_status is None:
                self.result.notes.append("player cancelled before the call ended")
            raise
        finally:
            ended = getattr(self.callee, "call_ended", None)
            if callable(ended) and self.result.final_status is not None:
                outcome = ended(self.result)
                if inspect.isawaitable(outcome):
                    await outcome
        return self.result

    # -- the call's life -----------------------------------------------------------------

    async def _run(self) -> None:
        outcome = getattr(self.callee, "outcome", "answer")
        if outcome not in OUTCOMES:
            raise ValueError(f"callee outcome must be one of {OUTCOMES}, got {outcome!r}")
        self.result.outcome = outcome
        if self._end.is_set():  # ended while still queued
            await self._finish("canceled")
            return
        await self._status("initiated")
        if self._end.is_set():
            await self._finish("canceled")
            return
        if outcome == "failed":
            self._vt += FAILED_S
            await self._finish("failed")
            return
        await self._status("ringing")
        pick_up = getattr(self.callee, "pick_up", None)
        if callable(pick_up):
            try:
                outcome = await self._unless_ended(pick_up(self.spec.ring_timeout_s))
            except CallOver:
                await self._finish("canceled")
                return
            if outcome not in OUTCOMES:
                raise ValueError(f"pick_up must return one of {OUTCOMES}, got {outcome!r}")
            self.result.outcome = outcome
        if self._end.is_set():
            await self._finish("canceled")
            return
        if outcome in ("busy", "no-answer", "failed"):
            self._vt += {"busy": BUSY_S, "failed": FAILED_S}.get(outcome, self.spec.ring_timeout_s)
            await self._finish(outcome)
            return
        self._vt += RING_S
        self._machine = outcome == "voicemail"
        if self.spec.amd and not self.spec.async_amd:
            self._vt += MACHINE_DETECTION_S  # synchronous AMD delays the answer webhook
        self._answered_at = self._vt
        self.result.answered_by = self._answered_by() if self.spec.amd else None
        await self._status("in-progress")
        try:
            await self._converse()
        except CallOver as stop:
            self.result.ended_by = stop.by
            if stop.by == "error":
                self.result.application_error = True
                self.result.transcript.append(TranscriptLine("twilio", APPLICATION_ERROR_MESSAGE))
                await self.callee.hear(APPLICATION_ERROR_MESSAGE)
        await self._finish("completed")

    def _answered_by(self) -> str:
        chosen = getattr(self.callee, "answered_by", None)
        if chosen:
            return str(chosen)
        if not self._machine:
            return "human"
        if self.spec.machine_detection == "DetectMessageEnd":
            return "machine_end_beep"
        return "machine_start"

    def _call_params(self, status: str) -> dict[str, str]:
        spec = self.spec
        return {
            "AccountSid": spec.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": spec.sid,
            "CallStatus": status,
            "Called": spec.to,
            "Caller": spec.from_,
            "Direction": "outbound-api",
            "From": spec.from_,
            "To": spec.to,
        }

    def _timestamp(self) -> str:
        assert self._started is not None
        return rfc2822(self._started + timedelta(seconds=self._vt))

    def _call_duration(self) -> int:
        if self._answered_at is None:
            return 0
        return max(1, math.ceil(self._vt - self._answered_at))

    def _notify(self, status: str) -> None:
        if self.on_status is not None:
            self.on_status(status, self.result)

    # -- status and recording callbacks ---------------------------------------------------

    @property
    def _deferring(self) -> bool:
        return self.options.status_delivery is not None or self.options.shuffle_status is not None

    async def _status(self, status: str) -> None:
        self._notify(status)
        event = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}.get(
            status, "completed"
        )
        url = self.spec.status_callback_url
        if not url or event not in self.spec.status_callback_events:
            return
        params = self._call_params(status)
        params.update(
            CallbackSource="call-progress-events",
            Timestamp=self._timestamp(),
            SequenceNumber=str(self._sequence),
        )
        if self.result.answered_by and status not in ("initiated", "ringing"):
            params["AnsweredBy"] = self.result.answered_by
        if status in TERMINAL_STATUSES:
            duration = self._call_duration()
            params["CallDuration"] = str(duration)
            params["Duration"] = str(math.ceil(duration / 60))  # billed minutes
            params["SipResponseCode"] = str(SIP_RESPONSE_CODES.get(status, SIP_FAILED))
        callback = StatusCallback(
            url=url,
            method=self.spec.status_callback_method,
            status=status,
            sequence=self._sequence,
            params=params,
            idempotency_token=secrets.token_hex(16),
        )
        self._sequence += 1
        copies = [callback, callback] if self.options.duplicate_status else [callback]
        if self._deferring:
            self._pending.extend(copies)
        else:
            for copy in copies:
                await self._deliver(copy)

    async def _deliver(self, callback: StatusCallback) -> None:
        exchange = await self._send(
            "status",
            callback.url,
            callback.method,
            callback.params,
            token=callback.idempotency_token,
            virtual=False,
        )
        self._check_callback_answer(exchange)

    def _check_callback_answer(self, exchange: WebhookExchange) -> None:
        if exchange.status_code is None or not 200 <= exchange.status_code < 300:
            answer = exchange.error or f"HTTP {exchange.status_code}"
            self.result.errors.append(
                CallError(
                    CALLBACK_WARNING, f"{exchange.kind} callback answered {answer}", exchange.url
                )
            )

    async def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if self.options.status_delivery is not None:
            ordered = list(self.options.status_delivery(list(pending)))
        elif self.options.shuffle_status is not None:
            ordered = self.options.shuffle_status.sample(pending, len(pending))
        else:
            ordered = pending
        for callback in ordered:
            await self._deliver(callback)

    async def _recording(self) -> None:
        url = self.spec.recording_status_callback_url
        if not (self.answered and self.spec.record and url):
            return
        assert self._started is not None and self._answered_at is not None
        sid = self.result.recording_sid = new_sid("RE")
        params = {
            "AccountSid": self.spec.account_sid,
            "CallSid": self.spec.sid,
            "RecordingSid": sid,
            "RecordingUrl": recording_url(self.spec.account_sid, sid),
            "RecordingStatus": "completed",
            "RecordingDuration": str(self._call_duration()),
            "RecordingChannels": "1",
            "RecordingSource": "OutboundAPI",
            "RecordingStartTime": rfc2822(self._started + timedelta(seconds=self._answered_at)),
            "RecordingTrack": "both",
            "ErrorCode": "0",
        }
        exchange = await self._send(
            "recording", url, self.spec.recording_status_callback_method, params, virtual=False
        )
        self._check_callback_answer(exchange)

    async def _finish(self, status: str) -> None:
        self.result.final_status = status
        self.result.duration_s = self._call_duration()
        before = self.options.recording_before_completed
        if before:
            await self._recording()
        await self._status(status)
        await self._flush()
        if not before:
            await self._recording()


async def play_call(
    spec: CallSpec,
    *,
    auth_token: str,
    http: httpx.AsyncClient,
    callee: Callee,
    on_status: Callable[[str, CallResult], None] | None = None,
    **options: Any,
) -> CallResult:
    """Play one call; keyword options are `PlayerOptions` fields."""
    player = CallPlayer(
        spec,
        auth_token=auth_token,
        http=http,
        callee=callee,
        options=PlayerOptions(**options),
        on_status=on_status,
    )
    return await player.play()
