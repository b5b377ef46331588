"""The call worker process: `python worker.py`. Assembly only; see services/worker_loop.py."""

from __future__ import annotations

import asyncio
import signal

from services.assembly import concept_app, startup_config
from services.database import make_async_client
from services.worker_loop import CallWorker


async def main() -> int:
    config = startup_config()
    client = make_async_client(config.mongodb_uri)
    app = concept_app(config, client[config.db_name])
    async with app.running():
        worker = CallWorker(app.engine, app.services["clock"], lease_s=config.worker_lease_seconds)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run()
    await client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
