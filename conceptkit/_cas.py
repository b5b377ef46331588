"""Compare-and-set: the read-decide-write retry loop, written once for every concept.

A change to a document is decided from the document as read, and written only if
nobody changed it meanwhile: the write's filter names the ``version`` that was read,
and the write increments it. A lost race reads again and decides again, so concurrent
writers never overwrite each other and never interleave. Three shapes cover what
concepts need:

- ``change``: the document must exist (else ``missing`` is returned);
- ``change_or_create``: when there is none, ``initial`` is created, with the change
  ``decide`` made to it. A concurrent creator's insert is refused by a unique key (the
  ``_id``, or a unique index), and the document it lost to is then changed instead;
- ``claim``: take the first document that one of several candidate filters matches.

Inside an action each write carries the action's mark (``_effects``), so a replay
returns what the first run returned instead of deciding again.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs

from ._effects import MARKS, Scope, create, current, push, reading

CAS_ATTEMPTS = 25


@attrs.frozen
class Change:
    """What an action decided for one document: the fields to set and unset, and its outputs."""

    outputs: dict[str, Any]
    set: Mapping[str, Any] = attrs.Factory(dict)
    unset: Sequence[str] = ()


Find = Mapping[str, Any] | Callable[[], Awaitable[dict[str, Any] | None]]
Decision = Change | dict[str, Any]
Decide = Callable[[dict[str, Any]], Decision | Awaitable[Decision]]
Initial = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


def contended() -> dict[str, Any]:
    """What a compare-and-set returns when it kept losing races (the caller may try again)."""
    return {
        "error": "the record is being changed concurrently; try again",
        "errorKind": "unavailable",
    }


async def _decided(decision: Decision | Awaitable[Decision]) -> Decision:
    return await decision if inspect.isawaitable(decision) else decision


async def _read(collection: Any, find: Find, scope: Scope | None) -> dict[str, Any] | None:
    if isinstance(find, Mapping):
        return await collection.find_one(find, reading(scope))
    return await find()


async def _write(
    collection: Any, scope: Scope | None, doc: Mapping[str, Any], decided: Change, where: Mapping
) -> bool:
    """Apply a decided change with its mark, if ``doc`` is still at the version read."""
    if scope is not None:
        await scope.writing(collection, doc["_id"])
    update: dict[str, Any] = {"$inc": {"version": 1}, **push(scope, decided.outputs)}
    if decided.set:
        update["$set"] = dict(decided.set)
    if decided.unset:
        update["$unset"] = dict.fromkeys(decided.unset, "")
    version = doc.get("version")
    expected = {"$exists": False} if version is None else version
    res = await collection.update_one({**where, "_id": doc["_id"], "version": expected}, update)
    return res.matched_count == 1


def applied(document: Mapping[str, Any], decided: Change) -> dict[str, Any]:
    """``document`` with the change applied, as ``$set`` and ``$unset`` would (dotted paths
    reach into subdocuments); the nested dicts it changes are copies."""
    out = dict(document)
    for path, value in decided.set.items():
        *parents, leaf = path.split(".")
        node = out
        for key in parents:
            child = node.get(key)
            node[key] = dict(child) if isinstance(child, Mapping) else {}
            node = node[key]
        node[leaf] = value
    for path in decided.unset:
        *parents, leaf = path.split(".")
        node = out
        for key in parents:
            child = node.get(key)
            if not isinstance(child, Mapping):
                break
            node[key] = dict(child)
            node = node[key]
        else:
            node.pop(leaf, None)
    return out


async def _compare_and_set(
    collection: Any,
    find: Find,
    decide: Decide,
    *,
    missing: dict[str, Any] | None,
    initial: Initial | None,
    busy_failure: dict[str, Any] | None,
) -> dict[str, Any]:
    scope = current()
    for _ in range(CAS_ATTEMPTS):
        doc = await _read(collection, find, scope)
        done = scope.recorded(doc) if scope is not None else None
        if done is not None:
            return done  # this action's earlier run made the change: its outputs
        if doc is None and initial is None:
            assert missing is not None
            return missing
        if doc is None:
            assert initial is not None
            first = dict(initial() if callable(initial) else initial)
            decided = await _decided(decide(first))
            if not isinstance(decided, Change):
                return decided  # a failure (or nothing to do): nothing is created
            made = await create(collection, applied(first, decided), decided.outputs)
            if made is not None:
                return made
            continue  # a concurrent creator took the unique key: change its document
        decided = await _decided(decide(doc))
        if not isinstance(decided, Change):
            return decided  # a failure (or nothing to do): nothing changes
        if await _write(collection, scope, doc, decided, {}):
            return decided.outputs
    return contended() if busy_failure is None else busy_failure


async def change(
    collection: Any,
    find: Find,
    decide: Decide,
    missing: dict[str, Any],
    busy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Compare-and-set one document as the current action's effect.

    ``find`` is a filter or a coroutine function returning the document (None: not
    found, and ``missing`` is returned). ``decide(doc)`` returns a ``Change``, or anything
    else (a ``fail(...)``, or outputs when there is nothing to change), which is returned
    as is and changes nothing. The change is written only if the document's ``version``
    is still the one read; a lost race reads and decides again, ``CAS_ATTEMPTS`` times at
    most, then returns ``busy`` (by default an ``unavailable`` failure). A document
    carrying this action's mark has the change already: its outputs are returned.
    """
    return await _compare_and_set(
        collection, find, decide, missing=missing, initial=None, busy_failure=busy
    )


async def change_or_create(
    collection: Any,
    find: Find,
    decide: Decide,
    initial: Initial,
    busy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``change``, or, when ``find`` finds no document, create ``initial`` (a document, or a
    function making one, called only then) with the change ``decide(initial)`` made to it.

    The created document must be one ``find`` finds, and a unique key (its ``_id``, or a
    unique index) must refuse a second one: when a concurrent creator got there first,
    the insert is refused and that creator's document is changed instead.
    """
    return await _compare_and_set(
        collection, find, decide, missing=None, initial=initial, busy_failure=busy
    )


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
    return contended()


async def _first(
    collection: Any, candidates: Sequence[Mapping[str, Any]], sort: Sequence[tuple[str, int]]
) -> tuple[dict[str, Any], int] | None:
    """The first document of the first candidate filter that matches any, and its index."""
    for which, filt in enumerate(candidates):
        doc = await collection.find_one(filt, sort=list(sort))
        if doc is not None:
            return doc, which
    return None
