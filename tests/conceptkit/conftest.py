"""Fixtures for conceptkit's tests: their own database, and the sample plugin assembled
into an app on a fresh database per test.

Nothing here (or anywhere under tests/conceptkit) imports the app built on conceptkit:
the database is ``MONGODB_URI`` when set, else an embedded nx-27017 server these tests
start themselves (``tests.conceptkit.database``), once per run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database

from conceptkit import ConceptApp, plugin_manager
from tests.conceptkit.database import EmbeddedServer, async_client, sync_client
from tests.conceptkit.sample import SamplePlugin
from tests.fresh_databases import fresh_async_database, fresh_database


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URI of the MongoDB conceptkit's tests use: MONGODB_URI, else an embedded one."""
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"]
        return
    with EmbeddedServer(tmp_path_factory.mktemp("conceptkit-mongo")) as server:
        yield server.uri


@pytest.fixture
def db(mongo_uri: str) -> Iterator[Database]:
    """A blocking pymongo Database of its own, dropped after the test."""
    with fresh_database(sync_client, mongo_uri, "ck") as database:
        yield database


@pytest.fixture
async def async_db(mongo_uri: str) -> AsyncIterator[AsyncDatabase]:
    """An asyncio pymongo AsyncDatabase of its own, dropped after the test."""
    async with fresh_async_database(async_client, mongo_uri, "ck") as database:
        yield database


class TestSealer:
    """A reversible sealer for tests: proves the log stores what the sealer returns."""

    def seal(self, plaintext: str, *, context: str) -> str:
        return "sealed:" + context + ":" + plaintext[::-1]

    def open(self, token: str, *, context: str) -> str:
        prefix = "sealed:" + context + ":"
        assert token.startswith(prefix), (token, context)
        return token[len(prefix) :][::-1]


@pytest.fixture
async def sample_app(async_db) -> AsyncIterator[ConceptApp]:
    pm = plugin_manager(load_entry_points=False, extra=[SamplePlugin()])
    app = ConceptApp(pm, async_db, services={"log_sealer": TestSealer()})
    async with app.running():
        yield app


@pytest.fixture
async def client(async_db) -> AsyncIterator[httpx.AsyncClient]:
    pm = plugin_manager(load_entry_points=False, extra=[SamplePlugin()])
    concept_app = ConceptApp(pm, async_db, services={"log_sealer": TestSealer()})
    asgi = concept_app.asgi(max_body_bytes=1024)
    async with asgi.router.lifespan_context(asgi):
        transport = httpx.ASGITransport(app=asgi, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            c.concept_app = concept_app  # type: ignore[attr-defined]
            yield c


ALICE = {"Authorization": "Bearer t-alice"}
BOB = {"Authorization": "Bearer t-bob"}
