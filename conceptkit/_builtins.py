"""The concepts every conceptkit app has, contributed through the ordinary plugin path."""

from __future__ import annotations

from ._invariants import Reconciling
from ._plugins import hookimpl
from ._requesting import Requesting


@hookimpl
def conceptkit_concepts():
    return [Requesting, Reconciling]
