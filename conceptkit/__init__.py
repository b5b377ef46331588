"""conceptkit: concepts, synchronizations and generated routes on Starlette and MongoDB.

This module is the whole public API: every name an application or a plugin uses
is here and in ``__all__``. The modules behind it are private (``conceptkit._*``)
and may change shape; import from ``conceptkit`` itself. The one other public
module is ``conceptkit.cli``, the ``conceptkit`` command (``python -m conceptkit.cli``).

Why each group is public:

- Writing a concept: ``Concept``, ``action``, ``query``, ``fail``, ``Change``,
  ``Store`` (``Concept.store(name)``: marked writes and the compare-and-set helpers
  ``change``, ``change_or_create`` and ``claim``), ``NO_MARKS`` (a projection for
  reads that skip the marks), ``new_id``, and the constraints for annotations
  ``Len``, ``Range``, ``Pattern``, ``Doc``, ``Strip``.
- Testing a concept as HTTP would: ``describe_operations`` compiles a concept's
  actions and queries into ``OperationSpec``s, whose ``check_inputs`` validates.
- Writing syncs and invariants: ``Sync``, ``concepts``, ``vars``, ``ConceptRef``,
  ``Var``, ``Filter``, ``Let``, ``Computed``, ``Absent``, ``Invariant``.
- Declaring routes: ``public``, ``authenticated``, ``requested``, ``Exposure``,
  ``Authenticator``, and ``ERROR_STATUS`` (error kind -> HTTP status).
- Plugins: ``hookimpl``, ``hookspec``, ``plugin_manager``; ``load_registry``,
  ``load_services``, ``Registry``, ``RegistryError`` (what the plugins contributed).
- Assembling and running an app: ``ConceptApp``, ``Engine``, ``EngineError``,
  ``InvocationError``, ``ActionRecord`` (what observers of the log receive),
  ``Sealer`` (what seals private values in the log), ``RouteBuilder`` (routes for
  declared exposures, for an app that builds its own Starlette app).
- An app's own endpoints (webhooks, a development page) that answer like the
  generated routes: ``run_request`` (invoke ``Requesting.request`` and wait for the
  reply the syncs compose; returns an ``Answer``), ``JSON``, ``ApiError``,
  ``error_response``, ``read_json_object`` (the JSON boundary) and ``bearer_token``.
- Logging: ``request_id`` and ``flow_id``, the context variables that name the
  request and the flow being handled, for log filters.
- Tools that read or migrate the action log and the marks: ``ACTIONS`` (the log's
  collection), ``FIRING_PREFIX`` (the ``_id`` prefix of stored firings), ``SECRET``
  and ``PRIVATE`` (what stands in for secret and unsealed private values), ``MARKS``
  (the field holding each document's effect marks).
- Documentation: ``render_syncs`` lists every registered sync, as ``conceptkit
  syncs`` prints it (docs/syncs.md is generated from it).
"""

from ._app import ConceptApp
from ._cli import render_syncs
from ._concept import Concept, OperationSpec, action, describe_operations, fail, query
from ._context import flow_id, request_id
from ._effects import MARKS, NO_MARKS
from ._engine import Engine, EngineError, InvocationError
from ._http.exposure import Exposure, authenticated, public, requested
from ._http.requests import Answer, run_request
from ._http.routes import (
    ERROR_STATUS,
    JSON,
    ApiError,
    Authenticator,
    RouteBuilder,
    bearer_token,
    error_response,
    read_json_object,
)
from ._ids import new_id
from ._invariants import Invariant
from ._log.actionlog import ACTIONS, ActionRecord, Sealer
from ._log.documents import FIRING_PREFIX, PRIVATE, SECRET
from ._plugins import hookimpl, hookspec, plugin_manager
from ._registry import Registry, RegistryError, load_registry, load_services
from ._store import Change, Store
from ._sync import Absent, Computed, ConceptRef, Filter, Let, Sync, Var, concepts, vars
from ._types import Doc, Len, Pattern, Range, Strip

__all__ = [
    "ACTIONS",
    "ERROR_STATUS",
    "FIRING_PREFIX",
    "JSON",
    "MARKS",
    "NO_MARKS",
    "PRIVATE",
    "SECRET",
    "Absent",
    "ActionRecord",
    "Answer",
    "ApiError",
    "Authenticator",
    "Change",
    "Computed",
    "Concept",
    "ConceptApp",
    "ConceptRef",
    "Doc",
    "Engine",
    "EngineError",
    "Exposure",
    "Filter",
    "Invariant",
    "InvocationError",
    "Len",
    "Let",
    "OperationSpec",
    "Pattern",
    "Range",
    "Registry",
    "RegistryError",
    "RouteBuilder",
    "Sealer",
    "Store",
    "Strip",
    "Sync",
    "Var",
    "action",
    "authenticated",
    "bearer_token",
    "concepts",
    "describe_operations",
    "error_response",
    "fail",
    "flow_id",
    "hookimpl",
    "hookspec",
    "load_registry",
    "load_services",
    "new_id",
    "plugin_manager",
    "public",
    "query",
    "read_json_object",
    "render_syncs",
    "request_id",
    "requested",
    "run_request",
    "vars",
]
