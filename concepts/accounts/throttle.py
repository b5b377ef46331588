"""Failed password attempts per key, with exponential backoff (a private module of Accounts).

A fixed lock after N failures lets anyone lock anyone out; a backoff per key only
slows whoever holds the key. Accounts keeps two counters: one per client (the
caller's network address) and one per username. This module is the counter: one
document per key in a collection of its own, forgotten a while after its last
failure (a TTL index where the server honours it, and pruning here where not).

Every change is a compare-and-set on the document as read, or an atomic ``$inc``,
so concurrent attempts never lose a count. An attempt that a key's backoff gates
is counted *before* the password is checked (``charge``) and the count is given
back if the password was right (``release``): a burst of concurrent guesses
cannot slip through while the first ones are still being checked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import math
from typing import Any

import attrs
from pymongo.errors import DuplicateKeyError

# Rounds of compare-and-set before a gated attempt gives up and is told to wait a
# second: each lost round means another attempt on the same key got its count in.
CAS_ROUNDS = 8


@attrs.frozen
class Backoff:
    """How long the next attempt waits after ``n`` failures: nothing for the first
    ``free``, then ``first`` seconds, doubling with each failure up to ``cap``."""

    free: int = 3
    first_s: float = 1.0
    cap_s: float = 900.0
    forget: dt.timedelta = dt.timedelta(hours=24)  # after the last failure

    def wait_after(self, failures: int) -> dt.timedelta:
        if failures <= self.free:
            return dt.timedelta(0)
        doublings = min(failures - self.free - 1, 40)  # 2**40 s is far past any cap
        return dt.timedelta(seconds=min(self.first_s * 2**doublings, self.cap_s))


@attrs.frozen
class Wait:
    """Refused for now: the key's backoff runs until ``until``."""

    until: dt.datetime

    def seconds(self, now: dt.datetime) -> int:
        """Whole seconds to wait, at least one (what Retry-After carries)."""
        return max(1, math.ceil((self.until - now).total_seconds()))


@attrs.frozen
class Charge:
    """One attempt counted in advance as a failure; ``release`` gives it back."""

    key: str
    before: tuple[int, dt.datetime | None, dt.datetime | None]  # failures, lastAt, expiresAt
    after: tuple[int, dt.datetime]  # failures, lastAt
    had_failures: bool  # the key had failures before this attempt


def client_key(address: str) -> str:
    """The unit a client is throttled by: its address, or for IPv6 its /64 (what one
    subscriber usually holds, so a new address per guess does not help)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return "client:" + address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"client:{ip.ipv4_mapped}"
        return f"client:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"client:{ip}"


def stored_id(key: str) -> str:
    """Keys are stored as their SHA-256: no address or typed username sits in the clear
    (a username field sometimes holds a mistyped password)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class FailureCounter:
    """Failures per key in one collection: ``{_id, failures, lastAt, expiresAt}``."""

    def __init__(self, collection: Any, backoff: Backoff) -> None:
        self.collection = collection
        self.backoff = backoff

    async def setup(self) -> None:
        await self.collection.create_index("expiresAt", expireAfterSeconds=0)

    def _live(self, doc: dict[str, Any] | None, now: dt.datetime) -> tuple[int, dt.datetime | None]:
        if doc is None or doc["expiresAt"] <= now:
            return 0, None
        return doc["failures"], doc["lastAt"]

    def _next(self, failures: int, last: dt.datetime | None) -> dt.datetime | None:
        """When the next attempt may go ahead (None: at once)."""
        if last is None or failures == 0:
            return None
        return last + self.backoff.wait_after(failures)

    async def charge(self, key: str, now: dt.datetime) -> Charge | Wait:
        """Count an attempt as a failure before checking it; refused (``Wait``) while the
        key's backoff runs (a key without failures has none)."""
        _id = stored_id(key)
        # its own loop, not Store.change: a mark would make a replayed login return a charge
        for _ in range(CAS_ROUNDS):
            doc = await self.collection.find_one({"_id": _id})
            failures, last = self._live(doc, now)
            until = self._next(failures, last)
            if until is not None and until > now:
                return Wait(until)
            after = (failures + 1, max(now, last) if last else now)
            fields = {
                "failures": after[0],
                "lastAt": after[1],
                "expiresAt": now + self.backoff.forget,
            }
            if doc is None:
                try:
                    await self.collection.insert_one({"_id": _id, **fields})
                except DuplicateKeyError:
                    continue  # a concurrent attempt made it first: decide again on it
            else:
                as_read = {k: doc[k] for k in ("failures", "lastAt", "expiresAt")}
                res = await self.collection.update_one({"_id": _id, **as_read}, {"$set": fields})
                if res.matched_count == 0:
                    continue
            expires = doc["expiresAt"] if failures else None
            return Charge(key, (failures, last, expires), after, failures > 0)
        return Wait(now + dt.timedelta(seconds=1))  # contended: many attempts at once

    async def release(self, charge: Charge) -> None:
        """Give back a charged attempt whose password was right."""
        _id = stored_id(charge.key)
        as_charged = {"_id": _id, "failures": charge.after[0], "lastAt": charge.after[1]}
        failures, last, expires = charge.before
        if failures == 0:
            res = await self.collection.delete_one(as_charged)
            gone = res.deleted_count == 1
        else:
            restored = {"failures": failures, "lastAt": last, "expiresAt": expires}
            res = await self.collection.update_one(as_charged, {"$set": restored})
            gone = res.matched_count == 1
        if not gone:  # changed since by another attempt: take back just this one count
            await self.collection.update_one(
                {"_id": _id, "failures": {"$gt": 0}}, {"$inc": {"failures": -1}}
            )
            await self.collection.delete_one({"_id": _id, "failures": 0})

    async def record(self, key: str, now: dt.datetime) -> None:
        """Count a failure after the fact (an attempt no backoff gated), and prune."""
        _id = stored_id(key)
        forget = now + self.backoff.forget
        for _ in range(CAS_ROUNDS):
            live = await self.collection.find_one_and_update(
                {"_id": _id, "expiresAt": {"$gt": now}},
                {"$inc": {"failures": 1}, "$max": {"lastAt": now, "expiresAt": forget}},
            )
            if live is not None:
                break
            fresh = {"failures": 1, "lastAt": now, "expiresAt": forget}
            res = await self.collection.update_one(
                {"_id": _id, "expiresAt": {"$lte": now}}, {"$set": fresh}
            )  # an expired entry starts over
            if res.matched_count:
                break
            try:
                await self.collection.insert_one({"_id": _id, **fresh})
                break
            except DuplicateKeyError:
                continue
        await self.prune(now)

    async def failures(self, key: str, now: dt.datetime) -> int:
        """The key's live failure count (0 if none or forgotten)."""
        return self._live(await self.collection.find_one({"_id": stored_id(key)}), now)[0]

    async def prune(self, now: dt.datetime) -> int:
        """Delete forgotten entries (the TTL index does it too, where the server has one)."""
        res = await self.collection.delete_many({"expiresAt": {"$lte": now}})
        return res.deleted_count


def in_words(seconds: int) -> str:
    """120 -> "2 minutes": a wait as a person says it (rounded up, never "0")."""
    if seconds < 60:
        return f"{seconds} second" + ("s" if seconds != 1 else "")
    minutes = -(-seconds // 60)
    return f"{minutes} minute" + ("s" if minutes != 1 else "")
