"""The phone simulator's recorder, in every mock-mode process: what the mock phone sent.

The worker places the calls and the web server sends the SMS, in two processes that share
only the database, so `SimulatorBridge` (subscribed to each process's `MockTelephony` by
`attach_simulator`) writes every call and SMS to ``PhoneSimulator_events``, where the web
server's `PhoneSimulator` finds them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import PyMongoError

from services.telephony import TelephonyError
from services.telephony.mock import (
    NOT_FOUND_CODE,
    CallEnded,
    CallPlaced,
    MockCall,
    MockEvent,
    MockSms,
    MockTelephony,
    SmsSent,
)

__all__ = ["COLLECTION", "ENDED", "NEW", "PLAYING", "SimulatorBridge", "attach_simulator"]

log = logging.getLogger("services.devtools.phone_simulator")

COLLECTION = "PhoneSimulator_events"  # the embedded server forbids dots in collection names
NEW, PLAYING, ENDED = "new", "playing", "ended"  # a call document's `state`


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """``moment`` with UTC as its zone when it has none (the database may drop it)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class SimulatorBridge:
    """A `MockTelephony` subscriber that writes calls and SMS to the shared database."""

    def __init__(self, db: Any, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.events = db[COLLECTION]
        self.clock = clock

    async def __call__(self, event: MockEvent) -> None:
        # A failure here must never fail the dial or the SMS: the simulator is a convenience.
        try:
            if isinstance(event, CallPlaced):
                await self.record_call(event.call)
            elif isinstance(event, SmsSent):
                await self.record_sms(event.sms)
            elif isinstance(event, CallEnded):
                await self.request_end(event.call.sid)
        except PyMongoError:
            log.exception("phone simulator: could not record %s", type(event).__name__)

    async def record_call(self, call: MockCall) -> None:
        await self.events.insert_one(
            {
                "_id": call.sid,
                "kind": "call",
                "to": call.to,
                "from": call.from_,
                "answerUrl": call.answer_url,
                "statusCallbackUrl": call.status_callback_url,
                "recordingCallbackUrl": call.recording_callback_url,
                "ringTimeoutS": call.ring_timeout_s,
                "timeLimitS": call.time_limit_s,
                "createdAt": aware(call.date_created),
                "state": NEW,
                "status": "queued",
                "user": call.user,  # whose it is: the only owner (services/devtools/simulator_ownership.py)
                "decision": None,
                "decidedBy": None,
                "endRequested": False,
                "owner": None,
                "heartbeatAt": None,
            }
        )

    async def record_sms(self, sms: MockSms) -> None:
        await self.events.insert_one(
            {
                "_id": sms.sid,
                "kind": "sms",
                "to": sms.to,
                "from": sms.from_,
                "body": sms.body,
                "createdAt": aware(sms.date_created),
                "user": sms.user,
            }
        )

    async def request_end(self, sid: str) -> bool:
        """Ask whichever server plays `sid` to end it (Twilio's `update(status=completed)`)."""
        done = await self.events.update_one(
            {"_id": sid, "kind": "call", "state": {"$in": [NEW, PLAYING]}},
            {"$set": {"endRequested": True}},
        )
        return done.matched_count == 1


def attach_simulator(telephony: Any, db: Any) -> SimulatorBridge | None:
    """Record `telephony`'s calls and SMS for the simulator; None unless it is a `MockTelephony`.

    Also lets this process's `end_call` reach calls another process placed: the web
    server's mock never placed the worker's calls, so a cancel from the API would
    otherwise fail with "not found". Idempotent per telephony instance.
    """
    if not isinstance(telephony, MockTelephony):
        return None
    existing = getattr(telephony, "_simulator_bridge", None)
    if existing is not None:
        return existing
    bridge = SimulatorBridge(db)
    telephony.subscribe(bridge)
    local_end_call = telephony.end_call

    async def end_call(sid: str) -> None:
        try:
            await local_end_call(sid)
        except TelephonyError as exc:
            if exc.code != NOT_FOUND_CODE or not await bridge.request_end(sid):
                raise

    telephony.end_call = end_call  # type: ignore[method-assign]
    telephony._simulator_bridge = bridge  # type: ignore[attr-defined]
    return bridge
