"""The phone's keypad during a call: a key pressed, and the call the caller ends with one.

What each key means (skip, repeat, finish, rate) is the syncs' policy (syncs/keypad.py);
PhoneCall only says where the call is when a key comes (which prompt, or the rating
question) and, for ``endEarly``, keeps what was said and ends the call.
"""

from __future__ import annotations

from typing import Annotated, Any

from conceptkit import Change, Doc, Pattern, action, fail

from .calls import FIELD_BUFFER, Calls, ProviderCallId
from .outputs import Ended, KeyPressed
from .statuses import ABANDONED, COMPLETED, ENDED_EARLY_REASON, IN_PROGRESS, TERMINAL
from .views import positions

Key = Annotated[str, Pattern(r"[0-9*#]"), Doc("one key of the phone's keypad: 0-9, * or #")]


class Keypad(Calls):
    """The keypad's actions (a mixin of ``PhoneCall``)."""

    @action
    async def pressKey(
        self, callSid: ProviderCallId, key: Key, atRating: bool = False
    ) -> KeyPressed:
        """A key pressed while a prompt is asked (or, ``atRating``, at the rating question, once
        every prompt is answered): where the call is, so the syncs can act on the key.

        A key is a sign of life: the prompt's count of silent turns starts again. The call
        must be IN_PROGRESS and at that stage (a late or replayed key for a call that is
        over, or at another stage, is refused and changes nothing)."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            problem = _rating_problem(doc) if atRating else self._prompting_problem(doc, None)
            if problem:
                return problem
            index = doc["promptIndex"]
            out = {
                "call": doc["_id"],
                "user": doc["user"],
                "session": doc["session"],
                "key": key,
                "atRating": atRating,
                "promptIndex": index,
                "sessionPosition": positions(doc)[index],
            }
            return Change(out, set={} if atRating else {"silentTurns": 0})

        return await self._change(callSid, decide)

    @action(private=("transcript", "answers"))
    async def endEarly(self, callSid: ProviderCallId) -> Ended:
        """The caller ends the call before the last prompt (IN_PROGRESS only): what they said
        to the current prompt, if anything, is recorded as its answer, and the call ends as
        COMPLETED if every prompt then has an answer, else ABANDONED with the reason that
        the caller ended it. The ending reports what was said, as every ending does."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            status = doc["status"]
            if status in TERMINAL:
                return fail(f"the call has already ended ({status})")
            if status != IN_PROGRESS:
                return fail(f"the call is {status}; prompting has not started")
            said = self._open(doc.get("currentAnswer"), doc["user"], FIELD_BUFFER)
            recorded: dict[str, Any] = {}
            if said and doc["answeredCount"] < doc["promptCount"]:
                recorded = self._answer_recorded(doc, said)
            after = {**doc, **recorded, "currentAnswer": None}
            outcome = COMPLETED if after["answeredCount"] >= doc["promptCount"] else ABANDONED
            reason = {} if outcome == COMPLETED else {"reason": ENDED_EARLY_REASON}
            changes, unset = self._ending(outcome, **recorded, **reason)
            return Change(self._ended(after, outcome), set=changes, unset=unset)

        return await self._change(callSid, decide)


def _rating_problem(doc: dict[str, Any]) -> dict[str, Any] | None:
    """Why a key at the rating question cannot be taken now, or None."""
    status = doc["status"]
    if status in TERMINAL:
        return fail(f"the call has already ended ({status})")
    if status != IN_PROGRESS:
        return fail(f"the call is {status}; prompting has not started")
    if doc["answeredCount"] < doc["promptCount"]:
        return fail("a prompt is still unanswered; the rating question has not been asked")
    return None
