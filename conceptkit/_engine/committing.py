"""Recording what an action did, and committing a flow's records in order.

An action that completed becomes an ``ActionRecord``: written at once when its
reactions may run (it is pending until they all have) or when a sync caused it (so a
replay can skip it), else queued for the log's background writer. Each invocation
that no other one encloses opens a ``Batch``, the flow's uncommitted records, firings
and done marks. Without group commit the batch only orders the done marks (flows
whose replay must skip every action that ran, such as the worker's dialling). With
group commit the records of the reactions and the firings they came from are held
and written together in one ordered insert.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from .._concept import OperationSpec
from .._log.actionlog import ActionLog, ActionRecord, next_seq
from .errors import FlowStopped
from .matching import match_one

if TYPE_CHECKING:
    from .engine import Engine


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


class CommittingMixin:
    """The engine's recording of finished invocations (mixed into ``Engine``)."""

    async def commit_flow(self: Engine, flow: str) -> None:
        """Commit what a running flow has recorded so far (before its reply goes out)."""
        batch = self._open_batches.get(flow)
        if batch is not None:
            await self._commit(batch)

    async def _complete(
        self: Engine,
        spec: OperationSpec,
        action_id: str,
        flow: str,
        inputs: dict[str, Any],
        outputs: dict[str, Any],
        cause: list[str],
        sync: str | None,
        started: dt.datetime,
        intent: bool,
    ) -> ActionRecord:
        """Record a finished invocation, then run the syncs it triggers.

        ``intent``: the record is already in the log as pending (written before the
        action's first write), so it is replaced here even if nothing reacts.
        """
        record = ActionRecord(
            id=action_id,
            seq=next_seq(),
            flow=flow,
            concept=spec.concept,
            action=spec.name,
            inputs=inputs,
            outputs=outputs,
            cause=cause,
            sync=sync,
            started=started,
            finished=dt.datetime.now(dt.UTC),
        )
        self.flows.remember(record)
        if record.raised and intent:
            self._working.pop(record.id, None)  # recovery, not the heartbeat, owns it now
            return record  # the intent stays pending: recovery finds out what became of it
        may_react = record.completed and self._may_trigger(record)
        document = self.log.to_document(record, spec.secret, spec.private, pending=may_react)
        batch = current.get()
        if sync is not None and batch is not None and batch.group:
            # Caused by a sync: committed with the rest of the flow (a replay looks it
            # up by id to skip what already ran). A long flow commits as it goes.
            batch.actions.append(document)
            batch.records.append(record)
            if time.monotonic() - batch.opened > self.recovery_grace_s / 4:
                await self._commit(batch)
        else:
            # Written at once: a cause before its reactions run, a sync-caused record
            # so that a replay skips it, an intent replaced by its outcome.
            if intent:
                await self.log.replace_now(document)
            elif may_react or sync is not None:
                await self.log.write_now(document)
            else:
                self.log.write_later(document)
            if may_react:
                self._working[record.id] = time.monotonic()
                if batch is not None:
                    batch.written_pending.add(record.id)
            else:
                self._working.pop(record.id, None)
            for observe in self.observers:
                observe(record, may_react)
        if not may_react:
            return record
        try:
            await self._react(record)
        except FlowStopped:
            self._working.pop(record.id, None)  # stays pending: recovery runs the rest
            raise
        if batch is not None:
            batch.done.add(record.id)
        else:
            self._working.pop(record.id, None)
            self.log.mark_done(record.id)
        return record

    def _may_trigger(self: Engine, record: ActionRecord) -> bool:
        for sync, pos in self._triggers.get((record.concept, record.action), ()):
            if match_one(sync.when[pos], record, {}) is not None:
                return True
        return False

    async def _commit(self: Engine, batch: Batch) -> None:
        await commit(batch, self.log, self.observers, self._track)

    def _track(self: Engine, pending: list[str], done: list[str]) -> None:
        now = time.monotonic()
        for record_id in pending:
            self._working[record_id] = now
        for record_id in done:
            self._working.pop(record_id, None)
