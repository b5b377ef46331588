"""Plays one outbound call against a webhook server, the way Twilio would.

Twilio drives a call by POSTing signed, form-encoded webhooks and obeying the TwiML it
gets back. `CallPlayer` does the same against any server reachable by an
`httpx.AsyncClient`: status callbacks (initiated, ringing, in-progress, completed or
busy / no-answer / failed / canceled, numbered by `SequenceNumber`), the answer webhook
(with `AnsweredBy` under answering-machine detection), `<Say>` / `<Pause>` / `<Gather
input="speech">` / `<Redirect>` / `<Record>` / `<Hangup>`, and the recording status
callback once the call is over. The person (or machine) at the other end is a `Callee`
(see `services.devtools.callees` for scripted and interactive ones).

Time is emulated, not waited for: a `<Gather timeout>` or `<Pause>` only advances a
virtual clock that yields `CallDuration` and the callbacks' `Timestamp`s. Only a
callee's `Utterance.pause_before_s` is slept, through an injectable `sleep`.

Used by the end-to-end Twilio stand-in (tests/standin) and by the local phone simulator.
docs/twilio-standin.md lists what is emulated and what is not.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import random
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import urlencode, urljoin

import attrs
import httpx

from services.webhooks.signature import sign_twilio_request

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
    "PlayerOptions",
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

API_VERSION = "2010-04-01"
STATUS_CALLBACK_EVENTS = ("initiated", "ringing", "answered", "completed")
OUTCOMES = ("answer", "busy", "no-answer", "failed", "voicemail")
TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
APPLICATION_ERROR_MESSAGE = "We are sorry, an application error has occurred. Goodbye."
MAX_TWIML_BYTES = 64 * 1024  # Twilio error 11750 above this
SIP_RESPONSE_CODES = {"completed": 200, "busy": 486, "no-answer": 487, "canceled": 487}
SIP_FAILED = 500

# Twilio error codes the player reports (https://www.twilio.com/docs/api/errors).
HTTP_RETRIEVAL_FAILURE = 11200  # non-2xx answer to a TwiML request
HTTP_CONNECTION_FAILURE = 11205  # connection failed or timed out
RESPONSE_TOO_LARGE = 11750
DOCUMENT_PARSE_FAILURE = 12100
SCHEMA_VALIDATION = 12200  # a verb the stand-in cannot (or Twilio would not) play here
INVALID_CONTENT_TYPE = 12300
CALLBACK_WARNING = 15003  # non-2xx answer to a status / recording callback

# Virtual-time model: seconds of call time per event (nothing is actually waited).
WORDS_PER_SECOND = 2.5
RING_S = 4.0
BUSY_S = 2.0
FAILED_S = 1.0
MACHINE_DETECTION_S = 2.5

SAY_NESTABLE = frozenset({"Say", "Play", "Pause"})

Sleep = Callable[[float], Awaitable[None]]


def new_sid(prefix: str) -> str:
    """A Twilio-shaped sid: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def rfc2822(moment: datetime) -> str:
    """Twilio's timestamp format, e.g. 'Tue, 31 Aug 2010 20:36:28 +0000'."""
    return format_datetime(moment.astimezone(UTC))


def recording_url(account_sid: str, recording_sid: str) -> str:
    return f"https://api.twilio.com/{API_VERSION}/Accounts/{account_sid}/Recordings/{recording_sid}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _speaking_s(text: str) -> float:
    return max(0.5, len(text.split()) / WORDS_PER_SECOND)


def _end_of_speech_s(speech_timeout: str, timeout_s: int) -> float:
    """How long Twilio waits after speech ends: speechTimeout seconds ("auto": about 1 s)."""
    if speech_timeout == "auto":
        return 1.0
    try:
        return max(0.0, float(speech_timeout))
    except ValueError:
        return float(timeout_s)


# -- the call --------------------------------------------------------------------------


def _amd(value: str | bool | None) -> str | None:
    if value is True:
        return "Enable"
    return value or None


@attrs.frozen(kw_only=True)
class CallSpec:
    """One outbound call as created through `calls.create`.

    `status_callback_events` defaults to all four events (what this project requests);
    `from_rest_params` follows Twilio's own default (only `completed`) when none is given.
    `machine_detection` is None, "Enable" or "DetectMessageEnd" (True means "Enable").
    """

    to: str
    from_: str
    answer_url: str | None = None
    sid: str = attrs.field(factory=lambda: new_sid("CA"))
    account_sid: str = attrs.field(factory=lambda: new_sid("AC"))
    answer_method: str = "POST"
    twiml: str | None = None  # inline TwiML instead of answer_url (calls.create `twiml=`)
    status_callback_url: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: frozenset[str] = frozenset(STATUS_CALLBACK_EVENTS)
    record: bool = True
    recording_status_callback_url: str | None = None
    recording_status_callback_method: str = "POST"
    machine_detection: str | None = attrs.field(default=None, converter=_amd)
    async_amd: bool = False
    async_amd_status_callback_url: str | None = None
    ring_timeout_s: int = 60
    time_limit_s: int = 14400

    @property
    def amd(self) -> bool:
        return self.machine_detection is not None

    @classmethod
    def from_rest_params(
        cls, form: Mapping[str, str | Sequence[str]], *, sid: str, account_sid: str
    ) -> CallSpec:
        """The spec of a call created by POST .../Calls.json with these form parameters."""

        def values(name: str) -> list[str]:
            value = form.get(name)
            if value is None:
                return []
            return [value] if isinstance(value, str) else list(value)

        def first(name: str, default: str | None = None) -> str | None:
            found = values(name)
            return found[0] if found else default

        events = {e for v in values("StatusCallbackEvent") for e in v.split()} or {"completed"}
        return cls(
            sid=sid,
            account_sid=account_sid,
            to=first("To") or "",
            from_=first("From") or "",
            answer_url=first("Url"),
            answer_method=(first("Method") or "POST").upper(),
            twiml=first("Twiml"),
            status_callback_url=first("StatusCallback"),
            status_callback_method=(first("StatusCallbackMethod") or "POST").upper(),
            status_callback_events=frozenset(events),
            record=(first("Record") or "false").lower() == "true",
            recording_status_callback_url=first("RecordingStatusCallback"),
            recording_status_callback_method=(
                first("RecordingStatusCallbackMethod") or "POST"
            ).upper(),
            machine_detection=first("MachineDetection"),
            async_amd=(first("AsyncAmd") or "false").lower() == "true",
            async_amd_status_callback_url=first("AsyncAmdStatusCallback"),
            ring_timeout_s=int(first("Timeout") or 60),
            time_limit_s=int(first("TimeLimit") or 14400),
        )


# -- what the callee does ----------------------------------------------------------------


@attrs.frozen
class Utterance:
    """Speech, starting `pause_before_s` after Twilio starts listening."""

    text: str
    pause_before_s: float = 0.0
    confidence: float | None = None  # None: PlayerOptions.confidence


@attrs.frozen
class Silence:
    """No speech before the Gather times out."""


@attrs.frozen
class HangUp:
    """The callee hangs up."""


Reply = Utterance | Silence | HangUp


@attrs.frozen
class GatherContext:
    """What the callee knows when Twilio starts listening (a `<Gather>` or `<Record>`)."""

    call_sid: str
    kind: Literal["gather", "record"]
    index: int  # 0 for the first listen of the call
    prompt: str  # what the service said since the previous listen
    timeout_s: int
    speech_timeout: str
    input: str
    action_url: str
    elapsed_s: float  # virtual seconds since the call was answered
    language: str = "en-US"
    hints: str = ""


@runtime_checkable
class Callee(Protocol):
    """The phone's owner. Optional extras the player uses when present:

    * `answered_by: str | None` - the AnsweredBy value under AMD (default human /
      machine_start);
    * `async pick_up(ring_timeout_s) -> outcome` - decide while the phone rings (an
      interactive UI); without it `outcome` is used at once;
    * `call_ended(result)` (sync or async) - told when the call is over.
    """

    outcome: str  # "answer" | "busy" | "no-answer" | "failed" | "voicemail"

    async def hear(self, text: str) -> None: ...

    async def respond(self, ctx: GatherContext) -> Reply: ...


# -- what happened ---------------------------------------------------------------------


@attrs.frozen
class WebhookExchange:
    """One request the player sent and what came back."""

    kind: str  # status | answer | gather | redirect | record | recording | amd
    method: str
    url: str  # as signed (for GET, including the parameters)
    params: dict[str, str]
    signature: str
    status_code: int | None  # None: no response (connection failure or timeout)
    content_type: str
    body: str
    elapsed_ms: float
    error: str = ""
    sent_at: float = 0.0  # time.perf_counter() when the request went out


@attrs.frozen
class CallError:
    code: int | None  # Twilio's error code, None for stand-in limits (loop guard)
    message: str
    url: str = ""


@attrs.frozen
class TranscriptLine:
    speaker: Literal["service", "callee", "twilio"]
    text: str


@attrs.frozen
class StatusCallback:
    """A status callback waiting to be delivered (what `status_delivery` reorders)."""

    url: str
    method: str
    status: str
    sequence: int
    params: dict[str, str]
    idempotency_token: str


@attrs.define
class CallResult:
    sid: str
    to: str
    from_: str
    account_sid: str = ""
    outcome: str = ""
    final_status: str | None = None  # None while the call is live
    answered_by: str | None = None
    said: list[str] = attrs.Factory(list)  # <Say> texts, in order
    callee_said: list[str] = attrs.Factory(list)  # speech the service received
    transcript: list[TranscriptLine] = attrs.Factory(list)
    webhooks: list[WebhookExchange] = attrs.Factory(list)  # in the order sent
    errors: list[CallError] = attrs.Factory(list)
    notes: list[str] = attrs.Factory(list)  # emulation remarks (ignored verbs, late speech)
    duration_s: int = 0  # CallDuration
    ended_by: str | None = None  # service | callee | api | error | loop-guard | time-limit
    application_error: bool = False
    gathers: int = 0
    recording_sid: str | None = None

    @property
    def recording_url(self) -> str | None:
        if self.recording_sid is None:
            return None
        return recording_url(self.account_sid, self.recording_sid)

    def webhooks_of(self, kind: str) -> list[WebhookExchange]:
        return [w for w in self.webhooks if w.kind == kind]

    @property
    def status_callbacks(self) -> list[WebhookExchange]:
        """Status callbacks in the order they were delivered (duplicates included)."""
        return self.webhooks_of("status")

    @property
    def statuses(self) -> list[str]:
        return [w.params["CallStatus"] for w in self.status_callbacks]

    @property
    def turn_latencies_ms(self) -> list[float]:
        """Time the service took to answer each Gather action (the caller's silence)."""
        return [w.elapsed_ms for w in self.webhooks_of("gather")]

    @property
    def ok(self) -> bool:
        return not self.errors


StatusOrder = Callable[[list[StatusCallback]], Sequence[StatusCallback]]


@attrs.frozen(kw_only=True)
class PlayerOptions:
    """How the player misbehaves (like Twilio may) and how it waits.

    * `duplicate_status`: deliver every status callback twice (same SequenceNumber,
      signature and I-Twilio-Idempotency-Token), as a retried request would be;
    * `shuffle_status`: hold status callbacks until the call is over, then deliver them
      in an order drawn from this Random (the set is unchanged);
    * `status_delivery`: hold them likewise and deliver exactly the list this returns
      (it may reorder, drop or repeat); takes precedence over `shuffle_status`;
    * `recording_before_completed`: send the recording callback before the final status
      callback instead of after it;
    * `sleep`: how a callee's `pause_before_s` is waited (tests pass a no-op);
    * `pace`: real seconds spent per second of call time the service talks (Say,
      Pause), the callee talks, and Twilio waits for the end of speech (the Gather's
      speechTimeout) before posting the result: 0 plays as fast as possible, 1 at
      Twilio's own pace (each waited with `sleep`);
    * `max_steps`: verbs + TwiML fetches before the loop guard ends the call.
    """

    duplicate_status: bool = False
    shuffle_status: random.Random | None = None
    status_delivery: StatusOrder | None = None
    recording_before_completed: bool = False
    sleep: Sleep = asyncio.sleep
    pace: float = 0.0
    max_steps: int = 200
    webhook_timeout_s: float = 15.0
    confidence: float = 0.92
    clock: Callable[[], datetime] = _utcnow


# -- the player ------------------------------------------------------------------------


class _Stop(Exception):
    """Unwinds the TwiML interpreter: the call is over."""

    def __init__(self, by: str) -> None:
        super().__init__(by)
        self.by = by


class CallPlayer:
    """Plays `spec` once: `result = await CallPlayer(...).play()`.

    `end(by="api")` ends the call from outside (what `calls(sid).update(status=
    "completed")` does); it may be called from any thread. `on_status(status, result)`
    is told each status the call reaches, when it is reached (not when delivered).
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
    ) -> None:
        self.spec = spec
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
            except _Stop:
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
        except _Stop as stop:
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

    # -- HTTP ----------------------------------------------------------------------------

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

    def _fail(self, code: int | None, message: str, url: str = "") -> _Stop:
        self.result.errors.append(CallError(code, message, url))
        return _Stop("error")

    async def _fetch_twiml(
        self, kind: str, url: str, method: str, extra: Mapping[str, str] | None = None
    ) -> ET.Element:
        self._step()
        params = self._call_params("in-progress")
        params.update(extra or {})
        exchange = await self._send(kind, url, method, params)
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

    # -- TwiML ---------------------------------------------------------------------------

    def _step(self) -> None:
        if self._end.is_set():
            raise _Stop(self._end_by or "api")
        if self._answered_at is not None and self._vt - self._answered_at > self.spec.time_limit_s:
            self.result.notes.append(f"time limit of {self.spec.time_limit_s}s reached")
            raise _Stop("time-limit")
        self._steps += 1
        if self._steps > self.options.max_steps:
            self.result.errors.append(
                CallError(None, f"loop guard: more than {self.options.max_steps} steps")
            )
            raise _Stop("loop-guard")

    async def _unless_ended(self, awaitable: Awaitable[Any]) -> Any:
        """Await `awaitable` unless `end()` comes first (then raise _Stop)."""
        if self._end.is_set():
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise _Stop(self._end_by or "api")
        task = asyncio.ensure_future(awaitable)
        ender = asyncio.ensure_future(self._end.wait())
        try:
            await asyncio.wait({task, ender}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ender.cancel()
        if task.done():
            return task.result()
        task.cancel()
        raise _Stop(self._end_by or "api")

    async def _converse(self) -> None:
        if self.spec.twiml is not None:
            self._step()
            document = self._parse(self.spec.twiml, "inline TwiML")
            document_url = self.spec.answer_url or ""
        elif self.spec.answer_url:
            extra: dict[str, str] = {}
            if self.spec.amd and not self.spec.async_amd:
                extra["AnsweredBy"] = str(self.result.answered_by)
                extra["MachineDetectionDuration"] = str(int(MACHINE_DETECTION_S * 1000))
            document_url = self.spec.answer_url
            document = await self._fetch_twiml(
                "answer", document_url, self.spec.answer_method, extra
            )
        else:
            raise self._fail(None, "call has neither answer_url nor twiml")
        if self.spec.amd and self.spec.async_amd and self.spec.async_amd_status_callback_url:
            await self._async_amd()
        while True:
            document, document_url = await self._run_document(document, document_url)

    async def _async_amd(self) -> None:
        params = {
            "AccountSid": self.spec.account_sid,
            "CallSid": self.spec.sid,
            "AnsweredBy": str(self.result.answered_by),
            "MachineDetectionDuration": str(int(MACHINE_DETECTION_S * 1000)),
        }
        url = str(self.spec.async_amd_status_callback_url)
        self._check_callback_answer(await self._send("amd", url, "POST", params, virtual=False))

    async def _run_document(self, root: ET.Element, url: str) -> tuple[ET.Element, str]:
        """Play verbs in order; returns the next document, or raises _Stop at the end."""
        for verb in root:
            self._step()
            tag = verb.tag
            if tag == "Say":
                await self._say(verb)
            elif tag == "Pause":
                await self._pause(verb)
            elif tag == "Play":
                self._play(verb)
            elif tag == "Gather":
                found = await self._gather(verb, url)
                if found is not None:
                    return found
            elif tag == "Redirect":
                target = urljoin(url, (verb.text or "").strip()) or url
                method = verb.get("method", "POST")
                return await self._fetch_twiml("redirect", target, method), target
            elif tag == "Record":
                found = await self._record(verb, url)
                if found is not None:
                    return found
            elif tag in ("Hangup", "Reject"):
                if tag == "Reject":
                    self.result.notes.append("<Reject> on an answered outbound call: hung up")
                raise _Stop("service")
            else:
                raise self._fail(SCHEMA_VALIDATION, f"verb <{tag}> is not emulated", url)
        raise _Stop("service")  # end of the document: Twilio hangs up

    async def _say(self, verb: ET.Element) -> None:
        text = " ".join("".join(verb.itertext()).split())
        if not text:
            self.result.notes.append("empty <Say> skipped")
            return
        try:
            loops = int(verb.get("loop", "1"))
        except ValueError:
            loops = 1
        for _ in range(max(1, min(loops, 10))):  # loop="0" repeats "forever": play once
            self.result.said.append(text)
            self.result.transcript.append(TranscriptLine("service", text))
            self._heard_since_listen.append(text)
            await self._elapse(_speaking_s(text))
            await self.callee.hear(text)

    async def _pause(self, verb: ET.Element) -> None:
        try:
            length = max(0, int(verb.get("length", "1")))
        except ValueError:
            length = 1
        await self._elapse(length)

    async def _elapse(self, seconds: float) -> None:
        """Call time passes: virtual always, real too when the options set a pace."""
        self._vt += seconds
        if self.options.pace > 0 and seconds > 0:
            await self._unless_ended(self.options.sleep(seconds * self.options.pace))

    def _play(self, verb: ET.Element) -> None:
        self.result.notes.append(f"<Play> {(verb.text or '').strip()} not heard by the callee")

    def _context(
        self, kind: Literal["gather", "record"], verb: ET.Element, action: str
    ) -> GatherContext:
        def seconds(name: str, default: int) -> int:
            try:
                return int(verb.get(name, str(default)))
            except ValueError:
                return default

        timeout = seconds("timeout", 5)
        ctx = GatherContext(
            call_sid=self.spec.sid,
            kind=kind,
            index=self.result.gathers,
            prompt=" ".join(self._heard_since_listen),
            timeout_s=timeout,
            speech_timeout=verb.get("speechTimeout", str(timeout)),
            input=verb.get("input", "dtmf") if kind == "gather" else "speech",
            action_url=action,
            elapsed_s=self._vt - (self._answered_at or 0.0),
            language=verb.get("language", "en-US"),
            hints=verb.get("hints", ""),
        )
        self.result.gathers += 1
        self._heard_since_listen = []
        return ctx

    async def _listen(self, ctx: GatherContext) -> Reply:
        reply: Any = await self._unless_ended(self.callee.respond(ctx))
        if isinstance(reply, str):
            reply = Utterance(reply)
        if reply is None:
            reply = Silence()
        if not isinstance(reply, Utterance | Silence | HangUp):
            raise TypeError(f"respond() must return Utterance, Silence or HangUp, got {reply!r}")
        if self._machine and isinstance(reply, Utterance):
            return Silence()  # an answering machine does not talk back
        if isinstance(reply, Utterance) and not reply.text.strip():
            return Silence()
        return reply

    async def _speech(self, reply: Utterance, ctx: GatherContext) -> bool:
        """Wait the callee's pause; False when speech began too late to be heard."""
        if reply.pause_before_s > 0:
            await self._unless_ended(self.options.sleep(reply.pause_before_s))
            self._vt += reply.pause_before_s
        if reply.pause_before_s >= ctx.timeout_s:
            self.result.notes.append(
                f"speech {reply.text!r} began after the {ctx.timeout_s}s timeout: lost"
            )
            return False
        self.result.callee_said.append(reply.text)
        self.result.transcript.append(TranscriptLine("callee", reply.text))
        await self._elapse(_speaking_s(reply.text))
        if ctx.kind == "gather":  # Twilio posts the result once the caller has paused this long
            await self._elapse(_end_of_speech_s(ctx.speech_timeout, ctx.timeout_s))
        return True

    async def _gather(self, verb: ET.Element, url: str) -> tuple[ET.Element, str] | None:
        action = urljoin(url, verb.get("action", "")) or url
        method = verb.get("method", "POST")
        for child in verb:
            if child.tag not in SAY_NESTABLE:
                raise self._fail(
                    SCHEMA_VALIDATION, f"<{child.tag}> cannot be nested in <Gather>", url
                )
            self._step()
            if child.tag == "Say":
                await self._say(child)
            elif child.tag == "Pause":
                await self._pause(child)
            else:
                self._play(child)
        ctx = self._context("gather", verb, action)
        reply = await self._listen(ctx)
        if isinstance(reply, HangUp):
            self.result.transcript.append(TranscriptLine("twilio", "(callee hung up)"))
            raise _Stop("callee")
        heard = False
        if isinstance(reply, Utterance):
            if "speech" not in ctx.input.split():
                self.result.notes.append(f"speech {reply.text!r} to a Gather without speech input")
            else:
                heard = await self._speech(reply, ctx)
        if heard:
            assert isinstance(reply, Utterance)
            confidence = self.options.confidence if reply.confidence is None else reply.confidence
            extra = {"SpeechResult": reply.text, "Confidence": str(confidence)}
            return await self._fetch_twiml("gather", action, method, extra), action
        self._vt += ctx.timeout_s
        self.result.transcript.append(TranscriptLine("twilio", "(silence)"))
        if verb.get("actionOnEmptyResult", "false").lower() == "true":
            return await self._fetch_twiml("gather", action, method), action
        return None  # Twilio falls through to the next verb

    async def _record(self, verb: ET.Element, url: str) -> tuple[ET.Element, str] | None:
        action = urljoin(url, verb.get("action", "")) or url
        method = verb.get("method", "POST")
        ctx = self._context("record", verb, action)
        reply = await self._listen(ctx)
        if isinstance(reply, HangUp):
            raise _Stop("callee")
        if not isinstance(reply, Utterance) or not await self._speech(reply, ctx):
            self._vt += ctx.timeout_s
            return None  # nothing recorded: Twilio skips the action and carries on
        sid = new_sid("RE")
        extra = {
            "RecordingSid": sid,
            "RecordingUrl": recording_url(self.spec.account_sid, sid),
            "RecordingDuration": str(math.ceil(_speaking_s(reply.text))),
        }
        return await self._fetch_twiml("record", action, method, extra), action


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
