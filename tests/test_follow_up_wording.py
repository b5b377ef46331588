"""The follow-up's words (syncs/follow_up.py): which day, in the user's time zone, and the
answer as said, whole or cut at a sentence or a word."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from hypothesis import example, given
from hypothesis import strategies as st

from syncs.follow_up import MAX_SPOKEN_CHARS, WEEKDAYS, recall, spoken_answer, when_said
from syncs.wording import call_script, greeting

UTC = dt.UTC
ZONES = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "America/St_Johns",  # -3:30, with summer time
    "Asia/Tokyo",
    "Asia/Kathmandu",  # +5:45
    "Australia/Lord_Howe",  # a half-hour summer shift
    "Pacific/Kiritimati",  # +14
    "Pacific/Pago_Pago",  # -11
]
instants = st.datetimes(
    min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 12, 31), timezones=st.just(UTC)
)


# -- which day -----------------------------------------------------------------------------


def test_yesterday_is_the_users_yesterday_not_the_servers() -> None:
    # 23:30 on 1 March in Tokyo, recalled at 00:30 on 2 March there: the same day in UTC
    said = dt.datetime(2026, 3, 1, 14, 30, tzinfo=UTC)
    now = dt.datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    assert when_said(said, now, "Asia/Tokyo") == "Yesterday"
    assert when_said(said, now, "UTC") == "Earlier today"
    assert when_said(said, now, "Pacific/Pago_Pago") == "Earlier today"  # 03:30 and 04:30


def test_the_days_of_the_week_then_the_date() -> None:
    now = dt.datetime(2026, 3, 11, 19, 0, tzinfo=UTC)  # a Wednesday
    days = {n: when_said(now - dt.timedelta(days=n), now, "UTC") for n in (0, 1, 2, 6, 7, 29)}
    assert days == {
        0: "Earlier today",
        1: "Yesterday",
        2: "On Monday",
        6: "On Thursday",
        7: "On March 4",
        29: "On February 10",
    }


@given(said=instants, hours=st.floats(0, 24 * 31), zone=st.sampled_from(ZONES))
@example(
    said=dt.datetime(2026, 3, 28, 23, 30, tzinfo=UTC),
    hours=1.0,
    zone="Europe/London",  # the night the clocks go forward
)
def test_property_the_day_named_is_the_local_calendar_day(
    said: dt.datetime, hours: float, zone: str
) -> None:
    now = said + dt.timedelta(hours=hours)
    local = ZoneInfo(zone)
    ago = (now.astimezone(local).date() - said.astimezone(local).date()).days
    words = when_said(said, now, zone)
    assert (words == "Yesterday") == (ago == 1)
    assert (words == "Earlier today") == (ago == 0)
    if 2 <= ago <= 6:
        assert words == f"On {WEEKDAYS[said.astimezone(local).weekday()]}"
    if ago >= 7:
        day = said.astimezone(local)
        assert re.fullmatch(rf"On [A-Z][a-z]+ {day.day}", words), words


def test_an_unknown_zone_reads_the_day_in_utc() -> None:
    now = dt.datetime(2026, 3, 11, 1, 0, tzinfo=UTC)
    assert when_said(now - dt.timedelta(hours=2), now, "Nowhere/Gone") == "Yesterday"


# -- the answer as said --------------------------------------------------------------------


def test_a_short_answer_is_said_whole_with_a_full_stop() -> None:
    assert spoken_answer("patience") == "patience."
    assert spoken_answer("  be\npatient,  ") == "be patient."
    assert spoken_answer("Was it enough?") == "Was it enough?"
    assert spoken_answer("...") is None and spoken_answer(" - ") is None


def test_a_long_answer_is_cut_after_the_last_sentence_that_fits() -> None:
    first = "I want to carry patience. " * 4  # 104 characters
    text = first + "And then a very long second thought that goes on " * 3
    assert spoken_answer(text) == first.strip()


def test_a_long_sentence_is_cut_at_a_word() -> None:
    text = "and " * 60  # no sentence ends
    said = spoken_answer(text)
    assert said.endswith("and…") and len(said) <= MAX_SPOKEN_CHARS


words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12)


@given(
    parts=st.lists(
        st.tuples(words, st.sampled_from([" ", "  ", "\n", ". ", "! ", "? ", ", ", "\u2014"])),
        max_size=60,
    )
)
def test_property_the_answer_said_is_the_start_of_the_answer_cut_at_a_boundary(parts) -> None:
    text = "".join(w + sep for w, sep in parts)
    said = spoken_answer(text)
    flat = " ".join(text.split())
    if said is None:
        assert not any(ch.isalnum() for ch in flat)
        return
    assert len(said) <= MAX_SPOKEN_CHARS + 1 and said[-1] in ".!?…"
    assert any(ch.isalnum() for ch in said)
    body = said[:-1]  # what is said of the answer, but the full stop or the ellipsis
    assert flat.startswith(body), (flat, said)
    if len(flat) <= MAX_SPOKEN_CHARS:  # whole: at most a trailing comma or dash made a stop
        assert flat[len(body) :].strip(",;:-\u2013\u2014 ") in ("", said[-1]), (flat, said)
    else:  # cut where a word or a sentence ends, if a word ends before the limit
        assert len(body) < MAX_SPOKEN_CHARS
        space = flat.rfind(" ", 0, MAX_SPOKEN_CHARS)
        if any(ch.isalnum() for ch in flat[: max(space, 0)]):
            assert not flat[len(body)].isalnum(), (flat, said)


# -- the sentence and the greeting -----------------------------------------------------------


def test_the_recall_quotes_the_question_and_the_answer_as_given() -> None:
    said_at = dt.datetime(2026, 3, 10, 19, 0, tzinfo=UTC)
    now = said_at + dt.timedelta(days=1)
    assert recall("What will you carry into tomorrow?", "patience", said_at, now, "UTC") == (
        'Yesterday, when I asked "What will you carry into tomorrow?", you said: patience.'
    )
    assert recall("What will you carry?", "?!", said_at, now, "UTC") is None


def test_the_greeting_says_the_recall_between_hello_and_the_first_prompt() -> None:
    assert greeting("Ada", "First?", "Yesterday, ...") == [
        "Hi Ada. It's time for your daily reflection.",
        "Yesterday, ...",
        "First?",
    ]
    assert greeting("Ada", "First?") == greeting("Ada", "First?", None)
    assert call_script("Ada", ["First?"], False, "R.")[:3] == [
        greeting("Ada", "x")[0],
        "R.",
        "First?",
    ]
