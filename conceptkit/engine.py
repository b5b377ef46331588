"""The engine: invokes actions, records them, and runs the synchronizations they trigger.

Semantics (see docs/conceptkit.md):
- Every external stimulus starts a flow; actions caused by syncs join their cause's flow.
- A sync fires when all its when-patterns are matched by completed actions of one
  flow, with consistent variable bindings, and the newest of them just completed.
  It fires at most once per set of matched records.
- Its where-clauses expand or filter frames; its then-actions run once per frame,
  in order, each one's own syncs running before the next (depth first).
- Reactions are durable: the record that starts a flow is written as pending
  before its reactions run and marked done after. The records its syncs cause
  are written as each action completes or, for requests (group commit), all
  together in one ordered write when a sync responds and when the flow ends.
  A crash leaves the cause pending, and any process replays its reactions after
  a grace period. Child actions get ids derived from their cause, so a replay
  skips what was recorded (at-least-once delivery, exactly once in effect for
  actions whose records were written).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import Any

from . import context
from .actionlog import ActionLog, ActionRecord, Sealer, next_seq
from .concept import Concept, OperationSpec, describe_operations
from .ids import new_id
from .sync import Absent, ActionPattern, Filter, Frame, Let, QueryPattern, Sync, bind, resolve

log = logging.getLogger("conceptkit.engine")

# True while a recovery pass replays a record: child actions are then looked up
# before they run, since a crashed process may have completed them already.
_replaying: ContextVar[bool] = ContextVar("conceptkit_replaying", default=False)

# Called with each record once it is in the log; ``pending`` says its reactions
# are about to run (a durable point: a crash after it is repaired at restart).
ActionObserver = Callable[[ActionRecord, bool], None]


class _Batch:
    """What one flow's reactions wrote, held until they have all run (group commit).

    Without ``group`` each record is written as soon as its action completes, and the
    batch only orders the done marks (flows whose replay must skip every action that
    ran, such as the worker's dialling)."""

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


_batch: ContextVar[_Batch | None] = ContextVar("conceptkit_batch", default=None)


class EngineError(Exception):
    """A wiring problem found at startup (unknown action, duplicate name...)."""


class InvocationError(Exception):
    """An action raised instead of returning ``{"error": ...}``: a bug, reported as 500."""

    def __init__(self, record: ActionRecord) -> None:
        super().__init__(f"{record.concept}.{record.action} raised")
        self.record = record


class Engine:
    """Holds the concepts and syncs of one application and runs them against MongoDB."""

    def __init__(
        self,
        db: Any,
        concepts: Iterable[Concept],
        syncs: Iterable[Sync] = (),
        *,
        sealer: Sealer | None = None,
        retention_days: float | None = 30,
        observers: Iterable[ActionObserver] = (),
        flow_cache_size: int = 2048,
        concept_sources: Mapping[str, str] | None = None,
        recovery_grace_s: float = 30.0,
    ) -> None:
        self.recovery_grace_s = recovery_grace_s
        self._recovery_task: asyncio.Task[None] | None = None
        self.concept_sources = dict(concept_sources or {})
        self.db = db
        self.concepts: dict[str, Concept] = {}
        self.operations: dict[tuple[str, str], OperationSpec] = {}
        for concept in concepts:
            self.concepts[concept.name] = concept
            for name, spec in describe_operations(concept).items():
                self.operations[(concept.name, name)] = spec
        self.syncs = list(syncs)
        # syncs whose where-clauses query state: their frames are saved for replays
        self._reads_state = {sync.name for sync in self.syncs if _reads_state(sync)}
        self._triggers: dict[tuple[str, str], list[tuple[Sync, int]]] = {}
        for sync in self.syncs:
            self._check_sync(sync)
            for pos, pattern in enumerate(sync.when):
                self._triggers.setdefault((pattern.concept, pattern.action), []).append((sync, pos))
        self.log = ActionLog(db, sealer, retention_days, recovery_grace_s)
        self.observers = list(observers)
        self._flows: OrderedDict[str, list[ActionRecord]] = OrderedDict()
        self._flow_cache_size = flow_cache_size
        self._open_batches: dict[str, _Batch] = {}  # flow -> its uncommitted batch
        self._detached: set[asyncio.Future[Any]] = set()  # flows running past their reply

    # -- startup -------------------------------------------------------------------

    def _check_sync(self, sync: Sync) -> None:
        where = f"sync {sync.name!r} (from {sync.source or 'unknown source'})"
        for pattern in [*sync.when, *sync.then]:
            spec = self.operations.get((pattern.concept, pattern.action))
            if spec is None or spec.kind != "action":
                raise EngineError(
                    f"{where} names unknown action {pattern.concept}.{pattern.action}; {self._whereabouts(pattern.concept)}"
                )
            if pattern in sync.then:
                unknown = set(pattern.inputs) - set(spec.params)
                if unknown:
                    raise EngineError(
                        f"{where}: {pattern.concept}.{pattern.action} has no input(s) {sorted(unknown)}"
                    )
        for clause in sync.where:
            if isinstance(clause, Absent):
                clause = clause.query
            if isinstance(clause, QueryPattern):
                spec = self.operations.get((clause.concept, clause.query))
                if spec is None or spec.kind != "query":
                    raise EngineError(
                        f"{where} names unknown query {clause.concept}.{clause.query}; {self._whereabouts(clause.concept)}"
                    )

    def _whereabouts(self, concept: str) -> str:
        if concept not in self.concepts:
            return f"no plugin contributes a concept named {concept!r}"
        names = sorted(n for c, n in self.operations if c == concept)
        source = self.concept_sources.get(concept, "unknown source")
        return f"concept {concept} (from {source}) has: {', '.join(names)}"

    async def start(self) -> None:
        """Create indexes, finish reactions a crashed process left owing, keep watching for more."""
        for concept in self.concepts.values():
            await concept.setup()
        await self.log.setup()
        await self.recover()
        self._recovery_task = asyncio.create_task(self._recovery_loop(), name="conceptkit-recovery")

    def detach(self, flow: asyncio.Future[Any]) -> None:
        """Keep a flow that runs on after its request was answered; ``close`` waits for it."""
        self._detached.add(flow)
        flow.add_done_callback(self._detached.discard)

    async def settle(self, timeout_s: float = 10.0) -> None:
        """Wait for the flows still running after their reply (tests, shutdown)."""
        while self._detached:
            _, pending = await asyncio.wait(set(self._detached), timeout=timeout_s)
            if pending:
                log.warning(
                    "%d flow(s) still running at shutdown; they will be replayed", len(pending)
                )
                return

    async def commit_flow(self, flow: str) -> None:
        """Commit what a running flow has recorded so far (before its reply goes out)."""
        batch = self._open_batches.get(flow)
        if batch is not None:
            await self._commit(batch)

    async def close(self) -> None:
        await self.settle()
        if self._recovery_task is not None:
            self._recovery_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery_task
        await self.log.close()

    async def recover(self) -> int:
        """Re-run the syncs of every record left pending for longer than the grace period.

        Each record is claimed atomically before it is replayed, so several
        processes can recover side by side; the grace period keeps them off
        records a live process is still working on. Returns how many were replayed.
        """
        done = 0
        token = _replaying.set(True)
        try:
            while (record := await self.log.claim_stale(self.recovery_grace_s)) is not None:
                flow_token = context.flow_id.set(record.flow)
                batch = _Batch(group=False)
                batch.written_pending.add(record.id)
                batch_token = _batch.set(batch)
                try:
                    stored = await self.log.flow_records(record.flow)
                    cached = self._flows.get(record.flow, [])  # a live flow here, maybe
                    known = {r.id for r in stored}
                    stored += [r for r in cached if r.id not in known]
                    self._flows[record.flow] = sorted(stored, key=lambda r: r.seq)
                    await self._react(record)
                    batch.done.add(record.id)
                finally:
                    _batch.reset(batch_token)
                    context.flow_id.reset(flow_token)
                await self._commit(batch)
                done += 1
            if done:
                await self.log.flush()
                log.warning("replayed the owed reactions of %d action(s) left unfinished", done)
            return done
        finally:
            _replaying.reset(token)

    async def _recovery_loop(self) -> None:
        while True:
            await asyncio.sleep(max(self.recovery_grace_s / 2, 0.05))
            try:
                await self.recover()
            except Exception:
                log.exception("recovery pass failed; will try again")

    # -- invoking ------------------------------------------------------------------

    def spec(self, concept: str, name: str) -> OperationSpec | None:
        return self.operations.get((concept, name))

    async def invoke(
        self,
        concept: str,
        action: str,
        inputs: Mapping[str, Any],
        *,
        flow: str | None = None,
        cause: list[str] | None = None,
        sync: str | None = None,
        action_id: str | None = None,
        validated: bool = False,
        group_commit: bool = False,
    ) -> dict[str, Any]:
        """Run one action, record it, run its syncs; returns the action's outputs.

        ``group_commit`` writes the records of the reactions together once they have
        run (one write, see ``_commit``) instead of one by one: for request turns,
        whose latency it shortens. A crash before that commit replays the reactions,
        so repeats of actions that had run become possible; flows that cannot afford
        that (dialling) keep the default."""
        spec = self.operations.get((concept, action))
        if spec is None or spec.kind != "action":
            raise EngineError(f"unknown action {concept}.{action}")
        flow = flow or new_id()
        token = context.flow_id.set(flow)
        batch = _batch.get()
        # a nested invoke joins its caller's batch
        own = _Batch(group=group_commit) if batch is None else None
        batch_token = _batch.set(own) if own is not None else None
        if own is not None:
            self._open_batches[flow] = own
        try:
            record = await self._run(
                spec, dict(inputs), flow, cause or [], sync, action_id, validated
            )
        finally:
            if batch_token is not None:
                _batch.reset(batch_token)
            context.flow_id.reset(token)
            if own is not None:
                try:
                    await self._commit(own)
                finally:
                    self._open_batches.pop(flow, None)
        if "__exception__" in record.outputs:
            raise InvocationError(record)
        return record.outputs

    async def _run(
        self,
        spec: OperationSpec,
        inputs: dict[str, Any],
        flow: str,
        cause: list[str],
        sync: str | None,
        action_id: str | None,
        validated: bool,
    ) -> ActionRecord:
        started = dt.datetime.now(dt.UTC)
        if not validated:
            inputs, errors = spec.check_inputs(inputs, "inputs")
            if errors:
                outputs: dict[str, Any] = {"error": _describe(errors), "errorKind": "invalid"}
                return await self._complete(
                    spec, action_id, flow, inputs, outputs, cause, sync, started
                )
        try:
            outputs = await spec.func(**inputs)
            if not isinstance(outputs, dict):
                raise TypeError(f"{spec.qualname} returned {type(outputs).__name__}, not a dict")
        except Exception:
            log.exception("action %s raised", spec.qualname)
            outputs = {"error": "internal error", "errorKind": "unavailable", "__exception__": True}
        return await self._complete(spec, action_id, flow, inputs, outputs, cause, sync, started)

    async def _complete(
        self,
        spec: OperationSpec,
        action_id: str | None,
        flow: str,
        inputs: dict[str, Any],
        outputs: dict[str, Any],
        cause: list[str],
        sync: str | None,
        started: dt.datetime,
    ) -> ActionRecord:
        record = ActionRecord(
            id=action_id or new_id(),
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
        self._remember(record)
        may_react = self._may_trigger(record)
        document = self.log.to_document(record, spec.secret, spec.private, pending=may_react)
        batch = _batch.get()
        if sync is not None and batch is not None and batch.group:
            # Caused by a sync: committed with the rest of the flow (a replay looks it
            # up by id to skip what already ran). A long flow commits as it goes.
            batch.actions.append(document)
            batch.records.append(record)
            if time.monotonic() - batch.opened > self.recovery_grace_s / 4:
                await self._commit(batch)
        else:
            # Written at once: a cause before its reactions run, a sync-caused record
            # so that a replay skips it.
            if may_react or sync is not None:
                await self.log.write_now(document)
                if batch is not None:
                    batch.written_pending.add(record.id)
            else:
                self.log.write_later(document)
            for observe in self.observers:
                observe(record, may_react)
        if not may_react:
            return record
        await self._react(record)
        if batch is not None:
            batch.done.add(record.id)
        else:
            self.log.mark_done(record.id)
        return record

    async def _commit(self, batch: _Batch) -> None:
        """Write a batch's firings and records in order, then mark its causes done.

        If the database refuses, the writes stay queued in the log and are retried
        (the causes stay pending meanwhile, so a crash still ends in a replay).
        """
        async with batch.lock:
            if batch.writing is not None and not batch.writing.done():
                await asyncio.shield(batch.writing)  # one cut short before: let it land first
            actions, firings, records = batch.actions, batch.firings, batch.records
            batch.actions, batch.firings, batch.records = [], [], []
            batch.opened = time.monotonic()
            for document in actions:
                if document["pending"] and document["_id"] in batch.done:
                    document["pending"], document["retryAt"] = False, None
                elif document["pending"]:
                    batch.written_pending.add(document["_id"])
            done_earlier = [i for i in batch.done if i in batch.written_pending]
            batch.written_pending.difference_update(done_earlier)
            batch.done.difference_update(done_earlier)
            # Shielded: a caller that stops waiting (a reply's timeout) must not cut the
            # write short; it lands, or the log owes it and retries.
            batch.writing = asyncio.ensure_future(self.log.commit(firings, actions, done_earlier))
            durable = await asyncio.shield(batch.writing)
            if durable:
                for record, document in zip(records, actions, strict=True):
                    for observe in self.observers:
                        observe(record, document["pending"])

    def _remember(self, record: ActionRecord) -> None:
        records = self._flows.get(record.flow)
        if records is None:
            records = self._flows[record.flow] = []
            if len(self._flows) > self._flow_cache_size:
                self._flows.popitem(last=False)
        else:
            self._flows.move_to_end(record.flow)
        if all(r.id != record.id for r in records):
            records.append(record)

    def _may_trigger(self, record: ActionRecord) -> bool:
        for sync, pos in self._triggers.get((record.concept, record.action), ()):
            if _match_one(sync.when[pos], record, {}) is not None:
                return True
        return False

    # -- reacting ------------------------------------------------------------------

    async def _react(self, record: ActionRecord) -> None:
        for sync, pos in self._triggers.get((record.concept, record.action), ()):
            if _match_one(sync.when[pos], record, {}) is None:
                continue
            flow_records = self._flows.get(record.flow)
            if flow_records is None:
                flow_records = await self.log.flow_records(record.flow)
                batch = _batch.get()
                if batch is not None:  # records of this flow not committed yet
                    known = {r.id for r in flow_records}
                    flow_records += [
                        r for r in batch.records if r.flow == record.flow and r.id not in known
                    ]
                    flow_records.sort(key=lambda r: r.seq)
                self._flows[record.flow] = flow_records
            for matched, frame in _match_all(sync, pos, record, flow_records):
                await self._fire(sync, matched, frame)

    async def _fire(self, sync: Sync, matched: list[ActionRecord], frame: Frame) -> None:
        ids = sorted(r.id for r in matched)
        key = hashlib.sha256("|".join([sync.name, *ids]).encode()).hexdigest()[:32]
        newest = max(ids)
        frames: list[Frame] | None = None
        if not sync.where:
            frames = [frame]
        elif sync.name not in self._reads_state:  # Filter/Let only: a replay derives the same
            frames = await self._expand(sync, [frame])
        else:
            if _replaying.get():
                saved = await self.log.load_firing(key)
                if saved is not None:
                    frames = self.log.firing_frames(saved)
            if frames is None:
                frames = await self._expand(sync, [frame])
                firing = self.log.firing_document(key, sync.name, ids, frames)
                batch = _batch.get()
                if batch is not None and batch.group:
                    batch.firings.append(firing)  # committed before the records it caused
                else:
                    await self.log.write_firing(firing)
        for i, f in enumerate(frames):
            for j, then in enumerate(sync.then):
                child_id = newest[:12] + hashlib.sha256(f"{key}|{i}|{j}".encode()).hexdigest()[:20]
                if _replaying.get() and await self.log.find(child_id) is not None:
                    continue
                try:
                    inputs = resolve(then.inputs, f)
                except Exception as exc:
                    log.error(
                        "sync %s could not build inputs for %s.%s: %s",
                        sync.name,
                        then.concept,
                        then.action,
                        exc,
                    )
                    continue
                spec = self.operations[(then.concept, then.action)]
                await self._run(spec, inputs, matched[0].flow, ids, sync.name, child_id, False)

    async def _expand(self, sync: Sync, frames: list[Frame]) -> list[Frame]:
        for clause in sync.where:
            if not frames:
                break
            if isinstance(clause, QueryPattern):
                frames = await self._query_frames(clause, frames)
            elif isinstance(clause, Filter):
                frames = [f for f in frames if clause.test(f)]
            elif isinstance(clause, Let):
                frames = [{**f, clause.var.name: clause.fn(f)} for f in frames]
            elif isinstance(clause, Absent):
                frames = [f for f in frames if not await self._query_frames(clause.query, [f])]
        return frames

    async def _query_frames(self, clause: QueryPattern, frames: list[Frame]) -> list[Frame]:
        out: list[Frame] = []
        for frame in frames:
            rows = await self.query(clause.concept, clause.query, resolve(clause.inputs, frame))
            for row in rows:
                extended = bind(clause.outputs, row, frame)
                if extended is not None:
                    out.append(extended)
        return out

    async def query(
        self, concept: str, name: str, inputs: Mapping[str, Any], *, validated: bool = False
    ) -> list[dict[str, Any]]:
        spec = self.operations.get((concept, name))
        if spec is None or spec.kind != "query":
            raise EngineError(f"unknown query {concept}.{name}")
        if not validated:
            inputs, errors = spec.check_inputs(inputs, "inputs")
            if errors:
                raise EngineError(f"{spec.qualname}: {_describe(errors)}")
        return await spec.func(**inputs)


def _reads_state(sync: Sync) -> bool:
    """Whether the sync's where-clauses query concept state (which may change before a replay)."""
    return any(isinstance(c, QueryPattern | Absent) for c in sync.where)


def _match_one(pattern: ActionPattern, record: ActionRecord, frame: Frame) -> Frame | None:
    """Bind one record against one when-pattern: inputs, then outputs (error or success)."""
    if pattern.concept != record.concept or pattern.action != record.action:
        return None
    if pattern.matches_error != record.is_error:
        return None
    frame2 = bind(pattern.inputs, record.inputs, frame)
    if frame2 is None:
        return None
    return bind(pattern.outputs or {}, record.outputs, frame2)


def _match_all(sync: Sync, pos: int, record: ActionRecord, flow_records: list[ActionRecord]):
    """Every set of flow records matching all when-patterns, with ``record`` at ``pos``.

    Only sets in which ``record`` is the newest member are produced: a set fires
    when its last action completes, never again for older records.
    """
    first = _match_one(sync.when[pos], record, {})
    if first is None:
        return
    if len(sync.when) == 1:
        yield [record], first
        return
    others = [i for i in range(len(sync.when)) if i != pos]
    earlier = [r for r in flow_records if r.seq < record.seq]
    pools = [
        [
            r
            for r in earlier
            if r.concept == sync.when[i].concept and r.action == sync.when[i].action
        ]
        for i in others
    ]
    seen: set[tuple[str, ...]] = set()
    for combo in itertools.product(*pools):
        if len({r.id for r in combo}) < len(combo):
            continue
        frame: Frame | None = first
        for i, r in zip(others, combo, strict=True):
            frame = _match_one(sync.when[i], r, frame)
            if frame is None:
                break
        if frame is None:
            continue
        ids = tuple(sorted(r.id for r in (record, *combo)))
        if ids in seen:
            continue
        seen.add(ids)
        yield [record, *combo], frame


def _describe(errors: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:]) or 'input'}: {e['msg']}" for e in errors
    )
