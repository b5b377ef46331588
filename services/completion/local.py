"""Rule-based completion checking: deterministic, instant and offline.

It is the fallback whenever Gemini is slow or wrong-shaped, and serves
``COMPLETION_CHECK=local``, so it has to be good on its own. Speech-to-text rarely
punctuates, so the rules read the words: how the answer *ends* (a dangling "and",
"the", "um", "I'm", "what I", "I think that"; `services.completion.endings`) says
more than its length, and the pause says how likely the speaker is done. When unsure
it leans towards "keep listening": waiting a second longer is cheap (the call keeps
listening and asks again), cutting someone off mid-thought is not. The streaming
transport asks after ~1 s pauses, so at short pauses only strong finishes move on.

`confidence` is the estimated chance the speaker has finished, and
`is_complete` is simply `confidence > 0.5`.
"""

from __future__ import annotations

import itertools
import math

from services.completion.endings import (
    Trail,
    ambiguity,
    ends_with,
    lead,
    tag_ending,
    tokens_of,
    trailing_words,
)
from services.completion.lexicon import (
    CLOSING_MARKS,
    CLOSING_PHRASES,
    DIRECT_YES_NO,
    NUMBER_WORDS,
    NUMERIC_QUESTION_WORDS,
    WHOLE_ANSWERS,
    WINDING_DOWN_TAGS,
    YES_NO_QUESTION_STARTS,
)
from services.completion.port import CompletionVerdict

__all__ = ["LocalCompletionChecker"]

# --- scoring -----------------------------------------------------------------

# (pause seconds, chance the speaker is done) for an answer that does not
# trail off; linear in between. The jump at ~2 s is the "real pause".
_PAUSE_CURVE = (
    (0.0, 0.25),
    (1.0, 0.40),
    (1.5, 0.48),
    (2.0, 0.80),
    (4.0, 0.86),
    (6.0, 0.92),
    (10.0, 0.95),
)
_AMBIGUOUS_EXTRA_PAUSE = 4.0
_CLOSING_CONFIDENCE = 0.92
_YES_NO_CONFIDENCE = 0.82
# A strong finish ("nothing really", "okay I guess", "seven" to "rate your day")
# moves on after this pause with this confidence, instead of waiting for ~2 s.
_STRONG_FINISH_PAUSE = 1.5
_STRONG_FINISH_CONFIDENCE = 0.8
_MIN_CONFIDENCE, _MAX_CONFIDENCE = 0.02, 0.97


def _trailing_punctuation(raw: str) -> Trail | None:
    """An ellipsis, dash or comma at the very end: the transcriber heard a cut-off."""
    tail = raw.rstrip(CLOSING_MARKS)
    if tail.endswith(("...", "\u2026")):
        return Trail("ends with an ellipsis: the speaker trailed off", 0.15)
    if tail.endswith(("-", "\u2013", "\u2014")):
        return Trail("ends with a dash: the speaker broke off mid-word", 0.15)
    if tail.endswith((",", ";", ":")):
        return Trail("ends with a comma or colon: more is coming", 0.25)
    return None


def _pause_score(pause: float) -> float:
    """Chance a non-trailing answer is finished, from the pause alone."""
    points = _PAUSE_CURVE
    if pause <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if pause <= x1:
            return y0 + (y1 - y0) * (pause - x0) / (x1 - x0)
    return points[-1][1]


def _clean_pause(pause_seconds: float) -> float:
    """Tolerate junk timings (NaN, negative, absurd) instead of failing the call."""
    try:
        pause = float(pause_seconds)
    except (TypeError, ValueError):
        return 0.0
    if math.isnan(pause) or pause < 0:
        return 0.0
    return min(pause, 3600.0)


def _question_kind(question: str) -> tuple[str, bool]:
    """'yes-no', a wh-word, or '' for anything else; and whether it asks for a number."""
    words = lead(tokens_of(question))
    numeric = bool(NUMERIC_QUESTION_WORDS.intersection(words))
    if not words:
        return "", numeric
    if words[0] in YES_NO_QUESTION_STARTS:
        return "yes-no", numeric
    return words[0], numeric


def _strong_finish(tokens: list[str], numeric_question: bool) -> str | None:
    """Why an answer is clearly whole even after a short pause, or None.

    Only formulaic whole answers, winding-down tags and numbers to a numeric question:
    a plain sentence ("I went for a walk") may well go on after 1.5 s.
    """
    if tuple(lead(tokens)) in WHOLE_ANSWERS:
        return "a whole answer in itself"
    tag = tag_ending(tokens)
    if tag in WINDING_DOWN_TAGS and lead(tokens[: -len(tag)]):
        return f"winds down with '{' '.join(tag)}'"
    if numeric_question and any(t in NUMBER_WORDS or t.isdigit() for t in tokens[-4:]):
        return "a number to a question asking for one"
    return None


def _score(
    tokens: list[str], raw: str, pause: float, kind: str, numeric: bool
) -> tuple[float, list[str]]:
    """Chance a non-trailing answer is finished, with the reasons."""
    notes = [f"nothing left dangling after a {pause:.1f}s pause"]
    why_ambiguous = ambiguity(tokens, raw, kind)
    if why_ambiguous:
        # Ambiguous answers need a very long pause (~6 s) instead of a real one (~2 s).
        score = _pause_score(max(pause - _AMBIGUOUS_EXTRA_PAUSE, 0.0))
        notes.append(why_ambiguous)
    else:
        score = _pause_score(pause)
        strong = _strong_finish(tokens, numeric)
        if strong and pause >= _STRONG_FINISH_PAUSE:
            score = max(score, _STRONG_FINISH_CONFIDENCE)
            notes.append(strong)
    if raw.rstrip(CLOSING_MARKS).endswith((".", "!", "?")):
        score += 0.05
        notes.append("sentence-final punctuation")
    if kind == "yes-no" and len(tokens) <= 4 and tokens[0] in DIRECT_YES_NO:
        score = max(score, _YES_NO_CONFIDENCE) if pause >= 1.0 else score + 0.15
        notes.append("direct answer to a yes/no question")
    return min(max(score, _MIN_CONFIDENCE), _MAX_CONFIDENCE), notes


def _verdict(confidence: float, reasoning: str) -> CompletionVerdict:
    confidence = round(min(max(confidence, 0.0), 1.0), 2)
    return CompletionVerdict(
        is_complete=confidence > 0.5, confidence=confidence, reasoning=reasoning, source="local"
    )


class LocalCompletionChecker:
    """Deterministic rules; see the module docstring and docs/completion.md."""

    def judge(self, *, question: str, answer: str, pause_seconds: float) -> CompletionVerdict:
        """Synchronous core of `check`: pure, so it is easy to test and to fall back on."""
        raw = (answer or "").strip()
        tokens = tokens_of(raw)
        if not tokens:
            return _verdict(0.0, "no words yet")
        pause = _clean_pause(pause_seconds)
        kind, numeric = _question_kind(question or "")

        trail = _trailing_punctuation(raw)
        if trail is None and any(ends_with(tokens, p) for p in CLOSING_PHRASES):
            return _verdict(
                max(_CLOSING_CONFIDENCE, _pause_score(pause)), "explicit closing phrase"
            )
        trail = trail or trailing_words(tokens, raw, kind)
        if trail is not None:
            return _verdict(trail.confidence, trail.reason)

        score, notes = _score(tokens, raw, pause, kind, numeric)
        return _verdict(score, "; ".join(notes))

    async def check(self, *, question: str, answer: str, pause_seconds: float) -> CompletionVerdict:
        """`CompletionChecker.check`; never raises, never does I/O."""
        return self.judge(question=question, answer=answer, pause_seconds=pause_seconds)
