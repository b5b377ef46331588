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
  ``_effects``); a root action that may cause reactions writes its record as pending
  just before its first write. A crash anywhere leaves a pending record that any
  process replays after a grace period: the replayed actions find their marks and
  return what they returned, and every reaction that was owed runs.

This module holds the engine's state and its life (start, settle, close), queries and
the reconciler's entry; each other job is a mixin of its own module: ``invoking``
(running an action), ``committing`` (recording it and writing the flow's records),
``reacting`` (the syncs it fires), ``recovery`` (replaying what a crash left owed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._concept import Concept, OperationSpec, describe_operations
from .._ids import new_id
from .._invariants import Invariant, reconcile
from .._log.actionlog import ActionLog, ActionRecord, Sealer
from .._sync import Sync
from .committing import Batch, CommittingMixin
from .errors import EngineError, InvocationError
from .flows import FlowCache
from .invoking import InvokingMixin, describe_errors
from .matching import reads_state
from .reacting import ReactingMixin
from .recovery import RecoveryMixin
from .wiring import check_sync

log = logging.getLogger("conceptkit.engine")

# Called with each record once it is in the log; ``pending`` says its reactions
# are about to run (a durable point: a crash after it is repaired at restart).
ActionObserver = Callable[[ActionRecord, bool], None]


class Engine(InvokingMixin, CommittingMixin, ReactingMixin, RecoveryMixin):
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

    async def close(self) -> None:
        await self.settle()
        for task in (self._recovery_task, self._heartbeat_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.log.close()

    def spec(self, concept: str, name: str) -> OperationSpec | None:
        return self.operations.get((concept, name))

    async def reconcile(self, now: Any, **limits: Any) -> list[str]:
        """Check every invariant at ``now`` and repair each breach found (see ``_invariants``);
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

    def new_flow(self) -> str:
        """A new flow id; this process sees the whole flow, so it never reads it back."""
        flow = new_id()
        self.flows.put(flow, [])
        return flow

    async def query(
        self, concept: str, name: str, inputs: Mapping[str, Any], *, validated: bool = False
    ) -> list[dict[str, Any]]:
        spec = self.operations.get((concept, name))
        if spec is None or spec.kind != "query":
            raise EngineError(f"unknown query {concept}.{name}")
        if not validated:
            inputs, errors = spec.check_inputs(inputs, "inputs")
            if errors:
                raise EngineError(f"{spec.qualname}: {describe_errors(errors)}")
        return await spec.func(**inputs)
