"""The concepts every conceptkit app has, contributed through the ordinary plugin path."""

from __future__ import annotations

from .invariants import Reconciling
from .plugins import hookimpl
from .requesting import Requesting


@hookimpl
def conceptkit_concepts():
    return [Requesting, Reconciling]
