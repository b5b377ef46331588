"""Startup checks of the wiring: every sync names actions, inputs and queries that exist.

A mistake fails at start-up with a message naming both sides: the sync (and the
plugin it came from) and what the concept (and its plugin) does offer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._sync import Absent, QueryPattern, Sync
from .errors import EngineError

if TYPE_CHECKING:
    from .engine import Engine


def check_sync(engine: Engine, sync: Sync) -> None:
    """Raise EngineError if the sync names an action, input or query that does not exist."""
    where = f"sync {sync.name!r} (from {sync.source or 'unknown source'})"
    for pattern in [*sync.when, *sync.then]:
        spec = engine.operations.get((pattern.concept, pattern.action))
        if spec is None or spec.kind != "action":
            raise EngineError(
                f"{where} names unknown action {pattern.concept}.{pattern.action}; {whereabouts(engine, pattern.concept)}"
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
            spec = engine.operations.get((clause.concept, clause.query))
            if spec is None or spec.kind != "query":
                raise EngineError(
                    f"{where} names unknown query {clause.concept}.{clause.query}; {whereabouts(engine, clause.concept)}"
                )


def whereabouts(engine: Engine, concept: str) -> str:
    if concept not in engine.concepts:
        return f"no plugin contributes a concept named {concept!r}"
    names = sorted(n for c, n in engine.operations if c == concept)
    source = engine.concept_sources.get(concept, "unknown source")
    return f"concept {concept} (from {source}) has: {', '.join(names)}"
