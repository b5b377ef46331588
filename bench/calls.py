"""Benchmark: the whole service under call load, as real processes.

Starts what production runs, the way tests/e2e does: the embedded database
(nx-27017, in a temp dir), the web server (`uvicorn server:app`, one process)
and one worker (`python worker.py`), with USE_MOCKS=false. The real `twilio`
client talks to the Twilio stand-in (a thread in this process), which plays
every call against the server with signed webhooks to the public https URL
(routed to the local port). The completion check is the mock LLM of the issue
(COMPLETION_CHECK=local: the local rules, ~0 ms); with --llm standin it is the
real Gemini adapter talking to the Gemini stand-in, a process of its own that
answers at once with a verdict read from the answer (complete unless it trails
off), which adds the adapter's own cost and an HTTP round trip per judgement.

  A  turn latency: --calls users (signed up through the API, phone verified with
     the stand-in's SMS code) ask "call me now"; the worker dials them all and each
     callee answers 3 prompts (the first in two parts). By default (--pace 1) calls
     go at Twilio's pace: each is answered when dialled, the service's Say takes its
     spoken length, the callee's speech its own, and Twilio waits out the 3 s
     end-of-speech pause before posting the result, so the calls overlap as real
     ones do. With --pace 0 the calls ring until every one is live, then all answer
     at once and play with no pauses at all: a closed loop that measures capacity.
     Turn latency = the round trip of each `gather` webhook, seen by the caller.
  B  dispatch lateness: --queued calls inserted into CallScheduler exactly as
     scheduleCall stores them (synthetic users with an unverified number, so the
     worker fails them at once), due over --spread seconds from --lead seconds on,
     plus --real calls to verified users among them. Lateness = claim - due.
  C  memory: --long calls in waves of --wave concurrent calls; the server's RSS
     after each wave.
Parts run in the order A, C, B (B's 10,000 rows would otherwise sit under C).

The closed loop of --pace 0 measures throughput: its turn latency is mostly queueing
(about calls / webhooks-per-second); --think S adds the callee's own pauses on top.
The Twilio stand-in and its 200 callers share this machine's cores with the service.

Usage: python bench/calls.py [--quick] [--calls 200] [--queued 10000] [--long 1000]
       [--pace 1] [--think S] [--skip ABC] [--keep DIR]   (--help for all options; full run ~10 min)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import os
import re
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import attrs
import httpx
import pymongo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.calls_support import (  # noqa: E402
    Gate,
    GateHolder,
    calls_live,
    cpu_seconds,
    machine_busy,
    pct,
    routing_client,
    rss_mb,
    spawn,
    start_gemini,
    stop_process,
)
from conceptkit import new_id  # noqa: E402
from concepts.call_scheduler import FIELD_NUMBER as CALL_NUMBER_FIELD  # noqa: E402
from concepts.profile import FIELD_LABELS as PROFILE_FIELDS  # noqa: E402
from services.devtools.standin.twilio import TwilioStandIn, no_sleep  # noqa: E402
from services.encryption.keys import encryptor_from_env  # noqa: E402
from services.storage.embedded_mongo import EmbeddedMongo, free_port  # noqa: E402

PUBLIC = "https://reflection.bench.test"
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
PASSWORD = "correct horse battery"
KEY = "k1:" + "B" * 43 + "="
# Rows inserted straight into the database are encrypted as the concepts store them.
ENCRYPTOR = encryptor_from_env({"ENCRYPTION_KEYS": KEY})
DB_NAME = "bench_calls"
ANSWERS = [
    ["I was grateful for", "my sister's call."],  # one answer in two parts
    "A long walk in the park.",
    "Rest more tomorrow.",
]
EXPECTED = [
    "I was grateful for my sister's call.",
    "A long walk in the park.",
    "Rest more tomorrow.",
]
GOODBYE = "Thank you for reflecting"
GOAL_TURN_P99_MS = 50.0
GOAL_LATENESS_P99_S = 1.0
GOAL_GROWTH = 0.10


@attrs.define
class User:
    user: str
    token: str
    phone: str


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


def ms(values: list[float]) -> str:
    top = max(values, default=float("nan"))
    return f"p50 {pct(values, 50):.1f} / p99 {pct(values, 99):.1f} / max {top:.1f} ms"


# -- the running service --------------------------------------------------------------


class Stack:
    """Database, Gemini stand-in, server, worker and Twilio stand-in, started and stopped."""

    def __init__(self, tmp: Path, log_level: str, llm: str = "local") -> None:
        self.tmp = tmp
        self.log_level = log_level
        self.llm = llm
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.mongo: EmbeddedMongo | None = None
        self.gemini = self.server = self.worker = None
        self.standin: TwilioStandIn | None = None
        self.gates = GateHolder()
        self.env: dict[str, str] = {}
        self.local = ""
        self.busy_before = machine_busy()

    def start(self) -> None:
        # Children first, threads last: they are forked with a pre-exec hook.
        self.mongo = EmbeddedMongo(self.tmp / "mongo")
        self.mongo.start()
        base_env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
        gemini_url = ""
        if self.llm == "standin":
            self.gemini, gemini_url = start_gemini(base_env, self.logs / "gemini.log")
        port = free_port()
        self.local = f"http://127.0.0.1:{port}"
        self.standin = TwilioStandIn(auth_token=AUTH_TOKEN, route=(PUBLIC, self.local))
        self.standin._http = routing_client(PUBLIC, self.local)
        self.env = {
            **base_env,
            "MONGODB_URI": self.mongo.uri,
            "DB_NAME": DB_NAME,
            "USE_MOCKS": "false",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "PUBLIC_BASE_URL": PUBLIC,
            "TWILIO_ACCOUNT_SID": self.standin.state.account_sid,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_PHONE_NUMBER": "+15005550006",
            "TWILIO_API_BASE_URL": self.standin.base_url,
            "TWILIO_CALLS_PER_SECOND": "500",  # Twilio's 1 CPS is an account limit, not ours
            "GEMINI_API_KEY": "bench-key" if self.llm == "standin" else "",
            "COMPLETION_CHECK": "gemini" if self.llm == "standin" else "local",
            "GEMINI_BASE_URL": gemini_url,
            "ENCRYPTION_KEYS": KEY,
            "RETRY_DELAY_SECONDS": "1",
            "LOG_LEVEL": self.log_level,
            "DATA_DIR": str(self.tmp / "data"),
        }
        self.server = spawn(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "server:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=self.env,
            log=self.logs / "server.log",
        )
        self._wait_healthy()
        self.worker = spawn(
            [sys.executable, "worker.py"], env=self.env, log=self.logs / "worker.log"
        )
        self.standin.__enter__()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"the server exited: {self.tail('server.log')}")
            try:
                if (
                    httpx.get(self.local + "/healthz", timeout=1, trust_env=False).status_code
                    == 200
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the server did not start within 60 s")

    def check_alive(self) -> None:
        for name, proc in (("server", self.server), ("worker", self.worker)):
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"the {name} exited: {self.tail(name + '.log')}")

    def tail(self, name: str, lines: int = 15) -> str:
        try:
            return "\n".join((self.logs / name).read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self) -> None:
        stop_process(self.worker)
        stop_process(self.server)
        if self.gemini is not None:
            if self.gemini.stdin:
                self.gemini.stdin.close()
            stop_process(self.gemini)
            if self.gemini.stdout:
                self.gemini.stdout.close()
        if self.standin is not None and self.standin.server._thread.is_alive():
            self.standin.__exit__(None, None, None)
        if self.mongo is not None:
            self.mongo.stop()

    # -- helpers used by the parts --------------------------------------------------

    def pids(self) -> dict[str, int]:
        return {
            "server": self.server.pid,
            "worker": self.worker.pid,
            "database": self.mongo.pid,
            "bench (stand-ins' callers)": os.getpid(),
        }

    def cpu(self) -> dict[str, float]:
        out = {name: cpu_seconds(pid) for name, pid in self.pids().items()}
        if self.gemini is not None:
            out["gemini stand-in"] = cpu_seconds(self.gemini.pid)
        return out

    def count_in_log(self, name: str, needle: str) -> int:
        try:
            return (self.logs / name).read_text(errors="replace").count(needle)
        except FileNotFoundError:
            return 0

    def dials_since(self, t0: float) -> list[Any]:
        return [r for r in self.standin.state.requests_to("calls.create") if r.received_at >= t0]


async def post(http: httpx.AsyncClient, url: str, body: dict, headers: dict) -> httpx.Response:
    """POST, sent again once if a kept-alive connection was closed under it (never processed)."""
    try:
        return await http.post(url, json=body, headers=headers)
    except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
        return await http.post(url, json=body, headers=headers)


async def api(
    http: httpx.AsyncClient,
    path: str,
    body: dict | None = None,
    token: str | None = None,
    ok=(200,),
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = await post(http, f"/api/{path}", body or {}, headers)
    for _ in range(20):  # a burst of logins from one address waits out its backoff
        if r.status_code != 429 or 429 in ok:
            break
        await asyncio.sleep(float(r.json().get("retryAfter", 1)))
        r = await post(http, f"/api/{path}", body or {}, headers)
    if r.status_code not in ok:
        raise RuntimeError(f"{path}: HTTP {r.status_code} {r.text[:300]}")
    return r.json()


async def wait_until(predicate, timeout: float, what: str, stack: Stack, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        stack.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(every)


async def gather_limited(coros: list, limit: int) -> list:
    sem = asyncio.Semaphore(limit)

    async def one(coro):
        async with sem:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


# -- users ------------------------------------------------------------------------------


async def sign_up(stack: Stack, http: httpx.AsyncClient, n: int) -> User:
    phone = f"+1415555{n:04d}"
    name = f"bench{n:04d}{uuid.uuid4().hex[:6]}"
    user = (await api(http, "Accounts/register", {"username": name, "password": PASSWORD}))["user"]
    token = (await api(http, "Accounts/login", {"username": name, "password": PASSWORD}))["token"]
    profile = {"displayName": "Grace", "phoneNumber": phone, "timezone": "Europe/London"}
    await api(http, "Profile/createProfile", profile, token)
    await api(http, "PhoneVerification/start", {"phoneNumber": phone}, token)
    code = re.search(r"\d{6}", stack.standin.sms_bodies(phone)[-1]).group(0)
    await api(http, "PhoneVerification/confirm", {"code": code}, token)
    gates = stack.gates
    stack.standin.callee_factory(phone, lambda: gates.callee(ANSWERS))
    return User(user, token, phone)


async def sign_up_many(stack: Stack, http: httpx.AsyncClient, first: int, n: int) -> list[User]:
    t0 = time.monotonic()
    users = await gather_limited([sign_up(stack, http, first + i) for i in range(n)], 8)
    log(f"signed up {n} users through the API in {time.monotonic() - t0:.1f} s")
    return users


async def call_now(http: httpx.AsyncClient, user: User, patience: float = 20.0) -> None:
    """POST /api/Calls/now; a 409 while the previous call is still being wrapped up is retried."""
    deadline = time.monotonic() + patience
    while True:
        r = await post(http, "/api/Calls/now", {}, {"Authorization": f"Bearer {user.token}"})
        if r.status_code == 200:
            return
        if r.status_code != 409 or time.monotonic() > deadline:
            raise RuntimeError(f"Calls/now: HTTP {r.status_code} {r.text[:300]}")
        await asyncio.sleep(0.2)


def failure(result: Any) -> str | None:
    """Why a played call is not the expected reflection (None: it is)."""
    if result.final_status != "completed":
        return f"call ended {result.final_status}"
    if result.errors:
        return result.errors[0].message
    last = result.said[-1] if result.said else ""
    if last.startswith("Sorry, something went wrong"):
        return "apology: the server composed no reply in time (webhook timeout)"
    if len(result.turn_latencies_ms) != 4:
        return f"{len(result.turn_latencies_ms)} gather turns instead of 4"
    if not last.startswith(GOODBYE):
        return "no goodbye"
    return None


def failures(results: list[Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for r in results:
        reason = failure(r)
        if reason is not None:
            found[reason] = found.get(reason, 0) + 1
    return found


async def session_ok(http: httpx.AsyncClient, user: User, patience: float = 10.0) -> bool:
    """The user's latest reflection is COMPLETED with the three expected answers."""
    deadline = time.monotonic() + patience
    while True:
        rows = await api(http, "ReflectionSession/_history", {"limit": 1}, user.token)
        if rows and rows[0]["status"] == "COMPLETED":
            return [p.get("answer") for p in rows[0]["prompts"]] == EXPECTED
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.25)


async def run_wave(
    stack: Stack, http: httpx.AsyncClient, users: list[User], gated: bool, timeout: float
) -> dict[str, Any]:
    """Ask for a call for every user, let the worker dial them all, then let them play."""
    standin = stack.standin
    gate = Gate(opened=not gated)
    stack.gates.gate = gate
    done_before = len(standin.results)
    n = len(users)
    t0 = time.monotonic()
    cpu0 = stack.cpu()
    await gather_limited([call_now(http, u) for u in users], 32)
    t_asked = time.monotonic()
    await wait_until(lambda: gate.waiting >= n, timeout, f"{n} calls to ring", stack)
    t_ringing = time.monotonic()
    t_open = t0  # ungated, the calls are busy from the first request on
    if gated:
        cpu0 = stack.cpu()
        gate.open()
        t_open = time.monotonic()
    await wait_until(
        lambda: len(standin.results) - done_before >= n, timeout, f"{n} calls to end", stack, 0.01
    )
    t_done = time.monotonic()
    cpu1 = stack.cpu()
    dials = sorted(r.received_at for r in stack.dials_since(t0))
    return {
        "results": standin.results[done_before : done_before + n],
        "asked_s": t_asked - t0,
        "dial_s": (dials[-1] - dials[0]) if len(dials) > 1 else 0.0,
        "dials": len(dials),
        "ringing_s": t_ringing - t0,
        "busy_s": t_done - t_open,
        "cpu": {k: (cpu1[k] - cpu0[k]) / max(t_done - t_open, 1e-9) for k in cpu0},
    }


# -- part A -----------------------------------------------------------------------------


def results_of(wave: dict[str, Any]) -> list[list[tuple[int, Any]]]:
    """Each call's gather webhooks, numbered in the order the call sent them."""
    return [list(enumerate(r.webhooks_of("gather"))) for r in wave["results"]]


async def part_a(
    stack: Stack,
    http: httpx.AsyncClient,
    users: list[User],
    gated: bool,
    think_s: float,
    pace: float,
) -> dict:
    n = len(users)
    pauses = f"pauses of {think_s / 2:g}..{think_s * 1.5:g} s" if think_s else "no pauses"
    how = f"at {pace:g}x Twilio's pace" if pace else "a closed loop"
    print(f"\nA. turn latency: {n} concurrent calls, {how}, callee {pauses}", flush=True)
    await asyncio.sleep(1.0)
    rss_before = rss_mb(stack.server.pid)
    stack.gates.think_s = think_s
    first_callee = len(stack.gates.callees)
    if think_s or pace:  # callee pauses, speech and Say take real time
        stack.standin.configure(sleep=asyncio.sleep, pace=pace)
    try:
        timeout = max(120.0, n * 1.0 + 60 * think_s + 120 * pace)
        wave = await run_wave(stack, http, users, gated, timeout=timeout)
    finally:
        stack.gates.think_s = 0.0
        stack.standin.configure(sleep=no_sleep, pace=0.0)
    with open(stack.tmp / "gather_turns.csv", "w") as out_csv:  # kept with --keep
        out_csv.write("sent_at_s,turn,latency_ms\n")
        turns = [(w.sent_at, k, w.elapsed_ms) for r in results_of(wave) for k, w in r]
        for sent_at, turn, latency in sorted(turns):
            out_csv.write(f"{sent_at:.4f},{turn},{latency:.2f}\n")
    callees = stack.gates.callees[first_callee:]
    peak_live, mean_live = calls_live(callees)
    results = wave["results"]
    gathers = [v for r in results for v in r.turn_latencies_ms]
    # the steady part: every call answered, none dialling or being greeted any more
    all_answered = max((c.answered_at or 0.0 for c in callees), default=0.0)
    steady = [
        w.elapsed_ms
        for r in results
        for w in r.webhooks_of("gather")
        if w.sent_at > all_answered + 1.0
    ]
    answers = [w.elapsed_ms for r in results for w in r.webhooks_of("answer")]
    statuses = [w.elapsed_ms for r in results for w in r.webhooks_of("status")]
    after_gate = [
        w
        for r in results
        for w in r.webhooks
        if not (w.kind == "status" and w.params.get("CallStatus") in ("initiated", "ringing"))
    ]
    played_ok = sum(failure(r) is None for r in results)
    failed = failures(results)
    sessions = await gather_limited([session_ok(http, u) for u in users], 16)
    await asyncio.sleep(1.0)
    rss_after = rss_mb(stack.server.pid)
    out = {
        "n": n,
        "think_s": think_s,
        "pace": pace,
        "live": (peak_live, mean_live),
        "gathers": gathers,
        "steady": steady,
        "answers": answers,
        "statuses": statuses,
        "webhooks_per_s": len(after_gate) / wave["busy_s"],
        "webhooks": len(after_gate),
        "busy_s": wave["busy_s"],
        "played_ok": played_ok,
        "failed": failed,
        "sessions_ok": sum(sessions),
        "sessions_checked": len(sessions),
        "rss": (rss_before, rss_after),
        "wave": wave,
    }
    log(
        f"asked in {wave['asked_s']:.1f} s; {wave['dials']} dials over {wave['dial_s']:.1f} s "
        f"({(wave['dials'] - 1) / max(wave['dial_s'], 1e-3):.0f}/s); "
        f"all ringing after {wave['ringing_s']:.1f} s"
    )
    how = "all answered at once" if gated else "each answered when dialled"
    log(f"{how}: done in {wave['busy_s']:.2f} s, {out['webhooks']} webhooks")
    log(
        f"calls live at once: peak {peak_live}, mean {mean_live:.0f} (first answer to last goodbye)"
    )
    mean = statistics.fmean(gathers) if gathers else float("nan")
    log(f"gather turn (webhook round trip): {ms(gathers)}; mean {mean:.1f} ms")
    if steady:
        log(f"  of which after every call was answered ({len(steady)}): {ms(steady)}")
    log(f"answer webhook (greeting): {ms(answers)}")
    log(f"status callbacks: {ms(statuses)}")
    log(f"webhooks/s while busy: {out['webhooks_per_s']:.0f}")
    log(
        f"calls played correctly: {played_ok}/{n}; sessions COMPLETED with the 3 answers (API): "
        f"{out['sessions_ok']}/{out['sessions_checked']}"
    )
    for reason, k in failed.items():
        log(f"  {k} call(s) not as expected: {reason}")
    log("CPU while busy (cores): " + ", ".join(f"{k} {v:.2f}" for k, v in wave["cpu"].items()))
    log(f"server RSS {rss_before:.1f} -> {rss_after:.1f} MiB")
    return out


# -- part C -----------------------------------------------------------------------------


async def part_c(
    stack: Stack,
    http: httpx.AsyncClient,
    users: list[User],
    total: int,
    wave_size: int,
    gated: bool,
) -> dict:
    print(f"\nC. memory: {total} calls in waves of {wave_size}", flush=True)
    series = [rss_mb(stack.server.pid)]
    worker_series = [rss_mb(stack.worker.pid)]
    played_ok = sessions_ok = sessions_checked = done = 0
    failed: dict[str, int] = {}
    turns: list[float] = []
    t0 = time.monotonic()
    while done < total:
        batch = users[: min(wave_size, total - done)]
        wave = await run_wave(stack, http, batch, gated, timeout=max(120.0, len(batch) * 1.0))
        played_ok += sum(failure(r) is None for r in wave["results"])
        for reason, k in failures(wave["results"]).items():
            failed[reason] = failed.get(reason, 0) + k
        turns += [v for r in wave["results"] for v in r.turn_latencies_ms]
        sample = batch[:: max(1, len(batch) // 5)][:5]
        checks = await asyncio.gather(*(session_ok(http, u) for u in sample))
        sessions_ok += sum(checks)
        sessions_checked += len(checks)
        done += len(batch)
        await asyncio.sleep(0.5)
        series.append(rss_mb(stack.server.pid))
        worker_series.append(rss_mb(stack.worker.pid))
        log(
            f"{done:5d} calls: server RSS {series[-1]:.1f} MiB, worker {worker_series[-1]:.1f} MiB, "
            f"gather p99 {pct([v for r in wave['results'] for v in r.turn_latencies_ms], 99):.0f} ms"
        )
    waves = len(series) - 1
    warm = min(max(2, math.ceil(waves * 0.2)), waves)  # RSS after this many waves = baseline
    base, last = series[warm], series[-1]
    growth = (last - base) / base if waves > warm else float("nan")
    post = series[warm:]
    slope = _slope(post) / wave_size * 100 if len(post) > 2 else float("nan")
    log(
        f"{done} calls in {time.monotonic() - t0:.0f} s; played correctly {played_ok}/{done}; "
        f"sampled sessions correct {sessions_ok}/{sessions_checked}"
    )
    for reason, k in failed.items():
        log(f"  {k} call(s) not as expected: {reason}")
    log(
        f"server RSS after warm-up ({warm} waves) {base:.1f} MiB -> {last:.1f} MiB at the end: "
        f"{growth:+.1%}, trend {slope:+.2f} MiB per 100 calls"
    )
    return {
        "total": done,
        "series": series,
        "worker_series": worker_series,
        "warm": warm,
        "growth": growth,
        "slope": slope,
        "played_ok": played_ok,
        "sessions": (sessions_ok, sessions_checked),
        "turns": turns,
    }


def _slope(ys: list[float]) -> float:
    xs = range(len(ys))
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


# -- part B -----------------------------------------------------------------------------


def _call_doc(user: str, phone: str, due: dt.datetime, now: dt.datetime) -> dict[str, Any]:
    """A row exactly as CallScheduler.scheduleCall inserts it (maxRetries 4, origin schedule)."""
    return {
        "_id": new_id(),
        "user": user,
        "phoneNumber": ENCRYPTOR.encrypt(phone, user=user, field=CALL_NUMBER_FIELD),
        "scheduledFor": due,
        "dueAt": due.timestamp(),
        "status": "PENDING",
        "activeUser": user,
        "attempts": 0,
        "attemptsLeft": 4,
        "maxRetries": 4,
        "lastAttemptAt": None,
        "nextRetryAt": None,
        "lastOutcome": None,
        "errorMessage": None,
        "claimedBy": None,
        "attemptLog": [],
        "createdAt": now,
        "completedAt": None,
        "origin": "schedule",
        "version": 0,
    }


def _profile_doc(user: str, phone: str, now: dt.datetime) -> dict[str, Any]:
    """A row as Profile.createProfile inserts it; the number is never verified."""
    return {
        "_id": new_id(),
        "user": user,
        "displayName": ENCRYPTOR.encrypt(
            "Synthetic", user=user, field=PROFILE_FIELDS["displayName"]
        ),
        "phoneNumber": ENCRYPTOR.encrypt(phone, user=user, field=PROFILE_FIELDS["phoneNumber"]),
        "timezone": "Europe/London",
        "namePronunciation": None,
        "includeRating": False,
        "maxRetries": 4,
        "createdAt": now,
        "updatedAt": now,
    }


def _epoch(value: dt.datetime) -> float:
    return value.replace(tzinfo=dt.UTC).timestamp() if value.tzinfo is None else value.timestamp()


async def part_b(
    stack: Stack,
    http: httpx.AsyncClient,
    real: list[User],
    queued: int,
    spread: float,
    lead: float,
    patience: float | None,
    measure: float | None = None,
) -> dict:
    """``measure``: only the calls due in the first ``measure`` seconds are waited for and
    counted; the rest stay queued in the future, as in a real day's queue."""
    print(
        f"\nB. dispatch lateness: {queued} future calls due over {spread:.0f} s from {lead:.0f} s on, "
        f"{len(real)} of them to verified users"
        + (f"; lateness measured over the first {measure:.0f} s of due times" if measure else ""),
        flush=True,
    )
    stack.gates.gate = Gate(opened=True)
    client: pymongo.MongoClient = pymongo.MongoClient(stack.mongo.uri)
    db = client[DB_NAME]
    calls = db["CallScheduler_calls"]
    try:
        now = dt.datetime.now(dt.UTC)
        synthetic = [(new_id(), f"+1628{i:07d}") for i in range(queued)]
        t = time.monotonic()
        for i in range(0, queued, 1000):
            db["Profile_profiles"].insert_many(
                [_profile_doc(u, p, now) for u, p in synthetic[i : i + 1000]]
            )
        log(f"inserted {queued} unverified profiles in {time.monotonic() - t:.1f} s")
        # Due times evenly spread; the real users' calls sit at evenly spaced places among them.
        people = [(u, p, False) for u, p in synthetic]
        for k, u in enumerate(real):
            people.insert((k + 1) * len(people) // (len(real) + 1), (u.user, u.phone, True))
        t_insert = time.time()
        start = t_insert + lead
        step = spread / max(1, len(people) - 1)
        now = dt.datetime.now(dt.UTC)
        docs = [
            _call_doc(u, p, dt.datetime.fromtimestamp(start + i * step, dt.UTC), now)
            for i, (u, p, _) in enumerate(people)
        ]
        real_calls = {
            d["_id"]: d for d, (_, _, is_real) in zip(docs, people, strict=True) if is_real
        }
        cpu0 = stack.cpu()
        t = time.monotonic()
        for i in range(0, len(docs), 1000):
            calls.insert_many(docs[i : i + 1000])
        inserted_in = time.monotonic() - t
        log(
            f"queued {len(docs)} calls in {inserted_in:.1f} s (first due {lead:.0f} s after the start)"
        )
        if time.time() > start:
            log("WARNING: inserting took longer than the lead; the first calls were due meanwhile")
        window = min(spread, measure) if measure else spread
        end = start + window
        in_range = {"dueAt": {"$gte": start - 0.001, "$lte": end + 0.001}}
        # Wait for the queue to drain, but not for ever: the figures then say how far behind it is.
        limit = (
            lead
            + window
            + (patience if patience is not None else min(300.0, max(60.0, queued / 30)))
        )

        def pending() -> int:
            return calls.count_documents({**in_range, "status": "PENDING"})

        deadline = t_insert + limit
        last_report = 0.0
        drained_at = None
        while time.time() < deadline:
            stack.check_alive()
            if await asyncio.to_thread(pending) == 0:
                drained_at = time.time()
                break
            if time.time() - last_report > 15:
                due_now = sum(1 for d in docs if d["dueAt"] <= time.time())
                log(f"{await asyncio.to_thread(pending)} still pending ({due_now} due by now)")
                last_report = time.time()
            await asyncio.sleep(2.0)
        if drained_at is None:
            log(f"stopped waiting {limit:.0f} s after queueing; the queue had not drained")
        cpu1 = stack.cpu()
        busy = max(time.time() - start, 1e-9)

        # Let the verified users' claimed calls play out, and the action log's batches land.
        def real_calls_over() -> bool:
            states = [calls.find_one({"_id": c}, {"status": 1})["status"] for c in real_calls]
            return all(st not in ("DIALING", "IN_PROGRESS") for st in states)

        with contextlib.suppress(TimeoutError):
            await wait_until(real_calls_over, 30, "the verified users' calls", stack, 0.5)
        await asyncio.sleep(1.5)
        t_snapshot = time.time()
        rows = {
            d["_id"]: d
            for d in calls.find(
                in_range, {"dueAt": 1, "lastAttemptAt": 1, "status": 1, "phoneNumber": 1}
            )
        }
        since = dt.datetime.fromtimestamp(t_insert, dt.UTC)
        claims: dict[str, float] = {}
        for rec in db["conceptkit_actions"].find(
            {"concept": "CallScheduler", "action": "claimDue", "finished": {"$gte": since}},
            {"outputs": 1, "finished": 1},
        ):
            sc = (rec.get("outputs") or {}).get("scheduledCall")
            if sc in rows:
                claims[sc] = min(claims.get(sc, math.inf), _epoch(rec["finished"]))
    finally:
        client.close()
    claimed = [r for r in rows.values() if r.get("lastAttemptAt") is not None]
    start_late = [_epoch(r["lastAttemptAt"]) - r["dueAt"] for r in claimed]
    commit_late = [claims[k] - rows[k]["dueAt"] for k in claims]
    # Calls not claimed yet are at least this late (censored values: p99 is then a lower bound).
    censored = [
        t_snapshot - r["dueAt"]
        for r in rows.values()
        if r.get("lastAttemptAt") is None and r["dueAt"] <= t_snapshot
    ]
    late_all = (commit_late or start_late) + censored
    statuses: dict[str, int] = {}
    for r in rows.values():
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    times = sorted(claims.values())
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")
    # End to end for the verified users: due -> calls.create at Twilio -> completed.
    wall_minus_mono = time.time() - time.monotonic()
    dials = {
        r.form_values("To")[0]: r.received_at + wall_minus_mono
        for r in stack.standin.state.requests_to("calls.create")
        if r.received_at + wall_minus_mono >= t_insert
    }
    real_rows = [(rows[c], real_calls[c]) for c in real_calls if c in rows]  # due in the window
    dial_late = [
        dials[d["phoneNumber"]] - d["dueAt"] for _, d in real_rows if d["phoneNumber"] in dials
    ]
    real_done = sum(r["status"] == "COMPLETED" for r, _ in real_rows)
    out = {
        "queued": len(docs),
        "claimed": len(claimed),
        "commit_late": commit_late,
        "start_late": start_late,
        "late_all": late_all,
        "censored": len(censored),
        "drained_after_s": None if drained_at is None else drained_at - end,
        "statuses": statuses,
        "claim_rate": rate,
        "offered_rate": len(docs) / spread,
        "inserted_in": inserted_in,
        "real": len(real_rows),  # the verified users' calls due in the measured window
        "real_done": real_done,
        "dial_late": dial_late,
        "cpu": {k: (cpu1[k] - cpu0[k]) / busy for k in cpu0},
    }
    log(f"claimed {len(claimed)}/{len(docs)}; states {statuses}")
    if drained_at is not None:
        log(f"the queue drained {drained_at - end:.1f} s after the last call was due")
    if commit_late:
        log(f"lateness of claimed calls (claim committed, action log): {_s(commit_late)}")
    if start_late:
        log(f"lateness of claimed calls (claim started, lastAttemptAt): {_s(start_late)}")
    if censored:
        log(f"with the {len(censored)} unclaimed calls counted as late as now: {_s(late_all)}")
    if len(commit_late) >= 10:
        ordered = [
            claims[k] - rows[k]["dueAt"] for k in sorted(claims, key=lambda k: rows[k]["dueAt"])
        ]
        tenth = max(1, len(ordered) // 10)
        log(
            f"lateness over time: first tenth median {statistics.median(ordered[:tenth]):.2f} s, "
            f"last tenth median {statistics.median(ordered[-tenth:]):.2f} s"
        )
    log(f"claims/s sustained {rate:.0f} (offered: {out['offered_rate']:.0f} due per s)")
    log(
        f"verified users: {real_done}/{len(real_rows)} due in the window completed "
        f"({len(real)} queued); due -> dialled: "
        + (_s(dial_late) if dial_late else "no dials seen")
    )
    log(
        "CPU while dispatching (cores): " + ", ".join(f"{k} {v:.2f}" for k, v in out["cpu"].items())
    )
    return out


def _s(values: list[float]) -> str:
    if not values:
        return "no values"
    return f"p50 {pct(values, 50):.3f} / p99 {pct(values, 99):.3f} / max {max(values):.3f} s"


# -- summary ----------------------------------------------------------------------------


def summary(
    args: argparse.Namespace, a: dict | None, b: dict | None, c: dict | None, stack: Stack
) -> None:
    fallbacks = stack.count_in_log("server.log", "Gemini completion check failed")
    print("\n" + "=" * 78)
    print(
        f"bench/calls.py{' --quick' if args.quick else ''}: one uvicorn process, one worker, "
        f"embedded nx-27017, {os.cpu_count()} CPUs, LOG_LEVEL={args.log_level}"
    )
    if args.llm == "standin":
        print(
            "LLM: the Gemini stand-in in its own process, answering at once (real adapter, "
            f"~0 ms model time); local fallbacks used: {fallbacks}"
        )
    else:
        print("LLM: none configured, so the local completion checker (a mock LLM, 0 ms)")
    print(f"CPU busy before the start (other processes): {stack.busy_before:.0%}")
    if stack.busy_before > 0.2:
        print("WARNING: the machine was busy before the start; figures include that contention")
    print(f"{'goal':52} {'measured':>24}  verdict")

    def row(goal: str, measured: str, met: bool | None) -> None:
        verdict = "n/a" if met is None else ("met" if met else "NOT MET")
        print(f"{goal:52} {measured:>24}  {verdict}")

    if a is not None:
        p99 = pct(a["gathers"], 99)
        scale = "" if a["live"][0] >= 200 else f" (peak {a['live'][0]} live)"
        scale += f" ({a['pace']:g}x pace)" if a["pace"] else " (closed loop)"
        scale += f" (pauses ~{a['think_s']:g} s)" if a["think_s"] else ""
        row(
            f"p99 turn latency <= 50 ms @ 200 calls{scale}",
            f"{p99:.1f} ms",
            p99 <= GOAL_TURN_P99_MS,
        )
    if b is not None:
        lp99 = pct(b["late_all"], 99)
        scale = "" if b["queued"] >= 10_000 else f" (ran {b['queued']})"
        row(
            f"dispatch lateness p99 <= 1 s @ 10,000 queued{scale}",
            f"{'>= ' if b['censored'] else ''}{lp99:.2f} s",
            lp99 <= GOAL_LATENESS_P99_S and not b["censored"],
        )
    if c is not None:
        flat = c["growth"] < GOAL_GROWTH if not math.isnan(c["growth"]) else None
        scale = "" if c["total"] >= 1000 else f" (ran {c['total']})"
        row(
            f"flat server memory over 1,000 calls{scale}", f"{c['growth']:+.1%} after warm-up", flat
        )
    print("-" * 78)
    if a is not None:
        print(
            f"A  {a['n']} calls, peak {a['live'][0]} live: gather turn {ms(a['gathers'])}; greeting p99 "
            f"{pct(a['answers'], 99):.1f} ms; {a['webhooks_per_s']:.0f} webhooks/s; correct: "
            f"{a['played_ok']}/{a['n']} played, {a['sessions_ok']}/{a['sessions_checked']} "
            f"sessions; server RSS {a['rss'][0]:.0f} -> {a['rss'][1]:.0f} MiB"
        )
    if b is not None:
        bound = f" (lower bound: {b['censored']} not claimed yet)" if b["censored"] else ""
        print(
            f"B  {b['queued']} queued: claimed {b['claimed']}; lateness {_s(b['late_all'])}"
            f"{bound}; {b['claim_rate']:.0f} claims/s for {b['offered_rate']:.0f} due/s; "
            f"verified users completed {b['real_done']}/{b['real']} due"
        )
    if c is not None:
        series = " ".join(f"{v:.0f}" for v in c["series"])
        print(
            f"C  {c['total']} calls, {c['played_ok']} correct; server RSS MiB "
            f"(start, then after each wave): {series}"
        )
    print("=" * 78)


# -- main -------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 20 calls, 500 queued, 100 long")
    p.add_argument("--calls", type=int, help="part A: concurrent calls (default 200)")
    p.add_argument("--queued", type=int, help="part B: future calls queued (default 10000)")
    p.add_argument("--spread", type=float, help="part B: seconds the due times cover (default 60)")
    p.add_argument(
        "--measure",
        type=float,
        help="part B: count only calls due in the first S seconds; the rest stay queued (e.g. --spread 86400 --measure 120)",
    )
    p.add_argument(
        "--lead", type=float, default=10.0, help="part B: seconds until the first is due"
    )
    p.add_argument(
        "--real", type=int, help="part B: calls to verified users among them (default 5)"
    )
    p.add_argument(
        "--patience",
        type=float,
        help="part B: seconds to wait for the queue to drain after the last call is due "
        "(default: queued/30, within 60..300)",
    )
    p.add_argument("--long", type=int, help="part C: calls in all (default 1000)")
    p.add_argument("--wave", type=int, help="part C: concurrent calls per wave (default 100)")
    p.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="part A: callees pause 0.5x..1.5x this many seconds (under 4) before each spoken "
        "part (default 0: a closed loop with no pauses, i.e. the worst case)",
    )
    p.add_argument(
        "--pace",
        type=float,
        default=1.0,
        help="part A: real seconds per second of call time (Say, speech, end-of-speech "
        "pause); 1 = Twilio's pace (default), 0 = a closed loop with every call answered "
        "at once",
    )
    p.add_argument(
        "--no-gate",
        action="store_true",
        help="with --pace 0: answer each call as soon as it is dialled instead of all at once",
    )
    p.add_argument(
        "--llm",
        choices=("standin", "local"),
        default="local",
        help="the completion check: local (COMPLETION_CHECK=local, the issue's zero-delay "
        "mock LLM; default) or standin (the real Gemini adapter against the Gemini stand-in)",
    )
    p.add_argument("--skip", default="", help="parts to skip, e.g. --skip BC")
    p.add_argument("--log-level", default="INFO", help="LOG_LEVEL of the server and worker")
    p.add_argument("--keep", metavar="DIR", help="keep the logs (and database) in DIR")
    args = p.parse_args()
    if not 0 <= args.think * 1.5 < 6:
        p.error("--think: the longest pause (1.5x) must stay under the Gather timeout of 6 s")
    quick = {"calls": 20, "queued": 500, "spread": 15.0, "real": 2, "long": 100, "wave": 20}
    full = {"calls": 200, "queued": 10_000, "spread": 60.0, "real": 5, "long": 1000, "wave": 100}
    for k, v in (quick if args.quick else full).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.quick and args.lead == 10.0:
        args.lead = 5.0
    return args


async def run(
    stack: Stack, args: argparse.Namespace
) -> tuple[dict | None, dict | None, dict | None]:
    skip = args.skip.upper()
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them
    # under a new request (between waves).
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2)
    a = b = c = None
    async with httpx.AsyncClient(
        base_url=stack.local, timeout=60, limits=limits, trust_env=False
    ) as http:
        needed = max(
            0 if "A" in skip else args.calls,
            0 if "C" in skip else args.wave,
            0 if "B" in skip else args.real,
        )
        users = await sign_up_many(stack, http, 0, needed) if needed else []
        if "A" not in skip:
            gated = not args.no_gate and not args.pace
            a = await part_a(stack, http, users[: args.calls], gated, args.think, args.pace)
        if "C" not in skip:
            c = await part_c(
                stack, http, users[: args.wave], args.long, args.wave, not args.no_gate
            )
        if "B" not in skip:
            b = await part_b(
                stack,
                http,
                users[: args.real],
                args.queued,
                args.spread,
                args.lead,
                args.patience,
                args.measure,
            )
    return a, b, c


def main() -> int:
    args = parse_args()

    def terminate(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp:
        workdir = Path(args.keep).absolute() if args.keep else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        stack = Stack(workdir, args.log_level, args.llm)
        t0 = time.monotonic()
        try:
            print(f"starting the service (work dir {workdir})", flush=True)
            stack.start()
            a, b, c = asyncio.run(run(stack, args))
            summary(args, a, b, c, stack)
            print(f"total {time.monotonic() - t0:.0f} s")
        except KeyboardInterrupt:
            print("\ninterrupted; stopping everything", file=sys.stderr)
            return 130
        except Exception:
            print(f"\nserver log tail:\n{stack.tail('server.log')}", file=sys.stderr)
            print(f"\nworker log tail:\n{stack.tail('worker.log')}", file=sys.stderr)
            raise
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
