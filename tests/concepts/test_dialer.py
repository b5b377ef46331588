"""Dialer, rule by rule (docs/concepts/Dialer.md): at most one real call per attempt."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from conceptkit import describe_operations
from concepts.dialer import Dialer
from services.telephony import AmbiguousDialError, TelephonyError
from services.webhooks.urls import WebhookUrls

TO = "+14155550100"
POLICY = SimpleNamespace(claim_lease_seconds=60, unclear_give_up_seconds=90)


@pytest.fixture
async def dialer(async_db, clock, mock_telephony, encryptor) -> Dialer:
    concept = Dialer(
        async_db,
        {
            "clock": clock,
            "telephony": mock_telephony,
            "webhook_urls": WebhookUrls("https://x.test"),
            "call_policy": POLICY,
            "encryption": encryptor,
        },
    )
    await concept.setup()
    return concept


async def an_attempt(dialer: Dialer, clock, **fields) -> None:
    """Attempt s1:1 as an earlier dial (another worker, or a dead one) left it."""
    doc = {
        "_id": "s1:1",
        "user": "u1",
        "call": "c1",
        "scheduledCall": "s1",
        "to": dialer.services["encryption"].encrypt(TO, user="u1", field="Dialer.to"),
        "toKey": dialer.services["encryption"].lookup_key(TO, purpose="phone"),
        "at": clock.now(),
        "state": "dialing",
        "callSid": None,
        **fields,
    }
    await dialer.attempts.insert_one(doc)


async def dial(dialer: Dialer, attempt: int = 1, call: str = "c1") -> dict:
    return await dialer.dial(user="u1", call=call, scheduledCall="s1", attempt=attempt, to=TO)


async def test_a_first_dial_places_one_call_with_the_webhook_urls(dialer, mock_telephony):
    out = await dial(dialer)
    (placed,) = mock_telephony.calls
    assert out == {"callSid": placed.sid, "adopted": False, "unclear": False}
    # our call id rides along, so a webhook that beats attachSid still finds its call
    assert placed.answer_url == "https://x.test/webhooks/twilio/voice?call=c1"
    assert placed.status_callback_url == "https://x.test/webhooks/twilio/status?call=c1"
    assert placed.recording_callback_url == "https://x.test/webhooks/twilio/recording"
    (row,) = await dialer._attempts(scheduledCall="s1")
    assert (row["state"], row["callSid"]) == ("placed", placed.sid)


async def test_dialling_an_attempt_again_returns_its_call_and_places_none(dialer, mock_telephony):
    first = await dial(dialer)
    again = await dial(dialer)
    assert again == {"callSid": first["callSid"], "adopted": True, "unclear": False}
    assert len(mock_telephony.calls) == 1


async def test_an_attempt_another_worker_is_dialling_is_refused(dialer, mock_telephony, clock):
    await an_attempt(dialer, clock, lockUntil=clock.now().timestamp() + 30)
    out = await dial(dialer)
    assert out["errorKind"] == "conflict"
    assert mock_telephony.calls == []


async def test_a_crashed_dial_is_resumed_by_adopting_the_call_the_provider_has(
    dialer, mock_telephony, clock
):
    # the dead worker asked the provider, which placed the call; the answer was never recorded
    placed = await mock_telephony.place_call(
        to=TO, answer_url="a", status_callback_url="b", recording_callback_url="c"
    )
    await an_attempt(dialer, clock, lockUntil=clock.now().timestamp() - 1)
    out = await dial(dialer)
    assert out == {"callSid": placed.sid, "adopted": True, "unclear": False}
    assert len(mock_telephony.calls) == 1


async def test_a_crashed_dial_that_never_reached_the_provider_is_dialled(
    dialer, mock_telephony, clock
):
    await an_attempt(dialer, clock, lockUntil=clock.now().timestamp() - 1)
    out = await dial(dialer)
    assert out["adopted"] is False and len(mock_telephony.calls) == 1


async def test_an_ambiguous_failure_adopts_the_call_if_the_provider_made_it(
    dialer, mock_telephony, clock
):
    mock_telephony.fail_next_call(
        AmbiguousDialError("timeout", to=TO, attempted_at=clock.now()), still_placed=True
    )
    out = await dial(dialer)
    assert out["adopted"] is True and out["callSid"] == mock_telephony.calls[0].sid


async def test_an_ambiguous_failure_stays_unclear_and_is_adopted_when_the_provider_shows_it(
    dialer, mock_telephony, clock
):
    mock_telephony.fail_next_call(AmbiguousDialError("timeout", to=TO, attempted_at=clock.now()))
    first = await dial(dialer)
    assert first == {"callSid": None, "adopted": False, "unclear": True}, "never a miss"
    assert mock_telephony.calls == []
    (row,) = await dialer._attempts(scheduledCall="s1")
    assert row["state"] == "ambiguous"
    # the provider did create it after all (queued behind the rate limit), and says so now
    late = await mock_telephony.place_call(
        to=TO, answer_url="a", status_callback_url="b", recording_callback_url="c"
    )
    clock.advance(minutes=2)
    assert await dialer.reconcile(call="c1") == {"call": "c1", "callSid": late.sid, "placed": True}
    assert len(mock_telephony.calls) == 1
    # the next attempt of the same scheduled call dials nothing new either
    second = await dial(dialer, attempt=2, call="c2")
    assert second["callSid"] != late.sid and len(mock_telephony.calls) == 2


async def test_an_unclear_attempt_the_provider_never_shows_is_given_up_only_after_a_while(
    dialer, mock_telephony, clock
):
    mock_telephony.fail_next_call(AmbiguousDialError("timeout", to=TO, attempted_at=clock.now()))
    await dial(dialer)
    clock.advance(minutes=1)
    still = await dialer.reconcile(call="c1")
    assert still["errorKind"] == "unavailable", "too early to tell"
    clock.advance(minutes=3)
    assert await dialer.reconcile(call="c1") == {"call": "c1", "callSid": None, "placed": False}
    (row,) = await dialer._attempts(scheduledCall="s1")
    assert row["state"] == "not_placed"


async def test_a_call_to_a_shared_number_is_not_adopted_while_another_attempt_could_own_it(
    dialer, mock_telephony, clock
):
    """Two users verified the same number: reconcile by our own call id, not by number."""
    mock_telephony.fail_next_call(AmbiguousDialError("timeout", to=TO, attempted_at=clock.now()))
    await dial(dialer)  # u1's attempt: unclear
    mock_telephony.fail_next_call(AmbiguousDialError("timeout", to=TO, attempted_at=clock.now()))
    await dialer.dial(user="u2", call="c9", scheduledCall="s9", attempt=1, to=TO)  # u2's: unclear
    theirs = await mock_telephony.place_call(
        to=TO, answer_url="a", status_callback_url="b", recording_callback_url="c"
    )
    clock.advance(minutes=2)
    out = await dialer.reconcile(call="c1")
    assert out["errorKind"] == "unavailable", f"{theirs.sid} could be u2's call: not adopted"
    assert (await dialer._attempts(scheduledCall="s1"))[0]["callSid"] is None
    mock_telephony.set_call_status(theirs.sid, "hung_up")
    out = await dialer.reconcile(call="c1")
    assert out == {"call": "c1", "callSid": None, "placed": False}, "given up once it is over"


async def test_a_stalled_dialler_sends_nothing_once_its_attempt_was_taken_over(
    async_db, clock, mock_telephony, encryptor
):
    """The fence: checked right before the request leaves, after any wait."""
    stalled, resume = asyncio.Event(), asyncio.Event()

    class Stalling:
        def __getattr__(self, name):
            return getattr(mock_telephony, name)

        async def place_call(self, **kw):
            stalled.set()
            await resume.wait()  # the worker stalls (pacing, a GC pause) past its lease
            return await mock_telephony.place_call(**kw)

    def dialer_with(telephony):
        services = {
            "clock": clock,
            "telephony": telephony,
            "webhook_urls": WebhookUrls("https://x.test"),
            "call_policy": POLICY,
            "encryption": encryptor,
        }
        return Dialer(async_db, services)

    slow, takeover = dialer_with(Stalling()), dialer_with(mock_telephony)
    await slow.setup()
    first = asyncio.ensure_future(dial(slow))
    await stalled.wait()
    clock.advance(seconds=61)  # the lock (the claim lease) expired
    second = await dial(takeover)
    assert second["adopted"] is False and len(mock_telephony.calls) == 1
    resume.set()
    late = await first
    assert late["errorKind"] == "conflict", late
    assert len(mock_telephony.calls) == 1, "dialled once"


async def test_a_cancelled_dial_is_not_sent(dialer, mock_telephony, clock):
    stalled, resume = asyncio.Event(), asyncio.Event()
    real = mock_telephony.place_call

    async def place_call(**kw):
        stalled.set()
        await resume.wait()
        return await real(**kw)

    mock_telephony.place_call = place_call  # the port's own test double: a slow provider
    first = asyncio.ensure_future(dial(dialer))
    await stalled.wait()
    assert await dialer.cancelDial(scheduledCall="s1") == {"stopped": True}
    resume.set()
    out = await first
    assert (out["errorKind"], out["cancelled"]) == ("conflict", True)
    assert mock_telephony.calls == []


async def test_a_dial_of_a_call_cancelled_before_it_began_is_never_sent(dialer, mock_telephony):
    assert await dialer.cancelDial(scheduledCall="s1") == {"stopped": False}
    out = await dial(dialer)
    assert out["cancelled"] is True and mock_telephony.calls == []


async def test_a_dial_for_a_deleted_user_is_never_sent(dialer, mock_telephony):
    await dialer.deleteAllFor(user="u1")
    assert (await dial(dialer))["cancelled"] is True
    assert mock_telephony.calls == []


async def test_an_attempt_whose_request_may_have_left_is_never_sent_again(
    dialer, mock_telephony, clock
):
    """The holder died after the fence let its request go: the next holder adopts what the
    provider has, live or over (a declined call), and otherwise leaves it unclear."""
    declined = await mock_telephony.place_call(
        to=TO, answer_url="a", status_callback_url="b", recording_callback_url="c"
    )
    mock_telephony.set_call_status(declined.sid, "busy")
    await an_attempt(
        dialer,
        clock,
        sentAt=clock.now(),
        lockUntil=clock.now().timestamp() - 1,
        fence=1,
        cancelled=False,
    )
    out = await dial(dialer)
    assert out == {"callSid": declined.sid, "adopted": True, "unclear": False}
    assert len(mock_telephony.calls) == 1, "not dialled again"
    # with nothing at the provider, it stays unclear (the reconciler asks again later)
    await dialer.attempts.update_one(
        {"_id": "s1:1"},
        {"$set": {"state": "dialing", "callSid": None, "lockUntil": 0, "sentAt": clock.now()}},
    )
    mock_telephony.calls.clear()
    again = await dialer.dial(user="u1", call="c1", scheduledCall="s1", attempt=1, to=TO)
    assert again == {"callSid": None, "adopted": False, "unclear": True}
    assert mock_telephony.calls == []


async def test_look_up_tells_what_the_provider_knows_of_a_call(dialer, mock_telephony):
    sid = (await dial(dialer))["callSid"]
    out = await dialer.lookUp(callSid=sid)
    assert (out["status"], out["ended"]) == ("ringing", False)
    mock_telephony.set_call_status(sid, "hung_up")
    assert (await dialer.lookUp(callSid=sid))["ended"] is True
    assert (await dialer.lookUp(callSid="CA" + "0" * 32))["errorKind"] == "unavailable"


async def test_a_call_already_over_is_not_adopted(dialer, mock_telephony, clock):
    mock_telephony.fail_next_call(AmbiguousDialError("timeout", to=TO, attempted_at=clock.now()))
    await dial(dialer)
    old = await mock_telephony.place_call(
        to=TO, answer_url="a", status_callback_url="b", recording_callback_url="c"
    )
    mock_telephony.set_call_status(old.sid, "hung_up")
    out = await dial(dialer, attempt=2, call="c2")
    assert out["adopted"] is False and out["callSid"] != old.sid


async def test_a_definite_failure_is_reported_and_nothing_is_adopted_later(
    dialer, mock_telephony, clock
):
    mock_telephony.fail_next_call(TelephonyError("invalid number", code=21211, status=400))
    out = await dial(dialer)
    assert out["errorKind"] == "unavailable" and "invalid number" in out["error"]
    (row,) = await dialer._attempts(scheduledCall="s1")
    assert row["state"] == "failed"


async def test_hang_up_ends_a_live_call(dialer, mock_telephony):
    sid = (await dial(dialer))["callSid"]
    assert await dialer.hangUp(callSid=sid) == {}
    assert (await dialer.hangUp(callSid="CA" + "0" * 32))["errorKind"] == "unavailable"


async def test_delete_all_for_forgets_only_that_users_attempts(dialer):
    await dial(dialer)
    await dialer.dial(user="u2", call="c9", scheduledCall="s9", attempt=1, to="+14155550199")
    await dialer.deleteAllFor(user="u1")
    assert await dialer._attempts(scheduledCall="s1") == []
    assert len(await dialer._attempts(scheduledCall="s9")) == 1


# -- private at rest ---------------------------------------------------------------------


async def test_the_number_is_stored_encrypted_and_found_by_its_lookup_key(
    dialer, mock_telephony, encryptor
):
    await dial(dialer)
    doc = await dialer.attempts.find_one({"_id": "s1:1"})
    assert TO[1:] not in str(doc)
    assert encryptor.decrypt(doc["to"], user="u1", field="Dialer.to") == TO
    assert doc["toKey"] == encryptor.lookup_key(TO, purpose="phone")
    assert "to" in describe_operations(dialer)["dial"].private


async def test_a_refused_dial_keeps_no_number_in_its_error(dialer, mock_telephony):
    class Refusing:
        def __getattr__(self, name):
            return getattr(mock_telephony, name)

        async def place_call(self, **kw):
            raise TelephonyError(f"The 'To' number {kw['to']} is not a valid phone number")

    dialer.services["telephony"] = Refusing()
    out = await dial(dialer)
    assert out["errorKind"] == "unavailable" and TO not in out["error"]
    assert "the number" in out["error"]
    doc = await dialer.attempts.find_one({"_id": "s1:1"})
    assert TO not in str(doc)
