"""The local phone simulator (USE_MOCKS=true only): the browser rings instead of a phone.

Two halves, in two processes that share one database (`make run` starts both):

* `SimulatorBridge`, attached to the `MockTelephony` of every process
  (`attach_simulator`): records each call placed (by the worker) and each SMS sent
  (by the web server) as a document in ``PhoneSimulator_events``.
* `PhoneSimulator`, in the web server: notices new calls in that collection and
  plays each one with the real `CallPlayer` (services/devtools/call_player.py) against this
  server's own webhooks - signed with the mock auth token, over HTTP to the URLs the
  worker dialled with (PUBLIC_BASE_URL) - while the page at ``/simulator``
  (services/devtools/phone_simulator_routes.py) answers, declines, speaks and hangs up.

Nothing here interprets TwiML; the player does. Answers typed into the simulator are
kept in this process's memory only (the live transcript), never in the database.
See docs/simulator.md.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import httpx
from pymongo.errors import PyMongoError

from services.devtools.call_player import (
    CallPlayer,
    CallSpec,
    GatherContext,
    HangUp,
    PlayerOptions,
    Reply,
    Silence,
)
from services.devtools.callees import InteractiveCallee, NoAnswerCallee
from services.devtools.simulator_ownership import (
    INDEX,
    call_of,
    calls_of,
    messages_of,
    owner_of,
    owns,
)
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

__all__ = [
    "COLLECTION",
    "DECISIONS",
    "PhoneSimulator",
    "SimulatorBridge",
    "SimulatorCallee",
    "SimulatorError",
    "attach_simulator",
]

log = logging.getLogger("services.devtools.phone_simulator")

COLLECTION = "PhoneSimulator_events"  # the embedded server forbids dots in collection names

#: Buttons on the ringing phone -> the player's outcome.
DECISIONS = {"answer": "answer", "decline": "busy", "ignore": "no-answer", "voicemail": "voicemail"}

NEW, PLAYING, ENDED = "new", "playing", "ended"  # a call document's `state`
RINGING_STATUSES = frozenset({"queued", "initiated", "ringing"})
CODE = re.compile(r"\b\d{4,8}\b")
MAX_SPOKEN_CHARS = 2000
SPEAKERS = {"service": "service", "callee": "you", "twilio": "note"}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# -- every process: record what the mock telephony did ----------------------------------


class SimulatorBridge:
    """A `MockTelephony` subscriber that writes calls and SMS to the shared database."""

    def __init__(self, db: Any, *, clock: Callable[[], datetime] = _utcnow) -> None:
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
                "createdAt": _aware(call.date_created),
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
                "createdAt": _aware(sms.date_created),
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


# -- the web server: play the calls ------------------------------------------------------


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


class PhoneSimulator:
    """Plays the calls recorded by `SimulatorBridge`, driven by the simulator page.

    * A new call starts playing (initiated, ringing) once the worker has attached its
      sid to the PhoneCall (at most `attach_grace_s` later); it rings until the user
      decides or its ring timeout (the call's own, or `ring_timeout_s`) passes, which
      plays it as "no-answer" so the scheduler retries.
    * `listen_timeout_s` is how long a listen waits for typed input before it counts
      as silence (Twilio waits the Gather's `timeout`, 6 s, too short to type).
    * `http` / `transport`: how webhooks reach the server (default: real HTTP).

    Several server processes may share the database: one claims each call (its
    `owner`), heartbeats it, and a call whose owner stopped heartbeating rings again
    (if never answered) or is marked "interrupted".
    """

    def __init__(
        self,
        engine: Any,
        db: Any,
        *,
        auth_token: str,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        ring_timeout_s: float | None = None,
        listen_timeout_s: float = 60.0,
        attach_grace_s: float = 10.0,
        tick_s: float = 0.5,
        stale_after_s: float = 20.0,
        retention: timedelta = timedelta(days=1),
        keep_finished: int = 20,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.engine = engine
        self.events = db[COLLECTION]
        self.auth_token = auth_token
        self.ring_timeout_s = ring_timeout_s
        self.listen_timeout_s = listen_timeout_s
        self.attach_grace_s = attach_grace_s
        self.tick_s = tick_s
        self.stale_after_s = stale_after_s
        self.retention = retention
        self.clock = clock
        self.instance_id = f"sim-{secrets.token_hex(6)}"
        self._http = http
        self._own_http = http is None
        self._transport = transport
        self._live: dict[str, LiveCall] = {}
        self._finished: collections.OrderedDict[str, LiveCall] = collections.OrderedDict()
        self._keep_finished = keep_finished
        self._wake = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None
        self._last_prune = 0.0

    # -- life ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._sweeper is not None:
            return
        if self._http is None:
            self._http = httpx.AsyncClient(transport=self._transport, follow_redirects=False)
        with contextlib.suppress(PyMongoError):
            await self.events.create_index(INDEX)
            await self.events.create_index("state")
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="phone-simulator")
        log.info("phone simulator on (%s): open /simulator", self.instance_id)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        live = list(self._live.values())
        for call in live:
            if call.task is not None:
                call.task.cancel()
        await asyncio.gather(*(c.task for c in live if c.task), return_exceptions=True)
        for call in live:
            await self._release(call)
        self._live.clear()
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[PhoneSimulator]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    def wake(self) -> None:
        """Look at the database now rather than at the next tick."""
        self._wake.set()

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("phone simulator: sweep failed; trying again shortly")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick_s)

    async def sweep(self) -> None:
        """One round: start new calls, heartbeat and steer live ones, recover orphans."""
        now = self.clock()
        async for doc in (
            self.events.find({"kind": "call", "state": NEW}).sort("createdAt", 1).limit(50)
        ):
            await self._maybe_start(doc, now)
        await self._sync_live(now)
        await self._recover_orphans(now)
        if time.monotonic() - self._last_prune > 60:
            self._last_prune = time.monotonic()
            old = {"$lt": now - self.retention}
            await self.events.delete_many({"kind": "sms", "createdAt": old})
            await self.events.delete_many(
                {"kind": "call", "state": {"$in": [NEW, ENDED]}, "createdAt": old}
            )

    # -- starting and ending a played call ----------------------------------------------

    def _ring_timeout(self, doc: dict[str, Any]) -> float:
        own = float(doc.get("ringTimeoutS") or 30)
        return min(own, self.ring_timeout_s) if self.ring_timeout_s is not None else own

    async def _maybe_start(self, doc: dict[str, Any], now: datetime) -> None:
        sid = doc["_id"]
        age = (now - _aware(doc["createdAt"])).total_seconds()
        attached = await self._user_of_call(sid)
        if attached is None and age < self.attach_grace_s:
            return  # the worker has not attached the sid yet: an answer now would be lost
        user = owner_of(doc) or attached  # a call placed without an account: its PhoneCall's
        ring_timeout = self._ring_timeout(doc)
        decision = doc.get("decision")
        rang_out = decision is None and age >= ring_timeout
        claim: dict[str, Any] = {
            "state": PLAYING,
            "owner": self.instance_id,
            "heartbeatAt": now,
            "user": user,
        }
        if rang_out:
            claim.update(decision="no-answer", decidedBy="timeout")
        done = await self.events.update_one({"_id": sid, "state": NEW}, {"$set": claim})
        if done.modified_count != 1:
            return  # another server process took it
        spec = CallSpec(
            to=doc["to"],
            from_=doc["from"],
            sid=sid,
            answer_url=doc["answerUrl"],
            status_callback_url=doc["statusCallbackUrl"],
            recording_status_callback_url=doc["recordingCallbackUrl"],
            machine_detection="Enable",  # as TwilioTelephony asks for
            ring_timeout_s=max(1, math.ceil(ring_timeout - age))
            if not rang_out
            else int(ring_timeout),
            time_limit_s=int(doc.get("timeLimitS") or 900),
        )
        callee: Any
        if rang_out:
            callee = NoAnswerCallee()
        else:
            callee = SimulatorCallee(response_timeout_s=self.listen_timeout_s)
            if decision is not None:
                self._apply_decision(callee, decision)
        statuses: list[str] = []
        assert self._http is not None
        player = CallPlayer(
            spec,
            auth_token=self.auth_token,
            http=self._http,
            callee=callee,
            options=PlayerOptions(),
            on_status=lambda status, _result: statuses.append(status),
        )
        live = LiveCall(sid=sid, user=user, player=player, callee=callee, statuses=statuses)
        live.decision_sent = decision is not None
        if doc.get("endRequested"):
            live.player.end("api")
            live.end_sent = True
        self._live[sid] = live
        live.task = asyncio.create_task(self._play(live), name=f"simulated-call-{sid}")
        log.info("phone simulator: playing %s to %s", sid, doc["to"])

    async def _user_of_call(self, sid: str) -> str | None:
        try:
            rows = await self.engine.query("PhoneCall", "_byCallSid", {"callSid": sid})
        except Exception:
            log.exception("phone simulator: could not look up call %s", sid)
            return None
        return rows[0]["user"] if rows else None

    @staticmethod
    def _apply_decision(callee: InteractiveCallee, decision: str) -> None:
        if decision == "answer":
            callee.answer()
        else:
            callee.decline(decision)

    async def _play(self, live: LiveCall) -> None:
        try:
            await live.player.play()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("phone simulator: playing %s failed", live.sid)
        self._live.pop(live.sid, None)
        self._finished[live.sid] = live
        while len(self._finished) > self._keep_finished:
            self._finished.popitem(last=False)
        result = live.player.result
        try:
            await self.events.update_one(
                {"_id": live.sid},
                {
                    "$set": {
                        "state": ENDED,
                        "status": result.final_status or "failed",
                        "finalStatus": result.final_status or "failed",
                        "decision": live.decision,
                        "endedBy": result.ended_by,
                        "durationS": result.duration_s,
                        "endedAt": self.clock(),
                        "errors": [{"code": e.code, "message": e.message} for e in result.errors],
                    }
                },
            )
        except PyMongoError:
            log.exception("phone simulator: could not record the end of %s", live.sid)
        if result.errors:
            log.warning("phone simulator: call %s ended with errors: %s", live.sid, result.errors)

    async def _release(self, live: LiveCall) -> None:
        """This server is stopping mid-call: a call still ringing rings again at the next
        start; one under way cannot be resumed."""
        if live.over:
            return
        update: dict[str, Any]
        if not live.player.answered and live.status in RINGING_STATUSES:
            update = {"state": NEW, "owner": None, "decision": None, "decidedBy": None}
        else:
            update = {
                "state": ENDED,
                "status": "interrupted",
                "finalStatus": "interrupted",
                "endedAt": self.clock(),
            }
        with contextlib.suppress(PyMongoError):
            await self.events.update_one(
                {"_id": live.sid, "owner": self.instance_id}, {"$set": update}
            )

    async def _sync_live(self, now: datetime) -> None:
        """Heartbeat the calls played here; apply decisions and end requests made elsewhere."""
        if not self._live:
            return
        docs = {d["_id"]: d async for d in self.events.find({"_id": {"$in": list(self._live)}})}
        for sid, live in list(self._live.items()):
            doc = docs.get(sid)
            if doc is None or live.over:
                continue
            callee = live.callee
            interactive = isinstance(callee, SimulatorCallee)
            if interactive and doc.get("decision") and not live.decision_sent:
                self._apply_decision(callee, doc["decision"])
                live.decision_sent = True
            if doc.get("endRequested") and not live.end_sent:
                live.player.end("api")
                live.end_sent = True
            update: dict[str, Any] = {"heartbeatAt": now, "status": live.status}
            if interactive and callee.decision and not doc.get("decision"):
                update.update(decision=callee.decision, decidedBy="timeout")
            # only while still playing: never over the end _play() may have written meanwhile
            await self.events.update_one({"_id": sid, "state": PLAYING}, {"$set": update})

    async def _recover_orphans(self, now: datetime) -> None:
        """Calls whose playing server stopped heartbeating (it crashed or was killed)."""
        cutoff = now - timedelta(seconds=self.stale_after_s)
        stale = self.events.find({"kind": "call", "state": PLAYING, "heartbeatAt": {"$lt": cutoff}})
        async for doc in stale:
            if doc["_id"] in self._live:
                continue
            if doc.get("status") in RINGING_STATUSES:
                update = {"state": NEW, "owner": None, "decision": None, "decidedBy": None}
            else:
                update = {
                    "state": ENDED,
                    "status": "interrupted",
                    "finalStatus": "interrupted",
                    "endedAt": now,
                }
            await self.events.update_one(
                {"_id": doc["_id"], "owner": doc.get("owner")}, {"$set": update}
            )
            log.warning(
                "phone simulator: call %s lost its server; now %s", doc["_id"], update["state"]
            )

    # -- what the page asks ------------------------------------------------------------------

    async def numbers_of(self, user: str) -> list[str]:
        """The user's numbers: on the profile, waiting for a code, and verified."""
        numbers: list[str] = []
        for concept, query in (
            ("Profile", "_getProfile"),
            ("PhoneVerification", "_pendingNumber"),
            ("PhoneVerification", "_verifiedNumbers"),
        ):
            for row in await self.engine.query(concept, query, {"user": user}):
                number = row.get("phoneNumber")
                if number and number not in numbers:
                    numbers.append(number)
        return numbers

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
        listening, remaining = False, None
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
            transcript = [
                {"speaker": SPEAKERS[line.speaker], "text": line.text} for line in result.transcript
            ]
            errors = [{"code": e.code, "message": e.message} for e in result.errors]
        view.update(
            transcriptAvailable=played is not None,
            transcript=transcript,
            listening=listening,
            listenRemainingS=remaining,
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
            self._apply_decision(live.callee, outcome)
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

    async def silence(self, user: str, sid: str) -> dict[str, Any]:
        live = await self._conversation(user, sid)
        live.callee.stay_silent()
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
        created = _aware(doc["createdAt"])
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
            "createdAt": _aware(doc["createdAt"]),
        }
