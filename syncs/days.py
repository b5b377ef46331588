"""The calendar of a user's days, and their streaks: pure, from the concepts' day marks.

A day (in the user's own time zone) is, first that applies:

- ``done``: a reflection started that day was finished (``method`` says phone or typed);
- ``unfinished``: a reflection was left before its last prompt;
- ``missed``: a call planned that day could not reach the user (FAILED);
- ``skipped``: the user skipped the day, or a call that day was called off (cancelled,
  or the schedule paused), and nothing was reflected;
- ``none``: nothing was planned or happened (and ``future`` for days after today).

A streak is a run of done days. A missed or unfinished day ends it; a day skipped or with
nothing planned neither ends nor extends it (a weekday-only plan keeps its streak over the
weekend, a holiday pause keeps it too), so today, with its call still to come, ends none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

MAX_SPAN_DAYS = 62  # a month's grid (six weeks) and then some; a week is seven
RANK = {"done": 4, "unfinished": 3, "missed": 2, "skipped": 1, "none": 0}
BREAKS = {"missed", "unfinished"}
OWN_CHOICE = "ALREADY_REFLECTED"  # a call dropped because the user had reflected first
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def span_problem(start: str, end: str) -> str | None:
    """Why ``start``..``end`` is no range a calendar can show, or None."""
    first, last = parse_day(start), parse_day(end)
    if first is None or last is None:
        return "start and end must be dates, YYYY-MM-DD"
    if last < first:
        return "end must not be before start"
    if (last - first).days + 1 > MAX_SPAN_DAYS:
        return f"at most {MAX_SPAN_DAYS} days at a time"
    return None


def _local(value: dt.datetime, tz: ZoneInfo) -> dt.date:
    if value.tzinfo is None:  # the database hands back naive UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(tz).date()


def day_states(
    sessions: Iterable[Mapping[str, Any]],
    calls: Iterable[Mapping[str, Any]],
    tz: ZoneInfo,
    skipped: Iterable[str] = (),
) -> dict[dt.date, dict[str, Any]]:
    """Every day with a record: its state, its reflections and its missed calls."""
    days: dict[dt.date, dict[str, Any]] = {}

    def day(date: dt.date) -> dict[str, Any]:
        return days.setdefault(
            date, {"state": "none", "method": None, "rating": None, "sessions": [], "missed": []}
        )

    def rank(entry: dict[str, Any], state: str) -> None:
        if RANK[state] > RANK[entry["state"]]:
            entry["state"] = state

    for s in sessions:
        entry = day(_local(s["startedAt"], tz))
        brief = {k: s.get(k) for k in ("session", "method", "status", "rating")}
        entry["sessions"].append(brief)
        if s["status"] == "COMPLETED":
            rank(entry, "done")
            entry["method"] = s["method"]  # the latest finished one of the day
            if s.get("rating") is not None:
                entry["rating"] = s["rating"]
        elif s["status"] == "ABANDONED":
            rank(entry, "unfinished")
    for c in calls:
        entry = day(_local(c["scheduledFor"], tz))
        if c["status"] == "FAILED":
            entry["missed"].append(c["scheduledCall"])
            rank(entry, "missed")
        elif c.get("lastOutcome") != OWN_CHOICE:
            rank(entry, "skipped")
    for text in skipped:  # "skip today" (Schedule): often before any call was queued
        if (date := parse_day(text)) is not None:
            rank(day(date), "skipped")
    return days


def streaks(days: Mapping[dt.date, Mapping[str, Any]], today: dt.date) -> tuple[int, int]:
    """(current, longest): runs of done days up to today, by the rule in this module's doc."""
    current = longest = 0
    for date in sorted(d for d in days if d <= today):
        state = days[date]["state"]
        if state == "done":
            current += 1
            longest = max(longest, current)
        elif state in BREAKS:
            current = 0
    return current, longest


def calendar(
    sessions: list[Mapping[str, Any]],
    calls: list[Mapping[str, Any]],
    timezone: str,
    as_of: dt.datetime,
    start: str,
    end: str,
    *,
    skipped: Iterable[str] = (),
) -> dict[str, Any]:
    """The days ``start``..``end`` (local dates, inclusive) and the streaks as of ``as_of``;
    ``skipped``: the local days the user skipped."""
    tz = ZoneInfo(timezone)
    today = _local(as_of, tz)
    days = day_states(sessions, calls, tz, skipped)
    current, longest = streaks(days, today)
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    shown = []
    for n in range((last - first).days + 1):
        date = first + dt.timedelta(days=n)
        entry = days.get(date)
        state = entry["state"] if entry else "none"
        if date > today and state == "none":
            state = "future"
        shown.append(
            {
                "date": date.isoformat(),
                "weekday": WEEKDAYS[date.weekday()],
                "state": state,
                "method": entry["method"] if entry else None,
                "rating": entry["rating"] if entry else None,
                "sessions": entry["sessions"] if entry else [],
                "missed": entry["missed"] if entry else [],
            }
        )
    counts = {state: sum(1 for d in shown if d["state"] == state) for state in [*RANK, "future"]}
    return {
        "timezone": timezone,
        "today": today.isoformat(),
        "start": start,
        "end": end,
        "days": shown,
        "counts": counts,
        "currentStreak": current,
        "longestStreak": longest,
    }
