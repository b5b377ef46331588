"""Profile, rule by rule, as in docs/concepts/Profile.md."""

from __future__ import annotations

import pytest

from conceptkit import describe_operations
from concepts.profile import Profile
from services.app.clock import FakeClock
from services.encryption.keys import Encryptor

ADA = {
    "displayName": "Ada",
    "phoneNumber": "+44 20 7946 0958",
    "timezone": "Europe/London",
}
NUMBER = "+442079460958"


@pytest.fixture
async def profiles(async_db, clock: FakeClock, encryptor: Encryptor) -> Profile:
    c = Profile(async_db, {"clock": clock, "encryption": encryptor})
    await c.setup()
    return c


async def created(c: Profile, user: str = "u1", **fields) -> str:
    out = await c.createProfile(user=user, **{**ADA, **fields})
    assert "error" not in out, out
    return out["profile"]


async def profile_of(c: Profile, user: str = "u1") -> dict:
    rows = await c._getProfile(user=user)
    assert len(rows) == 1
    return rows[0]


def errors_at(c: Profile, name: str, inputs: dict) -> list[str]:
    """The input fields the HTTP layer would refuse (422) before the action runs."""
    return sorted(e["loc"][-1] for e in describe_operations(c)[name].check_inputs(inputs)[1])


# -- createProfile ----------------------------------------------------------------------


async def test_create_profile_with_defaults(profiles, clock):
    assert len(await created(profiles)) == 32
    assert await profile_of(profiles) == {
        "displayName": "Ada",
        "phoneNumber": NUMBER,
        "timezone": "Europe/London",
        "namePronunciation": None,
        "includeRating": False,
        "maxRetries": 4,
        "followUp": False,
        "createdAt": clock.now(),
        "updatedAt": clock.now(),
    }


async def test_create_profile_with_every_setting(profiles):
    await created(
        profiles,
        displayName="  Siobhán  ",
        namePronunciation=" shiv-AWN ",
        includeRating=True,
        maxRetries=10,
        timezone="America/Los_Angeles",
        phoneNumber="+1 (415) 555-2671",
    )
    p = await profile_of(profiles)
    assert (p["displayName"], p["namePronunciation"]) == ("Siobhán", "shiv-AWN")
    assert (p["includeRating"], p["maxRetries"]) == (True, 10)
    assert (p["timezone"], p["phoneNumber"]) == ("America/Los_Angeles", "+14155552671")


async def test_a_user_has_at_most_one_profile(profiles):
    await created(profiles)
    out = await profiles.createProfile(user="u1", **{**ADA, "displayName": "Other"})
    assert out == {"error": "you already have a profile", "errorKind": "conflict"}
    assert (await profile_of(profiles))["displayName"] == "Ada"
    await created(profiles, "u2")  # another user may


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("displayName", "   ", "must not be blank"),
        ("displayName", "A" * 81, "at most 80"),
        ("displayName", "Ada\nLovelace", "control characters"),
        ("phoneNumber", "+1", "phone number"),
        ("phoneNumber", "0207 946 0958", "international form"),
        ("phoneNumber", "abc", "international form"),
        ("timezone", "Mars/Base", "unknown time zone"),
        ("timezone", "", "unknown time zone"),
        ("timezone", "UTC+5", "unknown time zone"),
        ("timezone", "localtime", "unknown time zone"),
        ("timezone", "../../etc/passwd", "unknown time zone"),
        ("namePronunciation", "x" * 121, "at most 120"),
        ("namePronunciation", "a\tb", "control characters"),
        ("maxRetries", 0, "1 to 10"),
        ("maxRetries", 11, "1 to 10"),
        ("maxRetries", True, "1 to 10"),
        ("includeRating", 1, "true or false"),
    ],
)
async def test_create_profile_refuses_invalid_values_and_stores_nothing(
    profiles, field, value, message
):
    out = await profiles.createProfile(user="u1", **{**ADA, field: value})
    assert out["errorKind"] == "invalid"
    assert message in out["error"]
    assert await profiles._getProfile(user="u1") == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("displayName", "A" * 80),
        ("timezone", "UTC"),
        ("timezone", "Asia/Kolkata"),
        ("timezone", "America/Argentina/Buenos_Aires"),
        ("namePronunciation", "x" * 120),
        ("maxRetries", 1),
        ("maxRetries", 10),
    ],
)
async def test_create_profile_accepts_values_at_the_limits(profiles, field, value):
    await created(profiles, **{field: value})
    assert (await profile_of(profiles))[field] == value


def test_create_profile_input_rules(profiles):
    ok = {"user": "u1", **ADA}
    assert errors_at(profiles, "createProfile", ok) == []
    assert errors_at(profiles, "createProfile", {**ok, "displayName": ""}) == ["displayName"]
    assert errors_at(profiles, "createProfile", {**ok, "displayName": "A" * 81}) == ["displayName"]
    assert errors_at(profiles, "createProfile", {**ok, "phoneNumber": "1" * 65}) == ["phoneNumber"]
    assert errors_at(profiles, "createProfile", {**ok, "timezone": ""}) == ["timezone"]
    assert errors_at(profiles, "createProfile", {**ok, "maxRetries": 0}) == ["maxRetries"]
    assert errors_at(profiles, "createProfile", {**ok, "maxRetries": 11}) == ["maxRetries"]
    assert errors_at(profiles, "createProfile", {**ok, "maxRetries": "4"}) == ["maxRetries"]
    assert errors_at(profiles, "createProfile", {**ok, "maxRetries": 2.5}) == ["maxRetries"]
    assert errors_at(profiles, "createProfile", {**ok, "includeRating": "yes"}) == ["includeRating"]
    assert errors_at(profiles, "createProfile", {**ok, "namePronunciation": "x" * 121}) == [
        "namePronunciation"
    ]
    assert errors_at(profiles, "createProfile", {**ok, "namePronunciation": None}) == []
    assert errors_at(profiles, "createProfile", {**ok, "profile": "p1"}) == ["profile"]
    assert errors_at(profiles, "createProfile", {"user": "u1", "displayName": "Ada"}) == [
        "phoneNumber",
        "timezone",
    ]


# -- updates: each changes one setting and updatedAt, or nothing ------------------------

UPDATES = [
    ("updateDisplayName", "displayName", " Augusta ", "Augusta"),
    ("updatePhoneNumber", "phoneNumber", "+1 415 555 2671", "+14155552671"),
    ("updateTimezone", "timezone", "Asia/Tokyo", "Asia/Tokyo"),
    ("updateNamePronunciation", "namePronunciation", "AY-duh", "AY-duh"),
    ("updateRatingPreference", "includeRating", True, True),
    ("updateMaxRetries", "maxRetries", 7, 7),
]

INVALID_UPDATES = [
    ("updateDisplayName", "displayName", " \t "),
    ("updateDisplayName", "displayName", "A" * 81),
    ("updatePhoneNumber", "phoneNumber", "+0123456789"),
    ("updateTimezone", "timezone", "Mars/Base"),
    ("updateTimezone", "timezone", "UTC+5"),
    ("updateNamePronunciation", "namePronunciation", "x" * 121),
    ("updateRatingPreference", "includeRating", "yes"),
    ("updateMaxRetries", "maxRetries", 0),
    ("updateMaxRetries", "maxRetries", 11),
]


@pytest.mark.parametrize(("action", "field", "value", "stored"), UPDATES)
async def test_an_update_changes_its_setting_and_updated_at(
    profiles, clock, action, field, value, stored
):
    await created(profiles)
    before = await profile_of(profiles)
    clock.advance(minutes=5)
    out = await getattr(profiles, action)(user="u1", **{field: value})
    assert out == ({"phoneNumber": stored} if field == "phoneNumber" else {})
    after = await profile_of(profiles)
    assert after == {**before, field: stored, "updatedAt": clock.now()}


@pytest.mark.parametrize(("action", "field", "value", "stored"), UPDATES)
async def test_an_update_without_a_profile_fails(profiles, action, field, value, stored):
    out = await getattr(profiles, action)(user="u1", **{field: value})
    assert out == {"error": "you have no profile yet; create one first", "errorKind": "not_found"}
    assert await profiles._getProfile(user="u1") == []


@pytest.mark.parametrize(("action", "field", "value"), INVALID_UPDATES)
async def test_an_invalid_update_fails_and_changes_nothing(profiles, clock, action, field, value):
    await created(profiles)
    before = await profile_of(profiles)
    clock.advance(minutes=5)
    out = await getattr(profiles, action)(user="u1", **{field: value})
    assert out["errorKind"] == "invalid"
    assert await profile_of(profiles) == before


@pytest.mark.parametrize(
    ("action", "field", "value"),
    [
        ("updateDisplayName", "displayName", ""),
        ("updateDisplayName", "displayName", "A" * 81),
        ("updatePhoneNumber", "phoneNumber", ""),
        ("updateTimezone", "timezone", ""),
        ("updateNamePronunciation", "namePronunciation", "x" * 121),
        ("updateNamePronunciation", "namePronunciation", 5),
        ("updateRatingPreference", "includeRating", "yes"),
        ("updateRatingPreference", "includeRating", None),
        ("updateMaxRetries", "maxRetries", 0),
        ("updateMaxRetries", "maxRetries", 11),
        ("updateMaxRetries", "maxRetries", "7"),
    ],
)
def test_update_input_rules(profiles, action, field, value):
    assert errors_at(profiles, action, {"user": "u1", field: value}) == [field]
    assert errors_at(profiles, action, {"user": "u1"}) == [field]


async def test_updates_touch_only_the_callers_profile(profiles):
    await created(profiles, "u1")
    await created(profiles, "u2", displayName="Bob")
    await profiles.updateDisplayName(user="u2", displayName="Robert")
    assert (await profile_of(profiles, "u1"))["displayName"] == "Ada"
    assert (await profile_of(profiles, "u2"))["displayName"] == "Robert"


@pytest.mark.parametrize("cleared", [None, "", "   "])
async def test_a_pronunciation_can_be_cleared(profiles, cleared):
    await created(profiles, namePronunciation="AY-duh")
    assert await profiles.updateNamePronunciation(user="u1", namePronunciation=cleared) == {}
    assert (await profile_of(profiles))["namePronunciation"] is None


# -- deleteProfile ----------------------------------------------------------------------


async def test_delete_profile_removes_it(profiles):
    await created(profiles)
    await created(profiles, "u2")
    assert await profiles.deleteProfile(user="u1") == {}
    assert await profiles._getProfile(user="u1") == []
    assert await profiles._spokenName(user="u1") == []
    assert await profiles._timezone(user="u1") == []
    assert len(await profiles._getProfile(user="u2")) == 1
    await created(profiles)  # and a new one may be made


async def test_delete_without_a_profile_fails(profiles):
    assert await profiles.deleteProfile(user="u1") == {
        "error": "you have no profile",
        "errorKind": "not_found",
    }


# -- queries ----------------------------------------------------------------------------


async def test_get_profile_of_nobody_is_empty(profiles):
    assert await profiles._getProfile(user="nobody") == []


async def test_get_profile_shows_no_internal_ids(profiles):
    pid = await created(profiles)
    row = await profile_of(profiles)
    assert not {"_id", "user", "profile"} & set(row)
    assert pid not in str(row)


async def test_spoken_name_is_the_pronunciation_if_set_else_the_display_name(profiles):
    await created(profiles)
    assert await profiles._spokenName(user="u1") == [{"name": "Ada"}]
    await profiles.updateNamePronunciation(user="u1", namePronunciation="AY-duh")
    assert await profiles._spokenName(user="u1") == [{"name": "AY-duh"}]
    await profiles.updateNamePronunciation(user="u1", namePronunciation=None)
    assert await profiles._spokenName(user="u1") == [{"name": "Ada"}]


async def test_timezone_query(profiles):
    await created(profiles, timezone="Pacific/Auckland")
    assert await profiles._timezone(user="u1") == [{"timezone": "Pacific/Auckland"}]
    assert await profiles._timezone(user="u2") == []


def test_there_is_no_query_listing_everyones_profiles(profiles):
    assert set(describe_operations(profiles)) == {
        "createProfile",
        "updateDisplayName",
        "updatePhoneNumber",
        "updateTimezone",
        "updateNamePronunciation",
        "updateRatingPreference",
        "updateMaxRetries",
        "updateFollowUp",
        "deleteProfile",
        "_getProfile",
        "_spokenName",
        "_timezone",
        "_followUp",
    }


# -- the follow-up greeting --------------------------------------------------------------


async def test_the_follow_up_greeting_is_off_until_the_user_switches_it_on(profiles, clock):
    await created(profiles, timezone="Asia/Tokyo")
    assert await profiles._followUp(user="u1") == [{"enabled": False, "timezone": "Asia/Tokyo"}]
    before = await profile_of(profiles)
    clock.advance(minutes=5)
    assert await profiles.updateFollowUp(user="u1", enabled=True) == {}
    assert await profile_of(profiles) == {**before, "followUp": True, "updatedAt": clock.now()}
    assert await profiles._followUp(user="u1") == [{"enabled": True, "timezone": "Asia/Tokyo"}]
    assert await profiles.updateFollowUp(user="u1", enabled=False) == {}
    assert (await profiles._followUp(user="u1"))[0]["enabled"] is False


async def test_switching_the_follow_up_needs_a_profile_and_a_boolean(profiles):
    out = await profiles.updateFollowUp(user="u1", enabled=True)
    assert out == {"error": "you have no profile yet; create one first", "errorKind": "not_found"}
    assert await profiles._followUp(user="u1") == []
    await created(profiles)
    before = await profile_of(profiles)
    for value in ("yes", 1, None):
        assert (await profiles.updateFollowUp(user="u1", enabled=value))["errorKind"] == "invalid"
        assert errors_at(profiles, "updateFollowUp", {"user": "u1", "enabled": value})
    assert await profile_of(profiles) == before


async def test_a_profile_made_before_the_follow_up_existed_reads_as_off(profiles):
    await created(profiles)
    await profiles.collection("profiles").update_one({"user": "u1"}, {"$unset": {"followUp": ""}})
    assert (await profile_of(profiles))["followUp"] is False
    assert (await profiles._followUp(user="u1"))[0]["enabled"] is False


# -- private at rest ---------------------------------------------------------------------


async def test_name_pronunciation_and_number_are_stored_only_encrypted(profiles, encryptor):
    await created(profiles, namePronunciation="Ay-dah")
    await profiles.updateDisplayName(user="u1", displayName="Ada Lovelace")
    doc = await profiles.collection("profiles").find_one({"user": "u1"})
    stored = str(doc)
    for plain in ("Ada", "Ay-dah", "2079460958"):
        assert plain not in stored
    for name, plain in (
        ("displayName", "Ada Lovelace"),
        ("phoneNumber", NUMBER),
        ("namePronunciation", "Ay-dah"),
    ):
        assert encryptor.decrypt(doc[name], user="u1", field=f"Profile.{name}") == plain
    shown = await profile_of(profiles)
    assert (shown["displayName"], shown["phoneNumber"]) == ("Ada Lovelace", NUMBER)
    assert await profiles._spokenName(user="u1") == [{"name": "Ay-dah"}]
    await profiles.updateNamePronunciation(user="u1", namePronunciation=None)
    assert (await profiles.collection("profiles").find_one({"user": "u1"}))[
        "namePronunciation"
    ] is None
    assert await profiles._spokenName(user="u1") == [{"name": "Ada Lovelace"}]


def test_the_private_fields_are_sealed_in_the_action_log(profiles):
    ops = describe_operations(profiles)
    assert ops["createProfile"].private >= {"displayName", "phoneNumber", "namePronunciation"}
    assert "displayName" in ops["updateDisplayName"].private
    assert "phoneNumber" in ops["updatePhoneNumber"].private
    assert "namePronunciation" in ops["updateNamePronunciation"].private
