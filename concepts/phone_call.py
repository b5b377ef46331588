"""PhoneCall: one phone conversation, keyed by Twilio's CallSid.

Spec: docs/concepts/PhoneCall.md. A call walks INITIATED -> CONNECTED ->
IN_PROGRESS -> COMPLETED and may end early as ABANDONED, FAILED, NO_ANSWER,
BUSY or VOICEMAIL from any non-terminal state; terminal states are final.

Atomicity: every change is a compare-and-set on the document's ``version``
(conceptkit's ``Store.change``: read, decide, write if unchanged; a lost race
re-reads and decides again), so concurrent webhooks for one call never interleave,
and each change carries its action's mark, so a replayed action returns what it
returned the first time. "At most one
active call per user" is a unique *sparse* index on ``activeUser``: the field
holds the user while the call is non-terminal and is ``$unset`` in the same
update that ends the call, so there is no separate lock to leak on a crash
(partial unique indexes are not portable to the embedded server; sparse ones are).

The spoken answer buffer, the answers and the transcript are encrypted at rest
with the per-user encryption adapter and marked private in the action log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Annotated, Any, Literal, TypedDict

from pymongo.errors import DuplicateKeyError

from conceptkit import NO_MARKS, Change, Concept, Doc, Len, Pattern, Range, action, fail, query

INITIATED = "INITIATED"
CONNECTED = "CONNECTED"
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
ABANDONED = "ABANDONED"
FAILED = "FAILED"
NO_ANSWER = "NO_ANSWER"
BUSY = "BUSY"
VOICEMAIL = "VOICEMAIL"
CANCELLED = "CANCELLED"

ACTIVE = (INITIATED, CONNECTED, IN_PROGRESS)
TERMINAL = (COMPLETED, ABANDONED, FAILED, NO_ANSWER, BUSY, VOICEMAIL, CANCELLED)

#: Twilio CallStatus values (status callbacks) and what they do here.
TWILIO_PROGRESS = ("queued", "initiated", "ringing")  # never change the status
TWILIO_ANSWERED = ("in-progress", "answered")  # INITIATED -> CONNECTED
TWILIO_ENDED = {"busy": BUSY, "no-answer": NO_ANSWER, "failed": FAILED, "canceled": FAILED}
TWILIO_STATUSES = (*TWILIO_PROGRESS, *TWILIO_ANSWERED, "completed", *TWILIO_ENDED)

E164 = r"\+[1-9][0-9]{6,14}"
CALL_SID = r"CA[0-9a-fA-F]{32}"
MAX_PROMPTS = 20
MAX_ANSWER_CHARS = 20_000

FIELD_BUFFER = "PhoneCall.currentAnswer"
FIELD_ANSWER = "PhoneCall.answers"
FIELD_TRANSCRIPT = "PhoneCall.transcript"
FIELD_TO = "PhoneCall.toNumber"  # the number called, encrypted (only _activeForUser shows it)

CallSid = Annotated[str, Pattern(CALL_SID), Doc("Twilio's CallSid (CA + 32 hex digits)")]
HANGUP_REASON = "caller hung up"
EARLY_HANGUP_REASON = "hung up before the reflection began"


class Initiated(TypedDict):
    call: str


class Connected(TypedDict):
    call: str
    user: str
    scheduledCall: str


class Prompting(TypedDict):
    call: str
    promptIndex: int


class Speech(TypedDict):
    call: str
    user: str
    session: str  # the reflection being answered (so syncs need not look the call up)
    answerSoFar: str
    promptIndex: int
    sessionPosition: int  # the reflection's (1-based) position of the prompt being answered


class Silence(TypedDict):
    call: str
    user: str
    session: str
    silentTurns: int
    promptIndex: int
    sessionPosition: int
    answerSoFar: str  # what was said before this silence ("" if nothing)


class Answered(TypedDict):
    call: str
    user: str
    session: str
    position: int
    answer: str
    nextIndex: int | None
    isLast: bool
    sessionPosition: int
    nextSessionPosition: int | None


class Completed(TypedDict):
    call: str
    user: str
    scheduledCall: str
    session: str | None
    transcript: str
    answers: list[SaidAnswer]


class SaidAnswer(TypedDict):
    position: int  # the reflection's position (1-based)
    text: str


class Ended(TypedDict):
    call: str
    user: str
    scheduledCall: str
    session: str | None
    outcome: str
    reflectionStarted: bool  # prompting had begun (a hang-up before it is a missed call)
    transcript: str  # what was said, the unfinished answer included
    answers: list[SaidAnswer]  # the answers the call recorded, by reflection position


class Cancelled(Ended):
    callSid: str | None  # None if the provider has not told us its sid yet


class StatusApplied(Ended):
    changed: bool


class PhoneCall(Concept):
    """One phone conversation with a user, from dialling to hang-up, keyed by Twilio's CallSid."""

    uses = ("clock", "encryption")

    async def setup(self) -> None:
        calls = self.collection("calls")
        await calls.create_index("callSid", unique=True, sparse=True)
        await calls.create_index("activeUser", unique=True, sparse=True)
        await calls.create_index("scheduledCall")
        await calls.create_index("user")
        # While a call is live: when it last changed and when it began, as epoch floats
        # (range scans on floats are fast on the embedded server), so the reconciler finds
        # the few idle ones without reading every live call.
        await calls.create_index("liveTs", sparse=True)
        await calls.create_index("liveSince", sparse=True)
        async for doc in calls.find(
            {"activeUser": {"$exists": True}, "liveSince": {"$exists": False}}, {"createdAt": 1}
        ):  # calls live across the upgrade that added them
            ts = doc["createdAt"].timestamp()
            await calls.update_one({"_id": doc["_id"]}, {"$set": {"liveTs": ts, "liveSince": ts}})

    # -- helpers ---------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return self.services["clock"].now()

    def _seal(self, text: str, user: str, field: str) -> str:
        return self.services["encryption"].encrypt(text, user=user, field=field)

    def _open(self, token: str | None, user: str, field: str) -> str:
        if token is None:
            return ""
        return self.services["encryption"].decrypt(token, user=user, field=field)

    async def _by_sid(
        self, callSid: str, call: str | None = None, projection: Any = NO_MARKS
    ) -> dict[str, Any] | None:
        """The call with this CallSid. Webhook URLs also carry our own call id, so a
        webhook that arrives before ``attachSid`` (a fast answer, or a worker that died
        between dialling and recording the sid) attaches the sid to its dialled call."""
        calls = self.collection("calls")
        doc = await calls.find_one({"callSid": callSid}, projection)
        if doc is None and call:
            with contextlib.suppress(DuplicateKeyError):
                await calls.update_one(
                    {"_id": call, "status": INITIATED, "callSid": {"$exists": False}},
                    {"$set": {"callSid": callSid}, "$inc": {"version": 1}},
                )
            doc = await calls.find_one({"callSid": callSid}, projection)
        return doc

    async def _change(self, callSid: str, decide: Any, call: str | None = None) -> dict[str, Any]:
        """Compare-and-set the call with this sid (see ``_by_sid``); ``decide(doc)`` returns a
        failure or a Change. Every change also records when the call last changed."""

        def decided(doc: dict[str, Any]) -> Any:
            out = decide(doc)
            if isinstance(out, Change):
                touched = self._touched(doc, out)
                return Change(out.outputs, set={**out.set, **touched}, unset=out.unset)
            return out

        store = self.store("calls")
        return await store.change(
            lambda: self._by_sid(callSid, call, store.projection),
            decided,
            missing=self._unknown_sid(),
        )

    def _touched(self, doc: dict[str, Any], change: Change) -> dict[str, Any]:
        """When the call changed: ``updatedAt``, and ``liveTs`` while it stays live (not for
        a change that ends it, nor for a late one to a call already over)."""
        now = self._now()
        if doc["status"] in TERMINAL or "activeUser" in change.unset:
            return {"updatedAt": now}
        return {"updatedAt": now, "liveTs": now.timestamp()}

    def _ending(self, status: str, **fields: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The $set/$unset of a terminal transition: frees the user's active slot."""
        ending = {"status": status, "endedAt": self._now(), **fields}
        return ending, ("activeUser", "currentAnswer", "liveTs", "liveSince")

    def _ended(self, doc: dict[str, Any], outcome: str) -> Ended:
        """What an ending reports: who and what, and what was said (the reflection keeps it)."""
        user = doc["user"]
        positions = _positions(doc)
        answers = [
            {"position": positions[i], "text": self._open(token, user, FIELD_ANSWER)}
            for i, token in enumerate(doc["answers"])
            if i < len(positions)
        ]
        transcript = self._open(doc.get("transcript"), user, FIELD_TRANSCRIPT)
        unfinished = self._open(doc.get("currentAnswer"), user, FIELD_BUFFER)
        if unfinished and doc["answeredCount"] < doc["promptCount"]:
            asked = f"Q: Prompt {positions[doc['promptIndex']]}\nA: {unfinished} (unfinished)"
            transcript = f"{transcript}\n{asked}" if transcript else asked
        return {
            "call": doc["_id"],
            "user": user,
            "scheduledCall": doc["scheduledCall"],
            "session": doc.get("session"),
            "outcome": outcome,
            "reflectionStarted": doc.get("session") is not None,
            "transcript": transcript,
            "answers": answers,
        }

    @staticmethod
    def _unknown_sid() -> dict[str, Any]:
        return fail("no call with that CallSid", "not_found")

    @staticmethod
    def _prompting_problem(doc: dict[str, Any], promptIndex: int | None) -> dict[str, Any] | None:
        """Why speech/silence/answers for ``promptIndex`` cannot be taken now, or None."""
        status = doc["status"]
        if status in TERMINAL:
            return fail(f"the call has already ended ({status})")
        if status != IN_PROGRESS:
            return fail(f"the call is {status}; prompting has not started")
        if doc["answeredCount"] >= doc["promptCount"]:
            return fail("every prompt has already been answered")
        if promptIndex is not None and promptIndex != doc["promptIndex"]:
            return fail(
                f"prompt {promptIndex} is not the current prompt ({doc['promptIndex']}); "
                "a duplicated or late webhook changes nothing"
            )
        return None

    async def _end(
        self, callSid: str, status: str, call: str | None = None, **fields: Any
    ) -> Ended | dict[str, Any]:
        """Move a non-terminal call to a terminal ``status``."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc["status"] in TERMINAL:
                return fail(f"the call has already ended ({doc['status']})")
            changes, unset = self._ending(status, **fields)
            return Change(self._ended(doc, status), set=changes, unset=unset)

        return await self._change(callSid, decide, call)

    # -- actions ---------------------------------------------------------------------

    @action(private=("toNumber",))
    async def initiate(
        self, user: str, scheduledCall: str, toNumber: Annotated[str, Pattern(E164)]
    ) -> Initiated:
        """Start a call record for user (before dialling); refused while the user has an active call."""
        call = self.new_id()
        now = self._now()
        doc = {
            "_id": call,
            "user": user,
            "scheduledCall": scheduledCall,
            "toNumber": self._seal(toNumber, user, FIELD_TO),
            "status": INITIATED,
            "activeUser": user,
            "session": None,
            "promptIndex": 0,
            "promptCount": 0,
            "answeredCount": 0,
            "answers": [],
            "transcript": None,
            "silentTurns": 0,
            "answeredBy": None,
            "durationSeconds": None,
            "lastSequence": -1,
            "createdAt": now,
            "updatedAt": now,
            "liveTs": now.timestamp(),
            "liveSince": now.timestamp(),
            "connectedAt": None,
            "endedAt": None,
            "errorMessage": None,
            "reason": None,
            "version": 0,
        }
        created = await self.store("calls").create(doc, {"call": call})
        return fail("this user already has an active call") if created is None else created

    @action
    async def attachSid(self, call: str, callSid: CallSid) -> dict[str, Any]:
        """Record Twilio's CallSid once the call has been dialled (idempotent for the same sid)."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc.get("callSid") == callSid:
                return Change({})
            if doc.get("callSid") is not None:
                return fail("the call already has a different CallSid")
            if doc["status"] != INITIATED:
                return fail(f"the call has already ended ({doc['status']})")
            now = self._now()
            return Change({}, set={"callSid": callSid, "updatedAt": now, "liveTs": now.timestamp()})

        try:
            return await self.store("calls").change(
                {"_id": call}, decide, missing=fail("no such call", "not_found")
            )
        except DuplicateKeyError:
            return fail("that CallSid already belongs to another call")

    @action
    async def markConnected(
        self, callSid: CallSid, answeredBy: str | None = None, call: str | None = None
    ) -> Connected:
        """The callee answered: INITIATED -> CONNECTED (a repeat while CONNECTED changes nothing).

        ``call`` (our id, from the webhook URL) finds a dialled call whose sid is not yet attached.
        """

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            status = doc["status"]
            if status in TERMINAL:
                return fail(f"the call has already ended ({status})")
            if status == IN_PROGRESS:
                return fail("the call is already in progress")
            changes: dict[str, Any] = {}
            if status == INITIATED:
                changes = {"status": CONNECTED, "connectedAt": self._now()}
            if answeredBy is not None and answeredBy != doc.get("answeredBy"):
                changes["answeredBy"] = answeredBy
            out = {"call": doc["_id"], "user": doc["user"], "scheduledCall": doc["scheduledCall"]}
            return Change(out, set=changes)

        return await self._change(callSid, decide, call)

    @action
    async def startPrompting(
        self,
        callSid: CallSid,
        session: str,
        promptCount: Annotated[int, Range(1, MAX_PROMPTS)],
        positions: Annotated[
            list[Annotated[int, Range(1, MAX_PROMPTS)]],
            Len(1, MAX_PROMPTS),
            Doc("the reflection's positions of the prompts asked, in order (default 1..n)"),
        ]
        | None = None,
    ) -> Prompting:
        """Begin the reflection: CONNECTED -> IN_PROGRESS at prompt 0, bound to a reflection session.

        ``positions`` says which of the reflection's prompts the call asks (a call that
        continues a reflection begun by typing asks only those still unanswered)."""
        if type(promptCount) is not int or not 1 <= promptCount <= MAX_PROMPTS:
            return fail(f"promptCount must be an integer from 1 to {MAX_PROMPTS}", "invalid")
        if positions is not None and len(positions) != promptCount:
            return fail("positions must name one position per prompt asked", "invalid")

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            status = doc["status"]
            if status in TERMINAL:  # ``ended``: the reflection started for it must be closed
                return {**fail(f"the call has already ended ({status})"), "ended": True}
            if status == IN_PROGRESS:
                return fail("prompting has already started")
            if status != CONNECTED:
                return fail("the call is not connected yet")
            changes = {
                "status": IN_PROGRESS,
                "session": session,
                "positions": list(positions or range(1, promptCount + 1)),
                "promptCount": promptCount,
                "promptIndex": 0,
                "answeredCount": 0,
                "silentTurns": 0,
            }
            return Change(
                {"call": doc["_id"], "promptIndex": 0}, set=changes, unset=("currentAnswer",)
            )

        return await self._change(callSid, decide)

    @action(private=("text", "answerSoFar"))
    async def appendSpeech(
        self,
        callSid: CallSid,
        text: Annotated[str, Len(1, 5000)],
        promptIndex: Annotated[int, Range(0, MAX_PROMPTS - 1)] | None = None,
    ) -> Speech:
        """Add recognised speech to the answer of the current prompt (IN_PROGRESS only)."""
        fragment = text.strip() if isinstance(text, str) else ""
        if not fragment:
            return fail("no speech to append; use noteSilence for an empty turn", "invalid")

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            problem = self._prompting_problem(doc, promptIndex)
            if problem:
                return problem
            user = doc["user"]
            buffer = self._open(doc.get("currentAnswer"), user, FIELD_BUFFER)
            combined = f"{buffer} {fragment}" if buffer else fragment
            if len(combined) > MAX_ANSWER_CHARS:
                return fail(f"an answer may have at most {MAX_ANSWER_CHARS} characters", "invalid")
            out = {
                "call": doc["_id"],
                "user": user,
                "session": doc["session"],
                "answerSoFar": combined,
                "promptIndex": doc["promptIndex"],
                "sessionPosition": _positions(doc)[doc["promptIndex"]],
            }
            changes = {"currentAnswer": self._seal(combined, user, FIELD_BUFFER), "silentTurns": 0}
            return Change(out, set=changes)

        return await self._change(callSid, decide)

    @action(private=("answerSoFar",))
    async def noteSilence(
        self,
        callSid: CallSid,
        promptIndex: Annotated[int, Range(0, MAX_PROMPTS - 1)] | None = None,
    ) -> Silence:
        """Count an empty turn (no speech heard) for the current prompt (IN_PROGRESS only)."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            problem = self._prompting_problem(doc, promptIndex)
            if problem:
                return problem
            turns = doc["silentTurns"] + 1
            out = {
                "call": doc["_id"],
                "user": doc["user"],
                "session": doc["session"],
                "silentTurns": turns,
                "promptIndex": doc["promptIndex"],
                "sessionPosition": _positions(doc)[doc["promptIndex"]],
                "answerSoFar": self._open(doc.get("currentAnswer"), doc["user"], FIELD_BUFFER),
            }
            return Change(out, set={"silentTurns": turns})

        return await self._change(callSid, decide)

    @action(private=("answer", "question"))
    async def finishAnswer(
        self,
        callSid: CallSid,
        promptIndex: Annotated[int, Range(0, MAX_PROMPTS - 1)],
        question: Annotated[str, Len(0, 2000), Doc("prompt text for the transcript")] | None = None,
    ) -> Answered:
        """Record the buffered speech as the answer to prompt promptIndex (must be current) and move on."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            problem = self._prompting_problem(doc, promptIndex)
            if problem:
                return problem
            user, index, count = doc["user"], doc["promptIndex"], doc["promptCount"]
            answer = self._open(doc.get("currentAnswer"), user, FIELD_BUFFER)
            transcript = self._open(doc.get("transcript"), user, FIELD_TRANSCRIPT)
            positions = _positions(doc)
            asked = (
                question.strip() if question and question.strip() else f"Prompt {positions[index]}"
            )
            lines = f"Q: {asked}\nA: {answer or '(no answer)'}"
            transcript = f"{transcript}\n{lines}" if transcript else lines
            is_last = index == count - 1
            changes = {
                "answers": [*doc["answers"], self._seal(answer, user, FIELD_ANSWER)],
                "answeredCount": index + 1,
                "transcript": self._seal(transcript, user, FIELD_TRANSCRIPT),
                "promptIndex": index if is_last else index + 1,
                "silentTurns": 0,
            }
            out = {
                "call": doc["_id"],
                "user": user,
                "session": doc["session"],
                "position": index,
                "answer": answer,
                "nextIndex": None if is_last else index + 1,
                "isLast": is_last,
                "sessionPosition": positions[index],
                "nextSessionPosition": None if is_last else positions[index + 1],
            }
            return Change(out, set=changes, unset=("currentAnswer",))

        return await self._change(callSid, decide)

    @action(private=("transcript", "answers"))
    async def markCompleted(
        self,
        callSid: CallSid,
        durationSeconds: Annotated[int, Range(0, None)] | None = None,
    ) -> Completed:
        """Finish a call whose every prompt is answered: IN_PROGRESS -> COMPLETED."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            status = doc["status"]
            if status in TERMINAL:
                return fail(f"the call has already ended ({status})")
            if status != IN_PROGRESS:
                return fail(f"the call is {status}; the reflection has not started")
            missing = doc["promptCount"] - doc["answeredCount"]
            if missing > 0:
                return fail(
                    f"{missing} of {doc['promptCount']} prompts are unanswered; abandon the call instead"
                )
            extra = {} if durationSeconds is None else {"durationSeconds": durationSeconds}
            changes, unset = self._ending(COMPLETED, **extra)
            ended = self._ended(doc, COMPLETED)
            out = {k: ended[k] for k in ("call", "user", "scheduledCall", "session")}
            out.update(transcript=ended["transcript"], answers=ended["answers"])
            return Change(out, set=changes, unset=unset)

        return await self._change(callSid, decide)

    @action(private=("transcript", "answers"))
    async def markAbandoned(self, callSid: CallSid, reason: Annotated[str, Len(1, 500)]) -> Ended:
        """End a non-terminal call as ABANDONED (hung up or gave up midway), with a reason."""
        return await self._end(callSid, ABANDONED, reason=reason)

    @action(private=("transcript", "answers"))
    async def markFailed(
        self, callSid: CallSid, error: Annotated[str, Len(1, 1000)], call: str | None = None
    ) -> Ended:
        """End a non-terminal call as FAILED (telephony or server error)."""
        return await self._end(callSid, FAILED, call, errorMessage=error)

    @action(private=("transcript", "answers"))
    async def markCancelled(self, call: str) -> Cancelled:
        """The user cancelled the call (by our id): it ends as CANCELLED at whatever stage it
        is, even before the provider's sid is known; ``callSid`` says if there is one to hang up."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc["status"] in TERMINAL:
                return fail(f"the call has already ended ({doc['status']})")
            changes, unset = self._ending(CANCELLED, reason="cancelled by the user")
            changes["updatedAt"] = changes["endedAt"]
            out = {**self._ended(doc, CANCELLED), "callSid": doc.get("callSid")}
            return Change(out, set=changes, unset=unset)

        return await self.store("calls").change(
            {"_id": call}, decide, missing=fail("no such call", "not_found")
        )

    @action
    async def deleteAllFor(self, user: str) -> dict[str, Any]:
        """Forget every call of the user (account deletion)."""
        res = await self.collection("calls").delete_many({"user": user})
        return {"deleted": res.deleted_count}

    @action(private=("transcript", "answers"))
    async def markMissed(
        self,
        callSid: CallSid,
        outcome: Literal["NO_ANSWER", "BUSY", "VOICEMAIL"],
        call: str | None = None,
    ) -> Ended:
        """End a non-terminal call as missed: NO_ANSWER, BUSY or VOICEMAIL."""
        if outcome not in (NO_ANSWER, BUSY, VOICEMAIL):
            return fail("outcome must be NO_ANSWER, BUSY or VOICEMAIL", "invalid")
        return await self._end(callSid, outcome, call, reason=outcome.lower().replace("_", " "))

    @action(private=("transcript", "answers"))
    async def failBeforeDial(self, call: str, error: Annotated[str, Len(1, 1000)]) -> Ended:
        """End an INITIATED call whose dial attempt failed, so it never got a CallSid."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc["status"] in TERMINAL:
                return fail(f"the call has already ended ({doc['status']})")
            if doc.get("callSid") is not None:
                return fail("the call was dialled (it has a CallSid); use markFailed")
            changes, unset = self._ending(FAILED, errorMessage=error)
            return Change(self._ended(doc, FAILED), set=changes, unset=unset)

        return await self.store("calls").change(
            {"_id": call}, decide, missing=fail("no such call", "not_found")
        )

    @action(private=("transcript", "answers"))
    async def applyStatus(
        self,
        callSid: CallSid,
        callStatus: Annotated[str, Doc("Twilio CallStatus, e.g. ringing, in-progress, completed")],
        sequenceNumber: Annotated[int, Range(0, None)],
        answeredBy: str | None = None,
        durationSeconds: Annotated[int, Range(0, None)] | None = None,
        call: str | None = None,
    ) -> StatusApplied:
        """Apply a Twilio status callback; duplicates and late events change nothing (on a
        call that is over, a final callback only notes the duration, if none is known)."""
        if callStatus not in TWILIO_STATUSES:
            return fail(f"unknown CallStatus {callStatus!r}", "invalid")
        final = callStatus == "completed" or callStatus in TWILIO_ENDED

        def decide(doc: dict[str, Any]) -> Change | StatusApplied:
            status = doc["status"]
            out: StatusApplied = {**self._ended(doc, status), "changed": False}
            if sequenceNumber <= doc["lastSequence"]:
                return out  # a duplicate or an event older than one applied: nothing to write
            if status in TERMINAL:  # a replayed or late callback of a call that is over
                if final and durationSeconds is not None and doc["durationSeconds"] is None:
                    noted = {"lastSequence": sequenceNumber, "durationSeconds": durationSeconds}
                    return Change(out, set=noted)
                return out
            target = _status_after(doc, callStatus, answeredBy)
            changes: dict[str, Any] = {"lastSequence": sequenceNumber}
            if answeredBy is not None:
                changes["answeredBy"] = answeredBy
            if durationSeconds is not None:
                changes["durationSeconds"] = durationSeconds
            unset: tuple[str, ...] = ()
            if target == CONNECTED:
                changes.update(status=CONNECTED, connectedAt=self._now())
            elif target in TERMINAL:
                reason = _ending_reason(target, callStatus, status)
                ending, unset = self._ending(target, **reason)
                changes.update(ending)
            if target is not None:
                out.update(outcome=target, changed=True)
            return Change(out, set=changes, unset=unset)

        return await self._change(callSid, decide, call)

    # -- queries ---------------------------------------------------------------------

    @query
    async def _byCallSid(self, callSid: str) -> list[dict[str, Any]]:
        """The call with this CallSid (no private fields)."""
        doc = await self._by_sid(callSid)
        return [_view(doc)] if doc else []

    @query
    async def _call(self, call: str) -> list[dict[str, Any]]:
        """The call with this id (no private fields)."""
        doc = await self.collection("calls").find_one({"_id": call}, VIEW_FIELDS)
        return [_view(doc)] if doc else []

    @query
    async def _stale(
        self, before: dt.datetime, limit: Annotated[int, Range(1, 500)] = 100
    ) -> list[dict[str, Any]]:
        """Internal (worker): calls still not ended that were created before ``before``,
        i.e. whose end the provider never reported (lost status callbacks)."""
        docs = (
            self.collection("calls")
            .find({"liveSince": {"$lt": before.timestamp()}}, VIEW_FIELDS)
            .limit(int(limit))
        )
        stale = [_view(d) async for d in docs]
        return sorted(stale, key=lambda v: v["createdAt"])

    @query
    async def _idle(
        self, before: dt.datetime, limit: Annotated[int, Range(1, 500)] = 100
    ) -> list[dict[str, Any]]:
        """Internal (reconciler): dialled calls not ended that nothing has changed since
        ``before`` (their end may have happened while we could not hear of it)."""
        docs = (
            self.collection("calls")
            .find({"liveTs": {"$lt": before.timestamp()}}, VIEW_FIELDS)
            .limit(int(limit))
        )
        idle = [_view(d) async for d in docs if d.get("callSid")]
        return sorted(idle, key=lambda v: v["createdAt"])

    @query(private=("answers", "transcript"))
    async def _saidInSession(self, user: str, session: str) -> list[dict[str, Any]]:
        """What the user's call for reflection ``session`` heard (one row, empty if no call
        got that far): for closing a reflection whose call ended unnoticed."""
        doc = await self.collection("calls").find_one(
            {"user": user, "session": session}, NO_MARKS, sort=[("_id", -1)]
        )
        if doc is None:
            return [{"answers": [], "transcript": ""}]
        ended = self._ended(doc, doc["status"])
        return [{"answers": ended["answers"], "transcript": ended["transcript"]}]

    @query
    async def _lastOutcome(self, scheduledCall: str) -> list[dict[str, Any]]:
        """How the newest call for a scheduled call ended (one row): ``outcome`` (None: no
        call, or still live) and ``reached`` (the reflection began: no retry is owed)."""
        doc = await self.collection("calls").find_one(
            {"scheduledCall": scheduledCall}, NO_MARKS, sort=[("_id", -1)]
        )
        if doc is None or doc["status"] not in TERMINAL:
            return [{"outcome": None, "reached": False, "live": doc is not None}]
        reached = doc["status"] == COMPLETED or (
            doc["status"] in (ABANDONED, CANCELLED) and doc.get("session") is not None
        )
        outcome = "HUNG_UP" if doc["status"] == ABANDONED and not reached else doc["status"]
        return [{"outcome": outcome, "reached": reached, "live": False}]

    @query(private=("toNumber",))
    async def _activeForUser(self, user: str) -> list[dict[str, Any]]:
        """The user's non-terminal call, if any, with the number it calls (to resume a dial)."""
        shown = {**VIEW_FIELDS, "toNumber": 1}
        doc = await self.collection("calls").find_one({"activeUser": user}, shown)
        if doc is None:
            return []
        return [{**_view(doc), "toNumber": self._open(doc["toNumber"], user, FIELD_TO)}]

    @query(private=("answer",))
    async def _answers(self, callSid: str) -> list[dict[str, Any]]:
        """The recorded answers of a call by position, decrypted (internal use only)."""
        doc = await self._by_sid(callSid)
        if doc is None:
            return []
        user = doc["user"]
        return [
            {"position": i, "answer": self._open(token, user, FIELD_ANSWER)}
            for i, token in enumerate(doc["answers"])
        ]

    @query
    async def _forScheduledCall(self, scheduledCall: str) -> list[dict[str, Any]]:
        """Every call placed for a scheduled call (one per attempt), newest first."""
        cursor = (
            self.collection("calls")
            .find({"scheduledCall": scheduledCall}, VIEW_FIELDS)
            .sort("_id", -1)
        )
        return [_view(d) async for d in cursor]


def _positions(doc: dict[str, Any]) -> list[int]:
    """The reflection's positions of the prompts the call asks (1..n unless it continues one)."""
    return list(doc.get("positions") or range(1, doc["promptCount"] + 1))


def _status_after(doc: dict[str, Any], callStatus: str, answeredBy: str | None) -> str | None:
    """The status a (new) Twilio event moves the call to, or None for no change."""
    status = doc["status"]
    if status in TERMINAL or callStatus in TWILIO_PROGRESS:
        return None
    if callStatus in TWILIO_ANSWERED:
        return CONNECTED if status == INITIATED else None
    if callStatus in TWILIO_ENDED:
        return TWILIO_ENDED[callStatus]
    # completed: the call is over; what it means depends on how far it got
    if status == IN_PROGRESS:
        return COMPLETED if doc["answeredCount"] >= doc["promptCount"] else ABANDONED
    machine = answeredBy or doc.get("answeredBy") or ""
    return VOICEMAIL if machine.startswith("machine_") else ABANDONED


def _ending_reason(target: str, callStatus: str, before: str) -> dict[str, Any]:
    if target == FAILED:
        return {"errorMessage": f"Twilio reported the call {callStatus}"}
    if target == ABANDONED:
        return {"reason": HANGUP_REASON if before == IN_PROGRESS else EARLY_HANGUP_REASON}
    if target == COMPLETED:
        return {}
    return {"reason": target.lower().replace("_", " ")}


# what _view shows: queries that list calls read only these (not the answers or the marks)
VIEW_FIELDS = dict.fromkeys(
    [
        "user",
        "scheduledCall",
        "session",
        "callSid",
        "status",
        "promptIndex",
        "promptCount",
        "answeredCount",
        "silentTurns",
        "answeredBy",
        "durationSeconds",
        "lastSequence",
        "createdAt",
        "connectedAt",
        "endedAt",
        "errorMessage",
        "reason",
    ],
    1,
)


def _view(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "call": doc["_id"],
        "user": doc["user"],
        "scheduledCall": doc["scheduledCall"],
        "session": doc.get("session"),
        "callSid": doc.get("callSid"),
        "status": doc["status"],
        "promptIndex": doc["promptIndex"],
        "promptCount": doc["promptCount"],
        "answeredCount": doc["answeredCount"],
        "silentTurns": doc["silentTurns"],
        "answeredBy": doc.get("answeredBy"),
        "durationSeconds": doc.get("durationSeconds"),
        "lastSequence": doc["lastSequence"],
        "createdAt": doc["createdAt"],
        "connectedAt": doc.get("connectedAt"),
        "endedAt": doc.get("endedAt"),
        "errorMessage": doc.get("errorMessage"),
        "reason": doc.get("reason"),
    }
