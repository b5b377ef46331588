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
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError, WTimeoutError

from . import batching, context, effects
from .actionlog import RAISED, ActionLog, ActionRecord, Sealer, next_seq
from .batching import Batch
from .concept import Concept, OperationSpec, describe_operations
from .flows import FlowCache
from .ids import new_id
from .invariants import Invariant, reconcile
from .matching import match_one, may_match_inputs, reads_state
from .reacting import FlowStopped, ReactingMixin
from .recovery import RecoveryMixin, replaying
from .sync import Sync
from .wiring import EngineError, check_sync

log = logging.getLogger("conceptkit.engine")

# Called with each record once it is in the log; ``pending`` says its reactions
# are about to run (a durable point: a crash after it is repaired at restart).
ActionObserver = Callable[[ActionRecord, bool], None]

# An action that fails this way is run again at once (its marked write, if it landed
# before the error, makes the second run return what the first did).
TRANSIENT_DELAYS_S = (0.05, 0.25)


class InvocationError(Exception):
    """An action raised instead of returning ``{"error": ...}``: a bug or an outage.

    ``owed`` means the invoked action itself completed but a reaction raised: the rest
    of its reactions are owed, and a recovery pass will run them.
    """

    def __init__(self, record: ActionRecord, owed: bool = False) -> None:
        super().__init__(f"{record.concept}.{record.action} raised")
        self.record = record
        self.owed = owed


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionFailure | ExecutionTimeout | WTimeoutError):
        return True
    return isinstance(exc, PyMongoError) and exc.has_error_label("RetryableWriteError")


class Engine(ReactingMixin, RecoveryMixin):
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
        self.flows = FlowCache(flow_cache_size)
        self._open_batches: dict[str, Batch] = {}  # flow -> its uncommitted batch
        self._detached: set[asyncio.Future[Any]] = set()  # flows running past their reply
        # records written pending whose reactions this process is running (heartbeat)
        self._working: dict[str, float] = {}

    # -- startup -------------------------------------------------------------------

    def _check_sync(self, sync: Sync) -> None:
        check_sync(self, sync)

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
        # a caller naming the action id may be running it again (a client's retry)
        again = replaying.set(True) if action_id is not None and sync is None else None
        try:
            record = await self._run(
                spec, dict(inputs), flow, cause or [], sync, action_id, validated
            )
        except FlowStopped as exc:
            stopped = exc
        finally:
            if again is not None:
                replaying.reset(again)
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
        self.flows.remember(record)
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
        self.flows.put(flow, [])
        return flow

    def _may_trigger(self, record: ActionRecord) -> bool:
        for sync, pos in self._triggers.get((record.concept, record.action), ()):
            if match_one(sync.when[pos], record, {}) is not None:
                return True
        return False

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


def _describe(errors: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:]) or 'input'}: {e['msg']}" for e in errors
    )
