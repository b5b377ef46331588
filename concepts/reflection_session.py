"""ReflectionSession: one daily reflection, spoken on a call or typed in the web app."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypedDict
from urllib.parse import urlsplit

from conceptkit import NO_MARKS, Change, Concept, Doc, Len, Pattern, Range, action, fail, query

IN_PROGRESS, COMPLETED, ABANDONED = "IN_PROGRESS", "COMPLETED", "ABANDONED"
PHONE, TEXT = "PHONE", "TEXT"
MAX_PROMPTS = 5
MAX_PROMPT_CHARS = 300
MAX_ANSWER_CHARS = 10_000
MAX_TRANSCRIPT_CHARS = 200_000
MAX_URL_CHARS = 2_000

Method = Literal["PHONE", "TEXT"]
Status = Literal["IN_PROGRESS", "COMPLETED", "ABANDONED"]
SessionId = Annotated[str, Len(1, 64), Doc("a session id returned by startSession")]
CallRef = Annotated[str, Len(1, 200), Doc("opaque reference to the scheduled call")]
PromptList = Annotated[
    list[Annotated[str, Len(1, MAX_PROMPT_CHARS)]],
    Len(1, MAX_PROMPTS),
    Doc("1-5 questions, each non-blank and at most 300 characters, in the order asked"),
]
Position = Annotated[int, Range(1, MAX_PROMPTS), Doc("1-based position of the prompt")]
AnswerText = Annotated[
    str,
    Len(0, MAX_ANSWER_CHARS),
    Doc("the answer; empty (or only whitespace) records that the prompt got no answer"),
]
RecordingUrl = Annotated[
    str, Len(1, MAX_URL_CHARS), Pattern(r"https://\S+"), Doc("an https URL of the recording")
]
Rating = Annotated[int, Range(-2, 2), Doc("-2 (very bad) to 2 (very good)")]


class Started(TypedDict):
    session: str
    prompts: list[str]  # the prompts to ask, in order
    positions: list[int]  # their positions in the reflection
    resumed: bool  # a reflection in progress was continued


class CallAnswer(TypedDict):
    position: Position
    text: AnswerText


class Closed(TypedDict):
    session: str
    user: str
    status: Status
    endedAt: dt.datetime


# -- pure rules -----------------------------------------------------------------------


def check_session_prompts(prompts: Any) -> tuple[list[str], str | None]:
    """The prompts trimmed, or what is wrong: 1-5 strings, non-blank, at most 300 characters."""
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        return [], "prompts must be a list of strings"
    if not 1 <= len(prompts) <= MAX_PROMPTS:
        return [], f"a reflection has 1 to {MAX_PROMPTS} prompts, not {len(prompts)}"
    cleaned = [p.strip() for p in prompts]
    for position, text in enumerate(cleaned, start=1):
        if not text:
            return [], f"prompt {position} is blank"
        if len(text) > MAX_PROMPT_CHARS:
            return [], f"prompt {position} is longer than {MAX_PROMPT_CHARS} characters"
    return cleaned, None


def check_https_url(url: Any) -> str | None:
    """None if ``url`` is an absolute https URL with a host and no credentials; else why not."""
    if not isinstance(url, str) or not 1 <= len(url) <= MAX_URL_CHARS:
        return f"the recording URL must be 1 to {MAX_URL_CHARS} characters"
    if re.search(r"[\s\x00-\x1f\x7f]", url):
        return "the recording URL must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "the recording URL is malformed"
    if parts.scheme.lower() != "https":
        return "the recording URL must use https"
    if not host:
        return "the recording URL has no host"
    if parts.username is not None or parts.password is not None:
        return "the recording URL must not carry credentials"
    return None


def _touched(doc: Mapping[str, Any], since: dt.datetime) -> dict[str, Any] | None:
    """A failure if the reflection changed after ``since`` (when it was last seen idle)."""
    if (doc.get("touchedAt") or doc["startedAt"]) != since:
        return fail("the reflection changed since it was found idle", "conflict")
    return None


def _missing_positions(doc: Mapping[str, Any]) -> list[int]:
    answered = {r["position"] for r in doc.get("responses", [])}
    return [p["position"] for p in doc["prompts"] if p["position"] not in answered]


# -- the concept ----------------------------------------------------------------------


class ReflectionSession(Concept):
    """Holds one reflection: the prompts it asks, the user's answers to each, how the user
    rated the day, and for a phone reflection its transcript and recording, all answers
    and recordings encrypted for their owner.

    Principle: ``startSession(u, "PHONE", ["What went well?", "What next?"])`` gives a
    session; after ``recordResponse`` for positions 1 and 2 (an empty text where the
    caller said nothing), ``completeSession`` completes it and ``_history(u)`` shows the
    two prompts with their answers, newest reflection first. The recording, which only
    arrives after the call has ended, can still be attached to the completed session.
    Only one reflection per user is in progress at a time.
    """

    uses = ("clock", "encryption")

    async def setup(self) -> None:
        sessions = self.collection("sessions")
        # Present only while IN_PROGRESS (removed, never set to null, when it ends): the
        # unique sparse index is what makes "one session in progress per user" atomic.
        await sessions.create_index("activeFor", unique=True, sparse=True)
        # Not (user, _id): nx-27017 rejects every insert into a collection with a compound
        # index that includes _id. History sorts by _id within the user's sessions.
        await sessions.create_index("user")
        await sessions.create_index([("user", 1), ("callRef", 1)])
        # While in progress: when it was last touched, as an epoch float (range scans on
        # floats are fast on the embedded server), for the reconciler's idle search.
        await sessions.create_index("openTs", sparse=True)
        async for doc in sessions.find(
            {"activeFor": {"$exists": True}, "openTs": {"$exists": False}},
            {"touchedAt": 1, "startedAt": 1},
        ):  # reflections in progress across the upgrade that added it
            at = doc.get("touchedAt") or doc["startedAt"]
            await sessions.update_one({"_id": doc["_id"]}, {"$set": {"openTs": at.timestamp()}})

    # -- helpers ------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return self.services["clock"].now()

    def _seal(self, text: str, user: str, session: str, field: str) -> str:
        return self.services["encryption"].encrypt(
            text, user=user, field=f"ReflectionSession.{field}.{session}"
        )

    def _open(self, token: str | None, user: str, session: str, field: str) -> str | None:
        return self.services["encryption"].decrypt_optional(
            token, user=user, field=f"ReflectionSession.{field}.{session}"
        )

    def _prompt(self, doc: Mapping[str, Any], prompt: Mapping[str, Any]) -> str | None:
        """A prompt's text (a snapshot, encrypted like the answers)."""
        return self._open(prompt["text"], doc["user"], doc["_id"], f"prompt.{prompt['position']}")

    async def _find(self, user: str, session: str) -> dict[str, Any] | None:
        return await self.collection("sessions").find_one({"_id": session, "user": user}, NO_MARKS)

    async def _update(
        self,
        user: str,
        session: str,
        decide: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> dict[str, Any]:
        """Read the session, let ``decide`` return a failure or the update to make
        (``{"$set": ..., "$unset": ...}``, or ``{}`` for none), and write it only if nobody
        changed the session meanwhile (conceptkit's compare-and-set, with the action's mark)."""

        def decided(doc: dict[str, Any]) -> Change | dict[str, Any]:
            change = decide(doc)
            if "error" in change:
                return change
            unset = tuple(change.get("$unset", {}))
            ended = doc["status"] != IN_PROGRESS or "activeFor" in unset
            return Change({}, set={**change.get("$set", {}), **self._touch(ended)}, unset=unset)

        return await self.store("sessions").change(
            {"_id": session, "user": user}, decided, missing=fail("no such reflection", "not_found")
        )

    def _touch(self, ended: bool = False) -> dict[str, Any]:
        """``touchedAt`` now, and ``openTs`` while the reflection stays in progress."""
        now = self._now()
        return {"touchedAt": now} if ended else {"touchedAt": now, "openTs": now.timestamp()}

    @staticmethod
    def _require_status(
        doc: Mapping[str, Any], allowed: tuple[str, ...], doing: str
    ) -> dict[str, Any] | None:
        if doc["status"] in allowed:
            return None
        return fail(
            f"cannot {doing}: the reflection is {doc['status'].lower().replace('_', ' ')}",
            "conflict",
        )

    @staticmethod
    def _require_phone(doc: Mapping[str, Any], doing: str) -> dict[str, Any] | None:
        if doc["method"] == PHONE:
            return None
        return fail(f"cannot {doing}: only a phone reflection has one", "conflict")

    # -- actions ------------------------------------------------------------------------

    @action(private=("prompts",))
    async def startSession(
        self, user: str, method: Method, prompts: PromptList, callRef: CallRef | None = None
    ) -> Started:
        """Start a reflection that asks ``prompts`` (a snapshot: later prompt edits do not
        change it); fails if the user already has one in progress.

        A phone call continues the user's reflection in progress instead (one begun by
        typing, say): it becomes a phone reflection, and the call asks only the prompts
        still unanswered. Outputs the prompts to ask and their positions."""
        if method not in (PHONE, TEXT):
            return fail("method must be PHONE or TEXT", "invalid")
        cleaned, problem = check_session_prompts(prompts)
        if problem:
            return fail(problem, "invalid")
        store = self.store("sessions")
        done = await store.recorded({"user": user})
        if done is not None:
            return done  # a replay: what this start returned
        if callRef is not None:
            if not isinstance(callRef, str) or not callRef.strip():
                return fail("callRef must be a non-blank string", "invalid")
            finished = await self.collection("sessions").find_one(
                {"user": user, "callRef": callRef, "status": COMPLETED}, {"_id": 1}
            )
            if finished is not None:
                return fail("this call already has a completed reflection", "conflict")
        session = self.new_id()
        now = self._now()
        started = {
            "session": session,
            "prompts": cleaned,
            "positions": list(range(1, len(cleaned) + 1)),
            "resumed": False,
        }
        created = await store.create(
            {
                "_id": session,
                "user": user,
                "activeFor": user,
                "method": method,
                "callRef": callRef,
                "prompts": [
                    {"position": i, "text": self._seal(t, user, session, f"prompt.{i}")}
                    for i, t in enumerate(cleaned, 1)
                ],
                "responses": [],
                "rating": None,
                "transcript": None,
                "recordingUrl": None,
                "transcriptionText": None,
                "status": IN_PROGRESS,
                "abandonReason": None,
                "startedAt": now,
                "touchedAt": now,
                "openTs": now.timestamp(),
                "endedAt": None,
                "version": 0,
            },
            started,
        )
        if created is not None:
            return created
        if method != PHONE:
            return fail("you already have a reflection in progress", "conflict")
        return await self._continue_by_phone(user, callRef)

    async def _continue_by_phone(self, user: str, callRef: str | None) -> dict[str, Any]:
        """The reflection in progress goes on as a phone reflection: the call asks what is left."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            missing = _missing_positions(doc)
            if not missing:
                return fail("your reflection in progress already has every answer", "conflict")
            texts = {p["position"]: self._prompt(doc, p) for p in doc["prompts"]}
            out = {
                "session": doc["_id"],
                "prompts": [texts[p] for p in missing],
                "positions": missing,
                "resumed": True,
            }
            changes = {
                "method": PHONE,
                "callRef": callRef,
                "continuedFrom": doc["method"],
                **self._touch(),
            }
            return Change(out, set=changes)

        return await self.store("sessions").change(
            {"activeFor": user},
            decide,
            missing=fail("you already have a reflection in progress", "conflict"),
        )

    @action(private=("text",))
    async def recordResponse(
        self,
        user: str,
        session: SessionId,
        position: Position,
        text: AnswerText,
        startedAt: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """Record the answer to the prompt at ``position``, once per prompt, while in progress.

        Whitespace around the answer is removed; an empty answer means "no answer" (a
        prompt skipped on the phone or left blank in the web app) and still counts as
        recorded. ``startedAt`` is when the prompt was asked (default: now).
        """
        if len(text) > MAX_ANSWER_CHARS:
            return fail(f"an answer is at most {MAX_ANSWER_CHARS} characters", "invalid")
        now = self._now()
        asked = startedAt or now
        if asked.tzinfo is None:
            return fail("startedAt must include a UTC offset", "invalid")
        if asked > now:
            return fail("startedAt is in the future", "invalid")
        answer = text.strip()

        def decide(doc: dict[str, Any]) -> dict[str, Any]:
            problem = self._require_status(doc, (IN_PROGRESS,), "record an answer")
            if problem:
                return problem
            count = len(doc["prompts"])
            if not 1 <= position <= count:
                return fail(
                    f"position {position} is out of range: this reflection has {count} prompt(s)",
                    "invalid",
                )
            if any(r["position"] == position for r in doc["responses"]):
                return fail(f"prompt {position} already has an answer", "conflict")
            if asked < doc["startedAt"]:
                return fail("startedAt is before the reflection started", "invalid")
            response = {
                "position": position,
                "text": self._seal(answer, user, session, f"response.{position}"),
                "startedAt": asked,
                "finishedAt": now,
            }
            responses = sorted([*doc["responses"], response], key=lambda r: r["position"])
            return {"$set": {"responses": responses}}

        return await self._update(user, session, decide)

    @action
    async def setRating(self, user: str, session: SessionId, rating: Rating) -> dict[str, Any]:
        """Rate the day from -2 to 2, while the reflection is in progress or after it completed."""
        if not isinstance(rating, int) or isinstance(rating, bool) or not -2 <= rating <= 2:
            return fail("a rating is an integer from -2 to 2", "invalid")

        def decide(doc: dict[str, Any]) -> dict[str, Any]:
            problem = self._require_status(doc, (IN_PROGRESS, COMPLETED), "rate it")
            return problem or {"$set": {"rating": rating}}

        return await self._update(user, session, decide)

    @action
    async def completeSession(self, user: str, session: SessionId) -> dict[str, Any]:
        """Complete the reflection; every prompt must have a recorded answer (possibly empty)."""

        def decide(doc: dict[str, Any]) -> dict[str, Any]:
            problem = self._require_status(doc, (IN_PROGRESS,), "complete it")
            if problem:
                return problem
            missing = _missing_positions(doc)
            if missing:
                listed = ", ".join(str(p) for p in missing)
                return fail(f"no answer recorded yet for prompt(s) {listed}", "conflict")
            return {
                "$set": {"status": COMPLETED, "endedAt": self._now()},
                "$unset": {"activeFor": "", "openTs": ""},
            }

        return await self._update(user, session, decide)

    @action
    async def abandonSession(
        self, user: str, session: SessionId, reason: Annotated[str, Len(1, 200)]
    ) -> dict[str, Any]:
        """End an unfinished reflection (hang-up, no answer, the user gave up); the answers
        recorded so far are kept. ``reason`` is a short operational note, not personal text."""
        if not reason.strip():
            return fail("give a reason", "invalid")

        def decide(doc: dict[str, Any]) -> dict[str, Any]:
            problem = self._require_status(doc, (IN_PROGRESS,), "abandon it")
            if problem:
                return problem
            return {
                "$set": {
                    "status": ABANDONED,
                    "endedAt": self._now(),
                    "abandonReason": reason.strip(),
                },
                "$unset": {"activeFor": "", "openTs": ""},
            }

        return await self._update(user, session, decide)

    @action
    async def abandonUntouched(
        self,
        user: str,
        session: SessionId,
        untouchedSince: dt.datetime,
        reason: Annotated[str, Len(1, 200)],
    ) -> dict[str, Any]:
        """Internal (reconciler): abandon a reflection left in progress, answers kept, but only
        if nothing has changed it since ``untouchedSince`` (the user may be back at it)."""

        def decide(doc: dict[str, Any]) -> dict[str, Any]:
            problem = self._require_status(doc, (IN_PROGRESS,), "abandon it") or _touched(
                doc, untouchedSince
            )
            if problem:
                return problem
            sets = {"status": ABANDONED, "endedAt": self._now(), "abandonReason": reason}
            return {"$set": sets, "$unset": {"activeFor": "", "openTs": ""}}

        return await self._update(user, session, decide)

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
                or (_touched(doc, untouchedSince) if untouchedSince else None)
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
            }
            out = {"session": session, "user": user, "status": status, "endedAt": now}
            return Change(out, set=sets, unset=("activeFor", "openTs"))

        return await self.store("sessions").change(
            {"_id": session, "user": user}, decide, missing=fail("no such reflection", "not_found")
        )

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

    @action
    async def deleteAllFor(self, user: str) -> dict[str, Any]:
        """Delete every reflection of the user, with its answers, transcript and recording URL."""
        res = await self.collection("sessions").delete_many({"user": user})
        return {"deleted": res.deleted_count}

    # -- queries ------------------------------------------------------------------------

    def _qa(self, doc: Mapping[str, Any], *, times: bool = False) -> list[dict[str, Any]]:
        """Prompts with their answers: ``answer`` is None when none was recorded, "" when the
        prompt was recorded as unanswered."""
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
            if times:
                row["startedAt"] = response["startedAt"] if response else None
                row["finishedAt"] = response["finishedAt"] if response else None
            rows.append(row)
        return rows

    def _summary(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        recording = self._open(doc.get("recordingUrl"), doc["user"], doc["_id"], "recordingUrl")
        return {
            "session": doc["_id"],
            "method": doc["method"],
            "status": doc["status"],
            "startedAt": doc["startedAt"],
            "endedAt": doc.get("endedAt"),
            "rating": doc.get("rating"),
            "prompts": self._qa(doc),
            "hasRecording": recording is not None,
            "recordingUrl": recording,
        }

    @query(private=("prompts", "recordingUrl"))
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

    @query(private=("prompts", "recordingUrl", "transcript", "transcriptionText"))
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

    @query(private=("prompts",))
    async def _active(self, user: str) -> list[dict[str, Any]]:
        """The user's reflection in progress, if any: its prompts, answers so far, and
        ``nextPosition`` (the first prompt without an answer, or None when all have one)."""
        doc = await self.collection("sessions").find_one(
            {"activeFor": user, "user": user}, NO_MARKS
        )
        if doc is None:
            return []
        missing = _missing_positions(doc)
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
