"""A call's life outside the conversation: created, dialled, answered, ended early.

Every ending frees the user's active slot in the same write that ends the call, and
reports what the call heard (``Ended``), so the reflection keeps it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pymongo.errors import DuplicateKeyError

from conceptkit import Change, Doc, Len, Pattern, Range, action, fail

from .calls import E164, FIELD_TO, MAX_PROMPTS, Calls, ProviderCallId
from .outputs import Cancelled, Connected, Ended, Initiated, Prompting
from .statuses import (
    ABANDONED,
    BUSY,
    CANCELLED,
    CONNECTED,
    FAILED,
    IN_PROGRESS,
    INITIATED,
    NO_ANSWER,
    TERMINAL,
    VOICEMAIL,
    Answerer,
)


class Lifecycle(Calls):
    """The actions that start, connect and end a call (a mixin of ``PhoneCall``)."""

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
    async def attachSid(self, call: str, callSid: ProviderCallId) -> dict[str, Any]:
        """Record the provider's id of the call once it has been dialled (idempotent for the same id)."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc.get("callSid") == callSid:
                return Change({})
            if doc.get("callSid") is not None:
                return fail("the call already has a different provider id")
            if doc["status"] != INITIATED:
                return fail(f"the call has already ended ({doc['status']})")
            now = self._now()
            return Change({}, set={"callSid": callSid, "updatedAt": now, "liveTs": now.timestamp()})

        try:
            return await self.store("calls").change(
                {"_id": call}, decide, missing=fail("no such call", "not_found")
            )
        except DuplicateKeyError:
            return fail("that provider id already belongs to another call")

    @action
    async def markConnected(
        self, callSid: ProviderCallId, answeredBy: Answerer | None = None, call: str | None = None
    ) -> Connected:
        """The callee answered: INITIATED -> CONNECTED (a repeat while CONNECTED changes nothing).

        ``call`` (our id, from the webhook URL) finds a dialled call whose id is not yet attached.
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
        callSid: ProviderCallId,
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

    @action(private=("transcript", "answers"))
    async def markAbandoned(
        self, callSid: ProviderCallId, reason: Annotated[str, Len(1, 500)]
    ) -> Ended:
        """End a non-terminal call as ABANDONED (hung up or gave up midway), with a reason."""
        return await self._end(callSid, ABANDONED, reason=reason)

    @action(private=("transcript", "answers"))
    async def markFailed(
        self, callSid: ProviderCallId, error: Annotated[str, Len(1, 1000)], call: str | None = None
    ) -> Ended:
        """End a non-terminal call as FAILED (telephony or server error)."""
        return await self._end(callSid, FAILED, call, errorMessage=error)

    @action(private=("transcript", "answers"))
    async def markMissed(
        self,
        callSid: ProviderCallId,
        outcome: Literal["NO_ANSWER", "BUSY", "VOICEMAIL"],
        call: str | None = None,
    ) -> Ended:
        """End a non-terminal call as missed: NO_ANSWER, BUSY or VOICEMAIL."""
        if outcome not in (NO_ANSWER, BUSY, VOICEMAIL):
            return fail("outcome must be NO_ANSWER, BUSY or VOICEMAIL", "invalid")
        return await self._end(callSid, outcome, call, reason=outcome.lower().replace("_", " "))

    @action(private=("transcript", "answers"))
    async def markCancelled(self, call: str) -> Cancelled:
        """The user cancelled the call (by our id): it ends as CANCELLED at whatever stage it
        is, even before the provider's id is known; ``callSid`` says if there is one to hang up."""

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

    @action(private=("transcript", "answers"))
    async def failBeforeDial(self, call: str, error: Annotated[str, Len(1, 1000)]) -> Ended:
        """End an INITIATED call whose dial attempt failed, so it never got a provider id."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc["status"] in TERMINAL:
                return fail(f"the call has already ended ({doc['status']})")
            if doc.get("callSid") is not None:
                return fail("the call was dialled (it has a provider id); use markFailed")
            changes, unset = self._ending(FAILED, errorMessage=error)
            return Change(self._ended(doc, FAILED), set=changes, unset=unset)

        return await self.store("calls").change(
            {"_id": call}, decide, missing=fail("no such call", "not_found")
        )

    @action
    async def deleteAllFor(self, user: str) -> dict[str, Any]:
        """Forget every call of the user (account deletion)."""
        res = await self.collection("calls").delete_many({"user": user})
        return {"deleted": res.deleted_count}
