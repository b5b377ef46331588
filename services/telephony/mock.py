"""In-process `Telephony` for tests and the local phone simulator: no network, same contract.

It records what it was asked to do, paces calls with the same `CallRateLimiter`, validates
numbers like Twilio (21211), and tells subscribers about each call and SMS so a simulator
can "ring" a phone. Failures can be queued to exercise the caller's error handling. A
call's status is the port's own, neutral word (``CallProgress``), never Twilio's: what
plays the call the way Twilio would (the call player) translates what it reports.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import get_args

import attrs

from services.telephony.numbers import is_e164
from services.telephony.port import (
    ENDED_PROGRESS,
    AmbiguousDialError,
    CallProgress,
    CallRateLimiter,
    CallSummary,
    DialFenced,
    Fence,
    PlacedCall,
    RecordingAudio,
    SentText,
    TelephonyError,
)

__all__ = [
    "CallEnded",
    "CallPlaced",
    "MockCall",
    "MockEvent",
    "MockSms",
    "MockTelephony",
    "SmsSent",
]

INVALID_NUMBER_CODE = 21211
NOT_FOUND_CODE = 20404
CALL_PROGRESS = get_args(CallProgress)


@attrs.define
class MockCall:
    """A call the mock placed. `status` moves on via `MockTelephony.set_call_status`."""

    sid: str
    to: str
    from_: str
    answer_url: str
    status_callback_url: str
    recording_callback_url: str
    ring_timeout_s: int
    time_limit_s: int
    date_created: datetime
    status: CallProgress = "ringing"  # the port's word for queued too
    start_time: datetime | None = None
    user: str | None = None  # the account the service placed it for (the port's `user`)


@attrs.frozen
class MockSms:
    sid: str
    to: str
    from_: str
    body: str
    date_created: datetime
    user: str | None = None  # the account the service sent it for (the port's `user`)


@attrs.frozen
class CallPlaced:
    call: MockCall


@attrs.frozen
class CallEnded:
    call: MockCall


@attrs.frozen
class SmsSent:
    sms: MockSms


MockEvent = CallPlaced | CallEnded | SmsSent
Listener = Callable[[MockEvent], Awaitable[None] | None]
# Makes the audio of a recording the mock was not given: (media type, bytes), or None.
RecordingSource = Callable[[str], Awaitable[tuple[str, bytes] | None]]


@attrs.frozen
class _QueuedFailure:
    error: TelephonyError | AmbiguousDialError
    still_placed: bool


class MockTelephony:
    """A `Telephony` that keeps everything in memory. Pass `seed` for reproducible sids."""

    def __init__(
        self,
        from_number: str = "+15005550006",
        *,
        calls_per_second: float | None = None,
        seed: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.from_number = from_number
        self.limiter = CallRateLimiter(calls_per_second) if calls_per_second else None
        self.calls: list[MockCall] = []
        self.messages: list[MockSms] = []
        self._random = random.Random(seed)
        self._clock = clock
        self._listeners: list[Listener] = []
        self._failures: list[_QueuedFailure] = []
        self._lookup_failures = 0
        self._text_failures: list[_QueuedFailure] = []
        self.recordings: dict[str, tuple[str, bytes]] = {}  # recording URL -> (type, audio)
        # The phone simulator makes the audio of the calls it played (services/devtools).
        self.recording_source: RecordingSource | None = None

    # -- events -----------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(event)` (sync or async) for every event; returns an unsubscribe."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    async def _emit(self, event: MockEvent) -> None:
        for listener in list(self._listeners):
            result = listener(event)
            if inspect.isawaitable(result):
                await result

    # -- test controls ----------------------------------------------------------------

    def fail_next_call(
        self, error: TelephonyError | AmbiguousDialError, *, still_placed: bool = False
    ) -> None:
        """Make the next `place_call` raise `error`; with `still_placed` (for an
        ambiguous error) the call is recorded anyway, as when Twilio created it but the
        response was lost."""
        self._failures.append(_QueuedFailure(error, still_placed))

    def fail_next_text(
        self, error: TelephonyError | Exception, *, still_sent: bool = False
    ) -> None:
        """Make the next ``send_sms`` raise ``error``; with ``still_sent`` the text is
        recorded (and shown) anyway, as when the provider sent it but the answer was lost."""
        self._text_failures.append(_QueuedFailure(error, still_sent))  # type: ignore[arg-type]

    def fail_next_lookups(self, n: int = 1) -> None:
        """Make the next ``n`` reconciliation lookups (``calls_to_since``) fail, as when the
        provider's API is down too."""
        self._lookup_failures += n

    def call(self, sid: str) -> MockCall:
        for record in self.calls:
            if record.sid == sid:
                return record
        raise TelephonyError(
            f"The requested resource {sid} was not found", code=NOT_FOUND_CODE, status=404
        )

    def set_call_status(self, sid: str, status: CallProgress) -> MockCall:
        """Move a call on (e.g. ringing, answered, hung_up), as a simulator would: the port's
        words only, so a test cannot feed the port a provider's (ValueError)."""
        if status not in CALL_PROGRESS:
            raise ValueError(f"{status!r} is not a call progress of the port: {CALL_PROGRESS}")
        record = self.call(sid)
        record.status = status
        if record.start_time is None:
            record.start_time = self._clock()  # moved on: it left the queue
        return record

    # -- Telephony --------------------------------------------------------------------

    async def place_call(
        self,
        *,
        to: str,
        answer_url: str,
        status_callback_url: str,
        recording_callback_url: str,
        ring_timeout_s: int = 30,
        time_limit_s: int = 900,
        fence: Fence | None = None,
        user: str | None = None,
    ) -> PlacedCall:
        if not 1 <= ring_timeout_s <= 600:
            raise ValueError("ring_timeout_s must be within 1..600 (Twilio's range)")
        if time_limit_s < 1:
            raise ValueError("time_limit_s must be positive")
        if self.limiter is not None:
            await self.limiter.acquire()
        if fence is not None and not await fence():
            raise DialFenced("place_call: called off before sending (the attempt moved on)")
        failure = self._failures.pop(0) if self._failures else None
        if failure is not None and not failure.still_placed:
            raise failure.error
        _check_number(to)
        record = MockCall(
            sid=self._sid("CA"),
            to=to,
            from_=self.from_number,
            answer_url=answer_url,
            status_callback_url=status_callback_url,
            recording_callback_url=recording_callback_url,
            ring_timeout_s=ring_timeout_s,
            time_limit_s=time_limit_s,
            date_created=self._clock(),
            user=user,
        )
        self.calls.append(record)
        await self._emit(CallPlaced(record))
        if failure is not None:
            raise failure.error
        return PlacedCall(sid=record.sid, status=record.status)

    async def end_call(self, sid: str) -> None:
        record = self.call(sid)
        if record.status in ENDED_PROGRESS:
            return
        # an answered call is hung up; one not answered yet is cancelled, which has failed
        record.status = "hung_up" if record.status == "answered" else "failed"
        await self._emit(CallEnded(record))

    async def send_sms(self, *, to: str, body: str, user: str | None = None) -> str:
        failure = self._text_failures.pop(0) if self._text_failures else None
        if failure is not None and not failure.still_placed:
            raise failure.error
        _check_number(to)
        sms = MockSms(
            sid=self._sid("SM"),
            to=to,
            from_=self.from_number,
            body=body,
            date_created=self._clock(),
            user=user,
        )
        self.messages.append(sms)
        await self._emit(SmsSent(sms))
        if failure is not None:
            raise failure.error
        return sms.sid

    async def calls_to_since(self, to: str, since: datetime) -> list[CallSummary]:
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        if self._lookup_failures:
            self._lookup_failures -= 1
            raise TelephonyError("calls_to_since: the provider's API is down (injected)")
        return [_summary(c) for c in self.calls if c.to == to and c.date_created >= since]

    async def texts_to_since(self, to: str, since: datetime) -> list[SentText]:
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        if self._lookup_failures:
            self._lookup_failures -= 1
            raise TelephonyError("texts_to_since: the provider's API is down (injected)")
        return [
            SentText(sid=m.sid, to=m.to, body=m.body, date_created=m.date_created)
            for m in self.messages
            if m.to == to and m.date_created >= since
        ]

    async def call_status(self, sid: str) -> CallSummary:
        return _summary(self.call(sid))

    async def fetch_recording(self, recording_url: str) -> RecordingAudio:
        found = self.recordings.get(recording_url)
        if found is None and self.recording_source is not None:
            found = await self.recording_source(recording_url)
        if found is None:
            raise TelephonyError(
                "The requested recording was not found.", code=NOT_FOUND_CODE, status=404
            )
        content_type, audio = found
        return RecordingAudio(content_type, _in_chunks(audio), len(audio))

    def _sid(self, prefix: str) -> str:
        return prefix + f"{self._random.getrandbits(128):032x}"


def _summary(call: MockCall) -> CallSummary:
    return CallSummary(
        sid=call.sid,
        to=call.to,
        status=call.status,
        start_time=call.start_time,
        date_created=call.date_created,
    )


async def _in_chunks(audio: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(audio), size):
        yield audio[start : start + size]


def _check_number(to: str) -> None:
    if not is_e164(to):
        raise TelephonyError(
            f"The 'To' number {to} is not a valid phone number.",
            code=INVALID_NUMBER_CODE,
            status=400,
        )
