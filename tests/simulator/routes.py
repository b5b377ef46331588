"""The simulator routes that name a call or a text, for walks that must cover every one."""

from __future__ import annotations

from typing import Any

from services.devtools.phone_simulator import DECISIONS
from services.devtools.phone_simulator_routes import CONVERSATION

INTRUDER_WORDS = "Somebody else was here."
ACTIONS = [*DECISIONS, *CONVERSATION]

#: (method, path, action) of every route naming a call, as `simulator_routes` mounts them.
CALL_ROUTES = [
    ("GET", "/simulator/api/calls/{sid}", None),
    *(("POST", "/simulator/api/calls/{sid}/{action}", action) for action in ACTIONS),
]


def mounted_call_routes(routes: list[Any]) -> set[tuple[str, str, str | None]]:
    """What the server really mounts, in CALL_ROUTES' shape (to check the walk is whole)."""
    return {
        (method, route.path, action)
        for route in routes
        if route.path.startswith("/simulator/api/calls/{sid}")
        for method in route.methods - {"HEAD"}
        for action in (ACTIONS if "{action}" in route.path else [None])
    }


def cross_requests(sid: str) -> list[tuple[str, str, Any]]:
    """Each of CALL_ROUTES for `sid` (a path under /simulator/api/), with a valid body
    (`text` for say, `key` for key; each route reads only its own)."""
    return [
        (
            method,
            path.removeprefix("/simulator/api/").format(sid=sid, action=action),
            {"text": INTRUDER_WORDS, "key": "9"} if method == "POST" else None,
        )
        for method, path, action in CALL_ROUTES
    ]


#: (method, path) of every route naming a text message.
MESSAGE_ROUTES = [("POST", "/simulator/api/messages/{sid}/reply")]


def mounted_routes_with_a_sid(routes: list[Any]) -> set[str]:
    """Every mounted path that names a call or a text, to check no walk misses one."""
    return {route.path for route in routes if "{sid}" in route.path}


def cross_message_requests(sid: str) -> list[tuple[str, str, Any]]:
    """Each of MESSAGE_ROUTES for text ``sid``, with a valid body."""
    return [
        (method, path.removeprefix("/simulator/api/").format(sid=sid), {"text": "STOP"})
        for method, path in MESSAGE_ROUTES
    ]
