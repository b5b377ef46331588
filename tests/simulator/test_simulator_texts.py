"""Replying to a text from the phone simulator: the reply goes to the signed inbound webhook
from the number the text went to, and the service's answer joins the thread, for its user only."""

from __future__ import annotations

from syncs.texts import HELP_TEXT, NO_NOTICE_TEXT
from tests.simulator.world import World

ADA = "+14155552671"
BOB = "+14155552672"
CAROL = "+14155552673"


async def test_a_reply_reaches_the_service_and_its_answer_is_shown(world: World):
    ada = await world.sign_up(ADA)
    (code,) = (await world.sim("GET", "inbox", ada))["messages"]
    out = await world.sim("POST", f"messages/{code['sid']}/reply", ada, {"text": "  help "})
    assert out["answer"] == HELP_TEXT
    thread = (await world.sim("GET", "inbox", ada))["messages"]
    assert [(m["direction"], m["body"], m["from"]) for m in thread[:2]] == [
        ("reply", HELP_TEXT, code["from"]),
        ("inbound", "help", ADA),
    ]
    # CALL with no missed call to answer: the service says so, and no call is queued
    out = await world.sim("POST", f"messages/{code['sid']}/reply", ada, {"text": "CALL"})
    assert out["answer"] == NO_NOTICE_TEXT
    assert await world.api("CallScheduler/_upcoming", {}, ada) == []


async def test_only_a_text_sent_for_your_account_can_be_replied_to(world: World):
    ada = await world.sign_up(ADA)
    bob = await world.sign_up(BOB)
    (code,) = (await world.sim("GET", "inbox", ada))["messages"]
    refused = await world.sim(
        "POST", f"messages/{code['sid']}/reply", bob, {"text": "STOP"}, expect=404
    )
    assert refused["error"] == "no such text message"
    assert [m["direction"] for m in (await world.sim("GET", "inbox", ada))["messages"]] == [
        "outbound"
    ]
    assert [m["to"] for m in (await world.sim("GET", "inbox", bob))["messages"]] == [BOB]
    await world.sim("POST", f"messages/{code['sid']}/reply", None, {"text": "STOP"}, expect=401)


async def test_a_reply_of_your_own_cannot_be_replied_to(world: World):
    ada = await world.sign_up(ADA)
    (code,) = (await world.sim("GET", "inbox", ada))["messages"]
    out = await world.sim("POST", f"messages/{code['sid']}/reply", ada, {"text": "hello"})
    assert out["answer"] == HELP_TEXT
    await world.sim("POST", f"messages/{out['sent']}/reply", ada, {"text": "again"}, expect=404)


async def test_bad_replies_get_json_errors(world: World):
    ada = await world.sign_up(ADA)
    (code,) = (await world.sim("GET", "inbox", ada))["messages"]
    path = f"messages/{code['sid']}/reply"
    for body in [{}, {"text": ""}, {"text": 5}, {"text": "x" * 1601}]:
        error = await world.sim("POST", path, ada, body, expect=422)
        assert error["error"] == "invalid request"
    await world.sim("POST", "messages/not-a-sid/reply", ada, {"text": "hi"}, expect=404)
    assert [m["direction"] for m in (await world.sim("GET", "inbox", ada))["messages"]] == [
        "outbound"
    ]


async def test_a_code_sent_to_a_number_you_typed_in_gives_you_no_say_for_it(world: World):
    """Typing someone's number into your profile gets a code texted there for you; that
    does not make the number yours to reply from (STOP would stop its owner's texts)."""
    ada = await world.sign_up(ADA, verify=False)
    await world.api("PhoneVerification/start", {"phoneNumber": CAROL}, ada)  # not hers
    (code,) = (await world.sim("GET", "inbox", ada))["messages"]
    assert code["to"] == CAROL
    refused = await world.sim(
        "POST", f"messages/{code['sid']}/reply", ada, {"text": "STOP"}, expect=409
    )
    assert refused["error"].startswith("verify this number first")
    assert [m["direction"] for m in (await world.sim("GET", "inbox", ada))["messages"]] == [
        "outbound"
    ]
