"""Exactly-once effects: an action's change and the mark that it happened, in one write.

A process can die between an action's write and the log record that says it ran.
The replay that follows runs the action again with the same action id. To make that
second run return what the first returned instead of deciding afresh (and being
refused by its own guard, so that the reactions the first run owed never fire), every
write an action makes through these helpers carries a *mark*: the action's id and its
outputs, pushed onto the ``_effects`` list of the document it changes, in the same
single-document write as the change itself. A run that finds its own mark on the
document returns the recorded outputs and changes nothing.

Concept authors write no replay logic: they describe the change, and the helpers of
``Concept.store(name)`` (``create``, ``change``, ``claim``, ``recorded``) apply it with its
mark, retrying a lost compare-and-set race on the document's ``version``. Ids made with ``Concept.new_id``
inside an action are derived from the action id, so a replayed insert collides with its
first run's document and finds the mark there.

Outside an engine invocation (a unit test calling a concept directly) the helpers
work the same, without marks.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import attrs
from pymongo.errors import DuplicateKeyError

MARKS = "_effects"  # on each document: the latest actions that changed it, with their outputs
KEEP_MARKS = 10  # a replay comes within minutes; this many later changes would push a mark out
NO_MARKS = {MARKS: 0}  # a projection for reads that do not need the marks (they can be large)
CAS_ATTEMPTS = 25


@attrs.frozen
class Change:
    """What an action decided for one document: the fields to set and unset, and its outputs."""

    outputs: dict[str, Any]
    set: Mapping[str, Any] = attrs.Factory(dict)
    unset: Sequence[str] = ()


@attrs.define
class Scope:
    """The action being run: its id, and how its outputs are stored in a mark."""

    action_id: str
    encode: Callable[[dict[str, Any]], dict[str, Any]] = dict
    decode: Callable[[dict[str, Any]], dict[str, Any]] = dict
    # Told of each document the action is about to write, before it writes it: a root
    # makes its record durable first, naming the documents its mark will be on.
    before_write: Callable[[list[dict[str, Any]]], Awaitable[None]] | None = None
    # an earlier run may have left a mark: a recovery pass, an immediate retry, or a
    # caller that invokes again with the same action id
    replaying: bool = False
    ids: int = 0
    wrote: bool = False
    targets: list[dict[str, Any]] = attrs.Factory(list)  # {"c": collection, "id": _id}

    def derived_id(self) -> str:
        """The n-th id this action makes: the same on every run of the same action.

        It keeps the action id's leading (time-ordered) part and then counts, so the ids
        an action makes sort after its cause and in the order they were made.
        """
        self.ids += 1
        digest = hashlib.sha256(f"{self.action_id}|{self.ids}".encode()).hexdigest()
        return f"{self.action_id[:20]}{self.ids:02x}{digest[:10]}"

    async def writing(self, collection: Any, doc_id: Any) -> None:
        """The action is about to write document ``doc_id`` of ``collection`` with its mark."""
        target = {"c": collection.name, "id": doc_id}
        if target in self.targets:
            return
        if self.before_write is not None:
            await self.before_write([*self.targets, target])
        self.targets.append(target)
        self.wrote = True

    def mark(self, outputs: dict[str, Any]) -> dict[str, Any]:
        return {"a": self.action_id, "o": self.encode(outputs)}

    def recorded(self, doc: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The outputs this action's earlier run left on ``doc``, if it left a mark there."""
        if doc is None:
            return None
        for mark in doc.get(MARKS) or ():
            if isinstance(mark, Mapping) and mark.get("a") == self.action_id:
                return self.decode(mark.get("o") or {})
        return None


_scope: ContextVar[Scope | None] = ContextVar("conceptkit_effect_scope", default=None)


def current() -> Scope | None:
    return _scope.get()


def enter(scope: Scope | None) -> Any:
    return _scope.set(scope)


def leave(token: Any) -> None:
    _scope.reset(token)


def reading(scope: Scope | None) -> dict[str, int] | None:
    """The projection for reading a document an action may change: its marks only when an
    earlier run may have left one there (a first run cannot find its own)."""
    return None if scope is not None and scope.replaying else NO_MARKS


def _push(scope: Scope | None, outputs: dict[str, Any]) -> dict[str, Any]:
    if scope is None:
        return {}
    return {"$push": {MARKS: {"$each": [scope.mark(outputs)], "$slice": -KEEP_MARKS}}}


async def create(collection: Any, document: dict[str, Any], outputs: dict[str, Any]) -> dict | None:
    """Insert ``document`` as the current action's effect; returns ``outputs``.

    None if a unique key is taken by another action's document (the caller says why).
    A replay finds its own document (same derived ``_id``) and returns what it returned.
    """
    scope = current()
    if scope is not None:
        await scope.writing(collection, document["_id"])
        document = {**document, MARKS: [scope.mark(outputs)]}
    try:
        await collection.insert_one(document)
    except DuplicateKeyError:
        if scope is not None:
            done = scope.recorded(await collection.find_one({"_id": document["_id"]}))
            if done is not None:
                return done
        return None
    return outputs


Find = Mapping[str, Any] | Callable[[], Awaitable[dict[str, Any] | None]]
Decision = Change | dict[str, Any]


async def _decided(decision: Decision | Awaitable[Decision]) -> Decision:
    return await decision if inspect.isawaitable(decision) else decision


async def _write(
    collection: Any, scope: Scope | None, doc: Mapping[str, Any], decided: Change, where: Mapping
) -> bool:
    """Apply a decided change with its mark, if ``doc`` is still at the version read."""
    if scope is not None:
        await scope.writing(collection, doc["_id"])
    update: dict[str, Any] = {"$inc": {"version": 1}, **_push(scope, decided.outputs)}
    if decided.set:
        update["$set"] = dict(decided.set)
    if decided.unset:
        update["$unset"] = dict.fromkeys(decided.unset, "")
    version = doc.get("version")
    expected = {"$exists": False} if version is None else version
    res = await collection.update_one({**where, "_id": doc["_id"], "version": expected}, update)
    return res.matched_count == 1


def _busy() -> dict[str, Any]:
    return {
        "error": "the record is being changed concurrently; try again",
        "errorKind": "unavailable",
    }


async def change(
    collection: Any,
    find: Find,
    decide: Callable[[dict[str, Any]], Decision | Awaitable[Decision]],
    missing: dict[str, Any],
) -> dict[str, Any]:
    """Compare-and-set one document as the current action's effect.

    ``find`` is a filter or a coroutine function returning the document (None: not
    found, and ``missing`` is returned). ``decide(doc)`` returns a failure (``fail(...)``,
    which changes nothing) or a ``Change``. The change is written only if the document's
    ``version`` is still the one read; a lost race reads and decides again. A document
    carrying this action's mark has the change already: its outputs are returned.
    """
    scope = current()
    for _ in range(CAS_ATTEMPTS):
        if isinstance(find, Mapping):
            doc = await collection.find_one(find, reading(scope))
        else:
            doc = await find()
        done = scope.recorded(doc) if scope is not None else None
        if done is not None:
            return done
        if doc is None:
            return missing
        decided = await _decided(decide(doc))
        if not isinstance(decided, Change):
            return decided  # a failure: nothing changes
        if await _write(collection, scope, doc, decided, {}):
            return decided.outputs
    return _busy()


async def claim(
    collection: Any,
    candidates: Sequence[Mapping[str, Any]],
    sort: Sequence[tuple[str, int]],
    decide: Callable[[dict[str, Any], int], Change],
    among: Mapping[str, Any],
) -> dict[str, Any] | None:
    """Take the first document matching one of the ``candidates`` filters, in ``sort`` order.

    ``decide(doc, which)`` gives the change and outputs for the document found by
    candidate ``which``; the change is a compare-and-set that also requires the filter
    to still hold, so two claimers never take one document (the loser looks again).
    None if nothing matched. A replay looks for the document carrying this action's
    mark ``among`` the documents a claim leaves (the mark list is not indexed, so this
    narrows the scan) and returns what the first run returned instead of taking another.
    """
    scope = current()
    if scope is not None and scope.replaying:
        taken = await collection.find_one({**among, f"{MARKS}.a": scope.action_id})
        done = scope.recorded(taken)
        if done is not None:
            return done
    for _ in range(CAS_ATTEMPTS):
        found = await _first(collection, candidates, sort)
        if found is None:
            return None
        doc, which = found
        decided = decide(doc, which)
        if await _write(collection, scope, doc, decided, candidates[which]):
            return decided.outputs
    return _busy()


async def _first(
    collection: Any, candidates: Sequence[Mapping[str, Any]], sort: Sequence[tuple[str, int]]
) -> tuple[dict[str, Any], int] | None:
    """The first document of the first candidate filter that matches any, and its index."""
    for which, filt in enumerate(candidates):
        doc = await collection.find_one(filt, sort=list(sort))
        if doc is not None:
            return doc, which
    return None


class Store:
    """A concept's collection, written through effect marks (``Concept.store(name)``).

    Reads go to ``.collection`` as usual; writes that are an action's effect go through
    ``create``, ``change`` and ``claim`` so that a replay of the action finds them.
    """

    def __init__(self, collection: Any) -> None:
        self.collection = collection

    @property
    def projection(self) -> dict[str, int] | None:
        """For a ``find`` coroutine given to ``change``: read the marks only when needed."""
        return reading(current())

    async def create(self, document: dict[str, Any], outputs: dict[str, Any]) -> dict | None:
        return await create(self.collection, document, outputs)

    async def recorded(self, among: Mapping[str, Any]) -> dict[str, Any] | None:
        """What the running action returned before, if an earlier run of it changed one of
        the documents ``among`` matches. An action whose effect takes several steps, or
        that reads other state before deciding, checks this first: on a replay it returns
        at once what it returned, instead of deciding again on state its first run changed."""
        scope = current()
        if scope is None or not scope.replaying:
            return None  # a first run: there is no earlier run to find (and no read is made)
        found = await self.collection.find_one({**among, f"{MARKS}.a": scope.action_id})
        return scope.recorded(found)

    async def change(
        self,
        find: Find,
        decide: Callable[[dict[str, Any]], Decision | Awaitable[Decision]],
        *,
        missing: dict[str, Any],
    ) -> dict[str, Any]:
        return await change(self.collection, find, decide, missing)

    async def claim(
        self,
        candidates: Sequence[Mapping[str, Any]],
        *,
        sort: Sequence[tuple[str, int]],
        decide: Callable[[dict[str, Any], int], Change],
        among: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        return await claim(self.collection, candidates, sort, decide, among)


def current_action_id() -> str | None:
    """The id of the action running now: the same on its replays (None outside an action)."""
    scope = current()
    return None if scope is None else scope.action_id


def new_id_for_action(fallback: Callable[[], str]) -> str:
    """An id derived from the running action (the same on its replay), else ``fallback()``."""
    scope = current()
    return scope.derived_id() if scope is not None else fallback()
