"""Dialer, rule by rule (docs/concepts/Dialer.md): at most one real call per attempt."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from concepts.dialer import Dialer
from services.telephony import AmbiguousDialError, TelephonyError
from services.webhook_urls import WebhookUrls

TO = "+14155550100"
POLICY = SimpleNamespace(claim_lease_seconds=60)


@pytest.fixture
async def dialer(async_db, clock, mock_telephony) -> Dialer:
    concept = Dialer(
        async_db,
        {
            "clock": clock,
            "telephony": mock_telephony,
            "webhook_urls": WebhookUrls("https://x.test"),
            "call_policy": POLICY,
        },
    )
    await concept.setup()
    return concept


async def dial(dialer: Dialer, attempt: int = 1, call: str = "c1") -> dict:
    return await dialer.dial(user="u1", call=call, scheduledCall="s1", attempt=attempt, to=TO)


async def test_a_first_dial_places_one_call_with_the_webhook_urls(dialer, mock_telephony):
    out = await dial(dialer)
    (placed,) = mock_telephony.calls
    assert out == {"callSid": placed.sid, "adopted": False}
    # our call id rides along, so a webhook that beats attachSid still finds its call
    assert placed.answer_url == "https://x.test/webhooks/twilio/voice?call=c1"
    assert placed.status_callback_url == "https://x.test/webhooks/twilio/status?call=c1"
    assert placed.recording_callback_url == "https://x.test/webhooks/twilio/recording"
    (row,) = await dialer._attempts(scheduledCall="s1")
    assert (row["state"], row["callSid"]) == ("placed", placed.sid)


async def test_dialling_an_attempt_again_returns_its_call_and_places_none(dialer, mock_telephony):
    first = await dial(dialer)
    again = await dial(dialer)
    assert again == {"callSid": first["callSid"], "adopted": True}
    assert len(mock_telephony.calls) == 1


async def test_an_attempt_another_worker_is_dialling_is_refused(dialer, mock_telephony, clock):
    await dialer.attempts.insert_one(
        {
            "_id": "s1:1",
            "user": "u1",
            "call": "c1",
            "scheduledCall": "s1",
            "to": TO,
            "at": clock.now(),
            "state": "dialing",
            "callSid": None,
            "lockUntil": clock.now().timestamp() + 30,
        }
    )
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
    await dialer.attempts.insert_one(
        {
            "_id": "s1:1",
            "user": "u1",
            "call": "c1",
            "scheduledCall": "s1",
            "to": TO,
            "at": clock.now(),
            "state": "dialing",
            "callSid": None,
            "lockUntil": clock.now().timestamp() - 1,
        }
    )
    out = await dial(dialer)
    assert out == {"callSid": placed.sid, "adopted": True}
    assert len(mock_telephony.calls) == 1


async def test_a_crashed_dial_that_never_reached_the_provider_is_dialled(
    dialer, mock_telephony, clock
):
    await dialer.attempts.insert_one(
        {
            "_id": "s1:1",
            "user": "u1",
            "call": "c1",
            "scheduledCall": "s1",
            "to": TO,
            "at": clock.now(),
            "state": "dialing",
            "callSid": None,
            "lockUntil": clock.now().timestamp() - 1,
        }
    )
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


async def test_an_ambiguous_failure_is_reconciled_before_the_next_attempt_dials(
    dialer, mock_telephony, clock
):
    mock_telephony.fail_next_call(AmbiguousDialError("timeout", to=TO, attempted_at=clock.now()))
    first = await dial(dialer)
    assert first["errorKind"] == "unavailable" and mock_telephony.calls == []
    # the provider did create it after all (queued behind the rate limit), and says so now
    late = await mock_telephony.place_call(
        to=TO, answer_url="a", status_callback_url="b", recording_callback_url="c"
    )
    clock.advance(minutes=5)
    second = await dial(dialer, attempt=2, call="c2")
    assert second == {"callSid": late.sid, "adopted": True}
    assert len(mock_telephony.calls) == 1


async def test_a_call_already_over_is_not_adopted(dialer, mock_telephony, clock):
    mock_telephony.fail_next_call(AmbiguousDialError("timeout", to=TO, attempted_at=clock.now()))
    await dial(dialer)
    old = await mock_telephony.place_call(
        to=TO, answer_url="a", status_callback_url="b", recording_callback_url="c"
    )
    mock_telephony.set_call_status(old.sid, "completed")
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
