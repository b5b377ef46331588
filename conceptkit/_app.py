"""Assembling an application: plugins → registry → engine → Starlette routes."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pluggy
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from ._engine import Engine
from ._http.middleware import DOCS_HEADERS, ApiMiddleware
from ._http.openapi import openapi_document
from ._http.routes import JSON, RouteBuilder, http_exception_handler
from ._registry import load_registry, load_services

STATIC = Path(__file__).parent / "static"


class ConceptApp:
    """One application's concepts, syncs, services and routes, built once from its plugins."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        db: Any,
        *,
        use_mocks: bool = True,
        settings: Any = None,
        retention_days: float | None = 30,
        title: str = "conceptkit API",
        version: str = "0.1.0",
        home: tuple[str, str] | None = None,
        services: dict[str, Any] | None = None,
        recovery_grace_s: float = 30.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.pm = pm
        self.registry = load_registry(pm)
        self.services = (
            dict(services) if services is not None else dict(load_services(pm, use_mocks, settings))
        )
        concepts = [cls(db, self.services) for cls in self.registry.concepts.values()]
        observers = []
        if pm.hook.conceptkit_action_recorded.get_hookimpls():
            observers.append(
                lambda record, pending: pm.hook.conceptkit_action_recorded(
                    record=record, pending=pending
                )
            )
        self.engine = Engine(
            db,
            concepts,
            self.registry.syncs,
            sealer=self.services.get("log_sealer"),
            retention_days=retention_days,
            observers=observers,
            concept_sources=self.registry.concept_sources,
            recovery_grace_s=recovery_grace_s,
            wall_clock=wall_clock,
            invariants=self.registry.invariants,
        )
        self.api_routes = RouteBuilder(self.engine, self.registry.authenticator).routes(
            self.registry.exposures
        )
        self._title, self._version, self._home = title, version, home

    @functools.cached_property
    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document, built when first asked for (most app starts never are)."""
        return openapi_document(
            self.engine, self.registry.exposures, self._title, self._version, self._home
        )

    def routes(self) -> list[BaseRoute]:
        """The generated API routes plus ``/openapi.json`` and the ``/docs`` page."""

        async def openapi(_: Request) -> Response:
            return JSON(self.openapi)

        async def docs(_: Request) -> Response:
            return FileResponse(STATIC / "docs.html", media_type="text/html", headers=DOCS_HEADERS)

        async def docs_js(_: Request) -> Response:
            return FileResponse(STATIC / "docs.js", media_type="text/javascript")

        async def docs_css(_: Request) -> Response:
            return FileResponse(STATIC / "docs.css", media_type="text/css")

        return [
            *self.api_routes,
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/docs", docs, methods=["GET"]),
            Route("/docs/docs.js", docs_js, methods=["GET"]),
            Route("/docs/docs.css", docs_css, methods=["GET"]),
        ]

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ConceptApp]:
        """Start the engine (indexes, recovery) and close it on exit."""
        await self.engine.start()
        try:
            yield self
        finally:
            await self.engine.close()

    def asgi(
        self,
        extra_routes: Sequence[BaseRoute] = (),
        *,
        max_body_bytes: int = 65536,
        lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
        middleware: Sequence[Middleware] = (),
    ) -> Starlette:
        """A Starlette app serving the API and ``extra_routes``, starting the engine on startup.

        ``lifespan`` holds what the engine stands on (the database client): it is
        entered before the engine starts and left after the engine has closed, so
        the engine's last log flush still has a connection.
        """

        @asynccontextmanager
        async def app_lifespan(app: Starlette) -> AsyncIterator[None]:
            if lifespan is None:
                async with self.running():
                    yield
            else:
                async with lifespan(app), self.running():
                    yield

        return Starlette(
            routes=[*self.routes(), *extra_routes],
            middleware=[Middleware(ApiMiddleware, max_body_bytes=max_body_bytes), *middleware],
            exception_handlers={HTTPException: http_exception_handler},
            lifespan=app_lifespan,
        )
