"""What a phone reflection keeps of its call: the answers it heard and its transcript
when it ends, and the recording and its transcription, which arrive after the call."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from conceptkit import Change, Len, action, fail

from .rules import (
    ABANDONED,
    COMPLETED,
    IN_PROGRESS,
    MAX_PROMPTS,
    MAX_TRANSCRIPT_CHARS,
    CallAnswer,
    Closed,
    RecordingUrl,
    SessionId,
    check_https_url,
)


class CallRecords:
    """The call actions of ReflectionSession (a part of the concept, not a concept)."""

    services: dict[str, Any]
    store: Any
    _now: Any
    _seal: Any
    _open: Any
    _touch: Any
    _update: Any
    _touched: Any
    _require_phone: Any
    _require_status: Any
    _indexed: Any

    @action(private=("answers", "transcript"))
    async def closeCall(
        self,
        user: str,
        session: SessionId,
        answers: Annotated[list[CallAnswer], Len(0, MAX_PROMPTS)],
        transcript: Annotated[str, Len(0, MAX_TRANSCRIPT_CHARS)],
        reason: Annotated[str, Len(1, 200)],
        untouchedSince: dt.datetime | None = None,
    ) -> Closed:
        """The call of a phone reflection is over: keep everything it heard, then close it.

        The call's ``answers`` fill the prompts that have no recorded answer yet (so no
        answer is lost, whichever webhook or replay came first) and its transcript is
        stored. The reflection is COMPLETED if every prompt now has an answer, else
        ABANDONED with ``reason``, the answers kept. With ``untouchedSince`` (the reconciler),
        only if nothing has changed the reflection since (a new call may be continuing it)."""
        if len(transcript) > MAX_TRANSCRIPT_CHARS:
            return fail(f"a transcript is at most {MAX_TRANSCRIPT_CHARS} characters", "invalid")
        now = self._now()

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            problem = (
                self._require_phone(doc, "close a call")
                or self._require_status(doc, (IN_PROGRESS,), "close it")
                or (self._touched(doc, untouchedSince) if untouchedSince else None)
            )
            if problem:
                return problem
            responses = list(doc["responses"])
            have = {r["position"] for r in responses}
            count = len(doc["prompts"])
            for given in answers:
                position = given["position"]
                if 1 <= position <= count and position not in have:
                    sealed = self._seal(
                        given["text"].strip(), user, session, f"response.{position}"
                    )
                    responses.append(
                        {"position": position, "text": sealed, "startedAt": now, "finishedAt": now}
                    )
                    have.add(position)
            status = COMPLETED if len(have) >= count else ABANDONED
            sets = {
                "responses": sorted(responses, key=lambda r: r["position"]),
                "transcript": self._seal(transcript, user, session, "transcript"),
                "status": status,
                "endedAt": now,
                "touchedAt": now,
                "abandonReason": None if status == COMPLETED else reason.strip(),
                "reindexFor": user,  # the answers it filled are searchable
            }
            out = {"session": session, "user": user, "status": status, "endedAt": now}
            return Change(out, set=sets, unset=("activeFor", "openTs"))

        closed = await self.store("sessions").change(
            {"_id": session, "user": user}, decide, missing=fail("no such reflection", "not_found")
        )
        return await self._indexed(user, session, closed)

    @action(private=("transcript",))
    async def setTranscript(
        self,
        user: str,
        session: SessionId,
        transcript: Annotated[str, Len(0, MAX_TRANSCRIPT_CHARS)],
    ) -> dict[str, Any]:
        """Store (or replace) the call's transcript; phone reflections only, in any state,
        because the call's transcript is complete only when the call has ended."""
        if len(transcript) > MAX_TRANSCRIPT_CHARS:
            return fail(f"a transcript is at most {MAX_TRANSCRIPT_CHARS} characters", "invalid")

        def decide(doc: dict[str, Any]) -> dict[str, Any]:
            problem = self._require_phone(doc, "set a transcript")
            if problem:
                return problem
            return {"$set": {"transcript": self._seal(transcript, user, session, "transcript")}}

        return await self._update(user, session, decide)

    async def _attach_once(
        self, user: str, session: str, field: str, value: str, what: str
    ) -> dict[str, Any]:
        """Attach a value that arrives once, possibly after the call ended: the first one
        wins. Delivering the same value again succeeds and writes nothing (webhooks are
        retried and replayed); a different one is a conflict."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            problem = self._require_phone(doc, f"attach a {what}")
            if problem:
                return problem
            existing = self._open(doc.get(field), user, session, field)
            if existing is not None:
                if existing == value:
                    return {}  # not a Change: the reflection is left exactly as it was
                return fail(f"this reflection already has a {what}", "conflict")
            ended = doc["status"] != IN_PROGRESS
            sealed = {field: self._seal(value, user, session, field), **self._touch(ended)}
            return Change({}, set=sealed)

        return await self.store("sessions").change(
            {"_id": session, "user": user}, decide, missing=fail("no such reflection", "not_found")
        )

    @action(private=("recordingUrl",))
    async def attachRecording(
        self, user: str, session: SessionId, recordingUrl: RecordingUrl
    ) -> dict[str, Any]:
        """Attach the call recording's https URL; phone reflections only, also after the
        reflection completed or was abandoned (the recording arrives after the call ends)."""
        problem = check_https_url(recordingUrl)
        if problem:
            return fail(problem, "invalid")
        return await self._attach_once(user, session, "recordingUrl", recordingUrl, "recording")

    @action(private=("text",))
    async def attachTranscription(
        self, user: str, session: SessionId, text: Annotated[str, Len(0, MAX_TRANSCRIPT_CHARS)]
    ) -> dict[str, Any]:
        """Attach the transcription of the recording; phone reflections only, also after the end."""
        if len(text) > MAX_TRANSCRIPT_CHARS:
            return fail(f"a transcription is at most {MAX_TRANSCRIPT_CHARS} characters", "invalid")
        return await self._attach_once(user, session, "transcriptionText", text, "transcription")
