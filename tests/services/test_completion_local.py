"""The local completion rules: a labelled table plus properties that must always hold."""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.completion import (
    COMPLETE_THRESHOLD,
    CompletionChecker,
    CompletionVerdict,
    should_advance,
)
from services.completion.local import LocalCompletionChecker
from services.devtools.mock_completion import MockCompletionChecker

GRATEFUL = "Who are you grateful for today?"
DAY = "How was your day?"
LEARN = "What did you learn today?"
SLEEP = "Did you sleep well last night?"
HARD = "What was the hardest part of your day?"
TOMORROW = "What would you do differently tomorrow?"
OPEN = "What are you grateful for?"

RULES = LocalCompletionChecker()


def judge(question: str, answer: str, pause: float) -> CompletionVerdict:
    return RULES.judge(question=question, answer=answer, pause_seconds=pause)


COMPLETE, INCOMPLETE = True, False  # expected is_complete

TABLE = [
    # --- short answers can be complete after a real pause
    pytest.param(GRATEFUL, "My sister.", 2.5, COMPLETE, id="short-noun-phrase-punctuated"),
    pytest.param(GRATEFUL, "my sister", 3.0, COMPLETE, id="short-noun-phrase-no-punctuation"),
    pytest.param(GRATEFUL, "my mom and my dad", 2.5, COMPLETE, id="coordination-inside-is-fine"),
    pytest.param(
        "Who came with you?", "my sister and I", 3.0, COMPLETE, id="ends-with-and-I-noun-phrase"
    ),
    pytest.param(LEARN, "patience", 4.0, COMPLETE, id="one-word-answer"),
    pytest.param(DAY, "it was good", 2.0, COMPLETE, id="sentence-at-2s"),
    pytest.param(DAY, "pretty rough honestly", 3.0, COMPLETE, id="adverb-ending"),
    pytest.param(DAY, "okay", 2.5, COMPLETE, id="okay-answers-how"),
    pytest.param(LEARN, "I learned that I need more sleep", 2.5, COMPLETE, id="full-sentence"),
    pytest.param(
        HARD,
        "work was stressful and my boss was upset with me",
        2.2,
        COMPLETE,
        id="long-with-inner-and",
    ),
    pytest.param(HARD, "I gave up", 2.5, COMPLETE, id="phrasal-particle-not-preposition"),
    pytest.param("What went well today?", "I slept well", 2.5, COMPLETE, id="well-as-adverb"),
    pytest.param(HARD, "I don't know", 3.0, COMPLETE, id="i-dont-know"),
    pytest.param(HARD, "I don't know why", 3.0, COMPLETE, id="wh-word-after-know"),
    pytest.param(HARD, "it is what it is", 3.0, COMPLETE, id="copula-after-pronoun"),
    pytest.param("What makes you happy?", "things I like", 3.0, COMPLETE, id="like-as-verb"),
    pytest.param("Will it get better?", "I think so", 3.0, COMPLETE, id="think-so"),
    pytest.param(TOMORROW, "I would call my mom more", 2.0, COMPLETE, id="conditional-sentence"),
    # --- yes/no questions
    pytest.param(SLEEP, "yes", 1.5, COMPLETE, id="yes-to-yes-no"),
    pytest.param(SLEEP, "Yes, I did.", 1.0, COMPLETE, id="yes-i-did"),
    pytest.param(SLEEP, "mm-hmm", 2.0, COMPLETE, id="mm-hmm-means-yes"),
    pytest.param(SLEEP, "not really", 2.0, COMPLETE, id="not-really"),
    pytest.param(SLEEP, "yeah kind of", 2.5, COMPLETE, id="kind-of-as-whole-answer"),
    pytest.param("Did it help?", "yes, sort of", 2.0, COMPLETE, id="sort-of-after-yes"),
    pytest.param("Anything else?", "nope", 1.2, COMPLETE, id="nope-to-anything-else"),
    pytest.param("Did it help?", "it was kind of", 4.0, INCOMPLETE, id="kind-of-mid-sentence"),
    # --- explicit closings, whatever the pause
    pytest.param(LEARN, "that's it", 0.5, COMPLETE, id="thats-it"),
    pytest.param(LEARN, "that's all I can think of", 1.0, COMPLETE, id="closing-ending-in-of"),
    pytest.param(HARD, "work mostly so yeah", 1.5, COMPLETE, id="so-yeah"),
    # --- very long pauses
    pytest.param(LEARN, "I went to the store", 7.0, COMPLETE, id="sentence-7s"),
    pytest.param(HARD, "work", 8.0, COMPLETE, id="one-word-8s"),
    pytest.param(OPEN, "yeah", 7.0, COMPLETE, id="acknowledgement-after-very-long-pause"),
    pytest.param(
        TOMORROW, "if I had more time", 8.0, COMPLETE, id="if-clause-after-very-long-pause"
    ),
    # --- nothing said
    pytest.param(GRATEFUL, "", 5.0, INCOMPLETE, id="empty"),
    pytest.param(GRATEFUL, "   ", 5.0, INCOMPLETE, id="whitespace"),
    pytest.param(GRATEFUL, "...", 5.0, INCOMPLETE, id="only-punctuation"),
    # --- lone fillers
    pytest.param(GRATEFUL, "um", 8.0, INCOMPLETE, id="um-alone"),
    pytest.param(GRATEFUL, "Uh.", 3.0, INCOMPLETE, id="uh-alone"),
    pytest.param(DAY, "well", 5.0, INCOMPLETE, id="well-alone"),
    pytest.param(DAY, "hmm", 6.0, INCOMPLETE, id="hmm-alone"),
    # --- trailing off, regardless of pause
    pytest.param(GRATEFUL, "my sister and", 8.0, INCOMPLETE, id="trailing-and"),
    pytest.param(GRATEFUL, "my sister because", 3.0, INCOMPLETE, id="trailing-because"),
    pytest.param(DAY, "it was fine but", 4.0, INCOMPLETE, id="trailing-but"),
    pytest.param(DAY, "I was tired or", 10.0, INCOMPLETE, id="trailing-or-10s"),
    pytest.param(LEARN, "I learned that the", 6.0, INCOMPLETE, id="trailing-the"),
    pytest.param(LEARN, "I found a", 6.0, INCOMPLETE, id="trailing-a"),
    pytest.param(LEARN, "I went to the store with", 3.0, INCOMPLETE, id="trailing-with"),
    pytest.param(LEARN, "I want to talk to", 3.0, INCOMPLETE, id="trailing-to"),
    pytest.param(HARD, "the hardest part was...", 9.0, INCOMPLETE, id="ellipsis"),
    pytest.param(HARD, "the hardest part was\u2026", 9.0, INCOMPLETE, id="unicode-ellipsis"),
    pytest.param(HARD, "I was think-", 3.0, INCOMPLETE, id="dash-cut-off"),
    pytest.param(HARD, "work, and", 3.0, INCOMPLETE, id="comma-and"),
    pytest.param(HARD, "the hardest part was", 5.0, INCOMPLETE, id="projecting-noun-copula"),
    pytest.param(HARD, "it was hard, you know", 6.0, INCOMPLETE, id="trailing-you-know"),
    pytest.param(HARD, "and I mean", 4.0, INCOMPLETE, id="trailing-i-mean"),
    pytest.param(HARD, "it was like", 6.0, INCOMPLETE, id="trailing-like"),
    pytest.param(HARD, "first of all", 4.0, INCOMPLETE, id="discourse-opener"),
    pytest.param(DAY, "it was so", 3.0, INCOMPLETE, id="trailing-so"),
    pytest.param(DAY, "so", 3.0, INCOMPLETE, id="so-alone"),
    pytest.param(DAY, "I'm", 6.0, INCOMPLETE, id="open-contraction"),
    pytest.param(DAY, "it was really", 5.0, INCOMPLETE, id="adverb-needs-head"),
    pytest.param(TOMORROW, "I would probably", 4.0, INCOMPLETE, id="modal-adverb"),
    pytest.param(TOMORROW, "and then I", 6.0, INCOMPLETE, id="new-clause-subject"),
    pytest.param(TOMORROW, "because we", 4.0, INCOMPLETE, id="because-we"),
    pytest.param(DAY, "I feel like", 6.0, INCOMPLETE, id="feel-like"),
    pytest.param("Did you exercise?", "I wanted to", 4.0, INCOMPLETE, id="ambiguous-ellipsis-to"),
    pytest.param(DAY, "the thing is", 4.0, INCOMPLETE, id="the-thing-is"),
    pytest.param(HARD, "my friend who", 3.0, INCOMPLETE, id="relative-who"),
    # --- no real pause yet
    pytest.param(GRATEFUL, "my sister", 0.3, INCOMPLETE, id="no-pause-yet"),
    pytest.param(DAY, "it was good", 1.0, INCOMPLETE, id="one-second-pause"),
    # --- lead-ins that need a very long pause
    pytest.param(OPEN, "yeah", 2.5, INCOMPLETE, id="acknowledgement-only"),
    pytest.param(TOMORROW, "if I had more time", 2.5, INCOMPLETE, id="lone-if-clause"),
]


@pytest.mark.parametrize(("question", "answer", "pause", "expected"), TABLE)
def test_labelled_examples(question: str, answer: str, pause: float, expected: bool) -> None:
    verdict = judge(question, answer, pause)
    assert verdict.is_complete is expected, verdict.reasoning
    assert verdict.source == "local"


def test_table_is_big_enough() -> None:
    assert len(TABLE) >= 40


@pytest.mark.parametrize(
    ("question", "answer", "pause"),
    [
        (GRATEFUL, "My sister.", 2.5),
        (LEARN, "I learned that I need more sleep", 3.0),
        (HARD, "work", 8.0),
        (SLEEP, "yes", 2.0),
        (LEARN, "that's it", 1.0),
    ],
)
def test_clear_complete_is_confident_and_advances(question: str, answer: str, pause: float) -> None:
    verdict = judge(question, answer, pause)
    assert verdict.confidence >= 0.8
    assert should_advance(verdict)


@pytest.mark.parametrize(
    "answer",
    ["my sister and", "I went to the", "um", "the best part was...", "I was think-", "I'm"],
)
@pytest.mark.parametrize("pause", [0.5, 2.5, 12.0])
def test_clear_trailing_off_has_low_confidence(answer: str, pause: float) -> None:
    verdict = judge(GRATEFUL, answer, pause)
    assert not verdict.is_complete
    assert verdict.confidence <= 0.3
    assert not should_advance(verdict)


def test_longer_pause_never_lowers_confidence() -> None:
    pauses = [0, 0.5, 1, 1.5, 1.8, 2, 3, 4, 6, 8, 10, 30]
    for answer in ["my sister", "I went for a walk", "yeah", "if I had more time"]:
        scores = [judge(GRATEFUL, answer, p).confidence for p in pauses]
        assert scores == sorted(scores), answer


def test_ambiguous_ellipsis_is_incomplete_but_less_sure() -> None:
    ellipsis = judge("Did you call her?", "I wanted to", 5.0)
    trailing = judge("Did you call her?", "I went to", 5.0)
    assert not ellipsis.is_complete and not trailing.is_complete
    assert trailing.confidence < ellipsis.confidence <= 0.5


def test_threshold_and_decision_rule() -> None:
    assert COMPLETE_THRESHOLD == 0.6
    assert not should_advance(CompletionVerdict(True, 0.6, "", "local"))
    assert should_advance(CompletionVerdict(True, 0.61, "", "local"))
    assert not should_advance(CompletionVerdict(False, 0.99, "", "gemini"))


def test_local_reasoning_does_not_quote_the_answer() -> None:
    secret = "zanzibarqux"
    for answer in [f"{secret}", f"{secret} and", f"{secret} was", f"what {secret} was"]:
        assert secret not in judge(HARD, answer, 3.0).reasoning


def test_check_is_the_async_form_of_judge() -> None:
    verdict = asyncio.run(RULES.check(question=GRATEFUL, answer="my sister", pause_seconds=3.0))
    assert verdict == judge(GRATEFUL, "my sister", 3.0)


def test_checkers_satisfy_the_protocol() -> None:
    assert isinstance(LocalCompletionChecker(), CompletionChecker)
    assert isinstance(MockCompletionChecker(), CompletionChecker)


# --- mock --------------------------------------------------------------------


def test_mock_matches_local_rules() -> None:
    mock = MockCompletionChecker()
    for question, answer, pause, _ in (p.values for p in TABLE):
        got = asyncio.run(mock.check(question=question, answer=answer, pause_seconds=pause))
        assert got == judge(question, answer, pause)
        assert got.source == "local"
    assert mock.calls == len(TABLE)


def test_mock_delay_is_respected() -> None:
    async def order(delay_s: float) -> list[str]:
        seen: list[str] = []
        mock = MockCompletionChecker(delay_s=delay_s)

        async def judged() -> None:
            await mock.check(question=DAY, answer="good", pause_seconds=3.0)
            seen.append("verdict")

        task = asyncio.create_task(judged())
        for _ in range(3):
            await asyncio.sleep(0)  # let ready work run; no time passes
        seen.append("later work")
        await task
        return seen

    assert asyncio.run(order(0.0)) == ["verdict", "later work"]
    assert asyncio.run(order(0.2)) == ["later work", "verdict"]


def test_mock_rejects_negative_delay() -> None:
    with pytest.raises(ValueError):
        MockCompletionChecker(delay_s=-1)


# --- properties ----------------------------------------------------------------

pauses = st.floats(allow_nan=True, allow_infinity=True)
spoken = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), max_size=80
)


@settings(max_examples=300, deadline=None)
@given(question=st.text(max_size=80), answer=st.text(max_size=200), pause=pauses)
def test_never_raises_and_confidence_in_range(question: str, answer: str, pause: float) -> None:
    verdict = judge(question, answer, pause)
    assert isinstance(verdict.is_complete, bool)
    assert 0.0 <= verdict.confidence <= 1.0
    assert math.isfinite(verdict.confidence)
    assert verdict.is_complete == (verdict.confidence > 0.5)
    assert verdict.reasoning
    assert verdict.source == "local"


@settings(max_examples=200, deadline=None)
@given(question=st.text(max_size=80), answer=spoken, pause=pauses)
def test_deterministic(question: str, answer: str, pause: float) -> None:
    assert judge(question, answer, pause) == judge(question, answer, pause)
    assert judge(question, answer, pause) == LocalCompletionChecker().judge(
        question=question, answer=answer, pause_seconds=pause
    )


@settings(max_examples=300, deadline=None)
@given(
    question=st.text(max_size=80),
    prefix=spoken,
    conjunction=st.sampled_from(["and", "but", "or", "because", "And", "BUT"]),
    ending=st.sampled_from(["", ".", "...", ",", "?", " ", "-"]),
    pause=pauses,
)
def test_trailing_conjunction_is_never_complete(
    question: str, prefix: str, conjunction: str, ending: str, pause: float
) -> None:
    verdict = judge(question, f"{prefix} {conjunction}{ending}", pause)
    assert not verdict.is_complete
    assert verdict.confidence <= 0.3


@settings(max_examples=200, deadline=None)
@given(
    question=st.text(max_size=80),
    answer=st.text(alphabet=st.characters(categories=["Zs", "Cc", "P", "S"]), max_size=40),
    pause=pauses,
)
def test_no_words_is_never_complete(question: str, answer: str, pause: float) -> None:
    verdict = judge(question, answer, pause)
    if not any(ch.isalnum() for ch in answer):
        assert not verdict.is_complete
        assert verdict.confidence == 0.0
