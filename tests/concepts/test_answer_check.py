"""AnswerCheck, rule by rule (docs/concepts/AnswerCheck.md)."""

from __future__ import annotations

import pytest

from concepts.answer_check import AnswerCheck
from services.completion import CompletionVerdict
from services.devtools.mock_completion import MockCompletionChecker

Q = "What are you grateful for today?"


class Fixed:
    def __init__(self, complete: bool, confidence: float) -> None:
        self.verdict = CompletionVerdict(complete, confidence, "fixed", "gemini")

    async def check(self, *, question: str, answer: str, pause_seconds: float) -> CompletionVerdict:
        return self.verdict


@pytest.fixture
async def check(async_db, clock) -> AnswerCheck:
    return AnswerCheck(async_db, {"clock": clock, "completion": MockCompletionChecker()})


async def test_trailing_off_is_incomplete_and_the_rest_completes_it(check):
    first = await check.judge(
        callSid="CA1", promptIndex=0, question=Q, answer="I was grateful for", pauseSeconds=3.0
    )
    assert first["verdict"] == "incomplete" and first["nudge"] is False
    second = await check.judge(
        callSid="CA1",
        promptIndex=0,
        question=Q,
        answer="I was grateful for my sister's call",
        pauseSeconds=3.0,
    )
    assert second["verdict"] == "complete" and second["source"] == "local"


async def test_an_incomplete_answer_after_a_silent_turn_asks_for_a_nudge(check):
    out = await check.judge(
        callSid="CA1",
        promptIndex=0,
        question=Q,
        answer="well, um",
        pauseSeconds=9.0,
        afterSilence=True,
    )
    assert (out["verdict"], out["nudge"]) == ("incomplete", True)


@pytest.mark.parametrize(
    ("complete", "confidence", "verdict"),
    [(True, 0.95, "complete"), (True, 0.6, "incomplete"), (False, 0.9, "incomplete")],
)
async def test_only_a_confident_complete_verdict_advances(
    async_db, clock, complete, confidence, verdict
):
    concept = AnswerCheck(async_db, {"clock": clock, "completion": Fixed(complete, confidence)})
    out = await concept.judge(
        callSid="CA1", promptIndex=2, question=Q, answer="x", pauseSeconds=3.0
    )
    assert out["verdict"] == verdict


async def test_judgements_keep_the_verdicts_but_never_the_words(check, async_db):
    await check.judge(
        callSid="CA1", promptIndex=0, question=Q, answer="my secret garden", pauseSeconds=3.0
    )
    rows = await check._judgements(callSid="CA1")
    assert [r["promptIndex"] for r in rows] == [0]
    raw = str(await async_db["AnswerCheck_judgements"].find({}).to_list(None))
    assert "secret garden" not in raw and "grateful" not in raw
    await check.forgetCall(callSid="CA1")
    assert await check._judgements(callSid="CA1") == []
