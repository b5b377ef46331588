"""Accounts, rule by rule, as in docs/concepts/Accounts.md."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from typing import Any

import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from conceptkit import describe_operations
from concepts.accounts import Accounts
from concepts.accounts.throttle import Backoff
from services.app.clock import FakeClock
from services.telephony.mock import MockTelephony
from tests.concepts.loop_harness import Harness

PW = "correct horse battery"
PW2 = "another long passphrase"
WRONG = {"error": "wrong username or password", "errorKind": "unauthorized"}
C1, C2, C3 = "203.0.113.7", "198.51.100.20", "192.0.2.33"


def real_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def clock() -> FakeClock:
    """Starts at the real time: the throttle's TTL index is applied by the database's own
    clock, which would delete at once entries that expire before it (a fake clock's past)."""
    return FakeClock(real_now())


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
    c = Accounts(async_db, {"clock": clock, "telephony": MockTelephony()})
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
    assert ops["login"].private == {"client"}  # the caller's address is stored sealed


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
    assert check(accounts, "login", {"username": "ada", "password": PW, "client": C1}) == []
    assert failed_fields(
        check(accounts, "login", {"username": "ada", "password": PW, "client": ""})
    ) == {"client"}


# -- login throttling: per client and per username, a backoff, never a lock --------------


async def attempt(c: Accounts, client: str, username: str = "ada", password: str = PW2) -> dict:
    return await c.login(username=username, password=password, client=client)


def throttled(out: dict) -> int:
    """The seconds a rate_limited refusal says to wait (asserting it is one)."""
    assert out["errorKind"] == "rate_limited", out
    assert set(out) == {"error", "errorKind", "retryAfter"}, out
    assert isinstance(out["retryAfter"], int) and out["retryAfter"] >= 1
    assert "UTC" not in out["error"]
    return out["retryAfter"]


async def test_three_failures_cost_nothing_then_the_client_waits_1_2_4_8_seconds(accounts, clock):
    await registered(accounts)
    for _ in range(4):
        assert await attempt(accounts, C1) == WRONG
    waits = []
    for _ in range(4):
        waits.append(throttled(await attempt(accounts, C1, password=PW)))  # even the right one
        clock.advance(seconds=waits[-1])
        assert await attempt(accounts, C1) == WRONG
    assert waits == [1, 2, 4, 8]
    assert throttled(await attempt(accounts, C1)) == 16
    clock.advance(seconds=15)
    assert throttled(await attempt(accounts, C1)) == 1  # the rest of the wait, rounded up


async def test_the_refusal_says_the_wait_in_words(accounts, clock):
    accounts.backoff = Backoff(free=0, first_s=120)
    await registered(accounts)
    await attempt(accounts, C1)
    out = await attempt(accounts, C1)
    assert out == {
        "error": "too many failed attempts; try again in 2 minutes",
        "errorKind": "rate_limited",
        "retryAfter": 120,
    }
    clock.advance(seconds=119)
    assert (await attempt(accounts, C1))["error"].endswith("try again in 1 second")


async def test_the_backoff_stops_doubling_at_15_minutes(accounts, clock):
    for _ in range(20):
        out = await attempt(accounts, C1)
        if out["errorKind"] == "rate_limited":
            clock.advance(seconds=out["retryAfter"])
            out = await attempt(accounts, C1)
        assert out == WRONG
    assert throttled(await attempt(accounts, C1)) == 15 * 60


async def test_a_refused_attempt_is_not_counted(accounts, clock):
    for _ in range(4):
        await attempt(accounts, C1)
    for _ in range(10):
        assert throttled(await attempt(accounts, C1)) == 1
    clock.advance(seconds=1)
    assert await attempt(accounts, C1) == WRONG
    assert throttled(await attempt(accounts, C1)) == 2  # the 5th failure, not the 15th


async def test_a_correct_password_from_a_client_without_failures_always_logs_in(accounts, clock):
    user = await registered(accounts)
    for _ in range(30):  # someone hammers ada's account from C1, waiting out every backoff
        out = await attempt(accounts, C1)
        if out["errorKind"] == "rate_limited":
            clock.advance(seconds=out["retryAfter"])
    assert (await attempt(accounts, C2, password=PW))["user"] == user
    assert (await attempt(accounts, C2, password=PW))["user"] == user


async def test_a_client_with_failures_is_slowed_on_every_account(accounts):
    for name in ("ada", "bob", "cyd", "dee", "eve"):
        await registered(accounts, name)
    for name in ("ada", "bob", "cyd", "dee"):  # spraying: one guess per account
        assert await attempt(accounts, C1, name) == WRONG
    assert throttled(await attempt(accounts, C1, "eve", PW)) == 1
    await logged_in(accounts, "eve")  # eve herself, from elsewhere, is not slowed


async def test_a_client_with_failures_also_waits_out_the_usernames_backoff(accounts, clock):
    user = await registered(accounts)
    many = [f"10.0.0.{i}" for i in range(6)]
    for client in many:  # a guess each from many clients: the username counts them all
        assert await attempt(accounts, client) == WRONG
    assert throttled(await attempt(accounts, many[0], password=PW)) == 4  # 6 failures
    assert (await attempt(accounts, C2, password=PW))["user"] == user  # a clean client
    clock.advance(seconds=4)
    assert (await attempt(accounts, many[0], password=PW))["user"] == user


async def test_a_right_password_neither_counts_nor_clears_the_clients_failures(accounts, clock):
    await registered(accounts, "ada")
    await registered(accounts, "mallory")
    for _ in range(3):
        await attempt(accounts, C1)
    await attempt(accounts, C1, "mallory", PW)  # logging in to one's own account washes nothing
    assert await accounts._by_client.failures("client:" + C1, clock.now()) == 3
    assert await attempt(accounts, C1) == WRONG
    assert throttled(await attempt(accounts, C1, "mallory", PW)) == 1


async def test_failures_are_forgotten_24_hours_after_the_last(accounts, clock):
    await registered(accounts)
    for hour in range(4):
        clock.advance(hours=min(hour, 1))
        await attempt(accounts, C1)
    clock.advance(hours=24, seconds=-1)  # 24 h after the last failure, less a second
    assert await accounts._by_client.failures("client:" + C1, clock.now()) == 4
    assert await accounts._by_name.failures("name:ada", clock.now()) == 4
    clock.advance(seconds=1)
    assert await accounts._by_client.failures("client:" + C1, clock.now()) == 0
    assert await accounts._by_name.failures("name:ada", clock.now()) == 0
    for _ in range(4):  # a fresh allowance
        assert await attempt(accounts, C1) == WRONG


async def test_forgotten_entries_are_pruned(accounts, clock):
    for i in range(5):
        await attempt(accounts, f"10.1.0.{i}", f"name{i}")
    clock.advance(hours=25)
    await attempt(accounts, C1)
    assert await accounts.collection("failuresByClient").count_documents({}) == 1
    assert await accounts.collection("failuresByName").count_documents({}) == 1
    indexes = await accounts.collection("failuresByName").index_information()
    assert any(i.get("expireAfterSeconds") == 0 for i in indexes.values())


async def test_unknown_usernames_are_refused_exactly_like_known_ones(accounts, clock):
    await registered(accounts)
    replies: dict[str, list[dict]] = {}
    for name, client, clean in (("ada", C1, "10.4.0.1"), ("nobody", C2, "10.4.0.2")):
        replies[name] = [await attempt(accounts, client, name) for _ in range(6)]
        replies[name] += [await attempt(accounts, clean, name)]
    assert replies["ada"] == replies["nobody"]
    assert [r["errorKind"] for r in replies["ada"]] == ["unauthorized"] * 4 + [
        "rate_limited"
    ] * 2 + ["unauthorized"]


async def test_an_ipv6_client_is_throttled_by_its_64_prefix(accounts):
    for i in range(4):
        await attempt(accounts, f"2001:db8:1:2::{i + 1}")
    assert throttled(await attempt(accounts, "2001:db8:1:2:ffff::9")) == 1
    assert await attempt(accounts, "2001:db8:1:3::1") == WRONG  # another /64


async def test_throttle_entries_hold_no_address_or_username(accounts):
    await attempt(accounts, C1, "ada.lovelace")
    stored = str(await accounts.collection("failuresByClient").find().to_list(None))
    stored += str(await accounts.collection("failuresByName").find().to_list(None))
    assert C1 not in stored and "ada.lovelace" not in stored


async def test_concurrent_wrong_guesses_from_one_client_get_no_more_than_their_turn(accounts):
    await registered(accounts)
    outs = await asyncio.gather(*(attempt(accounts, C1) for _ in range(20)))
    wrong = [o for o in outs if o == WRONG]
    assert 1 <= len(wrong) <= 4  # at most the free three and one more; the rest wait
    for o in outs:
        if o != WRONG:
            throttled(o)
    assert accounts.hasher.verifications == len(wrong)  # refused guesses were never checked
    assert await accounts._by_client.failures("client:" + C1, accounts._now()) == len(wrong)


async def test_concurrent_failures_on_one_username_are_all_counted(accounts):
    await registered(accounts)
    outs = await asyncio.gather(*(attempt(accounts, f"10.2.0.{i}") for i in range(12)))
    assert outs == [WRONG] * 12
    assert await accounts._by_name.failures("name:ada", accounts._now()) == 12


async def test_a_clients_concurrent_right_passwords_all_log_in(accounts):
    user = await registered(accounts)
    outs = await asyncio.gather(*(attempt(accounts, C1, password=PW) for _ in range(3)))
    assert [o.get("user") for o in outs] == [user] * 3
    assert await accounts.collection("failuresByClient").count_documents({}) == 0


async def test_setup_drops_the_old_lock_fields(accounts):
    user = await registered(accounts)
    await accounts.collection("users").update_one(
        {"_id": user}, {"$set": {"failedLogins": 3, "lockedUntil": None}}
    )
    await accounts.setup()
    doc = await accounts.collection("users").find_one({"_id": user})
    assert "failedLogins" not in doc and "lockedUntil" not in doc


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


async def test_wrong_current_passwords_slow_that_session_only(accounts, clock):
    user = await registered(accounts)
    for _ in range(4):
        out = await accounts.changePassword(user=user, currentPassword=PW2, newPassword=PW2)
        assert out == WRONG
    assert (
        throttled(await accounts.changePassword(user=user, currentPassword=PW, newPassword=PW2))
        == 1
    )
    assert throttled(await accounts.verifyPassword(user=user, password=PW)) == 1
    await logged_in(accounts)  # logging in is not slowed by it
    clock.advance(seconds=1)
    assert "token" in await accounts.changePassword(user=user, currentPassword=PW, newPassword=PW2)


async def test_wrong_logins_by_others_never_slow_the_owners_password_change(accounts, clock):
    user = await registered(accounts)
    for client in [C1] * 4 + [f"10.3.0.{i}" for i in range(10)]:
        await attempt(accounts, client)
    assert await accounts.verifyPassword(user=user, password=PW) == {}
    assert "token" in await accounts.changePassword(user=user, currentPassword=PW, newPassword=PW2)


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


# -- the throttle as a state machine: many clients, known and unknown usernames ----------

MACHINE_CLIENTS = (C1, C2, C3, "2001:db8::1")
MACHINE_NAMES = ("ada", "bob", "zed")  # zed has no account
MACHINE_WAITS = (0, 1, 2, 5, 60, 900, 6 * 3600, 24 * 3600)


class Counter:
    """The model of one key: failures, and when the last one was."""

    def __init__(self) -> None:
        self.failures, self.last = 0, None

    def live(self, now: dt.datetime, backoff: Backoff) -> int:
        if self.last is not None and now >= self.last + backoff.forget:
            self.failures, self.last = 0, None
        return self.failures

    def waits_until(self, now: dt.datetime, backoff: Backoff) -> dt.datetime | None:
        if not self.live(now, backoff):
            return None
        until = self.last + backoff.wait_after(self.failures)
        return until if until > now else None

    def fail(self, now: dt.datetime, backoff: Backoff) -> None:
        self.live(now, backoff)  # a failure after the forget window starts the count over
        self.failures, self.last = self.failures + 1, now


class LoginThrottleMachine(RuleBasedStateMachine):
    """Logins from several clients on known and unknown usernames, right and wrong
    passwords, time passing: every reply is exactly what the model says, and the model
    gives no role to whether the username has an account."""

    harness: Harness

    def __init__(self) -> None:
        super().__init__()
        self.db_name = f"machine_{uuid.uuid4().hex[:12]}"
        self.clock = FakeClock(real_now())
        services = {"clock": self.clock, "telephony": MockTelephony()}
        self.c = Accounts(self.harness.client[self.db_name], services)
        self.c.hasher = CountingHasher()
        self.run(self.c.setup())
        self.users = {name: self.run(registered(self.c, name)) for name in MACHINE_NAMES[:2]}
        self.clients = {client: Counter() for client in MACHINE_CLIENTS}
        self.names = {name: Counter() for name in MACHINE_NAMES}

    def run(self, coro: Any) -> Any:
        return self.harness.run(coro)

    def teardown(self) -> None:
        self.run(self.harness.client.drop_database(self.db_name))

    @rule(
        client=st.sampled_from(MACHINE_CLIENTS),
        name=st.sampled_from(MACHINE_NAMES),
        right=st.booleans(),
    )
    def login(self, client: str, name: str, right: bool) -> None:
        now, backoff = self.clock.now(), self.c.backoff
        by_client, by_name = self.clients[client], self.names[name]
        clean = by_client.live(now, backoff) == 0
        out = self.run(attempt(self.c, client, name, PW if right else PW2))

        until = by_client.waits_until(now, backoff)
        if until is None and not clean:
            until = by_name.waits_until(now, backoff)
        if until is not None:
            assert throttled(out) == max(1, -(-(until - now) // dt.timedelta(seconds=1)))
        elif right and name in self.users:
            assert out["user"] == self.users[name], out
        else:
            assert out == WRONG  # the same for a name without an account
            by_client.fail(now, backoff)
            by_name.fail(now, backoff)
        if clean and right and name in self.users:
            assert "token" in out, out  # never refused from a client without failures

    @rule(seconds=st.sampled_from(MACHINE_WAITS))
    def wait(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    @rule()
    def a_client_failing_on_many_accounts_is_slowed(self) -> None:
        now, backoff = self.clock.now(), self.c.backoff
        for client, model in self.clients.items():
            if model.live(now, backoff) > backoff.free and model.waits_until(now, backoff):
                for name in MACHINE_NAMES:
                    throttled(self.run(attempt(self.c, client, name, PW)))


def test_login_throttle_state_machine(harness: Harness) -> None:
    LoginThrottleMachine.harness = harness
    run_state_machine_as_test(
        LoginThrottleMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
