"""One ConversationRelay session: the caller's turns in order, the syncs' replies as tokens.

Messages are handled one at a time from a queue that the socket reader and the silence
timer both feed, so a call never has two turns in flight and the timer's silence cannot
overtake speech that arrived first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from services.webhooks.relay_events import LISTEN_PATHS, Message, read_message
from services.webhooks.turns import APOLOGY, Turns

if TYPE_CHECKING:
    from services.webhooks.relay import RelaySettings

__all__ = ["ACKNOWLEDGEMENT", "RelaySession", "handoff_data"]

log = logging.getLogger("services.webhooks.relay")

ACKNOWLEDGEMENT = "Mm-hm."
MAX_FRAME_CHARS = 64 * 1024  # Twilio's messages are small; a larger frame is not Twilio
CLOSE_WAIT_S = 5.0  # after our end, how long Twilio may take to close the socket
SILENCE, PAUSE = Message("silence"), Message("pause")


def handoff_data(texts: Sequence[str]) -> str:
    """The ``handoffData`` of our ``end``: what the session-ended callback will say."""
    return json.dumps({"say": list(texts), "hangup": True})


class RelaySession:
    """The conversation of one call over its socket, from ``setup`` to ``end``."""

    def __init__(
        self,
        socket: WebSocket,
        turns: Turns,
        settings: RelaySettings,
        claim: Callable[[str], Awaitable[bool]],
        call: str | None,
    ) -> None:
        self.socket, self.turns, self.settings = socket, turns, settings
        self.claim, self.call = claim, call
        self.call_sid = ""
        self.listen = "answer"
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self.timer: asyncio.Task[None] | None = None
        self.pending_pause = 0.0  # the quiet the timer's event will report, in seconds
        self.over = False

    async def run(self) -> None:
        reader = asyncio.ensure_future(self._read())
        try:
            while not self.over:
                message = await self.queue.get()
                if message is None:
                    break
                await self.handle(message)
        finally:
            self._stop_timer()
            if self.over:  # our end went out: let Twilio close, then make sure it is closed
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(reader), CLOSE_WAIT_S)
            reader.cancel()
            await self._close(1000)

    async def _read(self) -> None:
        try:
            while True:
                raw = await self.socket.receive_text()
                if len(raw) > MAX_FRAME_CHARS:
                    log.warning("closed a ConversationRelay socket that sent an oversized frame")
                    await self._close(1009)
                    break
                await self.queue.put(read_message(raw))
        except (WebSocketDisconnect, RuntimeError, KeyError):
            pass  # closed by Twilio (the caller hung up, or after our end), or not text
        finally:
            await self.queue.put(None)

    async def handle(self, message: Message) -> None:
        if message.kind == "setup":
            await self._setup(message)
        elif not self.call_sid:
            log.warning("ConversationRelay message before setup; ignored")
        elif message.kind == "speech" and message.final:
            self._stop_timer()
            heard = "speech" if message.text.strip() else "silence"
            await self._turn({"heard": heard, "text": message.text}, self._speech_pause())
        elif message.kind in ("speech", "interrupted"):
            self._listen_after(0)  # the caller is speaking: the silence starts when they stop
        elif message.kind == "key":
            self._stop_timer()
            await self._turn({"heard": "key", "key": message.key, "text": ""}, 0.0)
        elif message.kind in ("silence", "pause"):
            heard = {"heard": message.kind, "text": ""}
            await self._turn(heard, self.pending_pause, acknowledge=False)
        elif message.kind == "error":
            log.warning("Twilio reported an error on a ConversationRelay session")
        else:
            log.info("ignored a ConversationRelay message of an unknown type")

    async def _setup(self, message: Message) -> None:
        if self.call_sid:
            return  # one setup per session
        if not message.call_sid or not await self.claim(message.call_sid):
            log.warning("refused a second ConversationRelay session for one call")
            self.over = True
            await self._close(1008)
            return
        self.call_sid = message.call_sid
        self.listen = message.parameters.get("listen") or "answer"
        if self.listen not in LISTEN_PATHS:
            self.listen = "answer"
        try:
            spoken = int(message.parameters.get("spokenWords") or 0)
        except ValueError:
            spoken = 0
        self._listen_after(spoken)  # the greeting and first prompt are being spoken

    def _speech_pause(self) -> float:
        return self.settings.speech_timeout_ms / 1000

    async def _turn(self, heard: dict[str, Any], pause: float, *, acknowledge: bool = True) -> None:
        body = {"callSid": self.call_sid, "call": self.call, **heard, "pauseSeconds": pause}
        path = LISTEN_PATHS[self.listen]
        task = asyncio.ensure_future(self.turns.run(path, body, is_turn=True, label="relay"))
        if acknowledge:
            done, _ = await asyncio.wait({task}, timeout=self.settings.ack_after_s)
            if not done:  # a slow verdict: keep the caller company instead of silence
                await self._send({"type": "text", "token": ACKNOWLEDGEMENT, "last": True})
        output = await task
        await self._reply(output, body)

    async def _reply(self, output: dict[str, Any] | None, body: dict[str, Any]) -> None:
        if output is None:
            self.turns.apologise(body, "relay")
            await self._end([APOLOGY])
            return
        texts = [t for t in output.get("say", []) if isinstance(t, str) and t]
        if output.get("hangup") or (texts and output.get("listen") not in LISTEN_PATHS):
            await self._end(texts)
        elif texts:  # a prompt (again, or the next): listen for its answer once it is heard
            self.listen = output["listen"]
            await self._say(texts)
            self._listen_after(sum(len(t.split()) for t in texts))
        elif body["heard"] in ("speech", "pause") and self.listen == "answer":
            self._judge_again_or_wait(body["pauseSeconds"])  # not finished yet: listen on
        else:
            self._listen_after(0, quiet_already=body["pauseSeconds"])

    async def _say(self, texts: Sequence[str]) -> None:
        """One utterance, streamed: each text is a token as soon as it is known."""
        for i, text in enumerate(texts):
            last = i == len(texts) - 1
            await self._send({"type": "text", "token": text if last else text + " ", "last": last})

    async def _end(self, texts: Sequence[str]) -> None:
        self.over = True
        self._stop_timer()
        await self._send({"type": "end", "handoffData": handoff_data(texts)})

    async def _send(self, message: dict[str, Any]) -> None:
        if self.socket.application_state != WebSocketState.CONNECTED:
            return
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self.socket.send_text(json.dumps(message))

    async def _close(self, code: int) -> None:
        if self.socket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await self.socket.close(code=code)

    def _listen_after(self, spoken_words: int, *, quiet_already: float | None = None) -> None:
        """Silence is due ``silence_s`` after the words being spoken have been heard; it
        reports the whole quiet wait, as a ``<Gather>`` timeout would."""
        wait = spoken_words / self.settings.words_per_second + self.settings.silence_s
        quiet = self._speech_pause() if quiet_already is None else quiet_already
        self._start_timer(wait, SILENCE, quiet + self.settings.silence_s)

    def _judge_again_or_wait(self, quiet: float) -> None:
        """An answer judged unfinished after a short pause is judged again once the caller
        has been quiet as long as a ``<Gather>`` waits (``recheck_pause_s``); after that,
        only silence moves on."""
        again = self.settings.recheck_pause_s
        if quiet < again:
            self._start_timer(again - quiet, PAUSE, again)
        else:
            self._listen_after(0, quiet_already=quiet)

    def _start_timer(self, wait: float, message: Message, pause: float) -> None:
        self._stop_timer()
        self.pending_pause = pause
        self.timer = asyncio.ensure_future(self._after(wait, message))

    async def _after(self, wait: float, message: Message) -> None:
        await asyncio.sleep(wait)
        self.timer = None
        await self.queue.put(message)

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
