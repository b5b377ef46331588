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

import asyncio
import itertools
import math
import re

import attrs

from services.completion.port import CompletionVerdict

__all__ = ["LocalCompletionChecker", "MockCompletionChecker"]

# --- lexicon -----------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    """A word set written as one string, so the lexicon stays readable."""
    return frozenset(text.split())


_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # letters/digits, inner apostrophes
_CLOSING_MARKS = " \t\r\n\"')]}\u00bb\u201d"  # quotes/brackets that may follow the real ending
_COMMA_WELL = re.compile(r"[,;]\s*well\W*$", re.IGNORECASE)  # "It was fine, well"
_MHM = re.compile(r"\b(?:m+-?hm+|uh-? ?huh)\b")  # "mm-hmm", "uh-huh": spoken "yes"
_FILLER = re.compile(r"^(?:u+[hm]+|e+r+m*|h*m+|a+h+)$")  # um, uh, umm, er, erm, hmm, mm, ah

# Coordinating/subordinating words that always promise more.
_CONJUNCTIONS = _words(
    "and but or nor because cause cuz cos coz although whereas unless if whether plus"
)
# Articles, possessives and intensifiers that need a word after them.
_DETERMINERS = _words("the a an my your our their its every very extremely")
# Prepositions that rarely end a thought. Phrasal particles ("gave up",
# "moved on", "stopped by", "came back") are deliberately left out.
_PREPOSITIONS = _words(
    """to with of for from about into onto at as than without toward towards between among
    until till upon via per despite unlike within against during regarding including
    versus"""
)
# Contractions that cannot end a clause: "it's" and "I'm" always need more.
_OPEN_CONTRACTIONS = _words(
    """i'm you're we're they're it's that's there's here's he's she's what's who's where's
    how's let's i've you've we've they've i'd you'd we'd they'd he'd she'd i'll you'll
    we'll they'll he'll she'll it'll that'll gonna wanna gotta hafta"""
)
_SUBJECTS = _words("i we they he she")
# After these, a bare subject pronoun is the start of a new clause ("because I").
# Not "and"/"or": "my sister and I" is a whole noun phrase.
_CLAUSE_OPENERS = (_CONJUNCTIONS - {"and", "or", "nor", "plus"}) | _words(
    "so when while until since that then where before after once though"
)
# "I think so", "I hope so", "an hour or so": "so" closing a thought.
_SO_CLOSERS = _words(
    """think thought hope hoped guess guessed believe believed suppose supposed expect
    imagine say said says told seems seemed appears or even not"""
)
# "I wanted to." can be a whole answer (verb-phrase ellipsis), but is ambiguous.
_ELLIPSIS_VERBS = _words(
    """want wanted wants need needed needs have has had try tried trying going got used
    meant mean forgot plan planned hope hoped decided managed like love ought supposed
    able going"""
)
# Adverbs that need a verb or adjective after them when they follow a subject
# or copula: "I really", "it was always", "I didn't even".
_HEAD_SEEKING_ADVERBS = _words(
    """really quite totally definitely actually probably always never usually also still
    even only sometimes often already almost barely hardly"""
)
_COPULAS_AND_AUX = _words(
    """was is am are were be been would could should will can might must may shall
    didn't don't doesn't can't couldn't won't wouldn't isn't wasn't aren't weren't
    haven't hasn't hadn't shouldn't"""
)
# "and then", "but also", "so maybe": a linker straight after a conjunction.
_LINKERS = _words("then also now maybe probably actually just really still even after before")
# Wh-words at the end project a clause, except after "I don't know"-type verbs.
_WH_WORDS = _words("when where why how what who which whose")  # not "while": "for a while"
_WH_OK_AFTER = _words(
    """know knows knew remember sure idea wonder wondering tell recall understand see
    matter ask asked care guess"""
)
# "The best part was", "my goal is": a copula after a projecting noun.
_PROJECTING_NOUNS = _words(
    """thing part problem reason point truth idea plan goal question issue fact answer
    difference hope worry fear dream result lesson takeaway"""
)
_COPULAS = _words("is was are were")
_HEDGE_PHRASES = (
    ("you", "know", "what"),
    ("guess", "what"),
    ("you", "know"),
    ("i", "mean"),
    ("you", "see"),
    ("kind", "of"),
    ("sort", "of"),
    ("kinda",),
    ("sorta",),
    # Discourse openers: they announce what comes next.
    ("first", "of", "all"),
    ("for", "example"),
    ("for", "instance"),
    ("on", "the", "other", "hand"),
    ("in", "other", "words"),
)
# Hedges that are a whole answer to a yes/no question: "Yeah, kind of."
_ANSWER_HEDGES = frozenset({("kind", "of"), ("sort", "of"), ("kinda",), ("sorta",)})
# Phrases that explicitly hand the turn back.
_CLOSING_PHRASES = tuple(
    tuple(p.split())
    for p in (
        "that's it",
        "that is it",
        "that's all",
        "that is all",
        "that's about it",
        "that's pretty much it",
        "that's all i can think of",
        "that's all i've got",
        "that's all i have",
        "that's everything",
        "that's my answer",
        "i'm done",
        "i am done",
        "i'm finished",
        "nothing else",
        "nothing more",
        "end of story",
        "so yeah",
    )
)
_YES_NO_QUESTION_STARTS = _words(
    """did do does are is was were have has had can could would will should shall may
    might am isn't aren't didn't don't doesn't won't wouldn't haven't hasn't anything
    any anyone anybody"""
)
_DIRECT_YES_NO = _words(
    """yes yeah yep yup yea no nope nah sure definitely absolutely totally maybe probably
    mostly kinda sorta not mhm"""
)
_YES_NO_WORDS = _DIRECT_YES_NO | _words("um uh well so oh ok okay i mean guess")
_ACKNOWLEDGEMENTS = _words("yeah yes yep yup yea ok okay sure right alright oh mhm")
# "well" after these is a filler; after anything else it is an adverb ("slept well").
_WELL_FILLER_AFTER = _words("um uh er erm hmm oh yeah ok okay like mean")
_DISCOURSE_LEAD_INS = _words("um uh er erm hmm well so yeah ok okay oh like and alright")
# Clauses that announce a main clause still to come: "If I had more time".
_PROJECTING_OPENERS = _words("if although though unless")
_PROJECTING_PAIRS = frozenset({("even", "if"), ("even", "though"), ("as", "long")})

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
    return _WORD.findall(_MHM.sub("mhm", text.replace("\u2019", "'").casefold()))


def _is_filler(word: str) -> bool:
    return bool(_FILLER.match(word))


def _ends_with(tokens: list[str], phrase: tuple[str, ...]) -> bool:
    return len(tokens) >= len(phrase) and tuple(tokens[-len(phrase) :]) == phrase


def _trailing_punctuation(raw: str) -> _Trail | None:
    """An ellipsis, dash or comma at the very end: the transcriber heard a cut-off."""
    tail = raw.rstrip(_CLOSING_MARKS)
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
    for phrase in _HEDGE_PHRASES:
        if not _ends_with(tokens, phrase):
            continue
        before = tokens[: -len(phrase)]
        if phrase in _ANSWER_HEDGES and yes_no_question and _YES_NO_WORDS.issuperset(before):
            return None  # "Yes, kind of." answers the question
        if phrase == ("i", "mean") and before[-1:] == ["what"]:
            return None  # "that's not what I mean"
        return _Trail(f"ends with '{' '.join(phrase)}', a hedge or lead-in", 0.15)
    if last == "like" and prev not in _SUBJECTS | {"you"}:
        return _Trail("ends with the filler 'like'", 0.15)
    if last == "well" and (
        not prev or prev in _CONJUNCTIONS | _WELL_FILLER_AFTER or _COMMA_WELL.search(raw)
    ):
        return _Trail("ends with the filler 'well'", 0.15)
    if last == "so" and prev not in _SO_CLOSERS:
        return _Trail("ends with the conjunction 'so'", 0.1)
    if last in _CONJUNCTIONS:
        return _Trail(f"ends with the conjunction '{last}'", 0.1)
    if last in _DETERMINERS:
        return _Trail(f"ends with '{last}', which needs a word after it", 0.1)
    if last in _OPEN_CONTRACTIONS:
        return _Trail(f"ends with '{last}', which needs a complement", 0.1)
    if last in _SUBJECTS and prev in _CLAUSE_OPENERS:
        return _Trail(f"ends by opening a new clause ('{prev} {last}')", 0.1)
    if last in _LINKERS and prev in _CONJUNCTIONS | {"so"}:
        return _Trail(f"ends with '{prev} {last}': a new thought is starting", 0.15)
    if last == "just":
        return _Trail("ends with 'just', which needs a word after it", 0.15)
    if last in _HEAD_SEEKING_ADVERBS and (
        prev in _SUBJECTS | _COPULAS_AND_AUX | _OPEN_CONTRACTIONS
    ):
        return _Trail(f"ends with '{prev} {last}', which needs a verb or adjective", 0.15)
    if last == "to" and prev in _ELLIPSIS_VERBS:
        return _Trail(f"ends with '{prev} to': maybe a complete ellipsis, maybe not", 0.35)
    if last in _PREPOSITIONS:
        return _Trail(f"ends with the preposition '{last}'", 0.2)
    if last in _WH_WORDS and prev and prev not in _WH_OK_AFTER:
        return _Trail(f"ends with '{last}', which opens a clause", 0.25)
    if last in _COPULAS and (prev in _PROJECTING_NOUNS or tokens[0] == "what"):
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
    while i < len(tokens) and (tokens[i] in _DISCOURSE_LEAD_INS or _is_filler(tokens[i])):
        i += 1
    return tokens[i:]


def _only_acknowledgement(tokens: list[str], kind: str) -> bool:
    """ "Yeah." to an open question: probably a lead-in, not the answer ("How?" "Okay." is)."""
    if kind == "how" and tokens[-1] in {"ok", "okay", "alright"}:
        return False
    return all(t in _ACKNOWLEDGEMENTS for t in tokens)


def _projects_main_clause(content: list[str], kind: str) -> bool:
    """Starts with "if"/"although"/"even though"...: a main clause should follow.

    Not when it echoes the question ("If what?"), which makes it an answer.
    """
    if not content or content[0] == kind:
        return False
    return content[0] in _PROJECTING_OPENERS or tuple(content[:2]) in _PROJECTING_PAIRS


def _question_kind(question: str) -> str:
    """'yes-no', a wh-word, or '' for anything else."""
    words = _lead(_tokens(question))
    if not words:
        return ""
    if words[0] in _YES_NO_QUESTION_STARTS:
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
    if raw.rstrip(_CLOSING_MARKS).endswith((".", "!", "?")):
        score += 0.05
        notes.append("sentence-final punctuation")
    if kind == "yes-no" and len(tokens) <= 4 and tokens[0] in _DIRECT_YES_NO:
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
        if trail is None and any(_ends_with(tokens, p) for p in _CLOSING_PHRASES):
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


class MockCompletionChecker:
    """The local rules behind the async interface, with an optional artificial delay.

    For tests and benchmarks that need a checker with realistic latency but
    no network. `calls` counts checks so tests can assert on usage.
    """

    def __init__(self, delay_s: float = 0.0) -> None:
        if not delay_s >= 0:
            raise ValueError("delay_s must be >= 0")
        self.delay_s = delay_s
        self.calls = 0
        self._rules = LocalCompletionChecker()

    async def check(self, *, question: str, answer: str, pause_seconds: float) -> CompletionVerdict:
        """`CompletionChecker.check`, after sleeping `delay_s`."""
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self._rules.judge(question=question, answer=answer, pause_seconds=pause_seconds)
