"""A database of its own for each test, dropped afterwards: the one body both conftests use.

It imports only pymongo, so conceptkit's tests (which must not reach the app) share it with
the app's; each conftest hands in its own way of making clients.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database


def fresh_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


@contextmanager
def fresh_database(make_client: Callable[[str], Any], uri: str, prefix: str) -> Iterator[Database]:
    """Yield a blocking pymongo Database no other test sees; drop it after."""
    client = make_client(uri)
    name = fresh_name(prefix)
    try:
        yield client[name]
    finally:
        client.drop_database(name)
        client.close()


@asynccontextmanager
async def fresh_async_database(
    make_client: Callable[[str], Any], uri: str, prefix: str
) -> AsyncIterator[AsyncDatabase]:
    """Yield an asyncio pymongo AsyncDatabase no other test sees; drop it after."""
    client = make_client(uri)
    name = fresh_name(prefix)
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()
