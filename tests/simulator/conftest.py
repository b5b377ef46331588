"""The `world` fixture: web server with the phone simulator + worker, sharing a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.simulator.world import World, running_world


@pytest.fixture
async def world(mongo_uri: str) -> AsyncIterator[World]:
    async with running_world(mongo_uri) as running:
        yield running
