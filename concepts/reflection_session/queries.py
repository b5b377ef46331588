"""What ReflectionSession tells: a user's history, one reflection in full, the one in
progress, and what the reconciler and the call syncs look up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

from conceptkit import NO_MARKS, Range, query

from .rules import CallRef, Method, SessionId, Status, missing_positions


class SessionQueries:
    """The queries of ReflectionSession (a part of the concept, not a concept)."""

    collection: Any
    _open: Any
    _prompt: Any
    _find: Any

    def _qa(self, doc: Mapping[str, Any], *, times: bool = False) -> list[dict[str, Any]]:
        """Prompts with their answers: ``answer`` is None when none was recorded, "" when the
        prompt was recorded as unanswered; an edited answer also has ``editedAt`` and
        ``original``."""
        user, session = doc["user"], doc["_id"]
        by_position = {r["position"]: r for r in doc.get("responses", [])}
        rows = []
        for prompt in doc["prompts"]:
            response = by_position.get(prompt["position"])
            answer = None
            if response is not None:
                answer = self._open(
                    response["text"], user, session, f"response.{prompt['position']}"
                )
            text = self._prompt(doc, prompt)
            row = {"position": prompt["position"], "text": text, "answer": answer}
            if response is not None and "editedAt" in response:
                # edited afterwards (editAnswer): when, and the answer first recorded (None:
                # the prompt had none); only on such rows, so the others read as before
                row["editedAt"] = response["editedAt"]
                row["original"] = self._open(
                    response.get("original"), user, session, f"original.{prompt['position']}"
                )
            if times:
                row["startedAt"] = response["startedAt"] if response else None
                row["finishedAt"] = response["finishedAt"] if response else None
            rows.append(row)
        return rows

    def _summary(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        # whether there is a recording, not its URL: the provider's URL is for the service to
        # fetch with its own credentials (_recordingUrl), never for the user's browser
        return {
            "session": doc["_id"],
            "method": doc["method"],
            "status": doc["status"],
            "startedAt": doc["startedAt"],
            "endedAt": doc.get("endedAt"),
            "callRef": doc.get("callRef"),
            "abandonReason": doc.get("abandonReason"),
            "rating": doc.get("rating"),
            "prompts": self._qa(doc),
            "hasRecording": doc.get("recordingUrl") is not None,
        }

    @query(private=("prompts",))
    async def _history(
        self,
        user: str,
        limit: Annotated[int, Range(1, 100)] = 30,
        before: SessionId | None = None,
    ) -> list[dict[str, Any]]:
        """The user's reflections, newest first, with prompts and answers; page with
        ``before`` = the last session id of the previous page."""
        filt: dict[str, Any] = {"user": user}
        if before is not None:
            filt["_id"] = {"$lt": before}
        docs = self.collection("sessions").find(filt, NO_MARKS).sort("_id", -1).limit(limit)
        return [self._summary(d) async for d in docs]

    @query(private=("prompts", "transcript", "transcriptionText"))
    async def _session(self, user: str, session: SessionId) -> list[dict[str, Any]]:
        """One reflection of the user in full (answer times, transcript, transcription, reason)."""
        doc = await self._find(user, session)
        if doc is None:
            return []
        out = self._summary(doc)
        out["prompts"] = self._qa(doc, times=True)
        out["callRef"] = doc.get("callRef")
        out["abandonReason"] = doc.get("abandonReason")
        out["transcript"] = self._open(doc.get("transcript"), user, session, "transcript")
        out["transcriptionText"] = self._open(
            doc.get("transcriptionText"), user, session, "transcriptionText"
        )
        return [out]

    @query(private=("recordingUrl",))
    async def _recordingUrl(self, user: str, session: SessionId) -> list[dict[str, Any]]:
        """Internal (the recording route): the provider's URL of the recording of one of
        the user's reflections, to fetch it with the service's credentials; no row
        without one. Never exposed: the browser gets the audio, not the URL."""
        doc = await self._find(user, session)
        url = (
            None
            if doc is None
            else self._open(doc.get("recordingUrl"), user, session, "recordingUrl")
        )
        return [] if url is None else [{"recordingUrl": url}]

    @query(private=("prompts",))
    async def _active(self, user: str) -> list[dict[str, Any]]:
        """The user's reflection in progress, if any: its prompts, answers so far, and
        ``nextPosition`` (the first prompt without an answer, or None when all have one)."""
        doc = await self.collection("sessions").find_one(
            {"activeFor": user, "user": user}, NO_MARKS
        )
        if doc is None:
            return []
        missing = missing_positions(doc)
        return [
            {
                "session": doc["_id"],
                "method": doc["method"],
                "callRef": doc.get("callRef"),
                "startedAt": doc["startedAt"],
                "prompts": self._qa(doc),
                "nextPosition": missing[0] if missing else None,
            }
        ]

    @query
    async def _untouched(
        self, method: Method, before: dt.datetime, limit: Annotated[int, Range(1, 500)] = 100
    ) -> list[dict[str, Any]]:
        """Internal (reconciler): reflections in progress by ``method`` not changed since
        ``before``, oldest first."""
        docs = (
            self.collection("sessions")
            .find(
                {"openTs": {"$lt": before.timestamp()}},
                {"user": 1, "callRef": 1, "touchedAt": 1, "startedAt": 1, "method": 1},
            )
            .limit(5 * limit)
        )
        rows = [
            {
                "user": d["user"],
                "session": d["_id"],
                "callRef": d.get("callRef"),
                "at": d.get("touchedAt") or d["startedAt"],
            }
            async for d in docs
            if d["method"] == method
        ]
        return sorted(rows, key=lambda r: r["at"])[:limit]

    @query
    async def _byCallRef(
        self, user: str, callRef: CallRef, status: Status | None = None
    ) -> list[dict[str, Any]]:
        """The user's reflections started for a scheduled call, newest first, each with its
        status (optionally only those with ``status``): a retried call can have an
        abandoned reflection and a later one, so never take the first row blindly."""
        filt: dict[str, Any] = {"user": user, "callRef": callRef}
        if status is not None:
            filt["status"] = status
        docs = self.collection("sessions").find(filt).sort("_id", -1)
        return [
            {
                "session": d["_id"],
                "status": d["status"],
                "method": d["method"],
                "startedAt": d["startedAt"],
                "endedAt": d.get("endedAt"),
            }
            async for d in docs
        ]
