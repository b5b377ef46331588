"""How the engine says something went wrong: a wiring mistake, or an action that raised."""

from __future__ import annotations

from .._log.actionlog import ActionRecord


class EngineError(Exception):
    """A wiring problem found at startup (unknown action, duplicate name...)."""


class InvocationError(Exception):
    """An action raised instead of returning ``{"error": ...}``: a bug or an outage.

    ``owed`` means the invoked action itself completed but a reaction raised: the rest
    of its reactions are owed, and a recovery pass will run them.
    """

    def __init__(self, record: ActionRecord, owed: bool = False) -> None:
        super().__init__(f"{record.concept}.{record.action} raised")
        self.record = record
        self.owed = owed


class FlowStopped(Exception):
    """A then-action raised: the rest of the firing (and of the flow) stops; causes stay owed."""

    def __init__(self, record: ActionRecord) -> None:
        super().__init__(f"{record.concept}.{record.action} raised")
        self.record = record
