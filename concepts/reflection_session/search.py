"""Finding one's own reflections, and giving them all back: search by words and dates, export.

Answers are encrypted at rest with a key per user, so no database index can look inside
them. A search reads the user's own search index instead (:mod:`.index`: one encrypted
document per month, holding the folded words of each reflection), decrypts it here, in
the server's memory, matches the words, then reads and decrypts only the reflections it
shows, checking each against the words again. Nothing is sent anywhere
(bench/search.py: about 1,100 reflections in 75-115 ms at the median, 143 ms at worst;
docs/benchmarks.md).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from itertools import islice
from typing import Annotated, Any

from conceptkit import NO_MARKS, Doc, Range, query

from .index import EPOCH, MS, Entry
from .rules import SessionId
from .terms import MAX_TERMS, SearchWords, fold, matched_positions, parse_terms

__all__ = ["MAX_TERMS", "SearchQueries", "SearchWords", "fold", "parse_terms"]

# What a search reads of a session it shows: what it matches and shows, never the
# transcript nor the marks (large, and not searched).
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


def _in_range(entry: Entry, since: dt.datetime | None, until: dt.datetime | None) -> bool:
    """Whether the entry's reflection started in [since, until), as the database compares
    them: the start is kept to the millisecond, and so is ``until`` when it is sent."""
    started = EPOCH + entry[0] * MS
    if since is not None and started < since:
        return False
    return until is None or started < until - dt.timedelta(microseconds=until.microsecond % 1000)


class SearchQueries:
    """``_search`` and ``_export`` of ReflectionSession (a part of the concept)."""

    collection: Any
    _open: Any
    _summary: Any
    _qa: Any
    _now: Any
    _index_entries: Any

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
        entries = await self._index_entries(user, since, until)

        def candidates() -> Iterator[str]:  # newest first, as the index finds them
            for session in sorted(entries, reverse=True):
                entry = entries[session]
                if (
                    (before is None or session < before)
                    and _in_range(entry, since, until)
                    and matched_positions(entry[2], entry[3], terms) is not None
                ):
                    yield session

        found: list[dict[str, Any]] = []
        pending = candidates()
        while len(found) < limit:
            batch = list(islice(pending, limit - len(found)))
            if not batch:
                break
            filt = {"_id": {"$in": batch}, "user": user}
            docs = {d["_id"]: d async for d in self.collection("sessions").find(filt, SEARCHED)}
            for session in batch:  # gone (deleted since), or no longer matching: not shown
                doc = docs.get(session)
                row = None if doc is None else self._summary(doc)
                matched = None if row is None else _matched(row["prompts"], terms)
                if matched is not None:
                    found.append({**row, "matched": matched})
        return found

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


def _matched(rows: list[Mapping[str, Any]], terms: list[re.Pattern[str]]) -> list[int] | None:
    """The positions of a reflection (its rows, as ``_summary`` shows them) where a term is
    found in the prompt or the answer, or None unless every term is found."""
    prompts = {r["position"]: fold(r["text"] or "") for r in rows}
    answers = {r["position"]: fold(r["answer"]) for r in rows if r["answer"] is not None}
    return matched_positions(prompts, answers, terms)
