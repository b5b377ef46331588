"""ReflectionSession._lastAnswer: the user's last answer to a prompt, for a call to recall
(docs/concepts/ReflectionSession.md, Queries)."""

from __future__ import annotations

import datetime as dt

import pytest

from conceptkit import describe_operations
from concepts.reflection_session import ReflectionSession
from services.app.clock import FakeClock

CARRY = "What will you carry into tomorrow?"
WELL = "What went well today?"


@pytest.fixture
async def rs(async_db, clock, encryptor) -> ReflectionSession:
    concept = ReflectionSession(async_db, {"clock": clock, "encryption": encryptor})
    await concept.setup()
    return concept


async def reflection(
    rs: ReflectionSession,
    answers: dict[str, str],
    *,
    user: str = "u1",
    method: str = "PHONE",
    end: str = "complete",
) -> str:
    """A reflection asking the prompts of ``answers`` and answering each; then completed,
    abandoned, or left in progress (``end``)."""
    out = await rs.startSession(user=user, method=method, prompts=list(answers))
    session = out["session"]
    for position, text in enumerate(answers.values(), start=1):
        assert (
            await rs.recordResponse(user=user, session=session, position=position, text=text) == {}
        )
    if end == "complete":
        assert await rs.completeSession(user=user, session=session) == {}
    elif end == "abandon":
        assert await rs.abandonSession(user=user, session=session, reason="hung up") == {}
    return session


async def recalled(rs: ReflectionSession, prompt: str = CARRY, user: str = "u1") -> str | None:
    rows = await rs._lastAnswer(user=user, prompt=prompt)
    return rows[0]["answer"] if rows else None


# -- principle -----------------------------------------------------------------------------


async def test_principle_the_latest_finished_answer_to_that_prompt(
    rs: ReflectionSession, clock: FakeClock
) -> None:
    await reflection(rs, {WELL: "The walk.", CARRY: "Patience."})
    clock.advance(days=1)
    yesterday = clock.now()
    await reflection(rs, {WELL: "Lunch.", CARRY: "  Courage.  "}, method="TEXT")
    clock.advance(days=1)
    await reflection(rs, {WELL: "Today, in progress.", CARRY: "Not yet finished."}, end="keep")
    assert await rs._lastAnswer(user="u1", prompt=CARRY) == [
        {"answer": "Courage.", "startedAt": yesterday, "asOf": clock.now()}
    ]


# -- which answer --------------------------------------------------------------------------


async def test_a_skipped_or_blank_answer_is_passed_over(rs: ReflectionSession, clock) -> None:
    await reflection(rs, {CARRY: "Patience."})
    clock.advance(days=1)
    await reflection(rs, {CARRY: ""})  # skipped on the phone
    clock.advance(hours=1)
    await reflection(rs, {CARRY: "   "}, method="TEXT")  # left blank
    assert await recalled(rs) == "Patience."


async def test_an_abandoned_reflection_counts_one_in_progress_never(rs, clock) -> None:
    await reflection(rs, {CARRY: "Kept from a call cut short."}, end="abandon")
    clock.advance(hours=2)
    await reflection(rs, {CARRY: "Still being typed."}, method="TEXT", end="keep")
    assert await recalled(rs) == "Kept from a call cut short."


async def test_an_edited_answer_is_recalled_as_edited(rs: ReflectionSession) -> None:
    session = await reflection(rs, {WELL: "x", CARRY: "Patients."})
    await rs.editAnswer(user="u1", session=session, position=2, text="Patience.")
    assert await recalled(rs) == "Patience."
    await rs.editAnswer(user="u1", session=session, position=2, text="")  # cleared afterwards
    assert await recalled(rs) is None


async def test_the_prompt_is_matched_by_its_words_ignoring_case_and_spacing(rs) -> None:
    await reflection(rs, {WELL: "The walk.", CARRY: "Patience."})
    assert await recalled(rs, "what will you   carry into TOMORROW?") == "Patience."
    assert await recalled(rs, WELL) == "The walk."
    assert await recalled(rs, "What will you carry into the week?") is None


async def test_only_the_last_thirty_days_are_recalled(rs: ReflectionSession, clock) -> None:
    await reflection(rs, {CARRY: "Long ago."})
    clock.advance(days=30)
    assert await recalled(rs) == "Long ago."
    clock.advance(seconds=1)
    assert await recalled(rs) is None


async def test_another_users_answer_is_never_recalled(rs: ReflectionSession) -> None:
    await reflection(rs, {CARRY: "Someone else's words."}, user="u2")
    assert await recalled(rs) is None
    assert await recalled(rs, user="u2") == "Someone else's words."


async def test_nothing_to_recall_for_a_new_user(rs: ReflectionSession) -> None:
    assert await rs._lastAnswer(user="nobody", prompt=CARRY) == []


def test_the_answer_is_private_in_the_action_log(rs: ReflectionSession) -> None:
    spec = describe_operations(rs)["_lastAnswer"]
    assert "answer" in spec.private
    assert spec.check_inputs({"user": "u1", "prompt": ""})[1]  # a prompt is never blank
    assert spec.check_inputs({"user": "u1", "prompt": "x" * 301})[1]


async def test_in_a_long_history_the_newest_answer_is_recalled(rs, clock) -> None:
    """A long history: the answer of the day before is found, whatever came before it."""
    start = clock.now()
    for day in range(25):
        await reflection(rs, {WELL: f"day {day}", CARRY: f"carry {day}"})
        clock.set(start + dt.timedelta(days=day + 1))
    assert await recalled(rs) == "carry 24"
