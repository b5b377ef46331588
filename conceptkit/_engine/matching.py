"""Matching records against a sync's when-patterns (pure functions, no I/O)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from .._log.actionlog import ActionRecord
from .._sync import Absent, ActionPattern, Frame, QueryPattern, Sync, bind


def reads_state(sync: Sync) -> bool:
    """Whether the sync's where-clauses query concept state (which may change before a replay)."""
    return any(isinstance(c, QueryPattern | Absent) for c in sync.where)


def match_one(pattern: ActionPattern, record: ActionRecord, frame: Frame) -> Frame | None:
    """Bind one record against one when-pattern: inputs, then outputs (error or success).

    A record that did not complete (an action that raised, or an intent whose outcome is
    not known yet) matches nothing: it is not an action that happened.
    """
    if pattern.concept != record.concept or pattern.action != record.action:
        return None
    if not record.completed:
        return None
    if pattern.matches_error != record.is_error:
        return None
    frame2 = bind(pattern.inputs, record.inputs, frame)
    if frame2 is None:
        return None
    return bind(pattern.outputs or {}, record.outputs, frame2)


def may_match_inputs(pattern: ActionPattern, inputs: dict) -> bool:
    """Whether an invocation with these inputs could match the pattern, whatever it returns."""
    return bind(pattern.inputs, inputs, {}) is not None


def match_all(
    sync: Sync, pos: int, record: ActionRecord, flow_records: list[ActionRecord]
) -> Iterator[tuple[list[ActionRecord], Frame]]:
    """Every set of flow records matching all when-patterns, with ``record`` at ``pos``.

    Only sets in which ``record`` is the newest member are produced: a set fires
    when its last action completes, never again for older records.
    """
    first = match_one(sync.when[pos], record, {})
    if first is None:
        return
    if len(sync.when) == 1:
        yield [record], first
        return
    others = [i for i in range(len(sync.when)) if i != pos]
    earlier = [r for r in flow_records if r.seq < record.seq and r.completed]
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
            frame = match_one(sync.when[i], r, frame)
            if frame is None:
                break
        if frame is None:
            continue
        ids = tuple(sorted(r.id for r in (record, *combo)))
        if ids in seen:
            continue
        seen.add(ids)
        yield [record, *combo], frame
