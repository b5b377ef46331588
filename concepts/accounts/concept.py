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
from pymongo import IndexModel

from conceptkit import Concept, Doc, Len, Pattern, Strip, action, fail, query

from . import reset
from .throttle import Backoff, Charge, FailureCounter, Wait, client_key, in_words

USERNAME_RE = re.compile(r"[a-z0-9._-]{3,40}")
USERNAME_RULE = "3 to 40 characters: letters a-z, digits, '.', '_' or '-'"
PASSWORD_MIN = 10
PASSWORD_MAX = 200
WRONG_CREDENTIALS = "wrong username or password"

NewUsername = Annotated[
    str,
    Strip(),
    Len(3, 40),
    Pattern(r"[A-Za-z0-9._-]{3,40}"),
    Doc("3-40 characters a-z 0-9 . _ - (case and surrounding spaces are ignored)"),
]
# Logging in takes any name up to the longest a sign-up could have typed (with spaces):
# a name that could never exist is a wrong username, answered as any other.
Username = Annotated[str, Len(1, 64), Doc("the username given at sign-up")]
NewPassword = Annotated[
    str, Len(PASSWORD_MIN, PASSWORD_MAX), Doc(f"{PASSWORD_MIN}-{PASSWORD_MAX} characters")
]
GivenPassword = Annotated[str, Len(1, PASSWORD_MAX)]
Token = Annotated[str, Len(1, 200), Doc("a session token returned by login")]
ResetCode = Annotated[str, Pattern(reset.CODE_PATTERN), Doc("the 6-digit code from the text")]
ClientAddress = Annotated[
    str, Len(1, 200), Doc("the caller's network address; the server fills it in, never the body")
]


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
    account is deleted; a wrong password never logs in. Wrong passwords slow down the
    client that sent them (on every account) and, for clients that have failed, the
    username they named, with a backoff that doubles, never a lock: a correct password
    from a client without failures always logs in.
    """

    uses = ("clock", "telephony")

    # OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane): ~50 ms per hash, a quarter of
    # argon2-cffi's default memory, so concurrent logins cannot exhaust RAM as quickly.
    # Tests replace it with a cheap hasher (class or instance attribute).
    hasher: ClassVar[PasswordHasher] = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
    session_lifetime: ClassVar[dt.timedelta] = dt.timedelta(days=30)
    # Three failures cost nothing; after each further one the next attempt waits 1 s, 2 s,
    # 4 s, ... up to 15 minutes. A key's failures are forgotten 24 h after the last one.
    backoff: ClassVar[Backoff] = Backoff()

    _dummy: tuple[PasswordHasher, str] | None = None

    async def setup(self) -> None:
        await self.collection("users").create_index("username", unique=True)
        await self.collection("sessions").create_indexes(
            [IndexModel("tokenHash", unique=True), IndexModel("user")]
        )
        await self._by_client.setup()
        await self._by_name.setup()
        await self._reset_requests.setup()
        await self._resets.setup()
        # The fixed lock this replaced kept its count on the account; drop what is left.
        await self.collection("users").update_many(
            {"failedLogins": {"$exists": True}},  # every such account has it (an int)
            {"$unset": {"failedLogins": "", "lockedUntil": ""}},
        )

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

    @property
    def _by_client(self) -> FailureCounter:
        """Failures per client: a login's network address, or a session re-authenticating."""
        return FailureCounter(self.collection("failuresByClient"), self.backoff)

    @property
    def _by_name(self) -> FailureCounter:
        """Failures per username typed at login, whether or not an account has it."""
        return FailureCounter(self.collection("failuresByName"), self.backoff)

    @property
    def _reset_requests(self) -> FailureCounter:
        """Reset codes asked for, per client and per username typed (existing or not)."""
        return FailureCounter(self.collection("resetRequests"), reset.REQUEST_BACKOFF)

    @property
    def _resets(self) -> reset.ResetCodes:
        return reset.ResetCodes(self.collection("resets"))

    def _throttled(self, wait: Wait, now: dt.datetime, what: str = "failed attempts") -> dict:
        """The refusal while a backoff runs: the same for every username, with the wait as
        data (``retryAfter`` seconds) so each reader shows the moment in their own zone."""
        seconds = wait.seconds(now)
        out = fail(f"too many {what}; try again in {in_words(seconds)}", "rate_limited")
        return {**out, "retryAfter": seconds}

    async def _check_password(self, doc: dict[str, Any], password: str) -> dict[str, Any] | None:
        """None if ``password`` is the account's; else the failure. Re-authentication (with a
        session) is throttled by that session's user alone, so wrong logins by others
        against the username never slow the owner's password change or deletion."""
        now = self._now()
        charge = await self._by_client.charge("session:" + doc["_id"], now)
        if isinstance(charge, Wait):
            return self._throttled(charge, now)
        if await self._verify(doc["passwordHash"], password):
            await self._by_client.release(charge)
            return None
        await self._by_client.prune(now)
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

    async def _replace_password(self, user: str, password: str) -> tuple[str, dt.datetime] | None:
        """Store the new hash and end every session (a thief's too) but a fresh one, whose
        token and expiry are returned; None if the account is gone."""
        new_hash = await self._hash(password)
        res = await self.collection("users").update_one(
            {"_id": user}, {"$set": {"passwordHash": new_hash}}
        )
        if res.matched_count == 0:
            return None
        await self.collection("sessions").delete_many({"user": user})
        return await self._new_session(user)

    # -- actions ---------------------------------------------------------------------

    @action(secret=("password",))
    async def register(self, username: NewUsername, password: NewPassword) -> Registered:
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
        }
        # The unique username index is the check: a separate look first would, on a
        # replay, find this very account and call the name taken.
        created = await self.store("users").create(doc, {"user": user})
        return fail("that username is taken", "conflict") if created is None else created

    @action(secret=("password", "token"), private=("client",))
    async def login(
        self, username: Username, password: GivenPassword, client: ClientAddress = "unknown"
    ) -> Session:
        """Exchange username and password for a session token valid for 30 days.

        Wrong passwords slow down the client (on every username) and, for a client that
        has failed before, the username too: refused with ``rate_limited`` and
        ``retryAfter`` seconds while a backoff runs; never for a client without failures."""
        name = normalize_username(username)
        now = self._now()
        by_client = await self._by_client.charge(client_key(client), now)
        if isinstance(by_client, Wait):
            return self._throttled(by_client, now)
        by_name: Charge | None = None
        if by_client.had_failures:
            gated = await self._by_name.charge("name:" + name, now)
            if isinstance(gated, Wait):
                await self._by_client.release(by_client)
                return self._throttled(gated, now)
            by_name = gated
        doc = None
        if USERNAME_RE.fullmatch(name):
            doc = await self.collection("users").find_one({"username": name})
        # An unknown username verifies a dummy hash: the same cost and the same answer.
        stored = doc["passwordHash"] if doc is not None else await self._dummy_hash()
        if not await self._verify(stored, password) or doc is None:
            if by_name is None:
                await self._by_name.record("name:" + name, now)
            await self._by_client.prune(now)
            return fail(WRONG_CREDENTIALS, "unauthorized")
        await self._by_client.release(by_client)
        if by_name is not None:
            await self._by_name.release(by_name)
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
        fresh = await self._replace_password(user, newPassword)
        if fresh is None:
            return fail("no such account", "not_found")
        return {"token": fresh[0], "expiresAt": fresh[1]}

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
        await self._resets.forget(user)
        res = await self.collection("users").delete_one({"_id": user})
        if res.deleted_count == 0:
            return fail("no such account", "not_found")
        return {}

    @action(private=("client",))
    async def requestReset(
        self, username: Username, client: ClientAddress = "unknown"
    ) -> dict[str, Any]:
        """Ask for a password reset code by text. The answer is the same whether or not the
        account exists or has a verified phone (a sync sends the code where one does);
        asking often waits, per client and per username: ``rate_limited``, ``retryAfter``."""
        now = self._now()
        name = normalize_username(username)
        wait = await reset.count_request(self._reset_requests, client_key(client), name, now)
        return {} if wait is None else self._throttled(wait, now, "reset codes asked for")

    @action(retry=False, private=("phoneNumber",))  # the text goes out after the code is stored
    async def sendResetCode(self, user: str, phoneNumber: str) -> dict[str, Any]:
        """Text a new reset code (10 minutes, 5 tries) to the account's verified phone."""
        code = await self._resets.issue(user, self._now())
        body = reset.SMS_TEMPLATE.format(code=code)
        try:
            await self.services["telephony"].send_sms(to=phoneNumber, body=body, user=user)
        except Exception:
            await self._resets.withdraw(user, code)
            return fail("the text message could not be sent; try again later", "unavailable")
        return {}

    @action(secret=("code", "newPassword", "token"), private=("client",))
    async def resetPassword(
        self,
        username: Username,
        code: ResetCode,
        newPassword: NewPassword,
        client: ClientAddress = "unknown",
    ) -> Session:
        """Replace a forgotten password with the texted code; ends every session and returns
        a fresh one. A wrong code, or a username nobody has, gets the same ``invalid``
        answer, and slows the client's next codes (not its logins) as wrong passwords do."""
        now = self._now()
        charge = await self._by_client.charge("reset:" + client_key(client), now)
        if isinstance(charge, Wait):
            return self._throttled(charge, now, "wrong codes")
        name = normalize_username(username)
        doc = None
        if USERNAME_RE.fullmatch(name):
            doc = await self.collection("users").find_one({"username": name})
        user = doc["_id"] if doc is not None else None
        if not await self._resets.use(user, reset.digits_of(code), now) or user is None:
            await self._by_client.prune(now)
            return fail(reset.WRONG_CODE, "invalid")
        await self._by_client.release(charge)
        fresh = await self._replace_password(user, newPassword)
        if fresh is None:  # deleted meanwhile
            return fail(reset.WRONG_CODE, "invalid")
        return {"user": user, "token": fresh[0], "expiresAt": fresh[1]}

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

    @query
    async def _userNamed(self, username: str) -> list[dict[str, Any]]:
        """The account with this username (internal: the reset sync's, never over HTTP)."""
        name = normalize_username(username)
        if not USERNAME_RE.fullmatch(name):
            return []
        doc = await self.collection("users").find_one({"username": name})
        return [] if doc is None else [{"user": doc["_id"]}]
