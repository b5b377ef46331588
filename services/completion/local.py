"""Rule-based completion checking: deterministic, instant and offline.

It is the fallback whenever Gemini is slow or wrong-shaped, so it has to be
good on its own. Speech-to-text rarely punctuates, so the rules read the
words: how the answer *ends* (a dangling "and", "the", "um", "I'm"...) says
more than its length, and the pause says how likely the speaker is done.
When unsure it leans towards "keep listening": waiting a second longer is
cheap, cutting someone off mid-thought is not.

`confidence` is the estimated chance the speaker has finished, and
`is_complete` is simply `confidence > 0.5`.
"""

from __future__ import annotations

import itertools
import math

import attrs

from services.completion.lexicon import (
    ACKNOWLEDGEMENTS,
    ANSWER_HEDGES,
    CLAUSE_OPENERS,
    CLOSING_MARKS,
    CLOSING_PHRASES,
    COMMA_WELL,
    CONJUNCTIONS,
    COPULAS,
    COPULAS_AND_AUX,
    DETERMINERS,
    DIRECT_YES_NO,
    DISCOURSE_LEAD_INS,
    ELLIPSIS_VERBS,
    FILLER,
    HEAD_SEEKING_ADVERBS,
    HEDGE_PHRASES,
    LINKERS,
    MHM,
    OPEN_CONTRACTIONS,
    PREPOSITIONS,
    PROJECTING_NOUNS,
    PROJECTING_OPENERS,
    PROJECTING_PAIRS,
    SO_CLOSERS,
    SUBJECTS,
    WELL_FILLER_AFTER,
    WH_OK_AFTER,
    WH_WORDS,
    WORD,
    YES_NO_QUESTION_STARTS,
    YES_NO_WORDS,
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
_MIN_CONFIDENCE, _MAX_CONFIDENCE = 0.02, 0.97


@attrs.frozen
class _Trail:
    """Why an answer trails off, and how unlikely it is to be finished."""

    reason: str
    confidence: float


def _tokens(text: str) -> list[str]:
    """Lower-case words, with curly apostrophes and spoken "mm-hmm" normalised."""
    return WORD.findall(MHM.sub("mhm", text.replace("\u2019", "'").casefold()))


def _is_filler(word: str) -> bool:
    return bool(FILLER.match(word))


def _ends_with(tokens: list[str], phrase: tuple[str, ...]) -> bool:
    return len(tokens) >= len(phrase) and tuple(tokens[-len(phrase) :]) == phrase


def _trailing_punctuation(raw: str) -> _Trail | None:
    """An ellipsis, dash or comma at the very end: the transcriber heard a cut-off."""
    tail = raw.rstrip(CLOSING_MARKS)
    if tail.endswith(("...", "\u2026")):
        return _Trail("ends with an ellipsis: the speaker trailed off", 0.15)
    if tail.endswith(("-", "\u2013", "\u2014")):
        return _Trail("ends with a dash: the speaker broke off mid-word", 0.15)
    if tail.endswith((",", ";", ":")):
        return _Trail("ends with a comma or colon: more is coming", 0.25)
    return None


def _trailing_words(tokens: list[str], raw: str, yes_no_question: bool) -> _Trail | None:
    """The last word(s) leave a grammatical gap ("and", "the", "um", "I'm")."""
    last = tokens[-1]
    prev = tokens[-2] if len(tokens) > 1 else ""

    if _is_filler(last):
        return _Trail(f"ends with the filler '{last}'", 0.15)
    for phrase in HEDGE_PHRASES:
        if not _ends_with(tokens, phrase):
            continue
        before = tokens[: -len(phrase)]
        if phrase in ANSWER_HEDGES and yes_no_question and YES_NO_WORDS.issuperset(before):
            return None  # "Yes, kind of." answers the question
        if phrase == ("i", "mean") and before[-1:] == ["what"]:
            return None  # "that's not what I mean"
        return _Trail(f"ends with '{' '.join(phrase)}', a hedge or lead-in", 0.15)
    if last == "like" and prev not in SUBJECTS | {"you"}:
        return _Trail("ends with the filler 'like'", 0.15)
    if last == "well" and (
        not prev or prev in CONJUNCTIONS | WELL_FILLER_AFTER or COMMA_WELL.search(raw)
    ):
        return _Trail("ends with the filler 'well'", 0.15)
    if last == "so" and prev not in SO_CLOSERS:
        return _Trail("ends with the conjunction 'so'", 0.1)
    if last in CONJUNCTIONS:
        return _Trail(f"ends with the conjunction '{last}'", 0.1)
    if last in DETERMINERS:
        return _Trail(f"ends with '{last}', which needs a word after it", 0.1)
    if last in OPEN_CONTRACTIONS:
        return _Trail(f"ends with '{last}', which needs a complement", 0.1)
    if last in SUBJECTS and prev in CLAUSE_OPENERS:
        return _Trail(f"ends by opening a new clause ('{prev} {last}')", 0.1)
    if last in LINKERS and prev in CONJUNCTIONS | {"so"}:
        return _Trail(f"ends with '{prev} {last}': a new thought is starting", 0.15)
    if last == "just":
        return _Trail("ends with 'just', which needs a word after it", 0.15)
    if last in HEAD_SEEKING_ADVERBS and (prev in SUBJECTS | COPULAS_AND_AUX | OPEN_CONTRACTIONS):
        return _Trail(f"ends with '{prev} {last}', which needs a verb or adjective", 0.15)
    if last == "to" and prev in ELLIPSIS_VERBS:
        return _Trail(f"ends with '{prev} to': maybe a complete ellipsis, maybe not", 0.35)
    if last in PREPOSITIONS:
        return _Trail(f"ends with the preposition '{last}'", 0.2)
    if last in WH_WORDS and prev and prev not in WH_OK_AFTER:
        return _Trail(f"ends with '{last}', which opens a clause", 0.25)
    if last in COPULAS and (prev in PROJECTING_NOUNS or tokens[0] == "what"):
        return _Trail(f"ends with '{last}' before the point is made", 0.2)
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


def _lead(tokens: list[str]) -> list[str]:
    """Tokens after leading fillers and discourse words ("um so yeah I...")."""
    i = 0
    while i < len(tokens) and (tokens[i] in DISCOURSE_LEAD_INS or _is_filler(tokens[i])):
        i += 1
    return tokens[i:]


def _only_acknowledgement(tokens: list[str], kind: str) -> bool:
    """ "Yeah." to an open question: probably a lead-in, not the answer ("How?" "Okay." is)."""
    if kind == "how" and tokens[-1] in {"ok", "okay", "alright"}:
        return False
    return all(t in ACKNOWLEDGEMENTS for t in tokens)


def _projects_main_clause(content: list[str], kind: str) -> bool:
    """Starts with "if"/"although"/"even though"...: a main clause should follow.

    Not when it echoes the question ("If what?"), which makes it an answer.
    """
    if not content or content[0] == kind:
        return False
    return content[0] in PROJECTING_OPENERS or tuple(content[:2]) in PROJECTING_PAIRS


def _question_kind(question: str) -> str:
    """'yes-no', a wh-word, or '' for anything else."""
    words = _lead(_tokens(question))
    if not words:
        return ""
    if words[0] in YES_NO_QUESTION_STARTS:
        return "yes-no"
    return words[0]


def _ambiguity(tokens: list[str], raw: str, kind: str) -> str | None:
    """Why a non-trailing answer might still be a lead-in, or None."""
    if kind != "yes-no" and _only_acknowledgement(tokens, kind):
        return "only an acknowledgement; the answer may not have started"
    content = _lead(tokens)
    if _projects_main_clause(content, kind) and len(tokens) <= 8 and "," not in raw:
        return f"a lone '{content[0]}' clause usually has a main clause to come"
    return None


def _score(tokens: list[str], raw: str, pause: float, kind: str) -> tuple[float, list[str]]:
    """Chance a non-trailing answer is finished, with the reasons."""
    notes = [f"nothing left dangling after a {pause:.1f}s pause"]
    ambiguity = _ambiguity(tokens, raw, kind)
    if ambiguity:
        # Ambiguous answers need a very long pause (~6 s) instead of a real one (~2 s).
        score = _pause_score(max(pause - _AMBIGUOUS_EXTRA_PAUSE, 0.0))
        notes.append(ambiguity)
    else:
        score = _pause_score(pause)
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
        tokens = _tokens(raw)
        if not tokens:
            return _verdict(0.0, "no words yet")
        pause = _clean_pause(pause_seconds)
        kind = _question_kind(question or "")

        trail = _trailing_punctuation(raw)
        if trail is None and any(_ends_with(tokens, p) for p in CLOSING_PHRASES):
            return _verdict(
                max(_CLOSING_CONFIDENCE, _pause_score(pause)), "explicit closing phrase"
            )
        trail = trail or _trailing_words(tokens, raw, kind == "yes-no")
        if trail is not None:
            return _verdict(trail.confidence, trail.reason)

        score, notes = _score(tokens, raw, pause, kind)
        return _verdict(score, "; ".join(notes))

    async def check(self, *, question: str, answer: str, pause_seconds: float) -> CompletionVerdict:
        """`CompletionChecker.check`; never raises, never does I/O."""
        return self.judge(question=question, answer=answer, pause_seconds=pause_seconds)
