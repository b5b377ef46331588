"""Completion checking: is a spoken answer finished?

The package's public API is the port (`services.completion.port`); the checkers are
`services.completion.gemini.GeminiCompletionChecker` and the rules in
`services.completion.local`, imported by the assembly only, so importing the port never
loads the Gemini SDK.
"""

from .port import (
    COMPLETE_THRESHOLD,
    CompletionChecker,
    CompletionVerdict,
    VerdictSource,
    should_advance,
)

__all__ = [
    "COMPLETE_THRESHOLD",
    "CompletionChecker",
    "CompletionVerdict",
    "VerdictSource",
    "should_advance",
]
