"""Accounts' password reset, rule by rule (docs/concepts/Accounts.md, "Password reset")."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import pytest
from argon2 import PasswordHasher

from concepts.accounts import Accounts
from concepts.accounts.reset import WRONG_CODE
from services.app.clock import FakeClock
from services.telephony.mock import MockTelephony

PW = "correct horse battery"
NEW = "a brand new passphrase"
PHONE = "+14155552671"
WRONG = {"error": WRONG_CODE, "errorKind": "invalid"}


class FailingTelephony(MockTelephony):
    async def send_sms(self, *, to: str, body: str, user: str | None = None) -> str:
        raise RuntimeError("the provider is down")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime.now(dt.UTC).replace(microsecond=0))


@pytest.fixture
def telephony() -> MockTelephony:
    return MockTelephony()


@pytest.fixture
async def accounts(async_db, clock, telephony) -> Accounts:
    c = Accounts(async_db, {"clock": clock, "telephony": telephony})
    c.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    await c.setup()
    return c


async def ada(c: Accounts) -> str:
    return (await c.register(username="ada", password=PW))["user"]


def last_code(telephony: MockTelephony) -> str:
    return re.search(r"\b(\d{6})\b", telephony.messages[-1].body).group(1)


async def test_a_texted_code_replaces_the_password_once(accounts, telephony):
    user = await ada(accounts)
    old = await accounts.login(username="ada", password=PW)
    assert await accounts.sendResetCode(user=user, phoneNumber=PHONE) == {}
    assert telephony.messages[-1].to == PHONE and telephony.messages[-1].user == user
    code = last_code(telephony)
    spaced = f" {code[:3]} {code[3:]} "
    done = await accounts.resetPassword(username=" ADA ", code=spaced, newPassword=NEW)
    assert done["user"] == user and done["token"]
    assert await accounts._userForToken(token=old["token"]) == []  # every old session ends
    assert await accounts._userForToken(token=done["token"]) == [{"user": user}]
    assert "error" in await accounts.login(username="ada", password=PW)
    assert "token" in await accounts.login(username="ada", password=NEW)
    assert await accounts.resetPassword(username="ada", code=code, newPassword=PW) == WRONG


async def test_a_new_code_replaces_the_old(accounts, telephony):
    user = await ada(accounts)
    await accounts.sendResetCode(user=user, phoneNumber=PHONE)
    first = last_code(telephony)
    await accounts.sendResetCode(user=user, phoneNumber=PHONE)
    second = last_code(telephony)
    if first != second:
        assert await accounts.resetPassword(username="ada", code=first, newPassword=NEW) == WRONG
    assert "token" in await accounts.resetPassword(username="ada", code=second, newPassword=NEW)


async def test_a_code_expires_after_ten_minutes(accounts, telephony, clock):
    user = await ada(accounts)
    await accounts.sendResetCode(user=user, phoneNumber=PHONE)
    clock.advance(minutes=10)
    got = await accounts.resetPassword(username="ada", code=last_code(telephony), newPassword=NEW)
    assert got == WRONG


async def test_five_tries_per_code_even_at_once(accounts, telephony):
    user = await ada(accounts)
    await accounts.sendResetCode(user=user, phoneNumber=PHONE)
    code = last_code(telephony)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    clients = [f"192.0.2.{n}" for n in range(8)]  # many clients: the code's own limit holds
    tries = [
        accounts.resetPassword(username="ada", code=wrong, newPassword=NEW, client=c)
        for c in clients
    ]
    assert all(r == WRONG for r in await asyncio.gather(*tries))
    # the right code no longer works: its five tries are used up
    got = await accounts.resetPassword(username="ada", code=code, newPassword=NEW, client="x")
    assert got == WRONG


async def test_an_unknown_username_is_answered_as_a_wrong_code(accounts):
    user = await ada(accounts)
    assert await accounts.resetPassword(username="nobody", code="123456", newPassword=NEW) == WRONG
    assert await accounts.requestReset(username="nobody") == {}
    assert await accounts.requestReset(username="ada") == {}
    assert await accounts._userNamed(username="nobody") == []
    assert await accounts._userNamed(username=" Ada") == [{"user": user}]


async def test_wrong_codes_slow_the_client(accounts, telephony, clock):
    user = await ada(accounts)
    await accounts.sendResetCode(user=user, phoneNumber=PHONE)
    for _ in range(4):
        got = await accounts.resetPassword(
            username="nobody", code="111111", newPassword=NEW, client="203.0.113.5"
        )
        assert got == WRONG
    waited = await accounts.resetPassword(
        username="ada", code=last_code(telephony), newPassword=NEW, client="203.0.113.5"
    )
    assert waited["errorKind"] == "rate_limited" and waited["retryAfter"] == 1
    clock.advance(seconds=1)
    got = await accounts.resetPassword(
        username="ada", code=last_code(telephony), newPassword=NEW, client="203.0.113.5"
    )
    assert "token" in got


async def test_asking_often_waits_per_client_and_per_name(accounts, clock):
    for _ in range(3):
        assert await accounts.requestReset(username="ada", client="c1") == {}
    refused = await accounts.requestReset(username="ada", client="c1")
    assert refused["errorKind"] == "rate_limited" and refused["retryAfter"] == 60
    assert "try again in 1 minute" in refused["error"]
    # another name from the same client waits too; the same name from another client too
    assert (await accounts.requestReset(username="bob", client="c1"))["retryAfter"] == 60
    assert (await accounts.requestReset(username="ada", client="c2"))["retryAfter"] == 60
    assert await accounts.requestReset(username="bob", client="c2") == {}
    clock.advance(seconds=60)
    assert await accounts.requestReset(username="ada", client="c1") == {}
    assert (await accounts.requestReset(username="ada", client="c1"))["retryAfter"] == 120


async def test_a_text_that_cannot_be_sent_leaves_no_code(async_db, clock):
    c = Accounts(async_db, {"clock": clock, "telephony": FailingTelephony()})
    await c.setup()
    user = (await c.register(username="ada", password=PW))["user"]
    got = await c.sendResetCode(user=user, phoneNumber=PHONE)
    assert got["errorKind"] == "unavailable"
    assert await c.collection("resets").count_documents({}) == 0


async def test_deleting_the_account_forgets_its_code(accounts, telephony):
    user = await ada(accounts)
    await accounts.sendResetCode(user=user, phoneNumber=PHONE)
    await accounts.deleteAccount(user=user)
    assert await accounts.collection("resets").count_documents({}) == 0
