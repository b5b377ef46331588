"""Replying to a text in the phone simulator, as the phone it went to would (mock mode only).

The reply goes where Twilio would post it: the signed inbound text webhook
(``/webhooks/twilio/sms``), from the number the service's text went to. The service's
answer (its TwiML ``<Message>``) is kept beside it, as the phone would show the thread.

A reply speaks for its number, so the simulator lets a user reply only to a text sent
for their own account (services/devtools/simulator_ownership.py), to a number they have
verified, and only while a reply from it would act for them or for no one. Typing in
someone else's number (a verification code goes there for you) gives no say over it,
and on a number two accounts verified, one cannot answer the other's missed-day text.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from services.devtools.simulator_calls import SimulatorError
from services.devtools.simulator_ownership import messages_of, owns
from services.webhooks.signature import sign_twilio_request
from syncs import queries

__all__ = ["MAX_REPLY_CHARS", "SimulatorTexts"]

MAX_REPLY_CHARS = 1600  # Twilio's limit on a message body


class SimulatorTexts:
    """A mixin of `PhoneSimulator`: the user replies to a text the service sent them."""

    engine: Any
    events: Any
    auth_token: str
    text_url: str | None
    clock: Callable[[], datetime]
    _http: httpx.AsyncClient | None

    async def reply(self, user: str, sid: str, text: str) -> dict[str, Any]:
        """Send ``text`` back from the number text ``sid`` went to; returns both messages."""
        sent = await self.events.find_one({"_id": sid, **messages_of(user)})
        if sent is None or not owns(sent, user) or sent.get("direction") == "inbound":
            raise SimulatorError(404, "no such text message")
        if sent["to"] not in await queries.verified_numbers_of(self.engine, user):
            raise SimulatorError(
                409, "verify this number first: a reply speaks for the number it comes from"
            )
        speaks_for = await queries.replying_for(self.engine, sent["to"])
        if speaks_for not in (None, user):
            raise SimulatorError(
                409,
                "this number's last missed-day text was for another account; not yours to answer",
            )
        if self.text_url is None or self._http is None:
            raise SimulatorError(409, "replies need the server's public URL; it is not set")
        message_id = "SM" + secrets.token_hex(16)
        params = {
            "MessageSid": message_id,
            "From": sent["to"],
            "To": sent["from"],
            "Body": text,
            "NumMedia": "0",
        }
        headers = {
            "X-Twilio-Signature": sign_twilio_request(self.auth_token, self.text_url, params),
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        }
        mine = self._message(message_id, user, sent["to"], sent["from"], text, "inbound")
        await self.events.insert_one(mine)
        try:
            response = await self._http.post(self.text_url, data=params, headers=headers)
        except httpx.HTTPError as exc:
            raise SimulatorError(502, f"the service could not be reached: {exc}") from exc
        if response.status_code != 200:
            raise SimulatorError(502, f"the service answered {response.status_code}")
        answer = answer_of(response.text)
        theirs = None
        if answer:
            theirs = self._message(
                "SM" + secrets.token_hex(16), user, sent["from"], sent["to"], answer, "reply"
            )
            await self.events.insert_one(theirs)
        return {"sent": mine["_id"], "answer": answer}

    def _message(
        self, sid: str, user: str, sender: str, to: str, body: str, direction: str
    ) -> dict[str, Any]:
        return {
            "_id": sid,
            "kind": "sms",
            "user": user,
            "from": sender,
            "to": to,
            "body": body,
            "direction": direction,
            "createdAt": self.clock(),
        }


def answer_of(twiml: str) -> str | None:
    """The text of a messaging TwiML reply's ``<Message>``, or None for no reply."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError as exc:
        raise SimulatorError(502, f"the service's reply is not TwiML: {exc}") from exc
    found = root.find("Message")
    if found is None:
        return None
    return "".join(found.itertext()).strip() or None
