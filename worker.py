"""The call worker process: `python worker.py`. Assembly only; see services/app/worker_loop.py."""

from __future__ import annotations

import signal
import sys


def _stop_while_starting(signum: int, frame: object) -> None:
    sys.exit(0)  # nothing is in hand yet


signal.signal(signal.SIGTERM, _stop_while_starting)
signal.signal(signal.SIGINT, _stop_while_starting)

import asyncio  # noqa: E402
import datetime as dt  # noqa: E402

from services.app.assembly import concept_app, startup_config  # noqa: E402
from services.app.metrics import METRICS  # noqa: E402
from services.app.worker_loop import CallWorker  # noqa: E402
from services.storage.database import make_async_client  # noqa: E402


async def main() -> int:
    # Signals are caught from the start, so a stop during start-up is clean too.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    config = startup_config()
    if config.worker_metrics_port:
        METRICS.serve(config.worker_metrics_port, config.metrics_host)
    client = make_async_client(config.mongodb_uri)
    app = concept_app(config, client[config.db_name])
    try:
        async with app.running():
            clock = app.services["clock"]
            settle = dt.timedelta(seconds=config.reconcile_settle_seconds)
            worker = CallWorker(
                app.engine,
                clock,
                lease_s=config.worker_lease_seconds,
                stopping=stop,
                reconcile_every_s=config.reconcile_every_seconds,
                limits={"settle": settle, "idleCall": settle},
            )
            await worker.run()
    finally:
        await client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
