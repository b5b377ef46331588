"""The telephony port: what the service needs from a phone provider.

Two implementations satisfy `Telephony`: `services.telephony.twilio.TwilioTelephony`
(real REST calls) and `services.telephony.mock.MockTelephony` (in-process, for tests
and the local phone simulator). Code that dials people depends only on this module.

The port speaks no provider's words: a call's status and who answered it are the
neutral vocabulary of docs/webhooks.md ("The neutral events"), the words PhoneCall
takes, and each adapter translates its provider's own (Twilio's in
services/telephony/progress.py), so nothing past the adapter depends on one provider.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

import attrs

__all__ = [
    "ENDED_PROGRESS",
    "LIVE_PROGRESS",
    "AmbiguousDialError",
    "Answerer",
    "CallProgress",
    "CallRateLimiter",
    "CallSummary",
    "DialFenced",
    "Fence",
    "PlacedCall",
    "RecordingAudio",
    "SentText",
    "Telephony",
    "TelephonyError",
]


#: How a call is doing: ``ringing`` (queued, dialling or ringing), ``answered``, or over
#: with an outcome: ``hung_up`` (it had been answered), ``busy``, ``no_answer``, ``failed``
#: (cancelled before it was answered included).
CallProgress = Literal["ringing", "answered", "hung_up", "busy", "no_answer", "failed"]
#: The call can still reach the person.
LIVE_PROGRESS: frozenset[str] = frozenset({"ringing", "answered"})
#: The call is over: nothing more happens on it.
ENDED_PROGRESS: frozenset[str] = frozenset({"hung_up", "busy", "no_answer", "failed"})
#: Who picked up, when the provider can tell (None: it cannot, or no detection ran).
Answerer = Literal["person", "machine"]


@attrs.frozen
class PlacedCall:
    """A call the provider accepted (it may still be queued behind the CPS limit)."""

    sid: str
    status: CallProgress | None  # None: a status the adapter does not know


@attrs.frozen
class CallSummary:
    """One call found while reconciling; times are UTC, None until the provider sets them."""

    sid: str
    to: str
    status: CallProgress | None  # None: a status the adapter does not know (neither live nor over)
    start_time: datetime | None = None
    date_created: datetime | None = None
    duration_s: int | None = None  # set once the call has ended
    answered_by: Answerer | None = None  # with answering-machine detection


@attrs.frozen
class SentText:
    """One text message found while reconciling (was it sent before a crash?); UTC."""

    sid: str
    to: str
    body: str
    date_created: datetime | None = None


class TelephonyError(Exception):
    """A definite failure: the provider did not act (no call placed, no SMS sent).

    Safe to retry later. `code` is the provider's error code (e.g. Twilio 21211 for an
    invalid number) or None when the request never reached the provider.
    """

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None):
        super().__init__(message if code is None else f"[{code}] {message}")
        self.message = message
        self.code = code
        self.status = status


class DialFenced(TelephonyError):
    """The dial was called off at the last moment (its fence said no): nothing was sent.

    The fence is the caller's check, run right before the request leaves (after any
    pacing wait): a dial whose attempt was taken over by another worker, or cancelled,
    must not go out, however long this one stalled.
    """


# Asked right before a call request is sent; False stops it (``DialFenced``).
Fence = Callable[[], Awaitable[bool]]


class AmbiguousDialError(Exception):
    """The request reached the provider but its outcome is unknown: the call (or SMS) may exist.

    Deliberately NOT a `TelephonyError`, so `except TelephonyError` cannot swallow it and
    redial. Reconcile with `Telephony.calls_to_since(to, attempted_at)` before dialling again.
    """

    def __init__(self, message: str, *, to: str, attempted_at: datetime):
        super().__init__(message)
        self.message = message
        self.to = to
        self.attempted_at = attempted_at


@runtime_checkable
class Telephony(Protocol):
    """Outbound calls and SMS. Implementations are interchangeable for the code using them."""

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
        """Start an outbound call. Raises TelephonyError or AmbiguousDialError.

        ``fence`` is awaited right before each request is sent; if it returns False the
        call is not placed and ``DialFenced`` is raised. Cancelling this coroutine
        mid-request leaves the outcome unknown too: treat it like AmbiguousDialError and
        reconcile before dialling again. ``user`` is the account the call is for: a real
        provider never sees it; the mock records it so the phone simulator shows each
        call to its account only, never to whoever has the number.
        """
        ...

    async def end_call(self, sid: str) -> None:
        """Hang up (or cancel) a call; a call that already ended is left alone."""
        ...

    async def send_sms(self, *, to: str, body: str, user: str | None = None) -> str:
        """Send an SMS and return its message sid. ``user``: as for ``place_call``."""
        ...

    async def calls_to_since(self, to: str, since: datetime) -> list[CallSummary]:
        """Calls to `to` created at or after `since` (aware datetime); used to reconcile."""
        ...

    async def texts_to_since(self, to: str, since: datetime) -> list[SentText]:
        """Text messages sent to `to` created at or after `since` (aware datetime): did a
        send whose answer was lost go out? Used to reconcile, as ``calls_to_since`` is."""
        ...

    async def call_status(self, sid: str) -> CallSummary:
        """The provider's view of one call now (its status, and duration once ended).

        Raises TelephonyError (code 20404 for an unknown sid) if it cannot be read."""
        ...

    async def fetch_recording(self, recording_url: str) -> RecordingAudio:
        """The audio of a call's recording, by the URL its recording callback reported.

        Fetched with the provider's own credentials, so the URL (and the credentials) never
        need to reach a browser; the audio is streamed, not read whole. Raises
        TelephonyError: code 20404 (status 404) when the provider has no such recording.
        """
        ...


class CallRateLimiter:
    """Spaces call attempts at most `per_second` apart, shared by everything using one instance.

    Twilio queues calls beyond the account's CPS (and fails them after 24 h), so pacing
    ourselves keeps queue times and 20429 responses down. Each `acquire` reserves the next
    free slot before sleeping, so concurrent callers get distinct, evenly spaced slots. It
    holds no asyncio objects, so one
    instance works across event loops and threads. ``monotonic`` and ``sleep`` are the
    clock and the wait (tests hand in their own, to check the slots without timing them).
    """

    def __init__(
        self,
        per_second: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.interval = 1.0 / per_second
        self._monotonic = monotonic
        self._sleep = sleep
        self._next_slot = 0.0
        self._lock = threading.Lock()  # reservation only; never held while sleeping

    async def acquire(self) -> None:
        with self._lock:
            now = self._monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
        if slot > now:
            await self._sleep(slot - now)


@attrs.frozen
class RecordingAudio:
    """A recording being fetched: its media type, its size if known, and its bytes in chunks.

    ``chunks`` is read once; reading it to the end (or closing it) releases the provider's
    connection."""

    content_type: str
    chunks: AsyncIterator[bytes]
    length: int | None = None
