"""What a search looks for, and where: its terms, the text they are matched against (folded:
no case, no accents), and which prompts and answers of a reflection hold them. No database."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Annotated

from conceptkit import Doc, Len

SearchWords = Annotated[
    str,
    Len(0, 200),
    Doc(
        'words to find in prompts and answers, all of them (a word finds words it begins: "walk" '
        'finds "walked"); "quoted words" must appear together; empty: every reflection'
    ),
]
MAX_TERMS = 12
_TERM = re.compile(r'"([^"]*)"|(\S+)')
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Lower case without accents, so "Café" finds "cafe" and "CAFÉ"."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def searchable(text: str) -> str:
    """The folded words of ``text``, one space apart: what the search index keeps of it.
    A term finds them exactly where it finds the folded text, because a term is matched
    word by word and any run of punctuation and spaces between two words is alike to it."""
    return " ".join(_WORD.findall(fold(text)))


def parse_terms(words: str) -> list[re.Pattern[str]]:
    """The terms of a search, each a pattern over folded text: one word, or a quoted
    phrase (words that follow each other). Each word is whole but the last, which may begin
    a longer word (the one being typed: "walk" finds "walked"). Punctuation is not searched."""
    terms: list[re.Pattern[str]] = []
    seen: set[tuple[str, ...]] = set()
    for phrase, word in _TERM.findall(words):
        found = tuple(_WORD.findall(fold(phrase or word)))
        if found and found not in seen:
            seen.add(found)
            whole = [re.escape(w) + r"(?!\w)" for w in found[:-1]]
            terms.append(re.compile(r"(?<!\w)" + r"\W+".join([*whole, re.escape(found[-1])])))
    return terms[:MAX_TERMS]


def matched_positions(
    prompts: Mapping[int, str], answers: Mapping[int, str], terms: list[re.Pattern[str]]
) -> list[int] | None:
    """The positions whose prompt or answer (folded) holds a term, or None unless every
    term is found. A term is matched within one prompt or one answer, never across two."""
    if not terms:
        return []
    rest = [t for t in terms if not any(t.search(a) for a in answers.values())]
    if not all(any(t.search(p) for p in prompts.values()) for t in rest):
        return None
    return [
        position
        for position in sorted(prompts.keys() | answers.keys())
        if any(
            t.search(prompts.get(position, "")) or t.search(answers.get(position, ""))
            for t in terms
        )
    ]
