"""A real database handle with faults injected at chosen writes: crashes, transient errors, stalls.

``FaultyDatabase`` wraps a pymongo ``AsyncDatabase``: every collection it hands out
is the real one behind a thin proxy that counts write commands (the crash points of
a flow). A rule can make the n-th write matching it

- ``crash``: the process dies just before it: this write and every later database
  call of this handle raise ``ProcessDied`` (a BaseException, like a SIGKILL: no
  ``except Exception`` handler of the engine or a concept sees it), so nothing after
  the crash point reaches the database;
- ``fail``: raise ``pymongo.errors.AutoReconnect`` once, as a dropped connection does;
- ``lost_reply``: make the write, then raise ``AutoReconnect`` (the reply was lost:
  the caller cannot tell the write landed);
- ``error``: raise ``pymongo.errors.OperationFailure`` once (a failure not worth an
  immediate retry);
- ``stall``: wait before sending it (a database that stops answering for a while);
- ``hold``: stop before sending it until the test releases it (``reached`` tells the
  test the write is being held), so a test can act at exactly that point.

Everything else is the real server: the state a crash leaves is exactly the state
the writes before it made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import attrs
from pymongo.errors import AutoReconnect, OperationFailure

WRITES = frozenset(
    {
        "insert_one",
        "insert_many",
        "update_one",
        "update_many",
        "replace_one",
        "delete_one",
        "delete_many",
        "find_one_and_update",
        "find_one_and_replace",
        "find_one_and_delete",
        "bulk_write",
    }
)


class ProcessDied(BaseException):
    """The simulated process is gone: it must not touch the database any more."""


@attrs.define
class Rule:
    """Do ``fault`` at the ``nth`` write (1-based) for which ``matches(collection, method)``."""

    fault: str  # "crash" | "fail" | "lost_reply" | "error" | "stall" | "hold"
    nth: int = 1
    matches: Callable[[str, str], bool] = lambda collection, method: True
    seconds: float = 0.0  # for "stall"
    seen: int = 0
    fired: bool = False
    reached: asyncio.Event = attrs.Factory(asyncio.Event)  # for "hold"
    release: asyncio.Event = attrs.Factory(asyncio.Event)


def on(collection: str, method: str | None = None) -> Callable[[str, str], bool]:
    """A rule's ``matches``: writes to ``collection`` (by ``method``, if given)."""
    return lambda coll, meth: coll == collection and (method is None or meth == method)


@attrs.define
class Write:
    collection: str
    method: str


class FaultyDatabase:
    """An AsyncDatabase whose writes can crash, fail once or stall (see the module doc)."""

    def __init__(self, db: Any, rules: list[Rule] | None = None) -> None:
        self._db = db
        self.rules = list(rules or [])
        self.writes: list[Write] = []  # every write attempted, in order
        self.dead = False

    @classmethod
    def crash_at(cls, db: Any, point: int) -> FaultyDatabase:
        """Dies just before write number ``point`` (1-based): writes 1..point-1 landed."""
        return cls(db, [Rule("crash", nth=point)])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    def __getitem__(self, name: str) -> FaultyCollection:
        return FaultyCollection(self, self._db[name])

    def get_collection(self, name: str, **kwargs: Any) -> FaultyCollection:
        return FaultyCollection(self, self._db.get_collection(name, **kwargs))

    def check_alive(self) -> None:
        if self.dead:
            raise ProcessDied("this process died at a crash point")

    async def before_write(self, collection: str, method: str) -> bool:
        """Apply the rules to this write; True if its reply is to be lost after it lands."""
        self.check_alive()
        self.writes.append(Write(collection, method))
        for rule in self.rules:
            if rule.fired or not rule.matches(collection, method):
                continue
            rule.seen += 1
            if rule.seen != rule.nth:
                continue
            rule.fired = True
            if rule.fault == "crash":
                self.dead = True
                raise ProcessDied(f"crashed before write {len(self.writes)}: {method} {collection}")
            if rule.fault == "fail":
                raise AutoReconnect(f"injected: connection dropped before {method} {collection}")
            if rule.fault == "error":
                raise OperationFailure(f"injected: {method} {collection} failed")
            if rule.fault == "stall":
                await asyncio.sleep(rule.seconds)
            if rule.fault == "hold":
                rule.reached.set()
                await rule.release.wait()
            if rule.fault == "lost_reply":
                return True
        return False


class FaultyCollection:
    """One real collection behind the fault rules of its database handle."""

    def __init__(self, db: FaultyDatabase, collection: Any) -> None:
        self._faulty = db
        self._collection = collection

    @property
    def name(self) -> str:
        return self._collection.name

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if not callable(attr):
            return attr
        faulty = self._faulty

        if name in WRITES:

            async def write(*args: Any, **kwargs: Any) -> Any:
                lose_reply = await faulty.before_write(self._collection.name, name)
                result = await attr(*args, **kwargs)
                if lose_reply:
                    raise AutoReconnect(
                        f"injected: the reply to {name} {self._collection.name} was lost"
                    )
                return result

            return write

        def call(*args: Any, **kwargs: Any) -> Any:
            faulty.check_alive()
            return attr(*args, **kwargs)

        return call
