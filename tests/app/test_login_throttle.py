"""Login throttling over HTTP: the caller's address comes from the connection, never the
body, and every 429 says when to try again (``Retry-After`` and ``retryAfter``).

Each client here is an httpx client on the same app with its own source address, as
separate machines would be (docs/concepts/Accounts.md, "Throttling")."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from conceptkit import RouteBuilder, concepts, public
from tests.api_client import PASSWORD
from tests.app.conftest import BASE, Service

WRONG = "not the password"
ATTACKER, OWNER = "203.0.113.66", "198.51.100.7"


@pytest.fixture
async def svc(service: Service) -> Service:
    await service.api("Accounts/register", {"username": "ada", "password": PASSWORD})
    return service


@pytest.fixture
async def from_address(svc: Service) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """``from_address(ip)``: an HTTP client of the app whose requests come from ``ip``."""
    async with AsyncExitStack() as stack:

        def make(ip: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=svc.app, client=(ip, 40000))
            client = httpx.AsyncClient(transport=transport, base_url=BASE)
            stack.push_async_callback(client.aclose)
            return client

        yield make


async def login(http: httpx.AsyncClient, password: str, username: str = "ada") -> httpx.Response:
    return await http.post("/api/Accounts/login", json={"username": username, "password": password})


async def test_every_429_carries_retry_after_and_the_wait_as_data(svc, from_address):
    attacker = from_address(ATTACKER)
    for _ in range(4):
        assert (await login(attacker, WRONG)).status_code == 401
    r = await login(attacker, PASSWORD)
    assert r.status_code == 429
    body = r.json()
    assert body["errorKind"] == "rate_limited"
    assert body["retryAfter"] == 1 and r.headers["retry-after"] == "1"
    assert "UTC" not in r.text
    svc.clock.advance(seconds=1)
    assert (await login(attacker, WRONG)).status_code == 401
    r = await login(attacker, WRONG)
    assert (r.status_code, r.headers["retry-after"], r.json()["retryAfter"]) == (429, "2", 2)


async def test_an_attacker_elsewhere_never_locks_the_owner_out(svc, from_address):
    attacker, owner = from_address(ATTACKER), from_address(OWNER)
    failures = 0
    while failures < 12:  # waiting out each backoff, so that every guess counts
        r = await login(attacker, WRONG)
        if r.status_code == 429:
            svc.clock.advance(seconds=int(r.headers["retry-after"]))
        failures += r.status_code == 401
    assert (await login(attacker, PASSWORD)).status_code == 429
    r = await login(owner, PASSWORD)
    assert r.status_code == 200 and r.json()["token"]


async def test_spraying_from_one_address_is_slowed_on_every_username(svc, from_address):
    sprayer = from_address(ATTACKER)
    for name in ("ada", "bob", "cyd", "dee"):  # bob, cyd and dee do not exist
        assert (await login(sprayer, WRONG, name)).status_code == 401
    for name in ("eve", "ada"):
        r = await login(sprayer, PASSWORD, name)
        assert (r.status_code, r.headers.get("retry-after")) == (429, "1")


async def test_unknown_and_known_usernames_get_the_same_answers(svc, from_address):
    replies = {}
    for name, ip in (("ada", "192.0.2.1"), ("nobody", "192.0.2.2")):
        http = from_address(ip)
        replies[name] = [
            (r.status_code, r.json(), r.headers.get("retry-after"))
            for r in [await login(http, WRONG, name) for _ in range(6)]
        ]
    assert replies["ada"] == replies["nobody"]
    assert [status for status, _, _ in replies["ada"]] == [401] * 4 + [429] * 2


@pytest.mark.parametrize("value", ["198.51.100.7", "", None, 7])
async def test_the_client_address_cannot_be_sent_in_the_body(svc, from_address, value):
    before = await svc.engine.db["Accounts_failuresByClient"].count_documents({})
    r = await from_address(ATTACKER).post(
        "/api/Accounts/login", json={"username": "ada", "password": PASSWORD, "client": value}
    )
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "loc": ["body", "client"],
            "msg": "comes from your connection; do not send it",
            "type": "extra_forbidden",
        }
    ]
    assert await svc.engine.db["Accounts_failuresByClient"].count_documents({}) == before
    assert "retry-after" not in r.headers


async def test_a_401_carries_no_retry_after(svc):
    r = await login(svc.http, WRONG)
    assert r.status_code == 401 and "retry-after" not in r.headers
    assert set(r.json()) == {"error", "errorKind"}


def test_a_client_input_the_action_lacks_is_a_startup_error(svc):
    (accounts,) = concepts("Accounts")
    with pytest.raises(LookupError, match="'client' input"):
        RouteBuilder(svc.engine, None).routes([public(accounts.register, client="client")])


# -- the web app's message: the wait as the server gave it, the moment in the reader's zone --

NODE = shutil.which("node")
WEBAPP = Path(__file__).resolve().parents[2] / "webapp"
SHOW_MESSAGES = """
import { retryMessage } from "%(webapp)s/format.js";
import { ApiError } from "%(webapp)s/api.js";
const now = new Date("2026-03-01T19:33:10Z");
const body = {error: "too many failed attempts; try again in 2 minutes",
              errorKind: "rate_limited", retryAfter: 120};
console.log(JSON.stringify({
  berlin: retryMessage(120, now, "Europe/Berlin"),
  auckland: retryMessage(120, now, "Pacific/Auckland"),
  short: retryMessage(5, now, "Europe/Berlin"),
  page: new ApiError(429, body).message,
  header: new ApiError(429, {error: "slow down", errorKind: "rate_limited"}, 90).message,
  none: new ApiError(429, {error: "too many codes sent", errorKind: "rate_limited"}).message,
}));
"""


@pytest.mark.skipif(NODE is None, reason="needs node to run the web app's modules")
def test_the_login_page_shows_the_wait_and_the_local_time_never_utc():
    script = SHOW_MESSAGES % {"webapp": WEBAPP.as_posix()}
    env = {**os.environ, "LC_ALL": "en_GB.UTF-8", "TZ": "America/New_York"}
    run = subprocess.run(
        [NODE, "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    shown = json.loads(run.stdout)
    assert shown["berlin"] == "Too many attempts. Try again in 2 minutes (at 20:35)."
    assert shown["auckland"] == "Too many attempts. Try again in 2 minutes (at 08:35)."
    assert shown["short"] == "Too many attempts. Try again in 5 seconds."
    # what a refused login shows: the browser's own zone (here New York), no "UTC"
    assert re.fullmatch(
        r"Too many attempts\. Try again in 2 minutes \(at \d\d:\d\d\)\.", shown["page"]
    )
    assert shown["header"].startswith("Too many attempts. Try again in 2 minutes (at ")
    assert shown["none"] == "Too many codes sent."
    assert "UTC" not in run.stdout


async def test_deleting_an_account_with_wrong_passwords_is_slowed_with_retry_after(svc):
    token = (await svc.api("Accounts/login", {"username": "ada", "password": PASSWORD}))["token"]
    auth = {"authorization": f"Bearer {token}"}
    statuses = []
    for _ in range(6):
        r = await svc.http.post("/api/Account/delete", json={"password": WRONG}, headers=auth)
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert r.json()["errorKind"] == "rate_limited"
            assert int(r.headers["retry-after"]) == r.json()["retryAfter"] >= 1
        else:
            assert "retry-after" not in r.headers
    assert statuses[0] == 403 and 429 in statuses
    assert statuses.index(429) == statuses.count(403)  # refused by password, then throttled


async def test_the_document_lists_retry_after_and_no_client_field(svc):
    doc = (await svc.http.get("/openapi.json")).json()
    login_op = doc["paths"]["/api/Accounts/login"]["post"]
    body = login_op["requestBody"]["content"]["application/json"]["schema"]
    assert "client" not in body["properties"] and set(body["properties"]) == {
        "username",
        "password",
    }
    for path in ("/api/Accounts/login", "/api/Account/delete"):
        responses = doc["paths"][path]["post"]["responses"]
        assert "Retry-After" in responses["429"]["headers"], path
    assert set(doc["paths"]["/api/Account/delete"]["post"]["responses"]) >= {"401", "403", "429"}
