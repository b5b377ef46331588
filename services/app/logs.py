"""Process-wide logging: text or JSON lines tagged with the current request and flow.

The ids come from conceptkit's `request_id` and `flow_id` ContextVars, so code
never passes them around; a masking filter keeps configured secrets and obvious credentials out
of every line. The access log leaves out answered polls (`QuietPollsFilter`): the phone
simulator and the web app ask for the same state every second or so, which flooded it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from conceptkit import flow_id, request_id

# Attributes every LogRecord has; anything else was passed with `extra=`.
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_CONTEXT_ATTRS = {"request_id", "flow_id"}
_SECRET_NAME = r"auth[_-]?token|api[_-]?key|password|passwd|secret|authorization"
# key=value / "key": "value" pairs whose value is a credential, and URI passwords.
_SECRET_PAIR = re.compile(
    rf"""(?ix)
    ((?:{_SECRET_NAME})
     ["']?\s*[:=]\s*["']?(?:bearer\s+|basic\s+)?)
    [^\s"',;&}}]+
    """
)
_URI_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@/\s]+@")
# Loggers that uvicorn gives their own handlers; we route them through ours.
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


# What pages poll: the simulator's inbox, call and status (GET), and the API's queries
# (POST /api/<Concept>/_<query>: they only read; actions never match).
_SIMULATOR_POLL = re.compile(r"^/simulator/api/(?:inbox|status|calls/[^/?]+)(?:\?.*)?$")
_QUERY = re.compile(r"^/api/[A-Za-z][A-Za-z0-9]*/_[A-Za-z0-9]+(?:\?.*)?$")


class QuietPollsFilter(logging.Filter):
    """Drop the access-log line of a poll that was answered (2xx or 304).

    A poll's answer is the same state again, so its line says nothing; a failed poll, a
    page, an asset and every action are still logged. uvicorn's access records carry
    ``(client, method, path, http version, status)`` as their args."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) != 5:
            return True
        _, method, path, _, status = args
        if not isinstance(status, int) or not (200 <= status < 300 or status == 304):
            return True
        if method == "GET" and isinstance(path, str) and _SIMULATOR_POLL.match(path):
            return False
        return not (method == "POST" and isinstance(path, str) and _QUERY.match(path))


class ContextFilter(logging.Filter):
    """Copy the current request and flow ids onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.flow_id = flow_id.get()
        return True


class SecretMaskFilter(logging.Filter):
    """Replace known secret values and credential-looking pairs with ***."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        text = _URI_PASSWORD.sub(r"\1***@", text)
        return _SECRET_PAIR.sub(r"\1***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.mask(record.getMessage())
        record.args = None
        for key, value in vars(record).items():
            if key in _STANDARD_ATTRS or key in _CONTEXT_ATTRS:
                continue
            if re.search(_SECRET_NAME, key, re.IGNORECASE):
                setattr(record, key, "***")
            elif isinstance(value, str):
                setattr(record, key, self.mask(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        return True


class TextFormatter(logging.Formatter):
    """`time level logger [req=.. flow=..] message`, the ids only when set."""

    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(
            f"{label}={value}"
            for label, value in (("req", record.request_id), ("flow", record.flow_id))
            if value
        )
        context = f" [{ids}]" if ids else ""
        line = (
            f"{_timestamp(record)} {record.levelname} {record.name}{context} {record.getMessage()}"
        )
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, flow_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": record.request_id,
            "flow_id": record.flow_id,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in _CONTEXT_ATTRS:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str)


def _timestamp(record: logging.LogRecord) -> str:
    stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def setup_logging(
    level: str | int = "INFO",
    fmt: str = "text",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Replace the root handlers with one that writes `fmt` ("text"/"json") lines.

    `secrets` are exact values to mask (e.g. `Config.secrets()`). Returns the
    handler, so tests can remove it again.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.addFilter(SecretMaskFilter(secrets))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # httpx logs every request URL at INFO; our clients log what matters themselves.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # twilio logs every REST request with its parameters (phone numbers) at INFO.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    for name in _UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, QuietPollsFilter) for f in access.filters):
        access.addFilter(QuietPollsFilter())  # on the logger: whichever handler writes it
    return handler
