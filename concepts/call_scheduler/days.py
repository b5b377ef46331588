"""What CallScheduler tells about days: the calls that ended without a reflection call
(missed, or called off), in brief, for the calendar and its streaks, and with each
attempt's outcome for the export's missed days."""

from __future__ import annotations

from typing import Any

from conceptkit import query

from .states import CANCELLED, FAILED


class DayQueries:
    """The day-by-day query of CallScheduler (a part of the concept, not a concept)."""

    collection: Any

    @query
    async def _dayMarks(self, user: str) -> list[dict[str, Any]]:
        """One row: ``calls``, every FAILED or CANCELLED call of the user in brief
        (``scheduledCall, scheduledFor, status, lastOutcome, origin, attempts, attemptLog``,
        oldest first), so a calendar can tell a missed day from a skipped one and an export
        can say what each attempt came to. No number: it is not needed."""
        fields = {
            "scheduledFor": 1,
            "status": 1,
            "lastOutcome": 1,
            "origin": 1,
            "attempts": 1,
            "attemptLog": 1,
        }
        filt = {"user": user, "status": {"$in": [FAILED, CANCELLED]}}
        docs = self.collection("calls").find(filt, fields).sort("_id", 1)
        calls = [
            {
                "scheduledCall": d["_id"],
                "scheduledFor": d["scheduledFor"],
                "status": d["status"],
                "lastOutcome": d.get("lastOutcome"),
                "origin": d.get("origin", "schedule"),
                "attempts": d.get("attempts", 0),
                "attemptLog": d.get("attemptLog", []),
            }
            async for d in docs
        ]
        return [{"calls": calls}]
