"""Reactions owed by syncs survive a crash of a real process, and run once in effect."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conceptkit import ACTIONS, ConceptApp, plugin_manager
from tests.conceptkit.conftest import TestSealer
from tests.conceptkit.crashing_app import GRACE
from tests.conceptkit.database import async_client
from tests.conceptkit.sample import SamplePlugin

ROOT = Path(__file__).resolve().parents[2]


def crash_at(uri: str, db_name: str, target: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.conceptkit.crashing_app", uri, db_name, target],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]


async def restart_and_read(uri: str, db_name: str) -> tuple[list[dict], list[dict]]:
    client = async_client(uri)
    db = client[db_name]
    try:
        pm = plugin_manager(load_entry_points=False, extra=[SamplePlugin()])
        app = ConceptApp(pm, db, services={"log_sealer": TestSealer()}, recovery_grace_s=GRACE)
        async with app.running():  # start() recovers what was pending
            events = await app.engine.query("Audit", "_events", {"owner": "crash-test"})
        records = await db[ACTIONS].find({}).to_list(None)
        return events, records
    finally:
        await client.close()


@pytest.mark.parametrize(
    "kill_point",
    [
        "Ledger.open",  # the action completed and was logged; its sync had not run
        "Audit.note",  # the sync's action ran and was logged; the cause was not marked done
    ],
)
async def test_owed_reactions_run_exactly_once_after_a_sigkill(mongo_uri, kill_point):
    db_name = f"crash_{uuid.uuid4().hex[:12]}"
    crash_at(mongo_uri, db_name, kill_point)
    await asyncio.sleep(GRACE)  # a pending record is left alone for the grace period
    events, records = await restart_and_read(mongo_uri, db_name)
    assert [e["event"] for e in events] == ["opened"]
    assert not [r for r in records if r.get("pending")]
    # a second restart finds nothing left to do and does not repeat the reaction
    events, _ = await restart_and_read(mongo_uri, db_name)
    assert [e["event"] for e in events] == ["opened"]
    client = async_client(mongo_uri)
    await client.drop_database(db_name)
    await client.close()


async def test_a_live_process_keeps_its_pending_records_during_the_grace_period(sample_app):
    """Recovery must not replay what another live process is still working on."""
    eng = sample_app.engine
    eng.recovery_grace_s = eng.log.recovery_grace_s = 60
    record_doc = {
        "_id": "r-live",
        "seq": 1,
        "flow": "f-live",
        "concept": "Ledger",
        "action": "open",
        "inputs": {"owner": "live"},
        "outputs": {"account": "a1"},
        "cause": [],
        "sync": None,
        "pending": True,
        "retryAt": __import__("time").time() + 60,
    }
    await eng.db[ACTIONS].insert_one(record_doc)
    assert await eng.recover() == 0
    await eng.db[ACTIONS].update_one({"_id": "r-live"}, {"$set": {"retryAt": 0}})
    assert await eng.recover() == 1
    events = await eng.query("Audit", "_events", {"owner": "live"})
    assert [e["event"] for e in events] == ["opened"]
