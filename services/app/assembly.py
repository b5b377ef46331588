"""Putting the service together from configuration: database, plugins, adapters, routes.

server.py, worker.py and the end-to-end tests all assemble through here, so
they cannot drift apart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conceptkit import ConceptApp, plugin_manager
from services.app.config import Config, ensure_local_key, load_config
from services.app.logs import setup_logging
from services.app.metrics import METRICS
from services.app.mock_mode import mock_mode_plugins
from services.app.recordings import recording_routes
from services.app.webapp import serve_browser_errors, webapp_routes
from services.encryption.migrate_private import migrate_private
from services.storage.database import make_async_client
from services.webhooks.relay import RelaySettings
from services.webhooks.twilio import webhook_routes
from services.webhooks.urls import WebhookUrls

log = logging.getLogger("services.app.assembly")

MOCK_AUTH_TOKEN = "local-mock-mode-auth-token"
APP_PLUGIN = "reflection"  # this app's own entry point (pyproject.toml); always loaded


def startup_config(environ: Mapping[str, str] | None = None) -> Config:
    """Configuration, logging and (in mock mode) the local encryption key, once per process."""
    config = ensure_local_key(load_config(environ))
    setup_logging(config.log_level, config.log_format, config.secrets())
    return config


def relay_settings(config: Config) -> RelaySettings | None:
    """ConversationRelay's settings, or None when turns are <Gather> webhooks."""
    if config.conversation_transport != "relay":
        return None
    return RelaySettings(
        speech_timeout_ms=config.relay_speech_timeout_ms,
        silence_s=config.relay_silence_seconds,
        recheck_pause_s=config.relay_recheck_seconds,
        voice=config.relay_voice,
    )


def webhook_auth_token(config: Config) -> str:
    """The token webhooks are signed with. Mock mode has a local one; production requires Twilio's."""
    if config.twilio_auth_token:
        return config.twilio_auth_token
    if not config.use_mocks:
        raise ValueError("TWILIO_AUTH_TOKEN is required when USE_MOCKS=false")
    return MOCK_AUTH_TOKEN


class ServiceApp(ConceptApp):
    """The reflection service's engine: data migrations run before it starts, in every
    process (they are idempotent, safe to run at once, and return at once when done)."""

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ConceptApp]:
        await migrate_private(self.engine, self.services["encryption"])
        async with super().running():
            yield self


def concept_app(
    config: Config,
    db: Any,
    services: Mapping[str, Any] | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> ConceptApp:
    """The engine with the app's plugin and the enabled ones (``PLUGINS``); ``services``
    replaces the configured adapters (tests).

    In mock mode the installed mock-mode tools see the adapters (services/app/mock_mode.py):
    the phone simulator records the mock phone's calls and SMS in the database, since the
    worker and the server are separate processes.
    """
    app = ServiceApp(
        plugin_manager(allow={APP_PLUGIN, *config.plugins}),
        db,
        use_mocks=config.use_mocks,
        settings=config,
        retention_days=config.action_log_retention_days,
        title="Daily reflection calls",
        home=("Daily Reflection", "/"),  # /docs links back to the web app
        services=dict(services) if services is not None else None,
        recovery_grace_s=config.recovery_grace_seconds,
        wall_clock=wall_clock,
    )
    if config.use_mocks and services is None:
        mock_mode_plugins().hook.reflection_mock_services(services=app.services, db=db)
    METRICS.watch(app.engine)
    return app


def server_app(
    config: Config,
    services: Mapping[str, Any] | None = None,
    extra_routes: list[Any] | None = None,
    *,
    webhook_timeout_s: float = 8.0,
    database: Callable[[Any], Any] | None = None,
    wall_clock: Callable[[], float] = time.time,
    relay: RelaySettings | None = None,
) -> Starlette:
    """The web server: API, docs, Twilio webhooks, health checks and the web app (and in mock
    mode what the installed mock-mode tools mount: the phone simulator).

    ``database`` wraps the database handle everything uses (tests inject faults with it);
    ``wall_clock`` is when pending log records become replayable (tests restart "later");
    ``relay`` replaces the ConversationRelay settings of the configuration (tests).
    """
    client = make_async_client(config.mongodb_uri or "mongodb://127.0.0.1:27017")
    db = client[config.db_name] if database is None else database(client[config.db_name])
    app = concept_app(config, db, services, wall_clock)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        try:
            await client.admin.command("ping")
        except Exception as exc:
            return JSONResponse(
                {"status": "unavailable", "reason": f"database unreachable: {type(exc).__name__}"},
                status_code=503,
            )
        return JSONResponse({"status": "ready"})

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *webhook_routes(
            app.engine,
            webhook_auth_token(config),
            WebhookUrls(config.public_base_url),
            timeout_s=webhook_timeout_s,
            relay=relay or relay_settings(config),
        ),
        *recording_routes(app.engine, app.services["telephony"]),
        *(extra_routes or []),
        *([METRICS.route(config.metrics_token)] if config.metrics_token else []),
        *webapp_routes(),  # last: it claims only /, the app's client-side routes and /static/
    ]

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.close()

    asgi = app.asgi(routes, max_body_bytes=config.max_body_bytes, lifespan=lifespan)
    asgi.state.concept_app = app
    serve_browser_errors(asgi)  # a browser's 404 is a page; API clients keep JSON
    if config.use_mocks and services is None:
        mock_mode_plugins().hook.reflection_mock_server(
            asgi=asgi, engine=app.engine, db=db, config=config
        )
    return asgi
