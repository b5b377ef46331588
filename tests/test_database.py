"""Connecting to MongoDB: the embedded server's lifecycle and clear errors for bad URIs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from services.app.config import load_config
from services.storage.database import DatabaseUnavailable, check_reachable, connect, make_client
from services.storage.embedded_mongo import EmbeddedMongo, EmbeddedMongoError
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def process_gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_wrong_uri_is_one_clear_line() -> None:
    with pytest.raises(DatabaseUnavailable) as info:
        check_reachable("mongodb://127.0.0.1:1", timeout_s=0.5)
    message = str(info.value)
    assert "\n" not in message
    assert "mongodb://127.0.0.1:1" in message
    assert "MONGODB_URI" in message


def test_password_is_not_in_the_error() -> None:
    with pytest.raises(DatabaseUnavailable) as info:
        check_reachable("mongodb://ada:hunter2@127.0.0.1:1/app", timeout_s=0.2)
    assert "hunter2" not in str(info.value)
    assert "ada:***@" in str(info.value)


def test_malformed_uri_is_reported() -> None:
    with pytest.raises(DatabaseUnavailable, match="invalid"):
        check_reachable("mongodb://a:b:c", timeout_s=0.2)


def test_connect_uses_mongodb_uri_when_set(mongo_uri: str, tmp_path: Path) -> None:
    config = load_config({"MONGODB_URI": mongo_uri, "DATA_DIR": str(tmp_path)}, env_file=None)
    uri, close = connect(config)
    assert uri == mongo_uri
    close()
    assert not (tmp_path / "embedded-mongo.pid").exists()


def test_connect_fails_cleanly_for_unreachable_uri(tmp_path: Path) -> None:
    config = load_config({"MONGODB_URI": "mongodb://127.0.0.1:1"}, env_file=None)
    with pytest.raises(DatabaseUnavailable):
        connect(config, timeout_s=0.3)


def test_embedded_data_persists_across_restarts(tmp_path: Path) -> None:
    config = load_config({"DATA_DIR": str(tmp_path)}, env_file=None)
    uri, close = connect(config)
    try:
        make_client(uri)[config.db_name].notes.insert_one({"_id": 1, "text": "kept"})
    finally:
        close()
    assert (tmp_path / "reflection.db").is_file()
    uri, close = connect(config)
    try:
        assert make_client(uri)[config.db_name].notes.find_one({"_id": 1})["text"] == "kept"
    finally:
        close()


def test_stop_leaves_no_process_and_no_pid_file(tmp_path: Path) -> None:
    server = EmbeddedMongo(tmp_path)
    with server:
        pid = server.pid
        assert pid is not None
        assert (tmp_path / "embedded-mongo.pid").read_text().strip() == str(pid)
    assert process_gone(pid)
    assert not (tmp_path / "embedded-mongo.pid").exists()
    server.stop()  # idempotent


def test_second_server_on_same_data_dir_is_refused(tmp_path: Path) -> None:
    with EmbeddedMongo(tmp_path) as first:
        with pytest.raises(EmbeddedMongoError) as info:
            EmbeddedMongo(tmp_path).start()
        assert f"pid {first.pid}" in str(info.value)


def test_stale_pid_file_is_ignored(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "embedded-mongo.pid").write_text(str(dead.pid))
    with EmbeddedMongo(tmp_path) as server:
        check_reachable(server.uri, 2)


def test_pid_file_naming_an_unrelated_process_is_ignored(tmp_path: Path) -> None:
    # After a container restart the old pid may belong to some other program.
    (tmp_path / "embedded-mongo.pid").write_text(str(os.getpid()))
    with EmbeddedMongo(tmp_path) as server:
        check_reachable(server.uri, 2)


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port()))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(EmbeddedMongoError, match="exited with code") as info:
            EmbeddedMongo(tmp_path, port=port).start()
    assert "embedded-mongo.log" in str(info.value)


def test_server_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from services.storage.embedded_mongo import EmbeddedMongo
        server = EmbeddedMongo({str(tmp_path)!r})
        server.start()
        print(server.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        db_pid = int(parent.stdout.readline())
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_until(lambda: process_gone(db_pid), timeout=5), "orphaned database"
    finally:
        parent.kill()
        parent.wait()
