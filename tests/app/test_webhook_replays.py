"""Signed webhooks replayed after the fact change nothing; Twilio's retries get the first answer.

A Twilio signature carries no nonce, so anyone who captured a signed request can send
it again, with any ``I-Twilio-Idempotency-Token`` (the header is not signed) or none.
What a finished call or reflection may still take is the contract's: a recording that
comes after the end, attached once. Everything here runs the real in-process service
with signed requests; "changes nothing" is checked on the stored documents themselves.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.app.assembly import MOCK_AUTH_TOKEN
from services.devtools.call_player import CallResult, WebhookExchange
from services.devtools.callees import BusyCallee, ScriptedCallee
from services.storage.database import make_async_client
from services.webhooks.replies import COLLECTION, Reply, WebhookReplies, delivery_key
from services.webhooks.signature import sign_twilio_request
from tests.app.conftest import BASE, Service

RATED = ["Family.", "Work went well.", "Sleep early.", "plus one"]
# what a call, its reflection and its schedule are: a replay must leave every one as it was
STATE = (
    "PhoneCall_calls",
    "ReflectionSession_sessions",
    "CallScheduler_calls",
    "Schedule_schedules",
    "Dialer_attempts",
)


async def dump(service: Service) -> dict[str, list[dict[str, Any]]]:
    """Every stored document of the call's state, marks and versions included."""
    db = service.engine.db
    return {name: [d async for d in db[name].find({}).sort("_id", 1)] for name in STATE}


async def replay(service: Service, sent: WebhookExchange, token: str | None = None) -> Any:
    """Send a captured signed request again, byte for byte, with ``token`` (or none)."""
    headers = {"X-Twilio-Signature": sent.signature}
    if token is not None:
        headers["I-Twilio-Idempotency-Token"] = token
    return await service.http.post(sent.url.removeprefix(BASE), data=sent.params, headers=headers)


async def settled(service: Service) -> None:
    await service.engine.settle()
    await service.engine.log.flush()


async def rated_call(service: Service, **profile: Any) -> tuple[str, CallResult]:
    token = await service.sign_up(includeRating=True, **profile)
    await service.call_now(token)
    (placed,) = await service.dial_due()
    result = await service.play(placed, ScriptedCallee(RATED))
    assert result.final_status == "completed", result.errors
    return token, result


def signed(name: str, params: dict[str, str]) -> WebhookExchange:
    """A webhook as Twilio would sign it (for the transcription, which calls never ask for)."""
    url = f"{BASE}/webhooks/twilio/{name}"
    signature = sign_twilio_request(MOCK_AUTH_TOKEN, url, params)
    return WebhookExchange(name, "POST", url, params, signature, None, "", "", 0.0)


def rating_of(result: CallResult) -> WebhookExchange:
    return next(w for w in result.webhooks if "/rating?" in w.url)


def is_turn(sent: WebhookExchange) -> bool:
    """A webhook a listening reply asked for: its URL names the turn (turn_guard.py)."""
    return "turn=" in sent.url


def refused_or_ended(sent: WebhookExchange, answer: Any) -> bool:
    """A replay's answer: a turn taken already is refused (409); anything else of an ended
    call gets a reply that does not restart the conversation."""
    if is_turn(sent):
        return answer.status_code == 409 and "taken already" in answer.text
    return answer.status_code == 200 and "<Gather" not in answer.text


# -- the cases found from outside ------------------------------------------------------------


class ReplayingCallee(ScriptedCallee):
    """Answers as scripted; at the second listen, the last turn's webhook is first sent
    again (signed, as a captured request would be), while the call is on."""

    def __init__(self, service: Service, answers: list[str]) -> None:
        super().__init__(answers)
        self.service = service
        self.replayed: httpx.Response | None = None

    async def respond(self, ctx: Any) -> Any:
        if ctx.index == 1 and self.replayed is None:
            taken = self.prompts[-1].action_url  # the turn the first answer was posted to
            params = {
                "CallSid": ctx.call_sid,
                "SpeechResult": "Injected words.",
                "Confidence": "0.9",
            }
            headers = {
                "X-Twilio-Signature": sign_twilio_request(MOCK_AUTH_TOKEN, taken, params),
                "I-Twilio-Idempotency-Token": secrets.token_hex(16),
            }
            self.replayed = await self.service.http.post(
                taken.removeprefix(BASE), data=params, headers=headers
            )
        return await super().respond(ctx)


async def test_a_turn_replayed_during_the_call_is_refused_and_adds_nothing(service: Service):
    """A signed /gather for a turn already taken, sent while the call is on (the user is
    answering the next prompt): 409, and no answer holds its words."""
    token = await service.sign_up(includeRating=True)
    await service.call_now(token)
    (placed,) = await service.dial_due()
    callee = ReplayingCallee(service, RATED)
    result = await service.play(placed, callee)
    assert result.final_status == "completed", result.errors

    assert callee.replayed is not None and callee.replayed.status_code == 409
    assert "taken already" in callee.replayed.text
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert [p["answer"] for p in session["prompts"]] == RATED[:3]
    assert "Injected" not in str(session)
    listened = [w.url for w in result.webhooks if w.kind == "gather"]
    assert [u.split("turn=")[1] for u in listened] == [str(n) for n in range(len(listened))]


async def test_a_replayed_rating_does_not_overwrite_the_rating_set_in_the_app_since(
    service: Service,
):
    token, result = await rated_call(service)
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert session["rating"] == 1  # what the caller said
    await service.api(
        "ReflectionSession/setRating", {"session": session["session"], "rating": -2}, token
    )
    before = await dump(service)

    answer = await replay(service, rating_of(result), token=secrets.token_hex(16))
    await settled(service)

    assert refused_or_ended(rating_of(result), answer)
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert session["rating"] == -2, "the app's later rating wins"
    assert await dump(service) == before


async def test_a_late_in_progress_status_changes_nothing_on_a_completed_call(service: Service):
    _, result = await rated_call(service)
    before = await dump(service)
    (call,) = before["PhoneCall_calls"]
    answered = next(w for w in result.status_callbacks if w.params["CallStatus"] == "in-progress")

    late = {**answered.params, "SequenceNumber": str(call["lastSequence"] + 10)}
    assert (await service.webhook("status", late)).status_code == 200
    assert (await replay(service, answered)).status_code == 200
    await settled(service)

    after = await dump(service)
    assert after["PhoneCall_calls"][0]["lastSequence"] == call["lastSequence"]
    assert after == before


async def test_the_final_status_notes_the_duration_of_a_call_our_goodbye_ended(service: Service):
    """The one thing a callback may still add to a call that is over: its duration, once."""
    _, result = await rated_call(service)
    (call,) = (await dump(service))["PhoneCall_calls"]
    assert call["status"] == "COMPLETED"
    assert call["durationSeconds"] == result.duration_s
    assert call["lastSequence"] == max(
        int(w.params["SequenceNumber"]) for w in result.webhooks_of("status")
    )


async def test_a_transcription_is_kept_once_and_the_first_one_wins(service: Service):
    token, result = await rated_call(service)
    first = signed("transcription", {"CallSid": result.sid, "TranscriptionText": "Family first."})
    other = signed("transcription", {"CallSid": result.sid, "TranscriptionText": "Replaced."})

    assert (await replay(service, first)).status_code == 200
    await settled(service)
    kept = await dump(service)
    for sent in (first, other, first):
        assert (await replay(service, sent, token=secrets.token_hex(16))).status_code == 200
    await settled(service)

    assert await dump(service) == kept
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    (full,) = await service.api(
        "ReflectionSession/_session", {"session": session["session"]}, token
    )
    assert full["transcriptionText"] == "Family first."


async def test_replayed_voice_and_gather_of_an_ended_call_neither_restart_it_nor_record(
    service: Service,
):
    token, result = await rated_call(service)
    before = await dump(service)
    turns = [w for w in result.webhooks if w.kind in ("answer", "gather")]
    assert len(turns) == 5  # the answer, three prompts and the rating

    for sent in turns:
        answer = await replay(service, sent, token=secrets.token_hex(16))
        assert refused_or_ended(sent, answer), (sent.url, answer.text)
        assert is_turn(sent) or "<Hangup" in answer.text, sent.url
    await settled(service)

    assert await dump(service) == before
    assert len(await service.api("ReflectionSession/_history", {}, token)) == 1


async def test_status_callbacks_replayed_after_a_retry_began_leave_the_new_attempt_alone(
    service: Service,
):
    token = await service.sign_up(maxRetries=2)
    scheduled = await service.call_now(token)
    (first,) = await service.dial_due()
    missed = await service.play(first, BusyCallee())
    (second,) = await service.dial_due()  # the retry is dialled: its call is live
    before = await dump(service)
    live = [c for c in before["PhoneCall_calls"] if c["status"] == "INITIATED"]
    assert len(live) == 1

    for sent in [*missed.status_callbacks, *reversed(missed.status_callbacks)]:
        assert (await replay(service, sent, token=secrets.token_hex(16))).status_code == 200
    await settled(service)

    assert await dump(service) == before
    rows = await service.api("CallScheduler/_recent", {}, token)
    row = next(r for r in rows if r["scheduledCall"] == scheduled)
    assert row["attempts"] == 2 and row["status"] != "FAILED"
    await service.play(second, ScriptedCallee(["One.", "Two.", "Three."]))


# -- Twilio's own retries: the same token gets the same answer --------------------------------


class RetryEveryDelivery(httpx.AsyncBaseTransport):
    """Delivers each webhook twice with the same headers, as Twilio does when it did not
    see the first answer; the caller gets the second answer. Keeps both for comparison."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.pairs: list[tuple[str, int, bytes, int, bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        first = await self.inner.handle_async_request(request)
        first_body = await first.aread()
        second = await self.inner.handle_async_request(request)
        second_body = await second.aread()
        self.pairs.append(
            (request.url.path, first.status_code, first_body, second.status_code, second_body)
        )
        return httpx.Response(
            second.status_code, headers=second.headers, content=second_body, request=request
        )


async def test_a_retried_delivery_is_answered_as_before_and_changes_nothing(service: Service):
    token = await service.sign_up(includeRating=True)
    await service.call_now(token)
    (placed,) = await service.dial_due()
    transport = RetryEveryDelivery(httpx.ASGITransport(app=service.app, raise_app_exceptions=False))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as twice:
        player_http, service.http = service.http, twice
        try:
            result = await service.play(placed, ScriptedCallee(RATED))
        finally:
            service.http = player_http
    assert result.final_status == "completed", result.errors

    assert len(transport.pairs) == len(result.webhooks) >= 10
    for path, status, body, again_status, again_body in transport.pairs:
        assert (again_status, again_body) == (status, body), path
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert [p["answer"] for p in session["prompts"]] == RATED[:3]
    assert (session["status"], session["rating"]) == ("COMPLETED", 1)
    # the replies kept for retries hold nothing of what the user was asked in plain text
    prompts = [p["text"] for p in session["prompts"]]
    async for doc in service.engine.db[COLLECTION].find({}):
        assert not any(p in str(doc) for p in prompts)


# -- the record of replies: durable, bounded, shared by processes ----------------------------


class Sealer:
    def seal(self, plaintext: str, *, context: str) -> str:
        return f"sealed:{context}:{plaintext[::-1]}"

    def open(self, token: str, *, context: str) -> str:
        return token.removeprefix(f"sealed:{context}:")[::-1]


@pytest.fixture
async def second_process(mongo_uri: str) -> AsyncIterator[Any]:
    client = make_async_client(mongo_uri)
    yield client
    await client.close()


async def test_a_delivery_is_known_to_every_process_and_waited_for_while_unanswered(
    async_db, second_process
):
    here = WebhookReplies(async_db, Sealer())
    there = WebhookReplies(second_process[async_db.name], Sealer())
    key = delivery_key({"I-Twilio-Idempotency-Token": "tok-1"}, "/webhooks/twilio/gather?", b"a=1")
    assert key is not None
    assert await here.begin(key) is None  # the first delivery: handle it

    waiting = asyncio.ensure_future(there.begin(key))  # the retry, in another process
    await asyncio.sleep(0.2)
    assert not waiting.done(), "a retry waits for the first delivery's answer"
    reply = Reply(200, "<Response><Say>What went well?</Say></Response>", "application/xml")
    await here.finish(key, reply, private=True)
    assert await asyncio.wait_for(waiting, 10) == reply

    (doc,) = [d async for d in async_db[COLLECTION].find({})]
    assert "What went well" not in str(doc), "a turn's reply is sealed at rest"


async def test_replies_are_bounded_by_a_ttl_index_and_a_window(async_db):
    moment = [dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    replies = WebhookReplies(async_db, window_s=60, lease_s=5, now=lambda: moment[0])
    key = delivery_key({"i-twilio-idempotency-token": "tok"}, "/webhooks/twilio/status?", b"")
    assert await replies.begin(key) is None
    await replies.finish(key, Reply(200, "<Response/>", "application/xml"), private=False)
    assert await replies.begin(key) == Reply(200, "<Response/>", "application/xml")

    info = await async_db[COLLECTION].index_information()
    assert any(i.get("expireAfterSeconds") == 60 for i in info.values()), info
    moment[0] += dt.timedelta(seconds=61)  # past the window: a new request, handled anew
    assert await replies.begin(key) is None


async def test_a_delivery_whose_handler_died_is_taken_over_and_a_503_is_forgotten(async_db):
    moment = [dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    replies = WebhookReplies(async_db, lease_s=5, now=lambda: moment[0])
    key = delivery_key({"i-twilio-idempotency-token": "t"}, "/webhooks/twilio/gather?", b"x")
    assert await replies.begin(key) is None  # ... and the process handling it dies
    moment[0] += dt.timedelta(seconds=6)
    assert await replies.begin(key) is None, "the retry takes the dead delivery over"

    await replies.release(key)  # it was answered 503: Twilio's retry must be handled
    assert await replies.begin(key) is None


def test_only_a_well_formed_token_keys_a_delivery_and_the_request_is_part_of_the_key():
    url, body = "/webhooks/twilio/gather?", b"SpeechResult=hi"
    assert delivery_key({}, url, body) is None
    assert delivery_key({"I-Twilio-Idempotency-Token": "a b"}, url, body) is None
    assert delivery_key({"I-Twilio-Idempotency-Token": "x" * 129}, url, body) is None
    key = delivery_key({"I-Twilio-Idempotency-Token": "abc-1"}, url, body)
    assert re.fullmatch(r"[0-9a-f]{64}", key or "")
    # a token lifted onto another signed request does not make that one a repeat
    assert delivery_key({"I-Twilio-Idempotency-Token": "abc-1"}, url, b"SpeechResult=no") != key


# -- any replay, in any order, after the call ended ------------------------------------------

ENDED_DAYS: dict[int, tuple[Service, list[WebhookExchange]]] = {}  # across one test's examples


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
async def test_any_replay_of_a_finished_calls_webhooks_changes_nothing(service: Service, data):
    kept = ENDED_DAYS.get(id(service))
    ended = kept[1] if kept is not None and kept[0] is service else None
    if ended is None:  # one ended day for every example: a missed attempt, then a rated call
        token = await service.sign_up(includeRating=True, maxRetries=2)
        await service.call_now(token)
        (busy,) = await service.dial_due()
        missed = await service.play(busy, BusyCallee())
        (placed,) = await service.dial_due()
        result = await service.play(placed, ScriptedCallee(RATED))
        assert result.final_status == "completed", result.errors
        (session,) = [
            s
            for s in await service.api("ReflectionSession/_history", {}, token)
            if s["status"] == "COMPLETED"
        ]
        await service.api(  # the user changes the rating in the app afterwards
            "ReflectionSession/setRating", {"session": session["session"], "rating": -1}, token
        )
        transcription = signed(
            "transcription", {"CallSid": result.sid, "TranscriptionText": "Family."}
        )
        await replay(service, transcription)
        await settled(service)
        ended = [*missed.webhooks, *result.webhooks, transcription]
        ENDED_DAYS.clear()
        ENDED_DAYS[id(service)] = (service, ended)

    before = await dump(service)
    chosen = data.draw(st.lists(st.sampled_from(ended), min_size=1, max_size=8))
    for sent in chosen:
        token = data.draw(st.none() | st.text("abcdef0123456789", min_size=8, max_size=32))
        answer = await replay(service, sent, token=token)
        assert refused_or_ended(sent, answer), (sent.url, answer.text)
    await settled(service)
    assert await dump(service) == before
