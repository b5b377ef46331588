"""The service as real processes: uvicorn server, worker, embedded database, Twilio stand-in.

The server and worker run with USE_MOCKS=false: the real `twilio` client talks
to the local Twilio stand-in, which plays each call back against the server
with signed webhooks addressed to the public https URL (routed to the local
port, as a TLS-terminating proxy would). Gemini points at a closed port, so
every answer is judged by the local fallback.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs
import httpx
import pytest

from services.devtools.standin.twilio import TwilioStandIn
from services.storage.embedded_mongo import free_port

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = "https://reflection.example.test"
AUTH_TOKEN = "e2e-auth-token-0123456789abcdef"
PASSWORD = "correct horse battery"
KEY = "k1:" + "B" * 43 + "="


@attrs.define
class Stack:
    base: str
    env: dict[str, str]
    standin: TwilioStandIn
    server: subprocess.Popen
    workers: list[subprocess.Popen]
    http: httpx.Client
    logs: Path

    def api(
        self,
        path: str,
        body: dict | None = None,
        token: str | None = None,
        expect: int | None = 200,
    ):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = self.http.post(f"/api/{path}", json=body or {}, headers=headers)
        if expect is not None:
            assert r.status_code == expect, f"{path}: {r.status_code} {r.text}"
        return r.json()

    def sign_up(self, phone: str, **profile) -> str:
        name = f"u{uuid.uuid4().hex[:10]}"
        self.api("Accounts/register", {"username": name, "password": PASSWORD})
        token = self.api("Accounts/login", {"username": name, "password": PASSWORD})["token"]
        self.api(
            "Profile/createProfile",
            {"displayName": "Grace", "phoneNumber": phone, "timezone": "Europe/London", **profile},
            token,
        )
        self.api("PhoneVerification/start", {"phoneNumber": phone}, token)
        code = re.search(r"\d{6}", self.standin.sms_bodies(phone)[-1]).group(0)
        self.api("PhoneVerification/confirm", {"code": code}, token)
        return token

    def start_worker(self) -> subprocess.Popen:
        log = open(self.logs / f"worker-{len(self.workers)}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(proc)
        return proc

    def start_server(self) -> subprocess.Popen:
        """(Re)start the web server on the same port, as a process manager would."""
        log = open(self.logs / "server.log", "ab")  # noqa: SIM115
        port = self.base.rsplit(":", 1)[1]
        self.server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "server:app", "--host", "127.0.0.1", "--port", port],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_until(lambda: _healthy(self.http), 30, "the server to start")
        return self.server

    def wait_until(self, predicate, timeout: float = 30.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; logs in {self.logs}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def stack(request, mongo_uri, tmp_path) -> Iterator[Stack]:
    """The running service; parametrize indirectly with a dict to override environment variables."""
    port = free_port()
    local = f"http://127.0.0.1:{port}"
    standin = TwilioStandIn(auth_token=AUTH_TOKEN, route=(PUBLIC, local))
    standin.__enter__()
    env = {
        **os.environ,
        "MONGODB_URI": mongo_uri,
        "DB_NAME": f"e2e_{uuid.uuid4().hex[:12]}",
        "USE_MOCKS": "false",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PUBLIC_BASE_URL": PUBLIC,
        "TWILIO_ACCOUNT_SID": standin.state.account_sid,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_PHONE_NUMBER": "+15005550006",
        "TWILIO_API_BASE_URL": standin.base_url,
        "TWILIO_CALLS_PER_SECOND": "50",
        "GEMINI_API_KEY": "e2e-no-such-key",
        "GEMINI_BASE_URL": "http://127.0.0.1:1",
        "ENCRYPTION_KEYS": KEY,
        "RETRY_DELAY_SECONDS": "1",
        "LOG_LEVEL": "INFO",
        "DATA_DIR": str(tmp_path / "data"),
        **getattr(request, "param", {}),
    }
    http = httpx.Client(base_url=local, timeout=20, trust_env=False)
    s = Stack(local, env, standin, None, [], http, tmp_path)  # type: ignore[arg-type]
    try:
        s.start_server()
        s.start_worker()
        yield s
    finally:
        for proc in [*s.workers, s.server]:
            if proc is not None:
                _stop(proc)
        http.close()
        standin.__exit__(None, None, None)


def _healthy(http: httpx.Client) -> bool:
    try:
        return http.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False
