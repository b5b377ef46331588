"""The Twilio adapter's ``texts_to_since`` (did a text whose answer was lost go out?)
against the local REST stand-in's Messages list (docs/telephony.md, docs/twilio-standin.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.devtools.standin.rest import (
    CALLS_LIST,
    MESSAGES_LIST,
    error,
    rate_limited,
    rfc2822,
    server_error,
    slow,
)
from services.devtools.standin.twilio import TwilioRestStandIn
from services.telephony import SentText, TelephonyError
from services.telephony.twilio import TwilioTelephony
from tests.services.test_telephony_twilio import FROM, TO, adapter, place

ELSEWHERE = "+15550009999"


@pytest.fixture(scope="module")
def _server() -> Iterator[TwilioRestStandIn]:
    with TwilioRestStandIn() as server:
        yield server


@pytest.fixture
def standin(_server: TwilioRestStandIn) -> TwilioRestStandIn:
    _server.state.reset()
    return _server


def text(telephony: TwilioTelephony, body: str, to: str = TO) -> str:
    return asyncio.run(telephony.send_sms(to=to, body=body))


def created(standin: TwilioRestStandIn, sid: str, moment: datetime) -> None:
    standin.state.messages[sid]["date_created"] = rfc2822(moment)


def found(telephony: TwilioTelephony, since: datetime, to: str = TO) -> list[SentText]:
    return asyncio.run(telephony.texts_to_since(to, since))


def test_a_sent_text_is_found_with_its_sid_number_words_and_time(
    standin: TwilioRestStandIn,
) -> None:
    telephony = adapter(standin)
    since = datetime.now(UTC)
    sid = text(telephony, "We couldn't reach you today. <Reply> CALL & more")

    (sent,) = found(telephony, since)

    assert sent.sid == sid and sent.to == TO
    assert sent.body == "We couldn't reach you today. <Reply> CALL & more"
    assert sent.date_created is not None and sent.date_created.tzinfo is not None
    assert abs(sent.date_created - since) < timedelta(minutes=1)
    (request,) = standin.requests_to(MESSAGES_LIST)
    assert request.method == "GET"
    assert request.path == f"/2010-04-01/Accounts/{standin.account_sid}/Messages.json"
    assert request.query_dict()["To"] == [TO]
    assert request.basic_auth() == (standin.account_sid, standin.auth_token)


def test_only_texts_to_that_number_since_then_are_found(standin: TwilioRestStandIn) -> None:
    telephony = adapter(standin)
    since = datetime.now(UTC) - timedelta(hours=1)
    old = text(telephony, "yesterday's")
    created(standin, old, since - timedelta(hours=3))
    recent = [text(telephony, "one"), text(telephony, "two")]
    text(telephony, "someone else's", to=ELSEWHERE)

    assert {t.sid for t in found(telephony, since)} == set(recent)
    assert [t.body for t in found(telephony, since, to=ELSEWHERE)] == ["someone else's"]
    assert found(telephony, since, to="+15550001234") == []


def test_the_lookup_reaches_back_by_the_clock_skew(standin: TwilioRestStandIn) -> None:
    """Our clock and Twilio's differ: a text stamped a little before ``since`` (within the
    skew, two minutes by default) may be the one sent, and is found."""
    since = datetime.now(UTC).replace(microsecond=0)
    sid = text(adapter(standin), "just before")
    created(standin, sid, since - timedelta(seconds=90))

    assert [t.sid for t in found(adapter(standin), since)] == [sid]
    assert found(adapter(standin, reconcile_skew_s=60), since) == []


def test_the_lookup_requires_an_aware_datetime(standin: TwilioRestStandIn) -> None:
    with pytest.raises(ValueError):
        found(adapter(standin), datetime.now())
    assert standin.requests_to(MESSAGES_LIST) == []


@pytest.mark.parametrize(
    "fault",
    [server_error(), rate_limited(), slow(1.0)],
    ids=["server error", "rate limited", "timeout"],
)
def test_a_transient_failure_is_retried_as_it_only_reads(standin: TwilioRestStandIn, fault) -> None:
    telephony = adapter(standin, http_timeout_s=0.3)
    since = datetime.now(UTC)
    sid = text(telephony, "hello")
    standin.fail_next(MESSAGES_LIST, fault)

    assert [t.sid for t in found(telephony, since)] == [sid]
    assert len(standin.requests_to(MESSAGES_LIST)) == 2


def test_the_calls_lookup_is_retried_on_a_server_error_too(standin: TwilioRestStandIn) -> None:
    """The same list-page failure, on the Dialer's lookup (``calls_to_since``)."""
    telephony = adapter(standin)
    since = datetime.now(UTC)
    placed = place(telephony)
    standin.fail_next(CALLS_LIST, server_error())

    assert [c.sid for c in asyncio.run(telephony.calls_to_since(TO, since))] == [placed.sid]
    # the refused page, then the lookup again: its two lists (started, and queued)
    assert len(standin.requests_to(CALLS_LIST)) == 3


def test_a_lookup_that_keeps_failing_is_a_definite_error(standin: TwilioRestStandIn) -> None:
    """Then TextMessages.send fails ``unavailable`` and leaves the notice as it was."""
    standin.fail_next(MESSAGES_LIST, server_error(), times=10)
    with pytest.raises(TelephonyError) as caught:
        found(adapter(standin, max_attempts=3), datetime.now(UTC))
    assert "gave up after 3 attempts" in str(caught.value)
    assert len(standin.requests_to(MESSAGES_LIST)) == 3


def test_a_refused_lookup_is_not_retried(standin: TwilioRestStandIn) -> None:
    standin.fail_next(MESSAGES_LIST, error(403, 20003, "Permission denied"))
    with pytest.raises(TelephonyError) as caught:
        found(adapter(standin), datetime.now(UTC))
    assert caught.value.code == 20003
    assert len(standin.requests_to(MESSAGES_LIST)) == 1


def test_the_sender_is_our_number(standin: TwilioRestStandIn) -> None:
    text(adapter(standin), "hi")
    (message,) = standin.state.messages.values()
    assert message["from"] == FROM
