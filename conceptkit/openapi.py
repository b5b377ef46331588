"""An OpenAPI 3.1 document for exactly the routes that are exposed."""

from __future__ import annotations

from typing import Any

from .engine import Engine
from .exposure import Exposure
from .types import compile_type

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
    },
    "required": ["error"],
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def openapi_document(
    engine: Engine, exposures: list[Exposure], title: str, version: str
) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for e in sorted(exposures, key=lambda x: x.path):
        if e.kind == "requested":
            _, body_schema = compile_type(e.body)
            out_schema: dict[str, Any] = {}
            summary, description = (
                f"Request {e.name}",
                "Answered by synchronizations (Requesting.respond).",
            )
            operation_id = "request" + e.name.replace("/", "_")
        else:
            spec = engine.spec(e.concept, e.name)
            assert spec is not None
            exclude = frozenset({e.user_input}) if e.auth else frozenset()
            body_schema = spec.input_schema(exclude)
            out_schema = spec.output_schema
            summary = (spec.doc.splitlines() or [f"{spec.qualname}"])[0]
            description = spec.doc
            operation_id = f"{e.concept}_{e.name}"
        responses: dict[str, Any] = {
            "200": {
                "description": "Success",
                "content": {"application/json": {"schema": out_schema}},
            },
            "400": _error("Malformed JSON"),
            "413": _error("Body too large"),
            "422": _error("Invalid input (see detail) or an action refused it as invalid"),
        }
        responses["404"] = _error("Not found")
        responses["409"] = _error("The action's preconditions do not hold")
        if e.auth:
            responses["401"] = _error("Missing, expired or revoked session token")
            responses["403"] = _error("Not allowed")
        if e.kind == "requested":
            responses["504"] = _error("No response in time")
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
        "info": {"title": title, "version": version},
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
