"""An OpenAPI 3.1 document for exactly the routes that are exposed."""

from __future__ import annotations

from typing import Any

from .._engine import Engine
from .._error_kinds import error_kinds_of
from .._types import compile_type
from .exposure import Exposure
from .routes import DEFAULT_ERROR_STATUS, ERROR_STATUS

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "errorKind": {"type": "string"},
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array"},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
        "requestId": {"type": "string"},
        "retryAfter": {"type": "integer", "minimum": 1, "description": "seconds; also Retry-After"},
    },
    "required": ["error"],
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


RETRY_AFTER = {
    "description": "Seconds to wait before trying again",
    "schema": {"type": "integer", "minimum": 1},
}


# What each error kind an action returns means to a caller, by its status.
KIND_DESCRIPTIONS = {
    "invalid": "The action refused the input as invalid",
    "not_found": "Not found",
    "conflict": "The action's preconditions do not hold",
    "forbidden": "Not allowed",
    "unauthorized": "Wrong credentials",
    "rate_limited": "Too many attempts; Retry-After says when to try again",
    "unavailable": "A service it needs is unavailable; try again later",
}


def _responses(engine: Engine, e: Exposure) -> dict[str, Any]:
    """Every status the route can give: the boundary's, the session's, and the action's own."""
    if e.kind == "requested":
        out_schema: dict[str, Any] = {}
    else:
        spec = engine.spec(e.concept, e.name)
        assert spec is not None
        out_schema = spec.output_schema
    responses: dict[str, Any] = {
        "200": {"description": "Success", "content": {"application/json": {"schema": out_schema}}},
        "400": _error("Malformed JSON, nesting too deep, or text or numbers no field can hold"),
        "413": _error("Body too large"),
        "415": _error("The body is not JSON"),
        "422": _error("Invalid input (see detail)"),
    }
    if e.auth:
        responses["401"] = _error("Missing, expired or revoked session token")
    if e.kind == "requested":
        for status in _requested_statuses(engine, e.name):
            responses.setdefault(str(status), _error("Refused (see error)"))
        responses["504"] = _error("No response in time")
        return _with_retry_after(responses)
    for kind in sorted(error_kinds_of(type(engine.concepts[e.concept]), e.name)):
        status = str(ERROR_STATUS.get(kind, DEFAULT_ERROR_STATUS))
        responses.setdefault(status, _error(KIND_DESCRIPTIONS[kind]))
    if spec.kind == "action":
        responses["503"] = _error("Only partly carried out; the rest completes on its own")
    return _with_retry_after(responses)


def _with_retry_after(responses: dict[str, Any]) -> dict[str, Any]:
    if "429" in responses:
        responses["429"] = {**responses["429"], "headers": {"Retry-After": RETRY_AFTER}}
    return dict(sorted(responses.items()))


def _requested_statuses(engine: Engine, path: str) -> set[int]:
    """The statuses the syncs answering ``path`` respond with (``Requesting.respond``)."""
    statuses: set[int] = set()
    answering = {
        sync.name
        for sync in engine.syncs
        if any(
            p.concept == "Requesting" and p.action == "request" and p.inputs.get("path") == path
            for p in sync.when
        )
    }
    by_name = {sync.name: sync for sync in engine.syncs}
    for name in answering:
        for then in by_name[name].then:
            if then.concept == "Requesting" and then.action == "respond":
                status = then.inputs.get("status", 200)
                # a status computed from the flow could be any the contract names
                statuses |= {status} if isinstance(status, int) else set(ERROR_STATUS.values())
    return statuses - {200}


def _first_sentence(text: str) -> str:
    """A route's summary: its description's first sentence (or line), for the list of routes."""
    first = " ".join(text.strip().split("\n\n")[0].split())
    end = first.find(". ")
    return first[: end + 1] if end >= 0 else first


def openapi_document(
    engine: Engine,
    exposures: list[Exposure],
    title: str,
    version: str,
    home: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``exposures``; ``home`` (name, URL) is the app the API
    belongs to, linked from ``/docs`` (as the ``x-home`` extension of ``info``)."""
    paths: dict[str, Any] = {}
    for e in sorted(exposures, key=lambda x: x.path):
        if e.kind == "requested":
            _, body_schema = compile_type(e.body)
            # how it is answered (syncs) is the app's business, not its caller's
            description = e.doc or f"{e.name.strip('/').replace('/', ' ')}."
            summary = _first_sentence(description)
            operation_id = "request" + e.name.replace("/", "_")
        else:
            spec = engine.spec(e.concept, e.name)
            assert spec is not None
            # what the route fills in itself (the session's user, the caller's address)
            exclude = frozenset({e.user_input} if e.auth else ()) | frozenset(
                {e.client_input} if e.client_input else ()
            )
            body_schema = spec.input_schema(exclude)
            description = e.doc or spec.doc or spec.qualname
            summary = _first_sentence(description)
            operation_id = f"{e.concept}_{e.name}"
        responses = _responses(engine, e)
        op: dict[str, Any] = {
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "tags": [e.concept if e.kind != "requested" else e.name.split("/")[1]],
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": body_schema}},
            },
            "responses": responses,
            "security": [{"bearer": []}] if e.auth else [],
        }
        paths[e.path] = {"post": op}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            **({"x-home": {"name": home[0], "url": home[1]}} if home else {}),
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Session token from logging in",
                }
            },
        },
    }
