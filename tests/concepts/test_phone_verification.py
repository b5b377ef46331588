"""PhoneVerification, rule by rule, as in docs/concepts/PhoneVerification.md."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import pytest

from conceptkit import describe_operations
from concepts.phone_verification import PhoneVerification
from services.app.clock import FakeClock
from services.encryption.keys import Encryptor
from services.telephony import AmbiguousDialError, TelephonyError
from services.telephony.mock import MockTelephony
from tests.concepts.rivalled import RivalledDatabase

NUMBER = "+14155552671"
OTHER = "+442079460958"


class BrokenTelephony:
    """A provider whose every SMS fails."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.attempts = 0

    async def send_sms(self, *, to: str, body: str, user: str | None = None) -> str:
        self.attempts += 1
        raise self.error


@pytest.fixture
async def pv(
    async_db, clock: FakeClock, mock_telephony: MockTelephony, encryptor: Encryptor
) -> PhoneVerification:
    c = PhoneVerification(
        async_db, {"clock": clock, "telephony": mock_telephony, "encryption": encryptor}
    )
    await c.setup()
    return c


def last_code(telephony: MockTelephony) -> str:
    match = re.fullmatch(r"Your reflection code is (\d{6})", telephony.messages[-1].body)
    assert match, telephony.messages[-1].body
    return match.group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def started(pv: PhoneVerification, user: str = "u1", number: str = NUMBER) -> str:
    out = await pv.start(user=user, phoneNumber=number)
    assert "error" not in out, out
    return pv.services["telephony"].messages[-1].body[-6:]


def check(c: PhoneVerification, name: str, inputs: dict) -> list[dict]:
    return describe_operations(c)[name].check_inputs(inputs)[1]


# -- start ------------------------------------------------------------------------------


async def test_start_texts_a_six_digit_code_to_the_normalised_number(pv, mock_telephony):
    out = await pv.start(user="u1", phoneNumber="+1 (415) 555-2671")
    assert out == {"phoneNumber": NUMBER}
    assert len(mock_telephony.messages) == 1
    assert mock_telephony.messages[0].to == NUMBER
    assert re.fullmatch(r"Your reflection code is \d{6}", mock_telephony.messages[0].body)


async def test_start_stores_only_a_salted_hash_of_the_code(pv, mock_telephony, clock):
    code = await started(pv)
    doc = await pv.collection("pending").find_one({"user": "u1"})
    assert code not in str(doc)
    assert NUMBER[2:] not in str(doc)  # the number only encrypted, for its user
    assert pv._opened("u1", doc["phoneNumber"]) == NUMBER
    assert doc["expiresAt"] == clock.now() + dt.timedelta(minutes=10)
    assert doc["attempts"] == 0
    assert len(doc["salt"]) == 32  # 16 random bytes, hex
    assert len(doc["codeHash"]) == 64  # HMAC-SHA256, hex


@pytest.mark.parametrize("number", ["+1", "+0123456789", "abc", "", "4155552671", "+1415555267"])
async def test_start_refuses_an_invalid_number_and_sends_nothing(pv, mock_telephony, number):
    out = await pv.start(user="u1", phoneNumber=number)
    assert out["errorKind"] == "invalid"
    assert mock_telephony.messages == []
    assert await pv.collection("pending").count_documents({}) == 0


def test_start_input_rules(pv):
    assert check(pv, "start", {"user": "u1", "phoneNumber": NUMBER}) == []
    assert [e["loc"] for e in check(pv, "start", {"user": "u1", "phoneNumber": "1" * 65})] == [
        ["body", "phoneNumber"]
    ]
    assert [e["loc"] for e in check(pv, "start", {"user": "u1", "phoneNumber": ""})] == [
        ["body", "phoneNumber"]
    ]
    assert [e["loc"] for e in check(pv, "start", {"user": "u1"})] == [["body", "phoneNumber"]]


async def test_start_again_within_30_seconds_is_refused(pv, mock_telephony, clock):
    await started(pv)
    clock.advance(seconds=10)
    out = await pv.start(user="u1", phoneNumber=NUMBER)
    assert out == {
        "error": "a code was just sent to you; wait 20 seconds before asking for another",
        "errorKind": "rate_limited",
        "retryAfter": 20,
    }
    assert len(mock_telephony.messages) == 1
    clock.advance(seconds=20)
    await started(pv)
    assert len(mock_telephony.messages) == 2


async def test_at_most_five_codes_an_hour_per_user(pv, mock_telephony, clock):
    numbers = [NUMBER, OTHER, "+33612345678", "+4915123456789", "+61412345678", "+12015550123"]
    for number in numbers[:5]:
        await started(pv, "u1", number)
        clock.advance(minutes=1)
    out = await pv.start(user="u1", phoneNumber=numbers[5])
    assert out == {  # five sent 12:00-12:04, now 12:05: the wait is data, not a UTC time
        "error": "too many codes sent to you this hour; try again in 55 minutes",
        "errorKind": "rate_limited",
        "retryAfter": 55 * 60,
    }
    clock.set(dt.datetime(2026, 3, 1, 13, 0, 1, tzinfo=dt.UTC))
    await started(pv, "u1", numbers[5])
    assert len(mock_telephony.messages) == 6


async def test_one_number_is_not_texted_twice_within_30_seconds_by_different_users(
    pv, mock_telephony
):
    await started(pv, "u1", NUMBER)
    out = await pv.start(user="u2", phoneNumber="+1 415 555 2671")
    assert out["errorKind"] == "rate_limited"
    assert "to that number" in out["error"]
    assert len(mock_telephony.messages) == 1
    await started(pv, "u2", OTHER)  # u2's own allowance was given back


@pytest.mark.parametrize(
    "error",
    [
        TelephonyError("provider down", code=30001),
        AmbiguousDialError(
            "timed out", to=NUMBER, attempted_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        ),
        RuntimeError("bug in the adapter"),
    ],
)
async def test_start_fails_unavailable_if_the_sms_cannot_be_sent(pv, mock_telephony, error):
    broken = BrokenTelephony(error)
    pv.services["telephony"] = broken
    out = await pv.start(user="u1", phoneNumber=NUMBER)
    assert out == {
        "error": "the text message could not be sent; try again later",
        "errorKind": "unavailable",
    }
    assert broken.attempts == 1
    assert await pv.collection("pending").count_documents({}) == 0
    assert await pv._pendingNumber(user="u1") == []
    # nothing was spent: a retry straight away is not throttled
    pv.services["telephony"] = mock_telephony
    await started(pv)


async def test_a_failed_send_keeps_an_earlier_pending_code(pv, mock_telephony, clock):
    code = await started(pv)
    clock.advance(minutes=1)
    pv.services["telephony"] = BrokenTelephony(TelephonyError("down"))
    assert (await pv.start(user="u1", phoneNumber=OTHER))["errorKind"] == "unavailable"
    assert await pv.confirm(user="u1", code=code) == {"phoneNumber": NUMBER}


# -- confirm ----------------------------------------------------------------------------


async def test_confirm_with_the_texted_code_verifies_the_number(pv):
    code = await started(pv)
    assert await pv._isVerified(user="u1", phoneNumber=NUMBER) == [{"verified": False}]
    assert await pv.confirm(user="u1", code=code) == {"phoneNumber": NUMBER}
    assert await pv._isVerified(user="u1", phoneNumber=NUMBER) == [{"verified": True}]
    assert await pv._verifiedNumbers(user="u1") == [{"phoneNumber": NUMBER}]


async def test_a_code_works_once(pv):
    code = await started(pv)
    await pv.confirm(user="u1", code=code)
    assert (await pv.confirm(user="u1", code=code))["errorKind"] == "not_found"


async def test_confirm_accepts_the_code_with_spaces(pv):
    code = await started(pv)
    assert await pv.confirm(user="u1", code=f" {code[:3]} {code[3:]} ") == {"phoneNumber": NUMBER}


async def test_confirm_with_a_wrong_code_fails_and_counts(pv):
    code = await started(pv)
    out = await pv.confirm(user="u1", code=wrong(code))
    assert out == {"error": "wrong code; 4 tries left", "errorKind": "invalid"}
    assert await pv._isVerified(user="u1", phoneNumber=NUMBER) == [{"verified": False}]
    assert (await pv.collection("pending").find_one({"user": "u1"}))["attempts"] == 1
    assert await pv.confirm(user="u1", code=code) == {"phoneNumber": NUMBER}


async def test_after_five_wrong_codes_the_code_is_dead(pv, clock):
    code = await started(pv)
    messages = [(await pv.confirm(user="u1", code=wrong(code)))["error"] for _ in range(5)]
    assert messages[-2:] == [
        "wrong code; 1 try left",
        "wrong code, and that was the last try; ask for a new one",
    ]
    assert await pv.confirm(user="u1", code=code) == {
        "error": "too many wrong codes for this one; ask for a new one",
        "errorKind": "invalid",
    }
    assert await pv._pendingNumber(user="u1") == []
    clock.advance(seconds=30)
    fresh = await started(pv)
    assert await pv.confirm(user="u1", code=fresh) == {"phoneNumber": NUMBER}


async def test_concurrent_guesses_cannot_exceed_five_tries(pv):
    code = await started(pv)
    guesses = [f"{n:06d}" for n in range(20) if f"{n:06d}" != code]
    results = await asyncio.gather(*(pv.confirm(user="u1", code=g) for g in guesses))
    errors = [r["error"] for r in results]
    assert sum(e.startswith("wrong code") for e in errors) == 5
    assert errors.count("too many wrong codes for this one; ask for a new one") == len(guesses) - 5
    assert (await pv.collection("pending").find_one({"user": "u1"}))["attempts"] == 5


async def test_concurrent_starts_send_one_code(pv, mock_telephony):
    results = await asyncio.gather(*(pv.start(user="u1", phoneNumber=NUMBER) for _ in range(5)))
    assert sum("error" not in r for r in results) == 1
    assert {r.get("errorKind") for r in results} == {None, "rate_limited"}
    assert len(mock_telephony.messages) == 1


async def test_an_expired_code_fails(pv, clock):
    code = await started(pv)
    clock.advance(minutes=10)
    assert await pv.confirm(user="u1", code=code) == {
        "error": "that code has expired; ask for a new one",
        "errorKind": "invalid",
    }
    assert await pv._isVerified(user="u1", phoneNumber=NUMBER) == [{"verified": False}]


async def test_a_code_still_works_just_before_it_expires(pv, clock):
    code = await started(pv)
    clock.advance(minutes=9, seconds=59)
    assert await pv.confirm(user="u1", code=code) == {"phoneNumber": NUMBER}


async def test_confirm_without_a_pending_code_fails(pv):
    assert await pv.confirm(user="u1", code="123456") == {
        "error": "no code is waiting to be confirmed; ask for a new one",
        "errorKind": "not_found",
    }


async def test_a_code_belongs_to_the_user_who_asked_for_it(pv):
    code = await started(pv, "u1")
    assert (await pv.confirm(user="u2", code=code))["errorKind"] == "not_found"
    assert await pv._isVerified(user="u2", phoneNumber=NUMBER) == [{"verified": False}]


async def test_starting_again_replaces_the_pending_code(pv, clock):
    old = await started(pv, "u1", NUMBER)
    clock.advance(seconds=30)
    new = await started(pv, "u1", OTHER)
    if old != new:
        assert (await pv.confirm(user="u1", code=old))["errorKind"] == "invalid"
    assert await pv.confirm(user="u1", code=new) == {"phoneNumber": OTHER}
    assert await pv._isVerified(user="u1", phoneNumber=NUMBER) == [{"verified": False}]


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "12 34 56", "١٢٣٤٥٦"])
async def test_a_malformed_code_fails_without_using_a_try(pv, code):
    await started(pv)
    assert (await pv.confirm(user="u1", code=code))["errorKind"] == "invalid"
    assert (await pv.collection("pending").find_one({"user": "u1"}))["attempts"] == 0


def test_confirm_input_rules(pv):
    assert check(pv, "confirm", {"user": "u1", "code": "123456"}) == []
    assert check(pv, "confirm", {"user": "u1", "code": " 123 456 "}) == []
    for bad in ["12345", "abcdef", "1234567", "١٢٣٤٥٦", ""]:
        assert [e["loc"] for e in check(pv, "confirm", {"user": "u1", "code": bad})] == [
            ["body", "code"]
        ], bad
    assert [e["loc"] for e in check(pv, "confirm", {"user": "u1", "code": 123456})] == [
        ["body", "code"]
    ]


async def test_a_user_keeps_every_number_verified_over_time(pv, clock):
    for number in [NUMBER, OTHER, NUMBER]:
        code = await started(pv, "u1", number)
        await pv.confirm(user="u1", code=code)
        clock.advance(minutes=1)
    assert await pv._verifiedNumbers(user="u1") == [{"phoneNumber": NUMBER}, {"phoneNumber": OTHER}]
    doc = await pv.collection("verified").find_one({"user": "u1"})
    assert [pv._opened("u1", e["number"]) for e in doc["numbers"]] == [NUMBER, OTHER]
    assert NUMBER[2:] not in str(doc) and OTHER[2:] not in str(doc)


async def test_numbers_verified_at_once_are_all_kept_as_serial_adds_would(pv):
    """The verified set is one document per user, changed whole: four numbers added at
    once (a fifth twice) all land in it, once each, as serial adds would leave them."""
    numbers = ["+14155552671", "+442079460958", "+33142685300", "+4930901820"]
    await asyncio.gather(*(pv._add_verified("u1", n) for n in [*numbers, numbers[0]]))
    verified = await pv._verifiedNumbers(user="u1")
    assert sorted(row["phoneNumber"] for row in verified) == sorted(numbers)
    (doc,) = await pv.collection("verified").find({"user": "u1"}).to_list(None)
    assert doc["version"] == 3  # created with one number, then one write per other number


async def test_a_confirm_that_keeps_losing_races_is_busy_and_the_code_stands(
    async_db, pv, clock, mock_telephony, encryptor
):
    await pv.confirm(user="u1", code=await started(pv, "u1", NUMBER))
    clock.advance(minutes=1)
    code = await started(pv, "u1", OTHER)
    services = {"clock": clock, "telephony": mock_telephony, "encryption": encryptor}
    losing = PhoneVerification(RivalledDatabase(async_db, "PhoneVerification_verified"), services)
    assert await losing.confirm(user="u1", code=code) == {
        "error": "your verified numbers are changing too often; try the code again",
        "errorKind": "unavailable",
    }
    assert await pv._verifiedNumbers(user="u1") == [{"phoneNumber": NUMBER}]
    assert [row["phoneNumber"] for row in await pv._pendingNumber(user="u1")] == [OTHER]
    assert await pv.confirm(user="u1", code=code) == {"phoneNumber": OTHER}
    assert await pv._verifiedNumbers(user="u1") == [{"phoneNumber": NUMBER}, {"phoneNumber": OTHER}]


# -- private at rest ----------------------------------------------------------------------


async def test_the_send_history_of_a_number_is_kept_under_its_keyed_hash(pv, encryptor):
    await started(pv)
    ids = [d["_id"] async for d in pv.collection("throttle").find({})]
    key = encryptor.lookup_key(NUMBER, purpose="phone")
    assert sorted(ids) == sorted(["user:u1", f"number:{key}"])
    assert all(NUMBER[2:] not in i for i in ids)


async def test_lookups_survive_a_new_primary_key(async_db, clock, mock_telephony):
    """Verified under the old key, still verified (and still throttled) under a new
    primary key while the old one is configured: lookups try every key."""
    old = Encryptor([("old", bytes(32))])
    both = Encryptor([("new", bytes(range(32))), ("old", bytes(32))])
    services = {"clock": clock, "telephony": mock_telephony, "encryption": old}
    before = PhoneVerification(async_db, services)
    await before.setup()
    code = await started(before)
    await before.confirm(user="u1", code=code)
    after = PhoneVerification(async_db, {**services, "encryption": both})
    assert await after._isVerified(user="u1", phoneNumber=NUMBER) == [{"verified": True}]
    clock.advance(seconds=5)  # within the resend interval of the number (and the user)
    out = await after.start(user="u2", phoneNumber=NUMBER)
    assert out["errorKind"] == "rate_limited" and "to that number" in out["error"]
    # verifying again adds no second entry for the same number
    clock.advance(seconds=60)
    code = await started(after)
    await after.confirm(user="u1", code=code)
    doc = await after.collection("verified").find_one({"user": "u1"})
    assert len(doc["numbers"]) == 1


def test_numbers_are_sealed_in_the_action_log(pv):
    ops = describe_operations(pv)
    assert "phoneNumber" in ops["start"].private and "phoneNumber" in ops["confirm"].private


# -- queries ----------------------------------------------------------------------------


async def test_is_verified_always_answers_exactly_one_row(pv):
    code = await started(pv)
    await pv.confirm(user="u1", code=code)
    assert await pv._isVerified(user="u1", phoneNumber="+1 415-555-2671") == [{"verified": True}]
    assert await pv._isVerified(user="u1", phoneNumber=OTHER) == [{"verified": False}]
    assert await pv._isVerified(user="u1", phoneNumber="not a number") == [{"verified": False}]
    assert await pv._isVerified(user="u2", phoneNumber=NUMBER) == [{"verified": False}]


async def test_verified_numbers_of_nobody_is_empty(pv):
    assert await pv._verifiedNumbers(user="nobody") == []


async def test_pending_number_shows_a_live_code_only(pv, clock):
    assert await pv._pendingNumber(user="u1") == []
    await started(pv)
    assert await pv._pendingNumber(user="u1") == [
        {"phoneNumber": NUMBER, "expiresAt": clock.now() + dt.timedelta(minutes=10)}
    ]
    clock.advance(minutes=10)
    assert await pv._pendingNumber(user="u1") == []


# -- forget -----------------------------------------------------------------------------


async def test_forget_deletes_everything_of_the_user(pv, clock):
    code = await started(pv, "u1")
    await pv.confirm(user="u1", code=code)
    clock.advance(seconds=30)
    await started(pv, "u1", OTHER)
    await started(pv, "u2", "+33612345678")
    assert await pv.forget(user="u1") == {}
    assert await pv._verifiedNumbers(user="u1") == []
    assert await pv._pendingNumber(user="u1") == []
    assert await pv.collection("pending").count_documents({"user": "u1"}) == 0
    assert await pv.collection("throttle").count_documents({"_id": "user:u1"}) == 0
    assert await pv._pendingNumber(user="u2") != []


async def test_forget_of_nobody_succeeds(pv):
    assert await pv.forget(user="nobody") == {}
