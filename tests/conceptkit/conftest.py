"""Fixtures for engine tests: the sample plugin assembled into an app on a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from conceptkit import ConceptApp, plugin_manager
from tests.conceptkit.sample import SamplePlugin


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
