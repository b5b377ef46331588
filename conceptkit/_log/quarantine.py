"""Which action-log documents can never be stored, and the redacted stand-in kept instead.

A record whose values BSON cannot carry (a lone surrogate, a NUL or ``$`` in a key,
an integer beyond 64 bits, an object of no BSON type, a document over 16 MiB) fails
the same way on every attempt. Left in a queue it would block every record behind
it, so the writer asks here first: the answer is decided locally, by encoding the
document, before anything is sent, which tells it apart from a database that is
away (that one is retried). Such a record is replaced by a stand-in with the same
id, flow, names and order but no values, so the flow's trail keeps its shape.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import bson
from bson.codec_options import DEFAULT_CODEC_OPTIONS, CodecOptions
from bson.errors import BSONError

from .records import QUARANTINED

# Raised while a document is encoded (by bson, or by pymongo sending it): never transient.
ENCODING_ERRORS: tuple[type[Exception], ...] = (
    BSONError,  # InvalidDocument (NUL in a key, no BSON type), DocumentTooLarge
    ValueError,  # UnicodeEncodeError: lone surrogates
    OverflowError,  # integers beyond 64 bits
    TypeError,
    RecursionError,  # nested deeper than the encoder goes
)
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024  # MongoDB's limit for one document
SEALED = "$sealed"  # the one ``$`` key the log writes itself (LogDocuments.seal_value)
SEALED_KEY = SEALED.encode() + b"\x00"  # as BSON spells it
CONTAINERS = (dict, list, tuple, Mapping)
# What a stand-in keeps: where the record sits and what it was, no value of its own.
KEPT = ("_id", "seq", "flow", "concept", "action", "cause", "sync", "started", "firing", "records")


class UnstorableRecord(Exception):
    """An intent could not be stored: its action must not take effect (it would owe
    reactions no replay could run)."""


def unstorable(
    document: Mapping[str, Any], codec_options: CodecOptions = DEFAULT_CODEC_OPTIONS
) -> str | None:
    """Why ``document`` can never be stored (the error's name), or None if it can."""
    try:
        data = bson.encode(document, codec_options=codec_options)
    except ENCODING_ERRORS as exc:
        return type(exc).__name__
    if len(data) > MAX_DOCUMENT_BYTES:
        return "DocumentTooLarge"
    # Servers differ on "$" keys (some refuse them, some store them and then read
    # them as operators): the log stores none but its own marker of sealed values.
    # Most documents have no other "$" at all, so the walk is rarely needed.
    if data.count(b"$") != data.count(SEALED_KEY) and _has_dollar_key(document):
        return "DollarKey"
    return None


def _has_dollar_key(document: Mapping[str, Any]) -> bool:
    stack: list[Any] = [document]
    while stack:  # no recursion: encoding succeeded, but the nesting may be deep
        value = stack.pop()
        if isinstance(value, dict | Mapping):
            for key, inner in value.items():
                if key[:1] == "$" and key != SEALED:
                    return True
                if isinstance(inner, CONTAINERS):
                    stack.append(inner)
        else:
            stack.extend(v for v in value if isinstance(v, CONTAINERS))
    return False


def stand_in(document: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """The redacted record stored in place of ``document``: no input, output or frame.

    It is never pending (a replay of it could not know its values), and its outputs
    say it is not an outcome, so no sync matches it.
    """
    out: dict[str, Any] = {k: clean(document[k]) for k in KEPT if k in document}
    out["quarantined"] = reason
    finished = document.get("finished")
    out["finished"] = finished if isinstance(finished, dt.datetime) else dt.datetime.now(dt.UTC)
    if "concept" in document:  # an action record, not a firing
        out["inputs"] = {}
        out["outputs"] = {"error": reason, "errorKind": "unavailable", QUARANTINED: True}
        out["pending"], out["retryAt"] = False, None
    return out


def clean(value: Any) -> Any:
    """``value`` made storable and printable: lone surrogates become ``\\udXXX`` text."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, bool) or value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return clean(str(value))
