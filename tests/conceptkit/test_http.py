"""The route and status-code contract of generated routes."""

from __future__ import annotations

import json

from conceptkit import ConceptApp, plugin_manager
from tests.conceptkit.conftest import ALICE, BOB, TestSealer
from tests.conceptkit.sample import SamplePlugin


async def open_account(client, headers=ALICE) -> str:
    r = await client.post("/api/Ledger/open", json={"label": "main"}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["account"]


async def test_success_is_200_with_the_action_outputs(client):
    acct = await open_account(client)
    r = await client.post("/api/Ledger/deposit", json={"account": acct, "amount": 5}, headers=ALICE)
    assert (r.status_code, r.json()) == (200, {"account": acct, "amount": 5})
    assert r.headers["x-request-id"]


async def test_a_query_route_returns_a_list(client):
    acct = await open_account(client)
    r = await client.post("/api/Ledger/_accounts", json={}, headers=ALICE)
    assert r.status_code == 200
    assert r.json() == [{"account": acct, "label": "main", "balance": 0}]


async def test_validation_errors_are_422_with_field_paths(client):
    r = await client.post("/api/Ledger/deposit", json={"amount": 0, "extra": 1}, headers=ALICE)
    assert r.status_code == 422
    body = r.json()
    locs = {tuple(d["loc"]) for d in body["detail"]}
    assert locs == {("body", "account"), ("body", "amount"), ("body", "extra")}
    assert body["error"] == "invalid request"


async def test_an_action_error_maps_by_its_kind(client):
    acct = await open_account(client)
    r = await client.post(
        "/api/Ledger/withdraw", json={"account": acct, "amount": 5}, headers=ALICE
    )
    assert (r.status_code, r.json()["error"]) == (409, "insufficient funds")
    r = await client.post(
        "/api/Ledger/deposit", json={"account": "nope", "amount": 5}, headers=ALICE
    )
    assert (r.status_code, r.json()["errorKind"]) == (404, "not_found")
    r = await client.post("/api/Sessions/login", json={"user": "a", "password": "bad"})
    assert r.status_code == 401


async def test_malformed_json_is_400_and_non_object_json_is_422(client):
    r = await client.post(
        "/api/Ledger/open",
        content=b'{"label": ',
        headers={**ALICE, "content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"].startswith("malformed JSON")
    r = await client.post("/api/Ledger/open", json=[1, 2], headers=ALICE)
    assert r.status_code == 422
    r = await client.post(
        "/api/Ledger/open",
        content=b"label=x",
        headers={**ALICE, "content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415


async def test_missing_or_bad_tokens_are_401_and_the_body_cannot_choose_the_user(client):
    assert (await client.post("/api/Ledger/open", json={})).status_code == 401
    assert (
        await client.post("/api/Ledger/open", json={}, headers={"Authorization": "Bearer nope"})
    ).status_code == 401
    assert (
        await client.post("/api/Ledger/open", json={}, headers={"Authorization": "Basic xyz"})
    ).status_code == 401
    r = await client.post("/api/Ledger/open", json={"owner": "bob"}, headers=ALICE)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "owner"]


async def test_a_user_acts_only_as_themself(client):
    acct = await open_account(client, ALICE)
    r = await client.post("/api/Ledger/deposit", json={"account": acct, "amount": 5}, headers=BOB)
    assert r.status_code == 404
    r = await client.post("/api/Ledger/_accounts", json={}, headers=BOB)
    assert r.json() == []


async def test_unknown_routes_are_404_and_wrong_methods_405(client):
    for path in [
        "/api/Nope/x",
        "/api/Ledger/nope",
        "/api/Ledger/_internal",
        "/api/Audit/note",
        "/elsewhere",
    ]:
        r = await client.post(path, json={}, headers=ALICE)
        assert r.status_code == 404, path
        assert r.json()["error"] == "no such route"
    r = await client.get("/api/Ledger/open", headers=ALICE)
    assert r.status_code == 405


async def test_oversized_bodies_are_413_and_change_nothing(client):
    big = json.dumps({"label": "x" * 2000})
    r = await client.post(
        "/api/Ledger/open", content=big, headers={**ALICE, "content-type": "application/json"}
    )
    assert r.status_code == 413
    r = await client.post("/api/Ledger/_accounts", json={}, headers=ALICE)
    assert r.json() == []


async def test_oversized_chunked_bodies_are_413(client):
    async def chunks():
        for _ in range(10):
            yield b" " * 200

    r = await client.post(
        "/api/Ledger/open", content=chunks(), headers={**ALICE, "content-type": "application/json"}
    )
    assert r.status_code == 413


async def test_a_bug_is_500_with_a_request_id_and_no_internals(client):
    r = await client.post("/api/Ledger/explode", json={}, headers=ALICE)
    assert r.status_code == 500
    body = r.json()
    assert body["requestId"] == r.headers["x-request-id"]
    assert "hunter2" not in r.text and "Traceback" not in r.text


async def test_a_request_driven_route_is_answered_by_a_sync(client):
    acct = await open_account(client)
    await client.post("/api/Ledger/deposit", json={"account": acct, "amount": 7}, headers=ALICE)
    r = await client.post("/api/Bank/summary", json={"currency": "EUR"}, headers=ALICE)
    assert (r.status_code, r.json()) == (200, {"balance": 7})
    r = await client.post("/api/Bank/summary", json={"currency": "GBP"}, headers=ALICE)
    assert r.status_code == 422
    assert (await client.post("/api/Bank/summary", json={"currency": "EUR"})).status_code == 401


async def test_a_request_driven_route_may_be_told_the_callers_address(client):
    """``requested(..., client=True)``: the connection's address, never the body's."""
    r = await client.post("/api/Bank/whereFrom", json={})
    assert (r.status_code, r.json()) == (200, {"client": "127.0.0.1"})
    r = await client.post("/api/Bank/whereFrom", json={"client": "10.9.9.9"})
    assert r.json() == {"client": "127.0.0.1"}, "a body's client is no address"


async def test_the_reply_goes_out_when_a_sync_responds_and_later_work_runs_on(client):
    """SummaryViewed notes the view (slowly, 1 s) after Summary responded."""
    engine = client.concept_app.engine
    await open_account(client)
    r = await client.post("/api/Bank/summary", json={"currency": "EUR"}, headers=ALICE)
    # the order, not the clock: the reply was out before the slow later work was done
    assert r.status_code == 200
    assert "viewed" not in await events_of(engine, "alice")
    await engine.settle()
    assert "viewed" in await events_of(engine, "alice")


async def events_of(engine, owner: str) -> list[str]:
    return [e["event"] for e in await engine.query("Audit", "_events", {"owner": owner})]


async def test_a_request_nobody_answers_is_504(client):
    r = await client.post("/api/Bank/never", json={}, headers=ALICE)
    assert r.status_code == 504


async def test_openapi_lists_exactly_the_exposed_routes_with_schemas_and_security(client):
    doc = (await client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/api/Sessions/login",
        "/api/Ledger/open",
        "/api/Ledger/deposit",
        "/api/Ledger/withdraw",
        "/api/Ledger/explode",
        "/api/Ledger/_accounts",
        "/api/Audit/_events",
        "/api/Bank/summary",
        "/api/Bank/never",
        "/api/Bank/whereFrom",
    }
    deposit = doc["paths"]["/api/Ledger/deposit"]["post"]
    schema = deposit["requestBody"]["content"]["application/json"]["schema"]
    assert "owner" not in schema["properties"]
    assert schema["properties"]["amount"] == {"type": "integer", "minimum": 1, "maximum": 10000}
    assert deposit["security"] == [{"bearer": []}]
    assert doc["paths"]["/api/Sessions/login"]["post"]["security"] == []
    opened = doc["paths"]["/api/Ledger/open"]["post"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    assert opened["properties"] == {"account": {"type": "string"}}


async def test_openapi_describes_routes_for_their_callers_not_by_the_engine(client, async_db):
    doc = (await client.get("/openapi.json")).json()
    summary = doc["paths"]["/api/Bank/summary"]["post"]
    assert summary["summary"] == "Your balance across accounts."  # the first sentence
    assert summary["description"].endswith("Counts every deposit and withdrawal.")
    never = doc["paths"]["/api/Bank/never"]["post"]  # no doc: its path in words
    assert (never["summary"], never["description"]) == ("Bank never.", "Bank never.")
    assert "synchronization" not in str(doc) and "Requesting.respond" not in str(doc)
    assert "x-home" not in doc["info"]
    pm = plugin_manager(load_entry_points=False, extra=[SamplePlugin()])
    app = ConceptApp(pm, async_db, services={"log_sealer": TestSealer()}, home=("Bank", "/"))
    assert app.openapi["info"]["x-home"] == {"name": "Bank", "url": "/"}


async def test_the_docs_page_is_served_locally(client):
    page = await client.get("/docs")
    assert page.status_code == 200 and "/docs/docs.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    js = await client.get("/docs/docs.js")
    assert js.status_code == 200 and "openapi.json" in js.text


async def test_openapi_lists_each_status_a_route_can_give_and_no_other(client):
    doc = (await client.get("/openapi.json")).json()

    def statuses(path: str) -> set[str]:
        return set(doc["paths"][path]["post"]["responses"])

    boundary = {"200", "400", "413", "415", "422"}
    # fail("wrong password", "unauthorized"): a public route that still answers 401
    assert statuses("/api/Sessions/login") == boundary | {"401", "503"}
    # a fail(..., "not_found") passed as an argument is found; a default fail() is a 409
    assert statuses("/api/Ledger/deposit") == boundary | {"401", "404", "503"}
    assert statuses("/api/Ledger/withdraw") == boundary | {"401", "409", "503"}
    # a query writes nothing and refuses nothing: no 409, no 503
    assert statuses("/api/Ledger/_accounts") == boundary | {"401"}
    assert statuses("/api/Bank/never") == boundary | {"401", "504"}


async def test_the_api_document_and_docs_page_carry_security_headers(client):
    for path in ("/openapi.json", "/docs", "/docs/docs.js", "/docs/docs.css"):
        r = await client.get(path)
        assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff", path
    for path in ("/openapi.json", "/docs"):
        csp = (await client.get(path)).headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, path
        assert "unsafe-inline" not in csp
    r = await client.post("/api/Ledger/_accounts", json={}, headers=ALICE)
    assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
