"""Ordinary paths that used to leave a user stuck (issue 11), each as the user lives it.

Each test drives the whole service in-process (real database, signed webhooks, the
mock provider) and checks what the user ends up with: no reflection left in
progress, the scheduled call closed or retried, nothing said lost, and the next call
possible.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

from concepts.schedule import SERVICE_DOWN
from services.devtools.callees import BusyCallee, HangUpAfter, ScriptedCallee
from services.telephony import AmbiguousDialError
from services.telephony.mock import MockTelephony
from tests.app.conftest import Service, running_service
from tests.faults import Rule, on

ANSWERS = ["A quiet morning.", "A long walk in the park.", "Rest more tomorrow."]


async def scheduled_row(service: Service, token: str, scheduled: str) -> dict:
    rows = await service.api("CallScheduler/_recent", {}, token)
    return next(r for r in rows if r["scheduledCall"] == scheduled)


async def in_progress(service: Service, token: str) -> list[dict]:
    return await service.api("ReflectionSession/_active", {}, token)


def call_id(placed: Any) -> str:
    return re.search(r"call=([0-9a-f]+)", placed.answer_url).group(1)


async def test_a_call_continues_a_typed_reflection_left_unfinished(service: Service):
    """1. The user types one answer, stops, then asks for a call: the call asks the rest."""
    token = await service.sign_up()
    session = (await service.api("Reflection/startText", {}, token))["session"]
    await service.api(
        "ReflectionSession/recordResponse",
        {"session": session, "position": 1, "text": "Typed: a good breakfast."},
        token,
    )
    await service.call_now(token)
    (placed,) = await service.dial_due()
    result = await service.play(placed, ScriptedCallee(ANSWERS[1:]))
    prompts = [p["text"] for p in await service.api("Prompts/_prompts", {}, token)]
    assert result.said[1] == prompts[1], "the call asks the second prompt first"
    assert prompts[0] not in " ".join(result.said), "the answered prompt is not asked again"
    assert not any("went wrong" in line for line in result.said), "no apology"
    (done,) = await service.api("ReflectionSession/_history", {}, token)
    assert done["session"] == session and done["status"] == "COMPLETED"
    assert done["method"] == "PHONE"
    assert [p["answer"] for p in done["prompts"]] == ["Typed: a good breakfast.", *ANSWERS[1:]]


async def test_a_first_turn_slower_than_the_webhook_limit_ends_in_a_retry(mongo_uri):
    """2. The database stalls on the first turn: the caller hears the apology, which promises
    a call back; the call is retried, and the late reflection is closed."""
    stall = Rule("stall", matches=on("ReflectionSession_sessions", "insert_one"), seconds=1.5)
    async with running_service(mongo_uri, rules=[stall], webhook_timeout_s=0.5) as service:
        token = await service.sign_up()
        scheduled = await service.call_now(token)
        (placed,) = await service.dial_due()
        result = await service.play(placed, ScriptedCallee(ANSWERS))
        assert any("call you again" in line for line in result.said)
        assert stall.fired
        await service.engine.settle()
        assert await in_progress(service, token) == [], "the late reflection was closed"
        row = await scheduled_row(service, token, scheduled)
        assert (row["status"], row["lastOutcome"]) == ("PENDING", "FAILED"), row
        (again,) = await service.dial_due()
        assert again.sid != placed.sid, "we do call again"


async def test_a_hang_up_before_prompting_began_closes_the_reflection_and_retries(mongo_uri):
    """3. The caller hangs up between being connected and the first prompt."""
    hold = Rule("hold", matches=on("ReflectionSession_sessions", "insert_one"))
    async with running_service(mongo_uri, rules=[hold], webhook_timeout_s=1) as service:
        token = await service.sign_up()
        scheduled = await service.call_now(token)
        (placed,) = await service.dial_due()
        voice = asyncio.ensure_future(
            service.webhook("voice", {"CallSid": placed.sid}, call=call_id(placed))
        )
        await hold.reached.wait()  # connected; the reflection is being started
        status = {"CallSid": placed.sid, "CallStatus": "completed", "SequenceNumber": "3"}
        assert (await service.webhook("status", status, call=call_id(placed))).status_code == 200
        hold.release.set()
        await voice
        await service.engine.settle()
        assert await in_progress(service, token) == []
        (session,) = await service.api("ReflectionSession/_history", {}, token)
        assert session["status"] == "ABANDONED"
        row = await scheduled_row(service, token, scheduled)
        assert (row["status"], row["lastOutcome"]) == ("PENDING", "HUNG_UP"), "retried"


async def test_a_transient_database_error_loses_no_answer(mongo_uri):
    """4. One transient error in recordResponse: retried at once, the reflection completes."""
    fail = Rule("fail", matches=on("ReflectionSession_sessions", "update_one"))
    async with running_service(mongo_uri, rules=[fail]) as service:
        token = await service.sign_up()
        scheduled = await service.call_now(token)
        (placed,) = await service.dial_due()
        await service.play(placed, ScriptedCallee(ANSWERS))
        assert fail.fired
        (session,) = await service.api("ReflectionSession/_history", {}, token)
        assert session["status"] == "COMPLETED"
        assert [p["answer"] for p in session["prompts"]] == ANSWERS
        assert (await scheduled_row(service, token, scheduled))["status"] == "COMPLETED"


async def test_the_hang_up_between_the_last_answer_and_its_recording_keeps_it(mongo_uri):
    """5. Twilio's 'completed' overtakes the recording of the last answer."""
    hold = Rule("hold", nth=3, matches=on("ReflectionSession_sessions", "update_one"))
    async with running_service(mongo_uri, rules=[hold]) as service:
        token = await service.sign_up()
        scheduled = await service.call_now(token)
        (placed,) = await service.dial_due()
        call = call_id(placed)
        await service.webhook("voice", {"CallSid": placed.sid}, call=call)
        for answer in ANSWERS[:2]:
            await service.webhook("gather", {"CallSid": placed.sid, "SpeechResult": answer})
        last = asyncio.ensure_future(
            service.webhook("gather", {"CallSid": placed.sid, "SpeechResult": ANSWERS[2]})
        )
        await hold.reached.wait()  # the last answer is finished; recording it is under way
        status = {"CallSid": placed.sid, "CallStatus": "completed", "SequenceNumber": "9"}
        await service.webhook("status", status, call=call)
        hold.release.set()
        await last
        await service.engine.settle()
        (session,) = await service.api("ReflectionSession/_history", {}, token)
        assert session["status"] == "COMPLETED"
        assert [p["answer"] for p in session["prompts"]] == ANSWERS
        assert (await scheduled_row(service, token, scheduled))["status"] == "COMPLETED"


class SlowProvider(MockTelephony):
    """A provider whose create can be held: before it is sent, or after it was accepted."""

    def __init__(self, *, hold_before_sending: bool) -> None:
        super().__init__(seed=11)
        self.hold_before_sending = hold_before_sending
        self.reached, self.release = asyncio.Event(), asyncio.Event()

    async def place_call(self, **kw: Any) -> Any:
        if self.hold_before_sending:
            self.reached.set()
            await self.release.wait()  # e.g. waiting for its turn under the CPS limit
            return await super().place_call(**kw)
        placed = await super().place_call(**kw)
        self.reached.set()
        await self.release.wait()  # accepted; the answer is on its way back
        return placed


async def test_a_cancel_before_the_dial_goes_out_means_it_never_rings(mongo_uri):
    """6a. Cancel while the dial is waiting to be sent."""
    provider = SlowProvider(hold_before_sending=True)
    async with running_service(mongo_uri, telephony=provider) as service:
        token = await service.sign_up()
        scheduled = await service.call_now(token)
        dialling = asyncio.ensure_future(service.dial_due())
        await provider.reached.wait()
        out = await service.api("CallScheduler/cancel", {"scheduledCall": scheduled}, token)
        assert out == {"wasInProgress": True}
        provider.release.set()
        assert await dialling == [], "the fence called the dial off: nothing rang"
        row = await scheduled_row(service, token, scheduled)
        assert row["status"] == "CANCELLED"
        assert await service.api("CallScheduler/_upcoming", {}, token) == []


async def test_a_cancel_before_the_sid_is_known_hangs_up_as_soon_as_it_is(mongo_uri):
    """6b. Cancel after the provider accepted the call, before its sid reached us."""
    provider = SlowProvider(hold_before_sending=False)
    async with running_service(mongo_uri, telephony=provider) as service:
        token = await service.sign_up()
        scheduled = await service.call_now(token)
        dialling = asyncio.ensure_future(service.dial_due())
        await provider.reached.wait()
        await service.api("CallScheduler/cancel", {"scheduledCall": scheduled}, token)
        provider.release.set()
        (placed,) = await dialling
        assert placed.status == "failed", "hung up (cancelled) once its sid was known"
        result = await service.play(placed, ScriptedCallee(ANSWERS))
        assert result.said == [], "if it rings anyway, it is hung up on without a word"
        assert (await scheduled_row(service, token, scheduled))["status"] == "CANCELLED"
        assert await service.api("ReflectionSession/_history", {}, token) == []


async def test_an_ambiguous_dial_that_did_ring_is_never_also_a_miss(mongo_uri):
    """7a. The create's answer is lost and the lookup fails too; the call rings anyway."""
    async with running_service(mongo_uri) as service:
        token = await service.sign_up()
        scheduled = await service.call_now(token)
        now = service.clock.now()
        service.telephony.fail_next_call(
            AmbiguousDialError("timeout", to="+1", attempted_at=now), still_placed=True
        )
        service.telephony.fail_next_lookups(1)
        (placed,) = await service.dial_due()
        row = await scheduled_row(service, token, scheduled)
        assert (row["status"], row["attempts"]) == ("IN_PROGRESS", 1), "unclear, not missed"
        result = await service.play(placed, ScriptedCallee(ANSWERS))
        assert result.said[-1].startswith("Thank you for reflecting"), result.said
        (session,) = await service.api("ReflectionSession/_history", {}, token)
        assert session["status"] == "COMPLETED"
        service.clock.advance(minutes=10)
        await service.worker.reconcile()
        assert await service.dial_due() == [], "no retry: the user reflected"
        assert (await scheduled_row(service, token, scheduled))["status"] == "COMPLETED"


async def test_an_ambiguous_dial_that_never_rang_is_retried_once_the_provider_says_so(mongo_uri):
    """7b. The provider never placed it: a miss only once it shows no call."""
    async with running_service(mongo_uri) as service:
        token = await service.sign_up()
        scheduled = await service.call_now(token)
        service.telephony.fail_next_call(
            AmbiguousDialError("timeout", to="+1", attempted_at=service.clock.now())
        )
        assert await service.dial_due() == []
        service.clock.advance(minutes=1)
        assert await service.worker.reconcile() == [], "asked, still unclear: not a repair"
        assert (await scheduled_row(service, token, scheduled))["status"] == "IN_PROGRESS"
        service.clock.advance(seconds=31)
        assert "DialStillUnclear" in await service.worker.reconcile()
        await service.engine.settle()
        row = await scheduled_row(service, token, scheduled)
        assert (row["status"], row["lastOutcome"]) == ("PENDING", "FAILED")
        (placed,) = await service.dial_due()
        assert placed.to == (await service.api("Profile/_getProfile", {}, token))[0]["phoneNumber"]


async def set_evening_call(service: Service, token: str) -> None:
    await service.api("Schedule/setDaily", {"timezone": "America/New_York", "time": "20:00"}, token)


def new_york(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    zone = dt.timezone(dt.timedelta(hours=-5))  # EST: no daylight saving in early December
    return dt.datetime(2026, 12, day, hour, minute, second, tzinfo=zone)


async def test_a_slot_missed_in_a_worker_outage_is_not_dialled_at_night(service: Service):
    """8. The worker was down from 19:00 to 23:30: the 20:00 call is not placed at 23:30."""
    token = await service.sign_up()
    service.clock.set(new_york(1, 12))
    await set_evening_call(service, token)
    service.clock.set(new_york(1, 23, 30))  # back after the slot, outside the window
    await service.worker.plan_due()
    assert await service.dial_due() == []
    (missed,) = await service.api("CallScheduler/_recent", {}, token)
    assert (missed["status"], missed["errorMessage"]) == ("FAILED", SERVICE_DOWN)
    assert missed["scheduledFor"].startswith("2026-12-02T01:00:00")  # 20:00 New York
    # the next day's call is planned as usual
    assert (await service.api("Schedule/_nextCall", {}, token))[0]["at"].startswith("2026-12-03")


async def test_a_slot_missed_by_minutes_is_still_called(service: Service):
    token = await service.sign_up()
    service.clock.set(new_york(1, 12))
    await set_evening_call(service, token)
    service.clock.set(new_york(1, 20, 40))  # forty minutes late, still that evening
    await service.worker.plan_due()
    (placed,) = await service.dial_due()
    assert placed.status == "ringing"


async def test_a_call_abandoned_midway_keeps_the_transcript_of_what_was_said(service: Service):
    """9. The transcript of an abandoned call holds what was said."""
    token = await service.sign_up()
    await service.call_now(token)
    (placed,) = await service.dial_due()
    await service.play(placed, HangUpAfter(1, answers=["The sunshine."]))
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert session["status"] == "ABANDONED"
    (full,) = await service.api(
        "ReflectionSession/_session", {"session": session["session"]}, token
    )
    assert "The sunshine." in full["transcript"]


async def test_after_a_reflection_the_days_scheduled_call_does_not_come(service: Service):
    """10. 'Call me now' in the morning, then the evening call: no second call that day."""
    token = await service.sign_up()
    service.clock.set(new_york(1, 9))
    await set_evening_call(service, token)
    await service.call_now(token)
    (placed,) = await service.dial_due()
    await service.play(placed, ScriptedCallee(ANSWERS))
    service.clock.set(new_york(1, 19, 59, 30))
    await service.worker.plan_due()
    assert await service.api("CallScheduler/_upcoming", {}, token) == []
    service.clock.set(new_york(2, 20, 0, 5))
    await service.worker.plan_due()
    assert len(await service.dial_due()) == 1, "the next day's call comes as usual"


async def test_a_typed_reflection_drops_the_retry_that_was_waiting(service: Service):
    """10b. The line was busy and a retry waits; the user reflects by typing instead."""
    token = await service.sign_up()
    scheduled = await service.call_now(token)
    (placed,) = await service.dial_due()
    await service.play(placed, BusyCallee())
    assert (await scheduled_row(service, token, scheduled))["status"] == "PENDING"
    session = (await service.api("Reflection/startText", {}, token))["session"]
    for position, text in enumerate(ANSWERS, 1):
        body = {"session": session, "position": position, "text": text}
        await service.api("ReflectionSession/recordResponse", body, token)
    await service.api("ReflectionSession/completeSession", {"session": session}, token)
    await service.engine.settle()
    row = await scheduled_row(service, token, scheduled)
    assert (row["status"], row["lastOutcome"]) == ("CANCELLED", "ALREADY_REFLECTED")
    assert await service.dial_due() == []


async def test_account_deletion_that_fails_midway_says_so_and_completes_later(mongo_uri):
    """The then-actions of one sync: one that raises stops the rest, which run on recovery."""
    error = Rule("error", matches=on("ReflectionSession_sessions", "delete_many"))
    async with running_service(mongo_uri, rules=[error]) as service:
        token = await service.sign_up()
        await service.api("Reflection/startText", {}, token)
        r = await service.http.post(
            "/api/Account/delete",
            json={"password": "correct horse battery"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 503 and "completed automatically" in r.json()["error"]
        assert await service.api("Accounts/_account", {}, token), "not deleted halfway"
        assert await in_progress(service, token), "the reflections are still there"
        # a later recovery pass (after the grace period) finishes what was owed
        service.engine.log.now = lambda: 10**10
        await service.engine.recover()
        await service.api("Accounts/_account", {}, token, expect=401)
        assert await service.engine.db["ReflectionSession_sessions"].count_documents({}) == 0
