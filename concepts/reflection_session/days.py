"""What ReflectionSession tells about days: every reflection's day in brief (for the
calendar and its streaks) and the reflections of a period in full (for the week)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from conceptkit import NO_MARKS, Range, query


class DayQueries:
    """The day-by-day queries of ReflectionSession (a part of the concept, not a concept)."""

    collection: Any
    services: dict[str, Any]
    _summary: Any

    @query
    async def _dayMarks(self, user: str) -> list[dict[str, Any]]:
        """One row: every reflection of the user in brief (``session, method, status,
        startedAt, rating``, oldest first) and ``asOf``, the concept's clock, so a calendar
        and its streaks can be drawn from one read. Nothing is decrypted: no text is in it."""
        fields = {"method": 1, "status": 1, "startedAt": 1, "rating": 1}
        docs = self.collection("sessions").find({"user": user}, fields).sort("_id", 1)
        marks = [
            {
                "session": d["_id"],
                "method": d["method"],
                "status": d["status"],
                "startedAt": d["startedAt"],
                "rating": d.get("rating"),
            }
            async for d in docs
        ]
        return [{"sessions": marks, "asOf": self.services["clock"].now()}]

    @query(private=("prompts",))
    async def _between(
        self,
        user: str,
        since: dt.datetime,
        until: dt.datetime,
        limit: Annotated[int, Range(1, 100)] = 100,
    ) -> list[dict[str, Any]]:
        """The user's reflections started at or after ``since`` and before ``until``,
        oldest first, each as ``_history`` shows it (prompts and answers): a week's look-back."""
        filt = {"user": user, "startedAt": {"$gte": since, "$lt": until}}
        docs = self.collection("sessions").find(filt, NO_MARKS).sort("_id", 1).limit(int(limit))
        return [self._summary(d) async for d in docs]
