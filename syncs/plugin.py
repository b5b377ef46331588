"""The reflection service as a conceptkit plugin: its concepts, syncs, routes and adapters.

Registered through the ``conceptkit`` entry-point group (see pyproject.toml),
the same path a third-party plugin takes.
"""

from __future__ import annotations

from conceptkit import hookimpl


@hookimpl
def conceptkit_concepts():
    return []
