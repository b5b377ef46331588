"""The database conceptkit's own tests run on: ``MONGODB_URI`` when set, else nx-27017.

conceptkit knows nothing of the app built on it, and neither do its tests: they start
their own embedded server (nx-27017, MongoDB's wire protocol on SQLite files) instead
of the app's, and connect with plain pymongo clients. Each logical database is its own
SQLite file (``--db <directory>``), so ``drop_database`` removes only one.

Run as ``python -m tests.conceptkit.database <nx-27017 args>``, the server process
logs warnings only (at INFO nx-27017 logs every command, documents included), sends
the updates that neosqlite's SQL fast path stores wrongly to its Python path, and
exits when its parent dies, so a killed test run leaves no server behind.
"""

from __future__ import annotations

import datetime
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import pymongo
from pymongo.errors import PyMongoError

ROOT = Path(__file__).resolve().parents[2]


def async_client(uri: str, **kwargs: Any) -> pymongo.AsyncMongoClient:
    """An asyncio client returning timezone-aware datetimes (UTC), as conceptkit expects."""
    return pymongo.AsyncMongoClient(uri, tz_aware=True, **kwargs)


def sync_client(uri: str, **kwargs: Any) -> pymongo.MongoClient:
    """A blocking client returning timezone-aware datetimes (UTC)."""
    return pymongo.MongoClient(uri, tz_aware=True, **kwargs)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class EmbeddedServer:
    """One nx-27017 child process storing its databases in ``data_dir``."""

    def __init__(self, data_dir: Path, *, port: int | None = None, timeout_s: float = 15.0) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.timeout_s = timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "server.pid"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> str:
        """Start the server (on ``port``, else a free one) and wait until it answers ping."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        log_file = self.data_dir / "server.log"
        cmd = [sys.executable, "-m", "tests.conceptkit.database", "--db", str(self.data_dir)]
        cmd += ["--host", "127.0.0.1", "-p", str(self.port), "--log-file", str(log_file)]
        cmd += ["--pid-file", str(self.pid_file)]
        paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
        with open(log_file, "ab") as out:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, cwd=self.data_dir
            )
        self._wait_ready(log_file)
        return self.uri

    def _wait_ready(self, log_file: Path) -> None:
        deadline = time.monotonic() + self.timeout_s
        client = sync_client(self.uri, serverSelectionTimeoutMS=250, connectTimeoutMS=250)
        try:
            while True:
                assert self._proc is not None
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    tail = log_file.read_text(errors="replace").splitlines()[-5:]
                    raise RuntimeError(f"nx-27017 did not start: {' | '.join(tail)}")
                try:
                    client.admin.command("ping")
                    return
                except PyMongoError:
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM the server, SIGKILL it if it lingers, and reap it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # nx-27017 leaves its pid file when stopped, and would refuse the next start
        self.pid_file.unlink(missing_ok=True)

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# -- the server process -------------------------------------------------------------


def _would_corrupt(update: dict[str, Any]) -> bool:
    """The updates neosqlite's SQL fast path stores wrongly: on existing documents it
    turns datetimes into naive strings and bools into 0/1, ``$push`` stores subdocuments
    as JSON strings, and ``$addToSet`` on a missing field does nothing."""

    def holds(value: Any) -> bool:
        if isinstance(value, datetime.datetime | bool):
            return True
        if isinstance(value, dict):
            return any(holds(v) for v in value.values())
        return isinstance(value, list) and any(holds(v) for v in value)

    return any(
        op in ("$push", "$addToSet") or (isinstance(fields, dict) and holds(fields))
        for op, fields in update.items()
    )


def _serve() -> None:
    logging.basicConfig(level=logging.WARNING)  # before nx's own basicConfig(INFO)
    from neosqlite.collection.query_helper._sql_updates import SqlUpdatesMixin

    sql_allowed = SqlUpdatesMixin._can_use_sql_updates

    def can_use_sql_updates(self: Any, update: dict[str, Any], *args: Any, **kw: Any) -> bool:
        return not _would_corrupt(update) and sql_allowed(self, update, *args, **kw)

    SqlUpdatesMixin._can_use_sql_updates = can_use_sql_updates
    parent = os.getppid()

    def exit_when_orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=exit_when_orphaned, daemon=True).start()
    from nx_27017 import nx_27017

    nx_27017.main()  # reads its arguments from sys.argv


if __name__ == "__main__":
    _serve()
