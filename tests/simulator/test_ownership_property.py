"""Property: however numbers collide, a user sees and acts on exactly what was sent for them.

Three users put any of three numbers in their profiles; calls and SMS go out for any of
them, or for no account, to any number. Each user's inbox then lists exactly the calls
and SMS sent for their account, and every request on a call that is not theirs is a 404
that leaves its document as it was. In process (the app over ASGI, the real database);
the simulator's sweeper is not started, so calls wait unplayed where decisions can
still be made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.app.assembly import MOCK_AUTH_TOKEN
from services.devtools.phone_simulator import COLLECTION, PhoneSimulator, attach_simulator
from services.devtools.phone_simulator_routes import simulator_routes
from tests.app.conftest import Service, running_service
from tests.simulator.routes import cross_requests

NUMBERS = ["+14155550101", "+14155550102", "+14155550103"]
USERS: dict[int, list[tuple[str, str]]] = {}  # per service: (user id, token) of three users


@pytest.fixture
async def service(mongo_uri: str) -> AsyncIterator[Service]:
    async with running_service(mongo_uri) as svc:
        engine = svc.engine
        attach_simulator(svc.telephony, engine.db)
        simulator = PhoneSimulator(engine, engine.db, auth_token=MOCK_AUTH_TOKEN)
        svc.app.router.routes[0:0] = simulator_routes(simulator)
        yield svc


async def users_of(service: Service) -> list[tuple[str, str]]:
    if id(service) not in USERS:
        users = []
        for number in NUMBERS:
            token = await service.sign_up(phone=number, verify=False)
            (row,) = await service.engine.query("Accounts", "_userForToken", {"token": token})
            users.append((row["user"], token))
        USERS[id(service)] = users
    return USERS[id(service)]


async def send(service: Service, kind: str, to: str, user: str | None) -> str:
    """What the Dialer / PhoneVerification do through the port, for `user`'s account."""
    telephony = service.telephony
    if kind == "sms":
        return await telephony.send_sms(to=to, body="Your reflection code is 123456", user=user)
    base = "http://test.local/webhooks/twilio"
    placed = await telephony.place_call(
        to=to,
        answer_url=f"{base}/voice?call=c",
        status_callback_url=f"{base}/status?call=c",
        recording_callback_url=f"{base}/recording",
        user=user,
    )
    return placed.sid


async def sim(service: Service, method: str, path: str, token: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    return await service.http.request(method, f"/simulator/api/{path}", json=body, headers=headers)


SENDS = st.lists(
    st.tuples(
        st.sampled_from(["call", "sms"]),
        st.sampled_from(NUMBERS),
        st.sampled_from([0, 1, 2, None]),  # the account it is sent for (None: not said)
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    profiles=st.lists(st.sampled_from(NUMBERS), min_size=3, max_size=3), sends=SENDS, data=st.data()
)
async def test_each_user_sees_and_acts_on_only_what_was_sent_for_them(
    service: Service, profiles: list[str], sends: list[tuple[str, str, int | None]], data
):
    users = await users_of(service)
    events = service.engine.db[COLLECTION]
    await events.delete_many({})
    for (_, token), number in zip(users, profiles, strict=True):
        await service.api("Profile/updatePhoneNumber", {"phoneNumber": number}, token)
    owner_of: dict[str, int | None] = {}
    kinds: dict[str, str] = {}
    for kind, to, who in sends:
        sid = await send(service, kind, to, None if who is None else users[who][0])
        owner_of[sid], kinds[sid] = who, kind

    for i, (_, token) in enumerate(users):
        inbox = (await sim(service, "GET", "inbox", token)).json()
        mine = {sid for sid, who in owner_of.items() if who == i}
        assert {c["sid"] for c in inbox["calls"]} == {s for s in mine if kinds[s] == "call"}
        assert {m["sid"] for m in inbox["messages"]} == {s for s in mine if kinds[s] == "sms"}

    calls = [sid for sid, kind in kinds.items() if kind == "call"]
    if not calls:
        return
    for _ in range(data.draw(st.integers(1, 6), label="requests")):
        sid = data.draw(st.sampled_from(calls), label="call")
        actor = data.draw(st.sampled_from([0, 1, 2]), label="actor")
        method, path, body = data.draw(st.sampled_from(cross_requests(sid)), label="request")
        before = await events.find_one({"_id": sid})
        r = await sim(service, method, path, users[actor][1], body)
        if owner_of[sid] == actor:
            assert r.status_code in (200, 409), (path, r.text)
        else:
            assert (r.status_code, r.json()["error"]) == (404, "no such call"), (path, r.text)
            assert await events.find_one({"_id": sid}) == before, "a refusal changed the call"
