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
kept in this process's memory only (the live transcript, and the recording made from
it: services/devtools/mock_recording.py), never in the database.
See docs/simulator.md.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from pymongo.errors import PyMongoError

from services.devtools.call_player import CallPlayer, CallSpec, PlayerOptions
from services.devtools.callees import NoAnswerCallee
from services.devtools.mock_recording import CONTENT_TYPE, conversation_wav
from services.devtools.simulator_bridge import (
    COLLECTION,
    ENDED,
    NEW,
    PLAYING,
    SimulatorBridge,
    attach_simulator,
    aware,
    utcnow,
)
from services.devtools.simulator_calls import (
    DECISIONS,
    RINGING_STATUSES,
    LiveCall,
    SimulatorCallee,
    SimulatorError,
    apply_decision,
)
from services.devtools.simulator_ownership import INDEX, owner_of
from services.devtools.simulator_page import MAX_SPOKEN_CHARS, SimulatorPage
from services.devtools.simulator_texts import SimulatorTexts
from syncs import queries

__all__ = [
    "COLLECTION",
    "DECISIONS",
    "MAX_SPOKEN_CHARS",
    "PhoneSimulator",
    "SimulatorBridge",
    "SimulatorCallee",
    "SimulatorError",
    "attach_simulator",
]

log = logging.getLogger("services.devtools.phone_simulator")


class PhoneSimulator(SimulatorPage, SimulatorTexts):
    """Plays the calls recorded by `SimulatorBridge`, driven by the simulator page.

    * A new call starts playing (initiated, ringing) once the worker has attached its
      sid to the PhoneCall (at most `attach_grace_s` later); it rings until the user
      decides or its ring timeout (the call's own, or `ring_timeout_s`) passes, which
      plays it as "no-answer" so the scheduler retries.
    * `listen_timeout_s` is how long a listen waits for typed input before it counts
      as silence (Twilio waits the Gather's `timeout`, 6 s, too short to type).
    * `http` / `transport`: how webhooks reach the server (default: real HTTP).
    * `text_url`: the server's inbound text webhook, where a reply to a text goes
      (services/devtools/simulator_texts.py).

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
        text_url: str | None = None,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        ring_timeout_s: float | None = None,
        listen_timeout_s: float = 60.0,
        attach_grace_s: float = 10.0,
        tick_s: float = 0.5,
        stale_after_s: float = 20.0,
        retention: timedelta = timedelta(days=1),
        keep_finished: int = 20,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.events = db[COLLECTION]
        self.auth_token = auth_token
        self.text_url = text_url
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

    async def _maybe_start(self, doc: dict[str, Any], now: datetime) -> None:
        sid = doc["_id"]
        age = (now - aware(doc["createdAt"])).total_seconds()
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
                apply_decision(callee, decision)
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

    async def recording_audio(self, recording_url: str) -> tuple[str, bytes] | None:
        """The audio of the recording of a call played here (the server's mock phone asks,
        `MockTelephony.recording_source`): its conversation, synthesised once, kept in
        memory with the transcript; None for a call this process no longer has."""
        for live in [*self._live.values(), *reversed(self._finished.values())]:
            result = live.player.result
            if result.recording_sid is None or result.recording_url != recording_url:
                continue
            if live.recording is None:
                lines = [
                    (line.speaker, line.text)
                    for line in result.transcript
                    if line.speaker in ("service", "callee")
                ]
                live.recording = await conversation_wav(lines)
            return CONTENT_TYPE, live.recording
        return None

    async def _user_of_call(self, sid: str) -> str | None:
        try:
            return await queries.whose_call(self.engine, sid)
        except Exception:
            log.exception("phone simulator: could not look up call %s", sid)
            return None

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
                apply_decision(callee, doc["decision"])
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
