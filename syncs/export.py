"""What does a user take away? Everything of their own, as JSON or as one Markdown document.

``POST /api/Account/export`` ``{"format": "json"}`` answers with one JSON document: the
account, the profile, the prompts, the schedule (or null), every reflection, oldest
first, with its answers and their times (an edited answer with when and the original),
rating, transcript, transcription and the link
to its recording (``/api/recordings/<session>``: the owner's own, with their session), and
every missed day (as the calendar marks it: the day's planned calls all failed and nothing
was reflected that day), oldest first, with each call and what each attempt came to.
``{"format": "markdown"}`` answers ``{"markdown": text}``: the same, readable, dates
in the profile's time zone. Everything is read (and decrypted) for the asking user only;
the answer goes to them and nowhere else (the action log seals it, as every answer).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from typing import Any, Literal, TypedDict

from conceptkit import Absent, Computed, Sync, Var, concepts, vars

from .days import day_states

Requesting, Accounts, Profile, Prompts, Schedule, ReflectionSession, CallScheduler = concepts(
    "Requesting Accounts Profile Prompts Schedule ReflectionSession CallScheduler"
)
user, request, fmt, username, joined, prompts, reflections, at, calls = vars(
    "user request fmt username joined prompts reflections at calls"
)
EXPORT = "/Account/export"
# The owner's own link to a recording: the service streams it to the bearer of the owner's
# session (services/app/recordings.py, RECORDING_ROUTE); the provider's URL is never given.
RECORDING_LINK = "/api/recordings/{session}"
FORMAT_VERSION = 1
PROFILE_FIELDS = (
    "displayName",
    "phoneNumber",
    "timezone",
    "namePronunciation",
    "includeRating",
    "maxRetries",
    "followUp",
    "createdAt",
    "updatedAt",
)
SCHEDULE_FIELDS = (
    "timezone",
    "times",
    "paused",
    "pausedUntil",
    "skippedToday",
    "allowOutsideWindow",
)
_profile = {name: Var(f"profile_{name}") for name in PROFILE_FIELDS}
_schedule = {name: Var(f"schedule_{name}") for name in SCHEDULE_FIELDS}


class ExportBody(TypedDict):
    format: Literal["json", "markdown"]


def document(frame: Mapping[str, Any], with_schedule: bool) -> dict[str, Any]:
    """The export as data: what the JSON format answers, and what Markdown is made from."""
    schedule = {k: frame[v.name] for k, v in _schedule.items()} if with_schedule else None
    return {
        "format": "daily-reflection-export",
        "version": FORMAT_VERSION,
        "exportedAt": frame["at"],
        "account": {"username": frame["username"], "createdAt": frame["joined"]},
        "profile": {k: frame[v.name] for k, v in _profile.items()},
        "prompts": list(frame["prompts"]),
        "schedule": schedule,
        "reflections": [_reflection(r) for r in frame["reflections"]],
        "missedDays": missed_days(
            frame["reflections"], frame["calls"], frame[_profile["timezone"].name]
        ),
    }


def _reflection(r: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in r.items() if k != "hasRecording"}
    out["recording"] = RECORDING_LINK.format(session=r["session"]) if r["hasRecording"] else None
    return out


def missed_days(
    reflections: list[Mapping[str, Any]], calls: list[Mapping[str, Any]], timezone: str | None
) -> list[dict[str, Any]]:
    """The days (in the profile's zone) the calendar marks missed, oldest first: a call
    planned that day was not reached after every attempt (or could not be made), and no
    reflection of that day was finished or begun (syncs/days.py). Each with its failed
    calls: when it was planned, whether it was asked for ("now") or the schedule's, its
    last outcome, and every attempt ``{attempt, at, outcome}`` (none for a call never made)."""
    days = day_states(reflections, calls, _zone(timezone))
    by_id = {c["scheduledCall"]: c for c in calls}
    return [
        {"date": date.isoformat(), "calls": [_missed_call(by_id[c]) for c in days[date]["missed"]]}
        for date in sorted(days)
        if days[date]["state"] == "missed"
    ]


def _missed_call(call: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "scheduledCall": call["scheduledCall"],
        "scheduledFor": call["scheduledFor"],
        "origin": call.get("origin", "schedule"),
        "outcome": call.get("lastOutcome"),
        "attempts": [
            {"attempt": a.get("attempt"), "at": a.get("at"), "outcome": a.get("outcome")}
            for a in call.get("attemptLog") or []
        ],
    }


def answer(frame: Mapping[str, Any], with_schedule: bool) -> dict[str, Any]:
    data = document(frame, with_schedule)
    return data if frame["fmt"] == "json" else {"markdown": markdown(data)}


# -- Markdown --------------------------------------------------------------------------------

METHODS = {"PHONE": "by phone", "TEXT": "typed"}
STATUSES = {"COMPLETED": "done", "ABANDONED": "not finished", "IN_PROGRESS": "in progress"}
RATINGS = {-2: "Very hard", -1: "Hard", 0: "Okay", 1: "Good", 2: "Wonderful"}  # as the app says
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# What an attempt came to, in the web app's words (webapp/pages/outcomes.js)
OUTCOMES = {
    "NO_ANSWER": "no answer",
    "BUSY": "you declined the call, or the line was busy",
    "VOICEMAIL": "it went to voicemail",
    "FAILED": "the call failed",
    "HUNG_UP": "you hung up before the first prompt",
    "LOST": "the call was cut off",
    "NOT_CALLED": "we couldn't call: the service was down at your call time",
}


def _zone(name: str | None) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _when(value: dt.datetime | None, zone: dt.tzinfo, with_day: bool = True) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    local = value.astimezone(zone)
    return local.strftime("%A %-d %B %Y, %H:%M" if with_day else "%H:%M")


def _quote(text: str) -> list[str]:
    """A user's text as a Markdown block quote: nothing in it becomes a heading or a link
    target of the document itself."""
    return [f"> {line}" if line else ">" for line in text.splitlines()] or [">"]


def markdown(data: Mapping[str, Any]) -> str:
    """One readable document: who, the settings, then each reflection under its date."""
    profile = data["profile"]
    zone = _zone(profile.get("timezone"))
    name = profile.get("displayName") or data["account"]["username"]
    out = [
        f"# Daily reflections of {name}",
        "",
        f"Exported {_when(data['exportedAt'], zone)} ({profile.get('timezone') or 'UTC'}).",
        "",
        "## Profile",
        "",
        f"- Username: {data['account']['username']}",
        f"- Name: {profile.get('displayName') or '—'}",
        f"- Said as: {profile.get('namePronunciation') or '—'}",
        f"- Phone: {profile.get('phoneNumber') or '—'}",
        f"- Time zone: {profile.get('timezone') or '—'}",
        f"- Rating question: {'yes' if profile.get('includeRating') else 'no'}",
        f"- Calls tried per day: {profile.get('maxRetries') or '—'}",
        f"- The greeting recalls the last answer: {'yes' if profile.get('followUp') else 'no'}",
        "",
        "## Prompts",
        "",
        *[f"{i}. {p}" for i, p in enumerate(data["prompts"], 1)],
        "",
        "## Schedule",
        "",
        *_schedule_lines(data["schedule"]),
        "",
        f"## Reflections ({len(data['reflections'])})",
    ]
    for r in data["reflections"]:
        out += ["", *_reflection_lines(r, zone)]
    out += ["", f"## Missed days ({len(data['missedDays'])})"]
    for day in data["missedDays"]:
        out += ["", *_missed_lines(day, zone)]
    return "\n".join(out) + "\n"


def _outcome(outcome: str | None) -> str:
    return OUTCOMES.get(outcome or "", OUTCOMES["FAILED"])


def _missed_lines(day: Mapping[str, Any], zone: dt.tzinfo) -> list[str]:
    """A missed day: each call planned that day, then what each attempt came to."""
    lines = [f"### {dt.date.fromisoformat(day['date']):%A %-d %B %Y}", ""]
    for call in day["calls"]:
        asked = "you asked for" if call["origin"] == "now" else "planned"
        when = _when(call["scheduledFor"], zone, with_day=False)
        if not call["attempts"]:
            lines.append(f"- The call {asked} at {when}: {_outcome(call['outcome'])}.")
            continue
        tries = len(call["attempts"])
        lines.append(
            f"- The call {asked} at {when}: not reached, {tries} attempt{'s' * (tries != 1)}:"
        )
        for a in call["attempts"]:
            lines.append(
                f"  {a['attempt']}. {_when(a['at'], zone, False)}: {_outcome(a['outcome'])}"
            )
    return lines


def _schedule_lines(schedule: Mapping[str, Any] | None) -> list[str]:
    if schedule is None:
        return ["No schedule set."]
    times = schedule.get("times") or {}
    lines = [f"- {day.capitalize()}: {times.get(day) or 'no call'}" for day in DAYS]
    lines.append(f"- Time zone: {schedule.get('timezone') or '—'}")
    paused = "no"
    if schedule.get("paused"):
        until = schedule.get("pausedUntil")
        paused = f"yes, until {until}" if until else "yes, until you resume"
    lines.append(f"- Paused: {paused}")
    if schedule.get("skippedToday"):
        lines.append("- Today: skipped")
    return lines


def _reflection_lines(r: Mapping[str, Any], zone: dt.tzinfo) -> list[str]:
    method = METHODS.get(r["method"], r["method"])
    status = STATUSES.get(r["status"], r["status"])
    lines = [f"### {_when(r['startedAt'], zone)}", "", f"- {method.capitalize()}, {status}"]
    if r.get("abandonReason"):
        lines.append(f"- Why not finished: {r['abandonReason']}")
    if r.get("rating") is not None:
        rating = r["rating"]
        lines.append(f"- Rating: {RATINGS.get(rating, '')} ({'+' if rating > 0 else ''}{rating})")
    if r.get("recording"):
        lines.append(f"- Recording: {r['recording']} (with your session)")
    for p in r["prompts"]:
        lines += ["", f"**{p['position']}. {p['text']}**", ""]
        if p["answer"] is None:
            lines.append("*Not asked or not answered.*")
        elif not p["answer"]:
            lines.append("*No answer.*")
        else:
            lines += _quote(p["answer"])
        if p.get("editedAt"):  # edited afterwards: the answer first recorded follows it
            lines += ["", f"*Edited {_when(p['editedAt'], zone)}. The original:*", ""]
            original = p.get("original")
            lines += (
                _quote(original) if original else ["*No answer.*" if original == "" else "*None.*"]
            )
    for title, text in (
        ("Transcript", r.get("transcript")),
        ("Transcription", r.get("transcriptionText")),
    ):
        if text:
            lines += ["", f"*{title}:*", "", *_quote(text)]
    return lines


# -- the syncs ----------------------------------------------------------------------------------


def _export_sync(name: str, doc: str, with_schedule: bool) -> Sync:
    schedule = (
        Schedule._schedule({"user": user}, _schedule)
        if with_schedule
        else Absent(Schedule._schedule({"user": user}, {}))
    )
    return Sync(
        name,
        doc=doc,
        when=[
            Requesting.request(
                {"path": EXPORT, "user": user, "body": {"format": fmt}}, {"request": request}
            )
        ],
        where=[
            Accounts._account({"user": user}, {"username": username, "createdAt": joined}),
            Profile._getProfile({"user": user}, _profile),
            Prompts._promptList({"user": user}, {"prompts": prompts}),
            schedule,
            ReflectionSession._export({"user": user}, {"reflections": reflections, "at": at}),
            CallScheduler._dayMarks({"user": user}, {"calls": calls}),
        ],
        then=[
            Requesting.respond(
                {
                    "request": request,
                    "output": Computed(lambda f: answer(f, with_schedule), "the export"),
                }
            )
        ],
    )


ExportEverything = _export_sync(
    "ExportEverything", "everything of the user's own, in the format asked for", True
)
ExportWithoutSchedule = _export_sync(
    "ExportWithoutSchedule", "the same for a user who has set no schedule (it is null)", False
)

ExportNeedsProfile = Sync(
    "ExportNeedsProfile",
    doc="a user without a profile has not started: there is nothing to export yet",
    when=[Requesting.request({"path": EXPORT, "user": user}, {"request": request})],
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
