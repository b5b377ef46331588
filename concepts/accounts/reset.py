"""Password reset codes (a private module of Accounts).

A forgotten password is replaced with a 6-digit code texted to the account's verified
phone. The code is kept only as an HMAC under a random salt, works for 10 minutes and
for 5 tries, and is used up by the reset it allows. One code per account: a new one
replaces the old.

Nothing here may tell anyone whether an account exists: the caller (``Accounts``)
answers every request and every wrong code the same way, and this module checks a
code for a username nobody has exactly as it checks a wrong one (it simply fails).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from typing import Any

from pymongo import ReturnDocument

from .throttle import Backoff, FailureCounter, Wait

CODE_PATTERN = r"\s*[0-9]{3} ?[0-9]{3}\s*"  # as PhoneVerification's: "123456" or "123 456"
CODE_RE = re.compile(CODE_PATTERN)
CODE_LIFETIME = dt.timedelta(minutes=10)
MAX_TRIES = 5
SMS_TEMPLATE = (
    "Your Daily Reflection password reset code is {code}. "
    "If you did not ask for it, ignore this text: your password stays as it is."
)
WRONG_CODE = "that code is wrong or has expired; ask for a new one"
# Asking for codes: three requests go at once, then each next one waits 1 minute,
# 2, 4, ... up to an hour (per client and per username typed), so nobody can flood a
# phone with codes, nor ask for codes faster than they could try them.
REQUEST_BACKOFF = Backoff(free=2, first_s=60.0, cap_s=3600.0)


def new_code() -> str:
    """Six random digits (zero-padded)."""
    return f"{secrets.randbelow(1_000_000):06d}"


def digits_of(code: str) -> str:
    """The code as typed ("123 456 ") -> "123456"."""
    return "".join(code.split())


def _hash(salt: str, user: str, code: str) -> str:
    return hmac.new(bytes.fromhex(salt), f"{user}\n{code}".encode(), hashlib.sha256).hexdigest()


async def count_request(
    counter: FailureCounter, client: str, name: str, now: dt.datetime
) -> Wait | None:
    """Count a request for a code against the client and the username typed (whether or
    not an account has it); the wait, if either key's backoff runs (then nothing counts)."""
    by_client = await counter.charge("reset:" + client, now)
    if isinstance(by_client, Wait):
        return by_client
    by_name = await counter.charge("reset:name:" + name, now)
    if isinstance(by_name, Wait):
        await counter.release(by_client)
        return by_name
    await counter.prune(now)
    return None


class ResetCodes:
    """One pending reset code per user: ``{_id: user, salt, codeHash, tries, createdAt, expiresAt}``."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection

    async def setup(self) -> None:
        # a code no one used is deleted by the server soon after it expires
        await self.collection.create_index("expiresAt", expireAfterSeconds=0)

    async def issue(self, user: str, now: dt.datetime) -> str:
        """A new code for the user (replacing any pending one); returns the code itself."""
        code = new_code()
        salt = secrets.token_hex(16)
        fields = {
            "salt": salt,
            "codeHash": _hash(salt, user, code),
            "tries": 0,
            "createdAt": now,
            "expiresAt": now + CODE_LIFETIME,
        }
        await self.collection.update_one({"_id": user}, {"$set": fields}, upsert=True)
        return code

    async def withdraw(self, user: str, code: str) -> None:
        """Delete the user's pending code if it is still ``code`` (its text could not be sent)."""
        doc = await self.collection.find_one({"_id": user})
        if doc is not None and hmac.compare_digest(doc["codeHash"], _hash(doc["salt"], user, code)):
            await self.collection.delete_one({"_id": user, "codeHash": doc["codeHash"]})

    async def use(self, user: str | None, code: str, now: dt.datetime) -> bool:
        """True, once, if ``code`` is the user's live code; the try is counted before the
        comparison (atomically), so concurrent guesses get no more than five."""
        if user is None:
            return False
        claimed = await self.collection.find_one_and_update(
            {"_id": user, "tries": {"$lt": MAX_TRIES}, "expiresAt": {"$gt": now}},
            {"$inc": {"tries": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if claimed is None:
            return False
        if not hmac.compare_digest(claimed["codeHash"], _hash(claimed["salt"], user, code)):
            return False
        used = await self.collection.delete_one({"_id": user, "codeHash": claimed["codeHash"]})
        return used.deleted_count == 1  # a concurrent reset with the same code used it first

    async def forget(self, user: str) -> None:
        await self.collection.delete_many({"_id": user})
