"""Helpers for bench/calls.py: gated callees, a judging Gemini stand-in, process plumbing.

Run as ``python bench/calls_support.py gemini`` to serve the Gemini stand-in in a
process of its own (it prints ``PORT <n>`` once listening and serves until stdin
closes or it is signalled).
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.devtools.call_player import Utterance  # noqa: E402
from services.devtools.callees import ScriptedCallee  # noqa: E402
from services.devtools.standin.gemini import GeminiStandIn, generate_content_response  # noqa: E402
from services.devtools.standin.servers import RoutingTransport  # noqa: E402

# -- callees --------------------------------------------------------------------------


class Gate:
    """Holds ringing calls until `open()`: lets N calls be live at the same moment.

    `pick_up` runs on the Twilio stand-in's loop, `open` on any thread.
    """

    def __init__(self, opened: bool = False) -> None:
        self._lock = threading.Lock()
        self._opened = opened
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self.waiting = 0  # calls ringing at the gate (or let through)

    @property
    def is_open(self) -> bool:
        return self._opened

    def open(self) -> None:
        with self._lock:
            self._opened = True
            loop, event = self._loop, self._event
        if loop is not None and event is not None:
            loop.call_soon_threadsafe(event.set)

    async def wait(self) -> None:
        with self._lock:
            self.waiting += 1
            if self._opened:
                return
            if self._event is None:
                self._loop = asyncio.get_running_loop()
                self._event = asyncio.Event()
            event = self._event
        await event.wait()


class GateHolder:
    """What callees of the next calls do: the gate they ring at (swapped between waves) and
    how long they think before each spoken part (0: they answer at once)."""

    def __init__(self) -> None:
        self.gate = Gate(opened=True)
        self.think_s = 0.0
        self.rng = random.Random(20261125)
        self.callees: list[GatedCallee] = []

    def callee(self, answers: Sequence[Any]) -> GatedCallee:
        if self.think_s > 0:  # each part starts 0.5x..1.5x think_s after listening begins
            parts = [p for a in answers for p in ([a] if isinstance(a, str) else a)]
            answers = [Utterance(p, self.rng.uniform(0.5, 1.5) * self.think_s) for p in parts]
        callee = GatedCallee(self.gate, answers)
        self.callees.append(callee)
        return callee


class GatedCallee(ScriptedCallee):
    """A `ScriptedCallee` whose phone rings until its gate opens, then answers at once."""

    def __init__(self, gate: Gate, answers: Sequence[Any]) -> None:
        super().__init__(answers)
        self._gate = gate
        self.answered_at: float | None = None  # time.perf_counter() of the pick-up
        self.last_heard_at: float | None = None  # of the last thing the service said

    async def pick_up(self, _ring_timeout_s: int) -> str:
        await self._gate.wait()
        self.answered_at = time.perf_counter()
        return "answer"

    async def hear(self, text: str) -> None:
        self.last_heard_at = time.perf_counter()
        await super().hear(text)


def calls_live(callees: Sequence[GatedCallee]) -> tuple[int, float]:
    """Calls live at once (answered, goodbye not yet heard): the peak, and the mean over
    the time from the first answer to the last goodbye."""
    spans = [
        (c.answered_at, c.last_heard_at)
        for c in callees
        if c.answered_at is not None and c.last_heard_at is not None
    ]
    if not spans:
        return 0, 0.0
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    live = peak = 0
    area = 0.0
    last = events[0][0]
    for t, step in events:
        area += live * (t - last)
        last = t
        live += step
        peak = max(peak, live)
    return peak, area / max(events[-1][0] - events[0][0], 1e-9)


def routing_client(public: str, local: str) -> httpx.AsyncClient:
    """The stand-in's webhook client, without httpx's default pool of 100 connections /
    20 kept alive: Twilio opens as many connections as it has webhooks in flight, and
    the pool's queueing would otherwise be counted as server latency."""
    transport = RoutingTransport(public, local)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=2)
    transport.inner = httpx.AsyncHTTPTransport(limits=limits)
    return httpx.AsyncClient(trust_env=False, transport=transport, timeout=30)


# -- Gemini ---------------------------------------------------------------------------

TRAILING = frozenset(
    [
        "and",
        "but",
        "or",
        "so",
        "because",
        "the",
        "a",
        "an",
        "to",
        "of",
        "for",
        "with",
        "um",
        "uh",
        "like",
        "my",
        "i",
        "i'm",
        "was",
        "is",
    ]
)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)


def judge(answer: str) -> bool:
    """Complete unless the answer trails off (ends in a connecting word), like the real model."""
    words = re.findall(r"[a-z']+", answer.lower())
    return bool(words) and words[-1] not in TRAILING and not answer.rstrip().endswith("...")


class JudgingGemini(GeminiStandIn):
    """The Gemini stand-in answering at once with a per-answer verdict (nothing recorded)."""

    async def _generate_content(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        body = json.loads(await request.body() or b"{}")
        texts = [
            p.get("text", "")
            for c in body.get("contents", [])
            for p in (c.get("parts") or [])
            if isinstance(p, dict)
        ]
        found = _ANSWER.search("\n".join(texts))
        complete = judge(found.group(1) if found else "")
        verdict = {
            "is_complete": complete,
            "confidence": 0.9 if complete else 0.2,
            "reasoning": "A full answer." if complete else "Trails off.",
        }
        model = request.path_params["model"]
        return JSONResponse(generate_content_response(json.dumps(verdict), model=model))


def _serve_gemini() -> None:
    standin = JudgingGemini().start()
    print(f"PORT {standin.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    standin.stop()


# -- processes ------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
except (OSError, AttributeError):
    _prctl = None


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the bench dies, even by SIGKILL."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def spawn(cmd: list[str], *, env: dict[str, str], log: Path, **kwargs: Any) -> subprocess.Popen:
    """A child in its own process group (so a terminal Ctrl-C reaches only the bench,
    which then stops children in order) that also dies with the bench."""
    with open(log, "ab") as fh:
        return subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=kwargs.pop("stdout", fh),
            stderr=fh,
            stdin=kwargs.pop("stdin", subprocess.DEVNULL),
            process_group=0,
            preexec_fn=_die_with_parent,
            **kwargs,
        )


def stop_process(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def start_gemini(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    proc = spawn(
        [sys.executable, str(Path(__file__).resolve()), "gemini"],
        env=env,
        log=log,
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if not line.startswith("PORT "):
        stop_process(proc)
        raise RuntimeError(f"the Gemini stand-in did not start (see {log})")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


def rss_mb(pid: int) -> float:
    """Resident set size of a process (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy(seconds: float = 1.0) -> float:
    """Fraction of all CPUs busy over the next `seconds` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100), at least 1
    return ordered[int(rank) - 1]


class Stopwatch:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.t0


if __name__ == "__main__":
    if sys.argv[1:] == ["gemini"]:
        _serve_gemini()
    else:  # `make bench` runs every bench/*.py: nothing to measure here
        print("helpers for bench/calls.py (run that instead)")
