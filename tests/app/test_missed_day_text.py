"""After a missed day: one text, and the replies to it (CALL, LATER, TYPE, STOP, START, HELP),
through the signed inbound webhook, with the worker placing the calls a reply asks for."""

from __future__ import annotations

import asyncio
import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.devtools.callees import NoAnswerCallee
from services.telephony import TelephonyError
from services.telephony.mock import MockTelephony
from syncs.texts import HELP_TEXT, MISSED_DAY_TEXT, NO_NOTICE_TEXT
from tests.app.conftest import BASE, Service, next_number, running_service

UTC = dt.UTC


def new_york(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=UTC) + dt.timedelta(hours=5)


def texts_to(service: Service, phone: str) -> list[str]:
    return [m.body for m in service.telephony.messages if m.to == phone]


async def miss_the_day(service: Service, *, retries: int = 2, number: str | None = None):
    """A user whose evening call rings out ``retries`` times; returns (token, phone)."""
    service.clock.set(new_york(1, 19, 59))
    phone = number or next_number()
    token = await service.sign_up(phone=phone, maxRetries=retries)
    await service.api("Schedule/setDaily", {"timezone": "America/New_York", "time": "20:00"}, token)
    await service.worker.plan_due()
    service.clock.advance(minutes=1)
    for _ in range(retries):
        (placed,) = await service.dial_due()
        await service.play(placed, NoAnswerCallee())
    await service.engine.settle()
    return token, phone


_ids = iter(range(1, 10**9))


async def reply(service: Service, phone: str, body: str, *, sid: str | None = None, **extra):
    params = {
        "From": phone,
        "To": "+15005550006",
        "Body": body,
        "MessageSid": sid or f"SM{next(_ids):032d}",
        **extra,
    }
    return await service.webhook("sms", params)


def message_of(response) -> str | None:
    """The text of the TwiML reply's <Message>, or None for an empty <Response/>."""
    assert response.status_code == 200, response.text
    root = ET.fromstring(response.text)
    assert root.tag == "Response"
    found = root.find("Message")
    return None if found is None else found.text


# -- the text --------------------------------------------------------------------------------


async def test_the_last_failed_attempt_of_the_day_sends_one_text(service: Service):
    token, phone = await miss_the_day(service, retries=2)
    codes = 1  # the verification code
    assert texts_to(service, phone)[codes:] == [MISSED_DAY_TEXT]
    (notice,) = await notices_of(service, token)
    assert notice["status"] == "SENT"


async def user_of(service: Service, token: str) -> str:
    (row,) = await service.engine.query("Accounts", "_userForToken", {"token": token})
    return row["user"]


async def notices_of(service: Service, token: str) -> list[dict]:
    return await service.engine.query(
        "TextMessages", "_notices", {"user": await user_of(service, token)}
    )


async def test_texts_turned_off_in_the_app_are_not_sent_and_turned_on_again_are(
    service: Service,
):
    phone = next_number()
    service.clock.set(new_york(1, 12))
    token = await service.sign_up(phone=phone, maxRetries=1)
    assert await service.api("TextMessages/setTexting", {"on": False}, token) == {"on": False}
    await service.api("Schedule/setDaily", {"timezone": "America/New_York", "time": "20:00"}, token)
    for day in (1, 2):
        service.clock.set(new_york(day, 19, 59))
        await service.worker.plan_due()
        service.clock.advance(minutes=1)
        (placed,) = await service.dial_due()
        await service.play(placed, NoAnswerCallee())
        await service.engine.settle()
        if day == 1:
            assert MISSED_DAY_TEXT not in texts_to(service, phone)
            (row,) = await service.api("TextMessages/_texting", {}, token)
            assert row["on"] is False
            assert row["last"]["reason"] == "texts are turned off in the app"
            await service.api("TextMessages/setTexting", {"on": True}, token)
    assert texts_to(service, phone).count(MISSED_DAY_TEXT) == 1
    (row,) = await service.api("TextMessages/_texting", {}, token)
    assert row["on"] is True and row["last"]["status"] == "SENT"


async def test_set_texting_refuses_what_is_not_a_boolean(service: Service):
    token = await service.sign_up()
    for body in [{}, {"on": "no"}, {"on": 0}, {"on": None}]:
        r = await service.http.post(
            "/api/TextMessages/setTexting", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 422, (body, r.text)
    (row,) = await service.api("TextMessages/_texting", {}, token)
    assert row["on"] is True


async def test_an_attempt_with_retries_left_sends_no_text(service: Service):
    service.clock.set(new_york(1, 19, 59))
    token = await service.sign_up(maxRetries=3)
    await service.api("Schedule/setDaily", {"timezone": "America/New_York", "time": "20:00"}, token)
    await service.worker.plan_due()
    service.clock.advance(minutes=1)
    (placed,) = await service.dial_due()
    await service.play(placed, NoAnswerCallee())
    assert [m for m in service.telephony.messages if m.body == MISSED_DAY_TEXT] == []


async def test_a_call_asked_for_that_fails_sends_no_text(service: Service):
    token = await service.sign_up(maxRetries=1)
    await service.call_now(token)
    (placed,) = await service.dial_due()
    await service.play(placed, NoAnswerCallee())
    await service.engine.settle()
    assert [m for m in service.telephony.messages if m.body == MISSED_DAY_TEXT] == []


async def test_a_number_that_replied_stop_gets_no_text_until_start(service: Service):
    phone = next_number()
    assert message_of(await reply(service, phone, "STOP")) is None  # the provider confirms it
    token, _ = await miss_the_day(service, number=phone)
    assert MISSED_DAY_TEXT not in texts_to(service, phone)
    (notice,) = await notices_of(service, token)
    assert notice["status"] == "NOT_SENT" and "STOP" in notice["reason"]
    assert message_of(await reply(service, phone, "start")) is None
    service.clock.advance(days=1)
    await service.worker.plan_due()
    service.clock.advance(minutes=1)
    for _ in range(2):
        (placed,) = await service.dial_due()
        await service.play(placed, NoAnswerCallee())
    await service.engine.settle()
    assert texts_to(service, phone).count(MISSED_DAY_TEXT) == 1


async def test_the_provider_refusing_the_text_is_recorded_not_retried(service: Service):
    phone = next_number()
    token = await service.sign_up(phone=phone, maxRetries=1)
    service.telephony.fail_next_text(TelephonyError("unreachable destination", code=21612))
    service.clock.set(new_york(1, 19, 59))
    await service.api("Schedule/setDaily", {"timezone": "America/New_York", "time": "20:00"}, token)
    await service.worker.plan_due()
    service.clock.advance(minutes=1)
    (placed,) = await service.dial_due()
    await service.play(placed, NoAnswerCallee())
    await service.engine.settle()
    (notice,) = await notices_of(service, token)
    assert notice["status"] == "NOT_SENT" and "unreachable" in notice["reason"]
    service.clock.advance(minutes=30)
    await service.worker.reconcile()
    assert MISSED_DAY_TEXT not in texts_to(service, phone)


@pytest.fixture
async def same_clock_service(mongo_uri):
    """The service with a mock provider on the service's own (fake) clock, as a real
    provider shares real time: the lookup of a lost send compares the two."""
    box: dict = {}
    telephony = MockTelephony(seed=7, clock=lambda: box["service"].clock.now())
    async with running_service(mongo_uri, telephony=telephony) as svc:
        box["service"] = svc
        yield svc


@pytest.mark.parametrize("went_out", [True, False])
async def test_a_send_whose_answer_was_lost_is_settled_by_the_reconciler_once(
    same_clock_service: Service, went_out: bool
):
    service = same_clock_service
    phone = next_number()
    token = await service.sign_up(phone=phone, maxRetries=1)
    service.clock.set(new_york(1, 19, 59))
    await service.api("Schedule/setDaily", {"timezone": "America/New_York", "time": "20:00"}, token)
    await service.worker.plan_due()
    service.clock.advance(minutes=1)
    (placed,) = await service.dial_due()
    service.telephony.fail_next_text(ConnectionError("reset by peer"), still_sent=went_out)
    await service.play(placed, NoAnswerCallee())
    await service.engine.settle()
    (notice,) = await notices_of(service, token)
    assert notice["status"] == "SENDING"
    assert texts_to(service, phone).count(MISSED_DAY_TEXT) == int(went_out)
    service.clock.advance(minutes=10)
    await service.worker.reconcile()
    await service.engine.settle()
    (notice,) = await notices_of(service, token)
    assert notice["status"] == "SENT"
    assert texts_to(service, phone).count(MISSED_DAY_TEXT) == 1, "sent once, whichever way"
    await service.worker.reconcile()
    assert texts_to(service, phone).count(MISSED_DAY_TEXT) == 1


# -- the replies -----------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["Call me please", "Yes, call me"])
async def test_call_replied_to_the_text_places_a_call_now(service: Service, body: str):
    token, phone = await miss_the_day(service)
    assert message_of(await reply(service, phone, body)) == "Calling you now."
    (placed,) = await service.dial_due()
    assert placed.to == phone
    (call,) = [c for c in await service.api("CallScheduler/_upcoming", {}, token)]
    assert call["origin"] == "now"


async def test_later_replied_to_the_text_calls_in_ten_minutes(service: Service):
    _, phone = await miss_the_day(service)
    assert message_of(await reply(service, phone, "later")) == "We'll call you in 10 minutes."
    assert await service.dial_due() == []
    service.clock.advance(minutes=10)
    (placed,) = await service.dial_due()
    assert placed.to == phone


async def test_type_replied_to_the_text_gets_a_link_to_write(service: Service):
    _, phone = await miss_the_day(service)
    text = message_of(await reply(service, phone, "TYPE"))
    assert text.endswith(f"{BASE}/today#type")
    assert await service.dial_due() == []


@pytest.mark.parametrize("body", ["help", "what is this?", "", "🙂"])
async def test_anything_else_gets_the_help_and_changes_nothing(service: Service, body: str):
    _, phone = await miss_the_day(service)
    before = await service.concept_state()
    assert message_of(await reply(service, phone, body)) == HELP_TEXT
    after = await service.concept_state()
    assert {k: v for k, v in after.items() if k != "TextMessages_inbox"} == {
        k: v for k, v in before.items() if k != "TextMessages_inbox"
    }


async def test_a_reply_from_a_number_not_texted_today_acts_for_no_one(service: Service):
    token = await service.sign_up()
    assert message_of(await reply(service, next_number(), "CALL")) == NO_NOTICE_TEXT
    assert await service.dial_due() == []
    assert await service.api("CallScheduler/_upcoming", {}, token) == []


async def test_a_reply_a_day_later_acts_for_no_one(service: Service):
    _, phone = await miss_the_day(service)
    service.clock.advance(hours=25)
    assert message_of(await reply(service, phone, "CALL")) == NO_NOTICE_TEXT
    assert await service.dial_due() == []


async def test_a_message_delivered_twice_calls_once(service: Service):
    _, phone = await miss_the_day(service)
    first = await reply(service, phone, "CALL", sid="SM" + "7" * 32)
    again = await reply(service, phone, "CALL", sid="SM" + "7" * 32)
    assert message_of(first) == "Calling you now."
    assert message_of(again) is None
    assert len(await service.dial_due()) == 1


async def test_call_replied_while_a_call_is_on_its_way_is_refused_in_words(service: Service):
    _, phone = await miss_the_day(service)
    assert message_of(await reply(service, phone, "CALL")) == "Calling you now."
    assert message_of(await reply(service, phone, "call")) == "Calling you now."  # the same one
    assert len(await service.dial_due()) == 1
    refused = message_of(await reply(service, phone, "CALL"))  # it is ringing now
    assert refused == "We can't call you now: a call to you is already under way."
    assert await service.dial_due() == []


async def test_deleting_the_account_forgets_its_texts(service: Service):
    token, phone = await miss_the_day(service)
    user = await user_of(service, token)
    await service.api("Account/delete", {"password": "correct horse battery"}, token)
    notices = await service.engine.db["TextMessages_notices"].count_documents({"user": user})
    assert notices == 0
    assert message_of(await reply(service, phone, "CALL")) == NO_NOTICE_TEXT


# -- the edge --------------------------------------------------------------------------------


async def test_an_unsigned_or_forged_text_is_refused_and_changes_nothing(service: Service):
    _, phone = await miss_the_day(service)
    before = await service.concept_state()
    params = {"From": phone, "Body": "CALL", "MessageSid": "SM" + "1" * 32}
    unsigned = await service.http.post("/webhooks/twilio/sms", data=params)
    forged = await service.http.post(
        "/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": "bm90IGl0"}
    )
    assert unsigned.status_code == forged.status_code == 403
    assert await service.concept_state() == before
    assert await service.dial_due() == []


async def test_a_signed_form_that_is_no_message_gets_400(service: Service):
    r = await service.webhook("sms", {"Body": "CALL"})
    assert r.status_code == 400 and "MessageSid" in r.text


async def test_a_sender_that_is_no_phone_number_gets_an_empty_reply(service: Service):
    assert message_of(await reply(service, "TWILIO", "hello")) is None


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sender=st.one_of(st.text(max_size=30), st.from_regex(r"\+1415555\d{4}", fullmatch=True)),
    body=st.text(max_size=300),
    sid=st.text(max_size=120),
)
async def test_any_signed_text_gets_a_reply_or_a_4xx_and_changes_nothing_but_replies(
    service: Service, sender: str, body: str, sid: str
):
    """Whatever the form says: a TwiML reply (possibly empty) or a precise 400, never a 500,
    and nothing changes outside the texts' own records (its inbox, a STOP)."""
    before = await service.concept_state()
    params = {"From": sender, "Body": body, "MessageSid": sid}
    r = await service.webhook("sms", params)
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert "MessageSid" in r.text
    else:
        message_of(r)
    after = await service.concept_state()
    kept = ("TextMessages_inbox", "TextMessages_stops", "webhook_replies")
    assert {k: v for k, v in after.items() if k not in kept} == {
        k: v for k, v in before.items() if k not in kept
    }


def our_call_id(placed) -> str:
    """Our id of a placed call, from the answer URL the Dialer gave the provider."""
    return placed.answer_url.split("call=")[1].split("&")[0]


async def test_a_call_that_reached_the_user_and_then_failed_sends_no_text(service: Service):
    """The last attempt began the reflection, then the line failed: the user was reached,
    so "we couldn't reach you" would be false."""
    phone = next_number()
    service.clock.set(new_york(1, 19, 59))
    token = await service.sign_up(phone=phone, maxRetries=1)
    await service.api("Schedule/setDaily", {"timezone": "America/New_York", "time": "20:00"}, token)
    await service.worker.plan_due()
    service.clock.advance(minutes=1)
    (placed,) = await service.dial_due()
    call = our_call_id(placed)
    voice = await service.webhook(
        "voice", {"CallSid": placed.sid, "AnsweredBy": "human"}, call=call
    )
    assert voice.status_code == 200 and "<Gather" in voice.text
    status = {"CallSid": placed.sid, "CallStatus": "failed", "SequenceNumber": "5"}
    assert (await service.webhook("status", status, call=call)).status_code == 200
    await service.engine.settle()
    (row,) = [
        r for r in await service.api("CallScheduler/_recent", {}, token) if r["status"] == "FAILED"
    ]
    assert row["lastOutcome"] == "FAILED", "the last attempt failed: a missed day's path"
    assert MISSED_DAY_TEXT not in texts_to(service, phone)
    assert await notices_of(service, token) == []


class HeldTexts(MockTelephony):
    """A provider whose texts wait until the test lets them go."""

    def __init__(self) -> None:
        super().__init__(seed=7)
        self.hold = asyncio.Event()
        self.hold.set()

    async def send_sms(self, **kw):
        await self.hold.wait()
        return await super().send_sms(**kw)


async def test_a_voicemail_on_the_last_attempt_is_hung_up_on_before_the_text_goes(mongo_uri):
    """The provider waits for the hang-up; the day's text is sent after it, however slow
    the provider is with the text (it never makes the line hear an apology)."""
    telephony = HeldTexts()
    async with running_service(mongo_uri, telephony=telephony, webhook_timeout_s=2) as service:
        phone = next_number()
        service.clock.set(new_york(1, 19, 59))
        token = await service.sign_up(phone=phone, maxRetries=1)
        await service.api(
            "Schedule/setDaily", {"timezone": "America/New_York", "time": "20:00"}, token
        )
        await service.worker.plan_due()
        service.clock.advance(minutes=1)
        (placed,) = await service.dial_due()
        telephony.hold.clear()
        call = our_call_id(placed)
        answered = {"CallSid": placed.sid, "AnsweredBy": "machine_start"}
        voice = await asyncio.wait_for(service.webhook("voice", answered, call=call), 30)
        assert voice.status_code == 200 and "<Hangup" in voice.text and "Sorry" not in voice.text
        assert MISSED_DAY_TEXT not in texts_to(service, phone), "held: not sent yet"
        telephony.hold.set()
        await service.engine.settle()
        assert texts_to(service, phone).count(MISSED_DAY_TEXT) == 1


async def test_stop_within_words_is_kept_and_confirmed_by_us(service: Service):
    """The provider acts only on STOP alone: "stop texting me" is kept as STOP all the
    same, and the confirmation is ours; START within words likewise."""
    from syncs.texts import STARTED_TEXT, STOPPED_TEXT

    phone = next_number()
    assert message_of(await reply(service, phone, "Stop texting me please")) == STOPPED_TEXT
    assert (await service.engine.query("TextMessages", "_isStopped", {"phoneNumber": phone}))[0][
        "stopped"
    ]
    assert message_of(await reply(service, phone, "start again")) == STARTED_TEXT
    assert message_of(await reply(service, phone, " STOP. ")) is None  # alone: the provider's
