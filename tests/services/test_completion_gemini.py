"""The Gemini checker, run with the real google-genai SDK against a local stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.completion import CompletionChecker, CompletionVerdict
from services.completion.gemini import (
    GeminiCompletionChecker,
    InvalidModelOutput,
    build_prompt,
    parse_verdict,
)
from services.completion.local import LocalCompletionChecker
from services.devtools.standin.gemini import GeminiStandIn

pytestmark = pytest.mark.filterwarnings(
    # google-genai subclasses aiohttp.ClientSession internally; not ours to fix.
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)

API_KEY = "test-key-not-secret"
QUESTION = "Who are you grateful for today?"
ANSWER = "my sister zanzibar because she called me"  # "zanzibar" marks private text
PRIVATE_WORD = "zanzibar"


@pytest.fixture(scope="module")
def standin() -> Iterator[GeminiStandIn]:
    with GeminiStandIn() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_standin(standin: GeminiStandIn) -> None:
    standin.reset()


@contextlib.asynccontextmanager
async def gemini(standin: GeminiStandIn, **kwargs: Any) -> AsyncIterator[GeminiCompletionChecker]:
    kwargs.setdefault("base_url", standin.base_url)
    checker = GeminiCompletionChecker(API_KEY, **kwargs)
    try:
        yield checker
    finally:
        await checker.aclose()


async def check(
    checker: GeminiCompletionChecker, answer: str = ANSWER, pause: float = 2.5
) -> CompletionVerdict:
    return await checker.check(question=QUESTION, answer=answer, pause_seconds=pause)


def local_verdict(answer: str = ANSWER, pause: float = 2.5) -> CompletionVerdict:
    return LocalCompletionChecker().judge(question=QUESTION, answer=answer, pause_seconds=pause)


def assert_fell_back(verdict: CompletionVerdict, answer: str = ANSWER, pause: float = 2.5) -> None:
    expected = local_verdict(answer, pause)
    assert verdict.source == "local-fallback"
    assert (verdict.is_complete, verdict.confidence) == (expected.is_complete, expected.confidence)


def assert_warned_without_answer(caplog: pytest.LogCaptureFixture, *fragments: str) -> None:
    warnings = [r for r in caplog.records if r.name == "services.completion"]
    assert warnings, "expected a warning on the services.completion logger"
    assert all(r.levelno == logging.WARNING for r in warnings)
    for record in caplog.records:  # no logger at all may leak the answer
        assert PRIVATE_WORD not in record.getMessage()
        assert record.exc_text is None or PRIVATE_WORD not in record.exc_text
    text = " ".join(r.getMessage() for r in warnings)
    for fragment in fragments:
        assert fragment in text


# --- happy path --------------------------------------------------------------


@pytest.mark.asyncio
async def test_structured_output_is_parsed(standin: GeminiStandIn) -> None:
    standin.reply_with_verdict(is_complete=True, confidence=0.87, reasoning="A whole answer.")
    async with gemini(standin) as checker:
        verdict = await check(checker)
    assert verdict == CompletionVerdict(True, 0.87, "A whole answer.", "gemini")


@pytest.mark.asyncio
async def test_incomplete_verdict_is_passed_through(standin: GeminiStandIn) -> None:
    standin.reply_with_verdict(is_complete=False, confidence=0.1, reasoning="Trails off.")
    async with gemini(standin) as checker:
        verdict = await check(checker, answer="my sister and")
    assert verdict == CompletionVerdict(False, 0.1, "Trails off.", "gemini")


@pytest.mark.asyncio
async def test_request_carries_model_key_schema_and_prompt(standin: GeminiStandIn) -> None:
    async with gemini(standin) as checker:
        await check(checker, pause=3.25)
    [request] = standin.requests
    assert request.method == "POST"
    assert request.path.endswith("/models/gemini-2.5-flash:generateContent")
    assert request.model == "gemini-2.5-flash"
    assert request.api_key == API_KEY
    assert request.headers["x-server-timeout"] == "3"  # the SDK got our 2.5 s timeout

    config = request.generation_config
    assert config["responseMimeType"] == "application/json"
    assert config["temperature"] == 0
    schema = config["responseSchema"]
    assert schema["type"] == "OBJECT"
    assert {k: v["type"] for k, v in schema["properties"].items()} == {
        "is_complete": "BOOLEAN",
        "confidence": "NUMBER",
        "reasoning": "STRING",
    }
    assert set(schema["required"]) == {"is_complete", "confidence", "reasoning"}
    # google-genai 3.6 sends this one in snake_case; the API accepts either spelling.
    thinking = config["thinkingConfig"]
    assert thinking.get("thinkingBudget", thinking.get("thinking_budget")) == 0

    assert QUESTION in request.prompt_text
    assert ANSWER in request.prompt_text
    assert "3.2 seconds" in request.prompt_text or "3.3 seconds" in request.prompt_text
    rules = request.system_text.lower()
    for idea in ["meaning", "one or two sentences", "trailing off", "because", "silence"]:
        assert idea in rules


@pytest.mark.asyncio
async def test_other_model_goes_in_the_path_and_keeps_its_thinking(standin: GeminiStandIn) -> None:
    async with gemini(standin, model="gemini-2.5-pro") as checker:
        verdict = await check(checker)
    assert verdict.source == "gemini"
    [request] = standin.requests
    assert request.model == "gemini-2.5-pro"
    assert "thinkingConfig" not in request.generation_config


@pytest.mark.asyncio
async def test_exactly_one_request_per_check(standin: GeminiStandIn) -> None:
    async with gemini(standin) as checker:
        for pause in (1.0, 2.0, 3.0):
            await check(checker, pause=pause)
    assert len(standin.requests) == 3


@pytest.mark.asyncio
async def test_blank_answer_is_judged_locally_without_a_request(standin: GeminiStandIn) -> None:
    async with gemini(standin) as checker:
        verdict = await check(checker, answer="   ")
    assert verdict.source == "local"
    assert not verdict.is_complete
    assert standin.requests == []


@pytest.mark.asyncio
@pytest.mark.parametrize(("sent", "clamped"), [(1.7, 1.0), (-0.4, 0.0), (1, 1.0), (0, 0.0)])
async def test_confidence_is_clamped(standin: GeminiStandIn, sent: float, clamped: float) -> None:
    standin.reply_with_verdict(confidence=sent)
    async with gemini(standin) as checker:
        verdict = await check(checker)
    assert verdict.source == "gemini"
    assert verdict.confidence == clamped


# --- failures fall back --------------------------------------------------------


@pytest.mark.asyncio
async def test_timeout_falls_back_within_the_bound(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    standin.delay(5.0)
    async with gemini(standin, timeout_s=0.5) as checker:
        verdict = await check(checker)
        assert not standin.answered(standin.requests[-1])  # it gave up before the answer
    assert_fell_back(verdict)
    assert len(standin.requests) == 1
    assert_warned_without_answer(caplog, "timed out")


@pytest.mark.asyncio
async def test_default_timeout_is_a_hard_bound(standin: GeminiStandIn) -> None:
    standin.delay(10.0)
    async with gemini(standin) as checker:
        assert checker.timeout_s == 2.5
        verdict = await check(checker)
        assert not standin.answered(standin.requests[-1])  # the 10 s answer was not awaited
    assert_fell_back(verdict)
    assert len(standin.requests) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [500, 503, 429, 400, 403, 404])
async def test_http_error_falls_back_without_retrying(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    standin.reply_with_status(status)
    async with gemini(standin) as checker:
        verdict = await check(checker)
        # 429/500/503 are retryable by SDK default: not here, not even after a backoff
        assert len(standin.requests) == 1
    assert_fell_back(verdict)
    assert_warned_without_answer(caplog, f"HTTP {status}")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "text",
    [
        "not json at all",
        "",
        '{"is_complete": true, "confidence": 0.9',
        '```json\n{"is_complete": true, "confidence": 0.9, "reasoning": "x"}\n```',
        "NaN",
        None,  # no candidates: the prompt was blocked
    ],
    ids=["prose", "empty", "truncated", "fenced", "nan", "blocked"],
)
async def test_malformed_output_falls_back(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture, text: str | None
) -> None:
    standin.reply_with_text(text)
    async with gemini(standin) as checker:
        verdict = await check(checker)
    assert_fell_back(verdict)
    assert len(standin.requests) == 1
    assert_warned_without_answer(caplog, "invalid output")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "payload",
    [
        {"is_complete": "yes", "confidence": 0.9, "reasoning": "x"},
        {"is_complete": 1, "confidence": 0.9, "reasoning": "x"},
        {"is_complete": True, "confidence": "high", "reasoning": "x"},
        {"is_complete": True, "confidence": "0.9", "reasoning": "x"},
        {"is_complete": True, "confidence": True, "reasoning": "x"},
        {"is_complete": True, "confidence": None, "reasoning": "x"},
        {"is_complete": True, "confidence": 0.9, "reasoning": 42},
        {"is_complete": True, "confidence": 0.9},
        {"confidence": 0.9, "reasoning": "x"},
        [True, 0.9, "x"],
        "complete",
        None,
    ],
)
async def test_wrong_types_fall_back(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture, payload: object
) -> None:
    standin.reply_with_json(payload)
    async with gemini(standin) as checker:
        verdict = await check(checker)
    assert_fell_back(verdict)
    assert_warned_without_answer(caplog, "invalid output")


@pytest.mark.asyncio
async def test_non_api_body_falls_back(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    standin.reply_with_raw_body("<html>gateway says hi</html>")
    async with gemini(standin) as checker:
        verdict = await check(checker)
    assert_fell_back(verdict)
    assert_warned_without_answer(caplog)


@pytest.mark.asyncio
async def test_unreachable_server_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    checker = GeminiCompletionChecker(API_KEY, base_url=f"http://127.0.0.1:{port}", timeout_s=1.0)
    try:
        verdict = await check(checker)
    finally:
        await checker.aclose()
    assert_fell_back(verdict)
    assert_warned_without_answer(caplog)


@pytest.mark.asyncio
async def test_a_server_that_drops_the_connection_gets_one_try(
    caplog: pytest.LogCaptureFixture,
) -> None:
    accepted = []
    with socket.socket() as sock:  # a server that hangs up on every connection, counting them
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sock.settimeout(0.05)
        port = sock.getsockname()[1]
        stop = threading.Event()

        def hang_up() -> None:
            while not stop.is_set():
                try:
                    conn, _ = sock.accept()
                except TimeoutError:
                    continue
                accepted.append(conn)
                conn.close()

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        checker = GeminiCompletionChecker(
            API_KEY, base_url=f"http://127.0.0.1:{port}", timeout_s=1.0
        )
        try:
            verdict = await check(checker)
        finally:
            await checker.aclose()
            stop.set()
            thread.join()
    assert len(accepted) == 1  # no implicit reconnect-and-retry
    assert_fell_back(verdict)
    assert_warned_without_answer(caplog)


@pytest.mark.asyncio
async def test_fallback_uses_the_given_checker(standin: GeminiStandIn) -> None:
    class CountingRules(LocalCompletionChecker):
        calls = 0

        async def check(self, **kwargs: Any) -> CompletionVerdict:
            CountingRules.calls += 1
            return await super().check(**kwargs)

    standin.reply_with_status(500)
    async with gemini(standin, fallback=CountingRules()) as checker:
        verdict = await check(checker, answer="my sister and")
    assert CountingRules.calls == 1
    assert verdict.source == "local-fallback"
    assert not verdict.is_complete
    assert "HTTP 500" in verdict.reasoning


@pytest.mark.asyncio
async def test_cancellation_is_not_swallowed(standin: GeminiStandIn) -> None:
    """A hung-up call cancels its check; that must not turn into a fallback verdict."""
    standin.delay(5.0)
    async with gemini(standin) as checker:
        task = asyncio.create_task(check(checker))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# --- construction and helpers -------------------------------------------------


def test_is_a_completion_checker() -> None:
    assert isinstance(GeminiCompletionChecker(API_KEY), CompletionChecker)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_key": ""},
        {"api_key": "  "},
        {"api_key": API_KEY, "model": ""},
        {"api_key": API_KEY, "timeout_s": 0},
        {"api_key": API_KEY, "timeout_s": -1},
        {"api_key": API_KEY, "timeout_s": math.inf},
        {"api_key": API_KEY, "timeout_s": math.nan},
    ],
)
def test_rejects_bad_configuration(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        GeminiCompletionChecker(**kwargs)


def test_prompt_contains_question_answer_and_pause() -> None:
    prompt = build_prompt(question="How was your day?", answer="fine I guess", pause_seconds=4.04)
    assert "How was your day?" in prompt
    assert "fine I guess" in prompt
    assert "4.0 seconds" in prompt
    assert "0.0 seconds" in build_prompt(question="q", answer="a", pause_seconds=math.nan)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=8,
)
verdict_like = st.fixed_dictionaries(
    {"is_complete": json_values, "confidence": json_values, "reasoning": json_values}
)


@settings(max_examples=300, deadline=None)
@given(data=json_values | verdict_like)
def test_parse_verdict_accepts_only_well_typed_output(data: object) -> None:
    try:
        verdict = parse_verdict(data)
    except InvalidModelOutput as exc:
        assert PRIVATE_WORD not in str(exc)
        return
    assert isinstance(data, dict)
    assert isinstance(verdict.is_complete, bool)
    assert 0.0 <= verdict.confidence <= 1.0
    assert verdict.source == "gemini"


def test_parse_verdict_error_messages_do_not_quote_values() -> None:
    with pytest.raises(InvalidModelOutput) as info:
        parse_verdict({"is_complete": PRIVATE_WORD, "confidence": 0.5, "reasoning": "x"})
    assert PRIVATE_WORD not in str(info.value)
    assert json.dumps(PRIVATE_WORD) not in str(info.value)
