"""The conversation over Twilio ConversationRelay: a WebSocket per call, the same syncs.

With ``CONVERSATION_TRANSPORT=relay`` the greeting's reply is rendered as
``<Connect><ConversationRelay>`` (``RelaySettings.connect``): Twilio speaks the greeting
and the first prompt at once, then streams the caller's words here as text. Each of the
caller's turns becomes the neutral event a ``<Gather>`` result becomes (relay_events.py),
run through ``Turns``; the syncs' reply goes back as ``text`` tokens, or, when the call is
over, as the ``end`` message whose hand-off the session-ended callback renders as TwiML
(so the goodbye is spoken by ``<Say>`` and never cut short by the session closing).

What the transport adds, because Twilio's side keeps no turn state:

- the upgrade is signed (``X-Twilio-Signature`` over the public ``wss://`` URL, no
  parameters): a missing or wrong one is refused before the socket opens (403);
- one session per call (``RelaySessions``): a replayed upgrade cannot talk into a call;
- a silence timer per turn, the Gather policy (nudge, ask once more, move on) run by the
  same syncs, since ConversationRelay has no Gather timeout;
- an acknowledgement ("Mm-hm.") when the completeness check is slow, so the caller is
  not left in silence (``RelaySettings.ack_after_s``);
- the caller's words are never logged.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

import attrs
from pymongo.errors import DuplicateKeyError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from services.webhooks.relay_events import session_ended
from services.webhooks.relay_session import RelaySession
from services.webhooks.replies import Reply, WebhookReplies, delivery_key, earlier_reply, keep_reply
from services.webhooks.signature import multi_params, validate_twilio_request
from services.webhooks.turns import APOLOGY, Turns
from services.webhooks.twiml import connect_relay, empty_response, say_and_hangup
from services.webhooks.urls import WEBHOOK_PREFIX, WebhookUrls

__all__ = ["RelaySessions", "RelaySettings", "relay_routes"]

log = logging.getLogger("services.webhooks.relay")

SOCKET, ENDED = "relay", "relay-ended"
TWIML = "application/xml"
MAX_HANDOFF_TEXTS, MAX_HANDOFF_CHARS = 8, 2000


@attrs.frozen
class RelaySettings:
    """How ConversationRelay is asked to run a call (docs/configuration.md, docs/webhooks.md)."""

    # the caller's pause that ends a turn; the completeness check, not this pause, decides
    # whether the answer is whole, so it can be short
    speech_timeout_ms: int = 1000
    silence_s: float = 6.0  # the Gather's wait for speech: nothing heard this long is silence
    # an answer judged unfinished after the short pause is judged again after this much
    # quiet (the Gather's end-of-speech pause), before silence has the last word
    recheck_pause_s: float = 3.0
    ack_after_s: float = 0.8  # a verdict slower than this gets a spoken acknowledgement first
    # how fast Twilio's text-to-speech speaks, roughly: the silence timer starts once our
    # words have been heard, and Twilio does not say when that is
    words_per_second: float = 2.5
    language: str = "en-US"
    voice: str | None = None  # None: Twilio's default voice for the language

    def attributes(self) -> dict[str, str | bool]:
        """The ``<ConversationRelay>`` attributes, each chosen on purpose (docs/webhooks.md)."""
        chosen: dict[str, str | bool] = {
            "language": self.language,
            # barge-in: speech or a key stops our speech, and what follows is the answer
            "interruptible": "any",
            "welcome_greeting_interruptible": "any",
            "dtmf_detection": True,  # the keypad: 1 skip, 0 repeat, 9 finish
            "speechTimeout": str(self.speech_timeout_ms),
            "partial_prompts": True,  # partials tell the silence timer the caller is speaking
        }
        if self.voice:
            chosen["voice"] = self.voice
        return chosen

    def connect(self, reply: dict[str, Any], event: dict[str, Any], urls: WebhookUrls) -> str:
        """The TwiML that hands a greeted call to ConversationRelay."""
        texts = [t for t in reply.get("say", []) if t]
        call = event.get("call") or ""
        query = {"call": call} if call else {}
        parameters = {"listen": str(reply["listen"]), "spokenWords": str(_words(texts))}
        return connect_relay(
            " ".join(texts),
            urls.socket_url(SOCKET, **query),
            urls.url(ENDED, **query),
            self.attributes(),
            parameters,
        )


def _words(texts: Sequence[str]) -> int:
    return sum(len(t.split()) for t in texts)


class RelaySessions:
    """Which calls have had their session: the first upgrade of a call wins, so a replayed
    (validly signed) upgrade cannot open a second session and speak for the caller."""

    COLLECTION = "relay_sessions"
    KEEP = dt.timedelta(days=1)  # a call lasts at most 15 minutes

    def __init__(self, db: Any) -> None:
        self.collection = db[self.COLLECTION]
        self._indexed = False

    async def claim(self, call_sid: str) -> bool:
        """True for the first session of ``call_sid``, False for any later one."""
        if not self._indexed:
            await self.collection.create_index(
                "at", expireAfterSeconds=int(self.KEEP.total_seconds())
            )
            self._indexed = True
        try:
            await self.collection.insert_one({"_id": call_sid, "at": dt.datetime.now(dt.UTC)})
        except DuplicateKeyError:
            return False
        return True


def relay_routes(
    turns: Turns,
    auth_token: str,
    urls: WebhookUrls,
    settings: RelaySettings,
    replies: WebhookReplies,
) -> list[BaseRoute]:
    """The session's WebSocket and its session-ended callback, under /webhooks/twilio/."""
    sessions = RelaySessions(turns.engine.db)
    socket_base = urls.socket_url("").removesuffix(f"{WEBHOOK_PREFIX}/")
    socket_path, ended_path = f"{WEBHOOK_PREFIX}/{SOCKET}", f"{WEBHOOK_PREFIX}/{ENDED}"

    async def socket(websocket: WebSocket) -> None:
        query = websocket.url.query
        signed = validate_twilio_request(
            auth_token, socket_base, socket_path, query, websocket.headers, {}, b""
        )
        if not signed:
            log.warning("refused a ConversationRelay upgrade with a missing or wrong signature")
            await websocket.close(code=1008)  # before accept: the upgrade gets 403
            return
        await websocket.accept()
        call = dict(parse_qsl(query)).get("call") or None
        await RelaySession(websocket, turns, settings, sessions.claim, call).run()

    async def ended(request: Request) -> Response:
        raw = await request.body()
        form = parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
        ok = validate_twilio_request(
            auth_token, urls.base, ended_path, request.url.query, request.headers,
            multi_params(form), raw,
        )  # fmt: skip
        if not ok:
            log.warning("refused a webhook with a missing or wrong signature on %s", ended_path)
            return Response("invalid signature", status_code=403, media_type="text/plain")
        key = delivery_key(request.headers, f"{ended_path}?{request.url.query}", raw)
        earlier = await earlier_reply(replies, key)
        if earlier is not None:
            return Response(earlier.body, earlier.status, media_type=earlier.media_type)
        reply = Reply(200, _after_session(turns, dict(form), request.url.query), TWIML)
        if key is not None:
            await keep_reply(replies, key, reply, private=True)
        return Response(reply.body, reply.status, media_type=reply.media_type)

    return [
        WebSocketRoute(socket_path, socket),
        Route(ended_path, ended, methods=["POST"]),
    ]


def _after_session(turns: Turns, form: dict[str, str], query: str) -> str:
    """The TwiML that finishes a call whose session is over.

    Our ``end`` handed over what to say last (goodbye, or an apology): say it and hang
    up. A caller who hung up needs nothing. A session that ended without our ``end``
    while the caller is still there (the socket's process died, a network fault) is our
    failure: apologise, and fail the call on our side so it is called back; the
    reflection keeps every answer already recorded, and the retry continues it.
    """
    session = session_ended(form)
    spoken = _handed_over(session.handoff)
    if spoken is not None:
        return say_and_hangup(spoken)
    if not session.line_up:
        return empty_response()
    log.error("a ConversationRelay session ended without our end; apologising")
    call = dict(parse_qsl(query)).get("call") or None
    turns.apologise({"callSid": session.call_sid, "call": call}, ENDED)
    return say_and_hangup([APOLOGY])


def _handed_over(handoff: Any) -> list[str] | None:
    """The texts our ``end`` message handed over (None: it was not ours, or not readable)."""
    if not isinstance(handoff, dict) or not isinstance(handoff.get("say"), list):
        return None
    texts = [t for t in handoff["say"] if isinstance(t, str)][:MAX_HANDOFF_TEXTS]
    return [t[:MAX_HANDOFF_CHARS] for t in texts]
