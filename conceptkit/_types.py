"""Type annotations as validators and JSON Schemas.

An action's parameter annotations are the single source of truth for what a
request may contain: the same annotation compiles into a fast checker (run on
every HTTP call) and into the JSON Schema published in OpenAPI. Constraints ride
along in ``Annotated[...]`` metadata, e.g. ``Annotated[str, Len(1, 80)]``.
"""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union, get_args, get_origin

import attrs

Loc = tuple[str | int, ...]
Checker = Callable[[Any, Loc, list[dict[str, Any]]], Any]

_MISSING = object()

# Every date-time input lies in this range: a reflection service has no use for
# year 1 or 9999, and arithmetic near datetime's own limits overflows.
DATETIME_MIN = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
DATETIME_MAX = dt.datetime(2100, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
DATETIME_RANGE_MESSAGE = "must be between 2000-01-01T00:00:00Z and 2100-12-31T23:59:59Z"


@attrs.frozen
class Len:
    """Length bounds for strings and lists (inclusive)."""

    min: int = 0
    max: int | None = None


@attrs.frozen
class Range:
    """Numeric bounds (inclusive)."""

    min: float | None = None
    max: float | None = None


@attrs.frozen
class Pattern:
    """A regular expression a string must match in full."""

    regex: str


@attrs.frozen
class Strip:
    """Strip surrounding whitespace from a string before the other checks (and pass it on stripped)."""


@attrs.frozen
class Doc:
    """A human description of a field, shown in the API docs."""

    text: str


def _err(errors: list[dict[str, Any]], loc: Loc, msg: str, kind: str) -> None:
    errors.append({"loc": list(loc), "msg": msg, "type": kind})


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(
        type(value),
        "object"
        if isinstance(value, dict)
        else "array"
        if isinstance(value, list)
        else type(value).__name__,
    )


def compile_type(annotation: Any) -> tuple[Checker, dict[str, Any]]:
    """Compile an annotation into (checker, json_schema)."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = get_args(annotation)
        check, schema = compile_type(base)
        return _with_constraints(check, dict(schema), meta)
    if annotation is Any or annotation is object:
        return (lambda v, loc, errors: v), {}
    if annotation is type(None) or annotation is None:
        return _exact_none, {"type": "null"}
    if annotation is bool:
        return _checker_for(bool, "boolean"), {"type": "boolean"}
    if annotation is int:
        return _int_checker, {"type": "integer"}
    if annotation is float:
        return _float_checker, {"type": "number"}
    if annotation is str:
        return _checker_for(str, "string"), {"type": "string"}
    if annotation is dt.datetime:
        schema = {"type": "string", "format": "date-time", "description": DATETIME_RANGE_MESSAGE}
        return _datetime_checker, schema
    if origin is Literal:
        return _literal(get_args(annotation))
    if origin in (Union, types.UnionType):
        return _union(get_args(annotation))
    if origin in (list, typing.List) or annotation is list:  # noqa: UP006
        (item,) = get_args(annotation) or (Any,)
        return _list(item)
    if origin in (dict, typing.Dict) or annotation is dict:  # noqa: UP006
        args = get_args(annotation)
        return _dict(args[1] if args else Any)
    if typing.is_typeddict(annotation):
        return _typeddict(annotation)
    if attrs.has(annotation):
        return _attrs_class(annotation)
    raise TypeError(f"unsupported annotation for a concept action: {annotation!r}")


def _checker_for(py_type: type, name: str) -> Checker:
    def check(value: Any, loc: Loc, errors: list[dict[str, Any]]) -> Any:
        if type(value) is not py_type:
            _err(errors, loc, f"must be a {name}, not {_type_name(value)}", "type_error")
        return value

    return check


def _exact_none(value: Any, loc: Loc, errors: list[dict[str, Any]]) -> Any:
    if value is not None:
        _err(errors, loc, "must be null", "type_error")
    return value


def _int_checker(value: Any, loc: Loc, errors: list[dict[str, Any]]) -> Any:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer() and abs(value) < 2**53:
        return int(value)
    _err(errors, loc, f"must be an integer, not {_type_name(value)}", "type_error")
    return value


def _float_checker(value: Any, loc: Loc, errors: list[dict[str, Any]]) -> Any:
    if type(value) in (int, float) and value == value and abs(value) != float("inf"):
        return float(value)
    _err(errors, loc, f"must be a finite number, not {_type_name(value)}", "type_error")
    return value


def _datetime_checker(value: Any, loc: Loc, errors: list[dict[str, Any]]) -> Any:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            _err(errors, loc, "must be an ISO 8601 date-time", "value_error")
            return value
    else:
        _err(
            errors,
            loc,
            f"must be an ISO 8601 date-time string, not {_type_name(value)}",
            "type_error",
        )
        return value
    if parsed.tzinfo is None:
        _err(errors, loc, "must include a UTC offset", "value_error")
        return value
    try:
        instant = parsed.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+14:00 is before year 1 in UTC
        instant = None
    if instant is None or not DATETIME_MIN <= instant <= DATETIME_MAX:
        _err(errors, loc, DATETIME_RANGE_MESSAGE, "value_error")
        return value
    return instant


def _literal(values: tuple[Any, ...]) -> tuple[Checker, dict[str, Any]]:
    allowed = list(values)

    def check(value: Any, loc: Loc, errors: list[dict[str, Any]]) -> Any:
        if not any(value == a and type(value) is type(a) for a in allowed):
            _err(errors, loc, f"must be one of {allowed}", "value_error")
        return value

    return check, {"enum": allowed}


def _union(members: tuple[Any, ...]) -> tuple[Checker, dict[str, Any]]:
    compiled = [compile_type(m) for m in members]
    nullable = any(m is type(None) for m in members)
    others = [c for m, c in zip(members, compiled, strict=True) if m is not type(None)]

    def check(value: Any, loc: Loc, errors: list[dict[str, Any]]) -> Any:
        if value is None and nullable:
            return None
        first_errors: list[dict[str, Any]] | None = None
        for checker, _ in others:
            attempt: list[dict[str, Any]] = []
            result = checker(value, loc, attempt)
            if not attempt:
                return result
            first_errors = first_errors or attempt
        errors.extend(first_errors or [])
        return value

    schemas = [s for _, s in compiled]
    return check, {"anyOf": schemas} if len(schemas) > 1 else schemas[0]


def _list(item: Any) -> tuple[Checker, dict[str, Any]]:
    item_check, item_schema = compile_type(item)

    def check(value: Any, loc: Loc, errors: list[dict[str, Any]]) -> Any:
        if not isinstance(value, (list, tuple)):
            _err(errors, loc, f"must be an array, not {_type_name(value)}", "type_error")
            return value
        return [item_check(v, (*loc, i), errors) for i, v in enumerate(value)]

    return check, {"type": "array", "items": item_schema}


def _dict(value_type: Any) -> tuple[Checker, dict[str, Any]]:
    value_check, value_schema = compile_type(value_type)

    def check(value: Any, loc: Loc, errors: list[dict[str, Any]]) -> Any:
        if not isinstance(value, dict):
            _err(errors, loc, f"must be an object, not {_type_name(value)}", "type_error")
            return value
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                _err(errors, (*loc, str(k)), "keys must be strings", "type_error")
                continue
            out[k] = value_check(v, (*loc, k), errors)
        return out

    return check, {"type": "object", "additionalProperties": value_schema}


def _object(
    fields: dict[str, tuple[Checker, dict[str, Any], bool]], build: Callable[[dict[str, Any]], Any]
):
    names = set(fields)

    def check(value: Any, loc: Loc, errors: list[dict[str, Any]]) -> Any:
        if not isinstance(value, dict):
            _err(errors, loc, f"must be an object, not {_type_name(value)}", "type_error")
            return value
        return build(check_fields(fields, names, value, loc, errors))

    schema = {
        "type": "object",
        "properties": {n: s for n, (_, s, _) in fields.items()},
        "required": [n for n, (_, _, req) in fields.items() if req],
        "additionalProperties": False,
    }
    return check, schema


def check_fields(
    fields: dict[str, tuple[Checker, dict[str, Any], bool]],
    names: set[str],
    value: dict[str, Any],
    loc: Loc,
    errors: list[dict[str, Any]],
) -> dict[str, Any]:
    """Check an object against named field checkers: missing, extra and invalid fields."""
    out: dict[str, Any] = {}
    for name, (checker, _, required) in fields.items():
        if name in value:
            out[name] = checker(value[name], (*loc, name), errors)
        elif required:
            _err(errors, (*loc, name), "field required", "missing")
    for extra in value.keys() - names:
        _err(errors, (*loc, str(extra)), "unexpected field", "extra_forbidden")
    return out


def _typeddict(td: type) -> tuple[Checker, dict[str, Any]]:
    hints = typing.get_type_hints(td, include_extras=True)
    required = getattr(td, "__required_keys__", set(hints))
    fields = {n: (*compile_type(t), n in required) for n, t in hints.items()}
    return _object(fields, lambda d: d)


def _attrs_class(cls: type) -> tuple[Checker, dict[str, Any]]:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {
        a.name: (*compile_type(hints[a.name]), a.default is attrs.NOTHING)
        for a in attrs.fields(cls)
    }

    def build(d: dict[str, Any]) -> Any:
        try:
            return cls(**d)
        except (TypeError, ValueError):
            return d  # the missing/invalid field errors are already recorded

    return _object(fields, build)


def _member(schema: dict[str, Any], *types: str) -> dict[str, Any]:
    """The part of a schema a constraint belongs to: ``str | None`` constrains its string member."""
    for member in schema.get("anyOf", ()):
        if member.get("type") in types:
            return member
    return schema


def _with_constraints(check: Checker, schema: dict[str, Any], meta: list[Any]):
    tests: list[Callable[[Any, Loc, list[dict[str, Any]]], None]] = []
    strip = any(isinstance(m, Strip) for m in meta)
    # a pattern's failure is told in the words of the field's Doc, never as its regex
    doc = next((m.text for m in meta if isinstance(m, Doc)), None)
    if "anyOf" in schema:
        schema = {**schema, "anyOf": [dict(m) for m in schema["anyOf"]]}
    for m in meta:
        if isinstance(m, Len):
            tests.append(_len_test(m))
            target = _member(schema, "string", "array")
            is_str = target.get("type") == "string"
            target["minLength" if is_str else "minItems"] = m.min
            if m.max is not None:
                target["maxLength" if is_str else "maxItems"] = m.max
        elif isinstance(m, Range):
            tests.append(_range_test(m))
            if m.min is not None:
                schema["minimum"] = m.min
            if m.max is not None:
                schema["maximum"] = m.max
        elif isinstance(m, Pattern):
            compiled = re.compile(m.regex)
            tests.append(_pattern_test(compiled, doc))
            _member(schema, "string")["pattern"] = m.regex
        elif isinstance(m, Doc):
            schema["description"] = m.text
    if not tests and not strip:
        return check, schema

    def constrained(value: Any, loc: Loc, errors: list[dict[str, Any]]) -> Any:
        before = len(errors)
        value = check(value, loc, errors)
        if strip and isinstance(value, str):
            value = value.strip()
        if len(errors) == before:
            for test in tests:
                test(value, loc, errors)
        return value

    return constrained, schema


def _len_test(m: Len):
    # Shown to people as they are: "must not be empty", never "at least 1 characters".
    def test(value: Any, loc: Loc, errors: list[dict[str, Any]]) -> None:
        if value is None:
            return
        n, text = len(value), isinstance(value, str)
        bound = m.min if n < m.min else m.max if m.max is not None and n > m.max else None
        if bound is None:
            return
        count = f"{bound} {'character' if text else 'item'}{'' if bound == 1 else 's'}"
        side = "least" if n < m.min else "most"
        if text and side == "least" and bound == 1:
            msg = "must not be empty"
        else:
            msg = f"must be at {side} {count} long" if text else f"must have at {side} {count}"
        _err(errors, loc, msg, "value_error")

    return test


def _range_test(m: Range):
    def test(value: Any, loc: Loc, errors: list[dict[str, Any]]) -> None:
        if value is None:
            return
        if m.min is not None and value < m.min:
            _err(errors, loc, f"must be at least {m.min:g}", "value_error")
        elif m.max is not None and value > m.max:
            _err(errors, loc, f"must be at most {m.max:g}", "value_error")

    return test


def _pattern_test(compiled: re.Pattern[str], doc: str | None):
    msg = f"must be {doc}" if doc else "is not in the expected form"

    def test(value: Any, loc: Loc, errors: list[dict[str, Any]]) -> None:
        if value is not None and not compiled.fullmatch(value):
            _err(errors, loc, msg, "value_error")

    return test
