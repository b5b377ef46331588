"""A reflection call end to end, in-process: the syncs as the caller experiences them."""

from __future__ import annotations

import random

from conceptkit import ACTIONS
from services.devtools.callees import (
    BusyCallee,
    HangUpAfter,
    NoAnswerCallee,
    ScriptedCallee,
    VoicemailCallee,
)
from tests.app.conftest import Service

ANSWERS = [
    ["I was grateful for", "my sister's call."],
    "A long walk in the park.",
    "Rest more tomorrow.",
]


async def scheduled_status(service: Service, token: str, scheduled: str) -> dict:
    rows = await service.api("CallScheduler/_recent", {}, token)
    return next(r for r in rows if r["scheduledCall"] == scheduled)


async def test_a_full_call_records_every_answer_and_the_recording(service: Service):
    token = await service.sign_up(namePronunciation="Ah-dah")
    scheduled = await service.call_now(token)
    (placed,) = await service.dial_due()
    callee = ScriptedCallee(ANSWERS)
    result = await service.play(placed, callee)

    assert result.final_status == "completed", result.errors
    assert result.said[0].startswith("Hi Ah-dah.")
    prompts = [p["text"] for p in await service.api("Prompts/_prompts", {}, token)]
    heard = " ".join(result.said)
    positions = [heard.index(p) for p in prompts]
    assert positions == sorted(positions), "prompts asked in order"
    assert result.said[-1].startswith("Thank you for reflecting")

    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert session["status"] == "COMPLETED" and session["method"] == "PHONE"
    assert [p["answer"] for p in session["prompts"]] == [
        "I was grateful for my sister's call.",
        "A long walk in the park.",
        "Rest more tomorrow.",
    ]
    assert session["hasRecording"] is True and "recordingUrl" not in session
    # the service fetches the URL the provider reported, with its own credentials, and
    # streams it to the user
    service.telephony.recordings[result.recording_url] = ("audio/mpeg", b"ID3 the call")
    audio = await service.http.get(
        f"/api/recordings/{session['session']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert (audio.status_code, audio.headers["content-type"]) == (200, "audio/mpeg")
    assert audio.content == b"ID3 the call"
    full = (
        await service.api("ReflectionSession/_session", {"session": session["session"]}, token)
    )[0]
    assert "my sister's call" in full["transcript"]
    assert (await scheduled_status(service, token, scheduled))["status"] == "COMPLETED"

    # nothing of what was said is stored in plaintext anywhere in the database
    db = service.engine.db
    for name in await db.list_collection_names():
        async for doc in db[name].find({}):
            text = str(doc)
            assert "sister" not in text and "walk in the park" not in text, name
            assert result.recording_url not in text, name


async def test_the_rating_question_is_asked_when_the_user_wants_it(service: Service):
    token = await service.sign_up(includeRating=True)
    await service.call_now(token)
    (placed,) = await service.dial_due()
    result = await service.play(
        placed, ScriptedCallee(["Family.", "Work went well.", "Sleep early.", "plus one"])
    )
    assert any("scale from minus two" in s for s in result.said)
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert (session["status"], session["rating"]) == ("COMPLETED", 1)


async def test_hanging_up_at_the_rating_question_still_completes_the_reflection(service: Service):
    """Every prompt answered, then the caller hangs up instead of rating: Twilio's
    "completed" status completes the reflection (it is not abandoned, and not retried)."""
    token = await service.sign_up(includeRating=True)
    scheduled = await service.call_now(token)
    (placed,) = await service.dial_due()
    result = await service.play(placed, HangUpAfter(3, answers=["Family.", "Work.", "Sleep."]))
    assert any("scale from minus two" in s for s in result.said)
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert session["status"] == "COMPLETED" and session["rating"] is None
    assert [p["answer"] for p in session["prompts"]] == ["Family.", "Work.", "Sleep."]
    assert (await scheduled_status(service, token, scheduled))["status"] == "COMPLETED"


async def test_silence_asks_once_more_then_moves_on_with_an_empty_answer(service: Service):
    token = await service.sign_up()
    await service.call_now(token)
    (placed,) = await service.dial_due()
    from services.devtools.call_player import Silence

    result = await service.play(
        placed, ScriptedCallee([Silence(), Silence(), "Friends.", "Lunch.", "Patience."])
    )
    assert any(s == "Take your time." for s in result.said)
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert [p["answer"] for p in session["prompts"]] == ["", "Friends.", "Lunch."] or session[
        "status"
    ] == "COMPLETED"
    assert session["prompts"][0]["answer"] == ""


async def test_hanging_up_midway_abandons_the_reflection_and_keeps_the_answers(service: Service):
    token = await service.sign_up()
    scheduled = await service.call_now(token)
    (placed,) = await service.dial_due()
    await service.play(placed, HangUpAfter(1, answers=["My dog."]))
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert session["status"] == "ABANDONED"
    assert session["prompts"][0]["answer"] == "My dog."
    assert (await scheduled_status(service, token, scheduled))["status"] == "COMPLETED", (
        "not retried"
    )


async def test_missed_calls_are_retried_until_max_retries_then_failed(service: Service):
    token = await service.sign_up(maxRetries=3)
    scheduled = await service.call_now(token)
    callees = [BusyCallee(), NoAnswerCallee(), VoicemailCallee()]
    for i, callee in enumerate(callees):
        (placed,) = await service.dial_due()
        await service.play(placed, callee)
        row = await scheduled_status(service, token, scheduled)
        assert row["attempts"] == i + 1
    assert row["status"] == "FAILED"
    assert await service.dial_due() == []
    assert len(service.telephony.calls) == 3


async def test_a_voicemail_is_hung_up_on_without_a_word(service: Service):
    token = await service.sign_up()
    await service.call_now(token)
    (placed,) = await service.dial_due()
    result = await service.play(placed, VoicemailCallee())
    assert result.said == []


async def test_no_call_is_placed_to_an_unverified_number(service: Service):
    token = await service.sign_up(verify=False)
    r = await service.http.post(
        "/api/Calls/now", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 409 and "verify" in r.json()["error"]
    assert await service.dial_due() == []


async def test_shuffled_and_duplicated_status_callbacks_give_the_same_final_state(service: Service):
    token = await service.sign_up()
    await service.call_now(token)
    (placed,) = await service.dial_due()
    await service.play(
        placed, ScriptedCallee(ANSWERS), duplicate_status=True, shuffle_status=random.Random(3)
    )
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert session["status"] == "COMPLETED"


async def test_a_forged_webhook_is_refused_and_changes_nothing(service: Service):
    token = await service.sign_up()
    await service.call_now(token)
    (placed,) = await service.dial_due()
    await service.engine.log.flush()
    before = await service.engine.db[ACTIONS].count_documents({})
    r = await service.http.post(
        "/webhooks/twilio/status",
        data={"CallSid": placed.sid, "CallStatus": "busy", "SequenceNumber": "9"},
        headers={"X-Twilio-Signature": "forged"},
    )
    assert r.status_code == 403
    r = await service.http.post("/webhooks/twilio/voice", data={"CallSid": placed.sid})
    assert r.status_code == 403
    await service.engine.log.flush()
    assert await service.engine.db[ACTIONS].count_documents({}) == before
    (row,) = await service.api("CallScheduler/_upcoming", {}, token)
    assert row["status"] == "IN_PROGRESS"


async def test_cancelling_a_pending_call_stops_every_attempt(service: Service):
    token = await service.sign_up()
    scheduled = await service.call_now(token)
    await service.api("CallScheduler/cancel", {"scheduledCall": scheduled}, token)
    assert await service.dial_due() == []
    assert (await scheduled_status(service, token, scheduled))["status"] == "CANCELLED"


async def test_text_mode_answers_the_same_prompts(service: Service):
    token = await service.sign_up()
    session = (await service.api("Reflection/startText", {}, token))["session"]
    prompts = await service.api("Prompts/_prompts", {}, token)
    for p in prompts:
        await service.api(
            "ReflectionSession/recordResponse",
            {"session": session, "position": p["position"], "text": f"typed {p['position']}"},
            token,
        )
    await service.api("ReflectionSession/completeSession", {"session": session}, token)
    (row,) = await service.api("ReflectionSession/_history", {}, token)
    assert row["method"] == "TEXT" and [p["answer"] for p in row["prompts"]] == [
        "typed 1",
        "typed 2",
        "typed 3",
    ]


async def test_a_scheduled_call_is_placed_at_its_local_time_across_a_dst_change(service: Service):
    """20:00 in New York: 01:00 UTC in winter, 00:00 UTC once daylight saving starts (8 March 2026)."""
    import datetime as dt

    service.clock.set(dt.datetime(2026, 3, 7, 15, 0, tzinfo=dt.UTC))
    token = await service.sign_up()
    await service.api("Schedule/setDaily", {"timezone": "America/New_York", "time": "20:00"}, token)
    placed_at = []
    for day_start in (
        dt.datetime(2026, 3, 7, 15, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 8, 15, 0, tzinfo=dt.UTC),
    ):
        service.clock.set(day_start)
        for _ in range(24 * 60):  # one simulated minute at a time
            await service.worker.plan_due()
            calls = await service.dial_due()
            if calls:
                placed_at.append(service.clock.now())
                await service.play(calls[0], ScriptedCallee(["Rain.", "Music.", "Calm."]))
                break
            service.clock.advance(minutes=1)
    assert placed_at == [
        dt.datetime(2026, 3, 8, 1, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 9, 0, 0, tzinfo=dt.UTC),
    ]
    sessions = await service.api("ReflectionSession/_history", {}, token)
    assert [s["status"] for s in sessions] == ["COMPLETED", "COMPLETED"]


async def test_pausing_the_schedule_cancels_the_planned_call(service: Service):
    import datetime as dt

    service.clock.set(dt.datetime(2026, 6, 1, 23, 59, 30, tzinfo=dt.UTC))  # 19:59:30 in New York
    token = await service.sign_up()
    await service.api("Schedule/setDaily", {"timezone": "America/New_York", "time": "20:00"}, token)
    await service.worker.plan_due()
    (planned,) = await service.api("CallScheduler/_upcoming", {}, token)
    await service.api("Schedule/pause", {}, token)
    assert await service.api("CallScheduler/_upcoming", {}, token) == []
    service.clock.advance(minutes=5)
    assert await service.dial_due() == []
    assert planned["status"] == "PENDING"


async def test_a_call_whose_end_was_never_reported_is_looked_up_and_closed_with_its_answers(
    service: Service,
):
    """Status callbacks lost in an outage: the reconciler asks the provider, within minutes."""

    from services.devtools.call_player import HangUp

    token = await service.sign_up()
    scheduled = await service.call_now(token)
    (placed,) = await service.dial_due()
    # the caller answers one prompt and hangs up; every status callback is lost
    await service.play(
        placed, ScriptedCallee(["My garden.", HangUp()]), status_delivery=lambda held: []
    )
    service.telephony.set_call_status(placed.sid, "hung_up")  # the provider knows it ended
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert session["status"] == "IN_PROGRESS"
    assert await service.worker.reconcile() == [], "a call changed just now is left alone"
    service.clock.advance(seconds=90)
    repaired = await service.worker.reconcile()
    assert "CallOutlivedItsEnd" in repaired
    await service.engine.settle()
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert session["status"] == "ABANDONED" and session["prompts"][0]["answer"] == "My garden."
    assert (await scheduled_status(service, token, scheduled))["status"] == "COMPLETED"
    assert (await service.call_now(token)) != scheduled, "the user can be called again"


async def test_a_call_the_provider_cannot_account_for_is_closed_after_its_time_limit(
    service: Service,
):
    """The provider keeps saying the call is live (or cannot be asked): closed at 25 minutes."""

    from services.devtools.call_player import HangUp

    token = await service.sign_up()
    scheduled = await service.call_now(token)
    (placed,) = await service.dial_due()
    await service.play(
        placed, ScriptedCallee(["My garden.", HangUp()]), status_delivery=lambda held: []
    )
    service.telephony.set_call_status(placed.sid, "answered")
    service.clock.advance(minutes=5)
    await service.worker.reconcile()
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert session["status"] == "IN_PROGRESS", "the provider says it is still live"
    service.clock.advance(minutes=25)
    assert "CallNeverEnded" in await service.worker.reconcile()
    await service.engine.settle()
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert session["status"] == "ABANDONED" and session["prompts"][0]["answer"] == "My garden."
    assert (await scheduled_status(service, token, scheduled))["status"] == "COMPLETED"
