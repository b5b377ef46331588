"""What the simulator page asks: the user's inbox, one call, and the buttons that act on it.

A mixin of `PhoneSimulator` (services/devtools/phone_simulator.py), which plays the calls:
these methods read its live calls and the shared collection, and never show or act on
anyone else's call (services/devtools/simulator_ownership.py).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from services.devtools.simulator_bridge import ENDED, NEW, PLAYING, aware
from services.devtools.simulator_calls import (
    DECISIONS,
    LiveCall,
    SimulatorCallee,
    SimulatorError,
    apply_decision,
)
from services.devtools.simulator_ownership import call_of, calls_of, messages_of, owns
from syncs import queries

__all__ = ["MAX_SPOKEN_CHARS", "SimulatorPage"]

CODE = re.compile(r"\b\d{4,8}\b")
MAX_SPOKEN_CHARS = 2000
SPEAKERS = {"service": "service", "callee": "you", "twilio": "note"}


class SimulatorPage:
    """The page's questions and buttons, over the calls `PhoneSimulator` plays."""

    engine: Any
    events: Any
    clock: Callable[[], datetime]
    ring_timeout_s: float | None
    _live: dict[str, LiveCall]
    _finished: collections.OrderedDict[str, LiveCall]

    def wake(self) -> None:
        raise NotImplementedError  # PhoneSimulator looks at the database now

    def _ring_timeout(self, doc: dict[str, Any]) -> float:
        own = float(doc.get("ringTimeoutS") or 30)
        return min(own, self.ring_timeout_s) if self.ring_timeout_s is not None else own

    async def numbers_of(self, user: str) -> list[str]:
        """The user's numbers: on the profile, waiting for a code, and verified."""
        return await queries.numbers_of(self.engine, user)

    async def inbox(self, user: str, *, limit: int = 20) -> dict[str, Any]:
        """The user's numbers (to show), and the calls and SMS sent for their account."""
        numbers = await self.numbers_of(user)
        found = self.events.find(calls_of(user)).sort("createdAt", -1).limit(limit)
        views = [self._call_view(doc) async for doc in found if owns(doc, user)]
        sent = self.events.find(messages_of(user)).sort("createdAt", -1).limit(limit)
        messages = [self._sms_view(doc) async for doc in sent if owns(doc, user)]
        active = next((v for v in views if v["phase"] != "ended"), None)
        return {
            "numbers": numbers,
            "calls": views,
            "messages": messages,
            "active": active["sid"] if active else None,
        }

    async def _owned_call(self, user: str, sid: str) -> dict[str, Any]:
        """The user's call `sid`; anyone else's, or one whose owner is unknown, is 404."""
        valid = isinstance(user, str) and isinstance(sid, str)
        doc = await self.events.find_one(call_of(user, sid)) if valid else None
        if doc is None or not owns(doc, user):
            raise SimulatorError(404, "no such call")
        return doc

    async def call(self, user: str, sid: str) -> dict[str, Any]:
        """The call with its live transcript (while this process has it in memory)."""
        doc = await self._owned_call(user, sid)
        view = self._call_view(doc)
        played = self._live.get(sid) or self._finished.get(sid)
        listening, remaining, streaming = False, None, False
        transcript: list[dict[str, str]] = []
        errors = doc.get("errors") or []
        if played is not None:
            callee = played.callee
            if (
                isinstance(callee, SimulatorCallee)
                and callee.listening is not None
                and not played.over
            ):
                listening = True
                if callee.listen_deadline is not None:
                    remaining = max(0.0, round(callee.listen_deadline - time.monotonic(), 1))
            result = played.player.result
            sessions = result.relay_sessions
            streaming = bool(sessions) and not sessions[-1].closed and not played.over
            transcript = [
                {"speaker": SPEAKERS[line.speaker], "text": line.text} for line in result.transcript
            ]
            errors = [{"code": e.code, "message": e.message} for e in result.errors]
        view.update(
            transcriptAvailable=played is not None,
            transcript=transcript,
            listening=listening,
            listenRemainingS=remaining,
            streaming=streaming,
            errors=errors,
        )
        return view

    async def decide(self, user: str, sid: str, button: str) -> dict[str, Any]:
        """Answer / decline / ignore / voicemail a ringing call."""
        outcome = DECISIONS.get(button)
        if outcome is None:
            raise SimulatorError(404, "no such action")
        doc = await self._owned_call(user, sid)
        live = self._live.get(sid)
        if (
            doc["state"] == ENDED
            or doc.get("decision")
            or (live is not None and (live.over or live.decision))
        ):
            raise SimulatorError(409, "the phone is no longer ringing")
        done = await self.events.update_one(
            {**call_of(user, sid), "state": {"$in": [NEW, PLAYING]}, "decision": None},
            {"$set": {"decision": outcome, "decidedBy": "user", "decidedAt": self.clock()}},
        )
        if done.modified_count != 1:
            raise SimulatorError(409, "the phone is no longer ringing")
        if live is not None and isinstance(live.callee, SimulatorCallee):
            apply_decision(live.callee, outcome)
            live.decision_sent = True
        else:
            self.wake()  # not started yet (or played by another server process)
        return await self.call(user, sid)

    async def _conversation(self, user: str, sid: str) -> LiveCall:
        doc = await self._owned_call(user, sid)
        live = self._live.get(sid)
        if doc["state"] == ENDED or sid in self._finished or (live is not None and live.over):
            raise SimulatorError(409, "the call is over")
        if doc.get("decision") != "answer" and (live is None or live.decision != "answer"):
            raise SimulatorError(409, "the call has not been answered")
        if live is None:
            if doc["state"] == NEW:
                raise SimulatorError(409, "the call is still connecting; try again in a moment")
            raise SimulatorError(409, "this call is played by another server process")
        return live

    async def say(self, user: str, sid: str, text: str) -> dict[str, Any]:
        live = await self._conversation(user, sid)
        live.callee.say(text)
        return await self.call(user, sid)

    async def partial(self, user: str, sid: str, text: str) -> dict[str, Any]:
        """Interim speech recognition: a partial prompt on ConversationRelay (a Gather
        ignores it; the page sends it only while `streaming`)."""
        live = await self._conversation(user, sid)
        live.callee.say_partial(text)
        return await self.call(user, sid)

    async def silence(self, user: str, sid: str) -> dict[str, Any]:
        live = await self._conversation(user, sid)
        live.callee.stay_silent()
        return await self.call(user, sid)

    async def press(self, user: str, sid: str, key: str) -> dict[str, Any]:
        """A key of the phone's keypad, heard at the next listen (as `Digits`)."""
        live = await self._conversation(user, sid)
        live.callee.press(key)
        return await self.call(user, sid)

    async def hang_up(self, user: str, sid: str) -> dict[str, Any]:
        live = await self._conversation(user, sid)
        live.player.end(by="callee")
        if live.task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(live.task), 10)
        return await self.call(user, sid)

    # -- views -----------------------------------------------------------------------------

    def _call_view(self, doc: dict[str, Any]) -> dict[str, Any]:
        sid = doc["_id"]
        played = self._live.get(sid) or self._finished.get(sid)
        ended = doc.get("state") == ENDED or (played is not None and played.over)
        status = (played.status if played else None) or doc.get("status") or "queued"
        if played is not None and played.over:
            status = played.player.result.final_status or status
        decision = (played.decision if played else None) or doc.get("decision")
        if ended:
            phase = "ended"
        elif decision is None:
            phase = "ringing"
        elif decision == "answer":
            phase = "live" if status == "in-progress" else "connecting"
        else:
            phase = "ending"
        created = aware(doc["createdAt"])
        result = played.player.result if played is not None and played.over else None
        return {
            "sid": sid,
            "to": doc["to"],
            "from": doc["from"],
            "createdAt": created,
            "ringsUntil": created + timedelta(seconds=self._ring_timeout(doc)),
            "phase": phase,
            "status": status,
            "decision": decision,
            "ended": ended,
            "finalStatus": (result.final_status if result else doc.get("finalStatus")),
            "endedBy": (result.ended_by if result else doc.get("endedBy")),
            "durationS": (result.duration_s if result else doc.get("durationS")),
        }

    @staticmethod
    def _sms_view(doc: dict[str, Any]) -> dict[str, Any]:
        body = doc.get("body", "")
        code = CODE.search(body)
        return {
            "sid": doc["_id"],
            "to": doc["to"],
            "from": doc["from"],
            "body": body,
            "code": code.group(0) if code else None,
            # outbound (the service's), inbound (the user's reply) or reply (the service's answer)
            "direction": doc.get("direction", "outbound"),
            "createdAt": aware(doc["createdAt"]),
        }
