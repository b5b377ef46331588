"""Annotations as validators and JSON Schemas: one source for both."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, TypedDict

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conceptkit import Doc, Len, Pattern, Range, Strip
from conceptkit._types import compile_type


def check(annotation: Any, value: Any) -> tuple[Any, list[dict]]:
    checker, _ = compile_type(annotation)
    errors: list[dict] = []
    return checker(value, ("body", "x"), errors), errors


class Point(TypedDict):
    x: int
    label: Annotated[str, Len(1, 5)]


@attrs.frozen
class Window:
    start: str
    minutes: int = 30


@pytest.mark.parametrize(
    ("annotation", "good", "bad"),
    [
        (str, "a", 1),
        (int, 3, "3"),
        (int, 3, True),  # a bool is not an integer here
        (float, 2, "2.0"),
        (bool, False, 0),
        (Literal["PHONE", "TEXT"], "TEXT", "text"),
        (list[int], [1, 2], [1, "2"]),
        (dict[str, int], {"a": 1}, {"a": "1"}),
        (int | None, None, "x"),
        (Annotated[str, Len(2, 3)], "ab", "abcd"),
        (Annotated[int, Range(1, 10)], 10, 11),
        (Annotated[str, Pattern(r"\+\d+")], "+12", "12"),
        (Point, {"x": 1, "label": "hi"}, {"x": 1, "label": "hi", "extra": 0}),
        (Point, {"x": 1, "label": "hi"}, {"x": 1}),
        (dt.datetime, "2026-03-08T02:30:00-05:00", "2026-03-08T02:30:00"),  # needs an offset
    ],
)
def test_good_values_pass_and_bad_ones_name_the_field(annotation, good, bad):
    assert check(annotation, good)[1] == []
    _, errors = check(annotation, bad)
    assert errors and all(e["loc"][:2] == ["body", "x"] for e in errors)


def test_datetimes_become_utc_and_whole_floats_integers():
    value, _ = check(dt.datetime, "2026-03-08T02:30:00-05:00")
    assert value == dt.datetime(2026, 3, 8, 7, 30, tzinfo=dt.UTC)
    assert check(int, 4.0) == (4, [])


def test_attrs_records_are_built_and_missing_fields_reported():
    value, errors = check(Window, {"start": "20:00"})
    assert value == Window("20:00") and errors == []
    _, errors = check(Window, {"minutes": 5})
    assert [e["loc"] for e in errors] == [["body", "x", "start"]]


def test_strip_trims_before_the_length_is_counted():
    annotation = Annotated[str, Strip(), Len(1, 3)]
    assert check(annotation, "  abc\n") == ("abc", [])
    assert check(annotation, "   ")[1][0]["msg"] == "must not be empty"


def test_messages_read_as_plain_words_never_as_regexes_or_wrong_plurals():
    def msg(annotation, value):
        return check(annotation, value)[1][0]["msg"]

    assert msg(Annotated[str, Len(10, 20)], "short") == "must be at least 10 characters long"
    assert msg(Annotated[str, Len(0, 1)], "ab") == "must be at most 1 character long"
    assert msg(Annotated[list[str], Len(1, 5)], []) == "must have at least 1 item"
    assert msg(Annotated[list[str], Len(1, 1)], ["a", "b"]) == "must have at most 1 item"
    with_doc = Annotated[str, Pattern(r"[0-9]{6}"), Doc("the 6-digit code we texted")]
    assert msg(with_doc, "12ab") == "must be the 6-digit code we texted"
    assert msg(Annotated[str, Pattern(r"[0-9]{6}")], "12ab") == "is not in the expected form"


def test_schemas_say_what_the_checks_check():
    _, schema = compile_type(Annotated[str | None, Len(1, 120), Doc("how to say it")])
    string = next(m for m in schema["anyOf"] if m.get("type") == "string")
    assert (string["minLength"], string["maxLength"]) == (1, 120)
    assert "minItems" not in str(schema) and schema["description"] == "how to say it"
    _, schema = compile_type(Annotated[list[str], Len(1, 5)])
    assert (schema["minItems"], schema["maxItems"]) == (1, 5)
    _, schema = compile_type(Point)
    assert schema["required"] == ["x", "label"] and schema["additionalProperties"] is False
    _, schema = compile_type(Literal["a", "b"])
    assert schema == {"enum": ["a", "b"]}


def test_an_unsupported_annotation_is_refused_at_startup():
    with pytest.raises(TypeError, match="unsupported annotation"):
        compile_type(set[int])


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=10,
    )
)
def test_no_value_makes_a_checker_raise(value):
    for annotation in (
        Point,
        Window,
        list[Point],
        dict[str, int],
        int | None,
        dt.datetime,
        Annotated[str, Strip(), Len(1, 3)],
    ):
        check(annotation, value)  # errors are reported, never raised
