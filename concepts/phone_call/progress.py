"""The provider's progress reports (neutral: statuses.PROGRESS), applied in any order.

Reports can come twice, late or out of order; each carries the provider's sequence
number, so one not newer than the last applied changes nothing, and a call that is
over takes nothing but the duration a final report may carry.
"""

from __future__ import annotations

from typing import Annotated, Any

from conceptkit import Change, Doc, Range, action, fail

from .calls import Calls, ProviderCallId
from .outputs import StatusApplied
from .statuses import (
    CONNECTED,
    PROGRESS,
    TERMINAL,
    Answerer,
    Progress,
    ending_reason,
    is_final,
    status_after,
)


class CallProgress(Calls):
    """``applyStatus`` (a mixin of ``PhoneCall``)."""

    @action(private=("transcript", "answers"))
    async def applyStatus(
        self,
        callSid: ProviderCallId,
        progress: Annotated[Progress, Doc("how the line is doing: docs/webhooks.md")],
        sequenceNumber: Annotated[int, Range(0, None)],
        answeredBy: Answerer | None = None,
        durationSeconds: Annotated[int, Range(0, None)] | None = None,
        call: str | None = None,
    ) -> StatusApplied:
        """Apply a progress report of the provider; duplicates and late reports change nothing
        (on a call that is over, a final report only notes the duration, if none is known)."""
        if progress not in PROGRESS:
            return fail(f"unknown progress {progress!r}", "invalid")
        final = is_final(progress)

        def decide(doc: dict[str, Any]) -> Change | StatusApplied:
            status = doc["status"]
            out: StatusApplied = {**self._ended(doc, status), "changed": False}
            if sequenceNumber <= doc["lastSequence"]:
                return out  # a duplicate or a report older than one applied: nothing to write
            if status in TERMINAL:  # a replayed or late report of a call that is over
                if final and durationSeconds is not None and doc["durationSeconds"] is None:
                    noted = {"lastSequence": sequenceNumber, "durationSeconds": durationSeconds}
                    return Change(out, set=noted)
                return out
            target = status_after(doc, progress, answeredBy)
            changes: dict[str, Any] = {"lastSequence": sequenceNumber}
            if answeredBy is not None:
                changes["answeredBy"] = answeredBy
            if durationSeconds is not None:
                changes["durationSeconds"] = durationSeconds
            unset: tuple[str, ...] = ()
            if target == CONNECTED:
                changes.update(status=CONNECTED, connectedAt=self._now())
            elif target in TERMINAL:
                ending, unset = self._ending(target, **ending_reason(target, progress, status))
                changes.update(ending)
            if target is not None:
                out.update(outcome=target, changed=True)
            return Change(out, set=changes, unset=unset)

        return await self._change(callSid, decide, call)
