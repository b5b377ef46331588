"""Hypothesis strategies for request bodies, derived from a route's JSON Schema.

Each field gets either a value its schema allows (so the request reaches the
action and its own checks) or a hostile one: text JSON or BSON cannot carry,
numbers at or past every limit, dates far outside a call's lifetime, deep
nesting, long strings under the body limit, and values of the wrong type.
Bodies are built as raw bytes, because some of these (``NaN``, ``1e309``, a
lone ``\\ud800`` escape) cannot be produced by a JSON encoder.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import strategies as st

HOSTILE_FRAGMENTS = [
    '"\\ud800"',
    '"ok\\udfff"',
    '"a\\u0000b"',
    '"\\u0007\\u001b[31m"',
    '"\\uffff"',
    '"\\u202e\\u200b\\ufeff"',
    '"\U0001f600\u0301\u0301\u0301"',
    "1e309",
    "-1e309",
    "NaN",
    "Infinity",
    "-0",
    "-0.0",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775809",
    "2147483648",
    "-1",
    "0",
    "1.5",
    "1e-320",
    "true",
    "null",
    '""',
    '"   "',
    "[]",
    "{}",
    '{"$gt": ""}',
    '"$where"',
    '"../../../../etc/passwd"',
    '"0001-01-01T00:00:00+14:00"',
    '"9999-12-31T23:59:59-14:00"',
    '"2000-01-01T00:00:00"',
    '"24:00"',
    '"Etc/GMT+99"',
    "[" * 40 + "]" * 40,
    '{"a":' * 40 + "1" + "}" * 40,
]
LONG_STRING = '"' + "x" * 60_000 + '"'  # under the 64 KiB body limit

_EXTREME_DATES = st.sampled_from(
    [
        dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14))),
        dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=-14))),
        dt.datetime(1999, 12, 31, 23, 59, tzinfo=dt.UTC),
        dt.datetime(2100, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
    ]
)


def hostile_fragment() -> st.SearchStrategy[str]:
    return st.sampled_from([*HOSTILE_FRAGMENTS, LONG_STRING])


def dumps(value: Any) -> str:
    return json.dumps(value)  # ensure_ascii: every non-ASCII character is an escape


def valid_fragment(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[str]:
    """JSON text for a value the schema allows (as far as a schema can say)."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"]).map(dumps)
    if "anyOf" in schema:
        return st.one_of([valid_fragment(s, depth) for s in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "string":
        return _string(schema).map(dumps)
    if kind == "integer":
        low, high = schema.get("minimum", -(2**31)), schema.get("maximum", 2**31)
        return st.integers(int(low), int(high)).map(dumps)
    if kind == "number":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.floats(low, high, allow_nan=False, allow_infinity=False).map(dumps)
    if kind == "boolean":
        return st.booleans().map(dumps)
    if kind == "null":
        return st.just("null")
    if kind == "array":
        item = field_fragment(schema.get("items", {}), depth + 1)
        low, high = schema.get("minItems", 0), min(schema.get("maxItems", 4), 4)
        return st.lists(item, min_size=min(low, high), max_size=high).map(
            lambda items: "[" + ",".join(items) + "]"
        )
    if kind == "object" or "properties" in schema:
        return object_fragment(schema, depth + 1)
    return st.one_of(st.just("{}"), st.just('"x"'), st.just("1"))


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if schema.get("format") == "date-time":
        moments = st.datetimes(
            min_value=dt.datetime(2000, 1, 2), max_value=dt.datetime(2100, 12, 30)
        ).map(lambda d: d.replace(tzinfo=dt.UTC))
        return st.one_of(moments, _EXTREME_DATES).map(lambda d: d.isoformat())
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    low = schema.get("minLength", 0)
    high = min(schema.get("maxLength", 40), max(low, 40))
    return st.text(min_size=low, max_size=high)


def field_fragment(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[str]:
    """Mostly allowed values; often hostile ones."""
    if depth > 2:
        return hostile_fragment()
    return st.one_of(valid_fragment(schema, depth), hostile_fragment())


def object_fragment(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[str]:
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))

    @st.composite
    def build(draw: st.DrawFn) -> str:
        parts = []
        for name, prop in properties.items():
            present = name in required or draw(st.booleans())
            dropped = name in required and draw(st.integers(0, 19)) == 0  # sometimes missing
            if present and not dropped:
                parts.append(dumps(name) + ":" + draw(field_fragment(prop, depth)))
        if draw(st.integers(0, 5)) == 0:  # an extra key, itself sometimes hostile
            key = draw(st.sampled_from(['"extra"', '"\\ud800"', '"a\\u0000"', '"$set"', '""']))
            parts.append(key + ":" + draw(hostile_fragment()))
        return "{" + ",".join(parts) + "}"

    return build()


def body_for(schema: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """A whole request body: mostly an object per the schema, sometimes not an object at all."""
    whole = st.sampled_from(
        [b"", b"[]", b"null", b'"x"', b"{", b'{"a" 1}', b"\xff\xfe", b"[" * 5000]
    )
    fitting = object_fragment(schema).map(lambda text: text.encode())
    return st.one_of(fitting, fitting, fitting, whole)
