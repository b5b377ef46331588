"""What a played call is made of: its spec, the callee's replies, what happened, the options.

The vocabulary of the Twilio call emulator (services/devtools/call_player.py, which
re-exports it): Twilio's own constants and error codes, `CallSpec` (a call as
`calls.create` made it), the replies a `Callee` gives, and the `CallResult` a player
fills in. Data only; the player and the TwiML interpreter act on it.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal, Protocol, runtime_checkable

import attrs

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
# ConversationRelay's own: services/devtools/standin/relay_model.py

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


def speaking_s(text: str) -> float:
    return max(0.5, len(text.split()) / WORDS_PER_SECOND)


def end_of_speech_s(speech_timeout: str, timeout_s: int) -> float:
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
    def from_mock_call(cls, call: Any) -> CallSpec:
        """A call `MockTelephony` placed, as the player plays it (with answering-machine
        detection, as `TwilioTelephony` asks for)."""
        return cls(
            to=call.to,
            from_=call.from_,
            sid=call.sid,
            answer_url=call.answer_url,
            status_callback_url=call.status_callback_url,
            recording_status_callback_url=call.recording_callback_url,
            machine_detection="Enable",
        )

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
    """Speech, `pause_before_s` after Twilio listens. Relay only: `more` (a part follows at
    once), `interrupts` (over the service), `partials` (before the final; False: sent live)."""

    text: str
    pause_before_s: float = 0.0
    confidence: float | None = None  # None: PlayerOptions.confidence
    more: bool = False
    interrupts: bool = False
    partials: bool = True


@attrs.frozen
class Partial:
    """Interim speech recognition (ConversationRelay: prompt, last false; Gather: ignored)."""

    text: str


@attrs.frozen
class Press:
    """A key pressed (ConversationRelay: a `dtmf` message; a dtmf `<Gather>`: `Digits`)."""

    digit: str


@attrs.frozen
class Silence:
    """No speech before the Gather times out."""


@attrs.frozen
class HangUp:
    """The callee hangs up."""


Reply = Utterance | Silence | HangUp | Partial | Press


@attrs.frozen
class GatherContext:
    """What the callee knows when Twilio listens (Gather, Record, or a relay socket's turn)."""

    call_sid: str
    kind: Literal["gather", "record", "relay"]
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

    * `answered_by: str | None` - AnsweredBy under AMD (default human / machine_start);
    * `async pick_up(ring_timeout_s) -> outcome` - decide while the phone rings (a UI);
    * `call_ended(result)` (sync or async) - told when the call is over;
    * `async converse(relay)` - drive a ConversationRelay session itself with the open
      `RelayCaller` (the player then posts the action, unless it called `finish()`);
    * `listens_continuously` - on ConversationRelay, asked again as soon as a reply is
      sent (a person at a UI), not only after the service has spoken.
    """

    outcome: str  # "answer" | "busy" | "no-answer" | "failed" | "voicemail"

    async def hear(self, text: str) -> None: ...

    async def respond(self, ctx: GatherContext) -> Reply: ...


# -- what happened ---------------------------------------------------------------------


@attrs.frozen
class WebhookExchange:
    """One request the player sent and what came back."""

    kind: str  # status | answer | gather | redirect | record | recording | amd | relay
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
    """A status callback held for delivery (what `status_delivery` reorders)."""

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
    relay_sessions: list[Any] = attrs.Factory(list)  # each <Connect>'s RelayCaller
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
    * `max_steps`: verbs + TwiML fetches before the loop guard ends the call;
    * relay (real s): `relay_settle_s` of quiet after the service spoke before the callee
      is asked (not after a `relay_fillers` one); `relay_idle_s` before the caller hangs up.
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
    relay_settle_s: float = 0.2
    relay_idle_s: float = 120.0
    relay_fillers: frozenset[str] = frozenset({"Mm-hm."})


class CallOver(Exception):
    """Unwinds the player and its TwiML interpreter: the call is over (``by`` whom)."""

    def __init__(self, by: str) -> None:
        super().__init__(by)
        self.by = by
