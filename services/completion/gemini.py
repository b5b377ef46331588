"""Completion checking with Gemini, falling back to the local rules.

A model judges meaning far better than word lists ("My sister." is a whole
answer to "Who are you grateful for?"), but it sits on the critical path of
a live phone call. So every check is hard-bounded by `timeout_s`, never
retried, and any timeout, error or malformed reply quietly becomes a local
verdict (source "local-fallback") plus a warning that never includes the
answer text, which is private.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from typing import Any

from google import genai
from google.genai import errors, types

from services.completion.local import LocalCompletionChecker
from services.completion.port import CompletionVerdict

__all__ = ["DEFAULT_MODEL", "GeminiCompletionChecker", "build_prompt"]

logger = logging.getLogger("services.completion")

DEFAULT_MODEL = "gemini-2.5-flash"
_MAX_REASONING_CHARS = 500

SYSTEM_INSTRUCTION = """\
You help a phone service that asks people one reflection question a day and \
listens to their spoken reply. After each silence, decide whether the person \
has finished answering or is still in the middle of a thought, so the service \
neither interrupts them nor leaves them waiting.

Guidelines:
- Judge by meaning, not by length. One or two sentences, or even a few \
words, can be a complete answer: "My sister." fully answers "Who are you \
grateful for?".
- Trailing off means not finished: an answer ending in a connecting word or \
filler such as "and", "but", "because", "so", "the", "to", "um", "like", \
"you know", or ending in "..." or a cut-off word, is incomplete however long \
the silence.
- The transcript comes from speech recognition, so punctuation is often \
missing or wrong; do not rely on it.
- The longer the silence, the more likely the person is done: around 2 seconds \
after a finished thought usually means done; 6 seconds or more after anything \
that does not trail off strongly suggests done.
- An empty answer or a lone filler ("um", "well") is not complete.

Reply with JSON only:
- is_complete: true if the person has finished answering.
- confidence: the probability, from 0.0 to 1.0, that the person has finished \
(0.0 = surely mid-thought, 1.0 = surely done).
- reasoning: one short sentence explaining why."""

RESPONSE_SCHEMA = types.Schema(
    type=types.Type.OBJECT,
    properties={
        "is_complete": types.Schema(type=types.Type.BOOLEAN),
        "confidence": types.Schema(type=types.Type.NUMBER),
        "reasoning": types.Schema(type=types.Type.STRING),
    },
    required=["is_complete", "confidence", "reasoning"],
)


class InvalidModelOutput(ValueError):
    """The model replied, but not with a usable verdict. Messages never quote the output."""


def build_prompt(*, question: str, answer: str, pause_seconds: float) -> str:
    """The per-check part of the prompt: the question, the answer so far, the pause."""
    pause = pause_seconds if math.isfinite(pause_seconds) and pause_seconds > 0 else 0.0
    return (
        f"Question asked:\n<question>{question}</question>\n\n"
        f"Answer so far (speech-to-text transcript):\n<answer>{answer}</answer>\n\n"
        f"Silence since the last word: {pause:.1f} seconds\n\n"
        "Has the person finished answering?"
    )


def parse_verdict(data: object) -> CompletionVerdict:
    """Validate the model's JSON strictly (no coercion of "true" or "0.9") and clamp confidence."""
    if not isinstance(data, dict):
        raise InvalidModelOutput(f"expected a JSON object, got {type(data).__name__}")
    is_complete = data.get("is_complete")
    confidence = data.get("confidence")
    reasoning = data.get("reasoning")
    if not isinstance(is_complete, bool):
        raise InvalidModelOutput(f"is_complete is {type(is_complete).__name__}, expected bool")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise InvalidModelOutput(f"confidence is {type(confidence).__name__}, expected number")
    if not math.isfinite(confidence):
        raise InvalidModelOutput("confidence is not a finite number")
    if not isinstance(reasoning, str):
        raise InvalidModelOutput(f"reasoning is {type(reasoning).__name__}, expected string")
    return CompletionVerdict(
        is_complete=is_complete,
        confidence=min(max(float(confidence), 0.0), 1.0),
        reasoning=reasoning.strip()[:_MAX_REASONING_CHARS],
        source="gemini",
    )


def _response_data(response: types.GenerateContentResponse) -> object:
    """The reply's JSON: `parsed` when the SDK managed, else the raw text."""
    if isinstance(response.parsed, dict):
        return response.parsed
    text = response.text
    if not text:
        candidates = response.candidates or []
        finish = candidates[0].finish_reason if candidates else None
        raise InvalidModelOutput(f"no text in the reply (finish reason: {finish})")
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidModelOutput("reply text is not JSON") from None


def _thinking_config(model: str) -> types.ThinkingConfig | None:
    """2.5 Flash thinks by default, which costs seconds we don't have; this task needs none.

    Other models keep their defaults (2.5 Pro, for one, rejects a zero budget).
    """
    if model.startswith("gemini-2.5-flash"):
        return types.ThinkingConfig(thinking_budget=0)
    return None


def _describe_failure(exc: BaseException, timeout_s: float) -> str:
    """A log-safe reason: exception type and status only, since messages may echo content."""
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout_s:g}s"
    if isinstance(exc, errors.APIError):
        return f"HTTP {exc.code} ({type(exc).__name__})"
    if isinstance(exc, InvalidModelOutput):
        return f"invalid output: {exc}"
    return type(exc).__name__


class GeminiCompletionChecker:
    """`CompletionChecker` backed by Gemini structured output, bounded and fail-soft."""

    def __init__(
        self,
        api_key: str,
        model: str = DEFAULT_MODEL,
        timeout_s: float = 2.5,
        base_url: str | None = None,
        fallback: LocalCompletionChecker | None = None,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ValueError("a Gemini API key is required")
        if not model or not model.strip():
            raise ValueError("a Gemini model name is required")
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError("timeout_s must be a positive number of seconds")
        self.model = model
        self.timeout_s = timeout_s
        self._fallback = fallback if fallback is not None else LocalCompletionChecker()
        http_options: dict[str, Any] = {
            # The SDK default is no timeout at all; this is in milliseconds.
            "timeout": max(1, math.ceil(timeout_s * 1000)),
            # One attempt: a retry could never finish inside the budget. Setting
            # this also disables the SDK's implicit connection-error retry.
            "retry_options": types.HttpRetryOptions(attempts=1),
        }
        if base_url:
            http_options["base_url"] = base_url
        self._client = genai.Client(
            enterprise=False, api_key=api_key, http_options=types.HttpOptions(**http_options)
        )
        self._config = types.GenerateContentConfig(
            system_instruction=SYSTEM_INSTRUCTION,
            response_mime_type="application/json",
            response_schema=RESPONSE_SCHEMA,
            temperature=0,
            thinking_config=_thinking_config(model),
        )

    async def check(self, *, question: str, answer: str, pause_seconds: float) -> CompletionVerdict:
        """Ask Gemini once, within `timeout_s`; on any failure use the local rules."""
        if not (answer or "").strip():
            # Nothing to judge; no need to spend a request (or the latency) on it.
            return await self._fallback.check(
                question=question, answer=answer, pause_seconds=pause_seconds
            )
        started = time.monotonic()
        try:
            response = await asyncio.wait_for(
                self._client.aio.models.generate_content(
                    model=self.model,
                    contents=build_prompt(
                        question=question, answer=answer, pause_seconds=pause_seconds
                    ),
                    config=self._config,
                ),
                timeout=self.timeout_s,
            )
            return parse_verdict(_response_data(response))
        except Exception as exc:  # any failure at all must degrade, never break the call
            reason = _describe_failure(exc, self.timeout_s)
            elapsed_ms = (time.monotonic() - started) * 1000
            logger.warning(
                "Gemini completion check failed after %.0f ms (model %s): %s; using local rules",
                elapsed_ms,
                self.model,
                reason,
            )
            local = await self._fallback.check(
                question=question, answer=answer, pause_seconds=pause_seconds
            )
            return CompletionVerdict(
                is_complete=local.is_complete,
                confidence=local.confidence,
                reasoning=f"Gemini {reason}; local rules: {local.reasoning}",
                source="local-fallback",
            )

    async def aclose(self) -> None:
        """Release the SDK's connection pools (call on shutdown)."""
        await self._client.aio.aclose()
