"""A real database on which a rival wins every compare-and-set race, to test "busy" failures.

A concept's compare-and-set writes filter on the ``version`` it read. Here, just before
each such write, a rival increments that document's ``version``, so the write matches
nothing and the concept decides again, until conceptkit's ``Store`` gives up with the
action's busy failure. Everything else reaches the real database unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RivalledCollection:
    """A collection whose versioned updates always lose to a rival's change."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.rival_writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)

    async def update_one(self, filt: Mapping[str, Any], update: Any, **kwargs: Any) -> Any:
        if "version" in filt:
            await self.collection.update_one({"_id": filt["_id"]}, {"$inc": {"version": 1}})
            self.rival_writes += 1
        return await self.collection.update_one(filt, update, **kwargs)


class RivalledDatabase:
    """``async_db``, with a rival on the collections named (``<Concept>_<name>``)."""

    def __init__(self, db: Any, *names: str) -> None:
        self.db = db
        self.rivalled = {name: RivalledCollection(db[name]) for name in names}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)

    def __getitem__(self, name: str) -> Any:
        return self.rivalled.get(name) or self.db[name]
