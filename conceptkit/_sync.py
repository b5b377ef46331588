"""Synchronizations as data: *when* actions happen in a flow, *where* state holds, *then* act.

A sync module reads top to bottom::

    call, scheduled = vars("call scheduled")
    PhoneCall, CallScheduler = concepts("PhoneCall CallScheduler")

    RetryMissedCall = Sync(
        "RetryMissedCall",
        when=[PhoneCall.markMissed({"call": call}, {})],
        where=[CallScheduler._byCall({"call": call}, {"scheduled": scheduled})],
        then=[CallScheduler.retryLater({"scheduled": scheduled})],
    )

Values in patterns are literals (must be equal), ``Var``s (bind, or must equal
an earlier binding) or, in ``then`` inputs, ``Computed`` functions of the frame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

Frame = dict[str, Any]


@attrs.frozen
class Var:
    """A variable bound while matching; the same name must bind the same value everywhere."""

    name: str

    def __repr__(self) -> str:
        return f"?{self.name}"


def vars(names: str) -> tuple[Var, ...]:
    """``a, b = vars("a b")``."""
    return tuple(Var(n) for n in names.split())


@attrs.frozen
class Computed:
    """A then-input computed from the frame, e.g. ``Computed(lambda f: f["n"] + 1, "n + 1")``."""

    fn: Callable[[Frame], Any]
    text: str = "computed"

    def __repr__(self) -> str:
        return f"<{self.text}>"


@attrs.frozen
class ActionPattern:
    """``Concept.action(inputs, outputs)`` in a when-clause (or an invocation in then)."""

    concept: str
    action: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any] | None = None

    @property
    def matches_error(self) -> bool:
        return self.outputs is not None and "error" in self.outputs

    def __str__(self) -> str:
        out = "" if self.outputs is None else f" -> {_fmt(self.outputs)}"
        return f"{self.concept}.{self.action}{_fmt(self.inputs)}{out}"


@attrs.frozen
class QueryPattern:
    """``Concept._query(inputs, outputs)`` in a where-clause: one frame per result row."""

    concept: str
    query: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]

    def __str__(self) -> str:
        return f"{self.concept}.{self.query}{_fmt(self.inputs)} -> {_fmt(self.outputs)}"


@attrs.frozen
class Filter:
    """Keep only frames for which ``test(frame)`` is true; ``text`` says what it checks."""

    test: Callable[[Frame], bool]
    text: str

    def __str__(self) -> str:
        return f"only if {self.text}"


@attrs.frozen
class Let:
    """Bind ``var`` to ``fn(frame)`` (a value derived from what is already bound)."""

    var: Var
    fn: Callable[[Frame], Any]
    text: str

    def __str__(self) -> str:
        return f"let {self.var!r} = {self.text}"


@attrs.frozen
class Absent:
    """Keep a frame only if the query finds nothing for it (negation as absence)."""

    query: QueryPattern

    def __str__(self) -> str:
        return f"no {self.query}"


WhereClause = QueryPattern | Filter | Let | Absent


@attrs.frozen
class Sync:
    """One synchronization. ``source`` is filled in by the registry (the plugin that gave it)."""

    name: str
    when: Sequence[ActionPattern]
    then: Sequence[ActionPattern]
    where: Sequence[WhereClause] = ()
    doc: str = ""
    source: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.when:
            raise ValueError(f"sync {self.name}: needs at least one when-pattern")
        if not self.then:
            raise ValueError(f"sync {self.name}: needs at least one then-action")

    def describe(self) -> str:
        """A readable multi-line rendering for `conceptkit syncs` and the docs."""
        lines = [f"{self.name}" + (f"  ({self.source})" if self.source else "")]
        if self.doc:
            lines.append(f"  # {self.doc}")
        lines += [f"  when  {p}" for p in self.when]
        lines += [f"  where {w}" for w in self.where]
        lines += [f"  then  {t}" for t in self.then]
        return "\n".join(lines)


class _ActionRef:
    def __init__(self, concept: str, name: str) -> None:
        self.concept, self.name = concept, name

    def __call__(
        self, inputs: Mapping[str, Any] | None = None, outputs: Mapping[str, Any] | None = None
    ):
        inputs = dict(inputs or {})
        if self.name.startswith("_"):
            return QueryPattern(self.concept, self.name, inputs, dict(outputs or {}))
        return ActionPattern(
            self.concept, self.name, inputs, None if outputs is None else dict(outputs)
        )


class ConceptRef:
    """Names a concept's actions and queries without importing the concept: ``Profile._get``."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, item: str) -> _ActionRef:
        if item.startswith("__"):
            raise AttributeError(item)
        return _ActionRef(self._name, item)


def concepts(names: str) -> tuple[ConceptRef, ...]:
    """``Profile, PhoneCall = concepts("Profile PhoneCall")``."""
    return tuple(ConceptRef(n) for n in names.split())


def _fmt(mapping: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v!r}" for k, v in mapping.items()) + "}"


def bind(pattern: Mapping[str, Any], values: Mapping[str, Any], frame: Frame) -> Frame | None:
    """Match ``values`` against ``pattern`` under ``frame``; a new frame, or None if they disagree."""
    out = frame
    for key, want in pattern.items():
        if key not in values:
            return None
        got = values[key]
        if isinstance(want, Var):
            if want.name in out:
                if out[want.name] != got:
                    return None
            else:
                if out is frame:
                    out = dict(frame)
                out[want.name] = got
        elif isinstance(want, Mapping):
            if not isinstance(got, Mapping):
                return None
            nested = bind(want, got, out)
            if nested is None:
                return None
            out = nested
        elif want != got:
            return None
    return out


def resolve(template: Mapping[str, Any], frame: Frame) -> dict[str, Any]:
    """Build then-action inputs from a template and a frame."""
    return {key: _resolve_value(value, frame) for key, value in template.items()}


def _resolve_value(value: Any, frame: Frame) -> Any:
    if isinstance(value, Var):
        if value.name not in frame:
            raise KeyError(f"variable {value!r} is not bound")
        return frame[value.name]
    if isinstance(value, Computed):
        return value.fn(frame)
    if isinstance(value, Mapping):
        return {k: _resolve_value(v, frame) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_value(v, frame) for v in value]
    return value
