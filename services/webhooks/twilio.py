"""Twilio webhooks → ``Requesting.request`` actions; the syncs' reply → TwiML.

Each webhook is validated against ``X-Twilio-Signature`` (computed over
PUBLIC_BASE_URL + path + query, never the URL this server happens to see)
before anything else: a forged or unsigned request gets 403 and changes
nothing. The request then becomes ``Requesting.request`` carrying a neutral
call event (``services/webhooks/twilio_events.py`` turns Twilio's form fields
into it); what happens next is in ``syncs/``. Their reply is a small structure,
rendered here as TwiML:

    {"say": [text, ...], "listen": "answer" | "rating", "hangup": bool}

If no reply comes in time (the database is away, a bug), the caller hears a
short apology instead of silence or a Twilio error, and a ``/call/apologised``
event starts a flow that fails the call on our side, so it is called back (the
apology promises it). A status callback for that call waits for that flow first
(in this process), so the hang-up that follows the apology cannot overtake it and
end the call as a plain hang-up with no retry.

A retry of a delivery (Twilio's ``I-Twilio-Idempotency-Token`` again) gets the first
delivery's answer and changes nothing (``services/webhooks/replies.py``). A hostile
replay, which can carry any token, is refused by state instead: see docs/webhooks.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conceptkit import new_id, run_request
from services.app.metrics import METRICS
from services.webhooks.replies import Reply, WebhookReplies, delivery_key
from services.webhooks.signature import validate_twilio_request
from services.webhooks.twilio_events import APOLOGISED, apologised, call_sid, event_for
from services.webhooks.twiml import empty_response, say_and_gather, say_and_hangup
from services.webhooks.urls import WEBHOOK_PREFIX, WebhookUrls

log = logging.getLogger("services.webhooks.twilio")

# name -> (what the webhook is, whether its reply is a conversation turn)
WEBHOOKS: dict[str, tuple[str, bool]] = {
    "voice": ("the callee answered: greet them and ask the first prompt", True),
    "gather": ("speech (or silence) after a prompt: judge it, then listen on or move on", True),
    "rating": ("the spoken answer to the rating question", True),
    "status": (
        "call progress: initiated, ringing, in-progress, completed, busy, no-answer, failed",
        False,
    ),
    "recording": ("the call recording is ready (often after the call ended)", False),
    "transcription": ("Twilio's transcription of the recording", False),
}
# what the syncs' reply listens for next -> the webhook Twilio posts it to
LISTEN = {"answer": "gather", "rating": "rating"}
APOLOGY = "Sorry, something went wrong on our side. We will call you again a little later. Goodbye."
TWIML = "application/xml"


def render_twiml(reply: dict[str, Any], urls: WebhookUrls, speech_timeout_s: int = 3) -> str:
    """The TwiML for a sync-composed reply."""
    texts = [t for t in reply.get("say", []) if t]
    if reply.get("listen"):
        return say_and_gather(
            texts, urls.url(LISTEN[reply["listen"]]), speech_timeout_s=speech_timeout_s, timeout_s=6
        )
    if reply.get("hangup") or texts:
        return say_and_hangup(texts)
    return empty_response()


APOLOGY_RETRIES_S = (0.5, 1, 2, *([5] * 120))  # about ten minutes in all


def webhook_routes(
    engine: Any, auth_token: str, urls: WebhookUrls, *, timeout_s: float = 8.0
) -> Sequence[Route]:
    """One POST route per Twilio webhook, all under /webhooks/twilio/."""
    apologies: dict[str, asyncio.Future[Any]] = {}  # CallSid -> the flow our apology started
    # a status callback may wait for an apology's flow, then for its own reply
    replies = WebhookReplies(engine.db, engine.log.sealer, lease_s=2 * timeout_s + 2)

    def apologise(body: dict[str, Any]) -> None:
        event = apologised(body)
        sid = event["callSid"]
        inputs = {"request": new_id(), "path": APOLOGISED, "body": event, "user": None}
        flow = asyncio.ensure_future(_until_logged(engine, inputs, engine.new_flow(), new_id()))
        engine.detach(flow)
        apologies[sid] = flow
        flow.add_done_callback(lambda done: _forget(apologies, sid, done))

    async def after_apology(sid: str) -> None:
        flow = apologies.get(sid)
        if flow is not None and not flow.done():
            await asyncio.wait({flow}, timeout=timeout_s)

    def endpoint(name: str, is_turn: bool):
        path = f"{WEBHOOK_PREFIX}/{name}"

        async def handle(request: Request) -> Response:
            raw = await request.body()
            form = parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
            ok = validate_twilio_request(
                auth_token, urls.base, path, request.url.query, request.headers, _multi(form), raw
            )
            if not ok:
                log.warning("refused a webhook with a missing or wrong signature on %s", path)
                return Response("invalid signature", status_code=403, media_type="text/plain")
            fields = dict(form)
            event = event_for(name, fields, dict(parse_qsl(request.url.query)))
            key = delivery_key(request.headers, f"{path}?{request.url.query}", raw)
            earlier = await _begin(replies, key)
            if earlier is not None:  # Twilio's retry of a delivery already answered
                log.info("answered a retried delivery of %s as before", path)
                return Response(earlier.body, earlier.status, media_type=earlier.media_type)
            reply = await respond(call_sid(fields), *event)
            if key is not None:
                await _finish(replies, key, reply, private=is_turn)
            return Response(reply.body, reply.status, media_type=reply.media_type)

        async def respond(sid: str, event_path: str, body: dict[str, Any]) -> Reply:
            started = time.perf_counter()
            if name == "status":
                await after_apology(sid)
            try:
                # A conversation turn is latency-bound: its log is one group commit (a
                # crash mid-turn loses the call anyway). Callbacks write record by record,
                # so their replay after a crash skips exactly what ran (a retry is owed).
                answer = await run_request(
                    engine, event_path, body, None, timeout_s, group_commit=is_turn
                )
            except Exception:  # a bug, or the database is away: the caller must not hear an error
                log.exception("handling %s failed", path)
                answer = None
            if answer is None:
                log.error("no reply composed for %s in time", path)
                if not is_turn:
                    return Reply(503, "try again", "text/plain")
                apologise(body)
                METRICS.apologies.labels(name).inc()
                return Reply(200, say_and_hangup([APOLOGY]), TWIML)
            if is_turn:
                METRICS.turn_seconds.labels(name).observe(time.perf_counter() - started)
            return Reply(200, render_twiml(answer.output, urls), TWIML)

        return handle

    return [
        Route(f"{WEBHOOK_PREFIX}/{name}", endpoint(name, turn), methods=["POST"])
        for name, (_, turn) in WEBHOOKS.items()
    ]


async def _until_logged(engine: Any, inputs: dict[str, Any], flow: str, action_id: str) -> None:
    """Start the apology's flow, retrying while the database refuses (an apology comes
    mostly when it is away): the same action id each time, so its effects happen once."""
    for delay in APOLOGY_RETRIES_S:
        try:
            await engine.invoke("Requesting", "request", inputs, flow=flow, action_id=action_id)
            return
        except Exception as exc:  # the database is away: try again shortly
            log.warning("recording an apology failed (%s); retrying", type(exc).__name__)
            await asyncio.sleep(delay)
    log.error("an apology could not be recorded; the reconciler will settle the call")


async def _begin(replies: WebhookReplies, key: str | None) -> Reply | None:
    """The reply an earlier delivery of this one got, if any. If the record cannot be read
    (the database is away), the delivery is handled as new: the concepts refuse what a
    repeat must not change, so this costs at most a repeated reply."""
    if key is None:
        return None
    try:
        return await replies.begin(key)
    except Exception as exc:
        log.warning("webhook retry record unavailable (%s); handling as new", type(exc).__name__)
        return None


async def _finish(replies: WebhookReplies, key: str, reply: Reply, *, private: bool) -> None:
    """Keep the reply for retries; a 503 asks Twilio to try again, so that one is forgotten."""
    try:
        if reply.status >= 500:
            await replies.release(key)
        else:
            await replies.finish(key, reply, private=private)
    except Exception as exc:
        log.warning("webhook reply not kept for retries (%s)", type(exc).__name__)


def _forget(flows: dict[str, asyncio.Future[Any]], key: str, flow: asyncio.Future[Any]) -> None:
    if flows.get(key) is flow:
        del flows[key]


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out
