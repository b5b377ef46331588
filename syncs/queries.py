"""What code outside syncs/ asks of the concepts, named by the question, not by the concept.

Only syncs name concepts (tests/test_architecture.py checks it): the call worker and the
phone simulator ask here instead, so a concept's name or query can change in one place.
The worker's two steps (plan a due schedule, claim a due call) are here too: they are
the actions that start the call flows, which the syncs then carry on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from conceptkit import Engine

__all__ = [
    "claim_due_call",
    "is_a_call_due",
    "next_call_due_at",
    "numbers_of",
    "plan_next_call",
    "recording_url_of",
    "replying_for",
    "schedules_due",
    "user_for_token",
    "verified_numbers_of",
    "whose_call",
]


# -- the call worker ---------------------------------------------------------------------


async def schedules_due(engine: Engine, before: dt.datetime, limit: int) -> list[dict[str, Any]]:
    """Users whose next scheduled call is before ``before``: rows of ``user`` and ``at``."""
    return await engine.query("Schedule", "_dueUsers", {"before": before, "limit": limit})


async def plan_next_call(engine: Engine, user: str, after: dt.datetime) -> dict[str, Any]:
    """A call for ``user`` up to ``after`` is planned: the schedule moves on to the next one."""
    return await engine.invoke("Schedule", "advance", {"user": user, "after": after})


async def is_a_call_due(engine: Engine, now: dt.datetime) -> bool:
    """Whether a call can be claimed at ``now`` (asked before claiming: a look writes nothing)."""
    return bool(await engine.query("CallScheduler", "_isDue", {"now": now}))


async def claim_due_call(
    engine: Engine, worker: str, now: dt.datetime, lease_seconds: int
) -> dict[str, Any]:
    """Claim one due call for ``worker`` (its dial runs in the syncs of the claim)."""
    return await engine.invoke(
        "CallScheduler",
        "claimDue",
        {"worker": worker, "now": now, "leaseSeconds": lease_seconds},
    )


async def next_call_due_at(engine: Engine) -> float | None:
    """When (epoch seconds) the next call becomes claimable; None if nothing is planned."""
    rows = await engine.query("CallScheduler", "_nextDueAt", {})
    return rows[0].get("dueAt") if rows else None


# -- the recording route ----------------------------------------------------------------


async def recording_url_of(engine: Engine, user: str, session: str) -> str | None:
    """The provider's URL of the recording of ``user``'s reflection ``session``; None if it
    has none, or is not theirs (the two are not told apart)."""
    rows = await engine.query(
        "ReflectionSession", "_recordingUrl", {"user": user, "session": session}
    )
    return rows[0]["recordingUrl"] if rows else None


# -- the phone simulator -----------------------------------------------------------------


async def whose_call(engine: Engine, call_sid: str) -> str | None:
    """The user a provider call (by its sid) was placed for; None until the sid is attached."""
    rows = await engine.query("PhoneCall", "_byCallSid", {"callSid": call_sid})
    return rows[0]["user"] if rows else None


async def user_for_token(engine: Engine, token: str) -> str | None:
    """The user of a live session token; None if unknown, expired or logged out."""
    rows = await engine.query("Accounts", "_userForToken", {"token": token})
    return rows[0]["user"] if rows else None


async def numbers_of(engine: Engine, user: str) -> list[str]:
    """The user's phone numbers: on the profile, waiting for a code, and verified (no repeats)."""
    numbers: list[str] = []
    for concept, query in (
        ("Profile", "_getProfile"),
        ("PhoneVerification", "_pendingNumber"),
        ("PhoneVerification", "_verifiedNumbers"),
    ):
        for row in await engine.query(concept, query, {"user": user}):
            number = row.get("phoneNumber")
            if number and number not in numbers:
                numbers.append(number)
    return numbers


async def verified_numbers_of(engine: Engine, user: str) -> list[str]:
    """The numbers the user has proved are theirs (a code texted there came back)."""
    rows = await engine.query("PhoneVerification", "_verifiedNumbers", {"user": user})
    return [row["phoneNumber"] for row in rows]


async def replying_for(engine: Engine, number: str) -> str | None:
    """Whom a text reply from ``number`` would act for now (None: no one was texted)."""
    rows = await engine.query("TextMessages", "_replyingFor", {"phoneNumber": number})
    return rows[0]["user"] if rows else None
