"""The built-in Requesting concept: an HTTP request as an action that syncs answer.

Bodies and responses are private: in the action log they are sealed, because
they can carry anything a user typed or said.

A request-driven route invokes ``Requesting.request`` with the path, the caller
(when authenticated) and the body fields; syncs match it, do their work and
finish with ``Requesting.respond``. The route waits for that response and
answers 504 if none comes in time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ._concept import Concept, action, fail


class Requesting(Concept):
    name = "Requesting"

    def __init__(self, db: Any, services: Any) -> None:
        super().__init__(db, services)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def expect(self, request: str) -> asyncio.Future[dict[str, Any]]:
        """A future resolved when ``respond`` is invoked for ``request``."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request] = future
        return future

    def forget(self, request: str) -> None:
        self._waiting.pop(request, None)

    @action(private=("body", "client"))
    async def request(
        self,
        request: str,
        path: str,
        body: dict[str, Any],
        user: str | None = None,
        client: str | None = None,
    ) -> dict[str, Any]:
        """An HTTP request arrived at a request-driven route (``request`` is its id);
        ``client`` is the caller's address, for routes that ask for it."""
        return {"request": request}

    @action(private=("output",))
    async def respond(
        self, request: str, output: dict[str, Any], status: int = 200
    ) -> dict[str, Any]:
        """Answer a waiting request with ``output`` (and an HTTP status, 200 by default)."""
        future = self._waiting.pop(request, None)
        if future is None or future.done():
            return fail("no such request is waiting (answered already or timed out)", "not_found")
        future.set_result({"output": output, "status": status})
        return {}
