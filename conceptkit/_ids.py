"""Unique, time-sortable ids (UUIDv7 layout) as 32-character lowercase hex strings.

Ids sort by creation time as plain strings, so "newest first" is a string sort
and an index on ``_id`` is also a time index, on MongoDB and the embedded server
alike. Within one millisecond, a per-process counter keeps them increasing.
"""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_seq = 0


def new_id() -> str:
    """A new UUIDv7-style id: 48 bits of Unix ms, version 7, 12-bit sequence, 62 random bits."""
    global _last_ms, _seq
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _seq += 1
            if _seq > 0xFFF:  # sequence exhausted: borrow the next millisecond
                _last_ms += 1
                _seq = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _seq = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leave room to count up
        seq = _seq
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand
    return f"{value:032x}"


def id_time_ms(value: str) -> int:
    """The Unix millisecond timestamp embedded in an id from ``new_id``."""
    return int(value[:12], 16)
