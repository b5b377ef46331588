"""Each ``<Gather>`` turn of a call is taken once: a replayed turn is refused.

A Twilio signature carries no nonce, so a captured ``/gather`` could be sent again
while the call is still on, and its speech would be added to the answer being given
(or to the next prompt's). So each listening reply's action URL names the turn
(``turn=N``: how many turns the call has taken), and a delivery for turn N is taken
only while the call is at N (or behind it: a write of ours that was missed while the
database was away), which moves it to N + 1 in one conditional write, so every server
process agrees. The next listening reply then names N + 1; a reply to a delivery that
named no turn names the turn the call is at.

Twilio's own retry of the delivery that took a turn (the same delivery key:
idempotency token, URL and body, ``replies.py``) is taken again, so a process that
died between taking the turn and answering loses nothing; the flows behind it are
exactly-once on their own. Any other delivery for a turn taken already is refused
(409) and changes nothing. A URL without a turn (a call that began before this) is
taken as before. A call with no record yet takes whatever turn comes first (its
first, or the next after an outage lost the record). If the record cannot be read (the
database is away) the delivery is taken: the flow fails on the same database, and the
caller hears the apology.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from pymongo.errors import DuplicateKeyError

log = logging.getLogger("services.webhooks.turn_guard")

COLLECTION = "webhook_turns"
KEEP_S = 6 * 3600  # a call's turns are kept well past its longest length
MAX_TURN = 10_000  # far past any call (a turn is at least a few seconds of it)


def turn_of(query: dict[str, str]) -> int | str | None:
    """The turn a listening URL names: an int, None when it names none, or (a URL nobody
    we gave out) the reason it is unreadable."""
    raw = query.get("turn")
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 5 or int(raw) > MAX_TURN:
        return f"turn must be a whole number from 0 to {MAX_TURN}"
    return int(raw)


class TurnGuard:
    """The turns each call has taken, in one small document per call (TTL ``KEEP_S``)."""

    def __init__(self, db: Any, *, op_timeout_s: float = 1.0) -> None:
        self.collection = db[COLLECTION]
        self.op_timeout_s = op_timeout_s
        self._indexed = False

    async def _op(self, operation: Any) -> Any:
        return await asyncio.wait_for(operation, self.op_timeout_s)

    async def take(self, call: str, turn: int, key: str | None) -> bool:
        """Take turn ``turn`` of ``call`` for the delivery ``key`` (None: it has no token);
        False if the turn was taken by another delivery, or the call is not at it yet."""
        try:
            return await self._take(call, turn, key)
        except Exception as exc:  # the database is away: the flow will fail there too
            log.warning("turn record unavailable (%s); taking the turn", type(exc).__name__)
            return True

    async def current(self, call: str) -> int:
        """The turn the call is at (0 for a call with no record, or none readable): what a
        listening reply names when the delivery it answers named none."""
        try:
            doc = await self._op(self.collection.find_one({"_id": call}, {"turn": 1}))
        except Exception as exc:
            log.warning("turn record unavailable (%s); naming turn 0", type(exc).__name__)
            return 0
        return 0 if doc is None else int(doc["turn"])

    async def _take(self, call: str, turn: int, key: str | None) -> bool:
        if not self._indexed:
            await self._op(self.collection.create_index("at", expireAfterSeconds=KEEP_S))
            self._indexed = True
        taken = {"turn": turn + 1, "by": key, "at": dt.datetime.now(dt.UTC)}
        # at N or behind it (a write of ours that was missed while the database was away
        # left the record behind the turn our reply named; a URL names no turn we did not
        # give out), or no record yet (the call's first turn, or its record lost)
        try:
            await self._op(
                self.collection.update_one(
                    {"_id": call, "turn": {"$lte": turn}}, {"$set": taken}, upsert=True
                )
            )
            return True
        except DuplicateKeyError:  # the record is past this turn
            doc = await self._op(self.collection.find_one({"_id": call}))
        # Twilio retrying the very delivery that took this turn
        return key is not None and doc is not None and doc["turn"] == turn + 1 and doc["by"] == key
