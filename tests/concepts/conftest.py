"""Fixtures shared by the concept tests: a fake clock, a test-key encryptor, a mock phone provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.app.clock import FakeClock
from services.encryption.keys import Encryptor
from services.telephony.mock import MockTelephony
from tests.concepts.loop_harness import Harness


@pytest.fixture
def clock() -> FakeClock:
    """Stands still at 2026-03-01 12:00 UTC until a test moves it."""
    return FakeClock()


@pytest.fixture
def encryptor() -> Encryptor:
    """The real encryptor under a fixed, all-zero test key."""
    return Encryptor([("k1", bytes(32))])


@pytest.fixture
def mock_telephony(clock: FakeClock) -> MockTelephony:
    """An in-memory phone provider that records every SMS and call."""
    return MockTelephony(seed=0, clock=clock.now)


@pytest.fixture
def harness(mongo_uri: str) -> Iterator[Harness]:
    """A private event loop and client for the hypothesis state machines."""
    h = Harness(mongo_uri)
    try:
        yield h
    finally:
        h.close()
