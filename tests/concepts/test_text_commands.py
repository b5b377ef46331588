"""The words of a text reply, over any input (concepts/text_messages/commands.py), and
STOP/START over any sequence of replies, crashes and deliveries again: the number is
stopped iff the carrier keyword latest in line was a STOP (docs/concepts/TextMessages.md, receive)."""

from __future__ import annotations

import re
import typing
import unicodedata
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from concepts.text_messages import Command, TextMessages, command_of
from concepts.text_messages.commands import LEADING, NEGATIONS, WORDS
from services.app.clock import FakeClock
from services.encryption.keys import Encryptor
from services.telephony.mock import MockTelephony
from tests.concepts.loop_harness import Harness
from tests.faults import FaultyDatabase, ProcessDied

COMMANDS = set(typing.get_args(Command))
# what may stand between words: spaces, punctuation, a new line, an ideographic space
SEPARATORS = [" ", ".", ",", "!", "?", "-", "_", "'", "\n", "\t", "\u3000", "\u3002", "/"]
ASCII_WORD = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    min_size=1,
    max_size=12,
)


def full_width(text: str) -> str:
    """ASCII letters and digits as their full-width forms (as some phones type them)."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


@st.composite
def spelled(draw: st.DrawFn, word: str) -> str:
    """``word`` in any case, perhaps full-width."""
    cased = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in word)
    return full_width(cased) if draw(st.booleans()) else cased


def no_word_in(text: str) -> bool:
    return re.search(r"[^\W_]", unicodedata.normalize("NFKC", text).upper()) is None


# leading noise that holds no word: punctuation, spaces, emoji
NOISE = st.text(
    alphabet=st.one_of(
        st.characters(categories=("P", "Zs")), st.sampled_from(["🙂", "👍", "❤", "\n"])
    ),
    max_size=6,
).filter(no_word_in)


@settings(max_examples=400)
@given(st.text(max_size=200))
def test_command_of_never_raises_and_names_a_command(text: str) -> None:
    assert command_of(text) in COMMANDS


@settings(max_examples=300)
@given(st.data(), st.sampled_from(sorted(WORDS)), NOISE, st.sampled_from(SEPARATORS), st.text())
def test_the_first_word_decides_in_any_case_width_or_punctuation(
    data: st.DataObject, word: str, noise: str, separator: str, rest: str
) -> None:
    assume(word not in LEADING)
    text = noise + data.draw(spelled(word)) + separator + rest
    assert command_of(text) == WORDS[word]


@settings(max_examples=300)
@given(st.sampled_from(sorted(WORDS)), NOISE, st.sampled_from(SEPARATORS))
def test_a_command_word_alone_or_at_the_end_of_noise_is_that_command(
    word: str, noise: str, after: str
) -> None:
    assert command_of(word) == WORDS[word]
    assert command_of(noise + word.lower() + after) == WORDS[word]


@settings(max_examples=300)
@given(st.data(), ASCII_WORD, NOISE, st.sampled_from(SEPARATORS), st.sampled_from(sorted(WORDS)))
def test_a_first_word_not_in_the_list_is_unknown_whatever_follows(
    data: st.DataObject, word: str, noise: str, separator: str, later: str
) -> None:
    assume(word.upper() not in WORDS and word.upper() not in LEADING)
    text = noise + data.draw(spelled(word)) + separator + later  # a command word later
    assert command_of(text) == "unknown"


LEADING_WORDS = st.lists(st.sampled_from(sorted(LEADING)), min_size=1, max_size=3)


@settings(max_examples=300)
@given(st.data(), LEADING_WORDS, st.sampled_from(sorted(WORDS)), NOISE, st.sampled_from(SEPARATORS))
def test_leading_words_are_passed_over_for_the_word_after_them(
    data: st.DataObject, leading: list[str], word: str, noise: str, separator: str
) -> None:
    """ "Yes, call me" is a call and "please stop" a STOP: the first word that is not a
    leading one decides, when nothing after it says otherwise."""
    assume(word not in LEADING)
    words = [data.draw(spelled(w)) for w in [*leading, word]]
    text = noise + separator.join(words) + separator + data.draw(st.sampled_from(["me", "now", ""]))
    expected = WORDS[word] if not text.upper().endswith("NOW") or WORDS[word] == "stop" else None
    assert command_of(text) == (expected or "unknown")


@settings(max_examples=300)
@given(
    st.data(),
    LEADING_WORDS,
    st.sampled_from(sorted(WORDS)),
    st.sampled_from(sorted(WORDS) + sorted(NEGATIONS)),
    st.sampled_from(SEPARATORS),
)
def test_after_leading_words_another_command_or_a_negation_asks_for_nothing(
    data: st.DataObject, leading: list[str], word: str, later: str, separator: str
) -> None:
    """ "OK, now is not a good time" and "Yes, call me later" are no call: the help,
    rather than a call no one wanted. A STOP word is a STOP whatever follows it."""
    assume(word not in LEADING)
    words = [data.draw(spelled(w)) for w in [*leading, word, "me", later]]
    expected = "stop" if WORDS[word] == "stop" else "unknown"
    assert command_of(separator.join(words)) == expected


@given(st.lists(st.sampled_from(sorted(LEADING)), min_size=1, max_size=3), NOISE)
def test_leading_words_alone_are_read_by_the_first(leading: list[str], noise: str) -> None:
    """A bare "Yes" (or "yes please") is the carriers' opt-in word; "OK" alone is none."""
    assert command_of(noise + " ".join(leading)) == WORDS.get(leading[0], "unknown")


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("Yes, call me", "call"),
        ("yes please call", "call"),
        ("OK later", "later"),
        ("Sure! type", "type"),
        ("Please stop", "stop"),
        ("Yes", "start"),
        ("yes please", "start"),
        ("OK", "unknown"),
        ("Not now", "unknown"),
        ("Yes not now", "unknown"),
        ("Yes, call me later", "unknown"),
        ("Okay, now is not a good time", "unknown"),
        ("ok don't call", "unknown"),
        ("Please stop sending me these texts", "stop"),
    ],
)
def test_leading_words_in_replies_people_write(text: str, command: str) -> None:
    assert command_of(text) == command


@given(st.sampled_from(sorted(WORDS)), ASCII_WORD)
def test_a_command_word_run_into_other_letters_is_another_word(word: str, tail: str) -> None:
    assume((word + tail).upper() not in WORDS)
    assert command_of(word + tail) == "unknown"


@given(NOISE)
def test_text_without_a_word_is_unknown(noise: str) -> None:
    assert command_of(noise) == "unknown"


# -- STOP and START over any sequence of replies -------------------------------------------

NUMBER = "+14155550100"
SPELLINGS = [NUMBER, "+1 415 555 0100", "+1 (415) 555-0100", "+1-415-555-0100"]
STOPS = sorted(w for w, c in WORDS.items() if c == "stop")
STARTS = sorted(w for w, c in WORDS.items() if c == "start")
OTHERS = [*sorted(w for w, c in WORDS.items() if c not in ("stop", "start")), "hello", ""]
OLD_KEY, NEW_KEY = ("k1", bytes(32)), ("k2", bytes(range(32)))


class StopStartMachine(RuleBasedStateMachine):
    """Replies from one number, each spelled any way, some delivered again, some whose run
    dies at any write (and is delivered again later), with the encryption keys rotated at
    some point. The model: a message takes its place in line when the first of its writes
    lands (a run that died before any write left nothing to go by); the number is stopped iff, among the keyword messages acted
    on, the one latest in line said STOP; a notice then is NOT_SENT."""

    harness: Harness
    messages = Bundle("messages")
    dying: FaultyDatabase | None = None  # the database handle of the last run made to die

    def __init__(self) -> None:
        super().__init__()
        self.db_name = f"texts_{uuid.uuid4().hex[:12]}"
        self.clock = FakeClock()
        self.telephony = MockTelephony(seed=0, clock=self.clock.now)
        self.encryptor = Encryptor([OLD_KEY])
        self.concept = self.made()
        self.harness.run(self.concept.setup())
        self.rotated = False
        self.notices = 0
        # the model
        self.places: dict[str, int] = {}  # a message's place in line, once its arrival is kept
        self.commands: dict[str, str] = {}
        self.texts: dict[str, str] = {}
        self.acted_on: set[str] = set()
        self.died: set[str] = set()  # messages whose run died, not yet acted on

    def made(self, crash_at: int | None = None) -> TextMessages:
        db = self.harness.client[self.db_name]
        if crash_at is not None:
            db = self.dying = FaultyDatabase.crash_at(db, crash_at)
        return TextMessages(
            db, {"clock": self.clock, "encryption": self.encryptor, "telephony": self.telephony}
        )

    def teardown(self) -> None:
        self.harness.run(self.harness.client.drop_database(self.db_name))

    @property
    def stopped(self) -> bool:
        kept = [
            (self.places[m], self.commands[m])
            for m in self.acted_on
            if self.commands[m] in ("stop", "start")
        ]
        return max(kept)[1] == "stop" if kept else False

    def take_place(self, message_id: str) -> None:
        self.places.setdefault(message_id, len(self.places))

    def receive(self, message_id: str, text: str, spelling: str) -> dict[str, Any]:
        self.clock.advance(seconds=1)
        out = self.harness.run(
            self.concept.receive(messageId=message_id, phoneNumber=spelling, text=text)
        )
        assert "error" not in out, out
        assert out["duplicate"] is (message_id in self.acted_on), out
        self.take_place(message_id)
        self.acted_on.add(message_id)
        self.died.discard(message_id)
        return out

    @initialize()
    def start(self) -> None:
        pass

    @rule(
        target=messages,
        word=st.one_of(st.sampled_from(STOPS), st.sampled_from(STARTS), st.sampled_from(OTHERS)),
        after=st.sampled_from(["", ".", " please", "!!", " 🙂"]),
        lower=st.booleans(),
        spelling=st.sampled_from(SPELLINGS),
        dies_at=st.one_of(st.none(), st.integers(1, 5)),
    )
    def reply(
        self, word: str, after: str, lower: bool, spelling: str, dies_at: int | None
    ) -> tuple[str, str]:
        """A new message; with ``dies_at``, its run dies just before that write (a run
        that has fewer writes finishes)."""
        text = (word.lower() if lower else word) + after
        message_id = "SM" + uuid.uuid4().hex
        self.commands[message_id] = command_of(text)
        self.texts[message_id] = text
        if dies_at is None:
            self.receive(message_id, text, spelling)
            return message_id, text
        self.clock.advance(seconds=1)
        dying = self.made(crash_at=dies_at)
        try:
            out = self.harness.run(
                dying.receive(messageId=message_id, phoneNumber=spelling, text=text)
            )
        except ProcessDied:
            self.died.add(message_id)
            assert self.dying is not None
            if len(self.dying.writes) > 1:  # a write of it landed: it has begun, in line
                self.take_place(message_id)
        else:
            assert out["duplicate"] is False, out
            self.take_place(message_id)
            self.acted_on.add(message_id)
        return message_id, text

    @rule(message=messages, spelling=st.sampled_from(SPELLINGS))
    def delivered_again(self, message: tuple[str, str], spelling: str) -> None:
        """The provider delivers the message again: a duplicate if it was acted on; else
        (its run died) this delivery acts on it, in its place in line."""
        message_id, text = message
        self.receive(message_id, text, spelling)

    @precondition(lambda self: self.died)
    @rule(data=st.data(), spelling=st.sampled_from(SPELLINGS))
    def died_delivered_again(self, data: st.DataObject, spelling: str) -> None:
        """The provider delivers a message whose run died again (it retries until answered)."""
        message_id = data.draw(st.sampled_from(sorted(self.died)))
        self.receive(message_id, self.texts[message_id], spelling)

    @rule()
    def rotate_keys(self) -> None:
        """A new primary key, the old one still configured (docs/encryption.md)."""
        if not self.rotated:
            self.encryptor = Encryptor([NEW_KEY, OLD_KEY])
            self.concept = self.made()
            self.rotated = True

    @rule(spelling=st.sampled_from(SPELLINGS))
    def notify(self, spelling: str) -> None:
        self.notices += 1
        out = self.harness.run(
            self.concept.notify(
                user="u1", about=f"call-{self.notices}", phoneNumber=spelling, text="missed"
            )
        )
        if not self.died:  # a run that died may or may not have kept its STOP or START yet
            assert out["status"] == ("NOT_SENT" if self.stopped else "PENDING"), out

    @invariant()
    def stopped_iff_the_last_keyword_in_line_was_stop(self) -> None:
        if self.died:
            return  # not settled until those messages are delivered again
        for spelling in (NUMBER, SPELLINGS[2]):
            rows = self.harness.run(self.concept._isStopped(phoneNumber=spelling))
            assert rows == [{"stopped": self.stopped}]
        stops = self.concept.collection("stops")
        assert self.harness.run(stops.count_documents({})) <= 1, "one document per number"


def test_stopped_iff_the_last_carrier_keyword_was_stop(harness: Harness) -> None:
    StopStartMachine.harness = harness
    run_state_machine_as_test(
        StopStartMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
