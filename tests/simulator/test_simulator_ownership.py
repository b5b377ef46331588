"""Each user sees and acts on only the calls and SMS the service sent for their own account.

Ada types Bob's number into her own profile (a number collision): the simulator must
show her none of Bob's codes or calls, and refuse (404, changing nothing) whatever she
tries on Bob's call, while Bob's call goes on as if she had not been there. Ownership
comes from the account the Dialer / PhoneVerification sent for, never from a number.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.devtools.phone_simulator import COLLECTION
from services.devtools.phone_simulator_routes import simulator_routes
from services.telephony import PlacedCall
from services.telephony.mock import MockTelephony
from tests.simulator.routes import (
    CALL_ROUTES,
    MESSAGE_ROUTES,
    cross_message_requests,
    cross_requests,
    mounted_call_routes,
    mounted_routes_with_a_sid,
)
from tests.simulator.world import World, running_world, until

ADA = "+14155552671"
BOB = "+14155552672"
DECIDED = ("user", "decision", "decidedBy", "decidedAt", "endRequested")  # what a request sets


class HeldTelephony(MockTelephony):
    """The worker's provider, held right after the call was placed (and recorded by the
    bridge), before the Dialer learns its sid: while the PhoneCall has no sid yet."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.placed, self.release = asyncio.Event(), asyncio.Event()

    async def place_call(self, **kw: Any) -> PlacedCall:
        placed = await super().place_call(**kw)
        if self.hold:
            self.placed.set()
            await self.release.wait()
        return placed


@pytest.fixture
async def held() -> HeldTelephony:
    return HeldTelephony()


@pytest.fixture
async def world(mongo_uri: str, held: HeldTelephony) -> AsyncIterator[World]:
    # listens and sid attachment wait long: nothing moves on by itself while we look
    async with running_world(
        mongo_uri, worker_telephony=held, listen_timeout_s=300, attach_grace_s=300
    ) as running:
        yield running


async def ada_takes_bobs_number(world: World) -> tuple[str, str]:
    """Both sign up and verify their own numbers; then Ada puts Bob's in her profile."""
    bob = await world.sign_up(BOB, displayName="Bob")
    ada = await world.sign_up(ADA)
    await world.api("Profile/updatePhoneNumber", {"phoneNumber": BOB}, ada)
    assert BOB in (await world.sim("GET", "inbox", ada))["numbers"]
    return ada, bob


async def decided(world: World, sid: str) -> dict[str, Any]:
    doc = await world.worker_db[COLLECTION].find_one({"_id": sid})
    assert doc is not None
    return {key: doc.get(key) for key in DECIDED}


async def refused_everywhere(world: World, intruder: str, owner: str, sid: str) -> None:
    """The intruder gets 404 "no such call" on every route, and nothing changes."""
    before, view = await decided(world, sid), await world.call(owner, sid)
    for method, path, body in cross_requests(sid):
        reply = await world.sim(method, path, intruder, body, expect=404)
        assert reply["error"] == "no such call", (path, reply)
    inbox = await world.sim("GET", "inbox", intruder)
    assert sid not in [c["sid"] for c in inbox["calls"]] and inbox["active"] != sid
    assert await decided(world, sid) == before, "a refused request changed the call"
    after = await world.call(owner, sid)
    for key in ("phase", "decision", "ended", "transcript", "listening"):
        assert after[key] == view[key], key


async def test_a_number_in_your_profile_shows_you_none_of_its_owners_codes(world: World):
    ada, bob = await ada_takes_bobs_number(world)
    bobs = await world.sim("GET", "inbox", bob)
    (bob_sms,) = bobs["messages"]
    assert bob_sms["to"] == BOB and bob_sms["code"]

    inbox = await world.sim("GET", "inbox", ada)
    assert [m["to"] for m in inbox["messages"]] == [ADA], "only the code sent for Ada"
    assert bob_sms["sid"] not in [m["sid"] for m in inbox["messages"]]
    assert all(bob_sms["code"] not in m["body"] for m in inbox["messages"])
    assert (await world.sim("GET", "inbox", bob))["messages"] == bobs["messages"]


async def test_every_text_route_refuses_another_users_text(world: World):
    """The walk over the routes naming a text: Ada, who typed Bob's number into her
    profile, cannot reply to the code sent for Bob, as Bob or at all."""
    paths = {p for _, p, _ in CALL_ROUTES} | {p for _, p in MESSAGE_ROUTES}
    assert mounted_routes_with_a_sid(simulator_routes(world.simulator)) == paths
    ada, bob = await ada_takes_bobs_number(world)
    (bob_sms,) = (await world.sim("GET", "inbox", bob))["messages"]
    before = await world.sim("GET", "inbox", bob)
    for method, path, body in cross_message_requests(bob_sms["sid"]):
        reply = await world.sim(method, path, ada, body, expect=404)
        assert reply["error"] == "no such text message", (path, reply)
    assert await world.sim("GET", "inbox", bob) == before, "a refused reply changed nothing"
    ada_inbox = await world.sim("GET", "inbox", ada)
    assert bob_sms["sid"] not in [m["sid"] for m in ada_inbox["messages"]]
    for method, path, body in cross_message_requests(bob_sms["sid"]):  # Bob may
        await world.sim(method, path, bob, body)


async def test_you_cannot_see_decline_or_answer_a_call_to_a_number_you_typed_in(
    world: World, held: HeldTelephony
):
    """While the worker has not attached the sid (the window the number fallback used),
    and after: Ada is refused every time, and Bob's call rings on and is answered."""
    ada, bob = await ada_takes_bobs_number(world)
    held.hold = True
    await world.api("Calls/now", {}, bob)
    dialling = asyncio.ensure_future(world.dial_due())
    await held.placed.wait()  # recorded by the bridge; the PhoneCall has no sid yet
    (placed,) = held.calls
    sid = placed.sid
    for _ in range(5):
        assert (await world.sim("GET", "inbox", ada))["calls"] == []
        for action in ("decline", "answer", "ignore", "voicemail"):
            await world.sim("POST", f"calls/{sid}/{action}", ada, expect=404)
        await world.sim("GET", f"calls/{sid}", ada, expect=404)
    assert (await decided(world, sid))["decision"] is None
    await refused_everywhere(world, ada, bob, sid)
    assert (await world.sim("GET", "inbox", bob))["active"] == sid, "Bob's from the start"
    held.release.set()
    await dialling

    ringing = await world.until_call(bob, sid, lambda c: c["status"] == "ringing")
    assert ringing["phase"] == "ringing" and ringing["decision"] is None
    await refused_everywhere(world, ada, bob, sid)
    await world.sim("POST", f"calls/{sid}/answer", bob)
    greeting = await world.until_call(bob, sid, lambda c: c["listening"])
    assert greeting["transcript"][0]["text"].startswith("Hi Bob.")
    await world.sim("POST", f"calls/{sid}/hangup", bob)


async def test_every_route_refuses_another_users_call_and_bob_carries_on(world: World):
    """The walk, while Bob's call rings, while he is in the conversation, and after."""
    mounted = mounted_call_routes(simulator_routes(world.simulator))
    assert mounted == set(CALL_ROUTES), "a route added later must join the walk"
    ada, bob = await ada_takes_bobs_number(world)
    scheduled, sid = await world.call_now(bob)
    await world.until_call(bob, sid, lambda c: c["status"] == "ringing")
    await refused_everywhere(world, ada, bob, sid)

    await world.sim("POST", f"calls/{sid}/answer", bob)
    await world.until_call(bob, sid, lambda c: c["listening"])
    await refused_everywhere(world, ada, bob, sid)

    await world.sim("POST", f"calls/{sid}/say", bob, {"text": "My dog."})
    await world.until_call(
        bob,
        sid,
        lambda c: c["listening"] and {"speaker": "you", "text": "My dog."} in c["transcript"],
    )
    await refused_everywhere(world, ada, bob, sid)
    ended = await world.sim("POST", f"calls/{sid}/hangup", bob)
    assert ended["ended"] and ended["endedBy"] == "callee"
    (session,) = await until(
        lambda: world.api("ReflectionSession/_history", {}, bob),
        lambda h: h and h[0]["status"] != "IN_PROGRESS",
        what="Bob's session to end",
    )
    assert [p["answer"] for p in session["prompts"] if p.get("answer")] == ["My dog."]
    assert await world.api("ReflectionSession/_history", {}, ada) == []
    await world.scheduled(bob, scheduled, lambda r: r["status"] == "COMPLETED")
    await refused_everywhere(world, ada, bob, sid)  # and once it is over


async def test_a_call_whose_account_is_unknown_is_shown_to_nobody(world: World):
    """Placed without saying whom for, to Ada's own number: nobody sees or acts on it."""
    ada = await world.sign_up(ADA)
    placed = await world.worker_telephony.place_call(
        to=ADA,
        answer_url=f"{world.base_url}/webhooks/twilio/voice?call=nobody",
        status_callback_url=f"{world.base_url}/webhooks/twilio/status?call=nobody",
        recording_callback_url=f"{world.base_url}/webhooks/twilio/recording",
    )
    stored = await world.worker_db[COLLECTION].find_one({"_id": placed.sid})
    assert stored is not None and stored["user"] is None
    assert (await world.sim("GET", "inbox", ada))["calls"] == []
    for method, path, body in cross_requests(placed.sid):
        await world.sim(method, path, ada, body, expect=404)
    assert (await decided(world, placed.sid))["decision"] is None
