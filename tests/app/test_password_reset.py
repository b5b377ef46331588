"""Password reset over HTTP, the whole service: the code goes only to a verified phone, and
no reply (status, body, headers that matter) says whether an account exists
(docs/concepts/Accounts.md, "Password reset")."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from services.telephony.mock import MockTelephony
from tests.api_client import PASSWORD
from tests.app.conftest import BASE, Service, next_number, running_service

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
async def svc(service: Service) -> Service:
    service.engine.concepts["Accounts"].hasher = PasswordHasher(
        time_cost=1, memory_cost=8, parallelism=1
    )
    return service


def client_at(svc: Service, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=svc.app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE)


async def reset_codes(svc: Service, to: str) -> list[str]:
    """The reset codes texted to ``to``, once the texts owed have gone (after the reply)."""
    await svc.engine.settle()
    return [
        re.search(r"\b(\d{6})\b", m.body).group(1)
        for m in svc.telephony.messages
        if m.to == to and "password reset code" in m.body
    ]


def shape(response: httpx.Response) -> tuple[int, object, str | None]:
    """What a caller can read from a reply, the request id aside."""
    body = response.json()
    if isinstance(body, dict):
        body.pop("requestId", None)
    return response.status_code, body, response.headers.get("retry-after")


async def test_the_code_goes_to_the_verified_phone_and_replaces_the_password(svc):
    username = f"u{uuid.uuid4().hex[:8]}"
    phone = next_number()
    old_token = await svc.sign_up(username, phone=phone)
    async with client_at(svc, "203.0.113.9") as http:
        asked = await http.post("/api/Accounts/requestReset", json={"username": username.upper()})
        assert asked.status_code == 200 and asked.json() == {}
        (code,) = await reset_codes(svc, phone)
        body = {"username": username, "code": code, "newPassword": NEW_PASSWORD}
        done = await http.post("/api/Accounts/resetPassword", json=body)
        assert done.status_code == 200, done.text
        token = done.json()["token"]
        # the code is used up, the old password and the old session are gone
        again = await http.post("/api/Accounts/resetPassword", json=body)
        assert again.status_code == 422
        assert again.json()["error"] == "that code is wrong or has expired; ask for a new one"
    await svc.api("Accounts/_account", {}, old_token, expect=401)
    await svc.api("Accounts/_account", {}, token)
    await svc.api("Accounts/login", {"username": username, "password": PASSWORD}, expect=401)
    await svc.api("Accounts/login", {"username": username, "password": NEW_PASSWORD})


async def test_an_unverified_phone_gets_no_code(svc):
    username = f"u{uuid.uuid4().hex[:8]}"
    phone = next_number()
    await svc.sign_up(username, phone=phone, verify=False)
    await svc.api("Accounts/requestReset", {"username": username})
    assert await reset_codes(svc, phone) == []


async def test_the_replies_are_the_same_whether_or_not_the_account_exists(svc):
    real = f"u{uuid.uuid4().hex[:8]}"
    phone = next_number()
    await svc.sign_up(real, phone=phone)
    nobody = f"u{uuid.uuid4().hex[:8]}"
    replies: dict[str, list[tuple]] = {real: [], nobody: []}
    for n, name in enumerate((real, nobody)):
        async with client_at(svc, f"198.51.100.{n + 1}") as http:
            for _ in range(4):  # three at once, then the fourth waits
                response = await http.post("/api/Accounts/requestReset", json={"username": name})
                replies[name].append(shape(response))
            wrong = {"username": name, "code": "000000", "newPassword": NEW_PASSWORD}
            response = await http.post("/api/Accounts/resetPassword", json=wrong)
            replies[name].append(shape(response))
    assert replies[real] == replies[nobody]
    statuses = [status for status, _, _ in replies[real]]
    assert statuses == [200, 200, 200, 429, 422]
    assert replies[real][3][2] == "60"  # Retry-After: a minute
    assert len(await reset_codes(svc, phone)) == 3  # the refused fourth sent nothing


async def test_asking_for_another_users_codes_from_many_addresses_is_limited_by_the_name(svc):
    username = f"u{uuid.uuid4().hex[:8]}"
    phone = next_number()
    await svc.sign_up(username, phone=phone)
    statuses = []
    for n in range(5):
        async with client_at(svc, f"192.0.2.{n + 10}") as http:
            response = await http.post("/api/Accounts/requestReset", json={"username": username})
            statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429, 429]
    assert len(await reset_codes(svc, phone)) == 3


async def test_the_client_address_comes_from_the_connection(svc):
    body = {"username": "ada", "client": "10.0.0.1"}
    await svc.api("Accounts/requestReset", body, expect=422)


class HeldTexts(MockTelephony):
    """A provider whose texts wait until the test lets them go."""

    def __init__(self) -> None:
        super().__init__(seed=7)
        self.hold = asyncio.Event()
        self.hold.set()
        self.asked = asyncio.Event()

    async def send_sms(self, **kw: Any) -> str:
        self.asked.set()
        await self.hold.wait()
        return await super().send_sms(**kw)


async def test_the_reply_goes_out_before_the_code_is_texted(mongo_uri):
    """The timing of the reply cannot tell an account with a verified phone: the reply
    is made before the text is asked for, and does not wait for it."""
    telephony = HeldTexts()
    async with running_service(mongo_uri, telephony=telephony) as service:
        username, phone = f"u{uuid.uuid4().hex[:8]}", next_number()
        await service.sign_up(username, phone=phone)
        telephony.hold.clear()
        telephony.asked.clear()
        reply = service.http.post("/api/Accounts/requestReset", json={"username": username})
        asked = await asyncio.wait_for(reply, 30)  # a reply that waited for the text: never
        assert asked.status_code == 200 and asked.json() == {}
        assert not [m for m in telephony.messages if "password reset code" in m.body]
        await asyncio.wait_for(telephony.asked.wait(), 30)  # then the text is asked for
        telephony.hold.set()
        await service.engine.settle()
        assert len([m for m in telephony.messages if m.to == phone and "reset" in m.body]) == 1
