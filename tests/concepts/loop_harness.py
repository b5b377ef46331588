"""A private event loop and database client for hypothesis state machines.

RuleBasedStateMachine rules are synchronous; concepts are async. The examples of
one test run share this loop and client, each example on a database of its own.
"""

from __future__ import annotations

import asyncio
from typing import Any

from services.storage.database import make_async_client


class Harness:
    def __init__(self, uri: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = self.run(self._client(uri))

    @staticmethod
    async def _client(uri: str) -> Any:
        return make_async_client(uri)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.client.close())
        self.loop.close()
