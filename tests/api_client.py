"""Calling the API from tests: one POST, the bearer token, the expected status."""

from __future__ import annotations

from typing import Any

import httpx


async def call_api(
    http: httpx.AsyncClient,
    path: str,
    body: dict | None = None,
    token: str | None = None,
    expect: int | None = 200,
) -> Any:
    """POST /api/<path>; asserts the status (unless ``expect`` is None) and returns the JSON."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = await http.post(f"/api/{path}", json=body or {}, headers=headers)
    if expect is not None:
        assert r.status_code == expect, f"{path}: {r.status_code} {r.text}"
    return r.json()


PASSWORD = "correct horse battery"


async def sign_up(
    http: httpx.AsyncClient, username: str, phone: str, password: str = PASSWORD, **profile: Any
) -> str:
    """Register, log in and create a profile (Ada, New York, ``phone``); returns the token.
    The phone number is not verified: how the code is read differs per harness."""
    await call_api(http, "Accounts/register", {"username": username, "password": password})
    login = await call_api(http, "Accounts/login", {"username": username, "password": password})
    body = {"displayName": "Ada", "phoneNumber": phone, "timezone": "America/New_York", **profile}
    await call_api(http, "Profile/createProfile", body, login["token"])
    return login["token"]
