"""One conversation turn, whichever transport carried it: a neutral event in, the syncs' reply out.

Both transports (Gather webhooks, ConversationRelay's socket) hand the events of a call to
``Turns``: it runs them through the engine (``Requesting.request``; ``syncs/`` compose the
reply) and, when no reply comes in time (the database is away, a bug), has the caller hear
a short apology instead of silence, and starts the ``/call/apologised`` flow that fails the
call on our side so that it is called back (the apology promises it). A status callback
for that call waits for the flow first (in this process), so the hang-up that follows the
apology cannot overtake it and end the call as a plain hang-up with no retry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from conceptkit import new_id, run_request
from services.app.metrics import METRICS
from services.webhooks.twilio_events import APOLOGISED, apologised

__all__ = ["APOLOGY", "APOLOGY_RETRIES_S", "Turns"]

log = logging.getLogger("services.webhooks.turns")

APOLOGY = "Sorry, something went wrong on our side. We will call you again a little later. Goodbye."
APOLOGY_RETRIES_S = (0.5, 1, 2, *([5] * 120))  # about ten minutes in all


class Turns:
    """Runs the events of calls through the engine, apologising for a turn left unanswered."""

    def __init__(self, engine: Any, *, timeout_s: float = 8.0) -> None:
        self.engine = engine
        self.timeout_s = timeout_s
        self._apologies: dict[str, asyncio.Future[Any]] = {}  # callSid -> its apology's flow

    async def run(
        self, path: str, body: dict[str, Any], *, is_turn: bool, label: str
    ) -> dict[str, Any] | None:
        """The syncs' reply to the event (None: none in time, or the handling failed).

        A conversation turn is latency-bound: its log is one group commit (a crash
        mid-turn loses the call anyway). Callbacks write record by record, so their
        replay after a crash skips exactly what ran (a retry is owed).
        """
        started = time.perf_counter()
        try:
            answer = await run_request(
                self.engine, path, body, None, self.timeout_s, group_commit=is_turn
            )
        except Exception:  # a bug, or the database is away: the caller must not hear an error
            log.exception("handling %s failed", label)
            answer = None
        if answer is None:
            log.error("no reply composed for %s in time", label)
            return None
        if is_turn:
            METRICS.turn_seconds.labels(label).observe(time.perf_counter() - started)
        return answer.output

    def apologise(self, event: Mapping[str, Any], label: str) -> None:
        """The caller is hearing our apology: start the flow that fails the call on our side
        (retried while the database refuses, with the same action id, so it happens once)."""
        body = apologised(event)
        sid = body["callSid"]
        if sid in self._apologies and not self._apologies[sid].done():
            return  # one apology per call is owed, however many turns went unanswered
        inputs = {"request": new_id(), "path": APOLOGISED, "body": body, "user": None}
        flow = asyncio.ensure_future(self._until_logged(inputs, self.engine.new_flow(), new_id()))
        self.engine.detach(flow)
        self._apologies[sid] = flow
        flow.add_done_callback(lambda done: self._forget(sid, done))
        METRICS.apologies.labels(label).inc()

    async def after_apology(self, sid: str) -> None:
        """Wait (bounded) for the apology flow of ``sid``, if one is under way here."""
        flow = self._apologies.get(sid)
        if flow is not None and not flow.done():
            await asyncio.wait({flow}, timeout=self.timeout_s)

    async def _until_logged(self, inputs: dict[str, Any], flow: str, action_id: str) -> None:
        for delay in APOLOGY_RETRIES_S:
            try:
                await self.engine.invoke(
                    "Requesting", "request", inputs, flow=flow, action_id=action_id
                )
                return
            except Exception as exc:  # the database is away: try again shortly
                log.warning("recording an apology failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
        log.error("an apology could not be recorded; the reconciler will settle the call")

    def _forget(self, sid: str, flow: asyncio.Future[Any]) -> None:
        if self._apologies.get(sid) is flow:
            del self._apologies[sid]
