"""How fast the action log grows while nothing happens: it should grow with work, not time.

Starts the service as real processes (embedded database, web server, worker, mock
provider), gives it users with schedules and a finished call (so every poll has
state to look at), then leaves it idle for ``--minutes`` and counts the action-log
records written meanwhile, by action.

    .venv/bin/python bench/idle_log.py --minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conceptkit import ACTIONS  # noqa: E402
from services.storage.database import make_async_client  # noqa: E402
from services.storage.embedded_mongo import EmbeddedMongo, free_port  # noqa: E402

PASSWORD = "correct horse battery"


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
    )


def sign_up(http: httpx.Client, n: int) -> None:
    name = f"idle{n}"
    http.post("/api/Accounts/register", json={"username": name, "password": PASSWORD})
    token = http.post("/api/Accounts/login", json={"username": name, "password": PASSWORD}).json()[
        "token"
    ]
    auth = {"Authorization": f"Bearer {token}"}
    phone = f"+1415555{7000 + n:04d}"
    profile = {"displayName": "Ada", "phoneNumber": phone, "timezone": "Europe/London"}
    http.post("/api/Profile/createProfile", json=profile, headers=auth)
    http.post(
        "/api/Schedule/setDaily",
        json={"timezone": "Pacific/Kiritimati", "time": "08:00"},
        headers=auth,
    )


async def count(uri: str, db: str) -> collections.Counter:
    client = make_async_client(uri)
    docs = (
        await client[db][ACTIONS]
        .find({"concept": {"$exists": True}}, {"concept": 1, "action": 1})
        .to_list(None)
    )
    await client.close()
    return collections.Counter(f"{d['concept']}.{d['action']}" for d in docs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=20)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="idle-log-"))
    with EmbeddedMongo(work / "db") as mongo:
        port = free_port()
        env = {
            **os.environ,
            "MONGODB_URI": mongo.uri,
            "DB_NAME": "idle",
            "USE_MOCKS": "true",
            "PORT": str(port),
            "DATA_DIR": str(work / "data"),
            "LOG_LEVEL": "WARNING",
        }
        server = start(
            [sys.executable, "-m", "uvicorn", "server:app", "--port", str(port)],
            env,
            work / "server.log",
        )
        worker = start([sys.executable, "worker.py"], env, work / "worker.log")
        try:
            http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, trust_env=False)
            for _ in range(100):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            for n in range(opts.users):
                sign_up(http, n)
            time.sleep(5)  # let start-up work settle
            before = asyncio.run(count(mongo.uri, "idle"))
            print(
                f"idle for {opts.minutes:g} minutes with {opts.users} scheduled users...",
                flush=True,
            )
            time.sleep(opts.minutes * 60)
            after = asyncio.run(count(mongo.uri, "idle"))
        finally:
            for proc in (worker, server):
                proc.terminate()
                proc.wait(20)
    grown = after - before
    print(
        f"action log: {sum(before.values())} records before, {sum(after.values())} after: "
        f"{sum(grown.values())} written in {opts.minutes:g} idle minutes"
    )
    for name, n in grown.most_common():
        print(f"  {n:6d}  {name}")
    print(f"(logs in {work})")


if __name__ == "__main__":
    main()
