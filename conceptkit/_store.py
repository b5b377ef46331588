"""``Concept.store(name)``: a concept's collection, written through effect marks.

Reads go to ``.collection`` as usual. Writes that are an action's effect go through
these methods, so that a replay of the action finds them (``_effects``) and so that no
concept writes its own compare-and-set retry loop (``_cas``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import _cas as cas
from ._cas import Change, Decide, Find, Initial
from ._effects import MARKS, create, current, reading

__all__ = ["Change", "Store"]


class Store:
    """A collection whose writes are an action's effect, each carrying the action's mark."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection

    @property
    def projection(self) -> dict[str, int] | None:
        """For a ``find`` coroutine given to ``change``: read the marks only when needed."""
        return reading(current())

    async def create(self, document: dict[str, Any], outputs: dict[str, Any]) -> dict | None:
        """Insert ``document``; returns ``outputs``, or None if a unique key is taken by
        another action's document (the caller says why)."""
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
        decide: Decide,
        *,
        missing: dict[str, Any],
        busy: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Compare-and-set the document ``find`` finds (``missing`` if there is none):
        ``decide(doc)`` returns a ``Change`` to write, or what to return instead (a failure);
        a lost race decides again. ``busy``: returned if the races go on (see ``_cas``)."""
        return await cas.change(self.collection, find, decide, missing, busy)

    async def change_or_create(
        self,
        find: Find,
        decide: Decide,
        *,
        initial: Initial,
        busy: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``change``, creating ``initial`` (changed by ``decide``) when there is no document;
        a unique key must refuse a second one, whose creator then changes the first."""
        return await cas.change_or_create(self.collection, find, decide, initial, busy)

    async def claim(
        self,
        candidates: Sequence[Mapping[str, Any]],
        *,
        sort: Sequence[tuple[str, int]],
        decide: Callable[[dict[str, Any], int], Change],
        among: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        """Take the first document one of ``candidates`` matches, atomically (see ``_cas``)."""
        return await cas.claim(self.collection, candidates, sort, decide, among)
