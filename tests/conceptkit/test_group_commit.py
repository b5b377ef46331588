"""Group commit: a flow costs one pending write for its cause and one ordered write for
everything its reactions recorded; a commit the database refuses is kept and retried."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from typing import Any

from pymongo import monitoring

from conceptkit import (
    ACTIONS,
    Concept,
    ConceptApp,
    Sync,
    action,
    concepts,
    hookimpl,
    plugin_manager,
    run_request,
    vars,
)
from tests.conceptkit.conftest import TestSealer
from tests.conceptkit.database import EmbeddedServer, async_client, free_port
from tests.conceptkit.sample import SamplePlugin


class LogWrites(monitoring.CommandListener):
    """The write commands sent to the action log collection."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, int]] = []  # (command, documents)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command.get(event.command_name) != ACTIONS:
            return
        if event.command_name == "insert":
            self.writes.append(("insert", len(event.command["documents"])))
        elif event.command_name == "update":
            self.writes.append(("update", len(event.command["updates"])))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_a_flow_is_logged_in_one_pending_write_and_one_commit(mongo_uri):
    listener = LogWrites()
    client = async_client(mongo_uri, event_listeners=[listener])
    db = client[f"gc_{time.time_ns()}"]
    pm = plugin_manager(load_entry_points=False, extra=[SamplePlugin()])
    app = ConceptApp(pm, db, services={"log_sealer": TestSealer()})
    try:
        async with app.running():
            eng = app.engine
            acct = (await eng.invoke("Ledger", "open", {"owner": "ann"}))["account"]
            await eng.log.flush()
            listener.writes.clear()
            await eng.invoke(
                "Ledger",
                "deposit",
                {"owner": "ann", "account": acct, "amount": 6000},
                flow="f",
                group_commit=True,
            )
            # the deposit's intent (pending, before its write), its outcome written over
            # it, then in one ordered insert: AuditRich's firing (its where read the
            # accounts), its note, and AuditLargeDeposit's note
            assert listener.writes == [("insert", 1), ("update", 1), ("insert", 3)]
            await eng.log.flush()
            assert listener.writes[3:] == [("update", 1)]  # the deposit marked done, later
            docs = await db[ACTIONS].find({"flow": "f"}).sort("seq", 1).to_list(None)
            assert [(d["action"], d["sync"], d["pending"]) for d in docs] == [
                ("deposit", None, False),
                ("note", "AuditRich", False),
                ("note", "AuditLargeDeposit", False),
            ]
            # without group commit (the default) each record is written when it completes
            listener.writes.clear()
            await eng.invoke(
                "Ledger", "deposit", {"owner": "ann", "account": acct, "amount": 6000}, flow="g"
            )
            assert listener.writes == [
                ("insert", 1),  # the intent
                ("update", 1),  # its outcome
                ("insert", 1),  # AuditRich's firing
                ("insert", 1),  # its note
                ("insert", 1),  # AuditLargeDeposit's note
            ]
    finally:
        await client.drop_database(db.name)
        await client.close()


class Switch(Concept):
    """An action that stops the database: its own record cannot be committed."""

    name = "Switch"
    server: EmbeddedServer | None = None

    @action
    async def flip(self, label: str) -> dict[str, Any]:
        return {"label": label}

    @action
    async def stopDatabase(self, label: str) -> dict[str, Any]:
        assert self.server is not None
        await asyncio.to_thread(self.server.stop)
        return {"stopped": label}

    @action
    async def freezeDatabase(self, seconds: float) -> dict[str, Any]:
        """The database stops answering (SIGSTOP) for a while, then carries on."""
        assert self.server is not None and self.server.pid is not None
        os.kill(self.server.pid, signal.SIGSTOP)
        threading.Timer(seconds, os.kill, (self.server.pid, signal.SIGCONT)).start()
        return {}


S, R = concepts("Switch Requesting")


class SwitchPlugin:
    @hookimpl
    def conceptkit_concepts(self):
        return [Switch]

    @hookimpl
    def conceptkit_syncs(self):
        lbl, request = vars("label request")
        return [
            Sync(
                "StopAfterFlip",
                when=[S.flip({"label": lbl}, {})],
                then=[S.stopDatabase({"label": lbl})],
            ),
            Sync(
                "FreezeThenAnswer",
                when=[R.request({"path": "/freeze"}, {"request": request})],
                then=[
                    S.freezeDatabase({"seconds": 1.0}),
                    R.respond({"request": request, "output": {"ok": True}}),
                ],
            ),
        ]


async def test_a_commit_the_database_refuses_is_kept_and_written_when_it_returns(tmp_path):
    port = free_port()
    server = EmbeddedServer(tmp_path / "db", port=port)
    uri = server.start()
    Switch.server = server
    client = async_client(uri, serverSelectionTimeoutMS=500)
    db = client["outage"]
    pm = plugin_manager(load_entry_points=False, extra=[SwitchPlugin()])
    app = ConceptApp(pm, db, services={"log_sealer": TestSealer()}, recovery_grace_s=3600)
    back = EmbeddedServer(tmp_path / "db", port=port)
    try:
        async with app.running():
            out = await app.engine.invoke(
                "Switch", "flip", {"label": "x"}, flow="f", group_commit=True
            )
            assert out == {"label": "x"}  # the flow ran; its commit failed and was queued
            back.start()  # the database is back (it answers ping)
            # a flush that returns has written everything queued, the owed commit first;
            # the client may take a few tries to find the restarted server again
            for _ in range(100):
                try:
                    await app.engine.log.flush()
                    break
                except Exception:
                    await asyncio.sleep(0.2)
            docs = await db[ACTIONS].find({"flow": "f"}).sort("seq", 1).to_list(None)
            assert len(docs) == 2 and not docs[0]["pending"], f"queued commit not written: {docs}"
            assert [(d["action"], d["sync"]) for d in docs] == [
                ("flip", None),
                ("stopDatabase", "StopAfterFlip"),
            ]
    finally:
        Switch.server = None
        await client.close()
        server.stop()
        back.stop()


async def test_a_reply_that_times_out_mid_commit_loses_no_record(tmp_path):
    """The database freezes after the flow's actions ran: the commit before the reply
    waits, the reply's timeout passes (the caller gets None), and every record still
    lands, in order and marked done, once the database is back."""
    server = EmbeddedServer(tmp_path / "db")
    uri = server.start()
    Switch.server = server
    client = async_client(uri)
    db = client["freeze"]
    pm = plugin_manager(load_entry_points=False, extra=[SwitchPlugin()])
    app = ConceptApp(pm, db, services={"log_sealer": TestSealer()}, recovery_grace_s=3600)
    try:
        async with app.running():
            answer = await run_request(
                app.engine, "/freeze", {}, None, timeout_s=0.3, group_commit=True
            )
            assert answer is None
            await app.engine.settle()
            await app.engine.log.flush()
            docs = await db[ACTIONS].find({}).sort("seq", 1).to_list(None)
            assert [(d["action"], d["pending"]) for d in docs] == [
                ("request", False),
                ("freezeDatabase", False),
                ("respond", False),
            ]
    finally:
        Switch.server = None
        await client.close()
        server.stop()
