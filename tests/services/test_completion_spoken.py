"""The local rules on a labelled set of spoken answers: never cut off someone who trailed off.

The set (tests/services/spoken_answers.jsonl, see tests/services/spoken_answers.py)
holds answers as speech recognition transcribes them. Moving on after a trailing-off
answer cuts the caller off mid-thought, the costly error, so it must never happen at
the pauses the transports use: ~1 s (ConversationRelay), 1.5 s, 3 s (Gather). Keeping
a finished speaker waiting is cheap, so complete answers only have a floor. The
figures are in docs/completion.md; bench/completion_local.py prints the full matrix.
"""

from __future__ import annotations

import pytest

from services.completion import should_advance
from services.completion.local import LocalCompletionChecker
from tests.services.spoken_answers import SHORT_PAUSES, SpokenAnswer, load
from tests.services.test_completion_local import TABLE

RULES = LocalCompletionChecker()
ITEMS = load()
TRAILING = [i for i in ITEMS if not i.complete]
COMPLETE = [i for i in ITEMS if i.complete]
SILENT_TURN_PAUSE = 9.0  # syncs.conversation: a whole silent turn after the end-of-speech pause

# Measured with these rules (docs/completion.md): 100% at 3 s, 23% at 1.5 s, where only
# strong finishes move on. The floors leave a little room for deliberate trade-offs.
FLOOR_AT_3S = 0.95
FLOOR_AT_1_5S = 0.20


def moves_on(item: SpokenAnswer, pause: float) -> bool:
    verdict = RULES.judge(question=item.question, answer=item.answer, pause_seconds=pause)
    return should_advance(verdict)


def recognised(pause: float) -> float:
    return sum(moves_on(i, pause) for i in COMPLETE) / len(COMPLETE)


def test_the_set_is_big_and_covers_both_labels() -> None:
    assert len(TRAILING) >= 40 and len(COMPLETE) >= 40
    assert len({(i.question, i.answer) for i in ITEMS}) == len(ITEMS), "duplicate items"


def test_the_set_includes_the_labelled_table() -> None:
    answers = {i.answer for i in ITEMS}
    table = {p.values[1] for p in TABLE if any(ch.isalnum() for ch in p.values[1])}
    assert table - answers == set()


@pytest.mark.parametrize("pause", sorted({*SHORT_PAUSES}))
@pytest.mark.parametrize("item", TRAILING, ids=lambda i: i.id)
def test_trailing_off_never_moves_on_at_short_pauses(item: SpokenAnswer, pause: float) -> None:
    verdict = RULES.judge(question=item.question, answer=item.answer, pause_seconds=pause)
    assert not should_advance(verdict), f"cut off after {pause}s: {verdict}"


@pytest.mark.parametrize(
    "item", [i for i in TRAILING if i.pause < SILENT_TURN_PAUSE], ids=lambda i: i.id
)
def test_trailing_off_never_moves_on_at_its_own_pause(item: SpokenAnswer) -> None:
    assert not moves_on(item, item.pause)


def test_one_listing_of_every_cut_off() -> None:
    """The same property as one failure that lists every cut-off, for reading at a glance."""
    cut_off = [(p, i.answer) for p in SHORT_PAUSES for i in TRAILING if moves_on(i, p)]
    assert cut_off == []


def test_complete_answers_are_recognised_after_a_real_pause() -> None:
    rate = recognised(3.0)
    missed = [i.answer for i in COMPLETE if not moves_on(i, 3.0)]
    assert rate >= FLOOR_AT_3S, f"{rate:.0%} recognised at 3 s; kept waiting: {missed}"


def test_strong_finishes_are_recognised_at_one_and_a_half_seconds() -> None:
    assert recognised(1.5) >= FLOOR_AT_1_5S


def test_nothing_complete_moves_on_sooner_than_it_did_later() -> None:
    """A longer pause never turns "moves on" into "keeps listening"."""
    for item in ITEMS:
        decisions = [moves_on(item, p) for p in (0.8, 1.5, 3.0, SILENT_TURN_PAUSE)]
        assert decisions == sorted(decisions), item.id


def test_every_complete_answer_moves_on_after_a_silent_turn() -> None:
    assert [i.answer for i in COMPLETE if not moves_on(i, SILENT_TURN_PAUSE)] == []
