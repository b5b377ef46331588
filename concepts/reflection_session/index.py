"""The search index: a few encrypted documents per user, so that a search reads and
decrypts those instead of every reflection the user ever made.

One document per user and month (of ``startedAt``, UTC) in ``searchIndex``, whose
``entries`` is one token sealed for the user: for each reflection of that month, its
session id, start (epoch milliseconds), the session's ``version`` it was made from, and
the folded words of each prompt and each recorded answer. A ``head`` document per user
says the buckets are complete.

Why it stays right across crashes (docs/concepts/ReflectionSession.md, *The search
index*): every write that changes a reflection's searchable text also sets
``reindexFor`` on the session, in that same write; the entry is brought up to date after
it, and only then is the flag removed (if the session is still at the version indexed).
So at every moment each reflection is either indexed at its latest text or flagged, and a
search first reads the flagged ones (a sparse index: normally none) and repairs them. A
user without a head (one from before the index, or an index deleted) is rebuilt from
the sessions at the next search. The index is derived state, rebuilt from the sessions,
not an action's effect: its writes carry no mark and are tried once; one that loses a
race leaves the session flagged, for the next search to repair.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pymongo.errors import DuplicateKeyError

from .rules import IN_PROGRESS, PHONE
from .terms import searchable

INDEX = "searchIndex"
HEAD = "head"
FORMAT = 1  # of the entries: a head or bucket of another format is rebuilt
# What an entry is made from: the session's text, when it started and its version.
# (and whether it is a call in progress, left to be indexed when it ends)
INDEXED = dict.fromkeys(
    ["user", "startedAt", "prompts", "responses", "version", "reindexFor", "method", "status"], 1
)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MS = dt.timedelta(milliseconds=1)

# An entry, as stored (JSON): [startedMs, version, {position: words}, {position: words}]
Entry = list[Any]


def month_of(started: dt.datetime) -> str:
    """The bucket of a reflection: the month it started in, UTC ("2026-03")."""
    started = started.replace(tzinfo=dt.UTC) if started.tzinfo is None else started
    return started.astimezone(dt.UTC).strftime("%Y-%m")


def month_range(key: str) -> tuple[dt.datetime, dt.datetime]:
    """The first instant of a bucket's month, and of the next one."""
    year, month = int(key[:4]), int(key[5:7])
    start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=dt.UTC)
    return start, end


def started_ms(started: dt.datetime) -> int:
    """``startedAt`` as stored (BSON keeps milliseconds), as epoch milliseconds."""
    started = started.replace(tzinfo=dt.UTC) if started.tzinfo is None else started
    return (started - EPOCH) // MS


class SearchIndex:
    """The index's upkeep for ReflectionSession (a part of the concept, not a concept)."""

    collection: Any
    _seal: Any
    _open: Any
    _prompt: Any
    _now: Any

    async def _setup_index(self) -> None:
        await self.collection(INDEX).create_index("user")

    # -- entries ------------------------------------------------------------------------

    def _entry(self, doc: Mapping[str, Any]) -> Entry:
        """The index entry of a session document: what a search matches, never shows."""
        user, session = doc["user"], doc["_id"]
        prompts = {
            str(p["position"]): searchable(self._prompt(doc, p) or "") for p in doc["prompts"]
        }
        answers = {
            str(r["position"]): searchable(
                self._open(r["text"], user, session, f"response.{r['position']}")
            )
            for r in doc.get("responses", [])
        }
        return [started_ms(doc["startedAt"]), doc.get("version", 0), prompts, answers]

    def _entries(self, user: str, bucket: Mapping[str, Any] | None) -> dict[str, Entry]:
        """A bucket's entries, decrypted; none for a bucket of another format."""
        if bucket is None or bucket.get("format") != FORMAT:
            return {}
        return json.loads(self._open(bucket["entries"], user, bucket["key"], INDEX))

    def _merge(self, entries: dict[str, Entry], docs: Iterable[Mapping[str, Any]]) -> bool:
        """Put each session's entry in ``entries`` unless a newer one is there; True if any changed."""
        changed = False
        for doc in docs:
            new = self._entry(doc)
            old = entries.get(doc["_id"])
            if old is None or (old[1] <= new[1] and old != new):
                entries[doc["_id"]] = new
                changed = True
        return changed

    async def _write_bucket(
        self, user: str, key: str, bucket: Mapping[str, Any] | None, entries: dict[str, Entry]
    ) -> bool:
        """Store a bucket's entries once, if nobody changed it since ``bucket`` was read
        (None: there was none); False if someone did (the caller leaves its flags)."""
        sealed = self._seal(json.dumps(entries, separators=(",", ":")), user, key, INDEX)
        fields = {"entries": sealed, "count": len(entries), "format": FORMAT}
        index = self.collection(INDEX)
        if bucket is None:
            try:
                await index.insert_one(
                    {"_id": f"{user}/{key}", "user": user, "key": key, "version": 0, **fields}
                )
            except DuplicateKeyError:
                return False
            return True
        filt = {"_id": bucket["_id"], "version": bucket["version"]}
        res = await index.update_one(filt, {"$set": fields, "$inc": {"version": 1}})
        return res.matched_count == 1

    async def _unflag(self, docs: Iterable[Mapping[str, Any]]) -> None:
        """The sessions are indexed as they were read: remove their flags, unless they
        changed since (then the flag stays, for their own upkeep or the next search)."""
        still = [
            {"_id": d["_id"], "version": d.get("version", 0), "reindexFor": d["user"]}
            for d in docs
            if "reindexFor" in d  # a rebuild reads every session, flagged or not
        ]
        # update_many even for one (an action's own upkeep: no $or, the cheaper filter), so
        # the sessions' update_one writes stay the actions' own compare-and-set writes
        # (tests/app/test_no_one_stuck.py holds the nth of those)
        if still:
            filt = still[0] if len(still) == 1 else {"$or": still}
            await self.collection("sessions").update_many(filt, {"$unset": {"reindexFor": ""}})

    async def _put(self, user: str, docs: list[Mapping[str, Any]]) -> None:
        """Bring the entries of these sessions (of one user) up to date, then unflag them."""
        months: dict[str, list[Mapping[str, Any]]] = {}
        for doc in docs:
            months.setdefault(month_of(doc["startedAt"]), []).append(doc)
        index = self.collection(INDEX)
        for key, group in months.items():
            bucket = await index.find_one({"_id": f"{user}/{key}"})
            entries = self._entries(user, bucket)
            if not self._merge(entries, group) or await self._write_bucket(
                user, key, bucket, entries
            ):
                await self._unflag(group)

    # -- upkeep, from the actions -------------------------------------------------------

    async def _indexed(self, user: str, session: str, result: dict[str, Any]) -> dict[str, Any]:
        """``result`` of an action that may have changed the session's searchable text, once
        the entry is up to date (a failure changed nothing; a replay finds it done)."""
        if "error" not in result:
            await self._reindex(user, session)
        return result

    async def _reindex(self, user: str, session: str, *, started: bool = False) -> None:
        """After a write that changed the session's searchable text (and flagged it): its
        entry as the session now is. A call in progress is left flagged: its prompts and
        answers are indexed once, when it ends, not on each turn of the call (a search
        meanwhile indexes it first, as any flagged one). ``started`` (or a call ending):
        a new reflection, which makes the head of a user who has no other (the index of a
        new user is complete from the start)."""
        doc = await self.collection("sessions").find_one({"_id": session, "user": user}, INDEXED)
        if doc is None or "reindexFor" not in doc:
            return  # indexed already (a replay, or a search repaired it)
        calling = doc.get("method") == PHONE
        if calling and doc.get("status") == IN_PROGRESS:
            return  # a call's turns do not wait on the index
        await self._put(user, [doc])
        if started or calling:
            await self._head_for_new_user(user, session)

    async def _head_for_new_user(self, user: str, session: str) -> None:
        index = self.collection(INDEX)
        if await index.find_one({"_id": f"{user}/{HEAD}"}, {"_id": 1}) is not None:
            return
        others = self.collection("sessions").find({"user": user}, {"_id": 1}).limit(2)
        if [d["_id"] async for d in others] == [session]:
            await self._write_head(user)

    async def _write_head(self, user: str) -> None:
        head = {"user": user, "key": HEAD, "format": FORMAT, "builtAt": self._now()}
        await self.collection(INDEX).update_one(
            {"_id": f"{user}/{HEAD}"}, {"$set": head}, upsert=True
        )

    async def _drop_index(self, user: str) -> None:
        await self.collection(INDEX).delete_many({"user": user})

    # -- for a search ---------------------------------------------------------------------

    async def _index_entries(
        self, user: str, since: dt.datetime | None, until: dt.datetime | None
    ) -> dict[str, Entry]:
        """Every entry of the user's buckets that may hold a reflection started in
        [since, until), repaired first: the flagged sessions are indexed again, and a user
        without a complete index is indexed from all their sessions."""
        sessions = self.collection("sessions")
        # the flags before the buckets: an unflagged session's bucket is then current
        stale = [d async for d in sessions.find({"reindexFor": user}, INDEXED)]
        docs = {d["key"]: d async for d in self.collection(INDEX).find({"user": user})}
        head = docs.pop(HEAD, None)
        complete = head is not None and head.get("format") == FORMAT
        if not complete:
            stale = [d async for d in sessions.find({"user": user}, INDEXED)]
        months: dict[str, list[Mapping[str, Any]]] = {}
        for doc in stale:
            months.setdefault(month_of(doc["startedAt"]), []).append(doc)
        found: dict[str, Entry] = {}
        written = True
        for key in sorted(docs.keys() | months.keys()):
            start, end = month_range(key)
            relevant = (since is None or end > since) and (until is None or start < until)
            if not relevant and key not in months:
                continue
            entries = self._entries(user, docs.get(key))
            if key in months and self._merge(entries, months[key]):
                if await self._write_bucket(user, key, docs.get(key), entries):
                    await self._unflag(months[key])
                else:
                    written = False
            elif key in months:
                await self._unflag(months[key])
            if relevant:
                found.update(entries)
        if not complete and written:
            await self._write_head(user)
        return found
