"""PhoneCall, rule by rule (docs/concepts/PhoneCall.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from typing import Any

import pytest

from conceptkit import describe_operations
from concepts.phone_call import PhoneCall
from services.encryption.keys import Encryptor

NUMBER = "+15551234567"


# `clock` (FakeClock) and `encryptor` come from tests/concepts/conftest.py.
@pytest.fixture
async def pc(async_db, clock, encryptor) -> PhoneCall:
    concept = PhoneCall(async_db, {"clock": clock, "encryption": encryptor})
    await concept.setup()
    return concept


def new_sid() -> str:
    return "CA" + uuid.uuid4().hex


async def dialled(pc: PhoneCall, user: str = "u1", scheduled: str = "sc1") -> tuple[str, str]:
    call = (await pc.initiate(user=user, scheduledCall=scheduled, toNumber=NUMBER))["call"]
    sid = new_sid()
    assert await pc.attachSid(call=call, callSid=sid) == {}
    return call, sid


async def connected(pc: PhoneCall, user: str = "u1") -> str:
    _, sid = await dialled(pc, user)
    assert "error" not in await pc.markConnected(callSid=sid)
    return sid


async def prompting(pc: PhoneCall, prompts: int = 2, user: str = "u1") -> str:
    sid = await connected(pc, user)
    assert await pc.startPrompting(callSid=sid, session="s1", promptCount=prompts) == {
        "call": (await pc._byCallSid(callSid=sid))[0]["call"],
        "promptIndex": 0,
    }
    return sid


async def answered_all(pc: PhoneCall, prompts: int = 2) -> str:
    sid = await prompting(pc, prompts)
    for i in range(prompts):
        await pc.appendSpeech(callSid=sid, text=f"answer {i}")
        assert "error" not in await pc.finishAnswer(callSid=sid, promptIndex=i)
    return sid


async def status_of(pc: PhoneCall, sid: str) -> str:
    return (await pc._byCallSid(callSid=sid))[0]["status"]


async def raw(pc: PhoneCall, sid: str) -> dict[str, Any]:
    return await pc.collection("calls").find_one({"callSid": sid})


def is_error(out: dict[str, Any], kind: str = "conflict") -> bool:
    return "error" in out and out["errorKind"] == kind


# -- initiate ---------------------------------------------------------------------------


async def test_initiate_creates_an_initiated_call_without_sid(pc, clock):
    out = await pc.initiate(user="u1", scheduledCall="sc1", toNumber=NUMBER)
    [view] = await pc._call(call=out["call"])
    assert view["status"] == "INITIATED"
    assert view["callSid"] is None
    assert (view["user"], view["scheduledCall"]) == ("u1", "sc1")
    assert "toNumber" not in view  # private: only the active call shows it, to resume a dial
    assert view["createdAt"] == clock.now()
    (active,) = await pc._activeForUser(user="u1")
    assert (active["call"], active["toNumber"]) == (out["call"], NUMBER)


async def test_the_number_called_is_stored_only_encrypted(pc, encryptor):
    out = await pc.initiate(user="u1", scheduledCall="sc1", toNumber=NUMBER)
    doc = await pc.collection("calls").find_one({"_id": out["call"]})
    assert NUMBER[1:] not in str(doc)
    assert encryptor.decrypt(doc["toNumber"], user="u1", field="PhoneCall.toNumber") == NUMBER
    specs = describe_operations(pc)
    assert "toNumber" in specs["initiate"].private
    assert {"answer", "question"} <= specs["finishAnswer"].private  # the prompt text too


async def test_initiate_refused_while_the_user_has_an_active_call(pc):
    await pc.initiate(user="u1", scheduledCall="sc1", toNumber=NUMBER)
    assert is_error(await pc.initiate(user="u1", scheduledCall="sc2", toNumber=NUMBER))
    assert "call" in await pc.initiate(user="u2", scheduledCall="sc3", toNumber=NUMBER)


async def test_initiate_allowed_again_once_the_active_call_ended(pc):
    call = (await pc.initiate(user="u1", scheduledCall="sc1", toNumber=NUMBER))["call"]
    await pc.failBeforeDial(call=call, error="dial failed")
    assert await pc._activeForUser(user="u1") == []
    assert "call" in await pc.initiate(user="u1", scheduledCall="sc1", toNumber=NUMBER)


async def test_concurrent_initiates_for_one_user_let_exactly_one_through(pc):
    results = await asyncio.gather(
        *(pc.initiate(user="u1", scheduledCall=f"sc{i}", toNumber=NUMBER) for i in range(4))
    )
    assert sum("call" in r for r in results) == 1
    assert sum(is_error(r) for r in results) == 3
    assert await pc.collection("calls").count_documents({"user": "u1"}) == 1


def test_initiate_validates_the_number_as_http_would(pc):
    spec = describe_operations(pc)["initiate"]
    _, errors = spec.check_inputs({"user": "u1", "scheduledCall": "s", "toNumber": "555-1234"})
    assert errors and errors[0]["loc"] == ["body", "toNumber"]


# -- attachSid --------------------------------------------------------------------------


async def test_attach_sid_records_the_sid_and_is_idempotent(pc):
    call = (await pc.initiate(user="u1", scheduledCall="sc1", toNumber=NUMBER))["call"]
    sid = new_sid()
    assert await pc.attachSid(call=call, callSid=sid) == {}
    assert await pc.attachSid(call=call, callSid=sid) == {}
    assert (await pc._byCallSid(callSid=sid))[0]["call"] == call


async def test_attach_sid_refuses_a_different_sid(pc):
    call, sid = await dialled(pc)
    assert is_error(await pc.attachSid(call=call, callSid=new_sid()))
    assert (await pc._call(call=call))[0]["callSid"] == sid


async def test_attach_sid_refuses_a_sid_of_another_call(pc):
    _, sid = await dialled(pc, user="u1")
    other = (await pc.initiate(user="u2", scheduledCall="sc2", toNumber=NUMBER))["call"]
    assert is_error(await pc.attachSid(call=other, callSid=sid))
    assert (await pc._call(call=other))[0]["callSid"] is None


async def test_attach_sid_unknown_call_or_ended_call(pc):
    assert is_error(await pc.attachSid(call="nope", callSid=new_sid()), "not_found")
    call = (await pc.initiate(user="u1", scheduledCall="sc1", toNumber=NUMBER))["call"]
    await pc.failBeforeDial(call=call, error="boom")
    assert is_error(await pc.attachSid(call=call, callSid=new_sid()))


def test_call_sid_must_look_like_a_provider_id(pc):
    spec = describe_operations(pc)["attachSid"]
    _, errors = spec.check_inputs({"call": "c", "callSid": "not an id <x>"})
    assert errors and errors[0]["loc"] == ["body", "callSid"]


# -- markConnected ------------------------------------------------------------------------


async def test_mark_connected_moves_initiated_to_connected(pc, clock):
    call, sid = await dialled(pc)
    out = await pc.markConnected(callSid=sid, answeredBy="person")
    assert out == {"call": call, "user": "u1", "scheduledCall": "sc1"}
    [view] = await pc._byCallSid(callSid=sid)
    assert (view["status"], view["answeredBy"], view["connectedAt"]) == (
        "CONNECTED",
        "person",
        clock.now(),
    )


async def test_mark_connected_repeated_while_connected_is_harmless(pc, clock):
    call, sid = await dialled(pc)
    await pc.markConnected(callSid=sid)
    first = (await pc._byCallSid(callSid=sid))[0]["connectedAt"]
    clock.advance(seconds=5)
    assert (await pc.markConnected(callSid=sid))["call"] == call
    [view] = await pc._byCallSid(callSid=sid)
    assert (view["status"], view["connectedAt"]) == ("CONNECTED", first)


async def test_mark_connected_refused_once_prompting_or_ended_or_unknown(pc):
    sid = await prompting(pc)
    assert is_error(await pc.markConnected(callSid=sid))
    await pc.markAbandoned(callSid=sid, reason="test")
    assert is_error(await pc.markConnected(callSid=sid))
    assert is_error(await pc.markConnected(callSid=new_sid()), "not_found")


# -- startPrompting -----------------------------------------------------------------------


async def test_start_prompting_moves_connected_to_in_progress(pc):
    sid = await prompting(pc, prompts=3)
    [view] = await pc._byCallSid(callSid=sid)
    assert (view["status"], view["session"], view["promptIndex"], view["promptCount"]) == (
        "IN_PROGRESS",
        "s1",
        0,
        3,
    )


async def test_start_prompting_requires_a_connected_call(pc):
    _, sid = await dialled(pc)
    assert is_error(await pc.startPrompting(callSid=sid, session="s1", promptCount=2))
    assert await status_of(pc, sid) == "INITIATED"
    assert is_error(
        await pc.startPrompting(callSid=new_sid(), session="s", promptCount=2), "not_found"
    )


async def test_start_prompting_twice_or_after_end_is_refused(pc):
    sid = await prompting(pc)
    assert is_error(await pc.startPrompting(callSid=sid, session="s2", promptCount=5))
    assert (await pc._byCallSid(callSid=sid))[0]["session"] == "s1"
    await pc.markFailed(callSid=sid, error="x")
    assert is_error(await pc.startPrompting(callSid=sid, session="s2", promptCount=5))


async def test_start_prompting_validates_prompt_count(pc):
    sid = await connected(pc)
    assert is_error(await pc.startPrompting(callSid=sid, session="s", promptCount=0), "invalid")
    spec = describe_operations(pc)["startPrompting"]
    _, errors = spec.check_inputs({"callSid": sid, "session": "s", "promptCount": 21})
    assert errors


# -- appendSpeech / noteSilence -------------------------------------------------------------


async def test_append_speech_buffers_with_spaces_encrypted_at_rest(pc, encryptor):
    sid = await prompting(pc)
    await pc.noteSilence(callSid=sid)
    first = await pc.appendSpeech(callSid=sid, text="I walked ")
    assert first["answerSoFar"] == "I walked"
    out = await pc.appendSpeech(callSid=sid, text="by the river")
    assert out == {
        "call": out["call"],
        "user": "u1",
        "session": "s1",  # the reflection being answered: syncs need not look the call up
        "answerSoFar": "I walked by the river",
        "promptIndex": 0,
        "sessionPosition": 1,  # the reflection's position of the prompt being answered
    }
    doc = await raw(pc, sid)
    assert "river" not in str(doc)
    assert Encryptor.is_token(doc["currentAnswer"])
    assert doc["silentTurns"] == 0


async def test_append_speech_requires_in_progress(pc):
    sid = await connected(pc)
    assert is_error(await pc.appendSpeech(callSid=sid, text="hello"))
    assert is_error(await pc.appendSpeech(callSid=new_sid(), text="hello"), "not_found")


async def test_append_speech_refuses_empty_text_and_stale_prompt(pc):
    sid = await prompting(pc)
    assert is_error(await pc.appendSpeech(callSid=sid, text="   "), "invalid")
    await pc.finishAnswer(callSid=sid, promptIndex=0)
    # a late duplicate of prompt 0's gather must not leak into prompt 1
    assert is_error(await pc.appendSpeech(callSid=sid, text="old", promptIndex=0))
    assert (await pc.appendSpeech(callSid=sid, text="new", promptIndex=1))["answerSoFar"] == "new"


async def test_note_silence_counts_empty_turns_of_the_current_prompt(pc):
    sid = await prompting(pc)
    assert (await pc.noteSilence(callSid=sid))["silentTurns"] == 1
    out = await pc.noteSilence(callSid=sid, promptIndex=0)
    assert (out["silentTurns"], out["promptIndex"]) == (2, 0)
    assert (out["user"], out["session"], out["answerSoFar"]) == ("u1", "s1", "")
    await pc.finishAnswer(callSid=sid, promptIndex=0)
    assert (await pc._byCallSid(callSid=sid))[0]["silentTurns"] == 0
    assert is_error(await pc.noteSilence(callSid=sid, promptIndex=0))


async def test_note_silence_requires_in_progress(pc):
    sid = await connected(pc)
    assert is_error(await pc.noteSilence(callSid=sid))
    assert is_error(await pc.noteSilence(callSid=new_sid()), "not_found")


# -- finishAnswer ------------------------------------------------------------------------------


async def test_finish_answer_records_the_buffer_and_advances(pc):
    sid = await prompting(pc, prompts=2)
    await pc.appendSpeech(callSid=sid, text="good day")
    out = await pc.finishAnswer(callSid=sid, promptIndex=0, question="How was today?")
    assert {
        k: out[k] for k in ("user", "session", "position", "answer", "nextIndex", "isLast")
    } == {
        "user": "u1",
        "session": "s1",
        "position": 0,
        "answer": "good day",
        "nextIndex": 1,
        "isLast": False,
    }
    doc = await raw(pc, sid)
    assert "currentAnswer" not in doc and doc["promptIndex"] == 1
    assert "good day" not in str(doc)
    last = await pc.finishAnswer(callSid=sid, promptIndex=1)
    assert (last["answer"], last["nextIndex"], last["isLast"]) == ("", None, True)
    assert (await pc._byCallSid(callSid=sid))[0]["promptIndex"] == 1  # never past the last prompt
    assert await pc._answers(callSid=sid) == [
        {"position": 0, "answer": "good day"},
        {"position": 1, "answer": ""},
    ]


async def test_finish_answer_duplicate_webhook_cannot_skip_a_prompt(pc):
    sid = await prompting(pc, prompts=3)
    await pc.finishAnswer(callSid=sid, promptIndex=0)
    assert is_error(await pc.finishAnswer(callSid=sid, promptIndex=0))
    assert is_error(await pc.finishAnswer(callSid=sid, promptIndex=2))
    assert (await pc._byCallSid(callSid=sid))[0]["promptIndex"] == 1


async def test_finish_answer_refused_after_the_last_prompt_or_before_prompting(pc):
    sid = await answered_all(pc, prompts=1)
    assert is_error(await pc.finishAnswer(callSid=sid, promptIndex=0))
    assert len(await pc._answers(callSid=sid)) == 1
    other = await connected(pc, user="u2")
    assert is_error(await pc.finishAnswer(callSid=other, promptIndex=0))


async def test_concurrent_finish_answer_records_one_answer(pc):
    sid = await prompting(pc, prompts=3)
    results = await asyncio.gather(*(pc.finishAnswer(callSid=sid, promptIndex=0) for _ in range(3)))
    assert sum("error" not in r for r in results) == 1
    assert len(await pc._answers(callSid=sid)) == 1


# -- markCompleted -------------------------------------------------------------------------------


async def test_mark_completed_returns_the_transcript_and_frees_the_user(pc, clock):
    sid = await prompting(pc, prompts=2)
    await pc.appendSpeech(callSid=sid, text="fine")
    await pc.finishAnswer(callSid=sid, promptIndex=0, question="How was today?")
    await pc.appendSpeech(callSid=sid, text="tea")
    await pc.finishAnswer(callSid=sid, promptIndex=1, question="Best moment?")
    out = await pc.markCompleted(callSid=sid, durationSeconds=95)
    assert out["transcript"] == "Q: How was today?\nA: fine\nQ: Best moment?\nA: tea"
    assert (out["user"], out["scheduledCall"], out["session"]) == ("u1", "sc1", "s1")
    [view] = await pc._byCallSid(callSid=sid)
    assert (view["status"], view["durationSeconds"], view["endedAt"]) == (
        "COMPLETED",
        95,
        clock.now(),
    )
    assert await pc._activeForUser(user="u1") == []
    assert "tea" not in str(await raw(pc, sid))


async def test_mark_completed_refused_with_unanswered_prompts(pc):
    sid = await prompting(pc, prompts=2)
    await pc.finishAnswer(callSid=sid, promptIndex=0)
    assert is_error(await pc.markCompleted(callSid=sid))
    assert await status_of(pc, sid) == "IN_PROGRESS"


async def test_mark_completed_refused_before_prompting_twice_or_unknown(pc):
    sid = await connected(pc)
    assert is_error(await pc.markCompleted(callSid=sid))
    await pc.markAbandoned(callSid=sid, reason="x")
    sid2 = await answered_all(pc, prompts=1)
    assert "transcript" in await pc.markCompleted(callSid=sid2)
    assert is_error(await pc.markCompleted(callSid=sid2))  # a replay changes nothing
    assert is_error(await pc.markCompleted(callSid=new_sid()), "not_found")


# -- early endings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["INITIATED", "CONNECTED", "IN_PROGRESS"])
@pytest.mark.parametrize(
    ("action", "args", "status"),
    [
        ("markAbandoned", {"reason": "caller said stop"}, "ABANDONED"),
        ("markFailed", {"error": "twilio 500"}, "FAILED"),
        ("markMissed", {"outcome": "NO_ANSWER"}, "NO_ANSWER"),
        ("markMissed", {"outcome": "BUSY"}, "BUSY"),
        ("markMissed", {"outcome": "VOICEMAIL"}, "VOICEMAIL"),
    ],
)
async def test_early_endings_from_any_non_terminal_state(pc, stage, action, args, status):
    if stage == "INITIATED":
        _, sid = await dialled(pc)
    elif stage == "CONNECTED":
        sid = await connected(pc)
    else:
        sid = await prompting(pc)
    out = await getattr(pc, action)(callSid=sid, **args)
    assert (out["outcome"], out["user"], out["scheduledCall"]) == (status, "u1", "sc1")
    [view] = await pc._byCallSid(callSid=sid)
    assert view["status"] == status
    assert (view["reason"] or view["errorMessage"]) is not None
    assert await pc._activeForUser(user="u1") == []


@pytest.mark.parametrize("ending", ["COMPLETED", "ABANDONED", "FAILED", "NO_ANSWER"])
async def test_terminal_states_stay_terminal(pc, ending):
    sid = await answered_all(pc, prompts=1)
    if ending == "COMPLETED":
        await pc.markCompleted(callSid=sid)
    elif ending == "ABANDONED":
        await pc.markAbandoned(callSid=sid, reason="r")
    elif ending == "FAILED":
        await pc.markFailed(callSid=sid, error="e")
    else:
        await pc.markMissed(callSid=sid, outcome="NO_ANSWER")
    for attempt in (
        pc.markAbandoned(callSid=sid, reason="again"),
        pc.markFailed(callSid=sid, error="again"),
        pc.markMissed(callSid=sid, outcome="BUSY"),
        pc.markCompleted(callSid=sid),
        pc.markConnected(callSid=sid),
    ):
        assert is_error(await attempt)
    out = await pc.applyStatus(callSid=sid, progress="busy", sequenceNumber=9)
    assert (out["outcome"], out["changed"]) == (ending, False)
    assert await status_of(pc, sid) == ending


async def test_mark_missed_rejects_other_outcomes_and_unknown_sids(pc):
    _, sid = await dialled(pc)
    assert is_error(await pc.markMissed(callSid=sid, outcome="LOST"), "invalid")
    assert is_error(await pc.markAbandoned(callSid=new_sid(), reason="r"), "not_found")
    assert is_error(await pc.markFailed(callSid=new_sid(), error="e"), "not_found")


async def test_fail_before_dial_ends_a_call_without_sid(pc):
    call = (await pc.initiate(user="u1", scheduledCall="sc1", toNumber=NUMBER))["call"]
    out = await pc.failBeforeDial(call=call, error="invalid number")
    assert (out["outcome"], out["user"]) == ("FAILED", "u1")
    [view] = await pc._call(call=call)
    assert (view["status"], view["errorMessage"]) == ("FAILED", "invalid number")
    assert is_error(await pc.failBeforeDial(call=call, error="again"))


async def test_fail_before_dial_refused_for_a_dialled_or_unknown_call(pc):
    call, sid = await dialled(pc)
    assert is_error(await pc.failBeforeDial(call=call, error="x"))
    assert await status_of(pc, sid) == "INITIATED"
    assert is_error(await pc.failBeforeDial(call="nope", error="x"), "not_found")


# -- applyStatus ----------------------------------------------------------------------------------


async def test_apply_status_answered_connects_and_duplicates_change_nothing(pc):
    call, sid = await dialled(pc)
    out = await pc.applyStatus(
        callSid=sid, progress="answered", sequenceNumber=2, answeredBy="person"
    )
    assert out == {
        "call": call,
        "user": "u1",
        "scheduledCall": "sc1",
        "session": None,
        "outcome": "CONNECTED",
        "changed": True,
        "reflectionStarted": False,
        "transcript": "",  # what was said (nothing yet)
        "answers": [],
    }
    again = await pc.applyStatus(callSid=sid, progress="answered", sequenceNumber=2)
    assert (again["outcome"], again["changed"]) == ("CONNECTED", False)
    # the answered webhook arriving after the status callback still connects the flow
    assert (await pc.markConnected(callSid=sid))["call"] == call


async def test_apply_status_older_or_duplicate_sequence_is_ignored(pc):
    _, sid = await dialled(pc)
    await pc.applyStatus(callSid=sid, progress="ringing", sequenceNumber=5)
    out = await pc.applyStatus(callSid=sid, progress="busy", sequenceNumber=5)
    assert (out["outcome"], out["changed"]) == ("INITIATED", False)
    out = await pc.applyStatus(callSid=sid, progress="no_answer", sequenceNumber=3)
    assert out["changed"] is False
    assert (await pc._byCallSid(callSid=sid))[0]["lastSequence"] == 5


async def test_apply_status_late_ringing_never_undoes_progress(pc):
    sid = await prompting(pc)
    for seq, status in ((3, "ringing"), (4, "ringing"), (5, "ringing"), (6, "answered")):
        out = await pc.applyStatus(callSid=sid, progress=status, sequenceNumber=seq)
        assert (out["outcome"], out["changed"]) == ("IN_PROGRESS", False)
    assert await status_of(pc, sid) == "IN_PROGRESS"


async def test_apply_status_completed_midway_is_a_caller_hang_up(pc):
    sid = await prompting(pc, prompts=2)
    await pc.finishAnswer(callSid=sid, promptIndex=0)
    out = await pc.applyStatus(
        callSid=sid, progress="hung_up", sequenceNumber=4, durationSeconds=40
    )
    assert (out["outcome"], out["changed"], out["session"]) == ("ABANDONED", True, "s1")
    [view] = await pc._byCallSid(callSid=sid)
    assert (view["reason"], view["durationSeconds"]) == ("caller hung up", 40)
    assert await pc._activeForUser(user="u1") == []


async def test_apply_status_completed_after_every_answer_completes_with_transcript(pc):
    sid = await answered_all(pc, prompts=1)
    out = await pc.applyStatus(callSid=sid, progress="hung_up", sequenceNumber=4)
    assert (out["outcome"], out["changed"]) == ("COMPLETED", True)
    assert out["transcript"] == "Q: Prompt 1\nA: answer 0"


async def test_apply_status_completed_after_mark_completed_keeps_it_and_notes_duration(pc):
    sid = await answered_all(pc, prompts=1)
    await pc.markCompleted(callSid=sid)
    out = await pc.applyStatus(
        callSid=sid, progress="hung_up", sequenceNumber=4, durationSeconds=61
    )
    assert (out["outcome"], out["changed"]) == ("COMPLETED", False)
    assert (await pc._byCallSid(callSid=sid))[0]["durationSeconds"] == 61


async def test_apply_status_writes_nothing_for_a_duplicate_or_a_call_that_is_over(pc):
    sid = await answered_all(pc, prompts=1)
    await pc.applyStatus(callSid=sid, progress="answered", sequenceNumber=2)
    live = await raw(pc, sid)
    out = await pc.applyStatus(callSid=sid, progress="answered", sequenceNumber=2)
    assert out["changed"] is False and await raw(pc, sid) == live
    await pc.markCompleted(callSid=sid, durationSeconds=50)
    ended = await raw(pc, sid)
    for seq, status in ((7, "answered"), (8, "ringing"), (9, "busy"), (10, "hung_up")):
        out = await pc.applyStatus(
            callSid=sid,
            progress=status,
            sequenceNumber=seq,
            answeredBy="machine",
            durationSeconds=3,
        )
        assert (out["outcome"], out["changed"]) == ("COMPLETED", False)
    assert await raw(pc, sid) == ended, "not even lastSequence moves on a call that is over"


async def test_a_late_final_status_notes_the_duration_once_and_nothing_else(pc):
    sid = await answered_all(pc, prompts=1)
    await pc.markCompleted(callSid=sid)
    late = await pc.applyStatus(
        callSid=sid, progress="ringing", sequenceNumber=3, durationSeconds=9
    )
    assert late["changed"] is False
    await pc.applyStatus(callSid=sid, progress="hung_up", sequenceNumber=4, durationSeconds=61)
    noted = await raw(pc, sid)
    assert (noted["durationSeconds"], noted["lastSequence"]) == (61, 4)
    await pc.applyStatus(callSid=sid, progress="hung_up", sequenceNumber=5, durationSeconds=62)
    assert await raw(pc, sid) == noted


@pytest.mark.parametrize(
    ("answered_by", "via", "expected"),
    [
        ("machine", "event", "VOICEMAIL"),
        ("machine", "markConnected", "VOICEMAIL"),
        ("person", "event", "ABANDONED"),
        (None, "event", "ABANDONED"),
    ],
)
async def test_apply_status_completed_before_prompting_depends_on_answered_by(
    pc, answered_by, via, expected
):
    _, sid = await dialled(pc)
    if via == "markConnected":
        await pc.markConnected(callSid=sid, answeredBy=answered_by)
        answered_by = None
    out = await pc.applyStatus(
        callSid=sid, progress="hung_up", sequenceNumber=3, answeredBy=answered_by
    )
    assert (out["outcome"], out["changed"]) == (expected, True)


@pytest.mark.parametrize(
    ("progress", "expected"),
    [("busy", "BUSY"), ("no_answer", "NO_ANSWER"), ("failed", "FAILED"), ("failed", "FAILED")],
)
async def test_apply_status_missed_and_failed_outcomes(pc, progress, expected):
    _, sid = await dialled(pc)
    out = await pc.applyStatus(callSid=sid, progress=progress, sequenceNumber=2)
    assert (out["outcome"], out["changed"]) == (expected, True)
    assert await pc._activeForUser(user="u1") == []


async def test_apply_status_rejects_unknown_status_and_sid(pc):
    _, sid = await dialled(pc)
    assert is_error(
        await pc.applyStatus(callSid=sid, progress="exploded", sequenceNumber=1), "invalid"
    )
    assert (await pc._byCallSid(callSid=sid))[0]["lastSequence"] == -1
    assert is_error(
        await pc.applyStatus(callSid=new_sid(), progress="ringing", sequenceNumber=1), "not_found"
    )


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
async def test_apply_status_arrival_order_does_not_matter(pc, order):
    events = [("ringing", 0), ("ringing", 1), ("answered", 2), ("hung_up", 3)]
    _, sid = await dialled(pc)
    for i in order:
        status, seq = events[i]
        await pc.applyStatus(callSid=sid, progress=status, sequenceNumber=seq, answeredBy="person")
    assert await status_of(pc, sid) == "ABANDONED"


# -- queries and privacy ------------------------------------------------------------------------------


async def test_queries_find_calls_and_never_show_private_fields(pc, clock):
    first = (await pc.initiate(user="u1", scheduledCall="sc1", toNumber=NUMBER))["call"]
    await pc.failBeforeDial(call=first, error="x")
    clock.advance(minutes=5)
    second, sid = await dialled(pc, scheduled="sc1")
    assert [v["call"] for v in await pc._forScheduledCall(scheduledCall="sc1")] == [second, first]
    assert await pc._forScheduledCall(scheduledCall="none") == []
    assert await pc._byCallSid(callSid=new_sid()) == []
    assert await pc._call(call="nope") == []
    assert await pc._answers(callSid=new_sid()) == []
    view = (await pc._byCallSid(callSid=sid))[0]
    assert not {"currentAnswer", "answers", "transcript", "activeUser", "toNumber"} & view.keys()


def test_spoken_text_is_private_in_the_action_log(pc):
    specs = describe_operations(pc)
    assert specs["appendSpeech"].private == {"text", "answerSoFar"}
    assert specs["finishAnswer"].private == {"answer", "question"}
    assert specs["markCompleted"].private == {"transcript", "answers"}
    assert specs["applyStatus"].private == {"transcript", "answers"}
    for ending in ("markAbandoned", "markFailed", "markMissed", "failBeforeDial", "markCancelled"):
        assert specs[ending].private == {"transcript", "answers"}, ending
    assert specs["_answers"].private == {"answer"}


async def test_a_webhook_that_beats_attach_sid_attaches_it_through_the_call_id(pc, clock):
    """The provider can answer before the dialler recorded its id (or the dialler died)."""
    out = await pc.initiate(user="u1", scheduledCall="s1", toNumber="+14155550100")
    sid = "CA" + "e" * 32
    assert (await pc.markConnected(callSid=sid))["errorKind"] == "not_found"
    connected = await pc.markConnected(callSid=sid, call=out["call"])
    assert connected["call"] == out["call"]
    (row,) = await pc._byCallSid(callSid=sid)
    assert row["status"] == "CONNECTED"
    # an ended call never adopts a sid
    other = await pc.initiate(user="u2", scheduledCall="s2", toNumber="+14155550101")
    await pc.failBeforeDial(call=other["call"], error="refused")
    assert "error" in await pc.applyStatus(
        callSid="CA" + "f" * 32, progress="ringing", sequenceNumber=1, call=other["call"]
    )


async def test_the_reconciler_sees_a_live_call_idle_and_never_an_ended_one(pc, clock):
    """_idle lists live, dialled calls unchanged since a time; a late change to a call that
    is over (a duplicate status, a recording) does not make it live again."""
    sid = await prompting(pc)
    clock.advance(minutes=2)
    later = clock.now() + dt.timedelta(seconds=1)
    assert [r["callSid"] for r in await pc._idle(before=later)] == [sid]
    await pc.appendSpeech(callSid=sid, text="still talking")
    assert await pc._idle(before=clock.now()) == [], "it changed just now"
    await pc.markAbandoned(callSid=sid, reason="test")
    await pc.applyStatus(callSid=sid, progress="hung_up", sequenceNumber=9)
    far = clock.now() + dt.timedelta(days=1)
    assert await pc._idle(before=far) == [] and await pc._stale(before=far) == []


# -- the keypad -------------------------------------------------------------------------


async def test_press_key_says_where_the_call_is_and_starts_the_silences_again(pc):
    sid = await prompting(pc, prompts=2)
    await pc.noteSilence(callSid=sid)
    out = await pc.pressKey(callSid=sid, key="0", atRating=False)
    assert {k: out[k] for k in ("user", "session", "key", "atRating", "promptIndex")} == {
        "user": "u1",
        "session": "s1",
        "key": "0",
        "atRating": False,
        "promptIndex": 0,
    }
    assert out["sessionPosition"] == 1
    assert (await raw(pc, sid))["silentTurns"] == 0


async def test_press_key_at_a_stage_the_call_is_not_at_is_refused(pc):
    sid = await prompting(pc, prompts=1)
    assert is_error(await pc.pressKey(callSid=sid, key="4", atRating=True))
    await pc.finishAnswer(callSid=sid, promptIndex=0)
    assert is_error(await pc.pressKey(callSid=sid, key="1", atRating=False))
    assert (await pc.pressKey(callSid=sid, key="4", atRating=True))["atRating"] is True
    await pc.markCompleted(callSid=sid)
    assert is_error(await pc.pressKey(callSid=sid, key="4", atRating=True))
    assert is_error(await pc.pressKey(callSid=new_sid(), key="1"), "not_found")


def test_press_key_takes_one_key_of_the_keypad(pc):
    spec = describe_operations(pc)["pressKey"]
    for key in "0123456789*#":
        assert spec.check_inputs({"callSid": "CA1", "key": key})[1] == [], key
    for key in ("", "12", "A", "\u0663", "1\n"):  # \u0663: an Arabic-Indic three
        _, errors = spec.check_inputs({"callSid": "CA1", "key": key})
        assert errors and errors[0]["loc"] == ["body", "key"], key


async def test_end_early_records_what_was_said_and_ends_the_call(pc, encryptor):
    sid = await prompting(pc, prompts=3)
    await pc.appendSpeech(callSid=sid, text="my dog")
    await pc.finishAnswer(callSid=sid, promptIndex=0, question="Grateful for?")
    await pc.appendSpeech(callSid=sid, text="a long")
    out = await pc.endEarly(callSid=sid)
    assert (out["outcome"], out["reflectionStarted"]) == ("ABANDONED", True)
    assert out["answers"] == [{"position": 1, "text": "my dog"}, {"position": 2, "text": "a long"}]
    assert out["transcript"] == "Q: Grateful for?\nA: my dog\nQ: Prompt 2\nA: a long"
    doc = await raw(pc, sid)
    assert (doc["status"], doc["answeredCount"]) == ("ABANDONED", 2)
    assert doc["reason"] == "the caller ended the call early (keypad)"
    assert "activeUser" not in doc and "currentAnswer" not in doc
    assert "a long" not in str(doc), "encrypted at rest"
    assert is_error(await pc.endEarly(callSid=sid)), "an ended call stays ended"


async def test_end_early_with_nothing_said_records_no_answer_and_completes_if_all_answered(pc):
    sid = await prompting(pc, prompts=2)
    await pc.appendSpeech(callSid=sid, text="one")
    await pc.finishAnswer(callSid=sid, promptIndex=0)
    out = await pc.endEarly(callSid=sid)
    assert (out["outcome"], [a["text"] for a in out["answers"]]) == ("ABANDONED", ["one"])
    assert (await raw(pc, sid))["answeredCount"] == 1

    sid = await prompting(pc, prompts=1, user="u2")
    await pc.appendSpeech(callSid=sid, text="last words")
    out = await pc.endEarly(callSid=sid)
    assert (out["outcome"], out["answers"]) == (
        "COMPLETED",
        [{"position": 1, "text": "last words"}],
    )
    assert (await raw(pc, sid))["reason"] is None


async def test_end_early_needs_a_call_in_progress(pc):
    sid = await connected(pc)
    assert is_error(await pc.endEarly(callSid=sid))
    assert is_error(await pc.endEarly(callSid=new_sid()), "not_found")
