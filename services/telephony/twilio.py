"""`Telephony` over Twilio's REST API, using the official (synchronous) `twilio` library.

Blocking library calls run in `asyncio.to_thread`. Retries are limited to failures where
Twilio certainly did nothing (20429, connection never established); anything that may
have created a call becomes `AmbiguousDialError`, because call creation has no
idempotency key and a blind retry could ring someone twice. Twilio's call statuses and
answering-machine verdicts stop here: what the port reports is neutral (the table of
services/telephony/progress.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3.exceptions
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from services.telephony.port import (
    AmbiguousDialError,
    CallRateLimiter,
    CallSummary,
    DialFenced,
    Fence,
    PlacedCall,
    RecordingAudio,
    SentText,
    TelephonyError,
)
from services.telephony.progress import answerer, progress
from services.telephony.twilio_recordings import TwilioRecordings

__all__ = ["DEFAULT_API_BASE_URL", "RebasedHttpClient", "TwilioTelephony"]

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.twilio.com"
STATUS_CALLBACK_EVENTS = ["initiated", "ringing", "answered", "completed"]
RATE_LIMITED_CODE = 20429
CALL_NOT_IN_PROGRESS_CODE = 21220  # updating a call that already ended

T = TypeVar("T")


class RebasedHttpClient(TwilioHttpClient):
    """Sends every request aimed at *.twilio.com to `base_url` instead.

    This lets tests run the real library against a local stand-in. With the default base
    URL nothing is rewritten, so TWILIO_EDGE / TWILIO_REGION keep working in production.
    """

    def __init__(self, base_url: str = DEFAULT_API_BASE_URL, timeout: float | None = None):
        super().__init__(timeout=timeout)
        base = urlsplit(base_url.rstrip("/"))
        if not base.scheme or not base.netloc:
            raise ValueError(f"api_base_url must be absolute, got {base_url!r}")
        self._base = None if base_url.rstrip("/") == DEFAULT_API_BASE_URL else base
        if self.session is not None and base.hostname in {"127.0.0.1", "localhost", "::1"}:
            self.session.trust_env = False  # a local stand-in is never reached via HTTP(S)_PROXY

    def rebase(self, url: str) -> str:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if self._base is None or not (host == "twilio.com" or host.endswith(".twilio.com")):
            return url
        path = self._base.path + parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, ""))

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        return super().request(
            method,
            self.rebase(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the connection failed before any byte of the request went out."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or not exc.args:
        return False
    inner = exc.args[0]
    reason = getattr(inner, "reason", inner)  # requests wraps urllib3's MaxRetryError
    return isinstance(
        reason,
        urllib3.exceptions.NewConnectionError  # refused, unreachable, DNS failure
        | urllib3.exceptions.ConnectTimeoutError
        | urllib3.exceptions.SSLError,
    )


def _twilio_error(exc: TwilioRestException | TwilioServiceException) -> TelephonyError:
    message = getattr(exc, "msg", None) or getattr(exc, "title", None) or str(exc)
    code = exc.code if isinstance(exc.code, int) else None
    return TelephonyError(str(message), code=code, status=exc.status)


class TwilioTelephony:
    """The production `Telephony`: places calls and SMS through Twilio's REST API."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base_url: str = DEFAULT_API_BASE_URL,
        calls_per_second: float = 1.0,
        http_timeout_s: float = 10,
        *,
        max_attempts: int = 4,
        backoff_base_s: float = 0.5,
        machine_detection_timeout_s: int = 10,
        reconcile_skew_s: float = 120,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.from_number = from_number
        self.limiter = CallRateLimiter(calls_per_second)
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self._sleep = sleep  # how a backoff waits (tests record the delays instead)
        # Synchronous AMD delays the answer webhook until detection ends; bounding it keeps a
        # silent callee from hearing up to 30 s (Twilio's default) of nothing.
        self.machine_detection_timeout_s = machine_detection_timeout_s
        self.reconcile_skew = timedelta(seconds=reconcile_skew_s)
        http_client = RebasedHttpClient(api_base_url, timeout=http_timeout_s)
        self._client = Client(account_sid, auth_token, http_client=http_client)
        self._recordings = TwilioRecordings(
            account_sid,
            auth_token,
            http_client.rebase,
            http_timeout_s,
            trust_env=http_client.session is None or http_client.session.trust_env,
        )

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
        user: str | None = None,  # not Twilio's business: never sent
    ) -> PlacedCall:
        if not 1 <= ring_timeout_s <= 600:
            raise ValueError("ring_timeout_s must be within 1..600 (Twilio's range)")
        if time_limit_s < 1:
            raise ValueError("time_limit_s must be positive")

        def create() -> PlacedCall:
            call = self._client.calls.create(
                to=to,
                from_=self.from_number,
                url=answer_url,
                method="POST",
                status_callback=status_callback_url,
                status_callback_method="POST",
                status_callback_event=STATUS_CALLBACK_EVENTS,
                timeout=ring_timeout_s,
                time_limit=time_limit_s,
                record=True,
                recording_status_callback=recording_callback_url,
                recording_status_callback_method="POST",
                recording_status_callback_event=["completed"],
                machine_detection="Enable",
                machine_detection_timeout=self.machine_detection_timeout_s,
                async_amd="false",  # AnsweredBy then arrives on the answer webhook itself
            )
            return PlacedCall(sid=str(call.sid), status=progress(str(call.status)))

        return await self._run("place_call", create, to=to, rate_limited=True, fence=fence)

    async def end_call(self, sid: str) -> None:
        def update() -> None:
            try:
                self._client.calls(sid).update(status="completed")
            except TwilioRestException as exc:
                if exc.code != CALL_NOT_IN_PROGRESS_CODE:
                    raise
                log.info("end_call: %s had already ended", sid)

        await self._run("end_call", update, idempotent=True)

    async def send_sms(self, *, to: str, body: str, user: str | None = None) -> str:
        # `user` (the account it is for) is not Twilio's business: never sent
        def create() -> str:
            message = self._client.messages.create(to=to, from_=self.from_number, body=body)
            return str(message.sid)

        return await self._run("send_sms", create, to=to)

    async def calls_to_since(self, to: str, since: datetime) -> list[CallSummary]:
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        cutoff = since.astimezone(UTC) - self.reconcile_skew
        # Twilio filters StartTime by UTC day and a queued call has no start time yet, so
        # ask for both and filter precisely here.
        day = cutoff.strftime("%Y-%m-%d")

        def fetch() -> list[CallSummary]:
            found = {}
            started = self._client.calls.list(to=to, start_time_after=day, limit=200)
            queued = self._client.calls.list(to=to, status="queued", limit=200)
            for call in [*started, *queued]:
                found[call.sid] = CallSummary(
                    sid=str(call.sid),
                    to=str(call.to),
                    status=progress(str(call.status)),
                    start_time=_as_datetime(call.start_time),
                    date_created=_as_datetime(call.date_created),
                )
            return sorted(
                (c for c in found.values() if _is_after(c, cutoff)),
                key=lambda c: c.date_created or c.start_time or cutoff,
            )

        return await self._run("calls_to_since", fetch, idempotent=True)

    async def texts_to_since(self, to: str, since: datetime) -> list[SentText]:
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        cutoff = since.astimezone(UTC) - self.reconcile_skew
        # A queued message has no DateSent yet: read the newest to the number and filter
        # on their creation time here.

        def fetch() -> list[SentText]:
            found = []
            for message in self._client.messages.list(to=to, limit=50):
                created = _as_datetime(message.date_created)
                if created is None or created >= cutoff:
                    found.append(
                        SentText(
                            sid=str(message.sid),
                            to=str(message.to),
                            body=str(message.body or ""),
                            date_created=created,
                        )
                    )
            return found

        return await self._run("texts_to_since", fetch, idempotent=True)

    async def call_status(self, sid: str) -> CallSummary:
        def fetch() -> CallSummary:
            call = self._client.calls(sid).fetch()
            duration = str(call.duration or "")
            return CallSummary(
                sid=str(call.sid),
                to=str(call.to),
                status=progress(str(call.status)),
                start_time=_as_datetime(call.start_time),
                date_created=_as_datetime(call.date_created),
                duration_s=int(duration) if duration.isdigit() else None,
                answered_by=answerer(str(call.answered_by) if call.answered_by else None),
            )

        return await self._run("call_status", fetch, idempotent=True)

    async def fetch_recording(self, recording_url: str) -> RecordingAudio:
        return await self._recordings.fetch(recording_url)

    async def _run(
        self,
        op: str,
        fn: Callable[[], T],
        *,
        to: str = "",
        rate_limited: bool = False,
        idempotent: bool = False,
        fence: Fence | None = None,
    ) -> T:
        """Run `fn` in a thread, retrying only what is safe; map failures to our errors.

        ``fence`` is asked right before each send, after the pacing wait: a stalled
        caller whose attempt was taken over meanwhile stops here, having sent nothing.
        """
        attempted_at = datetime.now(UTC)
        last: TelephonyError | None = None
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                delay = self.backoff_base_s * 2 ** (attempt - 2) * random.uniform(1.0, 1.2)
                log.warning(
                    "%s: attempt %d failed (%s); retrying in %.2fs", op, attempt - 1, last, delay
                )
                await self._sleep(delay)
            if rate_limited:
                await self.limiter.acquire()
            if fence is not None and not await fence():
                raise DialFenced(f"{op}: called off before sending (the attempt moved on)")
            try:
                return await _page_errors_as_rest(fn)
            except (TwilioRestException, TwilioServiceException) as exc:
                error = _twilio_error(exc)
                if exc.status == 429 or exc.code == RATE_LIMITED_CODE:
                    last = error
                    continue
                if exc.status >= 500:
                    if idempotent:
                        last = error
                        continue
                    raise AmbiguousDialError(
                        f"{op}: Twilio answered HTTP {exc.status} after receiving the request",
                        to=to,
                        attempted_at=attempted_at,
                    ) from exc
                raise error from exc
            except requests.RequestException as exc:
                if _never_sent(exc) or idempotent:
                    last = TelephonyError(f"{op}: {type(exc).__name__}: {exc}")
                    continue
                raise AmbiguousDialError(
                    f"{op}: {type(exc).__name__} after the request was sent",
                    to=to,
                    attempted_at=attempted_at,
                ) from exc
            except (TwilioException, json.JSONDecodeError) as exc:
                if idempotent:
                    raise TelephonyError(f"{op}: unreadable response: {exc}") from exc
                raise AmbiguousDialError(
                    f"{op}: unreadable response: {exc}", to=to, attempted_at=attempted_at
                ) from exc
        assert last is not None
        raise TelephonyError(
            f"{op}: gave up after {self.max_attempts} attempts: {last.message}",
            code=last.code,
            status=last.status,
        )


async def _page_errors_as_rest(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a thread. A list page Twilio refused raises a bare TwilioException
    holding the response ("Unable to fetch page"): raised here as the REST error it is, so
    a 429 or 5xx on a lookup is retried like any other."""
    try:
        return await asyncio.to_thread(fn)
    except TwilioException as exc:
        response = exc.args[1] if type(exc) is TwilioException and len(exc.args) > 1 else None
        status = getattr(response, "status_code", None)
        if not isinstance(status, int):
            raise
        try:
            body = json.loads(response.text)
        except (TypeError, ValueError):
            body = None
        body = body if isinstance(body, dict) else {}
        code = body.get("code") if isinstance(body.get("code"), int) else None
        message = str(body.get("message") or exc.args[0])
        raise TwilioRestException(status, "", message, code) from exc


def _as_datetime(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _is_after(call: CallSummary, cutoff: datetime) -> bool:
    times = [t for t in (call.date_created, call.start_time) if t is not None]
    return any(t >= cutoff for t in times)
