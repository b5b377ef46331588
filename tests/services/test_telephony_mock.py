"""MockTelephony: same contract as the Twilio adapter, no network."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest

from services.telephony import (
    AmbiguousDialError,
    CallRateLimiter,
    PlacedCall,
    Telephony,
    TelephonyError,
)
from services.telephony.mock import CallEnded, CallPlaced, MockEvent, MockTelephony, SmsSent

TO = "+15557654321"
URLS = {
    "answer_url": "https://example.test/voice/answer",
    "status_callback_url": "https://example.test/voice/status",
    "recording_callback_url": "https://example.test/voice/recording",
}


def place(mock: MockTelephony, to: str = TO) -> PlacedCall:
    return asyncio.run(mock.place_call(to=to, **URLS))


def test_mock_satisfies_the_protocol() -> None:
    assert isinstance(MockTelephony(), Telephony)


def test_place_call_records_the_request_with_a_realistic_sid() -> None:
    mock = MockTelephony(from_number="+15550001111")
    placed = asyncio.run(mock.place_call(to=TO, **URLS, ring_timeout_s=20, time_limit_s=300))

    assert re.fullmatch(r"CA[0-9a-f]{32}", placed.sid)
    assert placed.status == "ringing"  # queued, in the port's words
    [call] = mock.calls
    assert (call.sid, call.to, call.from_) == (placed.sid, TO, "+15550001111")
    assert (call.answer_url, call.status_callback_url, call.recording_callback_url) == (
        URLS["answer_url"],
        URLS["status_callback_url"],
        URLS["recording_callback_url"],
    )
    assert (call.ring_timeout_s, call.time_limit_s) == (20, 300)


def test_send_sms_records_with_a_realistic_sid() -> None:
    mock = MockTelephony()
    sid = asyncio.run(mock.send_sms(to=TO, body="Ready when you are & <3"))
    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    assert [(m.sid, m.to, m.body) for m in mock.messages] == [(sid, TO, "Ready when you are & <3")]


def test_the_account_a_call_or_sms_is_for_is_recorded() -> None:
    """The phone simulator shows each to that account only (services/devtools/simulator_ownership.py)."""
    mock = MockTelephony()
    asyncio.run(mock.place_call(to=TO, **URLS, user="u1"))
    asyncio.run(mock.send_sms(to=TO, body="hi", user="u2"))
    place(mock)
    assert [c.user for c in mock.calls] == ["u1", None]
    assert [m.user for m in mock.messages] == ["u2"]


def test_seeded_sids_are_reproducible() -> None:
    first, second, other = MockTelephony(seed=7), MockTelephony(seed=7), MockTelephony(seed=8)
    assert place(first).sid == place(second).sid != place(other).sid


@pytest.mark.parametrize("to", ["555-1234", "+1415555\uff10\uff11\uff12\uff13", "+14155550123\n"])
def test_invalid_number_is_refused_like_twilio(to: str) -> None:
    mock = MockTelephony()
    with pytest.raises(TelephonyError) as caught:
        place(mock, to=to)
    assert caught.value.code == 21211
    with pytest.raises(TelephonyError):
        asyncio.run(mock.send_sms(to="nope", body="x"))
    assert mock.calls == [] and mock.messages == []


def test_end_call() -> None:
    mock = MockTelephony()
    placed = place(mock)
    mock.set_call_status(placed.sid, "answered")
    asyncio.run(mock.end_call(placed.sid))
    asyncio.run(mock.end_call(placed.sid))  # already over: no-op
    assert mock.call(placed.sid).status == "hung_up"

    queued = place(mock)
    asyncio.run(mock.end_call(queued.sid))
    assert mock.call(queued.sid).status == "failed"  # cancelled before it was answered


def test_the_mock_speaks_the_ports_words_only() -> None:
    """What the port reports is neutral, and the mock takes no provider's status to report."""
    mock = MockTelephony()
    placed = place(mock)
    for twilio_word in ("queued", "in-progress", "completed", "no-answer", "canceled"):
        with pytest.raises(ValueError):
            mock.set_call_status(placed.sid, twilio_word)  # type: ignore[arg-type]
    assert mock.call(placed.sid).status == "ringing" and mock.call(placed.sid).start_time is None
    mock.set_call_status(placed.sid, "no_answer")
    summary = asyncio.run(mock.call_status(placed.sid))
    assert (summary.sid, summary.status, summary.answered_by) == (placed.sid, "no_answer", None)
    assert summary.start_time is not None, "it left the queue"


def test_end_call_on_unknown_sid_raises() -> None:
    with pytest.raises(TelephonyError) as caught:
        asyncio.run(MockTelephony().end_call("CA" + "0" * 32))
    assert caught.value.code == 20404


def test_subscribers_receive_events_in_order() -> None:
    mock = MockTelephony()
    seen: list[MockEvent] = []
    async_seen: list[str] = []

    async def async_listener(event: MockEvent) -> None:
        await asyncio.sleep(0)
        async_seen.append(type(event).__name__)

    mock.subscribe(seen.append)
    unsubscribe = mock.subscribe(async_listener)

    async def scenario() -> None:
        placed = await mock.place_call(to=TO, **URLS)
        await mock.send_sms(to=TO, body="hello")
        await mock.end_call(placed.sid)
        unsubscribe()
        await mock.send_sms(to=TO, body="after unsubscribe")

    asyncio.run(scenario())
    assert [type(e) for e in seen] == [CallPlaced, SmsSent, CallEnded, SmsSent]
    assert async_seen == ["CallPlaced", "SmsSent", "CallEnded"]
    first = seen[0]
    assert isinstance(first, CallPlaced)
    assert first.call is mock.calls[0]
    assert first.call.answer_url == URLS["answer_url"]


def test_calls_to_since_answers_from_records() -> None:
    now = [datetime(2026, 1, 5, 18, 0, tzinfo=UTC)]
    mock = MockTelephony(clock=lambda: now[0])
    old = place(mock)
    now[0] += timedelta(minutes=10)
    since = now[0]
    recent = place(mock)
    place(mock, to="+15550009999")

    found = asyncio.run(mock.calls_to_since(TO, since))

    assert [c.sid for c in found] == [recent.sid]
    assert found[0].date_created == since
    assert old.sid not in {c.sid for c in found}
    with pytest.raises(ValueError):
        asyncio.run(mock.calls_to_since(TO, datetime(2026, 1, 5)))


def test_queued_failures() -> None:
    mock = MockTelephony()
    mock.fail_next_call(TelephonyError("busy", code=20429))
    with pytest.raises(TelephonyError):
        place(mock)
    assert mock.calls == []

    attempted_at = datetime.now(UTC)
    mock.fail_next_call(
        AmbiguousDialError("timed out", to=TO, attempted_at=attempted_at), still_placed=True
    )
    with pytest.raises(AmbiguousDialError):
        place(mock)
    [call] = mock.calls
    assert [c.sid for c in asyncio.run(mock.calls_to_since(TO, attempted_at))] == [call.sid]
    assert place(mock).sid != call.sid  # failures are one-shot


def test_cps_limit_applies_when_configured() -> None:
    mock = MockTelephony(calls_per_second=4)
    assert mock.limiter is not None and mock.limiter.interval == 0.25
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    # the same pacing, with a clock that stands still and waits that are only recorded
    mock.limiter = CallRateLimiter(4, monotonic=lambda: 100.0, sleep=record)

    async def three() -> None:
        await asyncio.gather(*(mock.place_call(to=TO, **URLS) for _ in range(3)))

    asyncio.run(three())
    assert waits == [0.25, 0.5]  # slots at 0, 0.25, 0.5 s
    assert len(mock.calls) == 3
