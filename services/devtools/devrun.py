"""What `make run` executes: database, web server and worker in one command.

It starts the embedded database when MONGODB_URI is unset, runs the web
server and the worker as child processes that share its URI, and on Ctrl-C,
SIGTERM or SIGHUP stops them all, database last, so nothing is left running.
If any child dies, everything is stopped and the exit code is non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import httpx

from services.app.config import Config, ConfigError, ensure_local_key, load_config
from services.app.logs import setup_logging
from services.storage.database import DatabaseUnavailable, connect

log = logging.getLogger("devrun")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Child:
    """A child process in its own process group, so it can be stopped with everything it spawned."""

    def __init__(self, name: str, cmd: Sequence[str], env: dict[str, str]) -> None:
        self.name = name
        # Own group: a terminal Ctrl-C reaches only devrun, which then stops
        # children in order instead of everyone racing to exit at once.
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, process_group=0)

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signum)


def stop_children(children: Sequence[Child], timeout: float = 10.0) -> None:
    """SIGTERM every child's group, wait, then SIGKILL whatever is left."""
    for child in children:
        child.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %gs; killing it", child.name, timeout)
        # Also reaches grandchildren that outlived their parent.
        child.signal(signal.SIGKILL)
        child.proc.wait()


def _url_host(host: str, *, for_probe: bool) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1" if for_probe else "localhost"
    return f"[{host}]" if ":" in host else host


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _supervise(
    children: Sequence[Child], config: Config, stop: threading.Event, ready_timeout: float
) -> int:
    """Wait for /healthz, print where to go, then watch the children until told to stop."""
    probe = f"http://{_url_host(config.host, for_probe=True)}:{config.port}/healthz"
    base = f"http://{_url_host(config.host, for_probe=False)}:{config.port}"
    deadline = time.monotonic() + ready_timeout
    ready = False
    while not stop.is_set():
        for child in children:
            code = child.proc.poll()
            if code is not None:
                log.error("%s exited with code %s; stopping everything", child.name, code)
                return code or 1
        if not ready:
            if _healthy(probe):
                ready = True
                print(f"Open {base}/ in your browser", flush=True)
                if config.use_mocks:
                    print(f"Phone simulator: {base}/simulator", flush=True)
                print("Press Ctrl-C to stop.", flush=True)
            elif time.monotonic() > deadline:
                log.error("web server did not answer GET %s within %gs", probe, ready_timeout)
                return 1
        stop.wait(0.2)
    return 0


def _catch_stop_signals() -> threading.Event:
    stop = threading.Event()

    def handler(_signum: int, _frame: object) -> None:
        stop.set()

    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
    return stop


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.devtools.devrun", description=__doc__)
    parser.add_argument("--server-cmd", help="replace the web server command (for tests)")
    parser.add_argument("--worker-cmd", help="replace the worker command (for tests)")
    parser.add_argument(
        "--ready-timeout", type=float, default=60.0, help="seconds to wait for /healthz"
    )
    parser.add_argument(
        "--db-timeout", type=float, default=5.0, help="seconds to wait for MongoDB to answer"
    )
    return parser.parse_args(argv)


def _commands(args: argparse.Namespace, config: Config) -> list[tuple[str, list[str]]]:
    server = [sys.executable, "-m", "uvicorn", "server:app"]
    server += ["--host", config.host, "--port", str(config.port)]
    worker = [sys.executable, "worker.py"]
    return [
        ("web server", shlex.split(args.server_cmd) if args.server_cmd else server),
        ("worker", shlex.split(args.worker_cmd) if args.worker_cmd else worker),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        config = load_config()
        setup_logging(config.log_level, config.log_format, config.secrets())
        config = ensure_local_key(config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    stop = _catch_stop_signals()
    try:
        uri, close_db = connect(config, args.db_timeout)
    except DatabaseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    children: list[Child] = []
    try:
        env = dict(os.environ)
        env["MONGODB_URI"] = uri
        env["CONCEPTKIT_EMBEDDED"] = "0" if config.mongodb_uri else "1"
        for name, cmd in _commands(args, config):
            if stop.is_set():
                break
            try:
                children.append(Child(name, cmd, env))
            except OSError as exc:
                print(f"error: cannot start the {name} ({shlex.join(cmd)}): {exc}", file=sys.stderr)
                return 1
        return _supervise(children, config, stop, args.ready_timeout)
    finally:
        log.info("stopping")
        stop_children(children)
        close_db()
        log.info("stopped")


if __name__ == "__main__":
    sys.exit(main())
