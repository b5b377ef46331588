"""TextMessages, the concept: one text about a call, sent once, and the replies to it.

Purpose: reach a user by text when a call could not, and let them answer with a word.
Principle: ``notify(user, about, number, text)`` keeps one notice per ``about`` (a
scheduled call); ``send(notice)`` texts it once, even across crashes (below); a reply
from that number within a day is read by ``receive`` as a command (CALL, LATER, TYPE,
STOP, START, HELP) for the notice's user; after STOP, nothing more is texted to the
number until START.

Sending once: ``send`` marks the notice SENDING before it asks the provider and SENT
after. A run that dies between the two leaves it SENDING; a later ``send`` (the
reconciler's, docs/invariants.md) asks the provider whether that text went out since,
and sends it only if it did not. Numbers are kept encrypted, with keyed lookup hashes to
find them (services/encryption); the text is encrypted too.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, TypedDict

from pymongo import IndexModel

from conceptkit import Change, Concept, Doc, Len, action, fail, query
from services.telephony import TelephonyError, normalize_e164

from .commands import Command, command_of
from .replies import is_stopped, keep_keyword

LOOKUP_PURPOSE = "phone"  # the lookup keys' HMAC label (services.encryption.keys.PHONE)
FIELD_NUMBER = "TextMessages.to"
FIELD_TEXT = "TextMessages.text"
#: A reply is read as answering the newest notice to its number sent this long before.
REPLY_WINDOW = dt.timedelta(hours=24)
#: A SENDING notice this old may be a run that died: a later send asks the provider.
UNSURE_AFTER = dt.timedelta(minutes=2)
#: A send's text is made at the provider within this long of its start (the adapter's
#: retries included), so a text made later is not its own.
SEND_TAKES_AT_MOST = dt.timedelta(minutes=10)
#: A notice not sent by then is not worth sending ("We couldn't reach you today").
TOO_LATE = dt.timedelta(hours=12)
#: Replies are remembered this long, so a delivery repeated by the provider acts once.
INBOX_DAYS = 30

PENDING, SENDING, SENT, NOT_SENT = "PENDING", "SENDING", "SENT", "NOT_SENT"
Status = Literal["PENDING", "SENDING", "SENT", "NOT_SENT"]
NoticeText = Annotated[str, Len(1, 480), Doc("the text message (at most three SMS segments)")]
ReplyText = Annotated[str, Len(0, 1600), Doc("the reply's text, as the provider gave it")]
MessageId = Annotated[str, Len(1, 100), Doc("the provider's id of the inbound message")]


class Notice(TypedDict):
    notice: str
    status: Status
    reason: str | None


class Texting(TypedDict):
    on: bool


class Received(TypedDict):
    command: Command
    user: str | None  # the user of the newest notice to that number in REPLY_WINDOW
    about: str | None  # what that notice was about
    duplicate: bool  # a delivery of a message already received: nothing more to do


class TextMessages(Concept):
    """One text about a call, sent once; the replies to it, read as commands; STOP honoured.

    Principle: after ``notify("u1", "call-7", "+15551230000", "We couldn't reach you...")``
    and ``send``, the number has that text, once; a reply "call" from it is
    ``receive(...) -> {command: "call", user: "u1"}``; after a reply "STOP", a new
    ``notify`` for that number is NOT_SENT, until "START".
    """

    uses = ("clock", "encryption", "telephony")

    async def setup(self) -> None:
        notices = self.collection("notices")
        await notices.create_indexes(
            [
                IndexModel("about", unique=True),
                IndexModel([("numberKey", 1), ("createdAt", -1)]),
                IndexModel([("status", 1), ("createdAt", 1)]),
                IndexModel("user"),
            ]
        )
        await self.collection("inbox").create_index("expiresAt", expireAfterSeconds=0)

    # -- helpers ---------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return self.services["clock"].now()

    def _keys(self, number: str) -> list[str]:
        return self.services["encryption"].lookup_keys(number, purpose=LOOKUP_PURPOSE)

    def _open(self, doc: dict[str, Any], field: str, name: str) -> str:
        return self.services["encryption"].decrypt(doc[name], user=doc["user"], field=field)

    async def _stopped(self, number: str) -> bool:
        return await is_stopped(self.collection("stops"), self._keys(number))

    async def _why_not(self, user: str, number: str) -> str | None:
        """Why nothing may be texted to the user at the number now (None: it may)."""
        if await self._stopped(number):
            return "the number replied STOP"
        choice = await self.collection("choices").find_one({"_id": user})
        if choice is not None and not choice["textsOn"]:
            return "texts are turned off in the app"
        return None

    async def _answered_notice(self, keys: list[str], now: dt.datetime) -> dict[str, Any] | None:
        """The notice a reply from the number answers: the newest one that went out (or may
        have) in REPLY_WINDOW. A notice never sent is no one's to answer: on a shared
        number, the reply must not act for an account that was never texted."""
        return await self.collection("notices").find_one(
            {
                "numberKey": {"$in": keys},
                "status": {"$in": [SENT, SENDING]},
                "createdAt": {"$gte": now - REPLY_WINDOW},
            },
            sort=[("createdAt", -1)],
        )

    @staticmethod
    def _view(doc: dict[str, Any]) -> Notice:
        return {"notice": doc["_id"], "status": doc["status"], "reason": doc.get("reason")}

    # -- sending ---------------------------------------------------------------------

    @action(private=("phoneNumber", "text"))
    async def notify(
        self, user: str, about: Annotated[str, Len(1, 200)], phoneNumber: str, text: NoticeText
    ) -> Notice:
        """Keep one notice about ``about`` for the user's number: PENDING, to be sent, or
        NOT_SENT if the number replied STOP. A second notice about the same thing is refused."""
        try:
            number = normalize_e164(phoneNumber)
        except ValueError as exc:
            return fail(str(exc), "invalid")
        enc = self.services["encryption"]
        why = await self._why_not(user, number)
        doc = {
            "_id": self.new_id(),
            "about": about,
            "user": user,
            "to": enc.encrypt(number, user=user, field=FIELD_NUMBER),
            "numberKey": self._keys(number)[0],
            "text": enc.encrypt(text, user=user, field=FIELD_TEXT),
            "status": NOT_SENT if why else PENDING,
            "reason": why,
            "createdAt": self._now(),
            "version": 0,
        }
        made = await self.store("notices").create(doc, dict(self._view(doc)))
        return fail("a notice about that was already made") if made is None else made

    @action(retry=False)  # the text goes out between its two writes
    async def send(self, notice: str) -> Notice:
        """Text the notice, once: PENDING (or SENDING left by a run that died, once the
        provider shows it did not go out) -> SENDING -> SENT, or NOT_SENT when the provider
        refuses it, the number replied STOP, or it is too late to matter."""
        notices = self.store("notices")
        done = await notices.recorded({"_id": notice})
        if done is not None:
            return done  # a replay: what this send returned
        doc = await notices.collection.find_one({"_id": notice})
        if doc is None:
            return fail("no such notice", "not_found")
        if doc["status"] in (SENT, NOT_SENT):
            return self._view(doc)
        now = self._now()
        if doc["status"] == SENDING and now - doc["sendingAt"] < UNSURE_AFTER:
            return fail("the notice is being sent", "conflict")
        number = self._open(doc, FIELD_NUMBER, "to")
        text = self._open(doc, FIELD_TEXT, "text")
        if doc["status"] == SENDING:  # a run died mid-send: did its text go out?
            try:
                sent = await self.services["telephony"].texts_to_since(number, doc["sendingAt"])
            except Exception:
                if now - doc["createdAt"] > TOO_LATE:  # not worth asking, nor sending, now
                    return await self._settle(
                        notice, NOT_SENT, reason="the provider could not say whether it was sent"
                    )
                return fail("the provider cannot say yet whether it was sent", "unavailable")
            # only a text made while that send was under way is its own: the same words
            # another day are another notice's
            until = doc["sendingAt"] + SEND_TAKES_AT_MOST
            match = next(
                (
                    t
                    for t in sent
                    if t.body == text and (t.date_created is None or t.date_created <= until)
                ),
                None,
            )
            if match is not None:
                return await self._settle(notice, SENT, sid=match.sid)
        if now - doc["createdAt"] > TOO_LATE:
            return await self._settle(notice, NOT_SENT, reason="too late to be of use")
        why = await self._why_not(doc["user"], number)
        if why is not None:  # a STOP, or texts turned off, since the notice was made
            return await self._settle(notice, NOT_SENT, reason=why)
        # The claim is not this action's effect (its mark goes on the outcome): a run that
        # dies after it leaves SENDING, which the next send reads as "ask the provider".
        claimed = await notices.collection.update_one(
            {"_id": notice, "version": doc["version"]},
            {"$set": {"status": SENDING, "sendingAt": now}, "$inc": {"version": 1}},
        )
        if claimed.matched_count == 0:
            return fail("the notice is being sent", "conflict")
        try:
            sid = await self.services["telephony"].send_sms(to=number, body=text, user=doc["user"])
        except TelephonyError as exc:  # the provider did not send it
            if _passing(exc):  # busy or away: back to PENDING, the reconciler sends it later
                await notices.collection.update_one(
                    {"_id": notice, "status": SENDING, "sendingAt": now},
                    {
                        "$set": {"status": PENDING},
                        "$unset": {"sendingAt": ""},
                        "$inc": {"version": 1},
                    },
                )
                return fail("the provider is busy; the text is sent later", "unavailable")
            # the provider's words may name the number: never kept (state, log, the page)
            reason = exc.message.replace(number, "the number")[:300]
            return await self._settle(notice, NOT_SENT, reason=reason)
        except Exception:  # unknown: it may have gone; the reconciler asks the provider
            return fail("the provider's answer was lost; it is checked later", "unavailable")
        return await self._settle(notice, SENT, sid=sid)

    async def _settle(self, notice: str, status: str, **fields: Any) -> Notice:
        """Record how the notice ended, with this action's mark (a replay returns it)."""

        def decide(current: dict[str, Any]) -> Change | dict[str, Any]:
            if current["status"] in (SENT, NOT_SENT):
                return self._view(current)
            done = {**fields, "status": status, "settledAt": self._now()}
            return Change(dict(self._view({**current, **done})), set=done)

        return await self.store("notices").change(
            {"_id": notice}, decide, missing=fail("no such notice", "not_found")
        )

    # -- replies -----------------------------------------------------------------------

    @action(private=("phoneNumber", "text"))
    async def receive(self, messageId: MessageId, phoneNumber: str, text: ReplyText) -> Received:
        """Read a text from ``phoneNumber`` as a command for the user last notified there
        (within REPLY_WINDOW). STOP keeps the number from any more notices; START lifts it.
        A message received before (the same id) is a duplicate, and the syncs do nothing
        again. A STOP or START is kept once (replies.py): delivered again, it can finish
        what a run that died began, and never undo a STOP or START that came after it."""
        try:
            number = normalize_e164(phoneNumber)
        except ValueError as exc:
            return fail(str(exc), "invalid")
        command = command_of(text)
        keys = self._keys(number)
        now = self._now()
        inbox = self.store("inbox")
        done = await inbox.recorded({"_id": messageId})
        if done is not None:
            return done  # a replay: what this receive returned
        # a message in the inbox was acted on whole, its STOP or START (kept first) included
        received = await inbox.collection.find_one({"_id": messageId}, {"_id": 1})
        if command in ("stop", "start") and received is None:
            await keep_keyword(
                self.store("stops"), keys, stopped=command == "stop", message=messageId
            )
        latest = await self._answered_notice(keys, now)
        out: Received = {
            "command": command,
            "user": latest["user"] if latest else None,
            "about": latest["about"] if latest else None,
            "duplicate": False,
        }
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=INBOX_DAYS)  # TTL: real time
        entry = {
            "_id": messageId,
            "user": out["user"],
            "command": command,
            "receivedAt": now,
            "expiresAt": expires,
        }
        made = await inbox.create(entry, dict(out))
        return {**out, "duplicate": True} if made is None else made

    # -- forgetting --------------------------------------------------------------------

    @action
    async def forgetUser(self, user: str) -> dict[str, Any]:
        """Delete the user's notices and replies. A number's STOP stays: it is the number's
        owner's choice, kept as a keyed hash only, and carriers require it be honoured."""
        await self.collection("notices").delete_many({"user": user})
        await self.collection("inbox").delete_many({"user": user})
        await self.collection("choices").delete_many({"_id": user})
        return {}

    # -- the user's choice -------------------------------------------------------------

    @action
    async def setTexting(
        self, user: str, on: Annotated[bool, Doc("text me after a missed day (on by default)")]
    ) -> Texting:
        """Turn the texts after a missed day on or off for the user (any number of theirs).
        Unlike STOP, which belongs to a number, this is the account's own choice."""
        if type(on) is not bool:
            return fail("on must be true or false", "invalid")

        def decide(doc: dict[str, Any]) -> Change:
            return Change({"on": on}, set={"textsOn": on})

        return await self.store("choices").change_or_create(
            {"_id": user}, decide, initial=lambda: {"_id": user, "textsOn": True, "version": 0}
        )

    # -- queries -----------------------------------------------------------------------

    @query
    async def _unsettled(self, before: dt.datetime) -> list[dict[str, Any]]:
        """Internal (reconciler): notices still PENDING or SENDING, made before ``before``."""
        cursor = self.collection("notices").find(
            {"status": {"$in": [PENDING, SENDING]}, "createdAt": {"$lt": before}},
            {"_id": 1, "user": 1},
        )
        return [{"notice": d["_id"], "user": d["user"]} async for d in cursor.limit(100)]

    @query
    async def _notices(self, user: str) -> list[dict[str, Any]]:
        """The user's notices, newest first: what was texted about which call, and whether it went."""
        cursor = self.collection("notices").find({"user": user}).sort("createdAt", -1)
        return [
            {
                **self._view(d),
                "about": d["about"],
                "createdAt": d["createdAt"],
                "sentAt": d.get("settledAt") if d["status"] == SENT else None,
            }
            async for d in cursor.limit(60)
        ]

    @query
    async def _texting(self, user: str) -> list[dict[str, Any]]:
        """Exactly one row: whether the user gets texts after a missed day, and the last
        one (its status, and why it was not sent), or None."""
        choice = await self.collection("choices").find_one({"_id": user})
        last = await self.collection("notices").find_one({"user": user}, sort=[("createdAt", -1)])
        shown = None
        if last is not None:
            shown = {
                **self._view(last),
                "createdAt": last["createdAt"],
                "sentAt": last.get("settledAt") if last["status"] == SENT else None,
            }
        return [{"on": choice is None or bool(choice["textsOn"]), "last": shown}]

    @query(private=("phoneNumber",))
    async def _replyingFor(self, phoneNumber: str) -> list[dict[str, Any]]:
        """Exactly one row: the user a reply from the number would act for now (or None).
        Internal: the phone simulator lets a user reply only for themselves."""
        try:
            number = normalize_e164(phoneNumber)
        except ValueError:
            return [{"user": None}]
        latest = await self._answered_notice(self._keys(number), self._now())
        return [{"user": latest["user"] if latest else None}]

    @query(private=("phoneNumber",))
    async def _isStopped(self, phoneNumber: str) -> list[dict[str, Any]]:
        """Exactly one row: whether the number replied STOP (and not START since)."""
        try:
            number = normalize_e164(phoneNumber)
        except ValueError:
            return [{"stopped": False}]
        return [{"stopped": await self._stopped(number)}]


def _passing(exc: TelephonyError) -> bool:
    """A refusal that says nothing about the text: the provider was busy (429) or away
    (5xx, or no answer at all: no code). Any other code is about the message or number."""
    return exc.code is None or exc.status == 429 or (exc.status or 0) >= 500
