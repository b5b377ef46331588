"""Reacting: the syncs an action triggers, their where-clauses, and their then-actions.

A sync fires when the newest record of a matching set completes; its where-clauses
expand the frame (their frames saved with the firing, when they read state, so a
replay acts on what was decided); its then-actions run in order, each one's own
reactions depth first, with ids derived from the firing so a replay reruns exactly
the same actions. A then-action that raises stops the rest (``FlowStopped``).
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from .._log.actionlog import ActionRecord
from .._sync import Absent, Filter, Frame, Let, QueryPattern, Sync, bind, resolve
from . import committing
from .errors import FlowStopped
from .matching import match_all, match_one
from .recovery import replaying

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger("conceptkit.engine")


class ReactingMixin:
    """The engine's reactions to a completed record (mixed into ``Engine``)."""

    async def _react(self: Engine, record: ActionRecord) -> None:
        for sync, pos in self._triggers.get((record.concept, record.action), ()):
            if match_one(sync.when[pos], record, {}) is None:
                continue
            flow_records = self.flows.get(record.flow)
            if flow_records is None or not self.flows.complete(record.flow):
                flow_records = await self._read_flow(record.flow, flow_records or [])
            for matched, frame in match_all(sync, pos, record, flow_records):
                await self._fire(sync, matched, frame)

    async def _read_flow(self: Engine, flow: str, seen: list[ActionRecord]) -> list[ActionRecord]:
        """The flow's records from the log, with what this process holds of it uncommitted."""
        records = await self.log.flow_records(flow)
        batch = committing.current.get()
        extra = [*seen, *(batch.records if batch is not None else ())]
        by_id = {r.id: r for r in records}
        for r in extra:
            if r.flow == flow:
                by_id[r.id] = r  # this process's copy is the newest (an intent's outcome)
        return self.flows.put(flow, sorted(by_id.values(), key=lambda r: r.seq))

    async def _fire(self: Engine, sync: Sync, matched: list[ActionRecord], frame: Frame) -> None:
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
                batch = committing.current.get()
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

    async def _expand(self: Engine, sync: Sync, frames: list[Frame]) -> list[Frame]:
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

    async def _query_frames(self: Engine, clause: QueryPattern, frames: list[Frame]) -> list[Frame]:
        out: list[Frame] = []
        for frame in frames:
            rows = await self.query(clause.concept, clause.query, resolve(clause.inputs, frame))
            for row in rows:
                extended = bind(clause.outputs, row, frame)
                if extended is not None:
                    out.append(extended)
        return out


def _child_id(newest: str, key: str, frame: int, position: int) -> str:
    """The id of a then-action: the same on every replay of the firing. It starts with the
    newest matched record's time, then the frame and position, so a firing's actions
    (and the ids they make) sort in the order they ran."""
    digest = hashlib.sha256(f"{key}|{frame}|{position}".encode()).hexdigest()
    return f"{newest[:12]}{min(frame, 0xFFF):03x}{min(position, 0xFFF):03x}{digest[:14]}"
