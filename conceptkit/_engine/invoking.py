"""Invoking: running one action, from its inputs to its outcome.

``invoke`` validates the inputs (an invalid one is an ``invalid`` failure, recorded
like any outcome), opens the flow's batch when no other invocation encloses it, and
runs the action in its effect scope: ids derived from the action id, writes marked
with it. A root that some sync could react to writes its record as pending just
before its first write (an *intent*, naming the documents that write marks), so a
crash after that write is completed by recovery from the mark. An action that fails
with a transient database error is run again at once, finding its marks first.
Recording the outcome and running the reactions is ``committing``'s job.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError, WTimeoutError

from .. import _context as context
from .. import _effects as effects
from .._concept import OperationSpec
from .._ids import new_id
from .._log.actionlog import RAISED, ActionRecord
from . import committing
from .committing import Batch
from .errors import EngineError, FlowStopped, InvocationError
from .matching import may_match_inputs
from .recovery import replaying

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger("conceptkit.engine")

# An action that fails this way is run again at once (its marked write, if it landed
# before the error, makes the second run return what the first did).
TRANSIENT_DELAYS_S = (0.05, 0.25)


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionFailure | ExecutionTimeout | WTimeoutError):
        return True
    return isinstance(exc, PyMongoError) and exc.has_error_label("RetryableWriteError")


def describe_errors(errors: list[dict[str, Any]]) -> str:
    """Validation errors as one line: ``field: message; ...``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:]) or 'input'}: {e['msg']}" for e in errors
    )


class InvokingMixin:
    """The engine's invocation of actions (mixed into ``Engine``)."""

    async def invoke(
        self: Engine,
        concept: str,
        action: str,
        inputs: Mapping[str, Any],
        *,
        flow: str | None = None,
        cause: list[str] | None = None,
        sync: str | None = None,
        action_id: str | None = None,
        validated: bool = False,
        group_commit: bool = False,
    ) -> dict[str, Any]:
        """Run one action, record it, run its syncs; returns the action's outputs.

        ``group_commit`` writes the records of the reactions together once they have
        run (one write, see ``committing``) instead of one by one: for request turns,
        whose latency it shortens. A crash before that commit replays the reactions,
        which find their marks and return what they returned.

        Raises ``InvocationError`` if the action raised, or if a reaction raised (then
        ``owed``: recovery will run the rest).
        """
        spec = self.operations.get((concept, action))
        if spec is None or spec.kind != "action":
            raise EngineError(f"unknown action {concept}.{action}")
        flow = flow or self.new_flow()
        token = context.flow_id.set(flow)
        batch = committing.current.get()
        # a nested invoke joins its caller's batch
        own = Batch(group=group_commit) if batch is None else None
        batch_token = committing.current.set(own) if own is not None else None
        if own is not None:
            self._open_batches[flow] = own
        stopped: FlowStopped | None = None
        # a caller naming the action id may be running it again (a client's retry)
        again = replaying.set(True) if action_id is not None and sync is None else None
        try:
            record = await self._run(
                spec, dict(inputs), flow, cause or [], sync, action_id, validated
            )
        except FlowStopped as exc:
            stopped = exc
        finally:
            if again is not None:
                replaying.reset(again)
            if batch_token is not None:
                committing.current.reset(batch_token)
            context.flow_id.reset(token)
            if own is not None:
                try:
                    await self._commit(own)
                finally:
                    self._open_batches.pop(flow, None)
                    if stopped is not None:  # what it owes is recovery's, not the heartbeat's
                        for record_id in own.written_pending:
                            self._working.pop(record_id, None)
        if stopped is not None:
            raise InvocationError(stopped.record, owed=True) from None
        if record.raised:
            raise InvocationError(record)
        return record.outputs

    def _may_react_to(self: Engine, spec: OperationSpec, inputs: Mapping[str, Any]) -> bool:
        """Whether some sync could react to this invocation, whatever its outcome."""
        return any(
            may_match_inputs(sync.when[pos], dict(inputs))
            for sync, pos in self._triggers.get((spec.concept, spec.name), ())
        )

    async def _run(
        self: Engine,
        spec: OperationSpec,
        inputs: dict[str, Any],
        flow: str,
        cause: list[str],
        sync: str | None,
        action_id: str | None,
        validated: bool,
    ) -> ActionRecord:
        started = dt.datetime.now(dt.UTC)
        action_id = action_id or new_id()
        if not validated:
            inputs, errors = spec.check_inputs(inputs, "inputs")
            if errors:
                outputs: dict[str, Any] = {
                    "error": describe_errors(errors),
                    "errorKind": "invalid",
                }
                return await self._complete(
                    spec, action_id, flow, inputs, outputs, cause, sync, started, False
                )
        scope = self._scope(spec, action_id)
        if sync is None and self._may_react_to(spec, inputs):
            # A root that may cause reactions: its record is durable before its first write,
            # naming the documents that write will mark (recovery looks there).
            async def intent(targets: list[dict[str, Any]]) -> None:
                if len(targets) > 1:
                    await self.log.add_target(action_id, targets[-1])
                    return
                document = self.log.intent_document(
                    action_id, flow, spec.concept, spec.name, inputs, cause, started,
                    spec.secret, spec.private, targets,
                )  # fmt: skip
                await self.log.write_now(document)
                self._working[action_id] = time.monotonic()

            scope.before_write = intent
        delays = TRANSIENT_DELAYS_S if spec.retry else ()
        for attempt, delay in enumerate((*delays, None)):
            scope.ids = 0  # a second run makes the same ids as the first,
            scope.replaying = scope.replaying or attempt > 0  # and finds its marks first
            token = effects.enter(scope)
            try:
                outputs = await spec.func(**inputs)
                if not isinstance(outputs, dict):
                    raise TypeError(
                        f"{spec.qualname} returned {type(outputs).__name__}, not a dict"
                    )
                break
            except Exception as exc:
                if delay is not None and _transient(exc):
                    log.warning("action %s: %s; trying again", spec.qualname, type(exc).__name__)
                    await asyncio.sleep(delay)
                    continue
                log.exception("action %s raised", spec.qualname)
                outputs = {"error": "internal error", "errorKind": "unavailable", RAISED: True}
                break
            finally:
                effects.leave(token)
        intent = scope.wrote and scope.before_write is not None
        return await self._complete(
            spec, action_id, flow, inputs, outputs, cause, sync, started, intent
        )

    def _scope(self: Engine, spec: OperationSpec, action_id: str) -> effects.Scope:
        ctx = f"{spec.concept}.{spec.name}.out"
        return effects.Scope(
            action_id,
            encode=lambda out: self.log.encode_values(out, spec.secret, spec.private, ctx),
            decode=lambda stored: self.log.decode_values(stored, ctx),
            replaying=replaying.get(),
        )
