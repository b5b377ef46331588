"""A retried webhook gets the answer its first delivery got, and changes nothing.

Twilio retries a webhook whose connection failed or timed out, and a retry carries
the same ``I-Twilio-Idempotency-Token`` header as the first try. Without this, a
retried ``/gather`` would append the same speech to the answer twice. Each delivery
that carries a token is keyed by the token *and* the signed request it came with
(URL and body), so a token lifted onto another request does not silence it.

The record lives in a MongoDB collection, so a retry that reaches another server
process is caught too, and it is bounded: a TTL index removes records after
``WINDOW_S`` (and a record older than that is treated as absent even before the
server's TTL sweep gets to it). The reply can hold a user's prompt or name, so its
body is sealed with the action log's sealer; without a sealer only bodies that
carry nothing of the user (a callback's empty ``<Response/>``) are kept.

The token is not signed, so none of this stops a hostile replay (which can carry
any token, or none): that is the concepts' job, which refuse what a finished call
or reflection must not take. This only makes Twilio's own retries exact.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import attrs
from pymongo.errors import DuplicateKeyError

log = logging.getLogger("services.webhooks.replies")

COLLECTION = "webhook_replies"
HEADER = "i-twilio-idempotency-token"
WINDOW_S = 3600  # Twilio's retries come within seconds; an hour leaves room for clock skew
POLL_S = 0.05
SEAL_CONTEXT = "webhook.reply"
_TOKEN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
Now = Callable[[], dt.datetime]
T = TypeVar("T")


@attrs.frozen
class Reply:
    """What a delivery was answered with."""

    status: int
    body: str
    media_type: str


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def delivery_key(headers: Mapping[str, str], url: str, raw_body: bytes) -> str | None:
    """The key of this delivery (token + signed URL + body), or None without a usable token."""
    token = next((v for k, v in headers.items() if k.lower() == HEADER), None)
    if token is None or not _TOKEN.fullmatch(token):
        return None
    digest = hashlib.sha256(f"{token}\n{url}\n".encode())
    digest.update(raw_body)
    return digest.hexdigest()


class WebhookReplies:
    """The replies given to token-carrying deliveries, shared by every server process.

    ``begin(key)`` returns None when this delivery is the first (it is then owed a
    ``finish`` or a ``release``), or the earlier reply. A retry that arrives while the
    first delivery is still being handled waits for its reply; if the process handling
    it died (no reply after ``lease_s``), the retry takes the delivery over.
    """

    def __init__(
        self,
        db: Any,
        sealer: Any = None,
        *,
        lease_s: float = 10.0,
        op_timeout_s: float = 1.0,
        window_s: float = WINDOW_S,
        now: Now = _utcnow,
    ) -> None:
        self.collection = db[COLLECTION]
        self.sealer = sealer
        self.lease_s = lease_s
        self.op_timeout_s = op_timeout_s
        self.window_s = window_s
        self.now = now
        self._indexed = False

    async def _op(self, operation: Awaitable[T]) -> T:
        """One database call, bounded: a stalled database must not eat the caller's reply time."""
        return await asyncio.wait_for(operation, self.op_timeout_s)

    async def ensure_indexes(self) -> None:
        if not self._indexed:
            await self._op(
                self.collection.create_index("at", expireAfterSeconds=int(self.window_s))
            )
            self._indexed = True

    async def begin(self, key: str) -> Reply | None:
        """None: handle this delivery (and then ``finish`` or ``release`` it); else the
        reply an earlier delivery with the same key got."""
        await self.ensure_indexes()
        deadline = asyncio.get_running_loop().time() + 2 * self.lease_s + 1
        while True:
            now = self.now()
            try:
                await self._op(self.collection.insert_one({"_id": key, "at": now, "done": False}))
                return None
            except DuplicateKeyError:
                pass
            doc = await self._op(self.collection.find_one({"_id": key}))
            if doc is None:
                continue  # expired or released meanwhile: try to be first again
            age = (now - doc["at"]).total_seconds()
            if age > self.window_s or (not doc["done"] and age > self.lease_s):
                # a record from before the window, or a delivery whose handler died: take it
                taken = await self._op(
                    self.collection.update_one(
                        {"_id": key, "at": doc["at"], "done": doc["done"]},
                        {"$set": {"at": now, "done": False}, "$unset": {"reply": ""}},
                    )
                )
                if taken.modified_count == 1:
                    return None
                continue
            if doc["done"]:
                return self._open(doc)
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the first delivery of this webhook is still unanswered")
            await asyncio.sleep(POLL_S)

    async def finish(self, key: str, reply: Reply, *, private: bool) -> None:
        """Keep ``reply`` for retries of ``key``. A ``private`` body (it may name the user's
        prompts) is sealed; with no sealer it is not kept, and the record is released."""
        body: dict[str, Any] = {"status": reply.status, "mediaType": reply.media_type}
        if not private:
            body["body"] = reply.body
        elif self.sealer is not None:
            body["sealed"] = self.sealer.seal(reply.body, context=SEAL_CONTEXT)
        else:
            await self.release(key)
            return
        await self._op(
            self.collection.update_one(
                {"_id": key, "done": False}, {"$set": {"done": True, "reply": body}}
            )
        )

    async def release(self, key: str) -> None:
        """Forget ``key``: its delivery asked to be retried (503), so a retry is handled anew."""
        await self._op(self.collection.delete_one({"_id": key, "done": False}))

    def _open(self, doc: Mapping[str, Any]) -> Reply:
        reply = doc["reply"]
        if "sealed" in reply:
            body = self.sealer.open(reply["sealed"], context=SEAL_CONTEXT)
        else:
            body = reply["body"]
        return Reply(int(reply["status"]), body, reply["mediaType"])


async def earlier_reply(replies: WebhookReplies, key: str | None) -> Reply | None:
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


async def keep_reply(replies: WebhookReplies, key: str, reply: Reply, *, private: bool) -> None:
    """Keep the reply for retries; a 503 asks Twilio to try again, so that one is forgotten."""
    try:
        if reply.status >= 500:
            await replies.release(key)
        else:
            await replies.finish(key, reply, private=private)
    except Exception as exc:
        log.warning("webhook reply not kept for retries (%s)", type(exc).__name__)
