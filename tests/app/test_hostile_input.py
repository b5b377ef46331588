"""Hostile request bodies get a precise 4xx with a JSON error, and change nothing.

Each case below gave a 500 (or poisoned the action log) before the JSON
boundary refused it: lone surrogates, control characters, deep nesting,
numbers JSON or BSON cannot hold, and dates far outside any call's lifetime.
"""

from __future__ import annotations

import pytest

from tests.app.conftest import Service

DEEP_LIST = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000

# (route, raw body, needs a session, expected status, a word the error must contain)
CASES = [
    ("Accounts/login", b'{"username":"\\ud800","password":"x"}', False, 400, "username"),
    ("Accounts/login", b'{"\\udfff":"a"}', False, 400, "surrogate"),
    ("Accounts/register", b'{"username":"a\\u0000b","password":"p"}', False, 422, "username"),
    ("Profile/updateDisplayName", b'{"displayName":"Ada\\ud83d"}', True, 400, "displayName"),
    ("Profile/updateDisplayName", b'{"displayName":"a\\u0007b"}', True, 422, "control"),
    ("Schedule/_nextCall", b'{"after":"0001-01-01T00:00:00+14:00"}', True, 422, "after"),
    ("Schedule/_nextCall", b'{"after":"9999-12-31T23:59:59-14:00"}', True, 422, "after"),
    ("Profile/updateMaxRetries", b'{"maxRetries":18446744073709551616}', True, 422, "maxRetries"),
    ("Profile/updateMaxRetries", b'{"maxRetries":1e309}', True, 422, "maxRetries"),
    ("Profile/updateMaxRetries", b'{"maxRetries":NaN}', True, 400, "maxRetries"),
    ("Accounts/register", DEEP_LIST, False, 400, "nest"),
    ("Accounts/register", DEEP_OBJECT, False, 400, "nest"),
    ("Calls/now", DEEP_OBJECT, True, 400, "nest"),
    ("Calls/now", b'{"x":"\\ud800"}', True, 400, "x"),
]


@pytest.mark.parametrize(("route", "body", "auth", "status", "word"), CASES)
async def test_a_hostile_body_is_refused_precisely_and_changes_nothing(
    service: Service, route: str, body: bytes, auth: bool, status: int, word: str
) -> None:
    token = await service.sign_up() if auth else None
    before = await service.concept_state()
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    r = await service.http.post(f"/api/{route}", content=body, headers=headers)
    assert r.status_code == status, r.text
    reply = r.json()
    assert word.lower() in r.text.lower(), reply
    assert set(reply) <= {"error", "detail", "requestId"}
    assert await service.concept_state() == before
    # the action log still takes records: the next ordinary request is stored
    ok = await service.http.post(
        "/api/Accounts/login", json={"username": "nobody-here", "password": "wrong password"}
    )
    assert ok.status_code == 401
    await service.engine.log.flush()
    assert await service.engine.db["conceptkit_actions"].count_documents({"action": "login"}) >= 1


@pytest.mark.parametrize("zone", ["../../../../etc/passwd", "Europe/London\n", "a" * 65, "/UTC"])
async def test_a_time_zone_that_cannot_be_a_zone_name_is_refused_by_the_schema(
    service: Service, zone: str
) -> None:
    token = await service.sign_up()
    r = await service.http.post(
        "/api/Schedule/setTimezone",
        json={"timezone": zone},
        headers={"authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "timezone"], r.text
    doc = (await service.http.get("/openapi.json")).json()
    schema = doc["paths"]["/api/Schedule/setTimezone"]["post"]["requestBody"]["content"]
    assert "pattern" in schema["application/json"]["schema"]["properties"]["timezone"]


async def test_the_sign_up_schema_says_what_sign_up_accepts(service: Service) -> None:
    doc = (await service.http.get("/openapi.json")).json()
    body = doc["paths"]["/api/Accounts/register"]["post"]["requestBody"]["content"]
    username = body["application/json"]["schema"]["properties"]["username"]
    assert (username["minLength"], username["maxLength"]) == (3, 40)
    assert username["pattern"] == "[A-Za-z0-9._-]{3,40}" and "3-40" in username["description"]
    r = await service.http.post(
        "/api/Accounts/register", json={"username": "  Grace.Hopper ", "password": "p" * 12}
    )
    assert r.status_code == 200, r.text  # case and surrounding spaces are still ignored
