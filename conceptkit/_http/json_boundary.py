"""The JSON boundary: a request body becomes plain values every later layer can hold.

Validation checks what a field means; this module checks what any value must
be before it reaches validation, the database, the action log or a reply:

- nesting at most ``MAX_DEPTH`` levels, measured on the raw bytes before
  parsing, so a 2 KB body of brackets cannot exhaust the parser's recursion;
- strings and keys are text XML and BSON can carry: no lone surrogates
  (``"\\ud800"`` parses in Python but cannot be encoded as UTF-8), no NUL and
  no other C0 control character except tab, line feed and carriage return,
  and not U+FFFE or U+FFFF (TwiML is XML 1.0, which forbids them);
- numbers are finite (``NaN``, ``Infinity`` and ``1e309`` are refused) and
  integers fit in 64 bits, the widest BSON holds;
- no key starts with ``$``: MongoDB reads such keys as operators, and the
  action log reads ``{"$sealed": ...}`` as its own encrypted value.

Every refusal names the offending field. A body that is not JSON text at all
(a lone surrogate is not Unicode, ``NaN`` is not JSON, nesting past the bound)
is a 400; a value JSON carries but no field here takes is a 422, as a
validation error is. A key that is itself unprintable is named with backslash
escapes, so the error reply can always be rendered.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["MAX_DEPTH", "BodyError", "decode_json_body"]

MAX_DEPTH = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_STRING_LITERAL = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
_NOT_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Loc = list[str | int]


# Problems that make the body not JSON text at all (400); the rest are values JSON
# can carry but no field here takes (422, as validation errors are).
MALFORMED = frozenset({"surrogate", "not_json", "depth"})


class BodyError(Exception):
    """A body no route could take, with ``status`` (400 or 422) and ``detail`` locating it."""

    def __init__(
        self, message: str, detail: list[dict[str, Any]] | None = None, status: int = 400
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.detail = status, message, detail


def decode_json_body(raw: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``raw`` as JSON and check every value in it; raises BodyError."""
    _check_depth(raw, max_depth)
    try:
        data = json.loads(raw, parse_constant=_NonFinite)
    except RecursionError:  # a guard behind the depth scan, which should have caught it
        raise BodyError(f"the body is nested deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BodyError(f"malformed JSON: {exc}") from None
    problems: list[dict[str, Any]] = []
    _check_value(data, ["body"], problems)
    if problems:
        malformed = any(p["type"] in MALFORMED for p in problems)
        where = _dotted(problems[0]["loc"])
        if malformed:
            raise BodyError(f"malformed JSON text at {where}", problems, 400)
        raise BodyError(f"invalid value at {where}", problems, 422)
    return data


class _NonFinite:
    """Python's parser accepts NaN and Infinity, which JSON does not: kept to be refused."""

    def __init__(self, name: str) -> None:
        self.name = name


def _check_depth(raw: bytes, max_depth: int) -> None:
    depth = 0
    for match in _BRACKET.finditer(_STRING_LITERAL.sub(b'""', raw)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                raise BodyError(
                    f"the body is nested deeper than {max_depth} levels",
                    [{"loc": ["body"], "msg": f"nest at most {max_depth} levels", "type": "depth"}],
                )
        else:
            depth -= 1


def _check_value(value: Any, loc: Loc, problems: list[dict[str, Any]]) -> None:
    # Iterative, so the walk itself never recurses however the body is shaped.
    stack: list[tuple[Any, Loc]] = [(value, loc)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            _check_text(item, where, problems, "value")
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                problems.append(_problem(where, "integer is outside the 64-bit range", "range"))
        elif isinstance(item, float):
            if not math.isfinite(item):
                problems.append(_problem(where, "number is too large to represent", "range"))
        elif isinstance(item, dict):
            for key, child in item.items():
                key_loc = [*where, _printable(key)]
                if key.startswith("$"):  # MongoDB's operators, and the log's {"$sealed": ...}
                    problems.append(_problem(key_loc, "a key may not start with '$'", "key"))
                elif _check_text(key, key_loc, problems, "key"):
                    stack.append((child, key_loc))
        elif isinstance(item, _NonFinite):
            msg = f"{item.name} is not a number JSON allows; send a finite number"
            problems.append(_problem(where, msg, "not_json"))
        elif isinstance(item, list):
            stack.extend((child, [*where, i]) for i, child in enumerate(item))


def _check_text(text: str, loc: Loc, problems: list[dict[str, Any]], what: str) -> bool:
    bad = _NOT_TEXT.search(text)
    if bad is None:
        return True
    char = bad.group()
    code = f"U+{ord(char):04X}"
    if 0xD800 <= ord(char) <= 0xDFFF:
        msg = f"this {what} contains a lone surrogate ({code}); send valid Unicode text"
        kind = "surrogate"
    elif ord(char) < 0x20:
        msg = f"this {what} contains a control character ({code}); remove it"
        kind = "control_character"
    else:
        msg = f"this {what} contains a noncharacter ({code}); remove it"
        kind = "noncharacter"
    problems.append(_problem(loc, msg, kind))
    return False


def _problem(loc: Loc, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def _printable(key: str) -> str:
    return key.encode("utf-8", "backslashreplace").decode("utf-8")


def _dotted(loc: Loc) -> str:
    return ".".join(str(part) for part in loc)
