"""Exactly-once effects: an action's change and the mark that it happened, in one write.

A process can die between an action's write and the log record that says it ran.
The replay that follows runs the action again with the same action id. To make that
second run return what the first returned instead of deciding afresh (and being
refused by its own guard, so that the reactions the first run owed never fire), every
write an action makes through ``Concept.store(name)`` carries a *mark*: the action's id
and its outputs, pushed onto the ``_effects`` list of the document it changes, in the
same single-document write as the change itself. A run that finds its own mark on the
document returns the recorded outputs and changes nothing.

This module holds the running action's scope (its id, how its outputs are stored,
which documents it wrote) and the marked insert; the compare-and-set writes are in
``_cas``, and ``_store`` gathers both behind ``Concept.store``. Ids made with
``Concept.new_id`` inside an action are derived from the action id, so a replayed
insert collides with its first run's document and finds the mark there.

Outside an engine invocation (a unit test calling a concept directly) the helpers
work the same, without marks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

import attrs
from pymongo.errors import DuplicateKeyError

MARKS = "_effects"  # on each document: the latest actions that changed it, with their outputs
KEEP_MARKS = 10  # a replay comes within minutes; this many later changes would push a mark out
NO_MARKS = {MARKS: 0}  # a projection for reads that do not need the marks (they can be large)


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


def push(scope: Scope | None, outputs: dict[str, Any]) -> dict[str, Any]:
    """The update that adds the running action's mark (none outside an action)."""
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


def current_action_id() -> str | None:
    """The id of the action running now: the same on its replays (None outside an action)."""
    scope = current()
    return None if scope is None else scope.action_id


def new_id_for_action(fallback: Callable[[], str]) -> str:
    """An id derived from the running action (the same on its replay), else ``fallback()``."""
    scope = current()
    return scope.derived_id() if scope is not None else fallback()
