"""What one flow has recorded but not yet committed, and committing it in order.

Without group commit each record is written as soon as its action completes, and
the batch only orders the done marks (flows whose replay must skip every action that
ran, such as the worker's dialling). With group commit the records of the reactions
and the firings they came from are held and written together in one ordered insert.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

from .actionlog import ActionLog, ActionRecord


class Batch:
    """One flow's uncommitted records, firings and done marks."""

    def __init__(self, group: bool = True) -> None:
        self.group = group
        self.opened = time.monotonic()
        self.records: list[ActionRecord] = []  # in memory, for matching if the cache lets go
        self.actions: list[dict[str, Any]] = []
        self.firings: list[dict[str, Any]] = []
        self.done: set[str] = set()  # records whose reactions have all run
        self.written_pending: set[str] = set()  # written earlier with pending: true
        self.lock = asyncio.Lock()  # one commit at a time, so they land in order
        self.writing: asyncio.Future[bool] | None = None  # the last commit's write


current: ContextVar[Batch | None] = ContextVar("conceptkit_batch", default=None)


async def commit(
    batch: Batch,
    log: ActionLog,
    observers: Iterable[Callable[[ActionRecord, bool], None]],
    track: Callable[[list[str], list[str]], None],
) -> None:
    """Write a batch's firings and records in order, then mark its causes done.

    If the database refuses, the writes stay queued in the log and are retried
    (the causes stay pending meanwhile, so a crash still ends in a replay).
    ``track(pending, done)`` hears which records this process now owes reactions for
    (written pending) and which it no longer does.
    """
    async with batch.lock:
        if batch.writing is not None and not batch.writing.done():
            await asyncio.shield(batch.writing)  # one cut short before: let it land first
        actions, firings, records = batch.actions, batch.firings, batch.records
        batch.actions, batch.firings, batch.records = [], [], []
        batch.opened = time.monotonic()
        owed = []
        for document in actions:
            if document["pending"] and document["_id"] in batch.done:
                document["pending"], document["retryAt"] = False, None
            elif document["pending"]:
                batch.written_pending.add(document["_id"])
                owed.append(document["_id"])
        done_earlier = [i for i in batch.done if i in batch.written_pending]
        batch.written_pending.difference_update(done_earlier)
        batch.done.difference_update(done_earlier)
        # Shielded: a caller that stops waiting (a reply's timeout) must not cut the
        # write short; it lands, or the log owes it and retries.
        batch.writing = asyncio.ensure_future(log.commit(firings, actions, done_earlier))
        durable = await asyncio.shield(batch.writing)
        track(owed, done_earlier)
        if durable:
            for record, document in zip(records, actions, strict=True):
                for observe in observers:
                    observe(record, document["pending"])
