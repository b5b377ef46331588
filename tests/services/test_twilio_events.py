"""Twilio's Gather fields -> the neutral ``/call/heard`` event: a key, speech or silence."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.webhooks.twilio_events import event_for

SID = {"CallSid": "CA" + "1" * 32}


def test_a_key_is_heard_as_a_key_and_wins_over_speech():
    for name, path in (("gather", "/call/heard"), ("rating", "/call/rating")):
        event = event_for(name, {**SID, "Digits": "9", "SpeechResult": "hello"}, {"call": "c1"})
        assert event == (
            path,
            {"call": "c1", "callSid": SID["CallSid"], "heard": "key", "key": "9", "text": ""},
        )


def test_blank_digits_leave_speech_or_silence():
    _, body = event_for("gather", {**SID, "Digits": "", "SpeechResult": "Family."}, {})
    assert (body["heard"], body["text"]) == ("speech", "Family.")
    assert "key" not in body
    _, body = event_for("gather", {**SID, "Digits": " "}, {})
    assert (body["heard"], body["text"]) == ("silence", "")


@given(st.sampled_from("0123456789*#"), st.text(max_size=20))
def test_every_key_of_the_keypad_is_passed_on_as_pressed(key: str, speech: str):
    _, body = event_for("gather", {**SID, "Digits": key, "SpeechResult": speech}, {})
    assert (body["heard"], body["key"], body["text"]) == ("key", key, "")
