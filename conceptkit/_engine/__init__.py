"""The engine, split by job (see ``engine`` for how the parts fit).

- ``engine``: the Engine itself, holding concepts and syncs, starting and stopping;
- ``invoking``: running one action (validation, transient retries, its intent);
- ``committing``: recording what an action did, and writing a flow's records in order;
- ``matching``: records against when-patterns (pure);
- ``reacting``: the syncs a record fires, their where-clauses and then-actions;
- ``recovery``: replaying what a crashed process owed, and the heartbeat;
- ``flows``: recent flows in memory; ``wiring``: the startup checks of the syncs.
"""

from .engine import Engine
from .errors import EngineError, InvocationError

__all__ = ["Engine", "EngineError", "InvocationError"]
