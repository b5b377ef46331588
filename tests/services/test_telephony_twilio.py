"""The real Twilio adapter (real `twilio` library) against the local REST stand-in, plus TwiML."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
import urllib3.exceptions

from services.devtools.standin.rest import (
    CALLS_CREATE,
    CALLS_LIST,
    CALLS_UPDATE,
    MESSAGES_CREATE,
    invalid_number,
    rate_limited,
    rfc2822,
    server_error,
    slow,
)
from services.devtools.standin.twilio import TwilioRestStandIn
from services.telephony import AmbiguousDialError, CallRateLimiter, Telephony, TelephonyError
from services.telephony.twilio import RebasedHttpClient, TwilioTelephony, _never_sent
from services.webhooks import twiml

FROM = "+15550001111"
TO = "+15557654321"
CALL_SID = re.compile(r"^CA[0-9a-f]{32}$")
URLS = {
    "answer_url": "https://example.test/twilio/voice/answer?call=c1",
    "status_callback_url": "https://example.test/twilio/voice/status",
    "recording_callback_url": "https://example.test/twilio/voice/recording",
}


@pytest.fixture(scope="module")
def _server() -> Iterator[TwilioRestStandIn]:
    with TwilioRestStandIn() as server:
        yield server


@pytest.fixture
def standin(_server: TwilioRestStandIn) -> TwilioRestStandIn:
    _server.state.reset()
    return _server


def adapter(standin: TwilioRestStandIn, **overrides: object) -> TwilioTelephony:
    options: dict[str, object] = {
        "api_base_url": standin.base_url,
        "calls_per_second": 100.0,
        "http_timeout_s": 2,
        "backoff_base_s": 0.01,
    }
    options.update(overrides)
    return TwilioTelephony(standin.account_sid, standin.auth_token, FROM, **options)  # type: ignore[arg-type]


def place(telephony: TwilioTelephony, to: str = TO, **kw: object):
    return asyncio.run(telephony.place_call(to=to, **URLS, **kw))  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- calls.create -------------------------------------------------------------------------


def test_adapter_satisfies_the_protocol(standin: TwilioRestStandIn) -> None:
    assert isinstance(adapter(standin), Telephony)


def test_place_call_sends_exact_parameters_and_basic_auth(standin: TwilioRestStandIn) -> None:
    # the account it is for (the simulator's) is never sent
    placed = place(adapter(standin), ring_timeout_s=25, time_limit_s=600, user="u1")

    assert CALL_SID.match(placed.sid)
    assert placed.status == "ringing"  # Twilio's queued, in the port's words
    [request] = standin.requests_to(CALLS_CREATE)
    assert request.path == f"/2010-04-01/Accounts/{standin.account_sid}/Calls.json"
    assert request.form_dict() == {
        "To": [TO],
        "From": [FROM],
        "Url": [URLS["answer_url"]],
        "Method": ["POST"],
        "StatusCallback": [URLS["status_callback_url"]],
        "StatusCallbackMethod": ["POST"],
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "Timeout": ["25"],
        "TimeLimit": ["600"],
        "Record": ["true"],
        "RecordingStatusCallback": [URLS["recording_callback_url"]],
        "RecordingStatusCallbackMethod": ["POST"],
        "RecordingStatusCallbackEvent": ["completed"],
        "MachineDetection": ["Enable"],
        "MachineDetectionTimeout": ["10"],
        "AsyncAmd": ["false"],
    }
    assert request.basic_auth() == (standin.account_sid, standin.auth_token)
    assert standin.state.get_call(placed.sid)["to"] == TO


def test_place_call_defaults_ring_30s_and_limit_900s(standin: TwilioRestStandIn) -> None:
    place(adapter(standin))
    [request] = standin.requests_to(CALLS_CREATE)
    assert request.form_values("Timeout") == ["30"]
    assert request.form_values("TimeLimit") == ["900"]


def test_place_call_rejects_out_of_range_ring_timeout(standin: TwilioRestStandIn) -> None:
    with pytest.raises(ValueError):
        place(adapter(standin), ring_timeout_s=601)
    assert standin.requests_to(CALLS_CREATE) == []


def paced(telephony: TwilioTelephony) -> list[float]:
    """Give the adapter its own pacing on a clock that stands still; returns the waits it
    asks for (checked as slots, not timed: a busy machine cannot make them flaky)."""
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    interval = telephony.limiter.interval
    telephony.limiter = CallRateLimiter(1 / interval, monotonic=lambda: 100.0, sleep=record)
    return waits


def test_calls_are_spaced_by_the_cps_limit(standin: TwilioRestStandIn) -> None:
    telephony = adapter(standin, calls_per_second=2.0)
    assert telephony.limiter.interval == 0.5
    waits = paced(telephony)

    async def three() -> None:
        await asyncio.gather(*(telephony.place_call(to=TO, **URLS) for _ in range(3)))

    asyncio.run(three())
    assert waits == [0.5, 1.0]  # slots at 0, 0.5 and 1 s: each call waits for its own
    assert len(standin.requests_to(CALLS_CREATE)) == 3


def test_default_rate_is_one_call_per_second(standin: TwilioRestStandIn) -> None:
    telephony = TwilioTelephony(
        standin.account_sid, standin.auth_token, FROM, api_base_url=standin.base_url
    )
    assert telephony.limiter.interval == 1.0
    waits = paced(telephony)
    place(telephony)
    place(telephony)
    assert waits == [1.0]
    assert len(standin.requests_to(CALLS_CREATE)) == 2


def test_rate_limited_20429_is_retried_with_backoff(standin: TwilioRestStandIn) -> None:
    standin.fail_next(CALLS_CREATE, rate_limited(), times=2)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    placed = place(adapter(standin, backoff_base_s=0.05, sleep=record))

    assert len(waits) == 2  # base, then doubled, each with up to 20 % jitter
    assert 0.05 <= waits[0] <= 0.06 and 0.1 <= waits[1] <= 0.12, waits
    assert len(standin.requests_to(CALLS_CREATE)) == 3
    assert list(standin.state.calls) == [placed.sid]


def test_rate_limited_gives_up_after_max_attempts(standin: TwilioRestStandIn) -> None:
    standin.fail_next(CALLS_CREATE, rate_limited(), times=10)

    with pytest.raises(TelephonyError) as caught:
        place(adapter(standin, max_attempts=4))

    assert caught.value.code == 20429
    assert len(standin.requests_to(CALLS_CREATE)) == 4
    assert standin.state.calls == {}


def test_connection_refused_is_retried_then_definite_failure() -> None:
    telephony = TwilioTelephony(
        "AC" + "0" * 32,
        "token",
        FROM,
        api_base_url=f"http://127.0.0.1:{free_port()}",
        calls_per_second=100,
        backoff_base_s=0.01,
        max_attempts=3,
    )
    http = telephony._client.http_client
    attempts: list[str] = []
    original = http.request

    def counting(method: str, url: str, **kw: object):
        attempts.append(url)
        return original(method, url, **kw)

    http.request = counting  # type: ignore[method-assign]

    with pytest.raises(TelephonyError) as caught:
        asyncio.run(telephony.place_call(to=TO, **URLS))

    assert caught.value.code is None
    assert len(attempts) == 3


def test_timeout_is_ambiguous_not_redialled_and_reconcilable(standin: TwilioRestStandIn) -> None:
    standin.fail_next(CALLS_CREATE, slow(1.5))
    telephony = adapter(standin, http_timeout_s=0.3)

    with pytest.raises(AmbiguousDialError) as caught:
        place(telephony)

    assert len(standin.requests_to(CALLS_CREATE)) == 1  # never silently redialled
    assert caught.value.to == TO
    [created] = standin.state.calls
    found = asyncio.run(telephony.calls_to_since(TO, caught.value.attempted_at))
    assert [c.sid for c in found] == [created]
    assert found[0].status == "ringing"


def test_server_error_after_the_request_is_ambiguous(standin: TwilioRestStandIn) -> None:
    standin.fail_next(CALLS_CREATE, server_error())
    telephony = adapter(standin)

    with pytest.raises(AmbiguousDialError) as caught:
        place(telephony)

    assert len(standin.requests_to(CALLS_CREATE)) == 1
    found = asyncio.run(telephony.calls_to_since(TO, caught.value.attempted_at))
    assert [c.sid for c in found] == list(standin.state.calls)


# Lookalikes a loose regex (\\d, $) lets through: full-width digits, a trailing newline.
LOOKALIKE_NUMBERS = ["not-a-number", "+1415555\uff10\uff11\uff12\uff13", "+14155550123\n"]


@pytest.mark.parametrize("to", LOOKALIKE_NUMBERS)
def test_invalid_number_is_a_definite_error_and_not_retried(
    standin: TwilioRestStandIn, to: str
) -> None:
    with pytest.raises(TelephonyError) as caught:
        place(adapter(standin), to=to)

    assert (caught.value.code, caught.value.status) == (21211, 400)
    assert len(standin.requests_to(CALLS_CREATE)) == 1
    assert standin.state.calls == {}


def test_programmed_21211_fault(standin: TwilioRestStandIn) -> None:
    standin.fail_next(CALLS_CREATE, invalid_number())
    with pytest.raises(TelephonyError) as caught:
        place(adapter(standin))
    assert caught.value.code == 21211
    assert len(standin.requests_to(CALLS_CREATE)) == 1


def test_wrong_credentials_are_a_definite_error(standin: TwilioRestStandIn) -> None:
    telephony = TwilioTelephony(
        standin.account_sid, "wrong", FROM, api_base_url=standin.base_url, backoff_base_s=0.01
    )
    with pytest.raises(TelephonyError) as caught:
        place(telephony)
    assert (caught.value.code, caught.value.status) == (20003, 401)
    assert len(standin.requests_to(CALLS_CREATE)) == 1


class _ResetAfterRequest:
    """A server that reads the request, then resets the connection (the outcome is unknown)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.recv(65536)
            self.received += 1
            conn.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            conn.close()


def test_connection_reset_mid_request_is_ambiguous() -> None:
    server = _ResetAfterRequest()
    telephony = TwilioTelephony(
        "AC" + "0" * 32,
        "token",
        FROM,
        api_base_url=f"http://127.0.0.1:{server.port}",
        calls_per_second=100,
        backoff_base_s=0.01,
    )
    try:
        with pytest.raises(AmbiguousDialError):
            asyncio.run(telephony.place_call(to=TO, **URLS))
        assert server.received == 1
    finally:
        server.sock.close()


def test_failure_classification() -> None:
    refused = urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]
    wrapped = urllib3.exceptions.MaxRetryError(None, "/", refused)  # type: ignore[arg-type]
    reset = urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError())
    assert _never_sent(requests.ConnectionError(wrapped))
    assert _never_sent(requests.ConnectTimeout())
    assert not _never_sent(requests.ConnectionError(reset))
    assert not _never_sent(requests.ReadTimeout())


# -- SMS, end_call, reconciliation --------------------------------------------------------


def test_send_sms_parameters(standin: TwilioRestStandIn) -> None:
    body = "Today's reflection: <3 & more"
    sid = asyncio.run(adapter(standin).send_sms(to=TO, body=body, user="u1"))  # `user`: not sent

    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    [request] = standin.requests_to(MESSAGES_CREATE)
    assert request.path == f"/2010-04-01/Accounts/{standin.account_sid}/Messages.json"
    assert request.form_dict() == {"To": [TO], "From": [FROM], "Body": [body]}
    assert request.basic_auth() == (standin.account_sid, standin.auth_token)


def test_send_sms_timeout_is_ambiguous(standin: TwilioRestStandIn) -> None:
    standin.fail_next(MESSAGES_CREATE, slow(1.0))
    with pytest.raises(AmbiguousDialError):
        asyncio.run(adapter(standin, http_timeout_s=0.3).send_sms(to=TO, body="hi"))
    assert len(standin.requests_to(MESSAGES_CREATE)) == 1


def test_end_call_parameters_and_idempotence(standin: TwilioRestStandIn) -> None:
    telephony = adapter(standin)
    placed = place(telephony)
    standin.state.set_call_status(placed.sid, "in-progress")

    asyncio.run(telephony.end_call(placed.sid))
    asyncio.run(telephony.end_call(placed.sid))  # already over (21220): nothing to do

    first, second = standin.requests_to(CALLS_UPDATE)
    assert first.path == f"/2010-04-01/Accounts/{standin.account_sid}/Calls/{placed.sid}.json"
    assert first.form_dict() == {"Status": ["completed"]}
    assert second.form_dict() == {"Status": ["completed"]}
    assert standin.state.get_call(placed.sid)["status"] == "completed"


def test_end_call_retries_a_timeout_because_it_is_idempotent(standin: TwilioRestStandIn) -> None:
    telephony = adapter(standin, http_timeout_s=0.3)
    placed = place(telephony)
    standin.fail_next(CALLS_UPDATE, slow(1.0))  # the first update lands, its reply is lost

    asyncio.run(telephony.end_call(placed.sid))

    assert len(standin.requests_to(CALLS_UPDATE)) == 2
    assert standin.state.get_call(placed.sid)["status"] == "canceled"


def test_end_call_unknown_sid(standin: TwilioRestStandIn) -> None:
    with pytest.raises(TelephonyError) as caught:
        asyncio.run(adapter(standin).end_call("CA" + "f" * 32))
    assert caught.value.code == 20404


def test_calls_to_since_filters_by_number_and_time(standin: TwilioRestStandIn) -> None:
    telephony = adapter(standin)
    old = place(telephony)
    standin.state.calls[old.sid]["date_created"] = rfc2822(datetime.now(UTC) - timedelta(hours=3))
    since = datetime.now(UTC)
    queued = place(telephony)
    answered = place(telephony)
    standin.state.set_call_status(answered.sid, "in-progress")
    place(telephony, to="+15550009999")

    found = asyncio.run(telephony.calls_to_since(TO, since))

    assert {c.sid for c in found} == {queued.sid, answered.sid}
    by_sid = {c.sid: c for c in found}
    assert (
        by_sid[queued.sid].start_time is None
    )  # still queued: Twilio's StartTime filter misses it
    assert by_sid[answered.sid].start_time is not None
    assert (by_sid[queued.sid].status, by_sid[answered.sid].status) == ("ringing", "answered")
    assert all(c.to == TO and c.date_created is not None for c in found)
    for request in standin.requests_to(CALLS_LIST):
        assert request.query_dict()["To"] == [TO]


def test_calls_to_since_requires_an_aware_datetime(standin: TwilioRestStandIn) -> None:
    with pytest.raises(ValueError):
        asyncio.run(adapter(standin).calls_to_since(TO, datetime.now()))


@pytest.mark.parametrize(
    ("twilio_status", "answered_by", "status", "answerer"),
    [
        ("queued", None, "ringing", None),
        ("initiated", None, "ringing", None),
        ("in-progress", "human", "answered", "person"),
        ("completed", "machine_end_beep", "hung_up", "machine"),
        ("completed", "unknown", "hung_up", None),
        ("busy", None, "busy", None),
        ("no-answer", None, "no_answer", None),
        ("canceled", None, "failed", None),
        ("failed", None, "failed", None),
        ("scheduled", None, None, None),  # a status we do not know: neither live nor over
    ],
)
def test_call_status_reports_in_the_ports_words(
    standin: TwilioRestStandIn,
    twilio_status: str,
    answered_by: str | None,
    status: str | None,
    answerer: str | None,
) -> None:
    """Twilio's status and AMD verdict stop at the adapter: the port's are neutral."""
    telephony = adapter(standin)
    placed = place(telephony)
    standin.state.set_call_status(placed.sid, twilio_status)
    standin.state.calls[placed.sid].update(answered_by=answered_by, duration="42")

    summary = asyncio.run(telephony.call_status(placed.sid))

    assert (summary.sid, summary.status, summary.answered_by) == (placed.sid, status, answerer)
    assert summary.duration_s == 42
    [listed] = asyncio.run(telephony.calls_to_since(TO, datetime.now(UTC) - timedelta(minutes=1)))
    assert listed.status == status


def test_base_url_rewrites_every_twilio_host() -> None:
    client = RebasedHttpClient("http://127.0.0.1:9/prefix/")
    assert (
        client.rebase("https://api.twilio.com/2010-04-01/Calls.json?To=%2B1")
        == "http://127.0.0.1:9/prefix/2010-04-01/Calls.json?To=%2B1"
    )
    assert client.rebase("https://api.dublin.ie1.twilio.com/x").startswith("http://127.0.0.1:9/")
    assert client.rebase("https://example.com/x") == "https://example.com/x"
    default = RebasedHttpClient()
    assert (
        default.rebase("https://api.dublin.ie1.twilio.com/x")
        == "https://api.dublin.ie1.twilio.com/x"
    )


def test_rate_limiter_gives_concurrent_callers_distinct_slots() -> None:
    now = [100.0]
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    limiter = CallRateLimiter(per_second=20, monotonic=lambda: now[0], sleep=record)

    async def five() -> None:
        await asyncio.gather(*(limiter.acquire() for _ in range(5)))

    asyncio.run(five())
    # the first goes at once; the others reserved the next slots, 50 ms apart
    assert waits == pytest.approx([0.05, 0.1, 0.15, 0.2])
    now[0] = 101.0  # a second later every slot is past: no wait
    asyncio.run(limiter.acquire())
    assert len(waits) == 4


# -- TwiML --------------------------------------------------------------------------------


def parse(xml: str) -> ET.Element:
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(xml)


def test_say_and_gather_listens_for_speech_or_one_key_and_escapes_text() -> None:
    xml = twiml.say_and_gather(
        ["Hi Ana <3 & welcome", twiml.Pause(2), "What went well today?"],
        "https://example.test/voice/turn?call=1&turn=2",
        voice="Polly.Joanna",
    )
    assert "&lt;3 &amp; welcome" in xml
    root = parse(xml)
    [gather] = list(root)
    assert gather.tag == "Gather"
    assert gather.attrib == {
        "input": "speech dtmf",
        "numDigits": "1",
        "finishOnKey": "",
        "action": "https://example.test/voice/turn?call=1&turn=2",
        "method": "POST",
        "speechTimeout": "3",
        "timeout": "6",
        "actionOnEmptyResult": "true",
    }
    assert [(c.tag, c.text, c.attrib) for c in gather] == [
        ("Say", "Hi Ana <3 & welcome", {"voice": "Polly.Joanna"}),
        ("Pause", None, {"length": "2"}),
        ("Say", "What went well today?", {"voice": "Polly.Joanna"}),
    ]


def test_say_and_gather_options() -> None:
    root = parse(
        twiml.say_and_gather(
            ["Go on"], "https://e.test/a", speech_timeout_s="auto", timeout_s=4, language="en-GB"
        )
    )
    gather = root[0]
    assert gather.get("speechTimeout") == "auto"
    assert gather.get("timeout") == "4"
    assert gather.get("language") == "en-GB"
    assert gather[0].get("language") == "en-GB"


def test_say_and_hangup_and_the_small_documents() -> None:
    root = parse(twiml.say_and_hangup(["Bye & thanks", ""]))
    assert [(c.tag, c.text) for c in root] == [("Say", "Bye & thanks"), ("Hangup", None)]
    assert [c.tag for c in parse(twiml.hangup())] == ["Hangup"]
    assert list(parse(twiml.empty_response())) == []
    [redirect] = parse(twiml.redirect("https://e.test/next?a=1&b=2"))
    assert (redirect.tag, redirect.text, redirect.get("method")) == (
        "Redirect",
        "https://e.test/next?a=1&b=2",
        "POST",
    )
    root = parse(twiml.say_and_redirect(["One moment"], "https://e.test/poll"))
    assert [c.tag for c in root] == ["Say", "Redirect"]
