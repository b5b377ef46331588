"""Invariants: the reconciler finds breaches with queries and repairs them with actions.

A toy help desk: no ticket stays open past its age limit. The repair closes it, unless
the ticket is on hold (the action refuses, "not yet"): then nothing changed and the
breach is not counted as repaired, and the next pass finds it again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from conceptkit import (
    ACTIONS,
    Change,
    Computed,
    Concept,
    ConceptApp,
    Invariant,
    action,
    concepts,
    fail,
    hookimpl,
    plugin_manager,
    query,
    vars,
)


class Tickets(Concept):
    """Help-desk tickets: opened at a time, closed once; one on hold cannot be closed."""

    @action
    async def open(self, ticket: str, at: float, hold: bool = False) -> dict[str, Any]:
        doc = {"_id": ticket, "at": at, "hold": hold, "state": "open"}
        opened = await self.store("tickets").create(doc, {"ticket": ticket})
        return fail("that ticket exists already") if opened is None else opened

    @action
    async def release(self, ticket: str) -> dict[str, Any]:
        return await self.store("tickets").change(
            {"_id": ticket},
            lambda doc: Change({"ticket": ticket}, set={"hold": False}),
            missing=fail("no such ticket", "not_found"),
        )

    @action
    async def close(self, ticket: str) -> dict[str, Any]:
        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc["state"] != "open":
                return fail("already closed")
            if doc["hold"]:
                return fail("on hold: not yet", "unavailable")
            return Change({"ticket": ticket}, set={"state": "closed"})

        return await self.store("tickets").change(
            {"_id": ticket}, decide, missing=fail("no such ticket", "not_found")
        )

    @query
    async def _openBefore(self, before: float) -> list[dict[str, Any]]:
        docs = self.collection("tickets").find({"state": "open", "at": {"$lt": before}})
        return [{"ticket": d["_id"]} async for d in docs]

    @query
    async def _state(self, ticket: str) -> list[dict[str, Any]]:
        doc = await self.collection("tickets").find_one({"_id": ticket})
        return [] if doc is None else [{"state": doc["state"]}]


T = concepts("Tickets")[0]
ticket = vars("ticket")[0]

TicketLeftOpen = Invariant(
    "TicketLeftOpen",
    doc="no ticket stays open past its age limit",
    find=[T._openBefore({"before": Computed(lambda f: f["now"] - f["age"])}, {"ticket": ticket})],
    repair=[T.close({"ticket": ticket})],
)


class HelpDesk:
    @hookimpl
    def conceptkit_concepts(self):
        return [Tickets]

    @hookimpl
    def conceptkit_invariants(self):
        return [TicketLeftOpen]


@pytest.fixture
async def desk(async_db) -> AsyncIterator[ConceptApp]:
    app = ConceptApp(plugin_manager(load_entry_points=False, extra=[HelpDesk()]), async_db)
    async with app.running():
        yield app


async def log_of(app: ConceptApp) -> list[tuple[str, str, str | None]]:
    await app.engine.log.flush()
    docs = await app.engine.db[ACTIONS].find({"concept": {"$exists": True}}).to_list(None)
    return [(d["concept"], d["action"], d["sync"]) for d in sorted(docs, key=lambda d: d["seq"])]


async def state(app: ConceptApp, name: str) -> str:
    (row,) = await app.engine.query("Tickets", "_state", {"ticket": name})
    return row["state"]


async def test_a_pass_that_finds_nothing_writes_nothing(desk):
    await desk.engine.invoke("Tickets", "open", {"ticket": "t1", "at": 100.0})
    before = await log_of(desk)
    assert await desk.engine.reconcile(150.0, age=60.0) == [], "50 s old: within its limit"
    assert await log_of(desk) == before


async def test_a_breach_is_recorded_and_repaired_by_the_invariants_actions(desk):
    await desk.engine.invoke("Tickets", "open", {"ticket": "t1", "at": 100.0})
    assert await desk.engine.reconcile(200.0, age=60.0) == ["TicketLeftOpen"]
    assert await state(desk, "t1") == "closed"
    assert (await log_of(desk))[-2:] == [
        ("Reconciling", "breached", None),
        ("Tickets", "close", "RepairTicketLeftOpen"),
    ]
    assert await desk.engine.reconcile(300.0, age=60.0) == [], "repaired: not found again"


async def test_a_repair_its_action_refuses_is_not_counted_and_is_tried_again(desk):
    await desk.engine.invoke("Tickets", "open", {"ticket": "t1", "at": 100.0, "hold": True})
    assert await desk.engine.reconcile(200.0, age=60.0) == [], "refused: nothing repaired"
    assert await state(desk, "t1") == "open"
    await desk.engine.invoke("Tickets", "release", {"ticket": "t1"})
    assert await desk.engine.reconcile(220.0, age=60.0) == ["TicketLeftOpen"]
    assert await state(desk, "t1") == "closed"


async def test_each_breach_is_repaired_once_per_pass(desk):
    for n, at in enumerate([10.0, 20.0, 190.0]):
        await desk.engine.invoke("Tickets", "open", {"ticket": f"t{n}", "at": at})
    assert await desk.engine.reconcile(200.0, age=60.0) == ["TicketLeftOpen"] * 2
    assert [await state(desk, f"t{n}") for n in range(3)] == ["closed", "closed", "open"]
