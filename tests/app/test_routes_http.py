"""Every route of syncs/api.py over HTTP, as its concept spec states it.

For each exposed action and query: what success returns (status 200 and the
documented outputs), and its failure rules with the status the conceptkit table
gives their kind (docs/conceptkit.md, "Status codes"): invalid 422, not_found
404, conflict 409, unauthorized 401, forbidden 403, rate_limited 429; input
that fails the declared types is 422 with the failing field in ``detail``.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zoneinfo
from typing import Any

import pytest
from argon2 import PasswordHasher

from syncs.api import EXPOSURES
from tests.api_client import PASSWORD
from tests.app.conftest import Service

NEW_PASSWORD = "a brand new passphrase"
NY = zoneinfo.ZoneInfo("America/New_York")


@pytest.fixture
async def svc(service: Service) -> Service:
    # argon2id at the production cost takes ~50 ms per hash; these tests log in often.
    service.engine.concepts["Accounts"].hasher = PasswordHasher(
        time_cost=1, memory_cost=8, parallelism=1
    )
    return service


async def post(svc: Service, path: str, body: Any = None, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await svc.http.post(f"/api/{path}", json={} if body is None else body, headers=headers)


async def refused(
    svc: Service,
    path: str,
    body: dict[str, Any] | None,
    token: str | None,
    status: int,
    kind: str | None = None,
    says: str | None = None,
) -> dict[str, Any]:
    """The route answers ``status``; ``kind`` is the action's errorKind, or "input" for a
    declared-type violation (422 with ``detail``)."""
    r = await post(svc, path, body, token)
    assert r.status_code == status, f"{path} {body}: {r.status_code} {r.text}"
    data = r.json()
    if kind == "input":
        assert data["detail"], data
    elif kind is not None:
        assert data.get("errorKind") == kind, data
    if says is not None:
        assert says in data["error"], data
    return data


async def account(svc: Service, username: str | None = None) -> tuple[str, str]:
    """A registered, logged-in user without a profile: (token, username)."""
    username = username or f"u{uuid.uuid4().hex[:10]}"
    await svc.api("Accounts/register", {"username": username, "password": PASSWORD})
    login = await svc.api("Accounts/login", {"username": username, "password": PASSWORD})
    return login["token"], username


def is_id(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32}", value) is not None


def iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


GONE = object()  # a field left out of the body


def cases(argnames: str, rows: dict[str, Any]) -> pytest.MarkDecorator:
    """A table: {"what the case is": its values}; the description is the test id."""
    return pytest.mark.parametrize(argnames, list(rows.values()), ids=list(rows))


def with_changes(body: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in {**body, **change}.items() if v is not GONE}


# ============================================================================ Accounts


async def test_register_creates_an_account_and_returns_its_user(svc: Service):
    out = await svc.api("Accounts/register", {"username": "Ada.Lovelace", "password": PASSWORD})
    assert list(out) == ["user"] and is_id(out["user"])
    login = {"username": "  ADA.lovelace ", "password": PASSWORD}  # normalised: trimmed, folded
    token = (await svc.api("Accounts/login", login))["token"]
    (me,) = await svc.api("Accounts/_account", {}, token)
    assert me["user"] == out["user"] and me["username"] == "ada.lovelace"
    assert abs(iso(me["createdAt"]) - svc.clock.now()) < dt.timedelta(milliseconds=1)


@cases(
    "change, status, kind",
    {
        "the username taken, whatever its case": ({"username": " ADA.Lovelace"}, 409, "conflict"),
        "a password under 10 characters": ({"password": "short"}, 422, "input"),
        "a password over 200 characters": ({"password": "p" * 201}, 422, "input"),
        # the username's rule is in the schema, so validation refuses it (kind "input")
        "a username under 3 characters": ({"username": "ab"}, 422, "input"),
        "a username over 40 characters": ({"username": "g" * 41}, 422, "input"),
        "a username with a space": ({"username": "grace hopper"}, 422, "input"),
        "an email address": ({"username": "grace@example.com"}, 422, "input"),
        "a username over 40 characters with spaces": ({"username": " " + "g" * 41}, 422, "input"),
        "no password": ({"password": GONE}, 422, "input"),
        "an unknown field": ({"admin": True}, 422, "input"),
    },
)
async def test_register_refuses(svc: Service, change, status, kind):
    await svc.api("Accounts/register", {"username": "ada.lovelace", "password": PASSWORD})
    body = with_changes({"username": "grace", "password": PASSWORD}, change)
    await refused(svc, "Accounts/register", body, None, status, kind)


async def test_login_returns_a_session_token_for_30_days(svc: Service):
    user = (await svc.api("Accounts/register", {"username": "ada", "password": PASSWORD}))["user"]
    out = await svc.api("Accounts/login", {"username": "ada", "password": PASSWORD})
    assert set(out) == {"user", "token", "expiresAt"} and out["user"] == user
    expires = iso(out["expiresAt"]) - svc.clock.now()
    assert abs(expires - dt.timedelta(days=30)) < dt.timedelta(seconds=1)
    assert (await svc.api("Accounts/_account", {}, out["token"]))[0]["user"] == user


@cases(
    "body",
    {
        "a wrong password": {"username": "ada", "password": "not the password"},
        "an unknown username": {"username": "nobody", "password": PASSWORD},
        "a malformed username": {"username": "no body!", "password": PASSWORD},
    },
)
async def test_login_refuses_with_the_same_401(svc: Service, body):
    await svc.api("Accounts/register", {"username": "ada", "password": PASSWORD})
    says = "wrong username or password"
    await refused(svc, "Accounts/login", body, None, 401, "unauthorized", says)


WRONG = "not the password"


RIGHT = {
    "Accounts/login": {"username": "ada", "password": PASSWORD},
    "Accounts/changePassword": {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
    "Account/delete": {"password": PASSWORD},
}


@cases(
    "path, body, status",
    {
        "logging in": ("Accounts/login", {"username": "ada", "password": WRONG}, 401),
        "changing the password": (
            "Accounts/changePassword",
            {"currentPassword": WRONG, "newPassword": NEW_PASSWORD},
            401,
        ),
        "deleting the account": ("Account/delete", {"password": WRONG}, 403),
    },
)
async def test_wrong_passwords_slow_the_next_attempt_never_lock(svc: Service, path, body, status):
    # Accounts.md, "Throttling": three failures are free, then a doubling backoff.
    await svc.api("Accounts/register", {"username": "ada", "password": PASSWORD})
    right = {"username": "ada", "password": PASSWORD}
    token = (await svc.api("Accounts/login", right))["token"]
    for _ in range(4):
        await refused(svc, path, body, token, status, says="wrong username or password")
    await refused(svc, path, RIGHT[path], token, 429, "rate_limited", "try again in 1 second")
    if path != "Accounts/login":  # a session's wrong passwords slow that session only
        await svc.api("Accounts/login", right)
    svc.clock.advance(seconds=1)
    await svc.api(path, RIGHT[path], token)


async def test_logout_ends_that_session_only(svc: Service):
    token, username = await account(svc)
    other = (await svc.api("Accounts/login", {"username": username, "password": PASSWORD}))["token"]
    assert await svc.api("Accounts/logout", {"token": token}) == {}
    await refused(svc, "Accounts/_account", {}, token, 401)
    await svc.api("Accounts/_account", {}, other)
    await refused(svc, "Accounts/logout", {"token": token}, None, 404, "not_found")


async def test_change_password_replaces_every_session_with_a_fresh_one(svc: Service):
    token, username = await account(svc)
    other = (await svc.api("Accounts/login", {"username": username, "password": PASSWORD}))["token"]
    body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    out = await svc.api("Accounts/changePassword", body, token)
    assert set(out) == {"token", "expiresAt"}
    for old in (token, other):
        await refused(svc, "Accounts/_account", {}, old, 401)
    await svc.api("Accounts/_account", {}, out["token"])
    await refused(svc, "Accounts/login", {"username": username, "password": PASSWORD}, None, 401)
    await svc.api("Accounts/login", {"username": username, "password": NEW_PASSWORD})


@cases(
    "change, status, kind",
    {
        "a wrong current password": ({"currentPassword": WRONG}, 401, "unauthorized"),
        "a new password under 10 characters": ({"newPassword": "short"}, 422, "input"),
        "no current password": ({"currentPassword": GONE}, 422, "input"),
    },
)
async def test_change_password_refuses(svc: Service, change, status, kind):
    token, username = await account(svc)
    body = with_changes({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}, change)
    await refused(svc, "Accounts/changePassword", body, token, status, kind)
    await svc.api("Accounts/_account", {}, token)  # still logged in
    await svc.api("Accounts/login", {"username": username, "password": PASSWORD})


async def test_logout_everywhere_ends_every_session(svc: Service):
    token, username = await account(svc)
    login = {"username": username, "password": PASSWORD}
    other = (await svc.api("Accounts/login", login))["token"]
    assert await svc.api("Accounts/logoutEverywhere", {}, token) == {}
    for old in (token, other):
        await refused(svc, "Accounts/_account", {}, old, 401)
    fresh = (await svc.api("Accounts/login", login))["token"]
    assert await svc.api("Accounts/logoutEverywhere", {}, fresh) == {}


AUTHENTICATED = sorted(e.path for e in EXPOSURES if e.auth)
PUBLIC = sorted(e.path for e in EXPOSURES if not e.auth)


async def test_the_openapi_document_lists_every_declared_route(svc: Service):
    paths = (await svc.http.get("/openapi.json")).json()["paths"]
    assert PUBLIC == [
        "/api/Accounts/login",
        "/api/Accounts/logout",
        "/api/Accounts/register",
        "/api/Accounts/requestReset",  # the same answer whether or not the account exists
        "/api/Accounts/resetPassword",
    ]
    for path in [*AUTHENTICATED, *PUBLIC]:
        security = paths[path]["post"]["security"]
        assert security == ([{"bearer": []}] if path in AUTHENTICATED else []), path


# A body that satisfies each request-driven route's declared body, so only the session
# decides (those routes check the body before the session).
VALID_BODY = {
    "/api/Account/delete": {"password": PASSWORD},
    "/api/Calls/snooze": {"minutes": 10},
    "/api/Account/export": {"format": "json"},
    "/api/History/calendar": {"start": "2026-03-01", "end": "2026-03-31"},
}


async def test_every_authenticated_route_needs_a_live_session(svc: Service):
    token, _ = await account(svc)
    await svc.api("Accounts/logout", {"token": token})
    for path in AUTHENTICATED:
        for headers in (
            {},
            {"Authorization": "Bearer not-a-token"},
            {"Authorization": f"Bearer {token}"},  # logged out
            {"Authorization": token},  # no scheme
        ):
            r = await svc.http.post(path, json=VALID_BODY.get(path, {}), headers=headers)
            assert r.status_code == 401, (path, headers, r.text)
            assert r.headers["WWW-Authenticate"] == "Bearer", path


async def test_no_route_takes_the_user_from_the_body(svc: Service):
    token = await svc.sign_up()
    me = (await svc.api("Accounts/_account", {}, token))[0]["user"]
    for path in [*AUTHENTICATED, *PUBLIC]:
        r = await svc.http.post(
            path, json={"user": me}, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 422, (path, r.text)
        assert ["body", "user"] in [d["loc"] for d in r.json()["detail"]], (path, r.text)


# ============================================================================ Profile

PROFILE = {"displayName": "Ada", "phoneNumber": "+44 20 7946 0958", "timezone": "Europe/London"}


async def test_create_profile_stores_normalised_values_and_defaults(svc: Service):
    token, _ = await account(svc)
    out = await svc.api("Profile/createProfile", {**PROFILE, "displayName": "  Ada  "}, token)
    assert list(out) == ["profile"] and is_id(out["profile"])
    (profile,) = await svc.api("Profile/_getProfile", {}, token)
    assert {k: v for k, v in profile.items() if not k.endswith("At")} == {
        "displayName": "Ada",
        "phoneNumber": "+442079460958",
        "timezone": "Europe/London",
        "namePronunciation": None,
        "includeRating": False,
        "maxRetries": 4,
        "followUp": False,
    }
    assert profile["createdAt"] == profile["updatedAt"]


async def test_a_user_without_a_profile_reads_none(svc: Service):
    token, _ = await account(svc)
    assert await svc.api("Profile/_getProfile", {}, token) == []


async def test_create_profile_twice_is_a_conflict(svc: Service):
    token, _ = await account(svc)
    await svc.api("Profile/createProfile", PROFILE, token)
    await refused(
        svc,
        "Profile/createProfile",
        {**PROFILE, "displayName": "Eve"},
        token,
        409,
        "conflict",
        "already have a profile",
    )
    assert (await svc.api("Profile/_getProfile", {}, token))[0]["displayName"] == "Ada"


@cases(
    "change, kind",
    {
        "a number that is too short": ({"phoneNumber": "+1"}, "invalid"),
        "a number without its country code": ({"phoneNumber": "020 7946 0958"}, "invalid"),
        "letters for a number": ({"phoneNumber": "call me maybe"}, "invalid"),
        "an unknown time zone": ({"timezone": "Mars/Olympus_Mons"}, "invalid"),
        "a system pseudo-zone": ({"timezone": "localtime"}, "invalid"),
        "a blank display name": ({"displayName": "   "}, "invalid"),
        # refused at the JSON boundary, before the action sees it
        "a display name with a control character": ({"displayName": "Ada\u0007"}, "input"),
        "an empty display name": ({"displayName": ""}, "input"),
        "a display name over 80 characters": ({"displayName": "A" * 81}, "input"),
        "a pronunciation over 120 characters": ({"namePronunciation": "a" * 121}, "input"),
        "a pronunciation with a control character": ({"namePronunciation": "a\nb"}, "invalid"),
        "zero retries": ({"maxRetries": 0}, "input"),
        "eleven retries": ({"maxRetries": 11}, "input"),
        "retries as a boolean": ({"maxRetries": True}, "input"),
        "a rating preference as text": ({"includeRating": "yes"}, "input"),
        "no time zone": ({"timezone": GONE}, "input"),
    },
)
async def test_create_profile_refuses_invalid_values(svc: Service, change, kind):
    token, _ = await account(svc)
    await refused(svc, "Profile/createProfile", with_changes(PROFILE, change), token, 422, kind)
    assert await svc.api("Profile/_getProfile", {}, token) == []


UPDATES = {
    "a display name, trimmed": (
        "updateDisplayName",
        {"displayName": "  Grace "},
        {},
        "displayName",
        "Grace",
    ),
    "a phone number, in E.164": (
        "updatePhoneNumber",
        {"phoneNumber": "+1 (415) 555-2671"},
        {"phoneNumber": "+14155552671"},
        "phoneNumber",
        "+14155552671",
    ),
    "a time zone": ("updateTimezone", {"timezone": "Asia/Kolkata"}, {}, "timezone", "Asia/Kolkata"),
    "a pronunciation, trimmed": (
        "updateNamePronunciation",
        {"namePronunciation": " Ah-dah "},
        {},
        "namePronunciation",
        "Ah-dah",
    ),
    "a blank pronunciation clears it": (
        "updateNamePronunciation",
        {"namePronunciation": "   "},
        {},
        "namePronunciation",
        None,
    ),
    "a null pronunciation clears it": (
        "updateNamePronunciation",
        {"namePronunciation": None},
        {},
        "namePronunciation",
        None,
    ),
    "the rating question": (
        "updateRatingPreference",
        {"includeRating": True},
        {},
        "includeRating",
        True,
    ),
    "the retries": ("updateMaxRetries", {"maxRetries": 10}, {}, "maxRetries", 10),
    "the follow-up greeting": ("updateFollowUp", {"enabled": True}, {}, "followUp", True),
}


@cases("action, body, output, field, stored", UPDATES)
async def test_each_update_changes_one_setting(svc: Service, action, body, output, field, stored):
    token, _ = await account(svc)
    await svc.api("Profile/createProfile", {**PROFILE, "namePronunciation": "Ay-da"}, token)
    (before,) = await svc.api("Profile/_getProfile", {}, token)
    svc.clock.advance(minutes=5)
    assert await svc.api(f"Profile/{action}", body, token) == output
    (after,) = await svc.api("Profile/_getProfile", {}, token)
    assert after[field] == stored
    assert iso(after["updatedAt"]) - iso(before["updatedAt"]) == dt.timedelta(minutes=5)
    unchanged = {k for k in before if k not in (field, "updatedAt")}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}


@cases("action, body", {a: (a, b) for a, b, *_ in UPDATES.values()})
async def test_updates_need_a_profile(svc: Service, action, body):
    token, _ = await account(svc)
    await refused(svc, f"Profile/{action}", body, token, 404, "not_found", "no profile yet")


@cases(
    "action, body, kind",
    {
        "a number that is too short": ("updatePhoneNumber", {"phoneNumber": "+1"}, "invalid"),
        "an unknown zone": ("updateTimezone", {"timezone": "Nowhere/Special"}, "invalid"),
        "a blank name": ("updateDisplayName", {"displayName": " \t "}, "invalid"),
        "eleven retries": ("updateMaxRetries", {"maxRetries": 11}, "input"),
        "a null rating preference": ("updateRatingPreference", {"includeRating": None}, "input"),
        "a follow-up choice as text": ("updateFollowUp", {"enabled": "yes"}, "input"),
    },
)
async def test_an_invalid_update_changes_nothing(svc: Service, action, body, kind):
    token, _ = await account(svc)
    await svc.api("Profile/createProfile", PROFILE, token)
    before = await svc.api("Profile/_getProfile", {}, token)
    await refused(svc, f"Profile/{action}", body, token, 422, kind)
    assert await svc.api("Profile/_getProfile", {}, token) == before


async def test_a_new_profile_timezone_moves_the_schedule_too(svc: Service):
    token, _ = await account(svc)
    await svc.api("Profile/createProfile", PROFILE, token)
    await svc.api("Schedule/setDaily", {"timezone": "Europe/London", "time": "20:00"}, token)
    await svc.api("Profile/updateTimezone", {"timezone": "Asia/Tokyo"}, token)
    (schedule,) = await svc.api("Schedule/_schedule", {}, token)
    assert (schedule["timezone"], schedule["times"]["mon"]) == ("Asia/Tokyo", "20:00")


# ============================================================================ PhoneVerification


def last_code(svc: Service, number: str) -> str:
    sms = [m for m in svc.telephony.messages if m.to == number][-1]
    match = re.fullmatch(r"Your reflection code is (\d{6})", sms.body)
    assert match, sms.body
    return match.group(1)


async def test_a_texted_code_verifies_the_number(svc: Service):
    token, _ = await account(svc)
    out = await svc.api("PhoneVerification/start", {"phoneNumber": "+1 (415) 555-0142"}, token)
    assert out == {"phoneNumber": "+14155550142"}
    (pending,) = await svc.api("PhoneVerification/_pendingNumber", {}, token)
    assert pending["phoneNumber"] == "+14155550142"
    assert iso(pending["expiresAt"]) - svc.clock.now() < dt.timedelta(minutes=10, seconds=1)
    code = last_code(svc, "+14155550142")
    typed = f" {code[:3]} {code[3:]} "  # one space in the middle and spaces around are fine
    assert await svc.api("PhoneVerification/confirm", {"code": typed}, token) == out
    assert await svc.api("PhoneVerification/_verifiedNumbers", {}, token) == [out]
    assert await svc.api("PhoneVerification/_pendingNumber", {}, token) == []
    # single use
    await refused(svc, "PhoneVerification/confirm", {"code": code}, token, 404, "not_found")


async def test_a_wrong_code_is_refused_and_uses_a_try(svc: Service):
    token, _ = await account(svc)
    await svc.api("PhoneVerification/start", {"phoneNumber": "+14155550142"}, token)
    code = last_code(svc, "+14155550142")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    await refused(
        svc,
        "PhoneVerification/confirm",
        {"code": wrong},
        token,
        422,
        "invalid",
        "wrong code; 4 tries left",
    )
    assert await svc.api("PhoneVerification/_verifiedNumbers", {}, token) == []
    await svc.api("PhoneVerification/confirm", {"code": code}, token)


async def test_five_wrong_codes_use_up_the_code(svc: Service):
    token, _ = await account(svc)
    await svc.api("PhoneVerification/start", {"phoneNumber": "+14155550142"}, token)
    code = last_code(svc, "+14155550142")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        await refused(svc, "PhoneVerification/confirm", {"code": wrong}, token, 422, "invalid")
    await refused(
        svc,
        "PhoneVerification/confirm",
        {"code": code},
        token,
        422,
        "invalid",
        "too many wrong codes",
    )


async def test_confirm_with_no_pending_code_is_not_found(svc: Service):
    token, _ = await account(svc)
    await refused(
        svc,
        "PhoneVerification/confirm",
        {"code": "123456"},
        token,
        404,
        "not_found",
        "no code is waiting",
    )


async def test_an_expired_code_is_refused(svc: Service):
    token, _ = await account(svc)
    await svc.api("PhoneVerification/start", {"phoneNumber": "+14155550142"}, token)
    code = last_code(svc, "+14155550142")
    svc.clock.advance(minutes=10, seconds=1)
    await refused(
        svc, "PhoneVerification/confirm", {"code": code}, token, 422, "invalid", "expired"
    )
    assert await svc.api("PhoneVerification/_pendingNumber", {}, token) == []


@cases(
    "code",
    {
        "five digits": "12345",
        "seven digits": "1234567",
        "a letter": "12a456",
        "two spaces in the middle": "12  3456",
        "nothing": "",
    },
)
async def test_a_code_that_is_not_six_digits_is_refused_without_using_a_try(svc: Service, code):
    token, _ = await account(svc)
    await svc.api("PhoneVerification/start", {"phoneNumber": "+14155550142"}, token)
    await refused(svc, "PhoneVerification/confirm", {"code": code}, token, 422, "input")
    await svc.api("PhoneVerification/confirm", {"code": last_code(svc, "+14155550142")}, token)


@cases(
    "number, kind",
    {
        "too short": ("+1", "invalid"),
        "national form": ("415 555 0142", "invalid"),
        "over 64 characters": ("+1" + "4" * 63, "input"),
    },
)
async def test_start_refuses_an_invalid_number(svc: Service, number, kind):
    token, _ = await account(svc)
    await refused(svc, "PhoneVerification/start", {"phoneNumber": number}, token, 422, kind)
    assert svc.telephony.messages == []


async def test_codes_are_at_most_one_per_30_seconds(svc: Service):
    token, _ = await account(svc)
    await svc.api("PhoneVerification/start", {"phoneNumber": "+14155550142"}, token)
    await refused(
        svc, "PhoneVerification/start", {"phoneNumber": "+14155550143"}, token, 429, "rate_limited"
    )
    svc.clock.advance(seconds=31)
    await svc.api("PhoneVerification/start", {"phoneNumber": "+14155550143"}, token)
    assert len(svc.telephony.messages) == 2


async def test_codes_to_one_number_are_throttled_whoever_asks(svc: Service):
    first, _ = await account(svc)
    second, _ = await account(svc)
    await svc.api("PhoneVerification/start", {"phoneNumber": "+14155550142"}, first)
    await refused(
        svc,
        "PhoneVerification/start",
        {"phoneNumber": "+1 415 555 0142"},  # the same number, spelled differently
        second,
        429,
        "rate_limited",
        "that number",
    )
    assert len(svc.telephony.messages) == 1


# ============================================================================ Prompts

DEFAULTS = [
    "What are you grateful for today?",
    "What went well today?",
    "What would you like to carry into tomorrow?",
]


async def test_sign_up_gives_the_three_default_prompts(svc: Service):
    token, _ = await account(svc)
    rows = await svc.api("Prompts/_prompts", {}, token)
    assert rows == [{"position": i, "text": t} for i, t in enumerate(DEFAULTS, 1)]


async def test_set_prompts_replaces_them_normalised(svc: Service):
    token, _ = await account(svc)
    out = await svc.api(
        "Prompts/setPrompts",
        {"prompts": ["  How did you\n sleep? ", "What went well today?"]},
        token,
    )
    assert out == {"prompts": ["How did you sleep?", "What went well today?"]}
    rows = await svc.api("Prompts/_prompts", {}, token)
    assert rows == [
        {"position": 1, "text": "How did you sleep?"},
        {"position": 2, "text": "What went well today?"},
    ]


@cases(
    "prompts, kind",
    {
        "no prompts": ([], "input"),
        "six prompts": ([f"Question {i}?" for i in range(6)], "input"),
        "a duplicate, ignoring case and spaces": (["How are you?", "how  are YOU?"], "invalid"),
        "a blank prompt": (["Fine?", "   "], "input"),  # stripped, then too short
        "an empty prompt": (["Fine?", ""], "input"),
        "a prompt over 300 characters": (["x" * 301], "input"),
        "a control character": (["Why\u0000?"], "input"),  # the JSON boundary's
        "not a list": ("How are you?", "input"),
    },
)
async def test_set_prompts_refuses(svc: Service, prompts, kind):
    token, _ = await account(svc)
    await refused(svc, "Prompts/setPrompts", {"prompts": prompts}, token, 422, kind)
    assert [r["text"] for r in await svc.api("Prompts/_prompts", {}, token)] == DEFAULTS


@cases(
    "move, order",
    {
        "the last to the first": ((3, 1), [2, 0, 1]),
        "the first to the last": ((1, 3), [1, 2, 0]),
        "one to its own place": ((2, 2), [0, 1, 2]),
    },
)
async def test_move_prompt_moves_one_and_keeps_the_others_in_order(svc: Service, move, order):
    token, _ = await account(svc)
    body = {"fromPosition": move[0], "toPosition": move[1]}
    expected = [DEFAULTS[i] for i in order]
    assert await svc.api("Prompts/movePrompt", body, token) == {"prompts": expected}
    assert [r["text"] for r in await svc.api("Prompts/_prompts", {}, token)] == expected


@cases(
    "move, kind",
    {
        "to a position past the last prompt": ((1, 4), "invalid"),
        "from a position past the last prompt": ((4, 1), "invalid"),
        "from position 0": ((0, 1), "input"),
        "to position 6": ((1, 6), "input"),
    },
)
async def test_move_prompt_refuses_a_position_out_of_range(svc: Service, move, kind):
    token, _ = await account(svc)
    body = {"fromPosition": move[0], "toPosition": move[1]}
    await refused(svc, "Prompts/movePrompt", body, token, 422, kind)
    assert [r["text"] for r in await svc.api("Prompts/_prompts", {}, token)] == DEFAULTS


# ============================================================================ Schedule


async def test_set_daily_plans_the_same_local_time_every_day(svc: Service):
    token, _ = await account(svc)
    assert await svc.api("Schedule/_schedule", {}, token) == []
    assert (
        await svc.api("Schedule/setDaily", {"timezone": "America/New_York", "time": "20:00"}, token)
        == {}
    )
    (schedule,) = await svc.api("Schedule/_schedule", {}, token)
    assert schedule == {
        "timezone": "America/New_York",
        "times": dict.fromkeys(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "20:00"),
        "paused": False,
        "pausedUntil": None,
        "skippedToday": False,
        "allowOutsideWindow": False,
    }
    (nxt,) = await svc.api("Schedule/_nextCall", {}, token)
    local = iso(nxt["at"]).astimezone(NY)
    assert local.strftime("%H:%M") == "20:00"
    assert dt.timedelta(0) < iso(nxt["at"]) - svc.clock.now() <= dt.timedelta(days=1)


async def test_set_weekly_leaves_unnamed_days_without_a_call(svc: Service):
    token, _ = await account(svc)
    times = {"mon": "09:30", "wed": "18:15", "fri": None}
    assert (
        await svc.api("Schedule/setWeekly", {"timezone": "Europe/London", "times": times}, token)
        == {}
    )
    (schedule,) = await svc.api("Schedule/_schedule", {}, token)
    assert schedule["times"] == {
        "mon": "09:30",
        "tue": None,
        "wed": "18:15",
        "thu": None,
        "fri": None,
        "sat": None,
        "sun": None,
    }
    (nxt,) = await svc.api("Schedule/_nextCall", {}, token)
    local = iso(nxt["at"]).astimezone(zoneinfo.ZoneInfo("Europe/London"))
    assert (local.strftime("%a"), local.strftime("%H:%M")) in {("Mon", "09:30"), ("Wed", "18:15")}


@cases(
    "time, status",
    {
        "a minute before 8": ("07:59", 422),
        "8 exactly": ("08:00", 200),
        "21 exactly": ("21:00", 200),
        "a minute after 21": ("21:01", 422),
        "late evening": ("22:30", 422),
        "midnight": ("00:00", 422),
    },
)
async def test_calls_fall_between_8_and_21_without_consent(svc: Service, time, status):
    """Schedule.md: a time outside the window without consent is `invalid` (422)."""
    token, _ = await account(svc)
    body = {"timezone": "Europe/London", "time": time}
    if status == 200:
        await svc.api("Schedule/setDaily", body, token)
    else:
        await refused(svc, "Schedule/setDaily", body, token, 422, "invalid", "08:00-21:00")
        weekly = {"timezone": "Europe/London", "times": {"mon": "12:00", "sat": time}}
        await refused(svc, "Schedule/setWeekly", weekly, token, 422, "invalid", "Saturday")
        assert await svc.api("Schedule/_schedule", {}, token) == []


async def test_consent_allows_calls_outside_the_window_until_withdrawn(svc: Service):
    token, _ = await account(svc)
    late = {"timezone": "Europe/London", "time": "22:30"}
    assert await svc.api("Schedule/allowOutsideWindow", {"allowed": True}, token) == {}
    await svc.api("Schedule/setDaily", late, token)
    (schedule,) = await svc.api("Schedule/_schedule", {}, token)
    assert schedule["allowOutsideWindow"] and schedule["times"]["sun"] == "22:30"
    # withdrawing consent while a late time is planned: change the times first
    await refused(
        svc,
        "Schedule/allowOutsideWindow",
        {"allowed": False},
        token,
        409,
        "conflict",
        "change those times first",
    )
    await svc.api("Schedule/setDaily", {"timezone": "Europe/London", "time": "20:00"}, token)
    assert await svc.api("Schedule/allowOutsideWindow", {"allowed": False}, token) == {}
    await refused(svc, "Schedule/setDaily", late, token, 422, "invalid")


async def test_withdrawing_consent_without_a_schedule_does_nothing(svc: Service):
    token, _ = await account(svc)
    assert await svc.api("Schedule/allowOutsideWindow", {"allowed": False}, token) == {}
    assert await svc.api("Schedule/_schedule", {}, token) == []


@cases(
    "action, body, kind",
    {
        "an unknown zone": ("setDaily", {"timezone": "Mars/Base_One", "time": "20:00"}, "invalid"),
        "24:00": ("setDaily", {"timezone": "Europe/London", "time": "24:00"}, "input"),
        "H:MM": ("setDaily", {"timezone": "Europe/London", "time": "8:00"}, "input"),
        "an unknown day": ("setWeekly", {"timezone": "UTC", "times": {"funday": "10:00"}}, "input"),
        "minute 60": ("setWeekly", {"timezone": "UTC", "times": {"mon": "10:60"}}, "input"),
        "a weekly plan in an unknown zone": (
            "setWeekly",
            {"timezone": "Atlantis/Capital", "times": {"mon": "10:00"}},
            "invalid",
        ),
        "moving to an unknown zone": ("setTimezone", {"timezone": "Nowhere/Special"}, "invalid"),
    },
)
async def test_a_schedule_needs_a_real_zone_and_hh_mm_times(svc: Service, action, body, kind):
    token, _ = await account(svc)
    await refused(svc, f"Schedule/{action}", body, token, 422, kind)
    assert await svc.api("Schedule/_schedule", {}, token) == []


async def test_set_timezone_keeps_the_local_times(svc: Service):
    token, _ = await account(svc)
    await svc.api("Schedule/setDaily", {"timezone": "Europe/London", "time": "20:00"}, token)
    assert await svc.api("Schedule/setTimezone", {"timezone": "Asia/Tokyo"}, token) == {}
    (schedule,) = await svc.api("Schedule/_schedule", {}, token)
    assert (schedule["timezone"], schedule["times"]["mon"]) == ("Asia/Tokyo", "20:00")
    (nxt,) = await svc.api("Schedule/_nextCall", {}, token)
    assert iso(nxt["at"]).astimezone(zoneinfo.ZoneInfo("Asia/Tokyo")).strftime("%H:%M") == "20:00"


async def test_pause_stops_calls_and_resume_brings_them_back(svc: Service):
    token, _ = await account(svc)
    await svc.api("Schedule/setDaily", {"timezone": "Europe/London", "time": "20:00"}, token)
    planned = await svc.api("Schedule/_nextCall", {}, token)
    assert await svc.api("Schedule/pause", {}, token) == {}
    assert (await svc.api("Schedule/_schedule", {}, token))[0]["paused"] is True
    assert await svc.api("Schedule/_nextCall", {}, token) == []
    assert await svc.api("Schedule/resume", {}, token) == {}
    assert (await svc.api("Schedule/_schedule", {}, token))[0]["paused"] is False
    assert await svc.api("Schedule/_nextCall", {}, token) == planned


@pytest.mark.parametrize("action", ["pause", "resume"])
async def test_pause_and_resume_need_a_schedule(svc: Service, action):
    token, _ = await account(svc)
    await refused(svc, f"Schedule/{action}", {}, token, 404, "not_found", "no call schedule")


async def test_a_pause_stays_in_effect_when_the_plan_changes(svc: Service):
    token, _ = await account(svc)
    await svc.api("Schedule/setDaily", {"timezone": "Europe/London", "time": "20:00"}, token)
    await svc.api("Schedule/pause", {}, token)
    await svc.api("Schedule/setDaily", {"timezone": "Europe/London", "time": "09:00"}, token)
    (schedule,) = await svc.api("Schedule/_schedule", {}, token)
    assert (schedule["paused"], schedule["times"]["mon"]) == (True, "09:00")
    assert await svc.api("Schedule/_nextCall", {}, token) == []


@pytest.mark.parametrize(
    ("action", "body", "timezone"),
    [
        ("setTimezone", {"timezone": "Europe/Paris"}, "Europe/Paris"),
        ("allowOutsideWindow", {"allowed": True}, None),
    ],
)
async def test_zone_or_consent_alone_creates_an_empty_plan(svc: Service, action, body, timezone):
    token, _ = await account(svc)
    assert await svc.api(f"Schedule/{action}", body, token) == {}
    (schedule,) = await svc.api("Schedule/_schedule", {}, token)
    assert schedule["timezone"] == timezone
    assert set(schedule["times"].values()) == {None}
    assert await svc.api("Schedule/_nextCall", {}, token) == []
    assert await svc.api("Schedule/pause", {}, token) == {}


async def test_next_call_after_a_given_instant(svc: Service):
    token, _ = await account(svc)
    await svc.api("Schedule/setDaily", {"timezone": "America/New_York", "time": "20:00"}, token)
    after = dt.datetime(2030, 1, 1, 12, tzinfo=dt.UTC)
    assert await svc.api("Schedule/_nextCall", {"after": after.isoformat()}, token) == [
        {"at": "2030-01-02T01:00:00Z"}
    ]
    await refused(svc, "Schedule/_nextCall", {"after": "next tuesday"}, token, 422, "input")


# ============================================================================ Calls and CallScheduler


async def test_call_now_queues_a_call_to_the_verified_number(svc: Service):
    token = await svc.sign_up(phone="+14155550199")
    out = await svc.api("Calls/now", {}, token)
    assert list(out) == ["scheduledCall"] and is_id(out["scheduledCall"])
    (upcoming,) = await svc.api("CallScheduler/_upcoming", {}, token)
    assert upcoming["scheduledCall"] == out["scheduledCall"]
    assert (upcoming["status"], upcoming["origin"], upcoming["phoneNumber"]) == (
        "PENDING",
        "now",
        "+14155550199",
    )
    assert (upcoming["attempts"], upcoming["maxRetries"]) == (0, 4)
    assert not {"dueAt", "claimedBy", "leaseUntil", "claimKind"} & set(upcoming)
    # asking again before it is dialled brings the same call forward
    assert await svc.api("Calls/now", {}, token) == out


async def test_call_now_needs_a_verified_number(svc: Service):
    token = await svc.sign_up(verify=False)
    await refused(svc, "Calls/now", {}, token, 409, "conflict", "verify your phone number first")
    assert await svc.api("CallScheduler/_upcoming", {}, token) == []


async def test_call_now_needs_a_profile(svc: Service):
    token, _ = await account(svc)
    await refused(svc, "Calls/now", {}, token, 409, "conflict", "create your profile first")


async def test_call_now_while_a_call_is_under_way_is_a_conflict(svc: Service):
    token = await svc.sign_up()
    await svc.call_now(token)
    await svc.dial_due()
    await refused(svc, "Calls/now", {}, token, 409, None, "already under way")


async def test_cancel_a_pending_call(svc: Service):
    token = await svc.sign_up()
    scheduled = await svc.call_now(token)
    body = {"scheduledCall": scheduled}
    assert await svc.api("CallScheduler/cancel", body, token) == {"wasInProgress": False}
    assert await svc.api("CallScheduler/_upcoming", {}, token) == []
    (row,) = await svc.api("CallScheduler/_recent", {}, token)
    assert (row["scheduledCall"], row["status"]) == (scheduled, "CANCELLED")
    await refused(svc, "CallScheduler/cancel", body, token, 409, "conflict", "already ended")
    assert await svc.dial_due() == []


async def test_cancel_a_call_under_way_hangs_it_up(svc: Service):
    token = await svc.sign_up()
    scheduled = await svc.call_now(token)
    (placed,) = await svc.dial_due()
    out = await svc.api("CallScheduler/cancel", {"scheduledCall": scheduled}, token)
    assert out == {"wasInProgress": True}
    assert svc.telephony.call(placed.sid).status in ("failed", "hung_up")


@pytest.mark.parametrize("whose", ["another user's", "an unknown"])
async def test_cancel_someone_elses_call_is_not_found(svc: Service, whose):
    owner = await svc.sign_up()
    scheduled = await svc.call_now(owner)
    intruder = await svc.sign_up()
    target = scheduled if whose == "another user's" else "0" * 32
    await refused(
        svc, "CallScheduler/cancel", {"scheduledCall": target}, intruder, 404, "not_found"
    )
    assert (await svc.api("CallScheduler/_upcoming", {}, owner))[0]["status"] == "PENDING"
    assert await svc.api("CallScheduler/_recent", {}, intruder) == []


async def test_recent_lists_the_newest_first_up_to_the_limit(svc: Service):
    token = await svc.sign_up()
    first = await svc.call_now(token)
    await svc.api("CallScheduler/cancel", {"scheduledCall": first}, token)
    second = await svc.call_now(token)
    rows = await svc.api("CallScheduler/_recent", {}, token)
    assert [r["scheduledCall"] for r in rows] == [second, first]
    assert [
        r["scheduledCall"] for r in await svc.api("CallScheduler/_recent", {"limit": 1}, token)
    ] == [second]
    for limit in (0, 101):
        await refused(svc, "CallScheduler/_recent", {"limit": limit}, token, 422, "input")


# ============================================================================ ReflectionSession


async def typing(svc: Service) -> tuple[str, str]:
    """A user with a typed reflection just started on the three default prompts."""
    token, _ = await account(svc)
    session = (await svc.api("Reflection/startText", {}, token))["session"]
    return token, session


async def test_start_text_starts_a_reflection_on_the_users_prompts(svc: Service):
    token, _ = await account(svc)
    out = await svc.api("Reflection/startText", {}, token)
    assert list(out) == ["session"] and is_id(out["session"])
    (active,) = await svc.api("ReflectionSession/_active", {}, token)
    assert active["session"] == out["session"]
    assert (active["method"], active["callRef"], active["nextPosition"]) == ("TEXT", None, 1)
    assert active["prompts"] == [
        {"position": i, "text": t, "answer": None} for i, t in enumerate(DEFAULTS, 1)
    ]
    # a snapshot: editing the prompts later does not change it
    await svc.api("Prompts/setPrompts", {"prompts": ["Something else?"]}, token)
    assert len((await svc.api("ReflectionSession/_active", {}, token))[0]["prompts"]) == 3


async def test_one_reflection_in_progress_at_a_time(svc: Service):
    token, session = await typing(svc)
    await refused(
        svc, "Reflection/startText", {}, token, 409, None, "already have a reflection in progress"
    )
    await svc.api(
        "ReflectionSession/abandonSession", {"session": session, "reason": "later"}, token
    )
    await svc.api("Reflection/startText", {}, token)


async def test_record_response_stores_the_trimmed_answer(svc: Service):
    token, session = await typing(svc)
    body = {"session": session, "position": 2, "text": "  A long walk.  "}
    assert await svc.api("ReflectionSession/recordResponse", body, token) == {}
    (active,) = await svc.api("ReflectionSession/_active", {}, token)
    assert [p["answer"] for p in active["prompts"]] == [None, "A long walk.", None]
    assert active["nextPosition"] == 1


@cases(
    "change, kind",
    {
        "a position past the last prompt": ({"position": 4}, "invalid"),
        "position 0": ({"position": 0}, "input"),
        "position 6": ({"position": 6}, "input"),
        "an answer over 10,000 characters": ({"text": "x" * 10_001}, "input"),
        "no text": ({"text": GONE}, "input"),
        "a start in the future": ({"startedAt": "2099-01-01T00:00:00Z"}, "invalid"),
        "a start past 2100": ({"startedAt": "2999-01-01T00:00:00Z"}, "input"),
        "a start before the reflection": ({"startedAt": "2000-01-01T00:00:00Z"}, "invalid"),
        "a start without its UTC offset": ({"startedAt": "2026-01-01T00:00:00"}, "input"),
    },
)
async def test_record_response_refuses(svc: Service, change, kind):
    token, session = await typing(svc)
    body = with_changes({"session": session, "position": 1, "text": "Fine."}, change)
    await refused(svc, "ReflectionSession/recordResponse", body, token, 422, kind)
    assert (await svc.api("ReflectionSession/_active", {}, token))[0]["nextPosition"] == 1


async def test_record_response_twice_is_a_conflict(svc: Service):
    token, session = await typing(svc)
    body = {"session": session, "position": 1, "text": "First."}
    await svc.api("ReflectionSession/recordResponse", body, token)
    await refused(
        svc,
        "ReflectionSession/recordResponse",
        {**body, "text": "Second."},
        token,
        409,
        "conflict",
        "already has an answer",
    )
    (active,) = await svc.api("ReflectionSession/_active", {}, token)
    assert active["prompts"][0]["answer"] == "First."


async def test_complete_session_needs_every_answer_an_empty_one_counts(svc: Service):
    token, session = await typing(svc)
    record = "ReflectionSession/recordResponse"
    await svc.api(record, {"session": session, "position": 1, "text": "Family."}, token)
    done = {"session": session}
    await refused(
        svc, "ReflectionSession/completeSession", done, token, 409, "conflict", "prompt(s) 2, 3"
    )
    await svc.api(record, {"session": session, "position": 2, "text": "   "}, token)
    await svc.api(record, {"session": session, "position": 3, "text": "Rest."}, token)
    assert await svc.api("ReflectionSession/completeSession", done, token) == {}
    assert await svc.api("ReflectionSession/_active", {}, token) == []
    (row,) = await svc.api("ReflectionSession/_history", {}, token)
    assert (row["session"], row["method"], row["status"]) == (session, "TEXT", "COMPLETED")
    assert [p["answer"] for p in row["prompts"]] == ["Family.", "", "Rest."]
    assert row["hasRecording"] is False and "recordingUrl" not in row
    # a completed reflection is final
    for path, body in [
        ("completeSession", done),
        ("abandonSession", {**done, "reason": "oops"}),
        ("recordResponse", {**done, "position": 1, "text": "More."}),
    ]:
        await refused(svc, f"ReflectionSession/{path}", body, token, 409, "conflict")


@cases(
    "rating, status, kind",
    {
        "-3": (-3, 422, "input"),
        "3": (3, 422, "input"),
        "1.5": (1.5, 422, "input"),
        "a string": ("2", 422, "input"),
        "a boolean": (True, 422, "input"),
        "-2": (-2, 200, None),
        "0": (0, 200, None),
        "2": (2, 200, None),
    },
)
async def test_set_rating_is_an_integer_from_minus_2_to_2(svc: Service, rating, status, kind):
    token, session = await typing(svc)
    body = {"session": session, "rating": rating}
    if status == 200:
        assert await svc.api("ReflectionSession/setRating", body, token) == {}
    else:
        await refused(svc, "ReflectionSession/setRating", body, token, status, kind)
    (row,) = await svc.api("ReflectionSession/_history", {}, token)
    assert row["rating"] == (rating if status == 200 else None)


async def test_set_rating_after_completion_but_not_after_abandoning(svc: Service):
    token, session = await typing(svc)
    for position in (1, 2, 3):
        body = {"session": session, "position": position, "text": "ok"}
        await svc.api("ReflectionSession/recordResponse", body, token)
    await svc.api("ReflectionSession/completeSession", {"session": session}, token)
    await svc.api("ReflectionSession/setRating", {"session": session, "rating": -1}, token)
    await svc.api("ReflectionSession/setRating", {"session": session, "rating": 1}, token)
    assert (await svc.api("ReflectionSession/_history", {}, token))[0]["rating"] == 1

    other = (await svc.api("Reflection/startText", {}, token))["session"]
    await svc.api("ReflectionSession/abandonSession", {"session": other, "reason": "bored"}, token)
    await refused(
        svc,
        "ReflectionSession/setRating",
        {"session": other, "rating": 1},
        token,
        409,
        "conflict",
        "abandoned",
    )


async def test_abandon_keeps_the_answers_and_the_reason(svc: Service):
    token, session = await typing(svc)
    await svc.api(
        "ReflectionSession/recordResponse",
        {"session": session, "position": 1, "text": "Tea."},
        token,
    )
    body = {"session": session, "reason": "  no time today "}
    assert await svc.api("ReflectionSession/abandonSession", body, token) == {}
    (full,) = await svc.api("ReflectionSession/_session", {"session": session}, token)
    assert (full["status"], full["abandonReason"]) == ("ABANDONED", "no time today")
    assert full["prompts"][0]["answer"] == "Tea." and full["endedAt"] is not None
    await refused(svc, "ReflectionSession/abandonSession", body, token, 409, "conflict")


@cases(
    "reason, kind",
    {
        "a blank reason": ("   ", "invalid"),
        "an empty reason": ("", "input"),
        "over 200 characters": ("r" * 201, "input"),
    },
)
async def test_abandon_needs_a_short_reason(svc: Service, reason, kind):
    token, session = await typing(svc)
    body = {"session": session, "reason": reason}
    await refused(svc, "ReflectionSession/abandonSession", body, token, 422, kind)
    assert (await svc.api("ReflectionSession/_active", {}, token))[0]["session"] == session


@cases(
    "action, extra",
    {
        "answering it": ("recordResponse", {"position": 1, "text": "Mine now."}),
        "rating it": ("setRating", {"rating": 2}),
        "completing it": ("completeSession", {}),
        "abandoning it": ("abandonSession", {"reason": "taken over"}),
    },
)
async def test_another_users_reflection_is_not_found(svc: Service, action, extra):
    owner, session = await typing(svc)
    intruder, _ = await account(svc)
    for target in (session, "f" * 32):
        body = {"session": target, **extra}
        await refused(
            svc,
            f"ReflectionSession/{action}",
            body,
            intruder,
            404,
            "not_found",
            "no such reflection",
        )
    assert await svc.api("ReflectionSession/_session", {"session": session}, intruder) == []
    (active,) = await svc.api("ReflectionSession/_active", {}, owner)
    assert (active["session"], active["nextPosition"]) == (session, 1)
    assert (await svc.api("ReflectionSession/_history", {}, owner))[0]["rating"] is None


async def test_session_shows_one_reflection_in_full(svc: Service):
    token, session = await typing(svc)
    await svc.api(
        "ReflectionSession/recordResponse",
        {"session": session, "position": 1, "text": "Tea."},
        token,
    )
    (full,) = await svc.api("ReflectionSession/_session", {"session": session}, token)
    assert full["session"] == session and full["status"] == "IN_PROGRESS"
    first = full["prompts"][0]
    assert (first["answer"], first["startedAt"] is not None, first["finishedAt"] is not None) == (
        "Tea.",
        True,
        True,
    )
    assert full["prompts"][1]["answer"] is None
    assert {"callRef", "abandonReason", "transcript", "transcriptionText"} <= set(full)
    assert await svc.api("ReflectionSession/_session", {"session": "0" * 32}, token) == []


async def test_history_pages_newest_first(svc: Service):
    token, _ = await account(svc)
    sessions = []
    for _ in range(3):
        session = (await svc.api("Reflection/startText", {}, token))["session"]
        await svc.api(
            "ReflectionSession/abandonSession", {"session": session, "reason": "x"}, token
        )
        sessions.append(session)
    page = await svc.api("ReflectionSession/_history", {"limit": 2}, token)
    assert [r["session"] for r in page] == sessions[:0:-1]
    rest = await svc.api(
        "ReflectionSession/_history", {"limit": 2, "before": page[-1]["session"]}, token
    )
    assert [r["session"] for r in rest] == sessions[:1]
    for limit in (0, 101):
        await refused(svc, "ReflectionSession/_history", {"limit": limit}, token, 422, "input")


# ============================================================================ Account/delete


async def test_deleting_an_account_needs_the_password(svc: Service):
    token = await svc.sign_up()
    await refused(svc, "Account/delete", {"password": "not my password"}, token, 403)
    await refused(svc, "Account/delete", {}, token, 422, "input")
    await refused(svc, "Account/delete", {"password": PASSWORD, "now": True}, token, 422, "input")
    assert (await svc.api("Accounts/_account", {}, token))[0]["user"]


async def test_deleting_an_account_removes_it_and_ends_its_sessions(svc: Service):
    token = await svc.sign_up("ada", phone="+14155550177")
    scheduled = await svc.call_now(token)
    await svc.api("Reflection/startText", {}, token)
    assert await svc.api("Account/delete", {"password": PASSWORD}, token) == {"deleted": True}
    await refused(svc, "Accounts/_account", {}, token, 401)
    await refused(svc, "Accounts/login", {"username": "ada", "password": PASSWORD}, None, 401)
    assert await svc.dial_due() == [], f"{scheduled} was deleted with the account"
    # the username is free again, and the new account starts empty
    again, _ = await account(svc, "ada")
    for query in (
        "Profile/_getProfile",
        "PhoneVerification/_verifiedNumbers",
        "CallScheduler/_recent",
        "ReflectionSession/_history",
        "Schedule/_schedule",
    ):
        assert await svc.api(query, {}, again) == [], query


async def test_deleting_an_account_hangs_up_its_call_under_way(svc: Service):
    token = await svc.sign_up()
    await svc.call_now(token)
    (placed,) = await svc.dial_due()
    assert await svc.api("Account/delete", {"password": PASSWORD}, token) == {"deleted": True}
    assert svc.telephony.call(placed.sid).status in ("failed", "hung_up")


# ============================================================================ the HTTP contract itself


@pytest.mark.parametrize(
    "path",
    [
        # internal operations (docs/concepts/*.md "Exposure"): no route at all
        "Accounts/verifyPassword",
        "Accounts/deleteAccount",
        "Accounts/_userForToken",
        "Profile/deleteProfile",
        "Profile/_spokenName",
        "PhoneVerification/_isVerified",
        "PhoneVerification/forget",
        "Prompts/setDefaults",
        "Prompts/_promptList",
        "Schedule/advance",
        "Schedule/_dueUsers",
        "CallScheduler/scheduleCall",
        "CallScheduler/claimDue",
        "CallScheduler/_forUser",
        "ReflectionSession/startSession",
        "ReflectionSession/attachRecording",
        "ReflectionSession/_byCallRef",
        "Nothing/here",
    ],
)
async def test_what_is_not_declared_has_no_route(svc: Service, path):
    token, _ = await account(svc)
    await refused(svc, path, {}, token, 404, says="no such route")


async def test_malformed_requests(svc: Service):
    token, _ = await account(svc)
    auth = {"Authorization": f"Bearer {token}"}
    url = "/api/Prompts/setPrompts"
    r = await svc.http.post(
        url, content=b"{not json", headers={**auth, "Content-Type": "application/json"}
    )
    assert r.status_code == 400
    r = await svc.http.post(
        url, content=b"prompts=x", headers={**auth, "Content-Type": "text/plain"}
    )
    assert r.status_code == 415
    r = await svc.http.post(url, json=["a list"], headers=auth)
    assert r.status_code == 422
    r = await svc.http.post(url, json={"prompts": ["x" * 300] * 300}, headers=auth)
    assert r.status_code == 413
    r = await svc.http.get(url, headers=auth)
    assert r.status_code == 405
    assert r.headers["x-request-id"]


def schema_nodes(node: Any, where: str = "") -> Any:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from schema_nodes(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from schema_nodes(value, f"{where}/{i}")


async def test_the_openapi_document_gives_string_limits_as_string_keywords(svc: Service):
    doc = (await svc.http.get("/openapi.json")).json()
    misplaced = [
        where
        for where, node in schema_nodes(doc["paths"])
        if {"minItems", "maxItems"} & set(node) and node.get("type") != "array"
    ]
    assert misplaced == []


async def test_the_300_character_limit_applies_after_trimming(svc: Service):
    token, _ = await account(svc)
    question = "Why " + "y" * 295 + "?"
    assert len(question) == 300
    out = await svc.api("Prompts/setPrompts", {"prompts": [f" {question}\n"]}, token)
    assert out == {"prompts": [question]}
