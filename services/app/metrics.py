"""What operators watch, in Prometheus text format: calls, turns, verdicts, repairs, the log.

Each process counts what happens in it (the worker places calls and repairs
invariants; the server answers webhooks), in one registry per process, as
Prometheus expects: scrape both. The server serves ``GET /metrics`` only with
``Authorization: Bearer $METRICS_TOKEN`` (unset: no route at all); the worker serves
its own on ``METRICS_HOST:WORKER_METRICS_PORT`` (loopback unless told otherwise).

Counts come from the action log as records are written (an observer of the engine),
so they follow what happened, not what was attempted. docs/metrics.md lists them.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

log = logging.getLogger("services.app.metrics")

MISSED_OUTCOMES = {"NO_ANSWER", "BUSY", "VOICEMAIL", "FAILED"}
TURN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 8.0, 15.0)


class Metrics:
    """The service's counters and histograms, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls_placed = Counter(
            "reflection_calls_placed",
            "Calls the provider placed: dialled, or adopted after an unclear dial",
            ["how"],
            registry=r,
        )
        self.calls_answered = Counter(
            "reflection_calls_answered", "Calls a person answered", registry=r
        )
        self.calls_missed = Counter(
            "reflection_calls_missed",
            "Attempts that did not reach the user, by outcome",
            ["outcome"],
            registry=r,
        )
        self.calls_failed = Counter(
            "reflection_calls_failed",
            "Scheduled calls given up: every attempt missed, or never placed",
            registry=r,
        )
        self.turn_seconds = Histogram(
            "reflection_webhook_turn_seconds",
            "Time to answer a conversation webhook (the caller waits on the line)",
            ["webhook"],
            buckets=TURN_BUCKETS,
            registry=r,
        )
        self.apologies = Counter(
            "reflection_turn_apologies",
            "Conversation turns that got no reply in time: the caller heard the apology",
            ["webhook"],
            registry=r,
        )
        self.verdicts = Counter(
            "reflection_completion_verdicts",
            "Is-the-answer-complete verdicts, by who judged and what they said",
            ["source", "verdict"],
            registry=r,
        )
        self.repairs = Counter(
            "reflection_reconciler_repairs",
            "Invariant breaches the reconciler repaired, by invariant",
            ["invariant"],
            registry=r,
        )
        self.flush_failures = Counter(
            "conceptkit_action_log_flush_failures",
            "Action-log writes that failed and were queued for retry",
            registry=r,
        )
        self.log_quarantined = Counter(
            "conceptkit_log_records_quarantined",
            "Action-log records that could never be stored, kept redacted instead, by error",
            ["reason"],
            registry=r,
        )
        self.replayed = Counter(
            "conceptkit_owed_reactions_replayed",
            "Records whose owed reactions a recovery pass replayed",
            registry=r,
        )
        self.replays_given_up = Counter(
            "conceptkit_replays_given_up",
            "Records whose reactions kept failing and were given up (kept in the log)",
            registry=r,
        )

    # -- feeding ------------------------------------------------------------------------

    def watch(self, engine: Any) -> None:
        """Count from this engine's records, repairs, replays, log failures and quarantines."""
        engine.observers.append(self.record)
        engine.repair_observers.append(lambda invariant: self.repairs.labels(invariant).inc())
        engine.recovery_observers.append(self._recovery)
        engine.log.failure_observers.append(lambda: self.flush_failures.inc())
        engine.log.quarantine_observers.append(lambda why: self.log_quarantined.labels(why).inc())

    def record(self, record: Any, pending: bool = False) -> None:
        """One action record as it is written to the log."""
        if not record.completed or record.is_error:
            return
        out, key = record.outputs, (record.concept, record.action)
        if key == ("Dialer", "dial") and out.get("callSid"):
            self.calls_placed.labels("adopted" if out.get("adopted") else "dialled").inc()
        elif key == ("Dialer", "reconcile") and out.get("placed"):
            self.calls_placed.labels("adopted").inc()
        elif key == ("PhoneCall", "markConnected"):
            self.calls_answered.inc()
        elif key == ("PhoneCall", "markMissed"):
            self.calls_missed.labels(out.get("outcome", "VOICEMAIL")).inc()
        elif key == ("PhoneCall", "applyStatus") and out.get("changed"):
            outcome = out.get("outcome")
            if outcome == "ABANDONED" and not out.get("reflectionStarted"):
                self.calls_missed.labels("HUNG_UP").inc()
            elif outcome in MISSED_OUTCOMES:
                self.calls_missed.labels(outcome).inc()
        elif key == ("CallScheduler", "recordMissed") and out.get("status") == "FAILED":
            self.calls_failed.inc()
        elif key == ("AnswerCheck", "judge"):
            self.verdicts.labels(out.get("source", "?"), out.get("verdict", "?")).inc()

    def _recovery(self, event: str, record: Any) -> None:
        (self.replayed if event == "replayed" else self.replays_given_up).inc()

    # -- serving ------------------------------------------------------------------------

    def text(self) -> bytes:
        return generate_latest(self.registry)

    def route(self, token: str) -> Route:
        """``GET /metrics``, for a bearer of ``token`` only (anyone else: 404, as if absent)."""

        async def metrics(request: Request) -> Response:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                return Response("no such route", status_code=404, media_type="text/plain")
            return Response(self.text(), media_type=CONTENT_TYPE_LATEST)

        return Route("/metrics", metrics, methods=["GET"])

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """The worker's own /metrics on its own port (a thread of prometheus_client)."""
        start_http_server(port, addr=host, registry=self.registry)
        log.info("metrics on http://%s:%d/metrics", host, port)


# One per process, as Prometheus counts: the server and the worker each have theirs.
METRICS = Metrics()
