"""Is a spoken answer finished? The shared contract for every completion checker.

A call turn listens, waits for a pause, then asks a checker whether the
person has finished answering. Cutting someone off mid-thought is worse than
waiting a moment longer, so the turn only moves on when the checker says the
answer is complete *and* is confident about it (see `should_advance`).

Implementations:
- `services.completion.local.LocalCompletionChecker`: deterministic rules (its ending
  rules in `services.completion.endings`, its words in `services.completion.lexicon`);
  it serves mock mode and ``COMPLETION_CHECK=local``.
- `services.devtools.mock_completion.MockCompletionChecker`: the rules with a delay and a
  count, for tests and benchmarks.
- `services.completion.gemini.GeminiCompletionChecker`: Gemini, with the
  rules as fallback.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import attrs

__all__ = [
    "COMPLETE_THRESHOLD",
    "CompletionChecker",
    "CompletionVerdict",
    "VerdictSource",
    "should_advance",
]

COMPLETE_THRESHOLD = 0.6
"""A turn advances only when `is_complete` and `confidence > COMPLETE_THRESHOLD`."""

VerdictSource = Literal["gemini", "local", "local-fallback"]


@attrs.frozen
class CompletionVerdict:
    """One judgement about one answer.

    `confidence` is how sure the checker is that the speaker has finished
    (0 = surely still mid-thought, 1 = surely done), so a clear trailing-off
    has a low confidence, not a high one. `reasoning` is for humans
    reading traces; a model's reasoning may quote the answer, so treat it as
    private as the answer itself.
    """

    is_complete: bool
    confidence: float
    reasoning: str
    source: VerdictSource


@runtime_checkable
class CompletionChecker(Protocol):
    """Anything that can judge whether a spoken answer is finished."""

    async def check(self, *, question: str, answer: str, pause_seconds: float) -> CompletionVerdict:
        """Judge `answer` (speech-to-text so far) to `question` after `pause_seconds` of silence."""
        ...


def should_advance(verdict: CompletionVerdict, threshold: float = COMPLETE_THRESHOLD) -> bool:
    """The turn's decision rule, kept here so every caller applies it the same way."""
    return verdict.is_complete and verdict.confidence > threshold
