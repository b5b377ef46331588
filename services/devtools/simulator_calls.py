"""The calls the phone simulator plays: the callee the page drives, and what is known of each.

`SimulatorCallee` is the person at the simulated phone (the page's buttons and text);
`LiveCall` is one call this server process plays, with its player and statuses.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import attrs

from services.devtools.call_player import CallPlayer, GatherContext, HangUp, Reply, Silence
from services.devtools.callees import InteractiveCallee

__all__ = [
    "DECISIONS",
    "RINGING_STATUSES",
    "LiveCall",
    "SimulatorCallee",
    "SimulatorError",
    "apply_decision",
]

#: Buttons on the ringing phone -> the player's outcome.
DECISIONS = {"answer": "answer", "decline": "busy", "ignore": "no-answer", "voicemail": "voicemail"}
RINGING_STATUSES = frozenset({"queued", "initiated", "ringing"})


class SimulatorError(Exception):
    """A refused simulator request: `status` is the HTTP status (404, 409, 422...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SimulatorCallee(InteractiveCallee):
    """`InteractiveCallee` that remembers how the phone was picked up.

    Picked up as "voicemail", it behaves like `VoicemailCallee`: silent at every listen,
    hanging up once the message has run `max_message_s` (virtual) seconds, without
    making the UI wait.
    """

    def __init__(self, *, response_timeout_s: float | None, max_message_s: float = 120) -> None:
        super().__init__(response_timeout_s=response_timeout_s, wait_for_pickup=True)
        self.max_message_s = max_message_s
        self.decision: str | None = None  # set once the player knows the outcome
        self.listen_deadline: float | None = None  # time.monotonic() when the listen times out

    async def pick_up(self, ring_timeout_s: float) -> str:
        outcome = await super().pick_up(ring_timeout_s)
        self.decision = outcome
        return outcome

    async def respond(self, ctx: GatherContext) -> Reply:
        if self.decision == "voicemail":
            return HangUp() if ctx.elapsed_s >= self.max_message_s else Silence()
        wait = ctx.timeout_s if self.response_timeout_s is None else self.response_timeout_s
        self.listen_deadline = time.monotonic() + wait
        try:
            return await super().respond(ctx)
        finally:
            self.listen_deadline = None


@attrs.define(eq=False)
class LiveCall:
    """A call this server process plays (or played recently: its transcript stays readable)."""

    sid: str
    user: str | None
    player: CallPlayer
    callee: Any  # SimulatorCallee, or NoAnswerCallee for a call that rang out unseen
    statuses: list[str] = attrs.Factory(list)  # what the player reached, in order
    task: asyncio.Task[Any] | None = None
    decision_sent: bool = False
    end_sent: bool = False
    recording: bytes | None = None  # its recording's audio, made when first asked for

    @property
    def decision(self) -> str | None:
        return getattr(self.callee, "decision", None) or (
            self.player.result.outcome if self.player.result.final_status else None
        )

    @property
    def status(self) -> str:
        return self.statuses[-1] if self.statuses else "queued"

    @property
    def over(self) -> bool:
        return self.player.result.final_status is not None


def apply_decision(callee: InteractiveCallee, decision: str) -> None:
    """Pick up or decline as the page (or the ring timeout) decided."""
    if decision == "answer":
        callee.answer()
    else:
        callee.decline(decision)
