"""Profile: how a user wants to be called: name, number, time zone and call preferences.

The name, the pronunciation and the number are encrypted at rest for their owner (the
``encryption`` port) and private in the action log; nothing looks a profile up by number.
"""

from __future__ import annotations

import datetime as dt
import functools
import unicodedata
import zoneinfo
from typing import Annotated, Any, TypedDict

from conceptkit import Change, Concept, Doc, Len, Range, action, fail, query
from services.telephony import normalize_e164

DISPLAY_NAME_MAX = 80
PRONUNCIATION_MAX = 120
# The encryption field labels (the token's associated data) of the private fields.
PRIVATE_FIELDS = ("displayName", "phoneNumber", "namePronunciation")
FIELD_LABELS = {name: f"Profile.{name}" for name in PRIVATE_FIELDS}
# Present in some zoneinfo databases but not places a person lives.
NOT_PLACES = frozenset({"localtime", "posixrules", "Factory"})

DisplayName = Annotated[
    str, Len(1, DISPLAY_NAME_MAX), Doc("how we address you; 1-80 characters, not blank")
]
PhoneInput = Annotated[
    str, Len(1, 64), Doc("in international form, e.g. +14155552671 or +1 (415) 555-2671")
]
Timezone = Annotated[str, Len(1, 64), Doc("an IANA time zone name, e.g. Europe/Paris")]
Pronunciation = Annotated[
    str | None,
    Len(0, PRONUNCIATION_MAX),
    Doc(
        "how to say your name, spelled for the voice (up to 120 characters); null or blank clears it"
    ),
]
MaxRetries = Annotated[int, Range(1, 10), Doc("calls to try before giving up on a day, 1-10")]


class Created(TypedDict):
    profile: str


class Number(TypedDict):
    phoneNumber: str


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - NOT_PLACES


def check_timezone(name: str) -> str:
    """The IANA zone name, or ValueError."""
    name = name.strip()
    if name not in _time_zones():
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Europe/Paris")
    try:
        zoneinfo.ZoneInfo(name)  # loadable, not just listed
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"time zone {name!r} cannot be loaded") from None
    return name


def check_display_name(text: str) -> str:
    name = text.strip()
    if not name:
        raise ValueError("the display name must not be blank")
    if len(name) > DISPLAY_NAME_MAX:
        raise ValueError(f"the display name is at most {DISPLAY_NAME_MAX} characters")
    if _has_control(name):
        raise ValueError("the display name must not contain control characters")
    return name


def check_pronunciation(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    spoken = text.strip()
    if len(spoken) > PRONUNCIATION_MAX:
        raise ValueError(f"the pronunciation is at most {PRONUNCIATION_MAX} characters")
    if _has_control(spoken):
        raise ValueError("the pronunciation must not contain control characters")
    return spoken


def check_max_retries(value: int) -> int:
    if type(value) is not int or not 1 <= value <= 10:
        raise ValueError("maxRetries is a whole number from 1 to 10")
    return value


def check_bool(value: bool, what: str) -> bool:
    if type(value) is not bool:
        raise ValueError(f"{what} is true or false")
    return value


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


class Profile(Concept):
    """Keeps, for each user, how to address and reach them and how their daily call should go.

    Principle: after ``createProfile(u, "Ada", "+44 20 7946 0958", "Europe/London")``,
    ``_getProfile(u)`` shows the number as +442079460958, ``_spokenName(u)`` is "Ada"
    until a pronunciation is set, and each update changes exactly one setting and
    ``updatedAt``; invalid values are refused and change nothing. The follow-up greeting
    is off until ``updateFollowUp(u, True)``.
    """

    uses = ("clock", "encryption")

    async def setup(self) -> None:
        await self.collection("profiles").create_index("user", unique=True)

    def _now(self) -> dt.datetime:
        return self.services["clock"].now()

    def _sealed(self, user: str, fields: dict[str, Any]) -> dict[str, Any]:
        """``fields`` with the private ones encrypted for ``user`` (None stays None)."""
        enc = self.services["encryption"]
        return {
            k: enc.encrypt_optional(v, user=user, field=FIELD_LABELS[k]) if k in FIELD_LABELS else v
            for k, v in fields.items()
        }

    def _opened(self, doc: dict[str, Any], name: str) -> str | None:
        return self.services["encryption"].decrypt_optional(
            doc.get(name), user=doc["user"], field=FIELD_LABELS[name]
        )

    async def _update(self, user: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Set fields of the user's profile (a marked write: a replayed update returns at once)."""
        sealed = self._sealed(user, changes)
        changed = await self.store("profiles").change(
            {"user": user},
            lambda doc: Change({}, set={**sealed, "updatedAt": self._now()}),
            missing=fail("you have no profile yet; create one first", "not_found"),
        )
        return changed or None

    # -- actions ---------------------------------------------------------------------

    @action(private=PRIVATE_FIELDS)
    async def createProfile(
        self,
        user: str,
        displayName: DisplayName,
        phoneNumber: PhoneInput,
        timezone: Timezone,
        namePronunciation: Pronunciation = None,
        includeRating: bool = False,
        maxRetries: MaxRetries = 4,
    ) -> Created:
        """Create the user's one profile."""
        try:
            fields = {
                "displayName": check_display_name(displayName),
                "phoneNumber": normalize_e164(phoneNumber),
                "timezone": check_timezone(timezone),
                "namePronunciation": check_pronunciation(namePronunciation),
                "includeRating": check_bool(includeRating, "includeRating"),
                "maxRetries": check_max_retries(maxRetries),
            }
        except ValueError as exc:
            return fail(str(exc), "invalid")
        now = self._now()  # the unique index on user is the check (a replay finds its mark)
        profile = self.new_id()
        sealed = self._sealed(user, fields)
        doc = {
            "_id": profile,
            "user": user,
            **sealed,
            "followUp": False,  # the greeting recalls nothing until the user says so
            "createdAt": now,
            "updatedAt": now,
        }
        created = await self.store("profiles").create(doc, {"profile": profile})
        return fail("you already have a profile", "conflict") if created is None else created

    @action(private=("displayName",))
    async def updateDisplayName(self, user: str, displayName: DisplayName) -> dict[str, Any]:
        """Change how we address the user."""
        try:
            name = check_display_name(displayName)
        except ValueError as exc:
            return fail(str(exc), "invalid")
        return await self._update(user, {"displayName": name}) or {}

    @action(private=("phoneNumber",))
    async def updatePhoneNumber(self, user: str, phoneNumber: PhoneInput) -> Number:
        """Change the number we call; returns it in E.164 form."""
        try:
            number = normalize_e164(phoneNumber)
        except ValueError as exc:
            return fail(str(exc), "invalid")
        return await self._update(user, {"phoneNumber": number}) or {"phoneNumber": number}

    @action
    async def updateTimezone(self, user: str, timezone: Timezone) -> dict[str, Any]:
        """Change the time zone the user's call times are read in."""
        try:
            zone = check_timezone(timezone)
        except ValueError as exc:
            return fail(str(exc), "invalid")
        return await self._update(user, {"timezone": zone}) or {}

    @action(private=("namePronunciation",))
    async def updateNamePronunciation(
        self, user: str, namePronunciation: Pronunciation
    ) -> dict[str, Any]:
        """Set how the voice should say the user's name; null or blank clears it."""
        try:
            spoken = check_pronunciation(namePronunciation)
        except ValueError as exc:
            return fail(str(exc), "invalid")
        return await self._update(user, {"namePronunciation": spoken}) or {}

    @action
    async def updateRatingPreference(self, user: str, includeRating: bool) -> dict[str, Any]:
        """Choose whether each call ends by asking for a rating of the day."""
        try:
            choice = check_bool(includeRating, "includeRating")
        except ValueError as exc:
            return fail(str(exc), "invalid")
        return await self._update(user, {"includeRating": choice}) or {}

    @action
    async def updateMaxRetries(self, user: str, maxRetries: MaxRetries) -> dict[str, Any]:
        """Set how many times a day's call is tried (1-10)."""
        try:
            retries = check_max_retries(maxRetries)
        except ValueError as exc:
            return fail(str(exc), "invalid")
        return await self._update(user, {"maxRetries": retries}) or {}

    @action
    async def updateFollowUp(self, user: str, enabled: bool) -> dict[str, Any]:
        """Choose whether the call's greeting recalls what the user last said to their
        follow-up prompt (off by default)."""
        try:
            choice = check_bool(enabled, "enabled")
        except ValueError as exc:
            return fail(str(exc), "invalid")
        return await self._update(user, {"followUp": choice}) or {}

    @action
    async def deleteProfile(self, user: str) -> dict[str, Any]:
        """Delete the user's profile."""
        res = await self.collection("profiles").delete_one({"user": user})
        if res.deleted_count == 0:
            return fail("you have no profile", "not_found")
        return {}

    # -- queries ---------------------------------------------------------------------

    @query(private=PRIVATE_FIELDS)
    async def _getProfile(self, user: str) -> list[dict[str, Any]]:
        """The user's own profile (at most one row); no internal ids."""
        doc = await self.collection("profiles").find_one({"user": user})
        if doc is None:
            return []
        return [
            {
                "displayName": self._opened(doc, "displayName"),
                "phoneNumber": self._opened(doc, "phoneNumber"),
                "timezone": doc["timezone"],
                "namePronunciation": self._opened(doc, "namePronunciation"),
                "includeRating": doc["includeRating"],
                "maxRetries": doc["maxRetries"],
                "followUp": doc.get("followUp", False),
                "createdAt": doc["createdAt"],
                "updatedAt": doc["updatedAt"],
            }
        ]

    @query(private=("name",))
    async def _spokenName(self, user: str) -> list[dict[str, Any]]:
        """The name the voice says: the pronunciation if set, else the display name."""
        doc = await self.collection("profiles").find_one({"user": user})
        if doc is None:
            return []
        return [
            {"name": self._opened(doc, "namePronunciation") or self._opened(doc, "displayName")}
        ]

    @query
    async def _timezone(self, user: str) -> list[dict[str, Any]]:
        """The user's IANA time zone name."""
        doc = await self.collection("profiles").find_one({"user": user})
        return [] if doc is None else [{"timezone": doc["timezone"]}]

    @query
    async def _followUp(self, user: str) -> list[dict[str, Any]]:
        """Whether the greeting recalls the follow-up answer, and the time zone that says
        which day that answer was given (one row; empty without a profile)."""
        doc = await self.collection("profiles").find_one({"user": user})
        if doc is None:
            return []
        return [{"enabled": doc.get("followUp", False), "timezone": doc["timezone"]}]
