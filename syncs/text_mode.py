"""Answering today's prompts by typing: a TEXT reflection snapshots the user's prompts."""

from __future__ import annotations

from conceptkit import Sync, concepts, vars

Requesting, Prompts, ReflectionSession = concepts("Requesting Prompts ReflectionSession")
user, request, prompts, session, err = vars("user request prompts session err")

START_TEXT = "/Reflection/startText"

StartTextReflection = Sync(
    "StartTextReflection",
    when=[Requesting.request({"path": START_TEXT, "user": user}, {})],
    where=[Prompts._promptList({"user": user}, {"prompts": prompts})],
    then=[ReflectionSession.startSession({"user": user, "method": "TEXT", "prompts": prompts})],
)

TextReflectionStarted = Sync(
    "TextReflectionStarted",
    when=[
        Requesting.request({"path": START_TEXT}, {"request": request}),
        ReflectionSession.startSession({}, {"session": session}),
    ],
    then=[Requesting.respond({"request": request, "output": {"session": session}})],
)

TextReflectionRefused = Sync(
    "TextReflectionRefused",
    when=[
        Requesting.request({"path": START_TEXT}, {"request": request}),
        ReflectionSession.startSession({}, {"error": err}),
    ],
    then=[Requesting.respond({"request": request, "output": {"error": err}, "status": 409})],
)
