"""conceptkit: concepts, synchronizations and generated routes on Starlette and MongoDB.

The whole public API is named here.
"""

from .actionlog import ActionRecord, Sealer
from .app import ConceptApp
from .concept import Concept, action, fail, query
from .effects import NO_MARKS, Change, Store
from .engine import Engine, EngineError, InvocationError
from .exposure import Exposure, authenticated, public, requested
from .http import ERROR_STATUS, Authenticator
from .ids import new_id
from .invariants import Invariant
from .plugins import hookimpl, hookspec, plugin_manager
from .registry import Registry, RegistryError, load_registry, load_services
from .sync import Absent, Computed, ConceptRef, Filter, Let, Sync, Var, concepts, vars
from .types import Doc, Len, Pattern, Range, Strip

__all__ = [
    "ERROR_STATUS",
    "NO_MARKS",
    "Absent",
    "ActionRecord",
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
    "Pattern",
    "Range",
    "Registry",
    "RegistryError",
    "Sealer",
    "Store",
    "Strip",
    "Sync",
    "Var",
    "action",
    "authenticated",
    "concepts",
    "fail",
    "hookimpl",
    "hookspec",
    "load_registry",
    "load_services",
    "new_id",
    "plugin_manager",
    "public",
    "query",
    "requested",
    "vars",
]
