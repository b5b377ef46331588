"""Twilio's inbound text webhook -> the neutral ``/text/received`` event; the reply -> TwiML.

Twilio posts each text sent to our number to ``/webhooks/twilio/sms`` (the number's
"A message comes in" URL). Like the voice webhooks, it is checked against
``X-Twilio-Signature`` over the public URL first: unsigned or forged, it gets 403 and
changes nothing. Twilio's field names stop here: ``From``, ``Body`` and ``MessageSid``
become ``{from, text, messageId}``, and what the syncs answer (syncs/texts.py,
``{"text": ..., "link": path?}``) becomes a ``<Response><Message>`` reply; an empty
answer is an empty ``<Response/>`` (no reply text).

A retried delivery (the same ``I-Twilio-Idempotency-Token``) gets the first reply; a
message delivered twice under a new token is refused by TextMessages, by its id.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from twilio.twiml.messaging_response import MessagingResponse

from services.webhooks.replies import Reply, WebhookReplies, delivery_key, earlier_reply, keep_reply
from services.webhooks.signature import signed_form
from services.webhooks.turns import Turns
from services.webhooks.urls import WEBHOOK_PREFIX, WebhookUrls

__all__ = ["TEXT_RECEIVED", "TEXT_WEBHOOK", "render_message", "text_event", "text_routes"]

log = logging.getLogger("services.webhooks.texts")

TEXT_WEBHOOK = "sms"
TEXT_RECEIVED = "/text/received"
MAX_TEXT = 1600  # Twilio's own limit on a message body
TWIML = "application/xml"


def text_event(form: dict[str, str]) -> dict[str, Any] | None:
    """The neutral event of Twilio's inbound-message form, or None if it is not one."""
    sender, message = form.get("From", "").strip(), form.get("MessageSid", "").strip()
    if not sender or not message:
        return None
    return {"from": sender, "text": form.get("Body", "")[:MAX_TEXT], "messageId": message[:100]}


def render_message(reply: dict[str, Any], base: str) -> str:
    """The TwiML reply: one message with the text (and the link, made absolute), or none."""
    response = MessagingResponse()
    text = str(reply.get("text") or "")
    if reply.get("link"):
        text = f"{text} {base.rstrip('/')}{reply['link']}".strip()
    if text:
        response.message(text)
    return str(response)


def text_routes(
    turns: Turns, auth_token: str, urls: WebhookUrls, replies: WebhookReplies
) -> list[BaseRoute]:
    """The inbound text webhook, signed as the voice webhooks are."""
    path = f"{WEBHOOK_PREFIX}/{TEXT_WEBHOOK}"

    async def handle(request: Request) -> Response:
        form = await signed_form(request, auth_token, urls.base, path)
        if form is None:
            log.warning("refused a text webhook with a missing or wrong signature")
            return Response("invalid signature", status_code=403, media_type="text/plain")
        event = text_event(dict(form))
        if event is None:
            return Response(
                "not an inbound message: From and MessageSid are required",
                status_code=400,
                media_type="text/plain",
            )
        raw = await request.body()  # read once by signed_form; Starlette keeps it
        key = delivery_key(request.headers, f"{path}?{request.url.query}", raw)
        earlier = await earlier_reply(replies, key)
        if earlier is not None:
            log.info("answered a retried delivery of a text as before")
            return Response(earlier.body, earlier.status, media_type=earlier.media_type)
        output = await turns.run(TEXT_RECEIVED, event, is_turn=False, label=TEXT_WEBHOOK)
        if output is None:  # Twilio retries a failed delivery; the message id keeps it once
            reply = Reply(503, "try again", "text/plain")
        else:
            reply = Reply(200, render_message(output, urls.base), TWIML)
        if key is not None:
            await keep_reply(replies, key, reply, private=True)
        return Response(reply.body, reply.status, media_type=reply.media_type)

    return [Route(path, handle, methods=["POST"])]
