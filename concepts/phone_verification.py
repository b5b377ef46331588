"""PhoneVerification: proof that a user owns a phone number before anything dials it.

Numbers are stored encrypted for their user (the ``encryption`` port); where one must be
found by equality (is it verified? how many codes went to it?) a keyed hash of it, its
*lookup key*, is stored beside it or used as the id. They are private in the action log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
from typing import Annotated, Any, ClassVar, TypedDict

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from conceptkit import Change, Concept, Doc, Len, Pattern, action, fail, query
from services.telephony import normalize_e164

# Six ASCII digits, optionally split 3+3 by one space ("123 456"), spaces around allowed.
CODE_PATTERN = r"\s*[0-9]{3} ?[0-9]{3}\s*"
CODE_RE = re.compile(CODE_PATTERN)
SMS_TEMPLATE = "Your reflection code is {code}"
FIELD_NUMBER = "PhoneVerification.phoneNumber"  # the encrypted number's field label
LOOKUP_PURPOSE = "phone"  # the lookup keys' HMAC label (services.encryption.keys.PHONE)

PhoneInput = Annotated[
    str, Len(1, 64), Doc("in international form, e.g. +14155552671 or +1 (415) 555-2671")
]
CodeInput = Annotated[str, Pattern(CODE_PATTERN), Doc("the 6-digit code from the text message")]


def _wait(message: str, seconds: int) -> dict[str, Any]:
    """A rate-limited refusal that says, as data, how many seconds to wait (Retry-After)."""
    return {**fail(message, "rate_limited"), "retryAfter": max(1, seconds)}


class Number(TypedDict):
    phoneNumber: str


class PhoneVerification(Concept):
    """Proves that a user can read text messages sent to a phone number, so we only ever call numbers their owners asked for.

    Principle: after ``start(u, n)`` texts a 6-digit code to n, ``confirm(u, code)`` with
    that code within 10 minutes makes ``_isVerified(u, n)`` true; a wrong, expired or
    over-guessed code verifies nothing.
    """

    uses = ("clock", "telephony", "encryption")

    code_lifetime: ClassVar[dt.timedelta] = dt.timedelta(minutes=10)
    max_attempts: ClassVar[int] = 5
    resend_interval: ClassVar[dt.timedelta] = dt.timedelta(seconds=30)
    sends_per_hour: ClassVar[int] = 5  # per user, and separately per destination number
    window: ClassVar[dt.timedelta] = dt.timedelta(hours=1)

    async def setup(self) -> None:
        await self.collection("pending").create_index("user", unique=True)
        await self.collection("verified").create_index("user", unique=True)
        # a send history is needed for an hour; one under a retired key is never read again
        await self.collection("throttle").create_index("expiresAt", expireAfterSeconds=0)

    # -- helpers ---------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return self.services["clock"].now()

    @staticmethod
    def _code_hash(salt: str, user: str, number: str, code: str) -> str:
        message = f"{user}\n{number}\n{code}".encode()
        return hmac.new(bytes.fromhex(salt), message, hashlib.sha256).hexdigest()

    @staticmethod
    def _user_key(user: str) -> str:
        return f"user:{user}"

    def _number_keys(self, number: str) -> list[str]:
        """The throttle ids of a number under every key, primary first. Keyed hashes: the
        throttle of a number outlives any one user's data and must not hold it."""
        enc = self.services["encryption"]
        return ["number:" + k for k in enc.lookup_keys(number, purpose=LOOKUP_PURPOSE)]

    def _sealed(self, user: str, number: str) -> str:
        return self.services["encryption"].encrypt(number, user=user, field=FIELD_NUMBER)

    def _opened(self, user: str, token: str) -> str:
        return self.services["encryption"].decrypt(token, user=user, field=FIELD_NUMBER)

    def _is_among(self, number: str, entries: list[dict[str, Any]]) -> bool:
        enc = self.services["encryption"]
        return any(enc.matches_lookup(number, e["key"]) for e in entries)

    async def _claim_send(
        self, keys: str | list[str], now: dt.datetime, who: str
    ) -> tuple[str, dict[str, Any] | None, int] | dict[str, Any]:
        """Record a send for ``keys`` (one id, or the ids a number has under each key, the
        one found first) if the throttle allows it (compare-and-set on a version).

        Returns ``(id, previous document, new version)`` for ``_release_send``, or a failure.
        """
        throttle = self.collection("throttle")
        keys = [keys] if isinstance(keys, str) else keys
        doc = await throttle.find_one({"_id": {"$in": keys}})
        key = keys[0] if doc is None else doc["_id"]
        recent = [t for t in (doc or {}).get("sends", []) if t > now - self.window]
        if recent and now - max(recent) < self.resend_interval:
            wait = math.ceil((max(recent) + self.resend_interval - now).total_seconds())
            return _wait(
                f"a code was just sent {who}; wait {wait} seconds before asking for another",
                wait,
            )
        if len(recent) >= self.sends_per_hour:
            # the wait as data: each reader shows the moment in their own time zone
            wait = math.ceil((min(recent) + self.window - now).total_seconds())
            minutes = max(1, math.ceil(wait / 60))
            return _wait(
                f"too many codes sent {who} this hour; try again in {minutes} minutes", wait
            )
        sends = [*recent, now]
        # read by the server's expiry (TTL) index, which runs on real time
        expires = dt.datetime.now(dt.UTC) + self.window
        busy = _wait(f"a code is being sent {who}; wait a moment", 2)
        if doc is None:
            try:
                await throttle.insert_one(
                    {"_id": key, "sends": sends, "expiresAt": expires, "version": 1}
                )
            except DuplicateKeyError:
                return busy
            return key, None, 1
        version = doc.get("version", 0) + 1
        res = await throttle.update_one(
            {"_id": key, "version": version - 1},
            {"$set": {"sends": sends, "expiresAt": expires, "version": version}},
        )
        if res.matched_count == 0:
            return busy
        return key, doc, version

    async def _release_send(self, claim: tuple[str, dict[str, Any] | None, int]) -> None:
        """Undo ``_claim_send`` (unless someone has changed the record since)."""
        key, previous, version = claim
        throttle = self.collection("throttle")
        if previous is None:
            await throttle.delete_one({"_id": key, "version": version})
        else:
            await throttle.update_one(
                {"_id": key, "version": version},
                {"$set": {"sends": previous.get("sends", []), "version": version + 1}},
            )

    async def _add_verified(self, user: str, number: str) -> dict[str, Any] | None:
        """Add ``number`` to the user's set (whole-list $set, compare-and-set on a version);
        a failure if the set kept changing meanwhile.

        Each entry is ``{number: token, key: lookup key}``: the key beside its token, so key
        rotation can make it again under the new key."""
        enc = self.services["encryption"]
        entry = {
            "number": self._sealed(user, number),
            "key": enc.lookup_key(number, purpose=LOOKUP_PURPOSE),
        }
        added = {"phoneNumber": number}

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if self._is_among(number, doc["numbers"]):
                return added  # verified already: nothing to write
            return Change(added, set={"numbers": [*doc["numbers"], entry]})

        def first() -> dict[str, Any]:  # the unique user index refuses a second one
            return {"_id": self.new_id(), "user": user, "numbers": [], "version": 0}

        out = await self.store("verified").change_or_create(
            {"user": user},
            decide,
            initial=first,
            busy=fail(
                "your verified numbers are changing too often; try the code again", "unavailable"
            ),
        )
        return out if "error" in out else None

    # -- actions ---------------------------------------------------------------------

    @action(retry=False, private=("phoneNumber",))  # the text goes out before the code is stored
    async def start(self, user: str, phoneNumber: PhoneInput) -> Number:
        """Text a 6-digit code (valid 10 minutes) to the number; replaces any code pending."""
        try:
            number = normalize_e164(phoneNumber)
        except ValueError as exc:
            return fail(str(exc), "invalid")
        now = self._now()
        user_claim = await self._claim_send(self._user_key(user), now, "to you")
        if isinstance(user_claim, dict):
            return user_claim
        number_claim = await self._claim_send(self._number_keys(number), now, "to that number")
        if isinstance(number_claim, dict):
            await self._release_send(user_claim)
            return number_claim
        code = f"{secrets.randbelow(1_000_000):06d}"
        salt = secrets.token_hex(16)
        try:
            await self.services["telephony"].send_sms(
                to=number, body=SMS_TEMPLATE.format(code=code), user=user
            )
        except Exception:
            await self._release_send(number_claim)
            await self._release_send(user_claim)
            return fail("the text message could not be sent; try again later", "unavailable")
        await self.collection("pending").update_one(
            {"user": user},
            {
                "$set": {
                    "phoneNumber": self._sealed(user, number),
                    "salt": salt,
                    "codeHash": self._code_hash(salt, user, number, code),
                    "attempts": 0,
                    "createdAt": now,
                    "expiresAt": now + self.code_lifetime,
                },
                "$setOnInsert": {"_id": self.new_id()},
            },
            upsert=True,
        )
        return {"phoneNumber": number}

    @action(private=("phoneNumber",))
    async def confirm(self, user: str, code: CodeInput) -> Number:
        """Prove ownership with the code texted by ``start``; the number becomes verified."""
        if not CODE_RE.fullmatch(code):
            return fail("the code is the 6 digits from the text message", "invalid")
        pending = self.collection("pending")
        doc = await pending.find_one({"user": user})
        if doc is None:
            return fail("no code is waiting to be confirmed; ask for a new one", "not_found")
        if doc["expiresAt"] <= self._now():
            return fail("that code has expired; ask for a new one", "invalid")
        # Count the attempt before comparing, so concurrent guesses cannot exceed the limit.
        claimed = await pending.find_one_and_update(
            {"_id": doc["_id"], "attempts": {"$lt": self.max_attempts}},
            {"$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if claimed is None:
            # waiting would not help: this code is used up (as an expired one is)
            return fail("too many wrong codes for this one; ask for a new one", "invalid")
        expected = claimed["codeHash"]
        digits = "".join(code.split())
        number = self._opened(user, claimed["phoneNumber"])
        given = self._code_hash(claimed["salt"], user, number, digits)
        if not hmac.compare_digest(expected, given):
            left = self.max_attempts - claimed["attempts"]
            if left <= 0:
                return fail("wrong code, and that was the last try; ask for a new one", "invalid")
            return fail(f"wrong code; {left} {'try' if left == 1 else 'tries'} left", "invalid")
        res = await pending.delete_one({"_id": claimed["_id"], "codeHash": expected})
        if res.deleted_count == 0:
            return fail("no code is waiting to be confirmed; ask for a new one", "not_found")
        busy = await self._add_verified(user, number)
        if busy is not None:
            with contextlib.suppress(DuplicateKeyError):  # a new code was sent meanwhile
                await pending.insert_one(claimed)  # the code stands: the user may try it again
            return busy
        return {"phoneNumber": number}

    @action
    async def forget(self, user: str) -> dict[str, Any]:
        """Delete everything kept about the user: pending code, verified numbers, send history."""
        await self.collection("pending").delete_many({"user": user})
        await self.collection("verified").delete_many({"user": user})
        await self.collection("throttle").delete_many({"_id": self._user_key(user)})
        return {}

    # -- queries ---------------------------------------------------------------------

    @query(private=("phoneNumber",))
    async def _isVerified(self, user: str, phoneNumber: str) -> list[dict[str, Any]]:
        """Exactly one row: whether the user has verified this number (any spelling of it)."""
        try:
            number = normalize_e164(phoneNumber)
        except ValueError:
            return [{"verified": False}]
        doc = await self.collection("verified").find_one({"user": user})
        return [{"verified": bool(doc) and self._is_among(number, doc["numbers"])}]

    @query(private=("phoneNumber",))
    async def _verifiedNumbers(self, user: str) -> list[dict[str, Any]]:
        """One row per number the user has verified, oldest first."""
        doc = await self.collection("verified").find_one({"user": user})
        entries = doc["numbers"] if doc else []
        return [{"phoneNumber": self._opened(user, e["number"])} for e in entries]

    @query(private=("phoneNumber",))
    async def _pendingNumber(self, user: str) -> list[dict[str, Any]]:
        """The number a live code was sent to (at most one row), for "we texted +1..." screens."""
        doc = await self.collection("pending").find_one({"user": user})
        if doc is None or doc["expiresAt"] <= self._now() or doc["attempts"] >= self.max_attempts:
            return []
        number = self._opened(user, doc["phoneNumber"])
        return [{"phoneNumber": number, "expiresAt": doc["expiresAt"]}]
