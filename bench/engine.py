"""Benchmark: what the engine costs per request, against a hand-written endpoint.

Runs the app in bench/engine_app.py under uvicorn (one process) against the
embedded database (or $MONGODB_URI), then drives it from this process:
  (a) a hand-written Starlette endpoint doing one insert_one
  (b) the same action through a generated route
  (c) (b) plus one sync that fires a second action
and measures the engine's own work per action in-process (no database).
Prints requests/s and p50/p99 latency for each, and the ratios to (a).

Usage: python bench/engine.py [--requests 3000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.storage.embedded_mongo import EmbeddedMongo, free_port  # noqa: E402


async def drive(base: str, path: str, total: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        for _ in range(50):  # warm-up
            await client.post(path, json={"value": 1})
        counter = iter(range(total))

        async def worker() -> None:
            for i in counter:
                t0 = time.perf_counter()
                r = await client.post(path, json={"value": i})
                latencies.append(time.perf_counter() - t0)
                r.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return total / elapsed, latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def engine_overhead(uri: str, n: int = 5000) -> float:
    """Microseconds of engine work per invoke of an action that does no I/O."""
    sys.path.insert(0, str(ROOT / "bench"))
    os.environ["MONGODB_URI"] = uri
    import engine_app

    async with engine_app.concept_app.running():
        eng = engine_app.concept_app.engine
        for _ in range(200):
            await eng.invoke("Bench", "noop", {"value": 1})
        t0 = time.perf_counter()
        for i in range(n):
            await eng.invoke("Bench", "noop", {"value": i})
        per = (time.perf_counter() - t0) / n
    return per * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mongo = None
        uri = os.environ.get("MONGODB_URI")
        if not uri:
            mongo = EmbeddedMongo(Path(tmp))
            mongo.start()
            uri = mongo.uri
        port = free_port()
        env = {
            **os.environ,
            "MONGODB_URI": uri,
            "DB_NAME": "bench_http",
            "PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}",
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "engine_app:app",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT / "bench",
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    httpx.get(base + "/openapi.json", timeout=0.5)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            results = {}
            for label, path in [
                ("(a) raw insert_one", "/raw"),
                ("(b) generated route", "/api/Bench/put"),
                ("(c) route + sync", "/api/Bench/putSynced"),
            ]:
                rps, lat = asyncio.run(drive(base, path, args.requests, args.concurrency))
                results[label] = (rps, pct(lat, 50), pct(lat, 99), statistics.mean(lat) * 1000)
        finally:
            server.terminate()
            server.wait(10)
        overhead_us = asyncio.run(engine_overhead(uri))
        if mongo:
            mongo.stop()
    print(
        f"{args.requests} requests per case, concurrency {args.concurrency}, one uvicorn process, {'embedded nx-27017' if mongo else 'MONGODB_URI'}"
    )
    print(f"{'case':24} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for label, (rps, p50, p99, _) in results.items():
        print(f"{label:24} {rps:8.0f} {p50:8.2f} {p99:8.2f}")
    a = results["(a) raw insert_one"]
    for label in ["(b) generated route", "(c) route + sync"]:
        r = results[label]
        print(
            f"{label} / (a): p50 {r[1] / a[1]:.2f}x, p99 {r[2] / a[2]:.2f}x, throughput {r[0] / a[0]:.2f}x"
        )
    print(f"engine work per action (in-process, no database I/O): {overhead_us:.0f} µs")


if __name__ == "__main__":
    main()
