"""Run nx-27017, a MongoDB-wire-compatible server backed by SQLite, as a child process.

It lets `make run` and the tests work without installing MongoDB. The server
runs in "files" mode (``--db <directory>``): each logical database is its own
SQLite file ``<dir>/<name>.db``, so databases are isolated and
``drop_database`` removes only one of them.

Run as ``python -m services.storage.embedded_mongo <nx-27017 args>``: this wrapper
silences nx-27017's INFO logging (it logs every command with document
contents), steers the updates that neosqlite's SQL fast path stores wrongly
to its Python path, and exits when its parent process dies, so no orphan
keeps the port or the pid file.
"""

from __future__ import annotations

import asyncio
import contextlib
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

PID_FILE_NAME = "embedded-mongo.pid"
LOG_FILE_NAME = "embedded-mongo.log"
_PROJECT_ROOT = Path(__file__).resolve().parents[2]

log = logging.getLogger(__name__)


class EmbeddedMongoError(RuntimeError):
    """The embedded database could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on `host` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _is_embedded_server(pid: int) -> bool:
    """Whether `pid` is a live embedded server (not a stale pid reused by another program)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if not Path("/proc/self").exists():  # no /proc (macOS): trust the pid
        return True
    try:
        return b"services.storage.embedded_mongo" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:  # exited meanwhile
        return False


class EmbeddedMongo:
    """One nx-27017 server storing its databases as SQLite files in `data_dir`."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout: float = 15.0,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.pid_file = self.data_dir / PID_FILE_NAME
        self.log_file = self.data_dir / LOG_FILE_NAME
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        if self._proc is None or self.port is None:
            raise EmbeddedMongoError("embedded MongoDB is not running")
        return f"mongodb://{self.host}:{self.port}/"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> str:
        """Start the server and wait until it answers ping; return its URI."""
        if self._proc is not None:
            return self.uri
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._refuse_if_already_running()
        # A port picked by free_port() can be taken before nx binds it; retry then.
        fixed_port = self.port
        attempts = 1 if fixed_port else 3
        for attempt in range(1, attempts + 1):
            self.port = fixed_port or free_port(self.host)
            self._spawn()
            try:
                self._wait_ready()
                break
            except EmbeddedMongoError:
                exited = self._proc is not None and self._proc.poll() is not None
                self.stop()
                if not exited or attempt == attempts:
                    raise
        log.info("embedded MongoDB listening on %s (data in %s)", self.uri, self.data_dir)
        return self.uri

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the server, SIGKILL it if it lingers, and reap it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # nx leaves its pid file behind when killed; a stale one would block the next start.
        with contextlib.suppress(FileNotFoundError):
            if self.pid_file.read_text().strip() == str(proc.pid):
                self.pid_file.unlink()

    def __enter__(self) -> EmbeddedMongo:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _refuse_if_already_running(self) -> None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return
        if _is_embedded_server(pid):
            raise EmbeddedMongoError(
                f"another embedded MongoDB (pid {pid}) is already using {self.data_dir}; "
                "stop it or choose another DATA_DIR"
            )
        self.pid_file.unlink(missing_ok=True)

    def _spawn(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "services.storage.embedded_mongo",
            "--db",
            str(self.data_dir),
            "--host",
            self.host,
            "-p",
            str(self.port),
            "--pid-file",
            str(self.pid_file),
            "--log-file",
            str(self.log_file),
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_PROJECT_ROOT), env.get("PYTHONPATH")) if p
        )
        with open(self.log_file, "ab") as log_fh:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=log_fh,
                env=env,
                cwd=self.data_dir,
                # Own process group: a Ctrl-C in the terminal reaches only our
                # parent, which then stops the database last, after its clients.
                process_group=0,
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        client: pymongo.MongoClient = pymongo.MongoClient(
            self.uri, serverSelectionTimeoutMS=250, connectTimeoutMS=250
        )
        try:
            while True:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    raise EmbeddedMongoError(
                        self._failure_message(f"exited with code {self._proc.returncode}")
                    )
                try:
                    client.admin.command("ping")
                    return
                except PyMongoError:
                    pass
                if time.monotonic() > deadline:
                    raise EmbeddedMongoError(
                        self._failure_message(f"did not answer within {self.startup_timeout:g}s")
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def _failure_message(self, what: str) -> str:
        try:
            tail = self.log_file.read_text(errors="replace").strip().splitlines()[-5:]
        except FileNotFoundError:
            tail = []
        detail = ("; last log lines: " + " | ".join(tail)) if tail else ""
        return f"embedded MongoDB (nx-27017) {what} (log: {self.log_file}){detail}"


def _exit_when_orphaned(poll_seconds: float = 0.5) -> None:
    """SIGTERM ourselves once the parent is gone, so a killed parent leaves no server."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def _sql_update_would_corrupt(update_spec: dict[str, Any]) -> bool:
    """True for updates that neosqlite's SQL fast path stores wrongly.

    On existing documents it turns datetimes into naive strings and bools into
    0/1; ``$push`` stores subdocuments as JSON strings; ``$addToSet`` on a
    missing field does nothing.
    """
    for operator, fields in update_spec.items():
        if operator in ("$push", "$addToSet"):
            return True
        if isinstance(fields, dict) and _contains(fields, (datetime.datetime, bool)):
            return True
    return False


def _contains(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, types):
        return True
    if isinstance(value, dict):
        return any(_contains(v, types) for v in value.values())
    if isinstance(value, list):
        return any(_contains(v, types) for v in value)
    return False


def _route_corrupting_updates_to_python() -> None:
    """Send the updates the SQL fast path gets wrong through neosqlite's Python path."""
    from neosqlite.collection.query_helper._sql_updates import SqlUpdatesMixin

    sql_path_allowed = SqlUpdatesMixin._can_use_sql_updates

    def can_use_sql_updates(
        self: Any, update_spec: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        if _sql_update_would_corrupt(update_spec):
            return False
        return sql_path_allowed(self, update_spec, *args, **kwargs)

    SqlUpdatesMixin._can_use_sql_updates = can_use_sql_updates


def _is_shutdown_noise(record: logging.LogRecord) -> bool:
    """Python 3.11 asyncio logs a CancelledError per open connection when nx exits."""
    return bool(record.exc_info) and isinstance(record.exc_info[1], asyncio.CancelledError)


def _main() -> None:
    # Must run before nx's own basicConfig(INFO), which then does nothing:
    # at INFO nx logs every command, including document contents.
    logging.basicConfig(level=logging.WARNING)
    root = logging.getLogger()
    # Our stderr goes to the same file as nx's --log-file handler: once nx has
    # added that handler, stop echoing to stderr so lines are not written twice.
    root.handlers[0].addFilter(
        lambda _record: not any(isinstance(h, logging.FileHandler) for h in root.handlers)
    )
    logging.getLogger("asyncio").addFilter(lambda record: not _is_shutdown_noise(record))
    _route_corrupting_updates_to_python()
    from nx_27017 import nx_27017

    _exit_when_orphaned()
    nx_27017.main()


if __name__ == "__main__":
    _main()
