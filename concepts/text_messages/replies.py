"""A number's STOP and START, each kept once, in the order they were first kept.

The number's document (``_id`` a keyed lookup hash of it) holds ``stopped`` and
``kept``: the ids of the latest keyword replies applied to it, oldest first. One
compare-and-set write both applies a reply and puts it in that line. So a reply
delivered again, or run again after a run that died, is applied only if its first run
never wrote: it can never undo a STOP or START that came after it. A run that died
before that write left nothing, and the reply counts from when it is delivered again.

A document from before this (only ``stoppedAt``) is a STOP, kept before any reply since.
"""

from __future__ import annotations

from typing import Any

from conceptkit import Change, Store

#: A reply is delivered again within minutes: this many later keyword replies (from one
#: number) would push it out of the line, and it would be applied again.
KEEP_KEPT = 50


async def keep_keyword(stops: Store, keys: list[str], *, stopped: bool, message: str) -> None:
    """Make the number stopped (or not) with reply ``message``, unless it was kept already."""

    def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
        kept = list(doc.get("kept", []))
        if message in kept:
            return {}  # applied before: what came after it stands
        return Change({}, set={"stopped": stopped, "kept": [*kept, message][-KEEP_KEPT:]})

    await stops.change_or_create(
        {"_id": {"$in": keys}}, decide, initial=lambda: {"_id": keys[0], "version": 0}
    )


async def is_stopped(stops: Any, keys: list[str]) -> bool:
    """Whether the number's last keyword reply was STOP."""
    return await stops.find_one({"_id": {"$in": keys}, "stopped": {"$ne": False}}) is not None
