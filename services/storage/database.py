"""One way to reach MongoDB, whether it is the embedded nx-27017 server or a real one.

The rest of the code only sees a URI and pymongo clients, so the embedded
server and `MONGODB_URI` go through the same code path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pymongo
from pymongo.errors import PyMongoError

from services.app.config import Config, redact_uri
from services.storage.embedded_mongo import EmbeddedMongo, EmbeddedMongoError


class DatabaseUnavailable(Exception):
    """MongoDB cannot be reached; the message is one line meant for the user."""


def make_client(uri: str, **kwargs: Any) -> pymongo.MongoClient:
    """A sync client that returns timezone-aware datetimes (UTC)."""
    return pymongo.MongoClient(uri, tz_aware=True, **kwargs)


def make_async_client(uri: str, **kwargs: Any) -> pymongo.AsyncMongoClient:
    """An asyncio client that returns timezone-aware datetimes (UTC)."""
    return pymongo.AsyncMongoClient(uri, tz_aware=True, **kwargs)


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Ping the server, raising `DatabaseUnavailable` with a one-line reason if it fails."""
    timeout_ms = max(1, int(timeout_s * 1000))
    try:
        client = make_client(
            uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
        )
    except (PyMongoError, ValueError, TypeError) as exc:
        raise DatabaseUnavailable(f"MONGODB_URI {redact_uri(uri)!r} is invalid: {exc}") from None
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        reason = str(exc).split(", Timeout:")[0].split("\n")[0]
        reason = re.sub(r"\s*\(configured timeouts:[^)]*\)", "", reason)
        raise DatabaseUnavailable(
            f"Cannot reach MongoDB at {redact_uri(uri)} within {timeout_s:g}s ({reason}). "
            "Check MONGODB_URI, or unset it to use the embedded database."
        ) from None
    finally:
        client.close()


def connect(config: Config, timeout_s: float = 5.0) -> tuple[str, Callable[[], None]]:
    """Return a reachable MongoDB URI and a function that releases it.

    Without MONGODB_URI this starts the embedded server on `config.data_dir`,
    where the database lives in `<DATA_DIR>/<DB_NAME>.db` and survives
    restarts; the returned closer stops the server.
    """
    if config.mongodb_uri:
        check_reachable(config.mongodb_uri, timeout_s)
        return config.mongodb_uri, lambda: None
    server = EmbeddedMongo(config.data_dir)
    try:
        uri = server.start()
        check_reachable(uri, timeout_s)
    except (EmbeddedMongoError, DatabaseUnavailable) as exc:
        server.stop()
        raise DatabaseUnavailable(str(exc)) from None
    return uri, server.stop
