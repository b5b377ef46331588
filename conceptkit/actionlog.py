"""The persistent action log: every invocation, its cause, and what syncs still owe.

The record that starts a flow is written before its reactions run (``pending:
true``) and marked done after, so a crash in between is repaired by a replay.
The records and firings of the reactions are committed together, in order, once
they have run (see the engine). Records no sync can match are only an audit
trail; they are written in batches off the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from bson.errors import InvalidDocument
from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from .records import LOST, RAISED, ActionRecord, dumps, next_seq

__all__ = ["LOST", "RAISED", "ActionLog", "ActionRecord", "Sealer", "dumps", "next_seq"]

log = logging.getLogger("conceptkit.actionlog")

ACTIONS = "conceptkit_actions"
FIRING_PREFIX = "firing:"  # firings live beside the records, so one write commits both
SECRET = "[secret]"
PRIVATE = "[private]"


class Sealer(Protocol):
    """Encrypts private values before they are written to the log (provided by the app)."""

    def seal(self, plaintext: str, *, context: str) -> str: ...

    def open(self, token: str, *, context: str) -> str: ...


class ActionLog:
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
        self._flusher: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False

    async def setup(self, background: bool = True) -> None:
        """Indexes, and (``background``) the task that writes buffered records every 50 ms;
        without it they are written by ``flush`` (deterministic tests)."""
        await self.actions.create_index("flow")
        await self.actions.create_index([("pending", 1), ("retryAt", 1)])
        if self.retention_days:
            ttl = int(self.retention_days * 86400)
            await self.actions.create_index("finished", expireAfterSeconds=ttl)
        if background:
            self._flusher = asyncio.create_task(self._flush_loop(), name="conceptkit-log-flusher")

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._flusher:
            await self._flusher
        await self.flush()

    # -- encoding ----------------------------------------------------------------

    def encode_values(
        self,
        values: Mapping[str, Any],
        secret: frozenset[str],
        private: frozenset[str],
        context: str,
    ) -> dict[str, Any]:
        out = {}
        for key, value in values.items():
            if key in secret:
                out[key] = SECRET
            elif key in private and value is not None:
                out[key] = self.seal_value(value, f"{context}.{key}")
            else:
                out[key] = value
        return out

    def seal_value(self, value: Any, context: str) -> Any:
        if self.sealer is None:
            return PRIVATE
        return {"$sealed": self.sealer.seal(dumps(value), context=context)}

    def open_value(self, value: Any, context: str) -> Any:
        if isinstance(value, dict) and "$sealed" in value and self.sealer is not None:
            return json.loads(self.sealer.open(value["$sealed"], context=context))
        return value

    def decode_values(self, values: Mapping[str, Any], context: str) -> dict[str, Any]:
        return {k: self.open_value(v, f"{context}.{k}") for k, v in values.items()}

    def to_document(
        self, record: ActionRecord, secret: frozenset[str], private: frozenset[str], pending: bool
    ) -> dict[str, Any]:
        ctx = f"{record.concept}.{record.action}"
        return {
            "_id": record.id,
            "seq": record.seq,
            "flow": record.flow,
            "concept": record.concept,
            "action": record.action,
            "inputs": self.encode_values(record.inputs, secret, private, ctx + ".in"),
            "outputs": self.encode_values(record.outputs, secret, private, ctx + ".out"),
            "cause": record.cause,
            "sync": record.sync,
            "started": record.started,
            "finished": record.finished,
            "pending": pending,
            "retryAt": self.now() + self.recovery_grace_s if pending else None,
        }

    def intent_document(
        self,
        record_id: str,
        flow: str,
        concept: str,
        action: str,
        inputs: dict[str, Any],
        cause: list[str],
        started: dt.datetime,
        secret: frozenset[str],
        private: frozenset[str],
        targets: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """The record of an action about to make its first write, before it makes it.

        Pending with no outputs, and naming the documents (``targets``: collection and
        ``_id``) its write will mark: if the process dies, recovery reads the mark there
        for the action's outcome (none: the write never happened), then runs the reactions
        it owed. The action is not run again.
        """
        ctx = f"{concept}.{action}"
        return {
            "_id": record_id,
            "seq": next_seq(),
            "flow": flow,
            "concept": concept,
            "action": action,
            "inputs": self.encode_values(inputs, secret, private, ctx + ".in"),
            "outputs": None,
            "cause": cause,
            "sync": None,
            "targets": targets,
            "started": started,
            "finished": started,  # for the retention index; replaced with the outcome
            "pending": True,
            "retryAt": self.now() + self.recovery_grace_s,
        }

    def from_document(self, doc: Mapping[str, Any]) -> ActionRecord:
        ctx = f"{doc['concept']}.{doc['action']}"
        outputs = doc.get("outputs")
        return ActionRecord(
            id=doc["_id"],
            seq=doc.get("seq", 0),
            flow=doc["flow"],
            concept=doc["concept"],
            action=doc["action"],
            inputs=self.decode_values(doc.get("inputs", {}), ctx + ".in"),
            outputs={} if outputs is None else self.decode_values(outputs, ctx + ".out"),
            cause=list(doc.get("cause") or []),
            sync=doc.get("sync"),
            started=doc.get("started"),
            finished=doc.get("finished"),
            intent=outputs is None,
            replays=int(doc.get("replays") or 0),
            targets=list(doc.get("targets") or []),
        )

    # -- writing -------------------------------------------------------------------

    async def write_now(self, document: dict[str, Any]) -> None:
        await _insert_or_replace(self.actions, document)

    async def add_target(self, record_id: str, target: dict[str, Any]) -> None:
        """An intent's action is about to mark one more document (it lost a race and moved on)."""
        await self.actions.update_one({"_id": record_id}, {"$push": {"targets": target}})

    async def replace_now(self, document: dict[str, Any]) -> None:
        """Write a record over its intent (or insert it, if the intent is gone)."""
        await self.actions.replace_one({"_id": document["_id"]}, document, upsert=True)

    def write_later(self, document: dict[str, Any]) -> None:
        self._buffer.append(document)
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
        documents = [*firings, *actions]
        if self._owed:  # an earlier commit is still owed: keep the order
            self._owe(documents, done)
            return False
        try:
            await _insert_all(self.actions, documents)
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

    def _owe(self, documents: list[dict[str, Any]], done: list[str]) -> None:
        self._owed.extend(documents)
        self._owed_done.extend(done)
        self._wake.set()

    async def _pay_owed(self) -> None:
        """Write the owed commits in order; only then may their done marks go."""
        while self._owed:
            batch = self._owed[:500]
            await _insert_all(self.actions, batch)
            del self._owed[: len(batch)]
        self._done.extend(self._owed_done)
        self._owed_done.clear()

    async def _flush(self) -> None:
        # Records before done marks: a cause is never marked done ahead of what it caused.
        await self._pay_owed()
        while self._buffer:
            batch = self._buffer[:500]
            await _insert_all(self.actions, batch)
            del self._buffer[: len(batch)]
        while self._done:
            ids = self._done[:500]
            await self.actions.update_many({"_id": {"$in": ids}}, {"$set": {"pending": False}})
            del self._done[: len(ids)]

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

    def firing_document(
        self, key: str, sync: str, records: list[str], frames: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """A sync firing and the frames its where-clauses produced (sealed).

        It has no ``flow`` and no ``pending``, so flow reads and recovery pass it by;
        ``finished`` lets the retention index expire it with the records.
        """
        return {
            "_id": FIRING_PREFIX + key,
            "firing": sync,
            "records": records,
            "frames": self.seal_value(frames, f"firing.{sync}") if self.sealer else None,
            "finished": dt.datetime.now(dt.UTC),
        }

    async def write_firing(self, document: dict[str, Any]) -> None:
        await _insert_or_replace(self.actions, document)

    def firing_frames(self, doc: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        if doc.get("frames") is None:
            return None
        return self.open_value(doc["frames"], f"firing.{doc['firing']}")


async def _insert_all(collection: Any, documents: list[dict[str, Any]]) -> None:
    """Insert in order; documents a replay (or a retried write) already stored are replaced.

    A document that can never be stored (refused by the server, or not encodable) is
    logged and skipped, so it cannot hold up the log; a database that is away raises.
    """
    if not documents:
        return
    try:
        await collection.insert_many(documents, ordered=True)
        return
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors") or [{"index": 0}]
        start = errors[0]["index"]  # ordered: everything before the first error landed
    except InvalidDocument:  # raised while encoding: how much was sent is unknown
        start = 0
    for document in documents[start:]:
        try:
            await _insert_or_replace(collection, document)
        except (WriteError, InvalidDocument) as refused:
            log.error(
                "the log document %s can never be stored (%s); skipped",
                document.get("_id"),
                type(refused).__name__,
            )


async def _insert_or_replace(collection: Any, document: dict[str, Any]) -> None:
    """Insert a new document; replace it if a replay already wrote one with this id.

    Almost every write is new, and an insert costs less than an upserting replace.
    """
    try:
        await collection.insert_one(document)
    except DuplicateKeyError:
        await collection.replace_one({"_id": document["_id"]}, document, upsert=True)
