"""The TwiML interpreter of the call player: `<Say>`, `<Pause>`, `<Gather>`, `<Record>`...

A mixin of `CallPlayer` (services/devtools/call_player.py): it plays a TwiML document
verb by verb in virtual time, asks the callee at every listen, and follows `<Gather>`
actions and `<Redirect>`s to the next document until the call is over.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import xml.etree.ElementTree as ET
from collections.abc import Awaitable
from typing import Any, Literal
from urllib.parse import urljoin

from services.devtools.call_model import (
    MACHINE_DETECTION_S,
    SAY_NESTABLE,
    SCHEMA_VALIDATION,
    Callee,
    CallError,
    CallOver,
    CallResult,
    CallSpec,
    GatherContext,
    HangUp,
    Partial,
    PlayerOptions,
    Press,
    Reply,
    Silence,
    TranscriptLine,
    Utterance,
    end_of_speech_s,
    new_sid,
    recording_url,
    speaking_s,
)


class TwimlInterpreter:
    """Plays the service's TwiML for `CallPlayer`; raises `CallOver` when the call ends."""

    spec: CallSpec
    callee: Callee
    options: PlayerOptions
    result: CallResult
    _end: asyncio.Event
    _end_by: str | None
    _vt: float
    _answered_at: float | None
    _steps: int
    _heard_since_listen: list[str]
    _machine: bool

    def _step(self) -> None:
        if self._end.is_set():
            raise CallOver(self._end_by or "api")
        if self._answered_at is not None and self._vt - self._answered_at > self.spec.time_limit_s:
            self.result.notes.append(f"time limit of {self.spec.time_limit_s}s reached")
            raise CallOver("time-limit")
        self._steps += 1
        if self._steps > self.options.max_steps:
            self.result.errors.append(
                CallError(None, f"loop guard: more than {self.options.max_steps} steps")
            )
            raise CallOver("loop-guard")

    async def _unless_ended(self, awaitable: Awaitable[Any]) -> Any:
        """Await `awaitable` unless `end()` comes first (then raise CallOver)."""
        if self._end.is_set():
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise CallOver(self._end_by or "api")
        task = asyncio.ensure_future(awaitable)
        ender = asyncio.ensure_future(self._end.wait())
        try:
            await asyncio.wait({task, ender}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ender.cancel()
        if task.done():
            return task.result()
        task.cancel()
        raise CallOver(self._end_by or "api")

    async def _converse(self) -> None:
        if self.spec.twiml is not None:
            self._step()
            document = self._parse(self.spec.twiml, "inline TwiML")
            document_url = self.spec.answer_url or ""
        elif self.spec.answer_url:
            extra: dict[str, str] = {}
            if self.spec.amd and not self.spec.async_amd:
                extra["AnsweredBy"] = str(self.result.answered_by)
                extra["MachineDetectionDuration"] = str(int(MACHINE_DETECTION_S * 1000))
            document_url = self.spec.answer_url
            document = await self._fetch_twiml(
                "answer", document_url, self.spec.answer_method, extra
            )
        else:
            raise self._fail(None, "call has neither answer_url nor twiml")
        if self.spec.amd and self.spec.async_amd and self.spec.async_amd_status_callback_url:
            await self._async_amd()
        while True:
            document, document_url = await self._run_document(document, document_url)

    async def _async_amd(self) -> None:
        params = {
            "AccountSid": self.spec.account_sid,
            "CallSid": self.spec.sid,
            "AnsweredBy": str(self.result.answered_by),
            "MachineDetectionDuration": str(int(MACHINE_DETECTION_S * 1000)),
        }
        url = str(self.spec.async_amd_status_callback_url)
        self._check_callback_answer(await self._send("amd", url, "POST", params, virtual=False))

    async def _run_document(self, root: ET.Element, url: str) -> tuple[ET.Element, str]:
        """Play verbs in order; returns the next document, or raises CallOver at the end."""
        for verb in root:
            self._step()
            tag = verb.tag
            if tag == "Say":
                await self._say(verb)
            elif tag == "Pause":
                await self._pause(verb)
            elif tag == "Play":
                self._play(verb)
            elif tag == "Gather":
                found = await self._gather(verb, url)
                if found is not None:
                    return found
            elif tag == "Redirect":
                target = urljoin(url, (verb.text or "").strip()) or url
                method = verb.get("method", "POST")
                return await self._fetch_twiml("redirect", target, method), target
            elif tag == "Record":
                found = await self._record(verb, url)
                if found is not None:
                    return found
            elif tag == "Connect":
                found = await self._connect(verb, url)
                if found is not None:
                    return found
            elif tag in ("Hangup", "Reject"):
                if tag == "Reject":
                    self.result.notes.append("<Reject> on an answered outbound call: hung up")
                raise CallOver("service")
            else:
                raise self._fail(SCHEMA_VALIDATION, f"verb <{tag}> is not emulated", url)
        raise CallOver("service")  # end of the document: Twilio hangs up

    async def _say(self, verb: ET.Element) -> None:
        text = " ".join("".join(verb.itertext()).split())
        if not text:
            self.result.notes.append("empty <Say> skipped")
            return
        try:
            loops = int(verb.get("loop", "1"))
        except ValueError:
            loops = 1
        for _ in range(max(1, min(loops, 10))):  # loop="0" repeats "forever": play once
            self.result.said.append(text)
            self.result.transcript.append(TranscriptLine("service", text))
            self._heard_since_listen.append(text)
            await self._elapse(speaking_s(text))
            await self.callee.hear(text)

    async def _pause(self, verb: ET.Element) -> None:
        try:
            length = max(0, int(verb.get("length", "1")))
        except ValueError:
            length = 1
        await self._elapse(length)

    async def _elapse(self, seconds: float) -> None:
        """Call time passes: virtual always, real too when the options set a pace."""
        self._vt += seconds
        if self.options.pace > 0 and seconds > 0:
            await self._unless_ended(self.options.sleep(seconds * self.options.pace))

    def _play(self, verb: ET.Element) -> None:
        self.result.notes.append(f"<Play> {(verb.text or '').strip()} not heard by the callee")

    def _context(
        self, kind: Literal["gather", "record"], verb: ET.Element, action: str
    ) -> GatherContext:
        def seconds(name: str, default: int) -> int:
            try:
                return int(verb.get(name, str(default)))
            except ValueError:
                return default

        timeout = seconds("timeout", 5)
        ctx = GatherContext(
            call_sid=self.spec.sid,
            kind=kind,
            index=self.result.gathers,
            prompt=" ".join(self._heard_since_listen),
            timeout_s=timeout,
            speech_timeout=verb.get("speechTimeout", str(timeout)),
            input=verb.get("input", "dtmf") if kind == "gather" else "speech",
            action_url=action,
            elapsed_s=self._vt - (self._answered_at or 0.0),
            language=verb.get("language", "en-US"),
            hints=verb.get("hints", ""),
        )
        self.result.gathers += 1
        self._heard_since_listen = []
        return ctx

    async def _connect(self, verb: ET.Element, url: str) -> tuple[ET.Element, str] | None:
        raise NotImplementedError  # RelayInterpreter plays <Connect><ConversationRelay>

    async def _listen(self, ctx: GatherContext) -> Reply:
        reply: Any = await self._unless_ended(self.callee.respond(ctx))
        while isinstance(reply, Partial):  # interim speech: a Gather waits for the whole
            reply = await self._unless_ended(self.callee.respond(ctx))
        if isinstance(reply, Press):
            if ctx.kind == "gather" and "dtmf" in ctx.input.split():
                return reply  # posted as Digits (see _gather)
            self.result.notes.append(f"key {reply.digit} pressed at a <{ctx.kind}> without dtmf")
            reply = Silence()
        if isinstance(reply, str):
            reply = Utterance(reply)
        if reply is None:
            reply = Silence()
        if not isinstance(reply, Utterance | Silence | HangUp):
            raise TypeError(f"respond() must return Utterance, Silence, Press or HangUp: {reply!r}")
        if self._machine and isinstance(reply, Utterance):
            return Silence()  # an answering machine does not talk back
        if isinstance(reply, Utterance) and not reply.text.strip():
            return Silence()
        return reply

    async def _speech(self, reply: Utterance, ctx: GatherContext) -> bool:
        """Wait the callee's pause; False when speech began too late to be heard."""
        if reply.pause_before_s > 0:
            await self._unless_ended(self.options.sleep(reply.pause_before_s))
            self._vt += reply.pause_before_s
        if reply.pause_before_s >= ctx.timeout_s:
            self.result.notes.append(
                f"speech {reply.text!r} began after the {ctx.timeout_s}s timeout: lost"
            )
            return False
        self.result.callee_said.append(reply.text)
        self.result.transcript.append(TranscriptLine("callee", reply.text))
        await self._elapse(speaking_s(reply.text))
        if ctx.kind == "gather":  # Twilio posts the result once the caller has paused this long
            await self._elapse(end_of_speech_s(ctx.speech_timeout, ctx.timeout_s))
        return True

    async def _gather(self, verb: ET.Element, url: str) -> tuple[ET.Element, str] | None:
        action = urljoin(url, verb.get("action", "")) or url
        method = verb.get("method", "POST")
        for child in verb:
            if child.tag not in SAY_NESTABLE:
                raise self._fail(
                    SCHEMA_VALIDATION, f"<{child.tag}> cannot be nested in <Gather>", url
                )
            self._step()
            if child.tag == "Say":
                await self._say(child)
            elif child.tag == "Pause":
                await self._pause(child)
            else:
                self._play(child)
        ctx = self._context("gather", verb, action)
        reply = await self._listen(ctx)
        if isinstance(reply, HangUp):
            self.result.transcript.append(TranscriptLine("twilio", "(callee hung up)"))
            raise CallOver("callee")
        if isinstance(reply, Press) and (digits := self._digits(reply, verb)):
            self.result.transcript.append(TranscriptLine("callee", f"(pressed {reply.digit})"))
            await self._elapse(0.5)
            return await self._fetch_twiml("gather", action, method, {"Digits": digits}), action
        heard = False
        if isinstance(reply, Utterance):
            if "speech" not in ctx.input.split():
                self.result.notes.append(f"speech {reply.text!r} to a Gather without speech input")
            else:
                heard = await self._speech(reply, ctx)
        if heard:
            assert isinstance(reply, Utterance)
            confidence = self.options.confidence if reply.confidence is None else reply.confidence
            extra = {"SpeechResult": reply.text, "Confidence": str(confidence)}
            return await self._fetch_twiml("gather", action, method, extra), action
        self._vt += ctx.timeout_s
        self.result.transcript.append(TranscriptLine("twilio", "(silence)"))
        if verb.get("actionOnEmptyResult", "false").lower() == "true":
            return await self._fetch_twiml("gather", action, method), action
        return None  # Twilio falls through to the next verb

    @staticmethod
    def _digits(reply: Press, verb: ET.Element) -> str:
        """The digits a `<Gather>` posts for a key: none for its `finishOnKey` (default `#`;
        "" means none), which ends the Gather with nothing entered. One key is one digit, so
        `numDigits` (1 here) needs no cutting."""
        return "" if reply.digit == verb.get("finishOnKey", "#") else reply.digit

    async def _record(self, verb: ET.Element, url: str) -> tuple[ET.Element, str] | None:
        action = urljoin(url, verb.get("action", "")) or url
        method = verb.get("method", "POST")
        ctx = self._context("record", verb, action)
        reply = await self._listen(ctx)
        if isinstance(reply, HangUp):
            raise CallOver("callee")
        if not isinstance(reply, Utterance) or not await self._speech(reply, ctx):
            self._vt += ctx.timeout_s
            return None  # nothing recorded: Twilio skips the action and carries on
        sid = new_sid("RE")
        extra = {
            "RecordingSid": sid,
            "RecordingUrl": recording_url(self.spec.account_sid, sid),
            "RecordingDuration": str(math.ceil(speaking_s(reply.text))),
        }
        return await self._fetch_twiml("record", action, method, extra), action
