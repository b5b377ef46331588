"""Recovery: finishing the reactions a crashed process owed, and keeping live flows claimed.

A record left pending past the grace period belongs to a process that died (or
stalled): any process claims it atomically and replays its syncs. A replayed
action finds the mark its first run left (see ``_effects``) and returns what it
returned, so every reaction the first run owed runs, once. A record that is only
an intent (written before its action's first write, naming the documents that
write marks) is completed from the mark found there, or recorded as never having
taken effect; the action itself is not run again.

Live flows keep their pending records from being replayed under them: a heartbeat
pushes the replay time of every record whose reactions this process is still
running. A record whose replay keeps failing is given up after ``MAX_REPLAYS``
passes, kept in the log with the reason, and reported.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from .. import _context as context
from .._effects import MARKS
from .._log.actionlog import LOST
from . import committing
from .committing import Batch
from .errors import FlowStopped

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger("conceptkit.recovery")

# True while a recovery pass replays a record: child actions are then looked up
# before they run, since a crashed process may have completed them already.
replaying: ContextVar[bool] = ContextVar("conceptkit_replaying", default=False)

MAX_REPLAYS = 20


class RecoveryMixin:
    """The engine's recovery pass and heartbeat (mixed into ``Engine``)."""

    # Observers of recovery, for metrics: called with ("replayed" | "gave_up", record).
    recovery_observers: list[Callable[[str, Any], None]]

    async def recover(self: Engine) -> int:
        """Re-run the syncs of every record left pending for longer than the grace period.

        Each record is claimed atomically before it is replayed, so several
        processes can recover side by side; the grace period (and the heartbeat of
        live processes) keeps them off records a live process is still working on.
        Returns how many were replayed.
        """
        done = 0
        token = replaying.set(True)
        try:
            while (record := await self.log.claim_stale(self.recovery_grace_s)) is not None:
                if record.replays > MAX_REPLAYS:
                    reason = f"its reactions failed {MAX_REPLAYS} times"
                    await self.log.give_up(record.id, reason)
                    log.error(
                        "gave up %s.%s (%s): %s", record.concept, record.action, record.id, reason
                    )
                    self._notify_recovery("gave_up", record)
                    continue
                self._working[record.id] = time.monotonic()
                flow_token = context.flow_id.set(record.flow)
                batch = Batch(group=False)
                batch.written_pending.add(record.id)
                batch_token = committing.current.set(batch)
                try:
                    # a live flow here, maybe: what this process holds of it is newest
                    await self._read_flow(record.flow, self.flows.get(record.flow) or [])
                    if record.intent:
                        await self._redo(record)
                    else:
                        await self._react(record)
                        batch.done.add(record.id)
                    self._notify_recovery("replayed", record)
                except FlowStopped as stopped:
                    log.warning(
                        "replaying %s.%s stopped: %s.%s raised; it stays owed",
                        record.concept,
                        record.action,
                        stopped.record.concept,
                        stopped.record.action,
                    )
                finally:
                    committing.current.reset(batch_token)
                    context.flow_id.reset(flow_token)
                    self._working.pop(record.id, None)
                await self._commit(batch)
                done += 1
            if done:
                await self.log.flush()
                log.warning("replayed the owed reactions of %d action(s) left unfinished", done)
            return done
        finally:
            replaying.reset(token)

    async def _redo(self: Engine, record: Any) -> None:
        """Complete an intent: its outcome is what the mark on one of its target documents
        recorded; with no mark there, the write never happened. The action is not run
        again (its inputs in the log may be redacted, and a second run could decide anew)."""
        spec = self.operations.get((record.concept, record.action))
        if spec is None:
            await self.log.give_up(record.id, "its action no longer exists")
            return
        outputs: dict[str, Any] = {
            "error": "interrupted before it took effect",
            "errorKind": "unavailable",
            LOST: True,
        }
        scope = self._scope(spec, record.id)
        for target in record.targets:
            doc = await self.db[target["c"]].find_one(
                {"_id": target["id"], f"{MARKS}.a": record.id}
            )
            found = scope.recorded(doc)
            if found is not None:
                outputs = found
                break
        await self._complete(
            spec,
            record.id,
            record.flow,
            dict(record.inputs),
            outputs,
            list(record.cause),
            record.sync,
            record.started or dt.datetime.now(dt.UTC),
            True,
        )

    def _notify_recovery(self: Engine, event: str, record: Any) -> None:
        for observe in self.recovery_observers:
            observe(event, record)

    async def _recovery_loop(self: Engine) -> None:
        while True:
            await asyncio.sleep(max(self.recovery_grace_s / 2, 0.05))
            try:
                await self.recover()
            except Exception:
                log.exception("recovery pass failed; will try again")

    async def _heartbeat_loop(self: Engine) -> None:
        """Keep the pending records of flows still running here from being replayed."""
        every = max(self.recovery_grace_s / 3, 0.02)
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            due = [i for i, since in self._working.items() if now - since >= every]
            if not due:
                continue
            try:
                await self.log.extend(due, self.recovery_grace_s)
                for record_id in due:
                    if record_id in self._working:
                        self._working[record_id] = now
            except Exception as exc:
                log.warning("heartbeat failed (%s); will try again", type(exc).__name__)
