"""Every route, every field, hostile values: never a 5xx, and a refusal changes nothing.

The routes and their body schemas are read from the server's own OpenAPI
document, so a route added later is fuzzed too. Each example sends one body
(tests/app/fuzz_bodies.py) as a signed-in user, or anonymously, and checks:

- the status is not 5xx, and is one the document lists for that route; a 429
  says when to try again (Retry-After);
- an error reply is a JSON object with an ``error`` message;
- a refused request (any 4xx) leaves every concept's state as it was. The one
  exception is what the contract counts on purpose: a wrong password or a wrong
  code is a failed attempt (throttling), so an action's own refusal on those two
  routes may record it.

The state after a refusal is always read afresh. The state before is read through a
handle that notes every write (tests/faults.py, with no faults): when nothing was
written since the last example's state was read, that reading is this example's
"before", so most examples read the state once, not twice. A write the handle missed
could only make "before" stale, which fails the test: it cannot hide a change.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api_client import sign_up
from tests.app.conftest import Service, next_number, running_service
from tests.app.fuzz_bodies import body_for

COUNTED_ATTEMPTS = {  # a wrong password or code counts toward throttling
    "/api/Accounts/login",
    "/api/Accounts/changePassword",
    "/api/Account/delete",
    "/api/PhoneVerification/confirm",
}
SEEN = {"requests": 0, "5xx": 0, "state_reads": 0}
RUNS: dict[int, Run] = {}  # per service: its routes, visitor and last reading of the state
LOG = "conceptkit_actions"  # the action log: not concept state (Service.concept_state)


class Visitor:
    """A signed-in user of its own, signed in again whenever a fuzzed request logged it out.

    It signs in from a network address of its own: the fuzzed logins fail on purpose, and
    the login throttle counts failures per address, so sharing the fuzzer's address would
    get the visitor's own sign-in refused (429), as it should be.
    """

    def __init__(self, svc: Service) -> None:
        self.svc, self.token = svc, ""

    async def session(self) -> str:
        if self.token:
            r = await self.svc.http.post(
                "/api/Accounts/_account", json={}, headers={"authorization": f"Bearer {self.token}"}
            )
            if r.status_code == 200:
                return self.token
        phone = next_number()
        transport = httpx.ASGITransport(
            app=self.svc.app, client=("198.51.100.7", 40000), raise_app_exceptions=False
        )
        async with httpx.AsyncClient(transport=transport, base_url=self.svc.http.base_url) as http:
            self.token = await sign_up(http, f"fuzz{uuid.uuid4().hex[:8]}", phone)
        await self.svc.verify_phone(self.token, phone)
        return self.token


class Run:
    """One service's fuzz run: its routes, its visitor, and the state as last read."""

    def __init__(self, svc: Service, paths: dict[str, Any]) -> None:
        self.svc, self.paths, self.visitor = svc, paths, Visitor(svc)
        self.last: tuple[int, dict[str, Any]] | None = None  # (writes then, the state)

    def _state_writes(self) -> int:
        return sum(w.collection != LOG for w in self.svc.faults.writes)

    async def state(self, *, fresh: bool = False) -> dict[str, Any]:
        """Every concept's documents; unless ``fresh``, the last reading if no write was
        made since."""
        writes = self._state_writes()
        if fresh or self.last is None or self.last[0] != writes:
            SEEN["state_reads"] += 1
            self.last = (writes, await self.svc.concept_state())
        return self.last[1]


@pytest.fixture
async def service(mongo_uri: str):
    """The service (this module's own), its database handle noting every write (no faults
    injected)."""
    async with running_service(mongo_uri, rules=[]) as svc:
        yield svc


@pytest.mark.timeout(900)  # 600 requests, each reading the state once or twice
@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_no_route_answers_5xx_and_no_refusal_changes_anything(service: Service, data):
    if id(service) not in RUNS:
        doc = (await service.http.get("/openapi.json")).json()
        RUNS[id(service)] = Run(service, doc["paths"])
    run = RUNS[id(service)]
    paths, visitor = run.paths, run.visitor
    path = data.draw(st.sampled_from(sorted(paths)), label="route")
    operation = paths[path]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    body = data.draw(body_for(schema), label="body")
    headers = {"content-type": "application/json"}
    if operation["security"] and data.draw(st.integers(0, 9), label="anonymous") > 0:
        headers["authorization"] = f"Bearer {await visitor.session()}"
    before = await run.state()

    r = await service.http.post(path, content=body, headers=headers)
    await service.engine.settle()
    SEEN["requests"] += 1
    SEEN["5xx"] += r.status_code >= 500

    assert r.status_code < 500, (path, body[:300], r.text)
    assert str(r.status_code) in operation["responses"], (path, r.status_code, r.text)
    if r.status_code == 429:
        assert int(r.headers["retry-after"]) >= 1, (path, r.text)
    if r.status_code >= 400:
        reply = r.json()
        assert isinstance(reply, dict) and isinstance(reply.get("error"), str), r.text
        counted = path in COUNTED_ATTEMPTS and "errorKind" in reply
        if not counted:
            assert await run.state(fresh=True) == before, (path, body[:300], r.text)


def test_the_fuzz_run_sent_requests_and_saw_no_5xx():
    """Reports the figures of the run above (it runs first, in file order)."""
    print(
        f"fuzzed requests: {SEEN['requests']}, 5xx: {SEEN['5xx']}, "
        f"state read {SEEN['state_reads']} times"
    )
    assert SEEN["5xx"] == 0
