"""A process that dies (SIGKILL) at a chosen point, for the durability test.

Usage: python -m tests.conceptkit.crashing_app URI DB CONCEPT.ACTION
It opens an account, and kills itself as soon as CONCEPT.ACTION has been
written to the action log, i.e. after the action completed and before the
reactions it owes (or the rest of them) ran.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from conceptkit import ConceptApp, hookimpl, plugin_manager
from tests.conceptkit.conftest import TestSealer
from tests.conceptkit.database import async_client
from tests.conceptkit.sample import SamplePlugin

GRACE = 0.3  # seconds a record may owe reactions before another process takes them over


class KillAt:
    def __init__(self, target: str) -> None:
        self.target = target

    @hookimpl
    def conceptkit_action_recorded(self, record):
        if f"{record.concept}.{record.action}" == self.target:
            os.kill(os.getpid(), signal.SIGKILL)


async def main(uri: str, db_name: str, target: str) -> None:
    db = async_client(uri)[db_name]
    pm = plugin_manager(load_entry_points=False, extra=[SamplePlugin(), KillAt(target)])
    app = ConceptApp(pm, db, services={"log_sealer": TestSealer()}, recovery_grace_s=GRACE)
    async with app.running():
        await app.engine.invoke("Ledger", "open", {"owner": "crash-test", "label": "durable"})
        await app.engine.log.flush()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
