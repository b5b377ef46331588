"""Accounts: who may use the service, proven by a password, remembered by a session token."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import secrets
from typing import Annotated, Any, ClassVar, TypedDict

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo import ReturnDocument

from conceptkit import Concept, Doc, Len, action, fail, query

USERNAME_RE = re.compile(r"[a-z0-9._-]{3,40}")
USERNAME_RULE = "3 to 40 characters: letters a-z, digits, '.', '_' or '-'"
PASSWORD_MIN = 10
PASSWORD_MAX = 200
WRONG_CREDENTIALS = "wrong username or password"

Username = Annotated[
    str,
    Len(1, 64),
    Doc("3-40 characters a-z 0-9 . _ - (case and surrounding spaces are ignored)"),
]
NewPassword = Annotated[
    str, Len(PASSWORD_MIN, PASSWORD_MAX), Doc(f"{PASSWORD_MIN}-{PASSWORD_MAX} characters")
]
GivenPassword = Annotated[str, Len(1, PASSWORD_MAX)]
Token = Annotated[str, Len(1, 200), Doc("a session token returned by login")]


class Registered(TypedDict):
    user: str


class Session(TypedDict):
    user: str
    token: str
    expiresAt: dt.datetime


class NewSession(TypedDict):
    token: str
    expiresAt: dt.datetime


def normalize_username(text: str) -> str:
    """The canonical form of a username: surrounding whitespace removed, case folded."""
    return text.strip().casefold()


def token_hash(token: str) -> str:
    """Sessions are stored by the SHA-256 of their token, never the token itself."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Accounts(Concept):
    """Lets a person register with a username and password and then prove, per request, who they are.

    Principle: after ``register("ada", pw)``, ``login("ada", pw)`` returns a token whose
    ``_userForToken`` is ada's user until it expires, ``logout`` revokes it, or the
    account is deleted; a wrong password never logs in, and five wrong passwords in a
    row lock the account for fifteen minutes.
    """

    uses = ("clock",)

    # OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane): ~50 ms per hash, a quarter of
    # argon2-cffi's default memory, so concurrent logins cannot exhaust RAM as quickly.
    # Tests replace it with a cheap hasher (class or instance attribute).
    hasher: ClassVar[PasswordHasher] = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
    session_lifetime: ClassVar[dt.timedelta] = dt.timedelta(days=30)
    max_failures: ClassVar[int] = 5
    lockout: ClassVar[dt.timedelta] = dt.timedelta(minutes=15)

    _dummy: tuple[PasswordHasher, str] | None = None

    async def setup(self) -> None:
        await self.collection("users").create_index("username", unique=True)
        await self.collection("sessions").create_index("tokenHash", unique=True)
        await self.collection("sessions").create_index("user")

    # -- helpers ---------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return self.services["clock"].now()

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def _verify(self, stored: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self.hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(verify)

    async def _dummy_hash(self) -> str:
        """A hash made with the current hasher, verified when no account matches (same cost)."""
        if self._dummy is None or self._dummy[0] is not self.hasher:
            self._dummy = (self.hasher, await self._hash(secrets.token_urlsafe(16)))
        return self._dummy[1]

    def _locked_message(self, until: dt.datetime) -> dict[str, Any]:
        when = until.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return fail(f"too many failed attempts; try again after {when}", "rate_limited")

    async def _check_password(self, doc: dict[str, Any], password: str) -> dict[str, Any] | None:
        """None if ``password`` is the account's; else the failure, counting it toward lockout."""
        now = self._now()
        locked = doc.get("lockedUntil")
        if locked is not None and locked > now:
            return self._locked_message(locked)
        if await self._verify(doc["passwordHash"], password):
            if doc.get("failedLogins") or locked is not None:
                await self.collection("users").update_one(
                    {"_id": doc["_id"]}, {"$set": {"failedLogins": 0, "lockedUntil": None}}
                )
            return None
        after = await self.collection("users").find_one_and_update(
            {"_id": doc["_id"]}, {"$inc": {"failedLogins": 1}}, return_document=ReturnDocument.AFTER
        )
        if after is not None and after.get("failedLogins", 0) >= self.max_failures:
            # Exactly one of several concurrent failures wins this compare-and-set.
            await self.collection("users").update_one(
                {"_id": doc["_id"], "failedLogins": after["failedLogins"]},
                {"$set": {"failedLogins": 0, "lockedUntil": now + self.lockout}},
            )
        return fail(WRONG_CREDENTIALS, "unauthorized")

    async def _new_session(self, user: str) -> tuple[str, dt.datetime]:
        token = secrets.token_urlsafe(32)
        now = self._now()
        expires = now + self.session_lifetime
        await self.collection("sessions").insert_one(
            {
                "_id": self.new_id(),
                "tokenHash": token_hash(token),
                "user": user,
                "createdAt": now,
                "expiresAt": expires,
            }
        )
        return token, expires

    # -- actions ---------------------------------------------------------------------

    @action(secret=("password",))
    async def register(self, username: Username, password: NewPassword) -> Registered:
        """Create an account with a unique username and a password of 10-200 characters."""
        name = normalize_username(username)
        if not USERNAME_RE.fullmatch(name):
            return fail(f"a username is {USERNAME_RULE}", "invalid")
        if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
            return fail(
                f"a password is {PASSWORD_MIN} to {PASSWORD_MAX} characters long", "invalid"
            )
        user = self.new_id()
        doc = {
            "_id": user,
            "username": name,
            "passwordHash": await self._hash(password),
            "createdAt": self._now(),
            "failedLogins": 0,
            "lockedUntil": None,
        }
        # The unique username index is the check: a separate look first would, on a
        # replay, find this very account and call the name taken.
        created = await self.store("users").create(doc, {"user": user})
        return fail("that username is taken", "conflict") if created is None else created

    @action(secret=("password", "token"))
    async def login(self, username: Username, password: GivenPassword) -> Session:
        """Exchange username and password for a session token valid for 30 days."""
        name = normalize_username(username)
        doc = None
        if USERNAME_RE.fullmatch(name):
            doc = await self.collection("users").find_one({"username": name})
        if doc is None:
            await self._verify(await self._dummy_hash(), password)  # same cost as a real check
            return fail(WRONG_CREDENTIALS, "unauthorized")
        failure = await self._check_password(doc, password)
        if failure is not None:
            return failure
        if self.hasher.check_needs_rehash(doc["passwordHash"]):
            await self.collection("users").update_one(
                {"_id": doc["_id"]}, {"$set": {"passwordHash": await self._hash(password)}}
            )
        token, expires = await self._new_session(doc["_id"])
        return {"user": doc["_id"], "token": token, "expiresAt": expires}

    @action(secret=("token",))
    async def logout(self, token: Token) -> dict[str, Any]:
        """End the session of this token."""
        res = await self.collection("sessions").delete_one({"tokenHash": token_hash(token)})
        if res.deleted_count == 0:
            return fail("no such session", "not_found")
        return {}

    @action
    async def logoutEverywhere(self, user: str) -> dict[str, Any]:
        """End every session of the user."""
        await self.collection("sessions").delete_many({"user": user})
        return {}

    @action(secret=("currentPassword", "newPassword", "token"))
    async def changePassword(
        self, user: str, currentPassword: GivenPassword, newPassword: NewPassword
    ) -> NewSession:
        """Replace the password; ends every session and returns a fresh one."""
        if not PASSWORD_MIN <= len(newPassword) <= PASSWORD_MAX:
            return fail(
                f"a password is {PASSWORD_MIN} to {PASSWORD_MAX} characters long", "invalid"
            )
        doc = await self.collection("users").find_one({"_id": user})
        if doc is None:
            return fail("no such account", "not_found")
        failure = await self._check_password(doc, currentPassword)
        if failure is not None:
            return failure
        res = await self.collection("users").update_one(
            {"_id": user}, {"$set": {"passwordHash": await self._hash(newPassword)}}
        )
        if res.matched_count == 0:
            return fail("no such account", "not_found")
        await self.collection("sessions").delete_many({"user": user})
        token, expires = await self._new_session(user)
        return {"token": token, "expiresAt": expires}

    @action(secret=("password",))
    async def verifyPassword(self, user: str, password: GivenPassword) -> dict[str, Any]:
        """Succeed only if password is the user's (re-authentication before a drastic step)."""
        doc = await self.collection("users").find_one({"_id": user})
        if doc is None:
            return fail("no such account", "not_found")
        failure = await self._check_password(doc, password)
        return failure if failure is not None else {}

    @action
    async def deleteAccount(self, user: str) -> dict[str, Any]:
        """Delete the account and all its sessions."""
        # Sessions first: a crash in between leaves an account that can log in again,
        # never a live session of a deleted account.
        await self.collection("sessions").delete_many({"user": user})
        res = await self.collection("users").delete_one({"_id": user})
        if res.deleted_count == 0:
            return fail("no such account", "not_found")
        return {}

    # -- queries ---------------------------------------------------------------------

    @query
    async def _userForToken(self, token: Token) -> list[dict[str, Any]]:
        """The user of a live session token; empty if unknown, expired or logged out."""
        doc = await self.collection("sessions").find_one({"tokenHash": token_hash(token)})
        if doc is None or doc["expiresAt"] <= self._now():
            return []
        return [{"user": doc["user"]}]

    @query
    async def _account(self, user: str) -> list[dict[str, Any]]:
        """The user's username and registration time."""
        doc = await self.collection("users").find_one({"_id": user})
        if doc is None:
            return []
        return [{"user": doc["_id"], "username": doc["username"], "createdAt": doc["createdAt"]}]
