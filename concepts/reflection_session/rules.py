"""The rules of a reflection that need no database: its limits, its input types, and
the checks of prompts and recording URLs."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypedDict
from urllib.parse import urlsplit

from conceptkit import Doc, Len, Pattern, Range

IN_PROGRESS, COMPLETED, ABANDONED = "IN_PROGRESS", "COMPLETED", "ABANDONED"
PHONE, TEXT = "PHONE", "TEXT"
MAX_PROMPTS = 5
MAX_PROMPT_CHARS = 300
MAX_ANSWER_CHARS = 10_000
MAX_TRANSCRIPT_CHARS = 200_000
MAX_URL_CHARS = 2_000

Method = Literal["PHONE", "TEXT"]
Status = Literal["IN_PROGRESS", "COMPLETED", "ABANDONED"]
SessionId = Annotated[str, Len(1, 64), Doc("a session id returned by startSession")]
CallRef = Annotated[str, Len(1, 200), Doc("opaque reference to the scheduled call")]
PromptList = Annotated[
    list[Annotated[str, Len(1, MAX_PROMPT_CHARS)]],
    Len(1, MAX_PROMPTS),
    Doc("1-5 questions, each non-blank and at most 300 characters, in the order asked"),
]
Position = Annotated[int, Range(1, MAX_PROMPTS), Doc("1-based position of the prompt")]
AnswerText = Annotated[
    str,
    Len(0, MAX_ANSWER_CHARS),
    Doc("the answer; empty (or only whitespace) records that the prompt got no answer"),
]
RecordingUrl = Annotated[
    str, Len(1, MAX_URL_CHARS), Pattern(r"https://\S+"), Doc("an https URL of the recording")
]
Rating = Annotated[int, Range(-2, 2), Doc("-2 (very bad) to 2 (very good)")]


class Started(TypedDict):
    session: str
    prompts: list[str]  # the prompts to ask, in order
    positions: list[int]  # their positions in the reflection
    resumed: bool  # a reflection in progress was continued


class Edited(TypedDict):
    editedAt: dt.datetime | None  # when the answer was last edited (None: never, unchanged)


class CallAnswer(TypedDict):
    position: Position
    text: AnswerText


class Closed(TypedDict):
    session: str
    user: str
    status: Status
    endedAt: dt.datetime


def check_session_prompts(prompts: Any) -> tuple[list[str], str | None]:
    """The prompts trimmed, or what is wrong: 1-5 strings, non-blank, at most 300 characters."""
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        return [], "prompts must be a list of strings"
    if not 1 <= len(prompts) <= MAX_PROMPTS:
        return [], f"a reflection has 1 to {MAX_PROMPTS} prompts, not {len(prompts)}"
    cleaned = [p.strip() for p in prompts]
    for position, text in enumerate(cleaned, start=1):
        if not text:
            return [], f"prompt {position} is blank"
        if len(text) > MAX_PROMPT_CHARS:
            return [], f"prompt {position} is longer than {MAX_PROMPT_CHARS} characters"
    return cleaned, None


def check_https_url(url: Any) -> str | None:
    """None if ``url`` is an absolute https URL with a host and no credentials; else why not."""
    if not isinstance(url, str) or not 1 <= len(url) <= MAX_URL_CHARS:
        return f"the recording URL must be 1 to {MAX_URL_CHARS} characters"
    if re.search(r"[\s\x00-\x1f\x7f]", url):
        return "the recording URL must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "the recording URL is malformed"
    if parts.scheme.lower() != "https":
        return "the recording URL must use https"
    if not host:
        return "the recording URL has no host"
    if parts.username is not None or parts.password is not None:
        return "the recording URL must not carry credentials"
    return None


def missing_positions(doc: Mapping[str, Any]) -> list[int]:
    """The positions of the prompts that have no recorded answer yet, in order."""
    answered = {r["position"] for r in doc.get("responses", [])}
    return [p["position"] for p in doc["prompts"] if p["position"] not in answered]
