"""The JSON boundary: what any value must be before validation sees it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conceptkit._http.json_boundary import MAX_DEPTH, BodyError, decode_json_body

# Text the boundary accepts: any code point XML 1.0 allows.
TEXT_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters=[chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"]
    + ["\ufffe", "\uffff"],
)
texts = st.text(TEXT_CHARS, max_size=20)
keys = texts.filter(lambda k: not k.startswith("$"))
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


def raw(value: object) -> bytes:
    return json.dumps(value).encode()  # ensure_ascii: lone surrogates become \\udXXX escapes


def refusal(body: bytes, status: int = 400) -> BodyError:
    with pytest.raises(BodyError) as caught:
        decode_json_body(body)
    assert caught.value.status == status
    json.dumps(caught.value.detail, ensure_ascii=False).encode()  # the reply can be rendered
    return caught.value


@given(values)
def test_ordinary_json_passes_through_unchanged(value):
    assert decode_json_body(raw({"v": value})) == {"v": value}


@given(
    st.lists(st.sampled_from(["k", "x", "y"]), min_size=0, max_size=5),
    st.sampled_from(["\ud800", "\udfff", "\x00", "\x07", "\x1b", "\uffff"]),
    st.booleans(),
)
def test_bad_text_anywhere_is_refused_naming_where_it_is(path, bad, as_key):
    leaf: object = {f"a{bad}": 1} if as_key else f"a{bad}b"
    body: object = leaf
    for name in reversed(path):
        body = {name: body}
    error = refusal(raw({"top": body}), 400 if "\ud800" <= bad <= "\udfff" else 422)
    loc = error.detail[0]["loc"]
    assert loc[: len(path) + 2] == ["body", "top", *path]
    assert error.detail[0]["type"] in {"surrogate", "control_character", "noncharacter"}


@pytest.mark.parametrize(
    ("body", "kind", "loc", "status"),
    [
        (b'{"n": 18446744073709551616}', "range", ["body", "n"], 422),
        (b'{"n": -9223372036854775809}', "range", ["body", "n"], 422),
        (b'{"n": 1e309}', "range", ["body", "n"], 422),
        (b'{"n": [1, -1e400]}', "range", ["body", "n", 1], 422),
        (b'{"n": NaN}', "not_json", ["body", "n"], 400),
        (b'{"n": {"m": Infinity}}', "not_json", ["body", "n", "m"], 400),
    ],
)
def test_numbers_json_or_bson_cannot_hold_are_refused(body, kind, loc, status):
    error = refusal(body, status)
    assert (error.detail[0]["type"], error.detail[0]["loc"]) == (kind, loc)


def test_the_widest_64_bit_integers_and_negative_zero_are_accepted():
    assert decode_json_body(b'{"a": 9223372036854775807, "b": -9223372036854775808, "c": -0}') == {
        "a": 2**63 - 1,
        "b": -(2**63),
        "c": 0,
    }


@given(st.integers(1, MAX_DEPTH + 40), st.booleans())
def test_nesting_is_bounded_before_parsing(depth, objects):
    body = b'{"a":' * depth + b"1" + b"}" * depth if objects else b"[" * depth + b"]" * depth
    if depth <= MAX_DEPTH:
        decode_json_body(body)
    else:
        assert "nested deeper" in refusal(body).message


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = "[{" * 500 + '\\"' + "}]" * 500
    assert decode_json_body(json.dumps({"t": text}).encode()) == {"t": text}


def test_a_huge_nesting_from_a_small_body_is_refused_not_a_recursion_error():
    assert "nested deeper" in refusal(b"[" * 100_000).message


def test_malformed_json_is_still_malformed():
    assert refusal(b'{"a": ').message.startswith("malformed JSON")
    assert refusal(b"\xff\xfe").message.startswith("malformed JSON")


@pytest.mark.parametrize("key", ["$sealed", "$gt", "$"])
def test_a_key_mongodb_or_the_log_would_read_as_its_own_is_refused(key):
    error = refusal(json.dumps({"filter": {key: "x"}}).encode(), 422)
    assert error.detail[0]["loc"] == ["body", "filter", key]
