"""The call worker: plans due calls from schedules, claims due calls, lets syncs dial them,
and reconciles what must hold (syncs/invariants.py) so that no user is ever stuck.

Any number of workers can run: claims are atomic with a lease, and a crashed
worker's lease expires so another takes over. The loop sleeps until the next
thing is due (capped, so calls asked for "now" are noticed within the cap),
never a fixed long poll. Every poll reads first and acts only on what it finds, so
an idle worker writes nothing (the action log grows with work, not with time). On
SIGTERM/SIGINT it stops claiming, lets the call in hand finish its dial, and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
from typing import Any

from conceptkit import Engine, new_id
from syncs import queries

log = logging.getLogger("worker")

PLAN_LEAD = dt.timedelta(seconds=60)  # create the queued call this long before it is due


class CallWorker:
    """One worker process's loops: plan, claim (``claimers`` at once) and reconcile."""

    def __init__(
        self,
        engine: Engine,
        clock: Any,
        *,
        worker_id: str | None = None,
        max_sleep_s: float = 0.5,
        lease_s: int = 60,
        claimers: int = 2,
        stopping: asyncio.Event | None = None,
        reconcile_every_s: float = 20.0,
        limits: dict[str, dt.timedelta] | None = None,
    ) -> None:
        from syncs.invariants import LIMITS

        self.engine = engine
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"
        self.max_sleep_s = max_sleep_s
        self.lease_s = lease_s
        self.claimers = claimers
        self.stopping = stopping or asyncio.Event()
        self.reconcile_every_s = reconcile_every_s
        self.limits = {**LIMITS, **(limits or {})}

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        log.info("worker %s started", self.worker_id)
        await asyncio.gather(
            *(self._claim_loop() for _ in range(self.claimers)),
            self._plan_loop(),
            self._reconcile_loop(),
        )
        log.info("worker %s stopped", self.worker_id)

    async def plan_due(self) -> int:
        """Queue a call for every schedule whose next time is within the lead."""
        now = self.clock.now()
        rows = await queries.schedules_due(self.engine, now + PLAN_LEAD, limit=200)
        for row in rows:
            await queries.plan_next_call(self.engine, row["user"], row["at"])
        return len(rows)

    async def reconcile(self) -> list[str]:
        """Check every invariant now, and repair each breach (returns what was repaired)."""
        return await self.engine.reconcile(self.clock.now(), **self.limits)

    async def claim_one(self) -> bool:
        """Claim one due call (its dial runs in the syncs of the claim). False if none is due.

        It looks first: a claim is an action (logged), a look is not.
        """
        now = self.clock.now()
        if not await queries.is_a_call_due(self.engine, now):
            return False
        out = await queries.claim_due_call(self.engine, self.worker_id, now, self.lease_s)
        return "error" not in out

    async def seconds_until_due(self) -> float:
        due_at = await queries.next_call_due_at(self.engine)
        if due_at is None:
            return self.max_sleep_s
        wait = due_at - self.clock.now().timestamp()
        return min(max(wait, 0.0), self.max_sleep_s)

    async def _claim_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                if await self.claim_one():
                    continue
                delay = await self.seconds_until_due()
            except Exception:
                log.exception("claiming failed; retrying shortly")
                delay = 1.0
            await self._sleep(delay)

    async def _plan_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                await self.plan_due()
            except Exception:
                log.exception("planning failed; retrying shortly")
            await self._sleep(1.0)

    async def _reconcile_loop(self) -> None:
        while not self.stopping.is_set():
            await self._sleep(self.reconcile_every_s)
            if self.stopping.is_set():
                return
            try:
                repaired = await self.reconcile()
                if repaired:
                    log.warning("reconciler repaired: %s", ", ".join(repaired))
            except Exception:
                log.exception("reconciling failed; trying again next pass")

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
