"""Request-driven flows: an HTTP request as ``Requesting.request``, answered by syncs.

The generated request-driven routes use ``run_request``, and so can an app's own
endpoints (webhooks) whose reply syncs compose: the request is invoked as an action,
the syncs that react to it do their work and call ``Requesting.respond``, and the
reply goes out as soon as they do, the rest of the flow running on in the background.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import attrs

from .._engine import Engine
from .._ids import new_id

log = logging.getLogger("conceptkit.http")


@attrs.frozen
class Answer:
    """The reply the syncs composed for a request: its body and HTTP status."""

    output: dict[str, Any]
    status: int


async def run_request(
    engine: Engine,
    path: str,
    body: dict[str, Any],
    user: str | None,
    timeout_s: float,
    *,
    group_commit: bool = False,
    client: str | None = None,
) -> Answer | None:
    """Invoke ``Requesting.request`` and wait for the sync-produced response (None on timeout).

    Generated request-driven routes use this, and so can an app's own endpoints
    (webhooks) whose reply is composed by syncs. The reply goes out as soon as a
    sync responds and what the flow recorded up to then is committed; whatever the
    syncs do after responding runs on in the background (``Engine.detach``). The
    timeout bounds the wait: a database that stopped answering yields None in time,
    and the flow, never cut off halfway, finishes or is replayed from the log.
    ``group_commit`` (see ``Engine.invoke``) suits requests someone is waiting on,
    whose replay after a crash could not help them anyway.
    """
    requesting = engine.concepts.get("Requesting")
    if requesting is None:
        raise LookupError("request-driven routes need the Requesting concept registered")
    rid, flow_id = new_id(), engine.new_flow()
    waiting = requesting.expect(rid)  # type: ignore[attr-defined]
    flow = asyncio.ensure_future(
        engine.invoke(
            "Requesting",
            "request",
            {"request": rid, "path": path, "body": body, "user": user, "client": client},
            flow=flow_id,
            validated=True,
            group_commit=group_commit,
        )
    )
    engine.detach(flow)
    flow.add_done_callback(_log_late_failure)

    async def answer() -> dict[str, Any]:
        await asyncio.wait({flow, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not waiting.done():
            flow.result()  # the flow failed: raise that; else it ended without a reply
            await waiting
        await engine.commit_flow(flow_id)  # what led to the reply is durable before it
        return waiting.result()

    try:
        result = await asyncio.wait_for(answer(), timeout_s)
    except TimeoutError:
        return None
    finally:
        requesting.forget(rid)  # type: ignore[attr-defined]
    return Answer(result["output"], result["status"])


def _log_late_failure(flow: asyncio.Future[Any]) -> None:
    if not flow.cancelled() and flow.exception() is not None:
        log.error("a request's flow failed: %s", type(flow.exception()).__name__)
