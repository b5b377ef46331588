"""The Concept base class and the @action / @query decorators.

A concept is one unit of purpose: its own state (MongoDB collections named
``<Concept>_<collection>``), actions that change it and queries that read it.
It never imports another concept and reaches the world only through service
adapters handed to it by the engine.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

import attrs

from . import _effects as effects
from ._ids import new_id
from ._store import Store
from ._types import Checker, check_fields, compile_type

ERROR_KINDS = (
    "invalid",
    "not_found",
    "conflict",
    "forbidden",
    "unauthorized",
    "rate_limited",
    "unavailable",
)


def fail(message: str, kind: str = "conflict") -> dict[str, Any]:
    """An expected failure: ``{"error": message, "errorKind": kind}``. Changes nothing."""
    if kind not in ERROR_KINDS:
        raise ValueError(f"unknown error kind {kind!r}; use one of {ERROR_KINDS}")
    return {"error": message, "errorKind": kind}


@attrs.frozen
class OperationSpec:
    """What the engine knows about one action or query, compiled once at startup."""

    concept: str
    name: str
    kind: str  # "action" | "query"
    func: Callable[..., Awaitable[Any]]
    params: dict[str, tuple[Checker, dict[str, Any], bool]]
    output_schema: dict[str, Any]
    doc: str
    secret: frozenset[str]  # never stored in the log
    private: frozenset[str]  # stored sealed (encrypted) in the log
    retry: bool = True  # run again at once after a transient database error

    @property
    def qualname(self) -> str:
        return f"{self.concept}.{self.name}"

    def check_inputs(
        self, inputs: Mapping[str, Any], loc_root: str = "body"
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Validate and convert inputs; returns (converted, errors)."""
        errors: list[dict[str, Any]] = []
        converted = check_fields(self.params, self._names, dict(inputs), (loc_root,), errors)
        return converted, errors

    @property
    def _names(self) -> set[str]:
        return set(self.params)

    def input_schema(self, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
        props = {n: s for n, (_, s, _) in self.params.items() if n not in exclude}
        required = [n for n, (_, _, req) in self.params.items() if req and n not in exclude]
        return {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
        }


def action(
    func: Callable[..., Awaitable[dict[str, Any]]] | None = None,
    *,
    secret: tuple[str, ...] = (),
    private: tuple[str, ...] = (),
    retry: bool = True,
):
    """Mark an async method as an action.

    ``secret`` names inputs/outputs never written to the action log (passwords,
    raw tokens); ``private`` names ones written only sealed by the log sealer
    (spoken text, recording URLs). ``retry=False``: not run again at once after a
    transient database error (an action with an outside effect before its write,
    such as sending a message, whose repeat the effect marks cannot prevent).
    """

    def mark(f: Callable[..., Awaitable[dict[str, Any]]]):
        if not inspect.iscoroutinefunction(f):
            raise TypeError(f"action {f.__qualname__} must be async")
        if f.__name__.startswith("_"):
            raise TypeError(
                f"action {f.__qualname__}: action names must not begin with '_' (that marks a query)"
            )
        f.__conceptkit__ = ("action", frozenset(secret), frozenset(private), retry)  # type: ignore[attr-defined]
        return f

    return mark(func) if func is not None else mark


def query(
    func: Callable[..., Awaitable[list[dict[str, Any]]]] | None = None,
    *,
    private: tuple[str, ...] = (),
):
    """Mark an async, read-only method whose name begins with '_' as a query returning a list of dicts."""

    def mark(f: Callable[..., Awaitable[list[dict[str, Any]]]]):
        if not inspect.iscoroutinefunction(f):
            raise TypeError(f"query {f.__qualname__} must be async")
        if not f.__name__.startswith("_"):
            raise TypeError(f"query {f.__qualname__}: query names begin with '_'")
        f.__conceptkit__ = ("query", frozenset(), frozenset(private), False)  # type: ignore[attr-defined]
        return f

    return mark(func) if func is not None else mark


class Concept:
    """Base class of concepts. Subclasses declare actions and queries with decorators.

    ``name`` is the route segment and collection prefix (defaults to the class
    name); ``uses`` names the service adapters the concept needs.
    """

    name: ClassVar[str] = ""
    uses: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__

    def __init__(self, db: Any, services: Mapping[str, Any]) -> None:
        self.db = db
        missing = [s for s in self.uses if s not in services]
        if missing:
            raise LookupError(
                f"concept {self.name} needs service adapter(s) {missing}, which no plugin provided"
            )
        self.services = {s: services[s] for s in self.uses}

    def collection(self, name: str) -> Any:
        """This concept's collection ``<Concept>_<name>`` (dots are not portable to every server)."""
        return self.db[f"{self.name}_{name}"]

    def store(self, name: str) -> Store:
        """This concept's collection ``name`` for writes that are an action's effect: each
        carries the action's mark, so a replay of the action returns what it returned
        (``Store``: marked inserts and compare-and-set changes)."""
        return Store(self.collection(name))

    @property
    def action_id(self) -> str | None:
        """The id of the action running now, the same on its replays (None outside one):
        an action that takes a lock can tell its own earlier, interrupted run by it."""
        return effects.current_action_id()

    def new_id(self) -> str:
        """A new id; inside an action, derived from the action's id (the same on a replay)."""
        return effects.new_id_for_action(new_id)

    async def setup(self) -> None:
        """Create indexes. Called once at startup; must be idempotent."""

    @classmethod
    def operations(
        cls,
    ) -> dict[str, tuple[Callable[..., Any], str, frozenset[str], frozenset[str], bool]]:
        found = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                mark = getattr(value, "__conceptkit__", None)
                if mark:
                    found[attr] = (value, *mark)
        return found


def describe_operations(instance: Concept) -> dict[str, OperationSpec]:
    """Compile every action and query of a concept instance into OperationSpecs."""
    return {
        name: attrs.evolve(spec, func=getattr(instance, name))
        for name, spec in _compiled_operations(type(instance)).items()
    }


def _compiled_operations(cls: type[Concept]) -> dict[str, OperationSpec]:
    """The class's operations, compiled once per class (each app build reuses them).

    Reading type hints and compiling validators is the costly part of building an app;
    it depends on the class alone, so only binding ``func`` to an instance is left per app.
    """
    cached = cls.__dict__.get("_conceptkit_compiled")
    if cached is not None:
        return cached
    specs = {}
    for name, (func, kind, secret, private, retry) in cls.operations().items():
        hints = typing.get_type_hints(func, include_extras=True)
        sig = inspect.signature(func)
        params = {}
        for pname, p in list(sig.parameters.items())[1:]:
            if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                raise TypeError(f"{cls.name}.{name}: parameters must be named (no *args/**kwargs)")
            if pname not in hints:
                raise TypeError(f"{cls.name}.{name}: parameter {pname!r} needs a type annotation")
            check, schema = compile_type(hints[pname])
            params[pname] = (check, schema, p.default is inspect.Parameter.empty)
        ret = hints.get("return", Any)
        try:
            _, output_schema = compile_type(ret)
        except TypeError:
            output_schema = {}
        specs[name] = OperationSpec(
            concept=cls.name,
            name=name,
            kind=kind,
            func=func,
            params=params,
            output_schema=output_schema,
            doc=inspect.cleandoc(func.__doc__ or ""),
            secret=secret,
            retry=retry,
            private=private,
        )
    cls._conceptkit_compiled = specs
    return specs
