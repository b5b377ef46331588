"""History by day: the month calendar with its streaks, and the days of a week.

``POST /api/History/calendar`` with ``{start, end}`` (local dates, at most 62 days) answers
the days between them in the user's own time zone, each done (phone or typed), unfinished,
missed, skipped or with nothing planned, and the current and longest streak over the whole
history (the rules are in :mod:`syncs.days`). It reads the brief day marks of
ReflectionSession and CallScheduler, so no answer is decrypted for it; the week page reads
the answers themselves with ``ReflectionSession._between``.
"""

from __future__ import annotations

from typing import Annotated, TypedDict

from conceptkit import Absent, Computed, Doc, Filter, Pattern, Sync, concepts, vars

from .days import calendar, span_problem

Requesting, Profile, ReflectionSession, CallScheduler, Schedule = concepts(
    "Requesting Profile ReflectionSession CallScheduler Schedule"
)
user, request, start, end, timezone, sessions, calls, as_of, skipped = vars(
    "user request start end timezone sessions calls asOf skipped"
)

CALENDAR = "/History/calendar"
LocalDate = Annotated[
    str, Pattern(r"\d{4}-\d{2}-\d{2}"), Doc("a day in the profile's time zone, YYYY-MM-DD")
]


class CalendarBody(TypedDict):
    start: LocalDate
    end: LocalDate


def _problem(frame: dict) -> str | None:
    return span_problem(frame["start"], frame["end"])


ASKED = Requesting.request(
    {"path": CALENDAR, "user": user, "body": {"start": start, "end": end}}, {"request": request}
)

CalendarNeedsProfile = Sync(
    "CalendarNeedsProfile",
    doc="a calendar is drawn in the profile's time zone: none without a profile",
    when=[ASKED],
    where=[Absent(Profile._getProfile({"user": user}, {}))],
    then=[
        Requesting.respond(
            {
                "request": request,
                "output": {"error": "create your profile first", "errorKind": "conflict"},
                "status": 409,
            }
        )
    ],
)

CalendarRangeRefused = Sync(
    "CalendarRangeRefused",
    doc="a range that is no dates, runs backwards or is longer than 62 days",
    when=[ASKED],
    where=[
        Profile._getProfile({"user": user}, {}),
        Filter(lambda f: _problem(f) is not None, "the range is refused"),
    ],
    then=[
        Requesting.respond(
            {
                "request": request,
                "output": Computed(lambda f: {"error": _problem(f), "errorKind": "invalid"}, "why"),
                "status": 422,
            }
        )
    ],
)

ShowCalendar = Sync(
    "ShowCalendar",
    doc="the days asked for, from every reflection's and every ended call's day mark, "
    "and the streaks over the whole history",
    when=[ASKED],
    where=[
        Profile._getProfile({"user": user}, {"timezone": timezone}),
        Filter(lambda f: _problem(f) is None, "the range can be shown"),
        ReflectionSession._dayMarks({"user": user}, {"sessions": sessions, "asOf": as_of}),
        CallScheduler._dayMarks({"user": user}, {"calls": calls}),
        Schedule._skippedDays({"user": user}, {"days": skipped}),
    ],
    then=[
        Requesting.respond(
            {
                "request": request,
                "output": Computed(
                    lambda f: calendar(
                        f["sessions"],
                        f["calls"],
                        f["timezone"],
                        f["asOf"],
                        f["start"],
                        f["end"],
                        skipped=f["skipped"],
                    ),
                    "the calendar of start..end",
                ),
            }
        )
    ],
)
