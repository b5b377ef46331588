"""People (and machines) at the other end of a played call: see `services.devtools.call_player`.

Scripted callees for tests, and `InteractiveCallee` for the local phone simulator, where
a UI reads what the service says and types what the callee answers.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any, Literal

import attrs

from services.devtools.call_player import (
    OUTCOMES,
    CallResult,
    GatherContext,
    HangUp,
    Partial,
    Press,
    Reply,
    Silence,
    Utterance,
)

__all__ = [
    "BusyCallee",
    "FailedCallee",
    "HangUpAfter",
    "InteractiveCallee",
    "InteractiveEvent",
    "NoAnswerCallee",
    "ScriptedCallee",
    "SilentCallee",
    "VoicemailCallee",
]

Answer = str | Sequence[str] | Utterance | Silence | HangUp | Press


def _check_outcome(outcome: str) -> str:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    return outcome


class ScriptedCallee:
    """Answers each listen (Gather or Record) with the next scripted reply.

    An answer is a string (said at one Gather), a list of strings (one answer spoken in
    parts across consecutive Gathers, as when the callee pauses mid-sentence longer than
    `speechTimeout`; on ConversationRelay the parts are finals sent one after the other),
    or an explicit `Utterance` / `Silence` / `HangUp` / `Press` (a key). When the script
    runs out the callee stays silent (`then="silence"`) or hangs up (`then="hangup"`).
    `heard` keeps everything said to the callee, `prompts` every listen's context.
    """

    def __init__(
        self,
        answers: Sequence[Answer] = (),
        *,
        then: Literal["silence", "hangup"] = "silence",
        pause_before_s: float = 0.0,
        confidence: float | None = None,
        outcome: str = "answer",
        answered_by: str | None = None,
    ) -> None:
        self.outcome = _check_outcome(outcome)
        self.answered_by = answered_by
        self.then = then
        self.heard: list[str] = []
        self.prompts: list[GatherContext] = []
        self.script: deque[Reply] = deque()
        for answer in answers:
            if isinstance(answer, Utterance | Silence | HangUp | Press):
                self.script.append(answer)
            else:
                parts = [answer] if isinstance(answer, str) else list(answer)
                for i, part in enumerate(parts):
                    more = i < len(parts) - 1
                    self.script.append(Utterance(part, pause_before_s, confidence, more=more))

    @property
    def remaining(self) -> int:
        return len(self.script)

    async def hear(self, text: str) -> None:
        self.heard.append(text)

    async def respond(self, ctx: GatherContext) -> Reply:
        self.prompts.append(ctx)
        if self.script:
            return self.script.popleft()
        return HangUp() if self.then == "hangup" else Silence()


class SilentCallee(ScriptedCallee):
    """Picks up and never says anything."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__((), **kwargs)


class HangUpAfter(ScriptedCallee):
    """Replies to `n_gathers` listens (with `answers`, else silence), then hangs up at the next."""

    def __init__(self, n_gathers: int, answers: Sequence[Answer] = (), **kwargs: Any) -> None:
        super().__init__(answers, then="hangup", **kwargs)
        script = list(self.script)[:n_gathers]
        script += [Silence()] * (n_gathers - len(script))
        self.script = deque(script)


class BusyCallee(ScriptedCallee):
    def __init__(self) -> None:
        super().__init__(outcome="busy")


class NoAnswerCallee(ScriptedCallee):
    def __init__(self) -> None:
        super().__init__(outcome="no-answer")


class FailedCallee(ScriptedCallee):
    def __init__(self) -> None:
        super().__init__(outcome="failed")


class VoicemailCallee(ScriptedCallee):
    """An answering machine: records what it hears, never speaks, and hangs up once the
    message has run `max_message_s` (virtual) seconds."""

    def __init__(self, *, answered_by: str | None = None, max_message_s: float = 120) -> None:
        super().__init__(outcome="voicemail", answered_by=answered_by)
        self.max_message_s = max_message_s

    async def respond(self, ctx: GatherContext) -> Reply:
        self.prompts.append(ctx)
        return HangUp() if ctx.elapsed_s >= self.max_message_s else Silence()


@attrs.frozen
class InteractiveEvent:
    """What a UI shows: the service speaking, Twilio listening, the phone ringing, the end."""

    kind: Literal["ring", "say", "listen", "ended"]
    text: str = ""
    context: GatherContext | None = None
    result: CallResult | None = None


class InteractiveCallee:
    """A callee driven by a person through a UI.

    The player side (`hear`, `respond`, `pick_up`, `call_ended`) runs on the player's
    event loop. The UI side is thread-safe: `say`, `press`, `stay_silent`, `hang_up`, `answer`,
    `decline` may be called from any thread or loop, even before the call starts (input
    typed early is used at the next Gather, like speech over a prompt). The UI reads
    `spoken` / `events_seen`, or awaits `next_event()` on the player's loop.

    `respond` waits `response_timeout_s` (default: the Gather's own `timeout`, in real
    seconds) for input, then counts as silence. With `wait_for_pickup`, the phone rings
    until `answer()` / `decline()` or the call's ring timeout ("no-answer").
    """

    def __init__(
        self,
        *,
        outcome: str = "answer",
        answered_by: str | None = None,
        response_timeout_s: float | None = None,
        wait_for_pickup: bool = False,
    ) -> None:
        self.outcome = _check_outcome(outcome)
        self.answered_by = answered_by
        self.response_timeout_s = response_timeout_s
        self.wait_for_pickup = wait_for_pickup
        self.spoken: list[str] = []
        self.events_seen: list[InteractiveEvent] = []
        self.listening: GatherContext | None = None
        self.result: CallResult | None = None
        self.listens_continuously = True  # ConversationRelay: typing may come at any time
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early_replies: list[Reply] = []
        self._early_decision: str | None = None
        self._replies: asyncio.Queue[Reply] | None = None
        self._decisions: asyncio.Queue[str] | None = None
        self._events: asyncio.Queue[InteractiveEvent] | None = None

    # -- player side -------------------------------------------------------------------

    def _bind(self) -> None:
        with self._lock:
            if self._loop is not None:
                return
            self._loop = asyncio.get_running_loop()
            self._replies = asyncio.Queue()
            self._decisions = asyncio.Queue()
            self._events = asyncio.Queue()
            for reply in self._early_replies:
                self._replies.put_nowait(reply)
            if self._early_decision is not None:
                self._decisions.put_nowait(self._early_decision)

    def _emit(self, event: InteractiveEvent) -> None:
        self.events_seen.append(event)
        assert self._events is not None
        self._events.put_nowait(event)

    async def hear(self, text: str) -> None:
        self._bind()
        self.spoken.append(text)
        self._emit(InteractiveEvent("say", text))

    async def respond(self, ctx: GatherContext) -> Reply:
        self._bind()
        assert self._replies is not None
        self.listening = ctx
        self._emit(InteractiveEvent("listen", ctx.prompt, context=ctx))
        timeout = ctx.timeout_s if self.response_timeout_s is None else self.response_timeout_s
        try:
            return await asyncio.wait_for(self._replies.get(), timeout)
        except TimeoutError:
            return Silence()
        finally:
            self.listening = None

    async def pick_up(self, ring_timeout_s: float) -> str:
        self._bind()
        if not self.wait_for_pickup:
            return self.outcome
        assert self._decisions is not None
        self._emit(InteractiveEvent("ring"))
        try:
            return await asyncio.wait_for(self._decisions.get(), ring_timeout_s)
        except TimeoutError:
            return "no-answer"

    def call_ended(self, result: CallResult) -> None:
        self.result = result
        if self._events is not None:
            self._emit(InteractiveEvent("ended", str(result.final_status), result=result))

    async def next_event(self, timeout_s: float | None = None) -> InteractiveEvent | None:
        """The next event (on the player's loop); None after `timeout_s`."""
        self._bind()
        assert self._events is not None
        try:
            return await asyncio.wait_for(self._events.get(), timeout_s)
        except TimeoutError:
            return None

    # -- UI side (thread-safe) ---------------------------------------------------------

    def _put(self, reply: Reply | None = None, decision: str | None = None) -> None:
        with self._lock:
            loop = self._loop
            if loop is None:
                if reply is not None:
                    self._early_replies.append(reply)
                if decision is not None:
                    self._early_decision = decision
                return
        queue: asyncio.Queue[Any] | None = self._replies if reply is not None else self._decisions
        item: Any = reply if reply is not None else decision
        assert queue is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            queue.put_nowait(item)
        else:
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def say(self, text: str, pause_before_s: float = 0.0, *, partials: bool = False) -> None:
        """A whole answer (ConversationRelay: one final prompt, unless `partials`)."""
        self._put(Utterance(text, pause_before_s, partials=partials))

    def say_partial(self, text: str) -> None:
        """Interim speech recognition (ConversationRelay: a partial prompt; a Gather ignores it)."""
        self._put(Partial(text))

    def press(self, digit: str) -> None:
        """Press a key of the keypad (DTMF) at the next listen."""
        self._put(Press(digit))

    def stay_silent(self) -> None:
        self._put(Silence())

    def hang_up(self) -> None:
        """Hang up at the next listen (a hang-up while the service speaks lands there too)."""
        self._put(HangUp())

    def answer(self) -> None:
        self._put(decision="answer")

    def decline(self, outcome: str = "busy") -> None:
        self._put(decision=_check_outcome(outcome))
