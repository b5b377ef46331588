"""A follow-up from yesterday: the greeting may recall what the user last said to the prompt
they marked as the follow-up one (docs/concepts/Profile.md, Prompts.md, ReflectionSession.md).

Here are the words, and the ``where`` clauses that find them, shared by the call's greeting
(answered.py) and the call script the web app reads aloud (call_script.py), so that the
preview says what the call says. Each case is a sync of its own in both places: the opt-in
off (``OFF``); on, with an answer to recall (``RECALLED``); on, with nothing to recall
(``NOTHING_TO_RECALL``).

No model writes the sentence: the answer is decrypted on the server and said as the user
gave it, quoted after the question, so no rewording can get its grammar wrong, and nothing
is sent anywhere to make it.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from conceptkit import Absent, concepts, vars

Profile, Prompts, ReflectionSession = concepts("Profile Prompts ReflectionSession")
user, zone, asked, answer, answered_at, as_of = vars(
    "user zone followUpPrompt lastAnswer answeredAt asOf"
)

#: The longest answer said in full (about fifteen seconds of speech); a longer one is cut
#: at the last sentence, else the last word, that fits.
MAX_SPOKEN_CHARS = 200
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)
_ENDS = ".!?…"
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_DANGLING = ",;:-\u2013\u2014 "  # what may not end a cut: commas, colons, dashes

OFF = [Profile._followUp({"user": user}, {"enabled": False})]
_ON = [
    Profile._followUp({"user": user}, {"enabled": True, "timezone": zone}),
    Prompts._followUpPrompt({"user": user}, {"text": asked}),
]
RECALLED = [
    *_ON,
    ReflectionSession._lastAnswer(
        {"user": user, "prompt": asked},
        {"answer": answer, "startedAt": answered_at, "asOf": as_of},
    ),
]
NOTHING_TO_RECALL = [
    *_ON,
    Absent(ReflectionSession._lastAnswer({"user": user, "prompt": asked}, {})),
]


def when_said(said_at: dt.datetime, now: dt.datetime, timezone: str) -> str:
    """Which day, in the user's time zone: "Yesterday" only for the day before today;
    "Earlier today", "On Monday" within the week, else "On March 3"."""
    try:
        local = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        local = dt.UTC  # a zone the profile checked, gone from this system's database
    day, today = said_at.astimezone(local).date(), now.astimezone(local).date()
    ago = (today - day).days
    if ago <= 0:
        return "Earlier today"
    if ago == 1:
        return "Yesterday"
    if ago < 7:
        return f"On {WEEKDAYS[day.weekday()]}"
    return f"On {MONTHS[day.month - 1]} {day.day}"


def spoken_answer(text: str, limit: int = MAX_SPOKEN_CHARS) -> str | None:
    """The answer as said: one line, at most ``limit`` characters (cut after the last whole
    sentence that fits, else the last whole word, marked by an ellipsis), ending with a full
    stop. None if it has no word to say."""
    said = " ".join(text.split())
    if not any(ch.isalnum() for ch in said):
        return None
    if len(said) > limit:
        kept = ""
        for sentence in _SENTENCE_END.split(said):
            if len(f"{kept} {sentence}".strip()) > limit:
                break
            kept = f"{kept} {sentence}".strip()
        if not kept:  # one long sentence: up to its last whole word that fits
            cut = said[:limit]
            kept = cut[: cut.rfind(" ")].rstrip(_DANGLING) if " " in cut else ""
            if not any(ch.isalnum() for ch in kept):
                kept = said[: limit - 1]  # one word longer than the limit: cut in it
            kept += "…"
        said = kept
    return said if said[-1] in _ENDS else said.rstrip(_DANGLING) + "."


def recall(
    prompt: str, said: str, said_at: dt.datetime, now: dt.datetime, timezone: str
) -> str | None:
    """`Yesterday, when I asked "What will you carry into tomorrow?", you said: patience.`"""
    spoken = spoken_answer(said)
    if spoken is None:
        return None
    return f'{when_said(said_at, now, timezone)}, when I asked "{prompt}", you said: {spoken}'


def recalled(frame: Mapping[str, Any]) -> str | None:
    """The recall sentence of a frame that matched ``RECALLED``."""
    return recall(
        frame[asked.name],
        frame[answer.name],
        frame[answered_at.name],
        frame[as_of.name],
        frame[zone.name],
    )


def nothing(frame: Mapping[str, Any]) -> None:
    """No recall: the opt-in is off, or there is nothing to recall."""
    return None
