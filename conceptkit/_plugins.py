"""Plugins: concepts, syncs, exposures and service adapters come from pluggy hooks.

The app's own concepts load through the same path as a third party's: a
package declares an entry point in the ``conceptkit`` group naming a module
with ``@hookimpl`` functions. Every contribution is tagged with the plugin it
came from, so a clash can name both sources.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Callable, Iterable
from typing import Any

import pluggy

from ._concept import Concept
from ._http.exposure import Exposure
from ._sync import Sync

PROJECT = "conceptkit"
ENTRY_POINT_GROUP = "conceptkit"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Hooks:
    """Hook specifications. Implementations may take fewer arguments than listed."""

    @hookspec
    def conceptkit_concepts(self) -> Iterable[type[Concept]]:
        """Concept classes this plugin contributes."""

    @hookspec
    def conceptkit_syncs(self) -> Iterable[Sync]:
        """Synchronizations this plugin contributes."""

    @hookspec
    def conceptkit_invariants(self) -> Iterable[Any]:
        """Invariants this plugin's state must keep, each with the actions that repair it."""

    @hookspec
    def conceptkit_exposures(self) -> Iterable[Exposure]:
        """Routes this plugin declares reachable over HTTP."""

    @hookspec
    def conceptkit_services(
        self, register: Callable[[str, Any], None], use_mocks: bool, settings: Any
    ) -> None:
        """Register service adapters: ``register("telephony", adapter)``; mock or real per ``use_mocks``."""

    @hookspec(firstresult=True)
    def conceptkit_authenticator(self) -> Any:
        """The Authenticator that resolves bearer tokens to users (first plugin to answer wins)."""

    @hookspec
    def conceptkit_action_recorded(self, record: Any, pending: bool) -> None:
        """Observe each action record as it enters the log (``pending``: its reactions run next)."""


def plugin_manager(
    load_entry_points: bool = True,
    extra: Iterable[object] = (),
    block: Iterable[str] = (),
    allow: Iterable[str] | None = None,
) -> pluggy.PluginManager:
    """A plugin manager with the built-ins, installed entry-point plugins and ``extra`` registered.

    ``block`` names entry-point plugins to leave out (like pytest's ``-p no:name``).
    ``allow``, when given, is the only entry-point plugins to load: an app names its own
    and the ones its operator enabled, so a package installed beside it (an example, a
    test plugin) adds no routes or collections until it is named.
    """
    from . import _builtins as builtins

    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(Hooks)
    pm.register(builtins, name="conceptkit.builtins")
    for name in block:
        pm.set_blocked(name)
    if load_entry_points and allow is not None:
        installed = installed_plugins()
        missing = sorted(set(allow) - installed)
        if missing:
            raise LookupError(
                f"enabled plugin(s) {', '.join(missing)} are not installed; installed "
                f"{ENTRY_POINT_GROUP} plugins: {', '.join(sorted(installed)) or 'none'}"
            )
        for name in installed - set(allow):
            pm.set_blocked(name)
    if load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in extra:
        pm.register(plugin, name=getattr(plugin, "__name__", None) or type(plugin).__name__)
    return pm


@functools.cache  # what is installed does not change while a process runs
def installed_plugins() -> frozenset[str]:
    """The names of the installed entry-point plugins of the ``conceptkit`` group."""
    return frozenset(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    """The plugin's name, with the package it came from (read from the package's metadata)."""
    name = pm.get_name(plugin) or getattr(plugin, "__name__", repr(plugin))
    for dist_plugin, dist in pm.list_plugin_distinfo():
        if dist_plugin is plugin:
            return f"{name} (package {dist.project_name} {dist.version})"
    return name


def collect(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call a list-returning hook on every plugin, pairing each item with its source."""
    out = []
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        args = {k: v for k, v in kwargs.items() if k in impl.argnames}
        result = impl.function(**args)
        # once per plugin, not per item: reading a package's metadata parses a file
        source = plugin_name(pm, impl.plugin)
        out.extend((source, item) for item in result or ())
    return out
