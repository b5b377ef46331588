"""What PhoneCall's actions return: one TypedDict per shape, so syncs can rely on the names."""

from __future__ import annotations

from typing import TypedDict


class Initiated(TypedDict):
    call: str


class Connected(TypedDict):
    call: str
    user: str
    scheduledCall: str


class Prompting(TypedDict):
    call: str
    promptIndex: int


class Speech(TypedDict):
    call: str
    user: str
    session: str  # the reflection being answered (so syncs need not look the call up)
    answerSoFar: str
    promptIndex: int
    sessionPosition: int  # the reflection's (1-based) position of the prompt being answered


class Silence(TypedDict):
    call: str
    user: str
    session: str
    silentTurns: int
    promptIndex: int
    sessionPosition: int
    answerSoFar: str  # what was said before this silence ("" if nothing)


class KeyPressed(TypedDict):
    call: str
    user: str
    session: str
    key: str  # 0-9, * or #
    atRating: bool  # pressed at the rating question (every prompt answered), not at a prompt
    promptIndex: int  # the prompt being answered (at the rating question: the last one)
    sessionPosition: int  # its reflection position


class Answered(TypedDict):
    call: str
    user: str
    session: str
    position: int
    answer: str
    nextIndex: int | None
    isLast: bool
    sessionPosition: int
    nextSessionPosition: int | None


class SaidAnswer(TypedDict):
    position: int  # the reflection's position (1-based)
    text: str


class Completed(TypedDict):
    call: str
    user: str
    scheduledCall: str
    session: str | None
    transcript: str
    answers: list[SaidAnswer]


class Ended(TypedDict):
    call: str
    user: str
    scheduledCall: str
    session: str | None
    outcome: str
    reflectionStarted: bool  # prompting had begun (a hang-up before it is a missed call)
    transcript: str  # what was said, the unfinished answer included
    answers: list[SaidAnswer]  # the answers the call recorded, by reflection position


class Cancelled(Ended):
    callSid: str | None  # None if the provider has not told us its id yet


class StatusApplied(Ended):
    changed: bool
