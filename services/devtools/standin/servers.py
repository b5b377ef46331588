"""How the stand-ins are served: uvicorn in a thread on a free local port, and a proxy.

`ServerThread` binds its socket before starting (no race for the port) with
``IPPROTO_TCP``: asyncio sets TCP_NODELAY only on accepted sockets of that proto, and
without it uvicorn writes a response's head and body separately and every keep-alive
request stalls ~40 ms (Nagle + delayed ACK), which would swamp the turn latencies the
player measures. `RoutingTransport` delivers requests for a public https URL to a local
server, as a TLS-terminating proxy would.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn

__all__ = ["RoutingTransport", "ServerThread"]


class ServerThread:
    """Serves an ASGI app with uvicorn in a daemon thread on a free 127.0.0.1 port."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))  # bound before start: no race for the port
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("stand-in server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


class RoutingTransport(httpx.AsyncBaseTransport):
    """Sends requests for ``public_base`` to ``local_base`` (a proxy in front of the server)."""

    def __init__(self, public_base: str, local_base: str) -> None:
        self.public = httpx.URL(public_base)
        self.local = httpx.URL(local_base)
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == self.public.host:
            request.url = request.url.copy_with(
                scheme=self.local.scheme, host=self.local.host, port=self.local.port
            )
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
