"""Keys pressed during a call, on the Gather transport: 1 skips, 0 repeats, 9 finishes.

Each call is played by the Twilio call player (signed webhooks, the service's TwiML obeyed,
a `<Gather input="speech dtmf" numDigits="1">` answered with `Digits`), so the keypad
syncs run as they would behind a real phone line. Outcomes are read from the reflection,
the call and the scheduled call the service keeps, and from what the caller heard.
"""

from __future__ import annotations

import secrets
from typing import Any

from services.devtools.call_player import CallResult, Press, Silence, WebhookExchange
from services.devtools.callees import ScriptedCallee
from syncs.wording import (
    GOODBYE,
    KEYS_HELP,
    RATING_KEYS_HELP,
    RATING_QUESTION,
    SORRY,
    TAKE_YOUR_TIME,
)
from tests.app.conftest import BASE, Service

PARTIAL = "I was grateful for"  # the local rules hear it as unfinished: they listen on
STATE = ("PhoneCall_calls", "ReflectionSession_sessions", "CallScheduler_calls")


async def call(service: Service, answers: list[Any], **profile: Any) -> tuple[str, CallResult]:
    token = await service.sign_up(**profile)
    await service.call_now(token)
    (placed,) = await service.dial_due()
    result = await service.play(placed, ScriptedCallee(answers, then="hangup"))
    assert result.errors == [], result.errors
    return token, result


async def prompts(service: Service, token: str) -> list[str]:
    return [p["text"] for p in await service.api("Prompts/_prompts", {}, token)]


async def reflection(service: Service, token: str) -> dict[str, Any]:
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    (full,) = await service.api(
        "ReflectionSession/_session", {"session": session["session"]}, token
    )
    return {**session, **full}


async def scheduled_calls(service: Service, token: str) -> list[dict[str, Any]]:
    return await service.api("CallScheduler/_recent", {}, token)


async def the_call(service: Service) -> dict[str, Any]:
    (doc,) = await service.engine.db["PhoneCall_calls"].find({}).to_list(None)
    return doc


async def dump(service: Service) -> dict[str, list[dict[str, Any]]]:
    db = service.engine.db
    return {name: [d async for d in db[name].find({}).sort("_id", 1)] for name in STATE}


def key_webhooks(result: CallResult) -> list[WebhookExchange]:
    return [w for w in result.webhooks if "Digits" in w.params]


def answers_of(session: dict[str, Any]) -> list[str]:
    return [p["answer"] for p in session["prompts"]]


# -- 1: skip ---------------------------------------------------------------------------------


async def test_1_keeps_what_was_said_as_the_answer_and_asks_the_next_prompt(service: Service):
    token, result = await call(service, [PARTIAL, Press("1"), "A walk.", "Rest more."])
    first, second, _ = await prompts(service, token)

    partial = next(w for w in result.webhooks if w.params.get("SpeechResult") == PARTIAL)
    assert "<Gather" in partial.body and second not in partial.body, "heard as unfinished"
    (key,) = key_webhooks(result)
    assert key.params["Digits"] == "1" and "SpeechResult" not in key.params
    assert second in key.body, "the reply to the key asks the next prompt"
    assert result.said.count(first) == 1
    session = await reflection(service, token)
    assert session["status"] == "COMPLETED"
    assert answers_of(session) == [PARTIAL, "A walk.", "Rest more."]


async def test_1_with_nothing_said_leaves_the_answer_empty(service: Service):
    token, result = await call(service, [Press("1"), "A walk.", "Rest more."])
    session = await reflection(service, token)
    assert session["status"] == "COMPLETED"
    assert answers_of(session) == ["", "A walk.", "Rest more."]
    assert result.said[-1] == GOODBYE


async def test_1_on_the_last_prompt_goes_to_the_rating_question(service: Service):
    token, result = await call(
        service, ["Family.", "Work.", PARTIAL, Press("1"), "plus two"], includeRating=True
    )
    assert RATING_QUESTION in result.said
    session = await reflection(service, token)
    assert (session["status"], session["rating"]) == ("COMPLETED", 2)
    assert answers_of(session) == ["Family.", "Work.", PARTIAL]


# -- 0: repeat -------------------------------------------------------------------------------


async def test_0_repeats_the_prompt_and_what_was_said_still_counts(service: Service):
    token, result = await call(
        service, [PARTIAL, Press("0"), "my sister's call.", "A walk.", "Rest more."]
    )
    first, _, _ = await prompts(service, token)
    assert result.said.count(first) == 2
    (key,) = key_webhooks(result)
    assert first in key.body and "<Gather" in key.body
    session = await reflection(service, token)
    assert answers_of(session) == [f"{PARTIAL} my sister's call.", "A walk.", "Rest more."]


async def test_0_starts_the_count_of_silences_again(service: Service):
    """Silence, the key, silence: the prompt is asked once more, not given up on."""
    token, result = await call(
        service, [Silence(), Press("0"), Silence(), "Friends.", "A walk.", "Rest more."]
    )
    assert result.said.count(TAKE_YOUR_TIME) == 2
    assert answers_of(await reflection(service, token)) == ["Friends.", "A walk.", "Rest more."]


# -- 9: finish -------------------------------------------------------------------------------


async def test_9_ends_the_call_keeping_the_answers_and_it_is_not_called_again(service: Service):
    token, result = await call(service, ["Family.", PARTIAL, Press("9")], maxRetries=3)

    assert result.said[-1] == GOODBYE
    assert (result.final_status, result.ended_by) == ("completed", "service")
    session = await reflection(service, token)
    assert session["status"] == "ABANDONED"
    assert session["abandonReason"] == "the caller ended the call early"
    assert answers_of(session) == ["Family.", PARTIAL, None]
    assert f"A: {PARTIAL}" in session["transcript"]
    assert "(unfinished)" not in session["transcript"], "it was recorded as the answer"
    doc = await the_call(service)
    assert (doc["status"], doc["answeredCount"]) == ("ABANDONED", 2)
    assert doc["reason"] == "the caller ended the call early (keypad)"
    (scheduled,) = await scheduled_calls(service, token)
    assert scheduled["status"] == "COMPLETED"
    assert await service.dial_due() == [], "no retry"


async def test_9_with_nothing_said_to_the_current_prompt_records_no_answer_for_it(
    service: Service,
):
    token, _ = await call(service, ["Family.", Press("9")])
    session = await reflection(service, token)
    assert answers_of(session) == ["Family.", None, None]
    assert (await the_call(service))["answeredCount"] == 1


async def test_9_after_speaking_to_the_last_prompt_completes_the_reflection(service: Service):
    token, result = await call(service, ["Family.", "Work.", PARTIAL, Press("9")])
    assert result.said[-1] == GOODBYE
    session = await reflection(service, token)
    assert session["status"] == "COMPLETED"
    assert answers_of(session) == ["Family.", "Work.", PARTIAL]
    assert (await the_call(service))["status"] == "COMPLETED"


# -- another key at a prompt -----------------------------------------------------------------


async def test_another_key_says_what_the_keys_do_and_listens_on(service: Service):
    token, result = await call(
        service, [PARTIAL, Press("5"), Press("#"), "my sister's call.", "A walk.", "Rest more."]
    )
    assert result.said.count(KEYS_HELP) == 2
    assert [w.params["Digits"] for w in key_webhooks(result)] == ["5", "#"]
    session = await reflection(service, token)
    assert answers_of(session) == [f"{PARTIAL} my sister's call.", "A walk.", "Rest more."]


# -- at the rating question ------------------------------------------------------------------

ANSWERED = ["Family.", "Work went well.", "Sleep early."]


async def test_1_to_5_rate_the_day_at_the_rating_question(service: Service):
    for digit, rating in (("1", -2), ("4", 1)):
        token, result = await call(service, [*ANSWERED, Press(digit)], includeRating=True)
        assert result.said[-1] == GOODBYE
        session = await reflection(service, token)
        assert (session["status"], session["rating"]) == ("COMPLETED", rating)


async def test_9_at_the_rating_question_ends_with_no_rating(service: Service):
    token, result = await call(service, [*ANSWERED, Press("9")], includeRating=True)
    assert result.said[-1] == GOODBYE
    session = await reflection(service, token)
    assert (session["status"], session["rating"]) == ("COMPLETED", None)
    assert answers_of(session) == ANSWERED
    (scheduled,) = await scheduled_calls(service, token)
    assert scheduled["status"] == "COMPLETED"


async def test_0_repeats_the_rating_question_and_another_key_says_the_rating_keys(
    service: Service,
):
    token, result = await call(
        service, [*ANSWERED, Press("0"), Press("7"), "minus one"], includeRating=True
    )
    assert result.said.count(RATING_QUESTION) == 2
    assert result.said.count(RATING_KEYS_HELP) == 1
    session = await reflection(service, token)
    assert (session["status"], session["rating"]) == ("COMPLETED", -1)


# -- a key that cannot be taken --------------------------------------------------------------


async def test_a_key_for_an_unknown_call_gets_the_apology(service: Service):
    for name in ("gather", "rating"):
        answer = await service.webhook(name, {"CallSid": "CA" + "0" * 32, "Digits": "1"})
        assert answer.status_code == 200
        assert SORRY in answer.text and "<Hangup" in answer.text


async def test_a_replayed_key_on_a_finished_call_changes_nothing(service: Service):
    token, result = await call(service, [PARTIAL, Press("1"), "A walk.", Press("9")])
    await service.engine.settle()
    before = await dump(service)
    (skip, finish) = key_webhooks(result)

    for sent in (skip, finish, skip):
        headers = {
            "X-Twilio-Signature": sent.signature,
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        }
        answer = await service.http.post(
            sent.url.removeprefix(BASE), data=sent.params, headers=headers
        )
        assert answer.status_code == 409, "the turn it was sent for was taken already"
    # a key for the call on a URL that names no turn: PhoneCall refuses an ended call
    answer = await service.webhook("gather", {"CallSid": result.sid, "Digits": "1"})
    assert SORRY in answer.text and "<Gather" not in answer.text
    for digits in ("0", "1", "9"):  # at the rating question too
        answer = await service.webhook("rating", {"CallSid": result.sid, "Digits": digits})
        assert SORRY in answer.text
    await service.engine.settle()

    assert await dump(service) == before
    assert answers_of(await reflection(service, token)) == [PARTIAL, "A walk.", None]
