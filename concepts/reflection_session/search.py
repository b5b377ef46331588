"""Finding one's own reflections, and giving them all back: search by words and dates, export.

Answers are encrypted at rest with a key per user, so no database index can look inside
them. A search reads only the asking user's sessions, decrypts their prompts and answers
here, in the server's memory, matches the words, and keeps nothing: no index, no copy, no
request to anything outside (bench/search.py: about 1,100 reflections under 300 ms).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any

from conceptkit import NO_MARKS, Doc, Len, Range, query

from .rules import SessionId

SearchWords = Annotated[
    str,
    Len(0, 200),
    Doc(
        'words to find in prompts and answers, all of them (a word finds words it begins: "walk" '
        'finds "walked"); "quoted words" must appear together; empty: every reflection'
    ),
]
MAX_TERMS = 12
# What a search reads of every session: what it matches and shows, never the transcript
# nor the marks (large, and not searched).
SEARCHED = {
    name: 1
    for name in [
        "user",
        "method",
        "status",
        "startedAt",
        "endedAt",
        "callRef",
        "abandonReason",
        "rating",
        "recordingUrl",
        "prompts",
        "responses",
    ]
}
_TERM = re.compile(r'"([^"]*)"|(\S+)')
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Lower case without accents, so "Café" finds "cafe" and "CAFÉ"."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


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


class SearchQueries:
    """``_search`` and ``_export`` of ReflectionSession (a part of the concept)."""

    collection: Any
    _open: Any
    _prompt: Any
    _summary: Any
    _qa: Any
    _now: Any

    def _answers(self, doc: Mapping[str, Any]) -> dict[int, str]:
        """Each recorded answer, decrypted and folded, by position."""
        user, session = doc["user"], doc["_id"]
        return {
            r["position"]: fold(self._open(r["text"], user, session, f"response.{r['position']}"))
            for r in doc.get("responses", [])
        }

    def _prompts(self, doc: Mapping[str, Any]) -> dict[int, str]:
        """Each prompt's text, decrypted and folded, by position."""
        return {p["position"]: fold(self._prompt(doc, p) or "") for p in doc["prompts"]}

    @query(private=("prompts",))
    async def _search(
        self,
        user: str,
        words: SearchWords = "",
        since: Annotated[dt.datetime | None, Doc("only reflections started at or after")] = None,
        until: Annotated[dt.datetime | None, Doc("only reflections started before")] = None,
        limit: Annotated[int, Range(1, 100)] = 50,
        before: SessionId | None = None,
    ) -> list[dict[str, Any]]:
        """The user's reflections that hold every term of ``words`` in their prompts and
        answers and started in [since, until), newest first, as ``_history`` gives them, each
        with ``matched``: the positions where a term was found. Page with ``before`` = the last session of a page."""
        terms = parse_terms(words)
        filt: dict[str, Any] = {"user": user}
        if before is not None:
            filt["_id"] = {"$lt": before}
        if since is not None or until is not None:
            filt["startedAt"] = {
                **({"$gte": since} if since is not None else {}),
                **({"$lt": until} if until is not None else {}),
            }
        # Read unsorted and sort here: on the embedded server a sorted read, or one that
        # excludes fields, of every session costs a good deal more (bench/search.py).
        docs = [d async for d in self.collection("sessions").find(filt, SEARCHED)]
        docs.sort(key=lambda d: d["_id"], reverse=True)
        found: list[dict[str, Any]] = []
        for doc in docs:
            started = doc["startedAt"]
            if started.tzinfo is None:
                started = started.replace(tzinfo=dt.UTC)
            if (since is not None and started < since) or (until is not None and started >= until):
                continue
            matched = self._matched(doc, terms)
            if matched is not None:
                found.append({**self._summary(doc), "matched": matched})
                if len(found) == limit:
                    break
        return found

    def _matched(self, doc: Mapping[str, Any], terms: list[re.Pattern[str]]) -> list[int] | None:
        """The positions whose prompt or answer holds a term, or None unless every term is
        found. A term is matched within one prompt or one answer, never across two. The
        prompts are read only when the answers do not hold every term, or to say where."""
        if not terms:
            return []
        answers = self._answers(doc)
        rest = [t for t in terms if not any(t.search(a) for a in answers.values())]
        prompts = self._prompts(doc)
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

    @query(private=("reflections",))
    async def _export(self, user: str) -> list[dict[str, Any]]:
        """Every reflection of the user in full, oldest first (answers with their times,
        rating, transcript, the recording's link and transcription), and when this was read:
        one row, so an export is one answer."""
        docs = self.collection("sessions").find({"user": user}, NO_MARKS).sort("_id", 1)
        reflections = []
        async for doc in docs:
            session = doc["_id"]
            out = self._summary(doc)
            out["prompts"] = self._qa(doc, times=True)
            out["transcript"] = self._open(doc.get("transcript"), user, session, "transcript")
            out["transcriptionText"] = self._open(
                doc.get("transcriptionText"), user, session, "transcriptionText"
            )
            reflections.append(out)
        return [{"reflections": reflections, "at": self._now()}]
