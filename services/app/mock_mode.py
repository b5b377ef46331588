"""The seam where development tooling plugs into mock mode, so production never imports it.

The phone simulator (services/devtools/) used to be imported by the assembly; now the
assembly only calls these pluggy hooks, and only with ``USE_MOCKS=true``. Tooling
registers an implementation through an entry point of the ``reflection.mock_mode`` group
(pyproject.toml names the simulator's), so a production process loads nothing of it,
and an install without the tooling (no ``devtools`` extra) runs mock mode without it.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import pluggy

__all__ = ["ENTRY_POINT_GROUP", "PROJECT", "MockModeHooks", "hookimpl", "mock_mode_plugins"]

PROJECT = "reflection.mock_mode"
ENTRY_POINT_GROUP = "reflection.mock_mode"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

log = logging.getLogger("services.app.mock_mode")


class MockModeHooks:
    """What a mock-mode tool may do; each hook is called once per process that assembles."""

    @hookspec
    def reflection_mock_services(self, services: Mapping[str, Any], db: Any) -> None:
        """Every process (web server, worker): its adapters are made, ``db`` is the database.

        The simulator subscribes to the mock phone here, to see the calls and SMS it sends.
        """

    @hookspec
    def reflection_mock_server(self, asgi: Any, engine: Any, db: Any, config: Any) -> None:
        """The web server is assembled (a Starlette app): mount routes, wrap its lifespan."""


def mock_mode_plugins(
    load_entry_points: bool = True, extra: Iterable[object] = ()
) -> pluggy.PluginManager:
    """The installed mock-mode tools (``extra``: more, for tests).

    A tool whose dependencies are not installed is left out with a warning: mock mode
    still runs, without it.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(MockModeHooks)
    if load_entry_points:
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if pm.get_plugin(entry_point.name) is not None:
                continue
            try:
                plugin = entry_point.load()
            except ImportError as exc:
                log.warning(
                    "mock-mode tool %r is not loaded (%s); pip install -e '.[devtools]' adds it",
                    entry_point.name,
                    exc,
                )
                continue
            pm.register(plugin, name=entry_point.name)
    for plugin in extra:
        pm.register(plugin)
    return pm
