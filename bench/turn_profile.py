"""Where a webhook turn's time goes: database commands and wall time per webhook.

Plays calls in-process (the whole service as an ASGI app, the Twilio call player,
the mock completion checker, the embedded database) and prints, per webhook kind,
the mean wall time and the database commands it issued, by command and collection.
A pymongo command listener counts what the service sends; nothing is patched.

Usage: python bench/turn_profile.py [--calls 5] [--profile FILE.pstats]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextvars
import cProfile
import datetime as dt
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from pymongo import monitoring

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.app.adapters import adapters_for
from services.app.assembly import MOCK_AUTH_TOKEN, server_app
from services.app.clock import FakeClock
from services.app.config import load_config
from services.app.worker_loop import CallWorker
from services.devtools.call_player import CallSpec, play_call
from services.devtools.callees import ScriptedCallee
from services.devtools.mock_completion import MockCompletionChecker
from services.storage.embedded_mongo import EmbeddedMongo
from services.telephony.mock import MockTelephony
from tests.api_client import call_api, sign_up

BASE = "http://bench.local"
ANSWERS = [["I was grateful for", "my sister's call"], "Finishing the report", "Sleep early"]
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("webhook", default=None)


class Commands(monitoring.CommandListener):
    """Counts database commands by the webhook that caused them."""

    def __init__(self) -> None:
        self.by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.seconds: dict[str, float] = collections.defaultdict(float)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        kind = _current.get()
        if kind is None:
            return
        target = event.command.get(event.command_name)
        name = f"{event.command_name} {target}" if isinstance(target, str) else event.command_name
        self.by_kind[kind][name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        kind = _current.get()
        if kind is not None:
            self.seconds[kind] += event.duration_micros / 1e6

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.succeeded(event)  # type: ignore[arg-type]


def tagging(app: Any, wall: dict[str, list[float]]) -> Any:
    """ASGI wrapper: tag each webhook's commands with its kind and time it."""

    async def wrapped(scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/webhooks/twilio/"):
            await app(scope, receive, send)
            return
        kind = path.rsplit("/", 1)[-1]
        token = _current.set(kind)
        start = time.perf_counter()
        try:
            await app(scope, receive, send)
        finally:
            wall[kind].append(time.perf_counter() - start)
            _current.reset(token)

    return wrapped


async def run(calls: int, uri: str, profile: str | None, show_flows: int = 0) -> None:
    listener = Commands()
    monitoring.register(listener)
    config = load_config(
        {
            "MONGODB_URI": uri,
            "DB_NAME": f"bench_{uuid.uuid4().hex[:8]}",
            "USE_MOCKS": "true",
            "PUBLIC_BASE_URL": BASE,
            "ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=",
            "LOG_LEVEL": "WARNING",
        },
        env_file=None,
    )
    telephony = MockTelephony(seed=1)
    services = adapters_for(
        config,
        clock=FakeClock(dt.datetime.now(dt.UTC)),
        telephony=telephony,
        completion=MockCompletionChecker(),
    )
    app = server_app(config, services)
    wall: dict[str, list[float]] = collections.defaultdict(list)
    async with app.router.lifespan_context(app):
        engine = app.state.concept_app.engine
        worker = CallWorker(engine, services["clock"], worker_id="bench")
        transport = httpx.ASGITransport(app=tagging(app, wall))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            for i in range(calls):
                await _sign_up_and_call(http, telephony, f"+1415555{i:04d}")
            while await worker.claim_one():
                pass
            profiler = cProfile.Profile() if profile else None
            if profiler:
                profiler.enable()
            for placed in telephony.calls:
                result = await play_call(
                    CallSpec.from_mock_call(placed),
                    auth_token=MOCK_AUTH_TOKEN,
                    http=http,
                    callee=ScriptedCallee(ANSWERS),
                    sleep=_no_sleep,
                )
                assert result.ok, result
            if profiler:
                profiler.disable()
                profiler.dump_stats(profile)
        await engine.log.flush()
        if show_flows:
            await _show_flows(engine.db, show_flows)
        await engine.db.client.drop_database(config.db_name)
    _report(listener, wall)


async def _show_flows(db: Any, n: int) -> None:
    """Print the actions of the first `n` webhook flows of each kind, in order."""
    starts = (
        await db.conceptkit_actions.find(
            {"concept": "Requesting", "action": "request", "sync": None}
        )
        .sort("seq", 1)
        .to_list(None)
    )
    shown: collections.Counter[str] = collections.Counter()
    for start in starts:
        path = start["inputs"].get("path")
        if not isinstance(path, str) or shown[path] >= n:
            continue
        shown[path] += 1
        print(f"flow of {path}:")
        records = (
            await db.conceptkit_actions.find({"flow": start["flow"]}).sort("seq", 1).to_list(None)
        )
        for r in records:
            error = " ERROR" if "error" in r["outputs"] else ""
            print(f"   {r['concept']}.{r['action']}{error}  <- {r['sync'] or '(request)'}")


async def _no_sleep(_: float) -> None:
    return None


async def _sign_up_and_call(http: httpx.AsyncClient, telephony: MockTelephony, phone: str) -> None:
    token = await sign_up(http, f"u{uuid.uuid4().hex[:10]}", phone)
    await call_api(http, "PhoneVerification/start", {"phoneNumber": phone}, token)
    sms = [m for m in telephony.messages if m.to == phone][-1]
    code = re.search(r"\d{6}", sms.body).group(0)
    await call_api(http, "PhoneVerification/confirm", {"code": code}, token)
    await call_api(http, "Calls/now", {}, token)


def _report(listener: Commands, wall: dict[str, list[float]]) -> None:
    print(f"{'webhook':<14}{'n':>5}{'wall ms':>10}{'db ms':>9}{'cmds':>7}  commands per webhook")
    for kind, times in sorted(wall.items()):
        n = len(times)
        counts = listener.by_kind[kind]
        per = sum(counts.values()) / n
        db_ms = listener.seconds[kind] / n * 1000
        detail = ", ".join(f"{name} {c / n:.1f}" for name, c in counts.most_common())
        print(f"{kind:<14}{n:>5}{sum(times) / n * 1000:>10.1f}{db_ms:>9.1f}{per:>7.1f}  {detail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--profile", help="write a cProfile of the calls to this file")
    parser.add_argument("--flows", type=int, default=0, help="print N flows of each webhook")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedMongo(tmp) as server:
        asyncio.run(run(args.calls, server.uri, args.profile, args.flows))


if __name__ == "__main__":
    main()
