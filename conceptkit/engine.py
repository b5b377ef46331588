"""The engine: invokes actions, records them, and runs the synchronizations they trigger.

Semantics (see docs/conceptkit.md):
- Every external stimulus starts a flow; actions caused by syncs join their cause's flow.
- A sync fires when all its when-patterns are matched by completed actions of one
  flow, with consistent variable bindings, and the newest of them just completed.
  It fires at most once per set of matched records.
- Its where-clauses expand or filter frames; its then-actions run once per frame,
  in order, each one's own syncs running before the next (depth first). An action
  that raises stops the rest: its causes stay owed and the flow reports a failure.
- Exactly once in effect: an action's write carries its id and outputs (a mark, see
  ``effects``); a root action that may cause reactions writes its record as pending
  just before its first write. A crash anywhere leaves a pending record that any
  process replays after a grace period: the replayed actions find their marks and
  return what they returned, and every reaction that was owed runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError, WTimeoutError

from . import batching, context, effects
from .actionlog import RAISED, ActionLog, ActionRecord, Sealer, next_seq
from .batching import Batch
from .concept import Concept, OperationSpec, describe_operations
from .ids import new_id
from .invariants import Invariant, reconcile
from .matching import match_all, match_one, may_match_inputs, reads_state
from .recovery import RecoveryMixin, replaying
from .sync import Absent, Filter, Frame, Let, QueryPattern, Sync, bind, resolve

log = logging.getLogger("conceptkit.engine")

# Called with each record once it is in the log; ``pending`` says its reactions
# are about to run (a durable point: a crash after it is repaired at restart).
ActionObserver = Callable[[ActionRecord, bool], None]

# An action that fails this way is run again at once (its marked write, if it landed
# before the error, makes the second run return what the first did).
TRANSIENT_DELAYS_S = (0.05, 0.25)


class EngineError(Exception):
    """A wiring problem found at startup (unknown action, duplicate name...)."""


class InvocationError(Exception):
    """An action raised instead of returning ``{"error": ...}``: a bug or an outage.

    ``owed`` means the invoked action itself completed but a reaction raised: the rest
    of its reactions are owed, and a recovery pass will run them.
    """

    def __init__(self, record: ActionRecord, owed: bool = False) -> None:
        super().__init__(f"{record.concept}.{record.action} raised")
        self.record = record
        self.owed = owed


class FlowStopped(Exception):
    """A then-action raised: the rest of the firing (and of the flow) stops; causes stay owed."""

    def __init__(self, record: ActionRecord) -> None:
        super().__init__(f"{record.concept}.{record.action} raised")
        self.record = record


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionFailure | ExecutionTimeout | WTimeoutError):
        return True
    return isinstance(exc, PyMongoError) and exc.has_error_label("RetryableWriteError")


class Engine(RecoveryMixin):
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
        wall_clock: Callable[[], float] = time.time,
        invariants: Iterable[Invariant] = (),
    ) -> None:
        self.recovery_grace_s = recovery_grace_s
        self._recovery_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
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
        self._reads_state = {sync.name for sync in self.syncs if reads_state(sync)}
        self._triggers: dict[tuple[str, str], list[tuple[Sync, int]]] = {}
        for sync in self.syncs:
            self._check_sync(sync)
            for pos, pattern in enumerate(sync.when):
                self._triggers.setdefault((pattern.concept, pattern.action), []).append((sync, pos))
        self.invariants = list(invariants)
        for invariant in self.invariants:
            self._check_sync(invariant.check())
        self.log = ActionLog(db, sealer, retention_days, recovery_grace_s, wall_clock)
        # observers of reconciler repairs, for metrics: called with the invariant's name
        self.repair_observers: list[Callable[[str], None]] = []
        self.recovery_observers: list[Callable[[str, ActionRecord], None]] = []
        self.observers = list(observers)
        self._flows: OrderedDict[str, list[ActionRecord]] = OrderedDict()
        # cached flows that began before this process joined them: read the log once
        self._partial: set[str] = set()
        self._flow_cache_size = flow_cache_size
        self._open_batches: dict[str, Batch] = {}  # flow -> its uncommitted batch
        self._detached: set[asyncio.Future[Any]] = set()  # flows running past their reply
        # records written pending whose reactions this process is running (heartbeat)
        self._working: dict[str, float] = {}

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

    async def start(self, background: bool = True) -> None:
        """Create indexes, finish reactions a crashed process left owing, keep watching for more.

        ``background=False`` starts no tasks (no recovery loop, heartbeat or log flusher):
        the caller flushes and recovers explicitly, so every write happens at a known
        point (crash-point tests).
        """
        for concept in self.concepts.values():
            await concept.setup()
        await self.log.setup(background)
        await self.recover()
        if not background:
            return
        self._recovery_task = asyncio.create_task(self._recovery_loop(), name="conceptkit-recovery")
        self._heartbeat_task = asyncio.create_task(
            self._heartbeat_loop(), name="conceptkit-heartbeat"
        )

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
        for task in (self._recovery_task, self._heartbeat_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.log.close()

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
        run (one write, see ``batching``) instead of one by one: for request turns,
        whose latency it shortens. A crash before that commit replays the reactions,
        which find their marks and return what they returned.

        Raises ``InvocationError`` if the action raised, or if a reaction raised (then
        ``owed``: recovery will run the rest).
        """
        spec = self.operations.get((concept, action))
        if spec is None or spec.kind != "action":
            raise EngineError(f"unknown action {concept}.{action}")
        flow = flow or self.new_flow()
        token = context.flow_id.set(flow)
        batch = batching.current.get()
        # a nested invoke joins its caller's batch
        own = Batch(group=group_commit) if batch is None else None
        batch_token = batching.current.set(own) if own is not None else None
        if own is not None:
            self._open_batches[flow] = own
        stopped: FlowStopped | None = None
        try:
            record = await self._run(
                spec, dict(inputs), flow, cause or [], sync, action_id, validated
            )
        except FlowStopped as exc:
            stopped = exc
        finally:
            if batch_token is not None:
                batching.current.reset(batch_token)
            context.flow_id.reset(token)
            if own is not None:
                try:
                    await self._commit(own)
                finally:
                    self._open_batches.pop(flow, None)
                    if stopped is not None:  # what it owes is recovery's, not the heartbeat's
                        for record_id in own.written_pending:
                            self._working.pop(record_id, None)
        if stopped is not None:
            raise InvocationError(stopped.record, owed=True) from None
        if record.raised:
            raise InvocationError(record)
        return record.outputs

    async def reconcile(self, now: Any, **limits: Any) -> list[str]:
        """Check every invariant at ``now`` and repair each breach found (see ``invariants``);
        ``limits`` are thresholds its queries may use. Returns the names of the invariants
        repaired, one per breach."""
        repaired = await reconcile(self, self.invariants, now, limits)
        for name in repaired:
            for observe in self.repair_observers:
                observe(name)
        return repaired

    def log_repair_failure(self, invariant: str, exc: InvocationError) -> None:
        log.error(
            "repairing %s failed: %s.%s raised; it will be tried again",
            invariant,
            exc.record.concept,
            exc.record.action,
        )

    def _may_react_to(self, spec: OperationSpec, inputs: Mapping[str, Any]) -> bool:
        """Whether some sync could react to this invocation, whatever its outcome."""
        return any(
            may_match_inputs(sync.when[pos], dict(inputs))
            for sync, pos in self._triggers.get((spec.concept, spec.name), ())
        )

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
        action_id = action_id or new_id()
        if not validated:
            inputs, errors = spec.check_inputs(inputs, "inputs")
            if errors:
                outputs: dict[str, Any] = {"error": _describe(errors), "errorKind": "invalid"}
                return await self._complete(
                    spec, action_id, flow, inputs, outputs, cause, sync, started, False
                )
        scope = self._scope(spec, action_id)
        if sync is None and self._may_react_to(spec, inputs):
            # A root that may cause reactions: its record is durable before its first write,
            # naming the documents that write will mark (recovery looks there).
            async def intent(targets: list[dict[str, Any]]) -> None:
                if len(targets) > 1:
                    await self.log.add_target(action_id, targets[-1])
                    return
                document = self.log.intent_document(
                    action_id, flow, spec.concept, spec.name, inputs, cause, started,
                    spec.secret, spec.private, targets,
                )  # fmt: skip
                await self.log.write_now(document)
                self._working[action_id] = time.monotonic()

            scope.before_write = intent
        delays = TRANSIENT_DELAYS_S if spec.retry else ()
        for attempt, delay in enumerate((*delays, None)):
            scope.ids = 0  # a second run makes the same ids as the first,
            scope.replaying = scope.replaying or attempt > 0  # and finds its marks first
            token = effects.enter(scope)
            try:
                outputs = await spec.func(**inputs)
                if not isinstance(outputs, dict):
                    raise TypeError(
                        f"{spec.qualname} returned {type(outputs).__name__}, not a dict"
                    )
                break
            except Exception as exc:
                if delay is not None and _transient(exc):
                    log.warning("action %s: %s; trying again", spec.qualname, type(exc).__name__)
                    await asyncio.sleep(delay)
                    continue
                log.exception("action %s raised", spec.qualname)
                outputs = {"error": "internal error", "errorKind": "unavailable", RAISED: True}
                break
            finally:
                effects.leave(token)
        intent = scope.wrote and scope.before_write is not None
        return await self._complete(
            spec, action_id, flow, inputs, outputs, cause, sync, started, intent
        )

    def _scope(self, spec: OperationSpec, action_id: str) -> effects.Scope:
        ctx = f"{spec.concept}.{spec.name}.out"
        return effects.Scope(
            action_id,
            encode=lambda out: self.log.encode_values(out, spec.secret, spec.private, ctx),
            decode=lambda stored: self.log.decode_values(stored, ctx),
            replaying=replaying.get(),
        )

    async def _complete(
        self,
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
        self._remember(record)
        if record.raised and intent:
            self._working.pop(record.id, None)  # recovery, not the heartbeat, owns it now
            return record  # the intent stays pending: recovery finds out what became of it
        may_react = record.completed and self._may_trigger(record)
        document = self.log.to_document(record, spec.secret, spec.private, pending=may_react)
        batch = batching.current.get()
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

    async def _commit(self, batch: Batch) -> None:
        await batching.commit(batch, self.log, self.observers, self._track)

    def _track(self, pending: list[str], done: list[str]) -> None:
        now = time.monotonic()
        for record_id in pending:
            self._working[record_id] = now
        for record_id in done:
            self._working.pop(record_id, None)

    def new_flow(self) -> str:
        """A new flow id; this process sees the whole flow, so it never reads it back."""
        flow = new_id()
        self._cache(flow, [])
        return flow

    def _cache(self, flow: str, records: list[ActionRecord]) -> list[ActionRecord]:
        self._flows[flow] = records
        self._flows.move_to_end(flow)
        self._partial.discard(flow)
        while len(self._flows) > self._flow_cache_size:
            evicted, _ = self._flows.popitem(last=False)
            self._partial.discard(evicted)
        return records

    def _remember(self, record: ActionRecord) -> None:
        records = self._flows.get(record.flow)
        if records is None:
            records = self._cache(record.flow, [])
            self._partial.add(record.flow)  # joined midway: earlier records are in the log
        else:
            self._flows.move_to_end(record.flow)
        for i, known in enumerate(records):
            if known.id == record.id:
                records[i] = record  # an intent (or a raised run) replaced by its outcome
                return
        records.append(record)

    def _may_trigger(self, record: ActionRecord) -> bool:
        for sync, pos in self._triggers.get((record.concept, record.action), ()):
            if match_one(sync.when[pos], record, {}) is not None:
                return True
        return False

    # -- reacting ------------------------------------------------------------------

    async def _react(self, record: ActionRecord) -> None:
        for sync, pos in self._triggers.get((record.concept, record.action), ()):
            if match_one(sync.when[pos], record, {}) is None:
                continue
            flow_records = self._flows.get(record.flow)
            if flow_records is None or record.flow in self._partial:
                flow_records = await self._read_flow(record.flow, flow_records or [])
            for matched, frame in match_all(sync, pos, record, flow_records):
                await self._fire(sync, matched, frame)

    async def _read_flow(self, flow: str, seen: list[ActionRecord]) -> list[ActionRecord]:
        """The flow's records from the log, with what this process holds of it uncommitted."""
        records = await self.log.flow_records(flow)
        batch = batching.current.get()
        extra = [*seen, *(batch.records if batch is not None else ())]
        by_id = {r.id: r for r in records}
        for r in extra:
            if r.flow == flow:
                by_id[r.id] = r  # this process's copy is the newest (an intent's outcome)
        return self._cache(flow, sorted(by_id.values(), key=lambda r: r.seq))

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
            if replaying.get():
                saved = await self.log.load_firing(key)
                if saved is not None:
                    frames = self.log.firing_frames(saved)
            if frames is None:
                frames = await self._expand(sync, [frame])
                firing = self.log.firing_document(key, sync.name, ids, frames)
                batch = batching.current.get()
                if batch is not None and batch.group:
                    batch.firings.append(firing)  # committed before the records it caused
                else:
                    await self.log.write_firing(firing)
        for i, f in enumerate(frames):
            for j, then in enumerate(sync.then):
                child_id = _child_id(newest, key, i, j)
                if replaying.get():
                    ran = await self.log.find(child_id)
                    if ran is not None and ran.completed:
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
                record = await self._run(
                    spec, inputs, matched[0].flow, ids, sync.name, child_id, False
                )
                if record.raised:
                    raise FlowStopped(record)

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


def _child_id(newest: str, key: str, frame: int, position: int) -> str:
    """The id of a then-action: the same on every replay of the firing. It starts with the
    newest matched record's time, then the frame and position, so a firing's actions
    (and the ids they make) sort in the order they ran."""
    digest = hashlib.sha256(f"{key}|{frame}|{position}".encode()).hexdigest()
    return f"{newest[:12]}{min(frame, 0xFFF):03x}{min(position, 0xFFF):03x}{digest[:14]}"


def _describe(errors: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:]) or 'input'}: {e['msg']}" for e in errors
    )
