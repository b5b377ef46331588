"""TextMessages, rule by rule, as in docs/concepts/TextMessages.md: notify, send, receive,
forgetUser; STOP kept by number; numbers and text encrypted at rest."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from conceptkit import Engine, describe_operations, new_id
from concepts.text_messages import REPLY_WINDOW, TextMessages
from services.app.clock import FakeClock
from services.encryption.keys import Encryptor
from services.telephony import AmbiguousDialError, TelephonyError
from services.telephony.mock import MockTelephony
from tests.faults import FaultyDatabase, ProcessDied, Rule, on

NUMBER = "+14155550100"
SPELLED = "+1 (415) 555-0100"  # the same number, as a person writes it
OTHER = "+442079460958"
TEXT = "We couldn't reach you today. Reply CALL for a call now."
REPLY = "Call me please, at home"


def services(clock: FakeClock, telephony: MockTelephony, enc: Encryptor) -> dict[str, Any]:
    return {"clock": clock, "encryption": enc, "telephony": telephony}


@pytest.fixture
async def tm(async_db, clock, mock_telephony, encryptor) -> TextMessages:
    c = TextMessages(async_db, services(clock, mock_telephony, encryptor))
    await c.setup()
    return c


@pytest.fixture
async def engine(tm: TextMessages) -> AsyncIterator[Engine]:
    """The concept under the engine, to run an action again under the same action id."""
    eng = Engine(tm.db, [tm])
    await eng.start(background=False)
    try:
        yield eng
    finally:
        await eng.close()


async def notified(
    tm: TextMessages, about: str = "call-7", user: str = "u1", number: str = NUMBER
) -> str:
    out = await tm.notify(user=user, about=about, phoneNumber=number, text=TEXT)
    assert "error" not in out, out
    return out["notice"]


async def texted(
    tm: TextMessages, about: str = "call-7", user: str = "u1", number: str = NUMBER
) -> str:
    """A notice made and sent: one a reply from the number answers."""
    notice = await notified(tm, about, user, number)
    assert (await tm.send(notice=notice))["status"] == "SENT"
    return notice


async def raw(tm: TextMessages, notice: str) -> dict[str, Any]:
    doc = await tm.collection("notices").find_one({"_id": notice})
    assert doc is not None
    return doc


def sent_to(telephony: MockTelephony, number: str = NUMBER) -> list[str]:
    return [m.body for m in telephony.messages if m.to == number]


def errors_of(c: TextMessages, name: str, inputs: dict[str, Any]) -> list[list[Any]]:
    return [e["loc"] for e in describe_operations(c)[name].check_inputs(inputs)[1]]


_ids = iter(range(1, 10**9))


async def receive(tm: TextMessages, text: str, number: str = NUMBER, sid: str | None = None):
    return await tm.receive(messageId=sid or f"SM{next(_ids):032d}", phoneNumber=number, text=text)


async def stopped(tm: TextMessages, number: str = NUMBER) -> bool:
    (row,) = await tm._isStopped(phoneNumber=number)
    return row["stopped"]


# -- notify --------------------------------------------------------------------------------


async def test_notify_keeps_one_pending_notice(tm):
    out = await tm.notify(user="u1", about="call-7", phoneNumber=SPELLED, text=TEXT)
    assert out == {"notice": out["notice"], "status": "PENDING", "reason": None}
    (row,) = await tm._notices(user="u1")
    assert row["about"] == "call-7" and row["status"] == "PENDING" and row["sentAt"] is None


async def test_notify_once_per_about(tm):
    await notified(tm, "call-7")
    again = await tm.notify(user="u1", about="call-7", phoneNumber=NUMBER, text="other")
    assert again["errorKind"] == "conflict"
    by_other = await tm.notify(user="u2", about="call-7", phoneNumber=OTHER, text=TEXT)
    assert by_other["errorKind"] == "conflict", "about is unique across users"
    assert await tm.collection("notices").count_documents({}) == 1
    await notified(tm, "call-8")  # another call is another notice


@pytest.mark.parametrize("number", ["TWILIO", "", "12345", "+1", "+0123456789"])
async def test_notify_refuses_what_is_no_phone_number_and_keeps_nothing(tm, number):
    out = await tm.notify(user="u1", about="call-7", phoneNumber=number, text=TEXT)
    assert out["errorKind"] == "invalid"
    assert await tm.collection("notices").count_documents({}) == 0


def test_notify_text_is_one_to_480_characters(tm):
    base = {"user": "u1", "about": "call-7", "phoneNumber": NUMBER}
    assert errors_of(tm, "notify", {**base, "text": "x" * 480}) == []
    assert errors_of(tm, "notify", {**base, "text": ""}) == [["body", "text"]]
    assert errors_of(tm, "notify", {**base, "text": "x" * 481}) == [["body", "text"]]
    assert errors_of(tm, "notify", {**base, "about": "", "text": "x"}) == [["body", "about"]]


async def test_notify_for_a_stopped_number_is_not_sent(tm, mock_telephony):
    await receive(tm, "STOP", number=SPELLED)
    out = await tm.notify(user="u1", about="call-7", phoneNumber=NUMBER, text=TEXT)
    assert out["status"] == "NOT_SENT" and "STOP" in out["reason"]
    assert (await tm.send(notice=out["notice"]))["status"] == "NOT_SENT"
    assert mock_telephony.messages == []


# -- send ----------------------------------------------------------------------------------


async def test_send_texts_the_notice_once(tm, mock_telephony, clock):
    notice = await notified(tm, number=SPELLED)
    out = await tm.send(notice=notice)
    assert out == {"notice": notice, "status": "SENT", "reason": None}
    (sms,) = mock_telephony.messages
    assert (sms.to, sms.body, sms.user) == (NUMBER, TEXT, "u1")
    doc = await raw(tm, notice)
    assert doc["sid"] == sms.sid and doc["settledAt"] == clock.now()
    (row,) = await tm._notices(user="u1")
    assert row["sentAt"] == clock.now()
    clock.advance(hours=1)
    assert await tm.send(notice=notice) == out, "a settled notice is returned as it is"
    assert len(mock_telephony.messages) == 1


async def test_send_of_no_notice_is_not_found(tm):
    assert (await tm.send(notice="nope"))["errorKind"] == "not_found"


async def test_a_provider_refusal_is_not_sent_with_its_reason(tm, mock_telephony, clock):
    notice = await notified(tm)
    mock_telephony.fail_next_text(TelephonyError("unreachable destination", code=21612))
    out = await tm.send(notice=notice)
    assert out == {"notice": notice, "status": "NOT_SENT", "reason": "unreachable destination"}
    clock.advance(minutes=10)
    assert await tm.send(notice=notice) == out, "a refusal is final, not retried"
    assert mock_telephony.messages == []


async def test_a_refusal_naming_the_number_is_kept_without_it(tm, mock_telephony, engine):
    notice = await notified(tm)
    words = f"The 'To' number {NUMBER} is not a valid phone number."
    mock_telephony.fail_next_text(TelephonyError(words, code=21211, status=400))
    out = await engine.invoke("TextMessages", "send", {"notice": notice})
    assert out["reason"] == "The 'To' number the number is not a valid phone number."
    assert NUMBER not in str(await raw(tm, notice))
    await engine.log.flush()
    logged = await tm.db["conceptkit_actions"].find({}).to_list(None)
    assert NUMBER not in str(logged) and NUMBER.lstrip("+") not in str(logged)


@pytest.mark.parametrize(
    ("code", "status"), [(None, None), (20429, 429), (20500, 500), (None, 503)]
)
async def test_a_busy_or_away_provider_leaves_the_text_to_be_sent_later(
    tm, mock_telephony, clock, code, status
):
    """Refusals that say nothing about the text (busy, away) are not final: the notice
    goes back to PENDING, and the reconciler's next send texts it."""
    notice = await notified(tm)
    mock_telephony.fail_next_text(
        TelephonyError("gave up after 4 attempts", code=code, status=status)
    )
    out = await tm.send(notice=notice)
    assert out["errorKind"] == "unavailable"
    assert (await raw(tm, notice))["status"] == "PENDING"
    assert [r["notice"] for r in await tm._unsettled(before=clock.advance(seconds=1))] == [notice]
    assert (await tm.send(notice=notice))["status"] == "SENT"
    assert sent_to(mock_telephony) == [TEXT]


async def test_an_old_stuck_send_the_provider_cannot_look_up_is_settled_not_sent(
    tm, mock_telephony, clock
):
    notice = await notified(tm)
    mock_telephony.fail_next_text(ConnectionError("reset"))
    await tm.send(notice=notice)
    clock.advance(hours=12, minutes=1)
    mock_telephony.fail_next_lookups(1)
    out = await tm.send(notice=notice)
    assert out == {
        "notice": notice,
        "status": "NOT_SENT",
        "reason": "the provider could not say whether it was sent",
    }
    assert await tm._unsettled(before=clock.now()) == []


@pytest.mark.parametrize(
    "error",
    [
        ConnectionError("reset by peer"),
        AmbiguousDialError(
            "timeout", to=NUMBER, attempted_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        ),
    ],
)
async def test_a_lost_answer_leaves_the_notice_sending(tm, mock_telephony, clock, error):
    notice = await notified(tm)
    mock_telephony.fail_next_text(error, still_sent=True)
    out = await tm.send(notice=notice)
    assert out["errorKind"] == "unavailable"
    doc = await raw(tm, notice)
    assert doc["status"] == "SENDING" and doc["sendingAt"] == clock.now()
    assert [row["notice"] for row in await tm._unsettled(before=clock.now())] == []
    clock.advance(seconds=1)
    assert await tm._unsettled(before=clock.now()) == [{"notice": notice, "user": "u1"}]


async def test_a_second_send_within_two_minutes_is_refused(tm, mock_telephony, clock):
    notice = await notified(tm)
    mock_telephony.fail_next_text(ConnectionError("reset"))
    await tm.send(notice=notice)
    clock.advance(seconds=119)
    out = await tm.send(notice=notice)
    assert out["errorKind"] == "conflict", "the first run may still be on its way"
    assert (await raw(tm, notice))["status"] == "SENDING"
    assert mock_telephony.messages == []


async def test_after_two_minutes_a_text_that_went_out_is_found_not_sent_again(
    tm, mock_telephony, clock
):
    notice = await notified(tm)
    mock_telephony.fail_next_text(ConnectionError("reset"), still_sent=True)
    await tm.send(notice=notice)
    (sms,) = mock_telephony.messages
    clock.advance(minutes=2)
    out = await tm.send(notice=notice)
    assert out == {"notice": notice, "status": "SENT", "reason": None}
    assert len(mock_telephony.messages) == 1
    assert (await raw(tm, notice))["sid"] == sms.sid


async def test_after_two_minutes_a_text_that_did_not_go_out_is_sent(tm, mock_telephony, clock):
    notice = await notified(tm)
    mock_telephony.fail_next_text(ConnectionError("reset"), still_sent=False)
    await tm.send(notice=notice)
    assert mock_telephony.messages == []
    clock.advance(minutes=3)
    out = await tm.send(notice=notice)
    assert out["status"] == "SENT"
    assert sent_to(mock_telephony) == [TEXT]


async def test_the_lookup_ignores_other_numbers_other_texts_and_earlier_texts(
    tm, mock_telephony, clock
):
    await mock_telephony.send_sms(to=NUMBER, body=TEXT)  # the same words, before this send
    notice = await notified(tm)
    clock.advance(seconds=1)
    mock_telephony.fail_next_text(ConnectionError("reset"))
    await tm.send(notice=notice)
    await mock_telephony.send_sms(to=OTHER, body=TEXT)
    await mock_telephony.send_sms(to=NUMBER, body="Your reflection code is 123456")
    clock.advance(minutes=5)
    assert (await tm.send(notice=notice))["status"] == "SENT"
    assert sent_to(mock_telephony).count(TEXT) == 2, "the earlier one and this one"


async def test_the_same_words_texted_long_after_the_send_began_are_not_its_own(
    tm, mock_telephony, clock
):
    """A stuck send is not settled by another day's text of the same words: only a text
    made while it was under way (SEND_TAKES_AT_MOST) is its own."""
    notice = await notified(tm, "call-1")
    mock_telephony.fail_next_text(ConnectionError("reset"), still_sent=False)
    await tm.send(notice=notice)
    clock.advance(minutes=11)
    await mock_telephony.send_sms(to=NUMBER, body=TEXT)  # another notice's text, later
    clock.advance(minutes=1)
    assert (await tm.send(notice=notice))["status"] == "SENT"
    assert sent_to(mock_telephony).count(TEXT) == 2, "sent: the later text was not this one"


async def test_a_failing_lookup_is_unavailable_and_changes_nothing(tm, mock_telephony, clock):
    notice = await notified(tm)
    mock_telephony.fail_next_text(ConnectionError("reset"))
    await tm.send(notice=notice)
    before = await raw(tm, notice)
    clock.advance(minutes=5)
    mock_telephony.fail_next_lookups(1)
    out = await tm.send(notice=notice)
    assert out["errorKind"] == "unavailable"
    assert await raw(tm, notice) == before
    assert mock_telephony.messages == []
    assert (await tm.send(notice=notice))["status"] == "SENT", "the next try settles it"


async def test_a_notice_over_twelve_hours_old_is_too_late(tm, mock_telephony, clock):
    notice = await notified(tm)
    clock.advance(hours=12, seconds=1)
    out = await tm.send(notice=notice)
    assert out == {"notice": notice, "status": "NOT_SENT", "reason": "too late to be of use"}
    assert mock_telephony.messages == []


async def test_a_notice_twelve_hours_old_is_still_sent(tm, mock_telephony, clock):
    notice = await notified(tm)
    clock.advance(hours=12)
    assert (await tm.send(notice=notice))["status"] == "SENT"


async def test_a_stuck_send_found_out_late_is_still_sent_and_one_not_found_is_too_late(
    tm, mock_telephony, clock
):
    went, lost = await notified(tm, "call-1"), await notified(tm, "call-2", number=OTHER)
    mock_telephony.fail_next_text(ConnectionError("reset"), still_sent=True)
    await tm.send(notice=went)
    mock_telephony.fail_next_text(ConnectionError("reset"), still_sent=False)
    await tm.send(notice=lost)
    clock.advance(hours=13)
    assert (await tm.send(notice=went))["status"] == "SENT"
    assert (await tm.send(notice=lost))["reason"] == "too late to be of use"
    assert len(mock_telephony.messages) == 1


async def test_a_stop_before_the_send_makes_it_not_sent(tm, mock_telephony):
    notice = await notified(tm)
    await receive(tm, "stop")
    out = await tm.send(notice=notice)
    assert out["status"] == "NOT_SENT" and out["reason"] == "the number replied STOP"
    assert mock_telephony.messages == []


async def test_a_replay_of_a_send_returns_its_outcome_and_sends_nothing(
    tm, engine, mock_telephony, clock
):
    notice = await notified(tm)
    aid = new_id()
    first = await engine.invoke("TextMessages", "send", {"notice": notice}, action_id=aid)
    assert first["status"] == "SENT"
    clock.advance(minutes=10)
    again = await engine.invoke("TextMessages", "send", {"notice": notice}, action_id=aid)
    assert again == first
    assert len(mock_telephony.messages) == 1


async def test_a_replay_of_a_refused_send_returns_the_refusal(tm, engine, mock_telephony):
    notice = await notified(tm)
    mock_telephony.fail_next_text(TelephonyError("blocked", code=30004))
    aid = new_id()
    first = await engine.invoke("TextMessages", "send", {"notice": notice}, action_id=aid)
    again = await engine.invoke("TextMessages", "send", {"notice": notice}, action_id=aid)
    assert first == again == {"notice": notice, "status": "NOT_SENT", "reason": "blocked"}
    assert mock_telephony.messages == []


async def test_a_replay_of_notify_returns_its_notice_not_a_conflict(tm, engine):
    inputs = {"user": "u1", "about": "call-7", "phoneNumber": NUMBER, "text": TEXT}
    aid = new_id()
    first = await engine.invoke("TextMessages", "notify", inputs, action_id=aid)
    again = await engine.invoke("TextMessages", "notify", inputs, action_id=aid)
    assert again == first and first["status"] == "PENDING"
    other = await engine.invoke("TextMessages", "notify", inputs, action_id=new_id())
    assert other["errorKind"] == "conflict"
    assert await tm.collection("notices").count_documents({}) == 1


# -- receive -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("Call me please", "call"),
        ("RING", "call"),
        ("now!", "call"),
        ("later", "later"),
        ("snooze 10", "later"),
        ("10", "later"),
        ("TYPE", "type"),
        ("write", "type"),
        ("Stop.", "stop"),
        ("\uff33\uff34\uff2f\uff30", "stop"),  # full-width
        ("unsubscribe me", "stop"),
        ("quit", "stop"),
        ("start", "start"),
        ("Yes", "start"),
        ("help?", "help"),
        ("info", "help"),
        ("please call", "call"),  # a leading word is passed over
        ("Yes, call me", "call"),
        ("hello, call me", "unknown"),
        ("", "unknown"),
        ("🙂", "unknown"),
    ],
)
async def test_receive_reads_the_first_word_as_a_command(tm, text, command):
    await texted(tm)
    out = await receive(tm, text)
    assert out == {"command": command, "user": "u1", "about": "call-7", "duplicate": False}


async def test_receive_is_for_the_newest_notice_to_that_number(tm, clock):
    await texted(tm, "call-1", user="u1")
    clock.advance(hours=1)
    await texted(tm, "call-2", user="u2", number=SPELLED)  # a shared (or passed-on) number
    await texted(tm, "call-3", user="u3", number=OTHER)
    out = await receive(tm, "call")
    assert (out["user"], out["about"]) == ("u2", "call-2")


async def test_a_reply_is_never_for_a_notice_that_was_not_sent(tm, clock):
    """A shared number: u1 was texted; u2's newer notice never went out (texts off), so
    a reply from the number is u1's, and never acts for u2."""
    await texted(tm, "call-1", user="u1")
    clock.advance(hours=1)
    await tm.setTexting(user="u2", on=False)
    out = await tm.notify(user="u2", about="call-2", phoneNumber=SPELLED, text=TEXT)
    assert out["status"] == "NOT_SENT"
    assert (await receive(tm, "call"))["user"] == "u1"
    assert await tm._replyingFor(phoneNumber=SPELLED) == [{"user": "u1"}]
    pending = await notified(tm, "call-3", user="u3", number=OTHER)
    assert (await receive(tm, "call", number=OTHER))["user"] is None, "not sent yet"
    await tm.send(notice=pending)
    assert (await receive(tm, "call", number=OTHER))["user"] == "u3"


async def test_a_reply_is_read_within_24_hours_of_the_notice(tm, clock):
    await texted(tm)
    clock.advance(seconds=REPLY_WINDOW.total_seconds() - 1)
    assert (await receive(tm, "call"))["user"] == "u1"
    clock.advance(seconds=2)
    out = await receive(tm, "call")
    assert out == {"command": "call", "user": None, "about": None, "duplicate": False}


async def test_a_reply_from_a_number_never_texted_is_for_no_one(tm):
    await texted(tm)
    out = await receive(tm, "call", number=OTHER)
    assert (out["user"], out["about"]) == (None, None)


async def test_a_message_received_twice_is_a_duplicate(tm):
    await texted(tm)
    first = await receive(tm, "call", sid="SM" + "1" * 32)
    again = await receive(tm, "call", sid="SM" + "1" * 32)
    assert first["duplicate"] is False
    assert again == {**first, "duplicate": True}
    assert await tm.collection("inbox").count_documents({}) == 1


async def test_a_replay_of_receive_returns_the_first_outcome_not_a_duplicate(tm, engine):
    await texted(tm)
    inputs = {"messageId": "SM" + "2" * 32, "phoneNumber": NUMBER, "text": "CALL"}
    aid = new_id()
    first = await engine.invoke("TextMessages", "receive", inputs, action_id=aid)
    again = await engine.invoke("TextMessages", "receive", inputs, action_id=aid)
    assert first == again and first["duplicate"] is False
    redelivered = await engine.invoke("TextMessages", "receive", inputs, action_id=new_id())
    assert redelivered["duplicate"] is True


@pytest.mark.parametrize("sender", ["TWILIO", "12345", "", "+1"])
async def test_a_sender_that_is_no_phone_number_is_invalid_and_changes_nothing(tm, sender):
    out = await tm.receive(messageId="SM" + "3" * 32, phoneNumber=sender, text="STOP")
    assert out["errorKind"] == "invalid"
    assert await tm.collection("inbox").count_documents({}) == 0
    assert await tm.collection("stops").count_documents({}) == 0


def test_receive_input_rules(tm):
    base = {"messageId": "SM1", "phoneNumber": NUMBER}
    assert errors_of(tm, "receive", {**base, "text": ""}) == []
    assert errors_of(tm, "receive", {**base, "text": "x" * 1600}) == []
    assert errors_of(tm, "receive", {**base, "text": "x" * 1601}) == [["body", "text"]]
    assert errors_of(tm, "receive", {**base, "messageId": "", "text": "x"}) == [
        ["body", "messageId"]
    ]


# -- STOP and START ------------------------------------------------------------------------


async def test_stop_and_start_hold_for_the_number_in_any_spelling(tm):
    assert not await stopped(tm)
    await receive(tm, "STOP", number=SPELLED)
    assert await stopped(tm, NUMBER) and await stopped(tm, "+1 415 555 0100")
    assert not await stopped(tm, OTHER)
    await receive(tm, "Start", number="+1-415-555-0100")
    assert not await stopped(tm, SPELLED)


async def test_stop_twice_keeps_one_stop_and_start_without_stop_is_fine(tm):
    await receive(tm, "start")
    assert not await stopped(tm)
    await receive(tm, "stop")
    await receive(tm, "quit")
    assert await tm.collection("stops").count_documents({}) == 1


async def test_is_stopped_answers_one_row_even_for_no_number(tm):
    assert await tm._isStopped(phoneNumber="not a number") == [{"stopped": False}]


async def test_a_stop_holds_across_a_key_rotation(async_db, clock, mock_telephony):
    """STOP under the old key, still stopped under a new primary key while the old one is
    configured (lookups try every key); START then lifts it, and a new STOP is one stop."""
    old = Encryptor([("old", bytes(32))])
    both = Encryptor([("new", bytes(range(32))), ("old", bytes(32))])
    before = TextMessages(async_db, services(clock, mock_telephony, old))
    await before.setup()
    first = await before.notify(user="u1", about="call-1", phoneNumber=NUMBER, text=TEXT)
    assert (await before.send(notice=first["notice"]))["status"] == "SENT"
    await receive(before, "STOP")
    after = TextMessages(async_db, services(clock, mock_telephony, both))
    assert await stopped(after, SPELLED)
    await receive(after, "STOP")
    assert await after.collection("stops").count_documents({}) == 1
    clock.advance(minutes=1)
    out = await after.notify(user="u1", about="call-2", phoneNumber=SPELLED, text=TEXT)
    assert out["status"] == "NOT_SENT"
    # found under the old key; call-2, never sent, is no one's to answer
    assert (await receive(after, "call"))["about"] == "call-1"
    await receive(after, "START")
    assert not await stopped(after) and not await stopped(before)
    assert await after.collection("stops").count_documents({}) == 1  # the number's one document


async def test_a_redelivered_start_does_not_undo_a_later_stop(tm):
    """A message delivered again (the same id) acts once: an old START delivered again
    after a newer STOP leaves the number stopped."""
    await receive(tm, "START", sid="SM" + "a" * 32)
    await receive(tm, "STOP", sid="SM" + "b" * 32)
    again = await receive(tm, "START", sid="SM" + "a" * 32)
    assert again["duplicate"] is True
    assert await stopped(tm)


async def test_a_redelivered_stop_does_not_undo_a_later_start(tm):
    await receive(tm, "STOP", sid="SM" + "c" * 32)
    await receive(tm, "START", sid="SM" + "d" * 32)
    await receive(tm, "STOP", sid="SM" + "c" * 32)
    assert not await stopped(tm)


def dying_at(tm: TextMessages, collection: str) -> TextMessages:
    """The concept in a process that dies just before its first write to ``collection``."""
    rule = Rule("crash", matches=on(f"TextMessages_{collection}"))
    return TextMessages(FaultyDatabase(tm.db, [rule]), tm.services)


async def test_a_stop_whose_run_died_then_a_start_then_the_stop_again_stays_started(tm):
    """STOP is kept, the run dies before the message is in the inbox; START comes; the
    provider delivers the STOP again (its webhook was never answered): it is acted on now
    (not a duplicate), and START, which came after it, stands."""
    stop = "SM" + "e" * 32
    with pytest.raises(ProcessDied):
        await receive(dying_at(tm, "inbox"), "STOP", sid=stop)
    assert await stopped(tm)
    await receive(tm, "START")
    again = await receive(tm, "STOP", sid=stop)
    assert (again["command"], again["duplicate"]) == ("stop", False)
    assert not await stopped(tm)
    assert await tm.collection("inbox").count_documents({"_id": stop}) == 1


async def test_a_stop_whose_run_died_before_any_write_counts_when_delivered_again(tm):
    stop = "SM" + "f" * 32
    with pytest.raises(ProcessDied):
        await receive(dying_at(tm, "stops"), "STOP", sid=stop)
    assert not await stopped(tm)
    again = await receive(tm, "STOP", sid=stop)
    assert again["duplicate"] is False and await stopped(tm)


async def test_a_replay_of_a_stop_that_died_half_way_finishes_it_once(tm, engine):
    """The engine runs the same action again on recovery: it finds the STOP kept and
    writes the inbox entry; a START since is not undone."""
    stop = {"messageId": "SM" + "9" * 32, "phoneNumber": NUMBER, "text": "STOP"}
    aid = new_id()
    dying = dying_at(tm, "inbox")
    eng = Engine(dying.db, [dying])
    await eng.start(background=False)
    with pytest.raises(ProcessDied):
        await eng.invoke("TextMessages", "receive", stop, action_id=aid)
    await receive(tm, "START")
    out = await engine.invoke("TextMessages", "receive", stop, action_id=aid)
    assert (out["command"], out["duplicate"]) == ("stop", False)
    assert not await stopped(tm)


# -- forgetUser ----------------------------------------------------------------------------


async def test_forget_user_deletes_their_notices_and_replies_but_keeps_the_stop(tm):
    await texted(tm, "call-1", user="u1")
    await texted(tm, "call-2", user="u2", number=OTHER)
    await receive(tm, "call")
    await receive(tm, "STOP")
    await receive(tm, "call", number=OTHER)
    assert await tm.forgetUser(user="u1") == {}
    assert await tm._notices(user="u1") == []
    assert await tm.collection("inbox").count_documents({"user": "u1"}) == 0
    assert len(await tm._notices(user="u2")) == 1
    assert await tm.collection("inbox").count_documents({"user": "u2"}) == 1
    assert await stopped(tm), "the number's STOP outlives the account"
    assert await tm.forgetUser(user="nobody") == {}


# -- at rest -------------------------------------------------------------------------------


async def test_numbers_and_texts_are_encrypted_at_rest(tm, encryptor):
    notice = await notified(tm, number=SPELLED)
    await tm.send(notice=notice)
    await receive(tm, REPLY)
    await receive(tm, "STOP")
    plain = ["4155550100", "415 555", "reach you", "Call me", "at home"]
    for name in ("notices", "inbox", "stops"):
        async for doc in tm.collection(name).find({}):
            assert not any(p in str(doc) for p in plain), (name, doc)
    doc = await raw(tm, notice)
    assert encryptor.decrypt(doc["to"], user="u1", field="TextMessages.to") == NUMBER
    assert encryptor.decrypt(doc["text"], user="u1", field="TextMessages.text") == TEXT
    (entry,) = [e async for e in tm.collection("inbox").find({"command": "call"})]
    assert set(entry) >= {"user", "command", "receivedAt"} and "text" not in entry


def test_numbers_and_texts_are_sealed_in_the_action_log(tm):
    ops = describe_operations(tm)
    assert {"phoneNumber", "text"} <= set(ops["notify"].private)
    assert {"phoneNumber", "text"} <= set(ops["receive"].private)
    assert "phoneNumber" in ops["_isStopped"].private


# -- the account's choice: setTexting, _texting ----------------------------------------------


async def test_texts_are_on_by_default_with_no_last_one(tm):
    assert await tm._texting(user="u1") == [{"on": True, "last": None}]


async def test_texts_turned_off_make_a_notice_not_sent(tm, mock_telephony):
    assert await tm.setTexting(user="u1", on=False) == {"on": False}
    notice = await notified(tm)
    assert (await raw(tm, notice))["reason"] == "texts are turned off in the app"
    (row,) = await tm._texting(user="u1")
    assert row["on"] is False and row["last"]["status"] == "NOT_SENT"
    assert mock_telephony.messages == []


async def test_texts_turned_off_after_the_notice_stop_its_send(tm, mock_telephony):
    notice = await notified(tm)
    await tm.setTexting(user="u1", on=False)
    out = await tm.send(notice=notice)
    assert out["status"] == "NOT_SENT" and out["reason"] == "texts are turned off in the app"
    assert mock_telephony.messages == []


async def test_texts_turned_on_again_are_sent_and_the_choice_is_the_accounts_only(
    tm, mock_telephony
):
    await tm.setTexting(user="u1", on=False)
    await tm.setTexting(user="u1", on=True)
    assert (await tm.send(notice=await notified(tm)))["status"] == "SENT"
    await tm.setTexting(user="u2", on=False)
    assert (await tm._texting(user="u1"))[0]["on"] is True
    (row,) = await tm._texting(user="u1")
    assert row["last"]["status"] == "SENT" and row["last"]["sentAt"] is not None


async def test_set_texting_takes_only_a_boolean(tm):
    assert (await tm.setTexting(user="u1", on="yes"))["errorKind"] == "invalid"
    assert await tm._texting(user="u1") == [{"on": True, "last": None}]


async def test_forget_user_forgets_the_choice(tm):
    await tm.setTexting(user="u1", on=False)
    await tm.forgetUser(user="u1")
    assert await tm._texting(user="u1") == [{"on": True, "last": None}]
