"""Everything the plugins contribute, gathered and checked once at startup."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import pluggy

from ._concept import Concept
from ._http.exposure import Exposure
from ._invariants import Invariant
from ._plugins import collect
from ._sync import Sync


class RegistryError(Exception):
    """Conflicting or dangling contributions; the message names every source involved."""


@attrs.define
class Registry:
    concepts: dict[str, type[Concept]]
    concept_sources: dict[str, str]
    syncs: list[Sync]
    exposures: list[Exposure]
    authenticator: Any
    invariants: list[Invariant] = attrs.Factory(list)

    def sources(self) -> dict[str, str]:
        return dict(self.concept_sources)


def load_registry(pm: pluggy.PluginManager) -> Registry:
    """Collect concepts, syncs and exposures from every plugin; refuse duplicates by name."""
    concepts: dict[str, type[Concept]] = {}
    sources: dict[str, str] = {}
    for source, cls in collect(pm, "conceptkit_concepts"):
        if not (isinstance(cls, type) and issubclass(cls, Concept)):
            raise RegistryError(f"{source} contributed {cls!r}, which is not a Concept subclass")
        if cls.name in concepts and concepts[cls.name] is not cls:
            raise RegistryError(
                f"two concepts are named {cls.name!r}: one from {sources[cls.name]}, one from {source}"
            )
        concepts[cls.name] = cls
        sources[cls.name] = source

    syncs: list[Sync] = []
    sync_sources: dict[str, str] = {}
    for source, sync in collect(pm, "conceptkit_syncs"):
        if sync.name in sync_sources:
            raise RegistryError(
                f"two syncs are named {sync.name!r}: one from {sync_sources[sync.name]}, one from {source}"
            )
        sync_sources[sync.name] = source
        syncs.append(attrs.evolve(sync, source=source))

    invariants: list[Invariant] = []
    for source, invariant in collect(pm, "conceptkit_invariants"):
        if not isinstance(invariant, Invariant):
            raise RegistryError(f"{source} contributed {invariant!r}, which is not an Invariant")
        invariant = attrs.evolve(invariant, source=source)
        repair = invariant.sync()
        if repair.name in sync_sources or any(i.name == invariant.name for i in invariants):
            raise RegistryError(
                f"invariant {invariant.name!r} from {source} clashes with a sync or invariant"
            )
        sync_sources[repair.name] = source
        syncs.append(repair)
        invariants.append(invariant)

    exposures: list[Exposure] = []
    paths: dict[str, str] = {}
    for source, exposure in collect(pm, "conceptkit_exposures"):
        if exposure.path in paths:
            raise RegistryError(
                f"route {exposure.path} is declared twice: by {paths[exposure.path]} and by {source}"
            )
        paths[exposure.path] = source
        exposures.append(attrs.evolve(exposure, source=source))

    return Registry(
        concepts, sources, syncs, exposures, pm.hook.conceptkit_authenticator(), invariants
    )


def load_services(pm: pluggy.PluginManager, use_mocks: bool, settings: Any) -> Mapping[str, Any]:
    """Ask every plugin for its service adapters, once; refuse two adapters for one name."""
    services: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for impl in pm.hook.conceptkit_services.get_hookimpls():
        from ._plugins import plugin_name

        source = plugin_name(pm, impl.plugin)

        def register(name: str, adapter: Any, _source: str = source) -> None:
            if name in services:
                raise RegistryError(
                    f"two adapters for service {name!r}: from {owners[name]} and from {_source}"
                )
            services[name] = adapter
            owners[name] = _source

        kwargs = {"register": register, "use_mocks": use_mocks, "settings": settings}
        impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
    return services
