"""One action invocation as the engine holds it, and how its values are written as JSON."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import attrs

RAISED = "__exception__"  # in outputs: the action raised (a bug or an outage), no outcome
LOST = "__lost__"  # in outputs: a replay found the action had never taken effect
QUARANTINED = "__quarantined__"  # in outputs: a stand-in for a record that could not be stored


@attrs.define
class ActionRecord:
    """One completed action invocation, as the engine holds it in memory (values unsealed)."""

    id: str
    seq: int  # completion order (ns clock, strictly increasing per process)
    flow: str
    concept: str
    action: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    cause: list[str] = attrs.Factory(list)  # the records whose sync caused this
    sync: str | None = None
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    intent: bool = False  # written before the action's effect; its outcome is not known yet
    replays: int = 0  # how many recovery passes have taken it up (from the log)
    targets: list[dict[str, Any]] = attrs.Factory(list)  # an intent: where its mark will be

    @property
    def is_error(self) -> bool:
        return "error" in self.outputs

    @property
    def raised(self) -> bool:
        """The action raised instead of returning: it did not complete, and is run again."""
        return RAISED in self.outputs

    @property
    def completed(self) -> bool:
        """The action ran to an outcome (success or failure) that syncs may react to."""
        out = self.outputs
        return not (self.intent or RAISED in out or LOST in out or QUARANTINED in out)


_last_seq = 0


def next_seq() -> int:
    """A strictly increasing completion stamp; orders a flow's records when matching."""
    global _last_seq
    _last_seq = max(_last_seq + 1, time.time_ns())
    return _last_seq


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"), sort_keys=True)
