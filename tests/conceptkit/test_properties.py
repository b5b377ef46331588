"""Property tests: exposure, validation and sync matching hold for random inputs."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conceptkit import ConceptApp, plugin_manager
from tests.conceptkit.conftest import ALICE, TestSealer
from tests.conceptkit.database import async_client
from tests.conceptkit.sample import SamplePlugin

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


class Harness:
    """One app and event loop shared by all examples of a property (fast)."""

    def __init__(self, uri: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.client_db = None
        self.uri = uri
        self.loop.run_until_complete(self._start())

    async def _start(self) -> None:
        self.mongo = async_client(self.uri)
        self.db = self.mongo[f"prop_{uuid.uuid4().hex[:12]}"]
        pm = plugin_manager(load_entry_points=False, extra=[SamplePlugin()])
        self.app = ConceptApp(pm, self.db, services={"log_sealer": TestSealer()})
        self.asgi = self.app.asgi()
        self.lifespan = self.asgi.router.lifespan_context(self.asgi)
        await self.lifespan.__aenter__()
        transport = httpx.ASGITransport(app=self.asgi, raise_app_exceptions=False)
        self.http = httpx.AsyncClient(transport=transport, base_url="http://test")

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        async def stop():
            await self.http.aclose()
            await self.lifespan.__aexit__(None, None, None)
            await self.mongo.drop_database(self.db.name)
            await self.mongo.close()

        self.loop.run_until_complete(stop())
        self.loop.close()


ROUTES = [
    "/api/Ledger/open",
    "/api/Ledger/deposit",
    "/api/Ledger/withdraw",
    "/api/Ledger/_accounts",
    "/api/Sessions/login",
    "/api/Bank/summary",
]


def test_random_payloads_never_yield_a_500(mongo_uri):
    h = Harness(mongo_uri)
    try:

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            route=st.sampled_from(ROUTES),
            body=json_values
            | st.dictionaries(
                st.sampled_from(
                    ["account", "amount", "label", "owner", "user", "password", "currency", "x"]
                ),
                json_values,
                max_size=4,
            ),
        )
        def prop(route, body):
            r = h.run(h.http.post(route, json=body, headers=ALICE))
            assert r.status_code < 500, (route, body, r.text)
            assert "error" in r.json() if r.status_code >= 400 else True

        prop()

        @settings(max_examples=60, deadline=None)
        @given(raw=st.binary(max_size=60))
        def raw_bodies(raw):
            r = h.run(
                h.http.post(
                    "/api/Ledger/open",
                    content=raw,
                    headers={**ALICE, "content-type": "application/json"},
                )
            )
            assert r.status_code in (200, 400, 422), r.text

        raw_bodies()
    finally:
        h.close()


UNDECLARED = [
    ("Ledger", "_internal"),
    ("Audit", "note"),
    ("Secrets", "store"),
    ("Requesting", "respond"),
    ("Requesting", "request"),
]


def test_an_undeclared_operation_is_unreachable_by_any_method_or_path_variant(mongo_uri):
    h = Harness(mongo_uri)
    try:

        @settings(max_examples=120, deadline=None)
        @given(
            target=st.sampled_from(UNDECLARED),
            method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
            variant=st.sampled_from(
                [
                    "{c}/{a}",
                    "{c}/{a}/",
                    "{c}//{a}",
                    "{cl}/{a}",
                    "{c}/{a}?x=1",
                    "{c}/{au}",
                    "{c}/./{a}",
                    "{c}/%5F{a1}",
                    "{c}/{a}%20",
                ]
            ),
            auth=st.booleans(),
        )
        def prop(target, method, variant, auth):
            c, a = target
            path = "/api/" + variant.format(
                c=c, a=a, cl=c.lower(), au=a.upper(), a1=a[1:] if a.startswith("_") else a
            )
            r = h.run(
                h.http.request(
                    method,
                    path,
                    json={"owner": "alice"},
                    headers=ALICE if auth else {},
                    follow_redirects=True,
                )
            )
            assert r.status_code in (404, 405), (method, path, r.status_code)

        prop()
        # nothing undeclared ran: no Audit note came from HTTP
        assert h.run(h.app.engine.query("Audit", "_events", {"owner": "alice"})) == []
    finally:
        h.close()


def test_a_sync_fires_exactly_once_per_matched_set_and_never_across_flows(mongo_uri):
    """Random interleavings of deposits and withdrawals over three flows and two accounts."""
    h = Harness(mongo_uri)
    eng = h.app.engine
    try:

        @settings(max_examples=40, deadline=None)
        @given(
            steps=st.lists(
                st.tuples(
                    st.sampled_from(["f1", "f2", "f3"]),
                    st.sampled_from(["deposit", "withdraw"]),
                    st.sampled_from([0, 1]),
                ),
                max_size=14,
            )
        )
        def prop(steps):
            owner = uuid.uuid4().hex
            flows = {f: f"{f}-{owner}" for f in ("f1", "f2", "f3")}
            accounts = [
                h.run(eng.invoke("Ledger", "open", {"owner": owner}))["account"] for _ in range(2)
            ]
            balance = [0, 0]
            done: dict[tuple[str, int], dict[str, int]] = {}
            for flow, op, i in steps:
                amount = 10 if op == "deposit" else 1
                out = h.run(
                    eng.invoke(
                        "Ledger",
                        op,
                        {"owner": owner, "account": accounts[i], "amount": amount},
                        flow=flows[flow],
                    )
                )
                if op == "withdraw" and balance[i] < 1:
                    assert "error" in out
                    continue
                balance[i] += amount if op == "deposit" else -amount
                counts = done.setdefault((flow, i), {"deposit": 0, "withdraw": 0})
                counts[op] += 1
            expected = sorted(
                accounts[i]
                for (_, i), c in done.items()
                for _ in range(c["deposit"] * c["withdraw"])
            )
            rows = h.run(eng.query("Audit", "_events", {"owner": owner}))
            assert sorted(r["detail"] for r in rows if r["event"] == "roundtrip") == expected

        prop()
    finally:
        h.close()
