"""Invariants: conditions the state must keep, checked over and over, and repaired by actions.

Event delivery is not trusted alone (a reaction can be lost to a bug, an outage longer
than the replays, a provider's callback that never came). In the style of Kubernetes
controllers, a reconciler compares what must hold with what does, again and again,
and repairs each difference with the app's ordinary actions::

    ReflectionOutlivesItsCall = Invariant(
        "ReflectionOutlivesItsCall",
        doc="no phone reflection is in progress without a live call",
        find=[
            Sessions._untouched({"before": Computed(lambda f: f["now"] - MINUTE)}, {...}),
            Absent(Calls._activeForUser({"user": user}, {})),
        ],
        repair=[Sessions.close({"user": user, "session": session})],
    )

``find`` is a where-clause list evaluated from the frame ``{"now": <time>, ...limits}``
(limits: thresholds the app passes to ``Engine.reconcile``): every
frame it yields is a breach. Each breach is recorded as ``Reconciling.breached``
(the invariant's name and the variables ``find`` bound), whose generated sync runs
``repair``, so the repair is an ordinary flow: logged, durable and replayed like any
other. A poll that finds nothing writes nothing. Repairs must be safe to repeat: a
breach still open on the next pass is repaired again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from ._concept import Concept, action
from ._sync import ActionPattern, Let, QueryPattern, Sync, Var, WhereClause

BREACHED = ("Reconciling", "breached")


@attrs.frozen
class Invariant:
    """One invariant: how to find its breaches, and the actions that repair one."""

    name: str
    doc: str
    find: Sequence[WhereClause]
    repair: Sequence[ActionPattern]
    source: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.find:
            raise ValueError(f"invariant {self.name}: needs find-clauses")
        if not self.repair:
            raise ValueError(f"invariant {self.name}: needs repair actions")

    @property
    def facts(self) -> list[str]:
        """The variables ``find`` binds: what a breach records, and its repair may use."""
        names: list[str] = []
        for clause in self.find:
            if isinstance(clause, QueryPattern):
                found = [v.name for v in _vars_in(clause.outputs)]
            elif isinstance(clause, Let):
                found = [clause.var.name]
            else:
                found = []
            names += [n for n in found if n not in names]
        return names

    def check(self) -> Sync:
        """The find-clauses as a sync's where (run by the reconciler, never triggered)."""
        return Sync(self.name, when=[_BREACH], where=list(self.find), then=[_BREACH])

    def sync(self) -> Sync:
        """The repair: a sync on the breach record, so it runs as an ordinary flow."""
        facts = {name: Var(name) for name in self.facts}
        return Sync(
            f"Repair{self.name}",
            doc=f"invariant: {self.doc}",
            when=[ActionPattern(*BREACHED, {"invariant": self.name, "facts": facts}, {})],
            then=list(self.repair),
            source=self.source,
        )

    def describe(self) -> str:
        lines = [f"{self.name}" + (f"  ({self.source})" if self.source else "")]
        lines.append(f"  # {self.doc}")
        lines += [f"  find   {clause}" for clause in self.find]
        lines += [f"  repair {action}" for action in self.repair]
        return "\n".join(lines)


_BREACH = ActionPattern(*BREACHED, {}, {})


def _vars_in(pattern: Any) -> list[Var]:
    if isinstance(pattern, Var):
        return [pattern]
    if isinstance(pattern, dict):
        return [v for value in pattern.values() for v in _vars_in(value)]
    return []


class Reconciling(Concept):
    """The record of invariant breaches found by the reconciler (their repairs follow)."""

    name = "Reconciling"

    @action(private=("facts",))
    async def breached(self, invariant: str, facts: dict[str, Any]) -> dict[str, Any]:
        """An invariant was found broken, with the facts of the breach; its repair runs next."""
        return {"invariant": invariant}


async def reconcile(
    engine: Any, invariants: Sequence[Invariant], now: Any, limits: dict[str, Any]
) -> list[str]:
    """Look for breaches of every invariant at ``now`` and repair each; returns the names
    of the invariants repaired, one per breach whose repair actions all succeeded.

    ``limits`` are bound beside ``now`` in the first frame (thresholds the app configures).
    A repair that raises is reported and left for the next pass (its flow is owed). One an
    action refuses (not yet: "still unclear"; or a normal flow got there first) changed
    nothing and is not counted; a breach still open is found again on the next pass.
    """
    from ._engine import InvocationError

    repaired: list[str] = []
    for invariant in invariants:
        frames = await engine._expand(invariant.check(), [{**limits, "now": now}])
        for frame in frames:
            facts = {name: frame[name] for name in invariant.facts if name in frame}
            flow = engine.new_flow()
            try:
                await engine.invoke(
                    *BREACHED, {"invariant": invariant.name, "facts": facts}, flow=flow
                )
            except InvocationError as exc:
                engine.log_repair_failure(invariant.name, exc)
                continue
            if _succeeded(engine.flows.get(flow) or [], invariant.sync().name):
                repaired.append(invariant.name)
    return repaired


def _succeeded(records: Sequence[Any], repair_sync: str) -> bool:
    """Whether the repair's own actions ran, none refused (their reactions may follow)."""
    done = [r for r in records if r.sync == repair_sync]
    return bool(done) and not any(r.is_error for r in done)


__all__ = ["Invariant", "Reconciling", "reconcile"]
