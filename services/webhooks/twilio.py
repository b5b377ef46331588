"""Twilio webhooks → ``Requesting.request`` actions; the syncs' reply → TwiML.

Each webhook is validated against ``X-Twilio-Signature`` (computed over
PUBLIC_BASE_URL + path + query, never the URL this server happens to see)
before anything else: a forged or unsigned request gets 403 and changes
nothing. The request then becomes ``Requesting.request`` carrying a neutral
call event (``services/webhooks/twilio_events.py`` turns Twilio's form fields
into it); what happens next is in ``syncs/``. Their reply is a small structure,
rendered here as TwiML:

    {"say": [text, ...], "listen": "answer" | "rating", "hangup": bool}

If no reply comes in time, the caller hears a short apology and the call is called
back (``services/webhooks/turns.py``). With ``CONVERSATION_TRANSPORT=relay`` the
greeting's reply becomes ``<Connect><ConversationRelay>`` and the rest of the
conversation runs over a WebSocket (``services/webhooks/relay.py``), through the
same syncs.

A retry of a delivery (Twilio's ``I-Twilio-Idempotency-Token`` again) gets the first
delivery's answer and changes nothing (``services/webhooks/replies.py``). A hostile
replay, which can carry any token, is refused by state instead: a turn of a live call
is taken once (``services/webhooks/turn_guard.py``), and the concepts refuse what a
finished call must not take (docs/webhooks.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.webhooks.relay import RelaySettings, relay_routes
from services.webhooks.replies import Reply, WebhookReplies, delivery_key, earlier_reply, keep_reply
from services.webhooks.signature import signed_form
from services.webhooks.texts import text_routes
from services.webhooks.turn_guard import TurnGuard, turn_of
from services.webhooks.turns import APOLOGY, Turns
from services.webhooks.twilio_events import call_sid, event_for
from services.webhooks.twiml import empty_response, say_and_gather, say_and_hangup
from services.webhooks.urls import WEBHOOK_PREFIX, WebhookUrls

__all__ = ["WEBHOOKS", "render_twiml", "webhook_routes"]

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
TWIML = "application/xml"
# <Gather>: the caller's pause that ends their speech, and the wait for speech to begin
SPEECH_TIMEOUT_S = 3
GATHER_TIMEOUT_S = 6


def render_twiml(reply: dict[str, Any], urls: WebhookUrls, *, turn: int = 0) -> str:
    """The TwiML for a sync-composed reply; a listening one names the call's next ``turn``
    (turn_guard.py)."""
    texts = [t for t in reply.get("say", []) if t]
    if reply.get("listen"):
        return say_and_gather(
            texts,
            urls.url(LISTEN[reply["listen"]], turn=turn),
            speech_timeout_s=SPEECH_TIMEOUT_S,
            timeout_s=GATHER_TIMEOUT_S,
        )
    if reply.get("hangup") or texts:
        return say_and_hangup(texts)
    return empty_response()


def _pause(body: dict[str, Any]) -> float:
    """How long the line was quiet before Twilio posted a turn: the end-of-speech pause,
    or (silence) the wait for speech on top of it."""
    silent = body.get("heard") == "silence"
    return float(SPEECH_TIMEOUT_S + GATHER_TIMEOUT_S if silent else SPEECH_TIMEOUT_S)


def webhook_routes(
    engine: Any,
    auth_token: str,
    urls: WebhookUrls,
    *,
    timeout_s: float = 8.0,
    relay: RelaySettings | None = None,
) -> Sequence[BaseRoute]:
    """One POST route per Twilio webhook, all under /webhooks/twilio/; with ``relay``, the
    conversation after the greeting runs over ConversationRelay (services/webhooks/relay.py)."""
    turns = Turns(engine, timeout_s=timeout_s)
    guard = TurnGuard(engine.db)
    # a status callback may wait for an apology's flow, then for its own reply
    replies = WebhookReplies(engine.db, engine.log.sealer, lease_s=2 * timeout_s + 2)

    def endpoint(name: str, is_turn: bool):
        path = f"{WEBHOOK_PREFIX}/{name}"
        listening = name in LISTEN.values()  # a turn of the conversation, named in its URL

        async def handle(request: Request) -> Response:
            form = await signed_form(request, auth_token, urls.base, path)
            if form is None:
                log.warning("refused a webhook with a missing or wrong signature on %s", path)
                return Response("invalid signature", status_code=403, media_type="text/plain")
            fields = dict(form)
            query = dict(parse_qsl(request.url.query))
            turn = turn_of(query) if listening else None
            if isinstance(turn, str):
                return Response(turn, status_code=400, media_type="text/plain")
            event = event_for(name, fields, query)
            raw = await request.body()  # read once by signed_form; Starlette keeps it
            key = delivery_key(request.headers, f"{path}?{request.url.query}", raw)
            earlier = await earlier_reply(replies, key)
            if earlier is not None:  # Twilio's retry of a delivery already answered
                log.info("answered a retried delivery of %s as before", path)
                return Response(earlier.body, earlier.status, media_type=earlier.media_type)
            sid = call_sid(fields)
            if turn is not None and sid and not await guard.take(sid, turn, key):
                log.warning("refused a replay of a turn already taken on %s", path)
                reply = Reply(409, "this turn of the call was taken already", "text/plain")
            else:
                # what a listening reply names: the next turn, or, for a delivery that named
                # none (a call begun before turns were named), the turn the call is at
                if turn is not None:
                    ahead = turn + 1
                elif listening and sid:
                    ahead = await guard.current(sid)
                else:
                    ahead = 0
                reply = await respond(sid, *event, next_turn=ahead)
            if key is not None:
                await keep_reply(replies, key, reply, private=is_turn)
            return Response(reply.body, reply.status, media_type=reply.media_type)

        async def respond(
            sid: str, event_path: str, body: dict[str, Any], *, next_turn: int
        ) -> Reply:
            if name == "status":
                await turns.after_apology(sid)
            if listening:
                body = {**body, "pauseSeconds": _pause(body)}
            output = await turns.run(event_path, body, is_turn=is_turn, label=name)
            if output is None:
                if not is_turn:
                    return Reply(503, "try again", "text/plain")
                turns.apologise(body, name)
                return Reply(200, say_and_hangup([APOLOGY]), TWIML)
            if relay is not None and name == "voice" and output.get("listen"):
                return Reply(200, relay.connect(output, body, urls), TWIML)
            return Reply(200, render_twiml(output, urls, turn=next_turn), TWIML)

        return handle

    routes: list[BaseRoute] = [
        Route(f"{WEBHOOK_PREFIX}/{name}", endpoint(name, turn), methods=["POST"])
        for name, (_, turn) in WEBHOOKS.items()
    ]
    routes += text_routes(turns, auth_token, urls, replies)
    if relay is not None:
        routes += relay_routes(turns, auth_token, urls, relay, replies)
    return routes
