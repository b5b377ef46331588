"""The persistent action log: every invocation, its cause, and what syncs still owe.

The record that starts a flow is written before its reactions run (``pending:
true``) and marked done after, so a crash in between is repaired by a replay.
The records and firings of the reactions are committed together, in order, once
they have run (see the engine). Records no sync can match are only an audit
trail; they are written in batches off the hot path. A record that can never be
stored is kept as a redacted stand-in (``quarantine``), so it blocks nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from pymongo import IndexModel, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from .documents import FIRING_PREFIX, PRIVATE, SECRET, LogDocuments, Sealer
from .quarantine import ENCODING_ERRORS, UnstorableRecord, clean, stand_in, unstorable
from .records import LOST, RAISED, ActionRecord, dumps, next_seq

__all__ = [
    "FIRING_PREFIX",
    "LOST",
    "PRIVATE",
    "RAISED",
    "SECRET",
    "ActionLog",
    "ActionRecord",
    "Sealer",
    "UnstorableRecord",
    "dumps",
    "next_seq",
]

log = logging.getLogger("conceptkit.actionlog")

ACTIONS = "conceptkit_actions"


class ActionLog(LogDocuments):
    """Reads and writes action records and sync firings in MongoDB."""

    def __init__(
        self,
        db: Any,
        sealer: Sealer | None,
        retention_days: float | None = 30,
        recovery_grace_s: float = 30.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.recovery_grace_s = recovery_grace_s
        self.now = wall_clock  # epoch seconds: when pending records become replayable
        self.actions = db[ACTIONS]
        self.sealer = sealer
        self.retention_days = retention_days
        self._buffer: list[dict[str, Any]] = []  # audit records, no order to keep
        self._done: list[str] = []  # done marks whose records are in the database
        # Commits not written yet (failed), in order, and the done marks waiting behind
        # them: while anything is owed, a new commit queues up behind it.
        self._owed: list[dict[str, Any]] = []
        self._owed_done: list[str] = []
        self._flush_lock = asyncio.Lock()
        self.failure_observers: list[Callable[[], None]] = []  # told of each failed write
        # told of each record that could never be stored (with why), once: it was
        # replaced by a redacted stand-in (see ``quarantine``)
        self.quarantine_observers: list[Callable[[str], None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False

    async def setup(self, background: bool = True) -> None:
        """Indexes, and (``background``) the task that writes buffered records every 50 ms;
        without it they are written by ``flush`` (deterministic tests)."""
        indexes = [IndexModel("flow"), IndexModel([("pending", 1), ("retryAt", 1)])]
        if self.retention_days:
            ttl = int(self.retention_days * 86400)
            indexes.append(IndexModel("finished", expireAfterSeconds=ttl))
        await self.actions.create_indexes(indexes)  # one command, not one per index
        if background:
            self._flusher = asyncio.create_task(self._flush_loop(), name="conceptkit-log-flusher")

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._flusher:
            await self._flusher
        await self.flush()

    # -- writing -------------------------------------------------------------------
    # A document that can never be stored (see ``quarantine``) is replaced by its
    # redacted stand-in, reported once, and the writer goes on; one the server refuses
    # likewise. Only a database that is away makes a write raise (and be retried).

    async def write_now(self, document: dict[str, Any]) -> None:
        """Write one record (or an intent) at once.

        An intent that cannot be stored raises ``UnstorableRecord`` instead: written
        redacted it would owe reactions no replay could run, so its action fails
        before its first write, takes no effect and owes nothing.
        """
        if document.get("outputs") is None and "targets" in document:  # an intent
            reason = unstorable(document, self.actions.codec_options)
            if reason is None:
                try:
                    await _insert_or_replace(self.actions, document)
                    return
                except (WriteError, *ENCODING_ERRORS) as refused:
                    reason = type(refused).__name__
            raise UnstorableRecord(f"its intent cannot be stored ({reason})")
        await self._store([self._screened(document)], 0)

    async def add_target(self, record_id: str, target: dict[str, Any]) -> None:
        """An intent's action is about to mark one more document (it lost a race and moved on)."""
        await self.actions.update_one({"_id": record_id}, {"$push": {"targets": target}})

    async def replace_now(self, document: dict[str, Any]) -> None:
        """Write a record over its intent (or insert it, if the intent is gone)."""
        await self._store([self._screened(document)], 0, replace=True)

    def write_later(self, document: dict[str, Any]) -> None:
        self._buffer.append(self._screened(document))
        if len(self._buffer) >= 200:
            self._wake.set()

    def mark_done(self, record_id: str) -> None:
        """Clear the pending mark later, in a batch: a replay before then finds the
        children already logged and skips them, so deferring it is safe."""
        self._done.append(record_id)
        if len(self._done) >= 200:
            self._wake.set()

    async def flush(self) -> None:
        """Write everything buffered so far; on return it is in the database."""
        async with self._flush_lock:
            await self._flush()

    async def commit(
        self, firings: list[dict[str, Any]], actions: list[dict[str, Any]], done: list[str]
    ) -> bool:
        """Write one flow's firings and then its records in one ordered insert, then
        mark ``done`` done.

        Returns whether they are in the database; if not, they stay queued (in the same
        order, ahead of the done marks) and the flusher retries them.
        """
        documents = [self._screened(d) for d in (*firings, *actions)]
        if self._owed:  # an earlier commit is still owed: keep the order
            self._owe(documents, done)
            return False
        try:
            await self._insert_all(documents, len(documents))
        except BaseException as exc:  # failed, or cancelled mid-write: owe it all
            self._owe(documents, done)
            if not isinstance(exc, Exception):
                raise
            log.warning("action log commit failed (%s); queued for retry", type(exc).__name__)
            self._failed()
            return False
        for record_id in done:
            self.mark_done(record_id)
        return True

    def _failed(self) -> None:
        for observe in self.failure_observers:
            observe()

    def _screened(self, document: dict[str, Any]) -> dict[str, Any]:
        """``document``, or its stand-in if it can never be stored (decided locally)."""
        reason = unstorable(document, self.actions.codec_options)
        return document if reason is None else self._quarantine(document, reason)

    def _quarantine(self, document: dict[str, Any], error: str) -> dict[str, Any]:
        reason = f"unstorable: {error}"
        what = document.get("firing") or f"{document.get('concept')}.{document.get('action')}"
        log.warning(
            "action log record %s (%s) cannot be stored (%s); stored redacted in its place",
            clean(document.get("_id")),
            clean(what),
            error,
        )
        for observe in self.quarantine_observers:
            observe(error)
        return stand_in(document, reason)

    def _owe(self, documents: list[dict[str, Any]], done: list[str]) -> None:
        self._owed.extend(documents)
        self._owed_done.extend(done)
        self._wake.set()

    async def _pay_owed(self) -> None:
        """Write the owed commits in order; only then may their done marks go."""
        await self._write_queue(self._owed)
        self._done.extend(self._owed_done)
        self._owed_done.clear()

    async def _flush(self) -> None:
        # Records before done marks: a cause is never marked done ahead of what it caused.
        await self._pay_owed()
        await self._write_queue(self._buffer)
        while self._done:
            batch = self._done[:500]
            # an id that cannot be sent was stored cleaned, and not pending
            ids = [i for i in batch if unstorable({"_id": i}) is None]
            if ids:
                await self.actions.update_many({"_id": {"$in": ids}}, {"$set": {"pending": False}})
            del self._done[: len(batch)]  # more may have come meanwhile

    async def _write_queue(self, queue: list[dict[str, Any]]) -> None:
        while queue:
            count = min(len(queue), 500)
            await self._insert_all(queue, count)
            del queue[:count]

    async def _insert_all(self, queue: list[dict[str, Any]], count: int) -> None:
        """Insert ``queue[:count]`` in order; documents a replay (or a retried write)
        already stored are replaced, and each one the server refuses is replaced by its
        stand-in in ``queue`` too (so a retry after an outage does not report it again)."""
        if not count:
            return
        try:
            await self.actions.insert_many(queue[:count], ordered=True)
            return
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or [{"index": 0}]
            start = errors[0]["index"]  # ordered: everything before the first error landed
        except ENCODING_ERRORS:  # screened, so not expected; how much was sent is unknown
            start = 0
        for i in range(start, count):
            await self._store(queue, i)

    async def _store(self, queue: list[dict[str, Any]], i: int, replace: bool = False) -> None:
        """Write ``queue[i]``; if the server refuses it, its stand-in (in ``queue``) instead.

        ``replace``: over what is there (an intent), not as a new document first.
        """
        while True:
            document = queue[i]
            try:
                if replace:
                    await self.actions.replace_one({"_id": document["_id"]}, document, upsert=True)
                else:
                    await _insert_or_replace(self.actions, document)
                return
            except (WriteError, *ENCODING_ERRORS) as refused:
                if "quarantined" in document:  # only the log's own keys are at the top
                    log.error("the stand-in %s was refused too; dropped", clean(document["_id"]))
                    return
                queue[i] = self._quarantine(document, type(refused).__name__)

    async def _flush_loop(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=0.05)
            self._wake.clear()
            try:
                await self.flush()
            except Exception as exc:  # the database is away: keep the batch, try again
                log.warning("action log flush failed (%s); will retry", type(exc).__name__)
                self._failed()
                await asyncio.sleep(0.5)

    # -- reading -------------------------------------------------------------------

    async def find(self, record_id: str) -> ActionRecord | None:
        doc = await self.actions.find_one({"_id": record_id})
        return self.from_document(doc) if doc else None

    async def flow_records(self, flow: str) -> list[ActionRecord]:
        docs = await self.actions.find({"flow": flow}).sort("seq", 1).to_list(None)
        return [self.from_document(d) for d in docs]

    async def claim_stale(self, grace_s: float) -> ActionRecord | None:
        """Atomically take one record whose reactions have been owed for longer than ``grace_s``.

        Taking it pushes its ``retryAt`` forward, so no other process replays it meanwhile.
        """
        now = self.now()
        doc = await self.actions.find_one_and_update(
            {"pending": True, "retryAt": {"$lte": now}},
            {"$set": {"retryAt": now + grace_s}, "$inc": {"replays": 1}},
            sort=[("retryAt", 1)],
            return_document=ReturnDocument.AFTER,
        )
        return self.from_document(doc) if doc else None

    async def extend(self, record_ids: list[str], grace_s: float) -> None:
        """Push back the replay time of records whose reactions a live process is running."""
        record_ids = [i for i in record_ids if unstorable({"_id": i}) is None]  # stand-ins'
        if record_ids:
            await self.actions.update_many(
                {"_id": {"$in": record_ids}, "pending": True},
                {"$set": {"retryAt": self.now() + grace_s}},
            )

    async def give_up(self, record_id: str, reason: str) -> None:
        """Stop replaying a record whose reactions failed too many times (kept, marked)."""
        await self.actions.update_one(
            {"_id": record_id}, {"$set": {"pending": False, "retryAt": None, "gaveUp": reason}}
        )

    # -- firings -------------------------------------------------------------------

    async def load_firing(self, key: str) -> dict[str, Any] | None:
        return await self.actions.find_one({"_id": FIRING_PREFIX + key})

    async def write_firing(self, document: dict[str, Any]) -> None:
        await self._store([self._screened(document)], 0)


async def _insert_or_replace(collection: Any, document: dict[str, Any]) -> None:
    """Insert a new document; replace it if a replay already wrote one with this id.

    Almost every write is new, and an insert costs less than an upserting replace.
    """
    try:
        await collection.insert_one(document)
    except DuplicateKeyError:
        await collection.replace_one({"_id": document["_id"]}, document, upsert=True)
