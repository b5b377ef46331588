"""Log lines carry the request/flow ids and never the configured secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from conceptkit import flow_id, request_id
from services.app.logs import setup_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Where the logs go; the root logger is restored afterwards (setup_logging replaces it)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield io.StringIO()
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_text_lines_have_time_level_logger_and_message(stream: io.StringIO) -> None:
    setup_logging("INFO", "text", stream=stream)
    logging.getLogger("app.calls").info("dialing %s", "user-1")
    logging.getLogger("app.calls").debug("hidden at INFO")
    [line] = lines(stream)
    stamp, level, name, *message = line.split(" ")
    assert stamp.endswith("Z") and "T" in stamp
    assert (level, name, " ".join(message)) == ("INFO", "app.calls", "dialing user-1")


def test_text_lines_carry_request_and_flow_ids(stream: io.StringIO) -> None:
    setup_logging("INFO", "text", stream=stream)
    req = request_id.set("req-42")
    try:
        logging.getLogger("x").info("only request")
        flow = flow_id.set("flow-7")
        try:
            logging.getLogger("x").info("both")
        finally:
            flow_id.reset(flow)
    finally:
        request_id.reset(req)
    first, second = lines(stream)
    assert "x [req=req-42] only request" in first
    assert "x [req=req-42 flow=flow-7] both" in second


def test_json_lines(stream: io.StringIO) -> None:
    setup_logging("DEBUG", "json", stream=stream)
    logging.getLogger("y").debug("plain")
    token = flow_id.set("flow-9")
    try:
        logging.getLogger("y").warning("with extras", extra={"call_sid": "CA123", "attempt": 2})
    finally:
        flow_id.reset(token)
    plain, extra = (json.loads(line) for line in lines(stream))
    assert plain["level"] == "DEBUG"
    assert plain["request_id"] is None and plain["flow_id"] is None
    assert set(plain) == {"ts", "level", "logger", "msg", "request_id", "flow_id"}
    assert extra["msg"] == "with extras"
    assert extra["logger"] == "y"
    assert extra["flow_id"] == "flow-9"
    assert (extra["call_sid"], extra["attempt"]) == ("CA123", 2)


def test_exceptions_are_included(stream: io.StringIO) -> None:
    setup_logging("INFO", "json", stream=stream)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("z").exception("failed")
    entry = json.loads(stream.getvalue())
    assert "ValueError: boom" in entry["exc"]


def test_configured_secrets_and_credentials_are_masked(stream: io.StringIO) -> None:
    setup_logging("INFO", "text", secrets=["s3cr3t-auth-token"], stream=stream)
    log = logging.getLogger("leaky")
    log.info("twilio said %s", "token s3cr3t-auth-token rejected")
    log.info("connecting to mongodb://app:pa55word@db:27017/x")
    log.info("request with api_key=AIzaXYZ and Authorization: Bearer abc.def")
    log.info('payload {"password": "hunter2"}')
    try:
        raise RuntimeError("auth_token=s3cr3t-auth-token")
    except RuntimeError:
        log.exception("failure")
    output = stream.getvalue()
    for secret in ("s3cr3t-auth-token", "pa55word", "AIzaXYZ", "abc.def", "hunter2"):
        assert secret not in output
    assert "mongodb://app:***@db:27017/x" in output


def test_secret_extras_are_masked_in_json(stream: io.StringIO) -> None:
    setup_logging("INFO", "json", secrets=["very-secret-key"], stream=stream)
    logging.getLogger("j").info("x", extra={"api_key": "abc", "note": "very-secret-key"})
    entry = json.loads(stream.getvalue())
    assert entry["api_key"] == "***"
    assert entry["note"] == "***"


def test_setup_replaces_previous_handlers(stream: io.StringIO) -> None:
    setup_logging("INFO", "text", stream=io.StringIO())
    setup_logging("INFO", "text", stream=stream)
    assert len(logging.getLogger().handlers) == 1
    logging.getLogger("once").info("hello")
    assert len(lines(stream)) == 1


def test_uvicorn_loggers_go_through_our_handler(stream: io.StringIO) -> None:
    uvicorn_logger = logging.getLogger("uvicorn.error")
    uvicorn_logger.addHandler(logging.StreamHandler(io.StringIO()))
    uvicorn_logger.propagate = False
    setup_logging("INFO", "json", stream=stream)
    uvicorn_logger.warning("Started server process")  # uvicorn's --log-level still applies
    assert json.loads(stream.getvalue())["logger"] == "uvicorn.error"


def access(method: str, path: str, status: int) -> None:
    """A line as uvicorn's access logger writes it."""
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", method, path, "1.1", status
    )


def test_answered_polls_are_left_out_of_the_access_log(stream: io.StringIO) -> None:
    setup_logging("INFO", "text", stream=stream)
    setup_logging("INFO", "text", stream=stream)  # a second setup adds no second filter
    logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    quiet = [
        ("GET", "/simulator/api/inbox", 200),
        ("GET", "/simulator/api/calls/CA" + "0" * 32, 200),
        ("GET", "/simulator/api/status", 304),
        ("POST", "/api/CallScheduler/_upcoming", 200),
        ("POST", "/api/Schedule/_nextCall?x=1", 200),
    ]
    logged = [
        ("GET", "/simulator/api/inbox", 401),  # a failed poll
        ("POST", "/api/CallScheduler/_upcoming", 500),
        ("POST", "/api/Calls/now", 200),  # an action
        ("POST", "/api/Accounts/login", 200),
        ("POST", "/simulator/api/calls/CA1/answer", 200),
        ("GET", "/simulator", 200),  # a page
        ("GET", "/static/app.js", 200),
        ("GET", "/api/recordings/" + "a" * 32, 200),
    ]
    for line in [*quiet, *logged]:
        access(*line)
    assert [line.split('"')[1] for line in lines(stream)] == [
        f"{method} {path} HTTP/1.1" for method, path, _ in logged
    ]
