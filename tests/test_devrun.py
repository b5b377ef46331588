"""`make run` end to end, with stand-in web server and worker scripts.

Checks the promises of services/devtools/devrun.py: children get the database URI,
the browser hint is printed once /healthz answers, and every way of stopping
(Ctrl-C, SIGTERM, a child dying) leaves no process behind.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.test_database import process_gone, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

STUB_SERVER = textwrap.dedent(
    """
    import http.server, json, os, pathlib
    out = pathlib.Path(os.environ["STUB_DIR"])
    keys = ("MONGODB_URI", "CONCEPTKIT_EMBEDDED")
    (out / "server.tmp").write_text(
        json.dumps({"pid": os.getpid(), **{k: os.environ.get(k) for k in keys}})
    )
    os.replace(out / "server.tmp", out / "server.json")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
    """
)

STUB_WORKER = textwrap.dedent(
    """
    import os, pathlib, subprocess, sys, time
    out = pathlib.Path(os.environ["STUB_DIR"])
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    (out / "worker.tmp").write_text(f'{{"pid": {os.getpid()}, "grandchild": {grandchild.pid}}}')
    os.replace(out / "worker.tmp", out / "worker.json")
    if os.environ.get("STUB_WORKER_EXIT_AFTER"):
        time.sleep(float(os.environ["STUB_WORKER_EXIT_AFTER"]))
        sys.exit(3)
    time.sleep(60)
    """
)


@dataclass
class DevRun:
    proc: subprocess.Popen[str]
    port: int
    stub_dir: Path
    data_dir: Path
    stdout: list[str] = field(default_factory=list)

    def wait_for_output(self, text: str, timeout: float = 20.0) -> bool:
        return wait_until(lambda: any(text in line for line in self.stdout), timeout)

    def pids(self) -> dict[str, int]:
        server = json.loads((self.stub_dir / "server.json").read_text())
        worker = json.loads((self.stub_dir / "worker.json").read_text())
        database = int((self.data_dir / "embedded-mongo.pid").read_text())
        return {
            "server": server["pid"],
            "worker": worker["pid"],
            "grandchild": worker["grandchild"],
            "database": database,
        }


def start_devrun(tmp_path: Path, *args: str, **env: str) -> DevRun:
    stub_dir = tmp_path / "stubs"
    stub_dir.mkdir()
    (stub_dir / "server.py").write_text(STUB_SERVER)
    (stub_dir / "worker.py").write_text(STUB_WORKER)
    port = free_port()
    data_dir = tmp_path / "data"
    # A minimal environment, so a developer's MONGODB_URI or .env settings don't leak in.
    child_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "PORT": str(port),
        "DATA_DIR": str(data_dir),
        "STUB_DIR": str(stub_dir),
        **env,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.devtools.devrun",
            "--server-cmd",
            shlex.join([sys.executable, str(stub_dir / "server.py")]),
            "--worker-cmd",
            shlex.join([sys.executable, str(stub_dir / "worker.py")]),
            *args,
        ],
        cwd=tmp_path,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = DevRun(proc, port, stub_dir, data_dir)
    threading.Thread(target=lambda: run.stdout.extend(proc.stdout), daemon=True).start()
    return run


@pytest.fixture
def runs() -> list[DevRun]:
    """Devrun processes started by a test; killed if the test failed to stop them."""
    started: list[DevRun] = []
    yield started
    for run in started:
        if run.proc.poll() is None:
            run.proc.terminate()
            try:
                run.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                run.proc.kill()
                run.proc.wait()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stop_signal_stops_every_process(tmp_path: Path, runs: list[DevRun], signum: int) -> None:
    run = start_devrun(tmp_path)
    runs.append(run)
    assert run.wait_for_output("in your browser"), run.proc.stderr
    # the banner waits for the server only; the worker writes its pids when it gets to it
    files = [run.stub_dir / "server.json", run.stub_dir / "worker.json"]
    assert wait_until(lambda: all(f.exists() for f in files), timeout=20)
    pids = run.pids()
    server = json.loads((run.stub_dir / "server.json").read_text())
    assert server["MONGODB_URI"].startswith("mongodb://127.0.0.1:")
    assert server["CONCEPTKIT_EMBEDDED"] == "1"

    run.proc.send_signal(signum)
    assert run.proc.wait(timeout=20) == 0
    for name, pid in pids.items():
        assert process_gone(pid), f"{name} (pid {pid}) is still running"
    output = "".join(run.stdout)
    assert f"Open http://127.0.0.1:{run.port}/ in your browser" in output
    assert f"http://127.0.0.1:{run.port}/simulator" in output
    assert not (run.data_dir / "embedded-mongo.pid").exists()


def test_a_dying_child_stops_everything(tmp_path: Path, runs: list[DevRun]) -> None:
    run = start_devrun(tmp_path, STUB_WORKER_EXIT_AFTER="1")
    runs.append(run)
    files = [run.stub_dir / "server.json", run.stub_dir / "worker.json"]
    assert wait_until(lambda: all(f.exists() for f in files), timeout=20)
    pids = run.pids()
    assert run.proc.wait(timeout=20) == 3
    for name, pid in pids.items():
        assert process_gone(pid), f"{name} (pid {pid}) is still running"
    assert "worker exited with code 3" in run.proc.stderr.read()


def test_unreachable_mongodb_uri_is_one_line_and_exit_1(tmp_path: Path, runs: list[DevRun]) -> None:
    run = start_devrun(tmp_path, "--db-timeout", "0.3", MONGODB_URI="mongodb://127.0.0.1:1")
    runs.append(run)
    assert run.proc.wait(timeout=20) == 1
    stderr = run.proc.stderr.read()
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("error: Cannot reach MongoDB at mongodb://127.0.0.1:1 ")
    assert sum("MongoDB" in line for line in lines) == 1
    assert "Traceback" not in stderr
    assert not (run.stub_dir / "server.json").exists()


def test_invalid_configuration_exits_2(tmp_path: Path, runs: list[DevRun]) -> None:
    run = start_devrun(tmp_path, LOG_FORMAT="xml", USE_MOCKS="false")
    runs.append(run)
    assert run.proc.wait(timeout=20) == 2
    stderr = run.proc.stderr.read()
    assert "LOG_FORMAT" in stderr
    assert "TWILIO_AUTH_TOKEN" in stderr
    assert "Traceback" not in stderr


def test_make_run_serves_the_simulator_and_no_example_plugin(
    tmp_path: Path, runs: list[DevRun], mongo_uri: str
) -> None:
    """The real web server and worker, as `make run` starts them, in mock mode.

    The example plugin is installed (``make test`` installs examples/ into .venv) but not
    enabled, so neither process may load it: no ``/api/Notes/*``, no Notes collection. The
    simulator comes through the mock-mode hook, though production assembly never imports it.
    """
    import importlib.metadata

    import httpx
    import pymongo

    if "notes" not in {ep.name for ep in importlib.metadata.entry_points(group="conceptkit")}:
        pytest.skip("the example plugin is not installed (make test installs it)")
    port = free_port()
    db_name = f"devrun_{os.getpid()}_{port}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "PORT": str(port),
        "DATA_DIR": str(tmp_path / "data"),
        "MONGODB_URI": mongo_uri,
        "DB_NAME": db_name,
        "USE_MOCKS": "true",
        "PLUGINS": "",  # as in a fresh checkout, whatever a developer's .env says
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.devtools.devrun"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run = DevRun(proc, port, tmp_path, tmp_path / "data")
    runs.append(run)
    threading.Thread(target=lambda: run.stdout.extend(proc.stdout), daemon=True).start()
    client = pymongo.MongoClient(mongo_uri)
    try:
        assert run.wait_for_output("in your browser", timeout=60), "".join(run.stdout)
        # the worker logs "worker <id> started" once its engine (and collections) are set up
        assert run.wait_for_output(" started", timeout=30), "".join(run.stdout)
        assert re.search(r"worker \S+ started", "".join(run.stdout)), "".join(run.stdout)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10, trust_env=False) as http:
            paths = http.get("/openapi.json").json()["paths"]
            assert "/api/Accounts/register" in paths
            assert not [p for p in paths if p.startswith("/api/Notes/")]
            assert http.post("/api/Notes/post", json={"text": "hi"}).status_code == 404
            assert http.get("/simulator").status_code == 200
            assert http.get("/simulator/api/status").json() == {"mock": True}
        collections = client[db_name].list_collection_names()
        assert collections, "neither process created its collections"
        assert not [c for c in collections if c.startswith("Notes")], collections
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        client.drop_database(db_name)
        client.close()
