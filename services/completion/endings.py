"""Does a spoken answer end mid-phrase? The ending rules of the local completion checker.

Speech-to-text rarely punctuates, so the last words are the best evidence that a
speaker is still mid-thought: "and", "the", "um", "I'm", "what I", "I think that",
"the thing is". An answer that ends like that is not finished whatever the pause,
because the costly error is cutting someone off; `services.completion.local` turns
the rest into a score from the pause. Reasons never quote the answer's own content
words, only words of the lexicon (traces may be read by people who must not see it).
"""

from __future__ import annotations

import attrs

from services.completion.lexicon import (
    ACKNOWLEDGEMENTS,
    ANSWER_HEDGES,
    AUXILIARIES,
    CLAUSE_START_BEFORE,
    COMMA_WELL,
    COMPARATIVE_OPEN_AFTER,
    COMPARATIVES,
    COMPLEMENT_VERBS,
    CONJUNCTIONS,
    COPULAS,
    COPULAS_AND_AUX,
    DEMONSTRATIVES,
    DETERMINERS,
    DISCOURSE_LEAD_INS,
    ELLIPSIS_VERBS,
    FILLER,
    HEAD_SEEKING_ADVERBS,
    HEDGE_PHRASES,
    INFINITIVE_OPEN_VERBS,
    INVERTING_AUX,
    KNOW_SAY_VERBS,
    LATE_SUBJECT_AFTER,
    LATE_SUBJECTS,
    LEAD_ADVERBS,
    LINKER_AFTER,
    LINKERS,
    LINKING_VERBS,
    MHM,
    OBJECT_DEMONSTRATIVE_AFTER,
    OPEN_CONTRACTIONS,
    OPEN_PHRASALS,
    POINT_NOUNS,
    PREPOSITIONS,
    PROJECTING_OPENERS,
    PROJECTING_PAIRS,
    PRONOUNS,
    QUANTITY_OF,
    SO_CLOSERS,
    STRANDING_HEADS,
    SUBJECT_CONTRACTIONS,
    SUBJECTS,
    SUPERLATIVES,
    TAGS,
    TIME_WHILE_BEFORE,
    VERBLESS_OPENERS,
    WELL_FILLER_AFTER,
    WH_OK_AFTER,
    WH_WORDS,
    WORD,
    YES_NO_TAGS,
    YES_NO_WORDS,
)

__all__ = [
    "Trail",
    "ambiguity",
    "ends_with",
    "is_filler",
    "lead",
    "tag_ending",
    "tokens_of",
    "trailing_words",
]


# Unions the rules test against on every call, built once.
_ANY_SUBJECT = SUBJECTS | SUBJECT_CONTRACTIONS
_VERB_LIKE = _ANY_SUBJECT | OPEN_CONTRACTIONS | COPULAS_AND_AUX  # "I went home and I"
_SUBJECT_OR_YOU = SUBJECTS | {"you"}
_ELLIPSIS_SUBJECTS = SUBJECTS | {"you", "it"}
_NOUN_STARTERS = DETERMINERS | DEMONSTRATIVES
_WELL_FILLER_BEFORE = CONJUNCTIONS | WELL_FILLER_AFTER
_HEAD_SEEKER_BEFORE = (
    SUBJECTS | COPULAS_AND_AUX | OPEN_CONTRACTIONS | LINKING_VERBS | WH_WORDS | PREPOSITIONS
)
_OPEN_NOT_BEFORE = SUBJECTS | OPEN_CONTRACTIONS | HEAD_SEEKING_ADVERBS


@attrs.frozen
class Trail:
    """Why an answer trails off, and how unlikely it is to be finished."""

    reason: str
    confidence: float


def tokens_of(text: str) -> list[str]:
    """Lower-case words, with curly apostrophes and spoken "mm-hmm" normalised."""
    return WORD.findall(MHM.sub("mhm", text.replace("\u2019", "'").casefold()))


def is_filler(word: str) -> bool:
    """ "um", "uh", "hmm", "er": a sound, not a word."""
    return bool(FILLER.match(word))


def ends_with(tokens: list[str], phrase: tuple[str, ...]) -> bool:
    """Whether the last words are exactly `phrase`."""
    return len(tokens) >= len(phrase) and tuple(tokens[-len(phrase) :]) == phrase


def lead(tokens: list[str]) -> list[str]:
    """Tokens after leading fillers and discourse words ("um so yeah I...")."""
    i = 0
    while i < len(tokens) and (tokens[i] in DISCOURSE_LEAD_INS or is_filler(tokens[i])):
        i += 1
    return tokens[i:]


def tag_ending(tokens: list[str]) -> tuple[str, ...] | None:
    """The closing tag ("I guess", "to be honest") the answer ends with, if any."""
    return next((tag for tag in TAGS if ends_with(tokens, tag)), None)


def _tagged(tokens: list[str], tag: tuple[str, ...], raw: str, kind: str) -> Trail | None:
    """ "It was okay I guess" is finished; "I guess" alone or "the thing is I think" is not."""
    rest = tokens[: -len(tag)]
    if rest and rest[-1] in {"than", "as"}:
        return None  # "more than I think": a comparison, not a tag
    if not lead(rest):
        if kind == "yes-no" and tag in YES_NO_TAGS:
            return None  # "Did it help?" "I guess."
        return Trail(f"only '{' '.join(tag)}': the answer has not started", 0.2)
    return trailing_words(rest, raw, kind)


def _hedge(tokens: list[str], phrase: tuple[str, ...], kind: str) -> Trail | None:
    """Ends with a hedge, a lead-in or a floor-holder ("you know", "let me think")."""
    before = tokens[: -len(phrase)]
    if phrase in ANSWER_HEDGES and kind == "yes-no" and YES_NO_WORDS.issuperset(before):
        return None  # "Yes, kind of." answers the question
    if phrase == ("i", "mean") and before[-1:] == ["what"]:
        return None  # "that's not what I mean"
    return Trail(f"ends with '{' '.join(phrase)}', a hedge or lead-in", 0.15)


def _open_subject(tokens: list[str]) -> Trail | None:
    """A subject pronoun at the end starts a clause ("what I", "my kids they", "and then we").

    Not after an auxiliary ("so did I") or in a coordinated noun phrase ("my sister and I").
    """
    last, prev = tokens[-1], tokens[-2] if len(tokens) > 1 else ""
    if last in LATE_SUBJECTS and prev in LATE_SUBJECT_AFTER:
        return Trail(f"ends with '{prev} {last}': a clause is starting", 0.1)
    if last not in SUBJECTS or (not prev and last != "i") or prev in INVERTING_AUX:
        return None
    if prev in {"and", "or", "nor"}:
        before = lead(tokens[:-2])
        if len(before) == 1 or (before and not _VERB_LIKE.intersection(before)):
            return None
    return Trail(f"ends with '{last}': a new clause is starting", 0.1)


def _stranded_preposition(tokens: list[str]) -> bool:
    """ "the people I work with", "nothing I can think of": the preposition closes a relative clause.

    Not when the answer *starts* with the "what" ("what I'm grateful for" leads into "is...").
    """
    content_start = len(tokens) - len(lead(tokens))
    for j in range(len(tokens) - 2, max(len(tokens) - 6, 0), -1):
        if tokens[j] in _ANY_SUBJECT and tokens[j - 1] in STRANDING_HEADS:
            return not (tokens[j - 1] == "what" and j - 1 == content_start)
    return False


def _open_copula(tokens: list[str], kind: str) -> Trail | None:
    """ "today was", "my goal is", "what I'm trying to say is": the point is still to come.

    Complete when it closes an embedded clause ("it is what it is", "who I am") or is an
    elliptical answer to a yes/no question ("Was it fun?" "It was.").
    """
    last, prev = tokens[-1], tokens[-2] if len(tokens) > 1 else ""
    if last not in COPULAS:
        return None
    if prev in PRONOUNS and (kind == "yes-no" or any(t in WH_WORDS for t in tokens[:-2])):
        return None
    if prev in PRONOUNS and "way" in tokens[:-2]:
        return None  # "that's the way it is"
    return Trail(f"ends with '{last}' before saying what", 0.2)


def _open_demonstrative(tokens: list[str]) -> Trail | None:
    """ "I think that", "the fact that", "there was this": a clause or a noun should follow.

    Complete as an object ("I'm proud of that", "I did that", "I like this"). After "know"
    or "said" it is ambiguous, which `ambiguity` handles.
    """
    last, prev = tokens[-1], tokens[-2] if len(tokens) > 1 else ""
    if last not in DEMONSTRATIVES or not prev or prev in OBJECT_DEMONSTRATIVE_AFTER:
        return None
    if last == "that" and prev in KNOW_SAY_VERBS:
        return None
    return Trail(f"ends with '{last}': a clause or a noun should follow", 0.2)


def _open_clause_verb(tokens: list[str], kind: str) -> Trail | None:
    """ "I realized", "tomorrow I want": a new clause whose verb needs what comes next.

    Not in a relative clause ("things I want"); to a yes/no question it may be a whole
    elliptical answer ("Did you go?" "I went"), which `ambiguity` handles.
    """
    if len(tokens) < 2 or kind == "yes-no":
        return None
    last, subject = tokens[-1], tokens[-2]
    starts_clause = len(tokens) == 2 or tokens[-3] in CLAUSE_START_BEFORE or is_filler(tokens[-3])
    if last in COMPLEMENT_VERBS and subject in _SUBJECT_OR_YOU and starts_clause:
        return Trail(f"ends with '{last}', which needs what comes after it", 0.2)
    return None


def _verbless_when(tokens: list[str], kind: str) -> Trail | None:
    """ "when my boss": a "when" clause that has its subject but not yet its verb."""
    content = lead(tokens)
    if not content or content[0] not in VERBLESS_OPENERS or content[0] == kind:
        return None
    if not 2 <= len(content) <= 3 or content[1] not in _NOUN_STARTERS:
        return None
    if any(t.endswith("ed") or t in COPULAS_AND_AUX for t in content[2:]):
        return None
    return Trail(f"a '{content[0]}' clause with no verb yet", 0.2)


def _open_phrase(tokens: list[str]) -> Trail | None:
    """Phrases that promise their point: "it started off", "the hardest thing", "be more"."""
    last, prev = tokens[-1], tokens[-2] if len(tokens) > 1 else ""
    if any(ends_with(tokens, phrase) for phrase in OPEN_PHRASALS):
        return Trail("ends with a phrasal verb that needs a complement", 0.2)
    if last in POINT_NOUNS and prev in SUPERLATIVES:
        return Trail(f"ends with '{prev} {last}': the point is still to come", 0.2)
    if last in COMPARATIVES and prev in COMPARATIVE_OPEN_AFTER:
        return Trail(f"ends with '{last}', which needs an adjective", 0.2)
    if last in LEAD_ADVERBS and not lead(tokens[:-1]):
        return Trail(f"only '{last}': the answer has not started", 0.2)
    return None


def _function_word(tokens: list[str], raw: str, kind: str) -> Trail | None:
    """The last word is a function word that needs more: conjunction, article, preposition..."""
    last = tokens[-1]
    prev = tokens[-2] if len(tokens) > 1 else ""
    if last == "like" and prev not in _SUBJECT_OR_YOU:
        return Trail("ends with the filler 'like'", 0.15)
    if last == "well" and (not prev or prev in _WELL_FILLER_BEFORE or COMMA_WELL.search(raw)):
        return Trail("ends with the filler 'well'", 0.15)
    if last == "so" and prev not in SO_CLOSERS:
        return Trail("ends with the conjunction 'so'", 0.1)
    if last in CONJUNCTIONS:
        return Trail(f"ends with the conjunction '{last}'", 0.1)
    if last == "while" and prev not in TIME_WHILE_BEFORE:
        return Trail("ends with the conjunction 'while'", 0.1)
    if last in DETERMINERS:
        return Trail(f"ends with '{last}', which needs a word after it", 0.1)
    if last in OPEN_CONTRACTIONS:
        return Trail(f"ends with '{last}', which needs a complement", 0.1)
    if last in LINKERS and prev in LINKER_AFTER:
        return Trail(f"ends with '{prev} {last}': a new thought is starting", 0.15)
    if last == "just":
        return Trail("ends with 'just', which needs a word after it", 0.15)
    if last in HEAD_SEEKING_ADVERBS and prev in _HEAD_SEEKER_BEFORE:
        return Trail(f"ends with '{last}', which needs a verb or adjective", 0.15)
    if last == "not" and prev in _OPEN_NOT_BEFORE:
        return Trail("ends with 'not', which needs what is not", 0.15)
    if last == "not" and kind != "yes-no" and prev in COPULAS_AND_AUX:
        return Trail("ends with 'not', which needs what is not", 0.15)
    if last in INFINITIVE_OPEN_VERBS and prev == "to":
        return Trail(f"ends with 'to {last}', which needs what comes after it", 0.2)
    if last == "to" and prev in ELLIPSIS_VERBS:
        return Trail(f"ends with '{prev} to': maybe a complete ellipsis, maybe not", 0.35)
    if last in PREPOSITIONS and not _stranded_preposition(tokens):
        return Trail(f"ends with the preposition '{last}'", 0.2)
    if last in WH_WORDS and prev and prev not in WH_OK_AFTER:
        return Trail(f"ends with '{last}', which opens a clause", 0.25)
    return None


def trailing_words(tokens: list[str], raw: str, kind: str) -> Trail | None:
    """The last word(s) leave a gap ("and", "the", "um", "I'm", "what I", "I think that")."""
    if is_filler(tokens[-1]):
        return Trail(f"ends with the filler '{tokens[-1]}'", 0.15)
    tag = tag_ending(tokens)
    if tag is not None:
        return _tagged(tokens, tag, raw, kind)
    hedge = next((phrase for phrase in HEDGE_PHRASES if ends_with(tokens, phrase)), None)
    if hedge is not None:
        return _hedge(tokens, hedge, kind)
    return (
        _function_word(tokens, raw, kind)
        or _open_subject(tokens)
        or _open_phrase(tokens)
        or _open_copula(tokens, kind)
        or _open_demonstrative(tokens)
        or _open_clause_verb(tokens, kind)
        or _verbless_when(tokens, kind)
    )


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


def ambiguity(tokens: list[str], raw: str, kind: str) -> str | None:
    """Why an answer that does not trail off might still be a lead-in, or None.

    Such answers move on only after a very long pause (a whole silent turn).
    """
    last, prev = tokens[-1], tokens[-2] if len(tokens) > 1 else ""
    if kind != "yes-no" and _only_acknowledgement(tokens, kind):
        return "only an acknowledgement; the answer may not have started"
    content = lead(tokens)
    if _projects_main_clause(content, kind) and len(tokens) <= 8 and "," not in raw:
        return f"a lone '{content[0]}' clause usually has a main clause to come"
    if last == "that" and prev in KNOW_SAY_VERBS:
        return f"'{prev} that' may be the whole thought or lead into a clause"
    if last == "that" and prev == "of" and len(tokens) > 2 and tokens[-3] in QUANTITY_OF:
        return f"'{tokens[-3]} of that' may be the whole thought or lead into a noun"
    if kind != "yes-no" and last in AUXILIARIES and prev in _ELLIPSIS_SUBJECTS:
        return f"ends with '{last}': maybe an elliptical answer, maybe more to come"
    if kind == "yes-no" and last in COMPLEMENT_VERBS and prev in _SUBJECT_OR_YOU:
        return f"ends with '{last}': to a yes/no question maybe whole, maybe not"
    return None
