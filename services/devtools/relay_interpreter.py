"""`<Connect><ConversationRelay>` for the call player: the session played through RelayCaller.

A mixin of `CallPlayer` (over the TwiML interpreter). Twilio speaks the welcome greeting
itself; after that the service talks in `text` messages and keeps its own silence
timer, so here nothing is timed by TwiML: the callee is asked once the service has
spoken (and has stayed quiet `relay_settle_s`), its answer goes out as prompt messages
(partials, then the final; an answer in parts as several finals), a `Silence` is just
waiting for the service to speak again, a `Press` is a `dtmf` message. After `end`, a
hang-up or a dropped socket the player posts the `<Connect action>` and goes on with
the TwiML it answers, as Twilio does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import xml.etree.ElementTree as ET
from typing import Any

from services.devtools.call_model import (
    SCHEMA_VALIDATION,
    CallError,
    CallOver,
    GatherContext,
    HangUp,
    Partial,
    Press,
    Reply,
    Silence,
    TranscriptLine,
    Utterance,
    speaking_s,
)
from services.devtools.standin.relay import RelayCaller
from services.devtools.standin.relay_model import (
    RELAY_CONNECT_FAILURE,
    RELAY_INVALID_MESSAGE,
    RELAY_SOCKET_ENDED,
    RelayRefused,
    RelayTwiml,
    parse_connect,
)
from services.devtools.twiml_interpreter import TwimlInterpreter


class RelayInterpreter(TwimlInterpreter):
    """Plays a ConversationRelay session for `CallPlayer`; see the module docstring."""

    auth_token: str
    http: Any
    ws_route: tuple[str, str] | None

    async def _connect(self, verb: ET.Element, url: str) -> tuple[ET.Element, str] | None:
        if verb.find("ConversationRelay") is None:
            raise self._fail(
                SCHEMA_VALIDATION, "only <Connect><ConversationRelay> is emulated", url
            )
        relay = parse_connect(verb, url)
        caller = RelayCaller(
            relay,
            auth_token=self.auth_token,
            call_sid=self.spec.sid,
            account_sid=self.spec.account_sid,
            from_=self.spec.from_,
            to=self.spec.to,
            http=self.http,
            route=self.ws_route,
            sleep=self.options.sleep,
        )
        self.result.relay_sessions.append(caller)
        try:
            await self._relay_session(caller, relay)
        except CallOver:
            # the caller hung up, or the call was ended: Twilio closes the socket and
            # still tells the action URL, whose TwiML no longer matters
            await caller.hang_up()
            if relay.action_url:
                params = caller.action_params("completed", "completed")
                await self._send("relay", relay.action_url, relay.action_method, params)
            raise
        if caller.dropped:
            self.result.errors.append(
                CallError(RELAY_SOCKET_ENDED, "ConversationRelay: the websocket ended", relay.url)
            )
        if not relay.action_url:
            return None  # no action: Twilio goes on with the next verb
        if caller.ending is not None:  # a conversing callee posted it itself
            return self._parse(
                caller.ending.body, "relay action", relay.action_url
            ), relay.action_url
        document = await self._fetch_twiml(
            "relay", relay.action_url, relay.action_method, params=caller.action_params()
        )
        return document, relay.action_url

    async def _relay_session(self, caller: RelayCaller, relay: RelayTwiml) -> None:
        try:
            await self._unless_ended(caller.open())
        except RelayRefused as refused:
            self.result.errors.append(
                CallError(RELAY_CONNECT_FAILURE, f"ConversationRelay: {refused}", relay.url)
            )
            return
        greeting = relay.welcome_greeting
        if greeting:
            await self._agent_said(greeting)
        converse = getattr(self.callee, "converse", None)
        if callable(converse):
            await self._unless_ended(converse(caller))
        else:
            await self._relay_turns(caller, relay, ask_now=bool(greeting))
        if not caller.closed:
            await caller.close()

    async def _agent_said(self, text: str) -> None:
        self.result.said.append(text)
        self.result.transcript.append(TranscriptLine("service", text))
        self._heard_since_listen.append(text)
        await self._elapse(speaking_s(text))
        await self.callee.hear(text)

    def _relay_context(self, relay: RelayTwiml) -> GatherContext:
        attributes = relay.attributes
        ctx = GatherContext(
            call_sid=self.spec.sid,
            kind="relay",
            index=self.result.gathers,
            prompt=" ".join(self._heard_since_listen),
            timeout_s=5,
            speech_timeout=attributes.get("speechTimeout", "auto"),
            input="speech dtmf" if attributes.get("dtmfDetection") == "true" else "speech",
            action_url=relay.url,
            elapsed_s=self._vt - (self._answered_at or 0.0),
            language=attributes.get("language", "en-US"),
            hints=attributes.get("hints", ""),
        )
        self.result.gathers += 1
        self._heard_since_listen = []
        return ctx

    async def _relay_reply(self, ctx: GatherContext) -> Reply:
        reply: Any = await self.callee.respond(ctx)
        if isinstance(reply, str):
            reply = Utterance(reply)
        if reply is None or (isinstance(reply, Utterance | Partial) and not reply.text.strip()):
            return Silence()
        if not isinstance(reply, Utterance | Silence | HangUp | Partial | Press):
            raise TypeError(f"respond() gave {reply!r}")
        if self._machine and isinstance(reply, Utterance | Partial | Press):
            return Silence()  # an answering machine does not talk back
        return reply

    async def _relay_turns(self, caller: RelayCaller, relay: RelayTwiml, *, ask_now: bool) -> None:
        """Events from the service and the callee's replies, until `end` or the socket closes."""
        continuous = bool(getattr(self.callee, "listens_continuously", False))
        events: asyncio.Future[Any] = asyncio.ensure_future(
            caller.next_event(self.options.relay_idle_s)
        )
        reply: asyncio.Future[Reply] | None = None
        turn_due = ask_now  # the service has spoken: answer once it stays quiet
        try:
            while True:
                waiting = {events} if reply is None else {events, reply}
                settle = self.options.relay_settle_s if turn_due and reply is None else None
                started = time.monotonic()
                done, _ = await self._unless_ended(
                    asyncio.wait(waiting, timeout=settle, return_when=asyncio.FIRST_COMPLETED)
                )
                self._vt += time.monotonic() - started  # the service's own timer is real time
                if not done:  # quiet long enough after speaking: the callee's turn
                    turn_due = False
                    self._step()
                    reply = asyncio.ensure_future(self._relay_reply(self._relay_context(relay)))
                    continue
                if reply in done:
                    answer, reply = reply.result(), None
                    again = await self._relay_send(caller, answer)
                    if again or (continuous and not isinstance(answer, Silence)):
                        self._step()
                        reply = asyncio.ensure_future(self._relay_reply(self._relay_context(relay)))
                if events not in done:
                    continue
                try:
                    event = events.result()
                except TimeoutError:
                    self.result.notes.append(
                        f"the service said nothing for {self.options.relay_idle_s}s: hung up"
                    )
                    raise CallOver("callee") from None
                if event is None or event.kind in ("end", "closed"):
                    return
                events = asyncio.ensure_future(caller.next_event(self.options.relay_idle_s))
                if event.kind == "utterance":
                    self._step()
                    await self._agent_said(event.text)
                    turn_due = turn_due or event.text not in self.options.relay_fillers
                elif event.kind == "invalid":
                    self.result.errors.append(
                        CallError(
                            RELAY_INVALID_MESSAGE, f"invalid message {event.text!r}", relay.url
                        )
                    )
                else:
                    self.result.notes.append(f"ConversationRelay message {event.text!r} ignored")
        finally:
            for task in (events, reply):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    async def _relay_send(self, caller: RelayCaller, reply: Reply) -> bool:
        """Send the callee's reply; True when the callee goes on at once (more to say)."""
        if isinstance(reply, HangUp):
            self.result.transcript.append(TranscriptLine("twilio", "(callee hung up)"))
            raise CallOver("callee")
        if isinstance(reply, Silence):
            self.result.transcript.append(TranscriptLine("twilio", "(silence)"))
            return False
        if isinstance(reply, Press):
            self.result.transcript.append(TranscriptLine("callee", f"(pressed {reply.digit})"))
            await caller.press(reply.digit)
            return False
        if isinstance(reply, Partial):
            await caller.prompt(reply.text, last=False)
            return True
        if reply.interrupts:
            await caller.interrupt()
        if reply.pause_before_s > 0:
            await self._unless_ended(self.options.sleep(reply.pause_before_s))
            self._vt += reply.pause_before_s
        self.result.callee_said.append(reply.text)
        self.result.transcript.append(TranscriptLine("callee", reply.text))
        await self._elapse(speaking_s(reply.text))
        await caller.say(reply.text, partials=reply.partials)
        return reply.more
