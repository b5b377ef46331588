"""A completion checker for tests and benchmarks: the local rules, with a delay and a count.

Production serves ``COMPLETION_CHECK=local`` (and mock mode) with the rules themselves,
`services.completion.local.LocalCompletionChecker`; this one adds what only tooling wants:
realistic latency without a network (``delay_s``) and the number of checks (``calls``).
"""

from __future__ import annotations

import asyncio

from services.completion.local import LocalCompletionChecker
from services.completion.port import CompletionVerdict

__all__ = ["MockCompletionChecker"]


class MockCompletionChecker:
    """The local rules behind the async interface, with an optional artificial delay.

    For tests and benchmarks that need a checker with realistic latency but
    no network. `calls` counts checks so tests can assert on usage.
    """

    def __init__(self, delay_s: float = 0.0) -> None:
        if not delay_s >= 0:
            raise ValueError("delay_s must be >= 0")
        self.delay_s = delay_s
        self.calls = 0
        self._rules = LocalCompletionChecker()

    async def check(self, *, question: str, answer: str, pause_seconds: float) -> CompletionVerdict:
        """`CompletionChecker.check`, after sleeping `delay_s`."""
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self._rules.judge(question=question, answer=answer, pause_seconds=pause_seconds)
