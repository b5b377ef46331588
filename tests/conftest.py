"""Shared fixtures: one MongoDB per test run, one fresh database per test.

The embedded nx-27017 server starts once per session (about half a second), with
its SQLite files in RAM (/dev/shm) when there is room; set MONGODB_URI to run the
suite against a real MongoDB instead. Each test gets its own database, dropped
afterwards, so tests never see each other's data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database

from services.storage.database import make_async_client, make_client
from services.storage.embedded_mongo import EmbeddedMongo, free_port
from tests.fresh_databases import fresh_async_database, fresh_database

__all__ = ["free_port"]


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI of the MongoDB used by this test run."""
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"]
        return
    ram = _ram_directory()
    data_dir: Path = ram or tmp_path_factory.mktemp("mongo")
    try:
        with EmbeddedMongo(data_dir) as server:
            yield server.uri
    finally:
        if ram is not None:
            shutil.rmtree(ram, ignore_errors=True)


RAM_DISK = Path("/dev/shm")
RAM_NEEDED = 1 << 30  # a container's default /dev/shm (64 MB) is too small: disk then


def _ram_directory() -> Path | None:
    """A fresh directory on the RAM disk, if there is one with room.

    The databases are the same SQLite files either way; in RAM the suite spends no time
    on the disk's writes (a run of tests/app/test_routes_http.py: 42 s on disk, 35 s).
    """
    try:
        if shutil.disk_usage(RAM_DISK).free < RAM_NEEDED or not os.access(RAM_DISK, os.W_OK):
            return None
        return Path(tempfile.mkdtemp(prefix="reflection-tests-mongo-", dir=RAM_DISK))
    except OSError:
        return None


@pytest.fixture
def db(mongo_uri: str) -> Iterator[Database]:
    """A sync pymongo Database of its own, dropped after the test."""
    with fresh_database(make_client, mongo_uri, "test") as database:
        yield database


@pytest.fixture
async def async_db(mongo_uri: str) -> AsyncIterator[AsyncDatabase]:
    """An asyncio pymongo AsyncDatabase of its own, dropped after the test."""
    async with fresh_async_database(make_async_client, mongo_uri, "test") as database:
        yield database


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the items
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the tests that share a module's fixture (a live server, a browser) on one worker.

    ``make test`` balances the suite test by test (``--dist loadgroup``), so one long file
    no longer holds a worker to itself; a module-scoped fixture would then be built again
    on every worker its tests reach, so those tests go together, as one group per module.
    """
    if not config.pluginmanager.hasplugin("xdist"):
        return  # run with -p no:xdist: no groups to keep
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        shared = any(
            defs and defs[-1].scope in ("module", "package", "class")
            for defs in info.name2fixturedefs.values()
        )
        if shared:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
