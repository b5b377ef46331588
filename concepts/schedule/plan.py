"""The pure core of Schedule: a weekly plan of local wall-clock times, read in a time zone.

:func:`next_occurrence`, given a weekly plan and an IANA time zone, is the first planned
instant after a given one, correct across daylight-saving changes (see
docs/concepts/Schedule.md). No database, no clock: every rule here is a function.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.UTC
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()
TIME_RE = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
WINDOW_START = dt.time(8, 0)
WINDOW_END = dt.time(21, 0)
WINDOW_TEXT = "08:00-21:00"
# An overdue slot (the worker was down at its time) is still called up to this long after
# it, if it is still that day for the user and inside their calling window; otherwise the
# day is recorded as missed, with the reason, instead of phoning them at a strange hour.
STALE_AFTER = dt.timedelta(hours=2)
SERVICE_DOWN = "the service was down at your call time"


def load_zone(name: str) -> ZoneInfo | None:
    """The zone for an IANA name, or None if it is not one (no file paths, no junk)."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*", name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, UnicodeError):
        return None


def parse_time(text: str) -> dt.time:
    if not isinstance(text, str) or not TIME_RE.fullmatch(text):
        raise ValueError(f"{text!r} is not a 24-hour HH:MM time")
    return dt.time(int(text[:2]), int(text[3:]))


def resolve_local(day: dt.date, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant for a local wall time on a local date.

    Ambiguous (fall-back) times give the first occurrence (fold=0). Non-existent
    (spring-forward) times are read with the offset in force before the gap, which
    moves them forward by the gap's length (02:30 in a one-hour gap becomes 03:30):
    the rule of RFC 5545 section 3.3.5 and of PEP 495 for fold=0.
    """
    return dt.datetime.combine(day, at).replace(tzinfo=zone, fold=0).astimezone(UTC)


def next_occurrence(
    plan: Mapping[str, str | None], tz: str | ZoneInfo, after: dt.datetime
) -> dt.datetime | None:
    """The first planned instant strictly after ``after`` (UTC), or None if no day has a time.

    ``plan`` maps "mon".."sun" to "HH:MM" or None (missing days have no call).
    """
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    zone = tz if isinstance(tz, ZoneInfo) else load_zone(tz)
    if zone is None:
        raise ValueError(f"unknown time zone {tz!r}")
    times = {day: parse_time(t) for day, t in plan.items() if t is not None}
    unknown = set(times) - set(DAYS)
    if unknown:
        raise ValueError(f"unknown weekday keys {sorted(unknown)}; use {list(DAYS)}")
    if not times:
        return None
    today = after.astimezone(zone).date()
    best: dt.datetime | None = None
    # One day back and eight ahead: a gap can push a late time past midnight, and the
    # same weekday a week later is at most seven local days away.
    for offset in range(-1, 9):
        day = today + dt.timedelta(days=offset)
        at = times.get(DAYS[day.weekday()])
        if at is None:
            continue
        candidate = resolve_local(day, at, zone)
        if candidate > after and (best is None or candidate < best):
            best = candidate
    return best


def outside_window(plan: Mapping[str, str | None]) -> list[str]:
    """The days whose planned time falls outside 08:00-21:00 (both inclusive)."""
    return [
        day
        for day in DAYS
        if plan.get(day) is not None and not WINDOW_START <= parse_time(plan[day]) <= WINDOW_END
    ]


_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY_NAMES = dict(zip(DAYS, _NAMES, strict=True))


def outside_in_words(plan: Mapping[str, str | None]) -> str:
    """The planned times outside the window, as a person says them: "22:30 every day",
    "Monday 22:30 and Friday 07:00" (messages name them in words, not as ``mon``)."""
    late = outside_window(plan)
    if len(late) == len(DAYS) and len({plan[d] for d in late}) == 1:
        return f"{plan[late[0]]} every day"
    named = [f"{DAY_NAMES[d]} {plan[d]}" for d in late]
    return named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"


def check_times(times: Any) -> str | None:
    """None if ``times`` is a valid weekly plan; else what is wrong with it."""
    if not isinstance(times, Mapping):
        return "times must map weekdays (mon..sun) to HH:MM or null"
    unknown = [k for k in times if k not in DAYS]
    if unknown:
        return f"unknown weekday(s) {unknown}; use {', '.join(DAYS)}"
    for day, value in times.items():
        if value is not None and (not isinstance(value, str) or not TIME_RE.fullmatch(value)):
            return f"{day}: {value!r} is not a 24-hour HH:MM time"
    return None


def full_plan(times: Mapping[str, str | None]) -> dict[str, str | None]:
    return {day: times.get(day) for day in DAYS}


def why_not_now(doc: Mapping[str, Any], slot: dt.datetime, now: dt.datetime) -> str | None:
    """Why an overdue slot is not called now (None: it is due, or late but still fine)."""
    if now - slot <= dt.timedelta(minutes=5):
        return None  # on time (the worker plans ahead, and takes a moment)
    zone = load_zone(doc.get("timezone") or "")
    if zone is None or now - slot > STALE_AFTER:
        return SERVICE_DOWN
    if now.astimezone(zone).date() != slot.astimezone(zone).date():
        return SERVICE_DOWN
    local = now.astimezone(zone).time()
    if not doc.get("allowOutsideWindow") and not WINDOW_START <= local <= WINDOW_END:
        return SERVICE_DOWN
    return None


def epoch(when: dt.datetime | None) -> float | None:
    return None if when is None else when.timestamp()


def from_epoch(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, UTC)


# -- breaks in the plan: a pause until a date, a skipped day --------------------------------

DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
PAUSE_LIMIT = dt.timedelta(days=366)  # a holiday, not "forever": that is a pause with no end


def parse_date(text: Any) -> dt.date | None:
    """The local date of a "YYYY-MM-DD" text, or None if it is not a real date."""
    if not isinstance(text, str) or not DATE_RE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def local_today(zone: ZoneInfo, now: dt.datetime) -> dt.date:
    return now.astimezone(zone).date()


def day_start(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The first instant (UTC) of a local date (a gap at midnight moves it forward)."""
    return resolve_local(day, dt.time(0, 0), zone)


def pause_in_effect(doc: Mapping[str, Any], now: dt.datetime) -> bool:
    """Whether a stored schedule is paused now: paused with no end, or before its end date.

    A pause with an end date ends on its own at the start of that local date, with no
    write: the next call is planned from that date all along (see ``calls_resume_at``).
    """
    if not doc.get("paused"):
        return False
    until = parse_date(doc.get("pausedUntil"))
    zone = load_zone(doc.get("timezone") or "")
    if until is None or zone is None:
        return True
    return local_today(zone, now) < until


def calls_resume_at(doc: Mapping[str, Any], zone: ZoneInfo) -> dt.datetime | None:
    """For a paused schedule, the instant calls may start again; None for no end date."""
    until = parse_date(doc.get("pausedUntil"))
    return None if until is None else day_start(until, zone)
