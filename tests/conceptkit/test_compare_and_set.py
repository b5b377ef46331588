"""The compare-and-set helpers of ``Concept.store``: ``change`` and ``change_or_create``.

Concurrent writers of one document must neither overwrite each other nor create it
twice: each change is decided on the version it read, a lost race decides again, and
a lost creation changes the winner's document instead. The property tests run the
helpers against an in-memory collection whose every call yields to the other writers
a number of times hypothesis chooses, so it explores (and shrinks) interleavings; the
last tests do the same on the real database.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymongo.errors import DuplicateKeyError

from conceptkit import MARKS, Change, Store, fail
from conceptkit._cas import applied
from conceptkit._effects import Scope, enter, leave

# -- an in-memory collection whose calls interleave as told --------------------------


@attrs.define
class Updated:
    matched_count: int


def _get(doc: Mapping[str, Any], path: str) -> Any:
    node: Any = doc
    for key in path.split("."):
        if isinstance(node, list):
            return [item.get(key) for item in node if isinstance(item, Mapping)]
        if not isinstance(node, Mapping) or key not in node:
            return _ABSENT
        node = node[key]
    return node


_ABSENT = object()


def _matches(doc: Mapping[str, Any], filt: Mapping[str, Any]) -> bool:
    for path, want in filt.items():
        have = _get(doc, path)
        if isinstance(want, Mapping) and "$exists" in want:
            if (have is not _ABSENT) != want["$exists"]:
                return False
        elif isinstance(have, list) and "." in path:
            if want not in have:
                return False
        elif have is _ABSENT or have != want:
            return False
    return True


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        doc = doc.setdefault(key, {})
    doc[leaf] = value


class InterleavedCollection:
    """Just enough of pymongo's AsyncCollection for the helpers, with a unique ``_id``.

    Before and after each call it yields ``next(pauses)`` times to the event loop, so the
    other writers run in between: a document read is often stale when it is written.
    """

    name = "Things"

    def __init__(self, pauses: Iterator[int]) -> None:
        self.docs: dict[Any, dict[str, Any]] = {}
        self.pauses = pauses

    async def _pause(self) -> None:
        for _ in range(next(self.pauses)):
            await asyncio.sleep(0)

    async def find_one(
        self, filt: Mapping[str, Any], projection: Mapping[str, int] | None = None, **_: Any
    ) -> dict[str, Any] | None:
        await self._pause()
        found = next((d for d in self.docs.values() if _matches(d, filt)), None)
        found = copy.deepcopy(found)
        if found is not None and projection:
            for field, keep in projection.items():
                if not keep:
                    found.pop(field, None)
        await self._pause()
        return found

    async def insert_one(self, doc: dict[str, Any]) -> None:
        await self._pause()
        if doc["_id"] in self.docs:
            raise DuplicateKeyError("E11000 duplicate key error: _id")
        self.docs[doc["_id"]] = copy.deepcopy(doc)
        await self._pause()

    async def update_one(self, filt: Mapping[str, Any], update: Mapping[str, Any]) -> Updated:
        await self._pause()
        doc = next((d for d in self.docs.values() if _matches(d, filt)), None)
        if doc is None:
            return Updated(0)
        for path, by in update.get("$inc", {}).items():
            _set(doc, path, (doc.get(path) or 0) + by)
        for path, value in update.get("$set", {}).items():
            _set(doc, path, copy.deepcopy(value))
        for path in update.get("$unset", {}):
            doc.pop(path, None)
        for path, push in update.get("$push", {}).items():
            doc[path] = [*doc.get(path, []), *copy.deepcopy(push["$each"])][push["$slice"] :]
        await self._pause()
        return Updated(1)


def pauses_from(drawn: list[int]) -> Iterator[int]:
    """The drawn pauses in turn, then none (so every run ends)."""
    return itertools.chain(drawn, itertools.repeat(0))


def increment(name: str):
    """A writer's decision: count one more, note who, and report the count it saw."""

    def decide(doc: dict[str, Any]) -> Change:
        return Change({"saw": doc["n"]}, set={"n": doc["n"] + 1, f"by.{name}": True})

    return decide


INITIAL = {"_id": "k", "n": 0, "by": {}, "version": 0}

# -- properties -------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(writers=st.integers(2, 6), drawn=st.lists(st.integers(0, 4), max_size=120))
def test_concurrent_writers_each_count_once_and_create_one_document(writers, drawn):
    """However the writers interleave, exactly one creates the document, every writer's
    change lands once, and each saw a different count: none overwrote another."""
    things = InterleavedCollection(pauses_from(drawn))
    store = Store(things)

    async def main() -> list[dict[str, Any]]:
        return await asyncio.gather(
            *(
                store.change_or_create({"_id": "k"}, increment(f"w{i}"), initial=INITIAL)
                for i in range(writers)
            )
        )

    outs = asyncio.run(main())
    assert sorted(out["saw"] for out in outs) == list(range(writers)), outs
    (doc,) = things.docs.values()
    assert doc["n"] == writers and doc["version"] == writers - 1
    assert doc["by"] == {f"w{i}": True for i in range(writers)}


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.tuples(st.sampled_from("abcde"), st.booleans()), min_size=1, max_size=8),
    drawn=st.lists(st.integers(0, 3), max_size=60),
)
def test_a_replayed_action_returns_what_it_returned_and_changes_nothing(steps, drawn):
    """Each step runs action ``name`` (its first run, or a replay with the same id while
    another writer runs beside it): a replay finds its mark, on the document it created or
    changed, and returns its first outputs; the count is each action's once."""
    things = InterleavedCollection(pauses_from(drawn))
    store = Store(things)
    first: dict[str, dict[str, Any]] = {}

    async def run(name: str, replaying: bool) -> dict[str, Any]:
        token = enter(Scope(f"action-{name}", replaying=replaying))
        try:
            return await store.change_or_create({"_id": "k"}, increment(name), initial=INITIAL)
        finally:
            leave(token)

    async def main() -> None:
        for n, (name, beside) in enumerate(steps):
            if name not in first:
                first[name] = await run(name, False)
                continue
            other = f"other{n}"
            again, _ = await asyncio.gather(
                run(name, True), run(other, False) if beside else asyncio.sleep(0)
            )
            assert again == first[name]
            if beside:
                first[other] = {}

    asyncio.run(main())
    (doc,) = things.docs.values()
    assert doc["n"] == len(first)
    assert set(doc["by"]) == set(first)


# -- the helpers' contract ---------------------------------------------------------


def test_applied_sets_and_unsets_dotted_paths_on_copies():
    nested = {"a": {"b": 1, "c": 2}, "d": 3}
    out = applied(nested, Change({}, set={"a.b": 9, "e.f": 4}, unset=("a.c", "d", "x.y")))
    assert out == {"a": {"b": 9}, "e": {"f": 4}}
    assert nested == {"a": {"b": 1, "c": 2}, "d": 3}


async def test_a_decision_that_is_no_change_writes_nothing(async_db):
    store = Store(async_db["things"])
    refused = fail("not now")
    out = await store.change_or_create({"_id": "k"}, lambda doc: refused, initial=INITIAL)
    assert out == refused
    assert await async_db["things"].count_documents({}) == 0
    await async_db["things"].insert_one(dict(INITIAL))
    assert await store.change({"_id": "k"}, lambda doc: {}, missing=fail("gone")) == {}
    assert (await async_db["things"].find_one({"_id": "k"}))["version"] == 0


async def test_change_returns_missing_and_creates_nothing(async_db):
    gone = fail("no such thing", "not_found")
    out = await Store(async_db["things"]).change({"_id": "k"}, increment("w"), missing=gone)
    assert out is gone
    assert await async_db["things"].count_documents({}) == 0


async def test_initial_is_made_only_when_there_is_no_document(async_db):
    made = []

    def initial() -> dict[str, Any]:
        made.append(1)
        return dict(INITIAL)

    store = Store(async_db["things"])
    assert await store.change_or_create({"_id": "k"}, increment("a"), initial=initial) == {"saw": 0}
    assert await store.change_or_create({"_id": "k"}, increment("b"), initial=initial) == {"saw": 1}
    assert made == [1]


class Rivalled:
    """A collection where a rival's change lands between each of our reads and writes."""

    def __init__(self, collection: Any) -> None:
        self.collection, self.name = collection, collection.name

    async def find_one(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        return await self.collection.find_one(*args, **kwargs)

    async def update_one(self, filt: Mapping[str, Any], update: Mapping[str, Any]) -> Any:
        await self.collection.update_one({"_id": filt["_id"]}, {"$inc": {"version": 1}})
        return await self.collection.update_one(filt, update)


async def test_a_race_lost_every_time_returns_the_busy_failure(async_db):
    await async_db["things"].insert_one(dict(INITIAL))
    store = Store(Rivalled(async_db["things"]))
    busy = fail("try again in a moment", "unavailable")
    assert await store.change({"_id": "k"}, increment("a"), missing={}, busy=busy) is busy
    out = await store.change_or_create({"_id": "k"}, increment("a"), initial=INITIAL)
    assert out["errorKind"] == "unavailable"
    assert (await async_db["things"].find_one({"_id": "k"}))["n"] == 0


async def test_concurrent_writers_on_the_database_count_once_each(async_db):
    """The first property, on the real database: twelve writers at once, most of them
    finding no document, racing to create it, then racing to change it."""
    await async_db["things"].create_index("n")  # the collection exists: no race to make it
    store = Store(async_db["things"])
    writers = 12
    outs = await asyncio.gather(
        *(
            store.change_or_create({"_id": "k"}, increment(f"w{i}"), initial=INITIAL)
            for i in range(writers)
        )
    )
    assert sorted(out["saw"] for out in outs) == list(range(writers))
    (doc,) = await async_db["things"].find({}).to_list(None)
    assert doc["n"] == writers and len(doc["by"]) == writers


async def test_a_replay_on_the_database_finds_the_mark_of_its_creation(async_db):
    store = Store(async_db["things"])

    async def run(replaying: bool) -> dict[str, Any]:
        token = enter(Scope("action-1", replaying=replaying))
        try:
            return await store.change_or_create({"_id": "k"}, increment("a"), initial=INITIAL)
        finally:
            leave(token)

    assert await run(False) == {"saw": 0}
    assert await run(True) == {"saw": 0}
    doc = await async_db["things"].find_one({"_id": "k"})
    assert doc["n"] == 1 and [m["a"] for m in doc[MARKS]] == ["action-1"]


@pytest.mark.parametrize("unique_on", ["_id", "owner"])
async def test_a_creation_lost_to_a_unique_index_changes_the_winner(async_db, unique_on):
    """Two creators whose documents differ in ``_id`` collide on a unique index instead."""
    things = async_db["things"]
    if unique_on == "owner":
        await things.create_index("owner", unique=True)
    ids = iter(["k1", "k2"])

    def initial() -> dict[str, Any]:
        return {**INITIAL, "_id": next(ids) if unique_on == "owner" else "k", "owner": "ann"}

    store = Store(things)
    outs = await asyncio.gather(
        *(
            store.change_or_create({"owner": "ann"}, increment(w), initial=initial)
            for w in ("a", "b")
        )
    )
    assert sorted(out["saw"] for out in outs) == [0, 1]
    (doc,) = await things.find({}).to_list(None)
    assert doc["n"] == 2
