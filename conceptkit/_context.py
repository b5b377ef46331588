"""Context variables that carry the current request and flow through async code.

Logging filters read these, so every log line written while handling a request
or running a flow names it without the code passing ids around.
"""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("conceptkit_request_id", default=None)
flow_id: ContextVar[str | None] = ContextVar("conceptkit_flow_id", default=None)
