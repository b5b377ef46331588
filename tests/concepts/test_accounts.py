"""Accounts, rule by rule, as in docs/concepts/Accounts.md."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from argon2 import PasswordHasher

from conceptkit.concept import describe_operations
from concepts.accounts import Accounts
from services.clock import FakeClock

PW = "correct horse battery"
PW2 = "another long passphrase"
WRONG = {"error": "wrong username or password", "errorKind": "unauthorized"}


class CountingHasher(PasswordHasher):
    """A cheap argon2id hasher that counts verifications (to see the dummy verify run)."""

    def __init__(self, **params: int) -> None:
        super().__init__(**{"time_cost": 1, "memory_cost": 8, "parallelism": 1, **params})
        self.verifications = 0

    def verify(self, hash, password):  # type: ignore[no-untyped-def]
        self.verifications += 1
        return super().verify(hash, password)


@pytest.fixture
async def accounts(async_db, clock: FakeClock) -> Accounts:
    c = Accounts(async_db, {"clock": clock})
    c.hasher = CountingHasher()  # the production parameters take ~50 ms per hash
    await c.setup()
    return c


async def registered(c: Accounts, username: str = "ada", password: str = PW) -> str:
    out = await c.register(username=username, password=password)
    assert "error" not in out, out
    return out["user"]


async def logged_in(c: Accounts, username: str = "ada", password: str = PW) -> dict:
    out = await c.login(username=username, password=password)
    assert "error" not in out, out
    return out


def check(c: Accounts, name: str, inputs: dict) -> list[dict]:
    return describe_operations(c)[name].check_inputs(inputs)[1]


def failed_fields(errors: list[dict]) -> set[str]:
    return {e["loc"][-1] for e in errors}


# -- register ---------------------------------------------------------------------------


async def test_register_creates_an_account_with_the_normalised_username(accounts, clock):
    user = await registered(accounts, "  Ada.Lovelace_1-x ")
    assert await accounts._account(user=user) == [
        {"user": user, "username": "ada.lovelace_1-x", "createdAt": clock.now()}
    ]


async def test_register_stores_only_an_argon2id_hash_of_the_password(accounts):
    user = await registered(accounts)
    doc = await accounts.collection("users").find_one({"_id": user})
    assert doc["passwordHash"].startswith("$argon2id$")
    assert PW not in str(doc)


@pytest.mark.parametrize(
    "username",
    ["ab", "   ab   ", "a" * 41, "ada lovelace", "ada@example.com", "ada!", "ädä", "   "],
)
async def test_register_refuses_a_username_outside_the_rule(accounts, username):
    out = await accounts.register(username=username, password=PW)
    assert out["errorKind"] == "invalid"
    assert "3 to 40 characters" in out["error"]
    assert await accounts.collection("users").count_documents({}) == 0


@pytest.mark.parametrize("username", ["abc", "a" * 40, "a.b", "0-9_z"])
async def test_register_accepts_usernames_at_the_edges_of_the_rule(accounts, username):
    await registered(accounts, username)


async def test_register_refuses_a_taken_username_whatever_its_case(accounts):
    await registered(accounts, "ada")
    out = await accounts.register(username=" ADA ", password=PW2)
    assert out == {"error": "that username is taken", "errorKind": "conflict"}
    assert await accounts.collection("users").count_documents({}) == 1


@pytest.mark.parametrize("password", ["x" * 9, "", "x" * 201])
async def test_register_refuses_a_password_of_the_wrong_length(accounts, password):
    out = await accounts.register(username="ada", password=password)
    assert out["errorKind"] == "invalid"
    assert await accounts.collection("users").count_documents({}) == 0


@pytest.mark.parametrize("password", ["x" * 10, "x" * 200])
async def test_register_accepts_passwords_at_the_length_limits(accounts, password):
    await registered(accounts, "ada", password)
    await logged_in(accounts, "ada", password)


def test_register_input_rules_are_enforced_before_the_action(accounts):
    assert check(accounts, "register", {"username": "ada", "password": PW}) == []
    assert failed_fields(check(accounts, "register", {"username": "ada", "password": "x" * 9})) == {
        "password"
    }
    assert failed_fields(
        check(accounts, "register", {"username": "ada", "password": "x" * 201})
    ) == {"password"}
    assert failed_fields(check(accounts, "register", {"username": "a" * 65, "password": PW})) == {
        "username"
    }
    assert failed_fields(check(accounts, "register", {"username": "", "password": PW})) == {
        "username"
    }
    assert failed_fields(check(accounts, "register", {"username": 7, "password": PW})) == {
        "username"
    }
    assert failed_fields(check(accounts, "register", {"username": "ada"})) == {"password"}
    assert failed_fields(
        check(accounts, "register", {"username": "ada", "password": PW, "admin": True})
    ) == {"admin"}


def test_passwords_and_tokens_never_reach_the_action_log(accounts):
    ops = describe_operations(accounts)
    assert ops["register"].secret == {"password"}
    assert ops["login"].secret == {"password", "token"}
    assert ops["logout"].secret == {"token"}
    assert ops["changePassword"].secret == {"currentPassword", "newPassword", "token"}
    assert ops["verifyPassword"].secret == {"password"}


# -- login ------------------------------------------------------------------------------


async def test_login_returns_a_30_day_token_for_the_user(accounts, clock):
    user = await registered(accounts)
    out = await logged_in(accounts, " Ada ")
    assert out["user"] == user
    assert out["expiresAt"] == clock.now() + dt.timedelta(days=30)
    assert len(out["token"]) >= 43  # 32 random bytes, url-safe base64
    assert await accounts._userForToken(token=out["token"]) == [{"user": user}]


async def test_login_stores_only_the_sha256_of_the_token(accounts):
    await registered(accounts)
    token = (await logged_in(accounts))["token"]
    sessions = await accounts.collection("sessions").find().to_list(None)
    assert len(sessions) == 1
    assert token not in str(sessions)
    assert sessions[0]["tokenHash"] == hashlib.sha256(token.encode()).hexdigest()


async def test_each_login_is_a_separate_session(accounts):
    user = await registered(accounts)
    first, second = await logged_in(accounts), await logged_in(accounts)
    assert first["token"] != second["token"]
    assert await accounts._userForToken(token=first["token"]) == [{"user": user}]
    assert await accounts._userForToken(token=second["token"]) == [{"user": user}]


async def test_login_with_a_wrong_password_fails(accounts):
    await registered(accounts)
    assert await accounts.login(username="ada", password=PW2) == WRONG
    assert await accounts.collection("sessions").count_documents({}) == 0


@pytest.mark.parametrize("username", ["bob", "no such user!", "x"])
async def test_login_as_nobody_fails_the_same_way_after_the_same_work(accounts, username):
    await registered(accounts)
    before = accounts.hasher.verifications
    assert await accounts.login(username=username, password=PW) == WRONG
    assert accounts.hasher.verifications == before + 1  # a dummy hash was verified


async def test_five_failures_lock_the_account_for_fifteen_minutes(accounts, clock):
    user = await registered(accounts)
    for _ in range(5):
        assert await accounts.login(username="ada", password=PW2) == WRONG
    locked = await accounts.login(username="ada", password=PW)  # even the right password
    assert locked == {
        "error": "too many failed attempts; try again after 2026-03-01 12:15:00 UTC",
        "errorKind": "rate_limited",
    }
    clock.advance(minutes=14, seconds=59)
    assert (await accounts.login(username="ada", password=PW))["errorKind"] == "rate_limited"
    clock.advance(seconds=1)
    assert (await logged_in(accounts))["user"] == user


async def test_a_lock_expires_into_a_fresh_allowance_of_five(accounts, clock):
    await registered(accounts)
    for _ in range(5):
        await accounts.login(username="ada", password=PW2)
    clock.advance(minutes=15)
    for _ in range(4):
        assert await accounts.login(username="ada", password=PW2) == WRONG
    await logged_in(accounts)


async def test_a_successful_login_resets_the_failure_count(accounts):
    await registered(accounts)
    for _ in range(4):
        await accounts.login(username="ada", password=PW2)
    await logged_in(accounts)
    for _ in range(4):
        assert await accounts.login(username="ada", password=PW2) == WRONG
    await logged_in(accounts)


async def test_failures_of_one_account_do_not_lock_another(accounts):
    await registered(accounts, "ada")
    await registered(accounts, "bob")
    for _ in range(5):
        await accounts.login(username="ada", password=PW2)
    await logged_in(accounts, "bob")


async def test_login_upgrades_a_hash_made_with_older_parameters(accounts):
    user = await registered(accounts)
    accounts.hasher = CountingHasher(time_cost=2)
    await logged_in(accounts)
    doc = await accounts.collection("users").find_one({"_id": user})
    assert "t=2" in doc["passwordHash"]
    await logged_in(accounts)


def test_login_input_rules(accounts):
    assert check(accounts, "login", {"username": "ada", "password": "short"}) == []
    assert failed_fields(check(accounts, "login", {"username": "ada", "password": ""})) == {
        "password"
    }
    assert failed_fields(check(accounts, "login", {"username": "ada", "password": "x" * 201})) == {
        "password"
    }
    assert failed_fields(check(accounts, "login", {"password": PW})) == {"username"}


# -- sessions: _userForToken, logout, logoutEverywhere ----------------------------------


async def test_an_unknown_token_belongs_to_nobody(accounts):
    assert await accounts._userForToken(token="nonsense") == []


async def test_a_token_expires_after_30_days(accounts, clock):
    user = await registered(accounts)
    token = (await logged_in(accounts))["token"]
    clock.advance(days=30, seconds=-1)
    assert await accounts._userForToken(token=token) == [{"user": user}]
    clock.advance(seconds=1)
    assert await accounts._userForToken(token=token) == []


async def test_logout_revokes_only_that_session(accounts):
    user = await registered(accounts)
    first, second = await logged_in(accounts), await logged_in(accounts)
    assert await accounts.logout(token=first["token"]) == {}
    assert await accounts._userForToken(token=first["token"]) == []
    assert await accounts._userForToken(token=second["token"]) == [{"user": user}]


async def test_logout_of_an_unknown_session_fails(accounts):
    await registered(accounts)
    token = (await logged_in(accounts))["token"]
    await accounts.logout(token=token)
    assert await accounts.logout(token=token) == {
        "error": "no such session",
        "errorKind": "not_found",
    }


def test_logout_input_rules(accounts):
    assert failed_fields(check(accounts, "logout", {"token": ""})) == {"token"}
    assert failed_fields(check(accounts, "logout", {})) == {"token"}


async def test_logout_everywhere_revokes_every_session_of_the_user_only(accounts):
    ada = await registered(accounts, "ada")
    bob = await registered(accounts, "bob")
    ada_tokens = [(await logged_in(accounts, "ada"))["token"] for _ in range(3)]
    bob_token = (await logged_in(accounts, "bob"))["token"]
    assert await accounts.logoutEverywhere(user=ada) == {}
    for token in ada_tokens:
        assert await accounts._userForToken(token=token) == []
    assert await accounts._userForToken(token=bob_token) == [{"user": bob}]


# -- changePassword ---------------------------------------------------------------------


async def test_change_password_replaces_it_and_starts_a_fresh_session(accounts, clock):
    user = await registered(accounts)
    old = (await logged_in(accounts))["token"]
    out = await accounts.changePassword(user=user, currentPassword=PW, newPassword=PW2)
    assert set(out) == {"token", "expiresAt"}
    assert out["expiresAt"] == clock.now() + dt.timedelta(days=30)
    assert await accounts._userForToken(token=old) == []
    assert await accounts._userForToken(token=out["token"]) == [{"user": user}]
    assert await accounts.login(username="ada", password=PW) == WRONG
    await logged_in(accounts, "ada", PW2)


async def test_change_password_with_a_wrong_current_password_changes_nothing(accounts):
    user = await registered(accounts)
    token = (await logged_in(accounts))["token"]
    out = await accounts.changePassword(user=user, currentPassword=PW2, newPassword=PW2)
    assert out == WRONG
    assert await accounts._userForToken(token=token) == [{"user": user}]
    await logged_in(accounts)


async def test_change_password_refuses_a_short_new_password(accounts):
    user = await registered(accounts)
    out = await accounts.changePassword(user=user, currentPassword=PW, newPassword="x" * 9)
    assert out["errorKind"] == "invalid"
    await logged_in(accounts)


async def test_change_password_of_an_unknown_account_fails(accounts):
    out = await accounts.changePassword(user="nobody", currentPassword=PW, newPassword=PW2)
    assert out == {"error": "no such account", "errorKind": "not_found"}


async def test_wrong_current_passwords_count_toward_the_lockout(accounts):
    user = await registered(accounts)
    for _ in range(5):
        await accounts.changePassword(user=user, currentPassword=PW2, newPassword=PW2)
    out = await accounts.changePassword(user=user, currentPassword=PW, newPassword=PW2)
    assert out["errorKind"] == "rate_limited"
    assert (await accounts.login(username="ada", password=PW))["errorKind"] == "rate_limited"


def test_change_password_input_rules(accounts):
    ok = {"user": "u", "currentPassword": PW, "newPassword": PW2}
    assert check(accounts, "changePassword", ok) == []
    assert failed_fields(check(accounts, "changePassword", {**ok, "newPassword": "x" * 9})) == {
        "newPassword"
    }
    assert failed_fields(check(accounts, "changePassword", {**ok, "newPassword": "x" * 201})) == {
        "newPassword"
    }
    assert failed_fields(check(accounts, "changePassword", {**ok, "currentPassword": ""})) == {
        "currentPassword"
    }


# -- verifyPassword ---------------------------------------------------------------------


async def test_verify_password_accepts_the_right_password(accounts):
    user = await registered(accounts)
    assert await accounts.verifyPassword(user=user, password=PW) == {}


async def test_verify_password_refuses_a_wrong_password(accounts):
    user = await registered(accounts)
    assert await accounts.verifyPassword(user=user, password=PW2) == WRONG


async def test_verify_password_of_an_unknown_account_fails(accounts):
    out = await accounts.verifyPassword(user="nobody", password=PW)
    assert out == {"error": "no such account", "errorKind": "not_found"}


async def test_verify_password_failures_count_toward_the_lockout(accounts):
    user = await registered(accounts)
    for _ in range(5):
        await accounts.verifyPassword(user=user, password=PW2)
    assert (await accounts.verifyPassword(user=user, password=PW))["errorKind"] == "rate_limited"


def test_verify_password_input_rules(accounts):
    assert failed_fields(check(accounts, "verifyPassword", {"user": "u", "password": ""})) == {
        "password"
    }


# -- deleteAccount ----------------------------------------------------------------------


async def test_delete_account_removes_it_and_all_its_sessions(accounts):
    user = await registered(accounts)
    tokens = [(await logged_in(accounts))["token"] for _ in range(2)]
    bob = await registered(accounts, "bob")
    assert await accounts.deleteAccount(user=user) == {}
    assert await accounts._account(user=user) == []
    for token in tokens:
        assert await accounts._userForToken(token=token) == []
    assert await accounts.login(username="ada", password=PW) == WRONG
    assert await accounts.collection("sessions").count_documents({"user": user}) == 0
    assert (await accounts._account(user=bob))[0]["username"] == "bob"


async def test_a_deleted_username_can_be_registered_again(accounts):
    old = await registered(accounts)
    await accounts.deleteAccount(user=old)
    new = await registered(accounts, "ada", PW2)
    assert new != old


async def test_delete_of_an_unknown_account_fails(accounts):
    assert await accounts.deleteAccount(user="nobody") == {
        "error": "no such account",
        "errorKind": "not_found",
    }


# -- _account ---------------------------------------------------------------------------


async def test_account_of_nobody_is_empty(accounts):
    assert await accounts._account(user="nobody") == []


def test_the_production_hasher_is_argon2id_at_owasp_parameters():
    h = Accounts.hasher
    assert (h.type.name, h.time_cost, h.memory_cost, h.parallelism) == ("ID", 2, 19456, 1)
