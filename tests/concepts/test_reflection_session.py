"""ReflectionSession: one reflection, spoken or typed (docs/concepts/ReflectionSession.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from conceptkit import describe_operations
from concepts.reflection_session import ReflectionSession
from services.app.clock import FakeClock
from services.encryption.keys import Encryptor, WrongContext

PROMPTS = ["What went well today?", "What would you change?", "What's next?"]
URL = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"


@pytest.fixture
async def rs(async_db, clock, encryptor) -> ReflectionSession:
    concept = ReflectionSession(async_db, {"clock": clock, "encryption": encryptor})
    await concept.setup()
    return concept


def errors_of(
    concept: ReflectionSession, name: str, inputs: dict[str, Any]
) -> list[dict[str, Any]]:
    return describe_operations(concept)[name].check_inputs(inputs)[1]


async def start(rs: ReflectionSession, user: str = "u1", method: str = "PHONE", **kw: Any) -> str:
    out = await rs.startSession(user=user, method=method, prompts=kw.pop("prompts", PROMPTS), **kw)
    assert "session" in out, out
    return out["session"]


async def answer_all(rs: ReflectionSession, session: str, user: str = "u1", n: int = 3) -> None:
    for position in range(1, n + 1):
        assert (
            await rs.recordResponse(
                user=user, session=session, position=position, text=f"a{position}"
            )
            == {}
        )


async def status_of(rs: ReflectionSession, session: str, user: str = "u1") -> str:
    return (await rs._session(user=user, session=session))[0]["status"]


async def raw(rs: ReflectionSession, session: str) -> dict[str, Any]:
    return await rs.collection("sessions").find_one({"_id": session})


# -- principle -------------------------------------------------------------------------------


async def test_principle_phone_reflection_answered_completed_recorded(
    rs: ReflectionSession, clock: FakeClock
) -> None:
    session = await start(rs, prompts=["What went well?", "What next?"])
    clock.advance(minutes=1)
    await rs.recordResponse(user="u1", session=session, position=1, text="The walk.")
    await rs.recordResponse(user="u1", session=session, position=2, text="")  # said nothing
    assert await rs.completeSession(user="u1", session=session) == {}
    clock.advance(minutes=2)
    assert await rs.attachRecording(user="u1", session=session, recordingUrl=URL) == {}
    (latest,) = await rs._history(user="u1")
    assert latest["prompts"] == [
        {"position": 1, "text": "What went well?", "answer": "The walk."},
        {"position": 2, "text": "What next?", "answer": ""},
    ]
    assert (latest["status"], latest["hasRecording"]) == ("COMPLETED", True)
    assert "recordingUrl" not in latest  # for the service to fetch, not for the browser
    assert await rs._recordingUrl(user="u1", session=session) == [{"recordingUrl": URL}]


async def test_principle_text_reflection_from_the_web_app(rs: ReflectionSession) -> None:
    session = await start(rs, method="TEXT", prompts=PROMPTS[:2])
    await rs.recordResponse(user="u1", session=session, position=2, text="Typed second")
    await rs.recordResponse(user="u1", session=session, position=1, text="Typed first")
    await rs.setRating(user="u1", session=session, rating=1)
    assert await rs.completeSession(user="u1", session=session) == {}
    (row,) = await rs._history(user="u1")
    assert (row["method"], row["rating"]) == ("TEXT", 1)
    assert [p["answer"] for p in row["prompts"]] == ["Typed first", "Typed second"]


async def test_history_says_which_call_a_reflection_was_and_why_it_is_unfinished(rs) -> None:
    """Today matches its call to the reflection (callRef) and says why it was left, as
    History does (abandonReason)."""
    session = await start(rs, callRef="sc1")
    answers = [{"position": 1, "text": "My dog."}]
    out = await rs.closeCall(
        user="u1", session=session, answers=answers, transcript="", reason="caller hung up"
    )
    assert "error" not in out, out
    typed = await start(rs, method="TEXT")
    await answer_all(rs, typed)
    assert await rs.completeSession(user="u1", session=typed) == {}
    latest, phoned = await rs._history(user="u1")
    assert (phoned["callRef"], phoned["status"], phoned["abandonReason"]) == (
        "sc1",
        "ABANDONED",
        "caller hung up",
    )
    assert (latest["callRef"], latest["abandonReason"]) == (None, None)


# -- startSession ----------------------------------------------------------------------------


async def test_start_session_snapshots_prompts_and_is_in_progress(
    rs: ReflectionSession, clock: FakeClock
) -> None:
    session = await start(rs, prompts=["  Trimmed?  ", "Second?"], callRef="call-1")
    assert len(session) == 32
    (active,) = await rs._active(user="u1")
    assert active == {
        "session": session,
        "method": "PHONE",
        "callRef": "call-1",
        "startedAt": clock.now(),
        "prompts": [
            {"position": 1, "text": "Trimmed?", "answer": None},
            {"position": 2, "text": "Second?", "answer": None},
        ],
        "nextPosition": 1,
    }


async def test_start_session_one_in_progress_per_user(rs: ReflectionSession) -> None:
    first = await start(rs)
    out = await rs.startSession(user="u1", method="TEXT", prompts=PROMPTS)
    assert out["errorKind"] == "conflict"
    assert "in progress" in out["error"]
    assert [r["session"] for r in await rs._history(user="u1")] == [first]
    await start(rs, user="u2")  # other users are independent
    await rs.abandonSession(user="u1", session=first, reason="hung up")
    await start(rs)  # once it has ended, a new one can start


async def test_start_session_after_completion_of_the_same_call_is_a_conflict(
    rs: ReflectionSession,
) -> None:
    first = await start(rs, callRef="call-1")
    await rs.abandonSession(user="u1", session=first, reason="dropped")
    retry = await start(rs, callRef="call-1")  # a retried call may start again
    await answer_all(rs, retry)
    await rs.completeSession(user="u1", session=retry)
    out = await rs.startSession(user="u1", method="PHONE", prompts=PROMPTS, callRef="call-1")
    assert out["errorKind"] == "conflict"
    assert "already has a completed reflection" in out["error"]
    await start(rs, callRef="call-2")


@pytest.mark.parametrize(
    ("prompts", "message"),
    [
        ([], "1 to 5 prompts"),
        (["a", "b", "c", "d", "e", "f"], "1 to 5 prompts"),
        (["ok?", "   "], "prompt 2 is blank"),
        (["x" * 301], "longer than 300"),
    ],
)
async def test_start_session_rejects_bad_prompts(
    rs: ReflectionSession, prompts: list[str], message: str
) -> None:
    out = await rs.startSession(user="u1", method="TEXT", prompts=prompts)
    assert out["errorKind"] == "invalid"
    assert message in out["error"]
    assert await rs._active(user="u1") == []


async def test_start_session_rejects_bad_method_and_blank_call_ref(rs: ReflectionSession) -> None:
    assert (await rs.startSession(user="u1", method="SMS", prompts=PROMPTS))[
        "errorKind"
    ] == "invalid"
    out = await rs.startSession(user="u1", method="PHONE", prompts=PROMPTS, callRef="  ")
    assert out["errorKind"] == "invalid"
    assert await rs._active(user="u1") == []


def test_start_session_validation_as_http_sees_it(rs: ReflectionSession) -> None:
    ok = {"user": "u1", "method": "TEXT", "prompts": ["A?"]}
    assert errors_of(rs, "startSession", ok) == []
    assert errors_of(rs, "startSession", {**ok, "callRef": "c1"}) == []
    assert errors_of(rs, "startSession", {**ok, "method": "phone"})[0]["loc"] == ["body", "method"]
    assert (
        errors_of(rs, "startSession", {**ok, "prompts": []})[0]["msg"]
        == "must have at least 1 item"
    )
    assert errors_of(rs, "startSession", {**ok, "prompts": list("abcdef")})[0]["msg"] == (
        "must have at most 5 items"
    )
    assert errors_of(rs, "startSession", {**ok, "prompts": ["x" * 301]})[0]["loc"] == [
        "body",
        "prompts",
        0,
    ]
    assert errors_of(rs, "startSession", {**ok, "prompts": [""]})[0]["type"] == "value_error"
    assert errors_of(rs, "startSession", {**ok, "callRef": ""})
    assert errors_of(rs, "startSession", {**ok, "extra": 1})[0]["type"] == "extra_forbidden"


# -- recordResponse --------------------------------------------------------------------------


async def test_record_response_stores_encrypted_answer_with_times(
    rs: ReflectionSession, clock: FakeClock, encryptor: Encryptor
) -> None:
    session = await start(rs)
    asked = clock.now()
    clock.advance(seconds=40)
    out = await rs.recordResponse(
        user="u1", session=session, position=2, text="  My secret  ", startedAt=asked
    )
    assert out == {}
    stored = (await raw(rs, session))["responses"]
    assert len(stored) == 1
    assert stored[0]["position"] == 2
    assert "secret" not in stored[0]["text"] and Encryptor.is_token(stored[0]["text"])
    assert (stored[0]["startedAt"], stored[0]["finishedAt"]) == (asked, clock.now())
    (full,) = await rs._session(user="u1", session=session)
    assert full["prompts"][1] == {
        "position": 2,
        "text": PROMPTS[1],
        "answer": "My secret",
        "startedAt": asked,
        "finishedAt": clock.now(),
    }
    assert (await rs._active(user="u1"))[0]["nextPosition"] == 1


async def test_record_response_empty_text_means_no_answer(rs: ReflectionSession) -> None:
    session = await start(rs, prompts=["One?"])
    assert await rs.recordResponse(user="u1", session=session, position=1, text="   ") == {}
    (row,) = await rs._history(user="u1")
    assert row["prompts"][0]["answer"] == ""  # recorded, unanswered (None = never recorded)
    assert (await rs._active(user="u1"))[0]["nextPosition"] is None
    assert await rs.completeSession(user="u1", session=session) == {}


async def test_record_response_one_per_position(rs: ReflectionSession) -> None:
    session = await start(rs)
    await rs.recordResponse(user="u1", session=session, position=1, text="first")
    out = await rs.recordResponse(user="u1", session=session, position=1, text="second")
    assert out["errorKind"] == "conflict"
    assert "already has an answer" in out["error"]
    assert (await rs._session(user="u1", session=session))[0]["prompts"][0]["answer"] == "first"


async def test_record_response_position_must_be_within_the_prompts(rs: ReflectionSession) -> None:
    session = await start(rs, prompts=["A?", "B?"])
    for position in (0, 3, 5):
        out = await rs.recordResponse(user="u1", session=session, position=position, text="x")
        assert out["errorKind"] == "invalid"
        assert "out of range" in out["error"]
    assert (await raw(rs, session))["responses"] == []


async def test_record_response_needs_an_in_progress_session(rs: ReflectionSession) -> None:
    done = await start(rs, prompts=["A?"])
    await answer_all(rs, done, n=1)
    await rs.completeSession(user="u1", session=done)
    out = await rs.recordResponse(user="u1", session=done, position=1, text="late")
    assert out["errorKind"] == "conflict"
    assert "completed" in out["error"]
    gone = await start(rs, prompts=["A?", "B?"])
    await rs.abandonSession(user="u1", session=gone, reason="hung up")
    out = await rs.recordResponse(user="u1", session=gone, position=2, text="late")
    assert (out["errorKind"], "abandoned" in out["error"]) == ("conflict", True)


async def test_record_response_of_someone_elses_session_is_not_found(rs: ReflectionSession) -> None:
    session = await start(rs, user="u1")
    out = await rs.recordResponse(user="intruder", session=session, position=1, text="x")
    assert out["errorKind"] == "not_found"
    assert (await rs.recordResponse(user="u1", session="nope", position=1, text="x"))[
        "errorKind"
    ] == ("not_found")
    assert (await raw(rs, session))["responses"] == []


async def test_record_response_rejects_bad_start_times(
    rs: ReflectionSession, clock: FakeClock
) -> None:
    session = await start(rs)
    future = clock.now() + dt.timedelta(minutes=1)
    before = clock.now() - dt.timedelta(minutes=1)
    for when in (future, before):
        out = await rs.recordResponse(
            user="u1", session=session, position=1, text="x", startedAt=when
        )
        assert out["errorKind"] == "invalid"
    assert (await raw(rs, session))["responses"] == []


def test_record_response_validation_as_http_sees_it(rs: ReflectionSession) -> None:
    ok = {"user": "u1", "session": "s", "position": 1, "text": ""}
    assert errors_of(rs, "recordResponse", ok) == []
    assert errors_of(rs, "recordResponse", {**ok, "position": 0})[0]["msg"] == "must be at least 1"
    assert errors_of(rs, "recordResponse", {**ok, "position": 6})[0]["msg"] == "must be at most 5"
    assert errors_of(rs, "recordResponse", {**ok, "text": "x" * 10_001})[0]["loc"] == [
        "body",
        "text",
    ]
    assert errors_of(rs, "recordResponse", {**ok, "startedAt": "2026-03-01T12:00:00Z"}) == []
    assert errors_of(rs, "recordResponse", {**ok, "startedAt": "2026-03-01T12:00:00"})
    assert errors_of(rs, "recordResponse", {**ok, "text": None})[0]["type"] == "type_error"


# -- setRating -------------------------------------------------------------------------------


async def test_set_rating_while_in_progress_and_after_completion(rs: ReflectionSession) -> None:
    session = await start(rs, prompts=["A?"])
    assert await rs.setRating(user="u1", session=session, rating=-2) == {}
    await answer_all(rs, session, n=1)
    await rs.completeSession(user="u1", session=session)
    assert await rs.setRating(user="u1", session=session, rating=2) == {}
    assert (await rs._history(user="u1"))[0]["rating"] == 2


async def test_set_rating_not_after_abandonment(rs: ReflectionSession) -> None:
    session = await start(rs)
    await rs.abandonSession(user="u1", session=session, reason="hung up")
    out = await rs.setRating(user="u1", session=session, rating=1)
    assert out["errorKind"] == "conflict"
    assert (await rs._history(user="u1"))[0]["rating"] is None


async def test_set_rating_out_of_range_or_not_found(rs: ReflectionSession) -> None:
    session = await start(rs)
    assert (await rs.setRating(user="u1", session=session, rating=3))["errorKind"] == "invalid"
    assert (await rs.setRating(user="u1", session=session, rating=True))["errorKind"] == "invalid"
    assert (await rs.setRating(user="u2", session=session, rating=1))["errorKind"] == "not_found"
    assert (await rs._history(user="u1"))[0]["rating"] is None


def test_set_rating_validation_as_http_sees_it(rs: ReflectionSession) -> None:
    ok = {"user": "u1", "session": "s", "rating": 0}
    assert errors_of(rs, "setRating", ok) == []
    assert errors_of(rs, "setRating", {**ok, "rating": -3})[0]["msg"] == "must be at least -2"
    assert errors_of(rs, "setRating", {**ok, "rating": 3})[0]["msg"] == "must be at most 2"
    assert errors_of(rs, "setRating", {**ok, "rating": 1.5})[0]["type"] == "type_error"
    assert errors_of(rs, "setRating", {**ok, "rating": "1"})[0]["type"] == "type_error"


# -- completeSession -------------------------------------------------------------------------


async def test_complete_session_ends_it(rs: ReflectionSession, clock: FakeClock) -> None:
    session = await start(rs)
    await answer_all(rs, session)
    clock.advance(minutes=5)
    assert await rs.completeSession(user="u1", session=session) == {}
    (row,) = await rs._history(user="u1")
    assert (row["status"], row["endedAt"]) == ("COMPLETED", clock.now())
    assert await rs._active(user="u1") == []
    assert "activeFor" not in await raw(rs, session)


async def test_complete_session_needs_every_position(rs: ReflectionSession) -> None:
    session = await start(rs)
    await rs.recordResponse(user="u1", session=session, position=2, text="only this")
    out = await rs.completeSession(user="u1", session=session)
    assert out["errorKind"] == "conflict"
    assert "prompt(s) 1, 3" in out["error"]
    assert await status_of(rs, session) == "IN_PROGRESS"


async def test_complete_session_only_once_and_not_after_abandonment(rs: ReflectionSession) -> None:
    session = await start(rs, prompts=["A?"])
    await answer_all(rs, session, n=1)
    await rs.completeSession(user="u1", session=session)
    assert (await rs.completeSession(user="u1", session=session))["errorKind"] == "conflict"
    other = await start(rs, prompts=["A?"])
    await answer_all(rs, other, n=1)
    await rs.abandonSession(user="u1", session=other, reason="user gave up")
    assert (await rs.completeSession(user="u1", session=other))["errorKind"] == "conflict"
    assert await status_of(rs, other) == "ABANDONED"


async def test_complete_session_of_someone_else_is_not_found(rs: ReflectionSession) -> None:
    session = await start(rs, prompts=["A?"])
    await answer_all(rs, session, n=1)
    assert (await rs.completeSession(user="u2", session=session))["errorKind"] == "not_found"
    assert await status_of(rs, session) == "IN_PROGRESS"


# -- abandonSession --------------------------------------------------------------------------


async def test_abandon_session_keeps_the_answers(rs: ReflectionSession, clock: FakeClock) -> None:
    session = await start(rs)
    await rs.recordResponse(user="u1", session=session, position=1, text="kept")
    clock.advance(minutes=1)
    assert await rs.abandonSession(user="u1", session=session, reason="caller hung up") == {}
    (full,) = await rs._session(user="u1", session=session)
    assert (full["status"], full["endedAt"], full["abandonReason"]) == (
        "ABANDONED",
        clock.now(),
        "caller hung up",
    )
    assert [p["answer"] for p in full["prompts"]] == ["kept", None, None]
    assert await rs._active(user="u1") == []


async def test_abandon_session_only_while_in_progress(rs: ReflectionSession) -> None:
    session = await start(rs)
    await rs.abandonSession(user="u1", session=session, reason="x")
    assert (await rs.abandonSession(user="u1", session=session, reason="again"))[
        "errorKind"
    ] == "conflict"
    assert (await rs._session(user="u1", session=session))[0]["abandonReason"] == "x"
    done = await start(rs, prompts=["A?"])
    await answer_all(rs, done, n=1)
    await rs.completeSession(user="u1", session=done)
    assert (await rs.abandonSession(user="u1", session=done, reason="x"))["errorKind"] == "conflict"
    assert await status_of(rs, done) == "COMPLETED"


async def test_abandon_session_needs_a_reason_and_the_owner(rs: ReflectionSession) -> None:
    session = await start(rs)
    assert (await rs.abandonSession(user="u1", session=session, reason="  "))[
        "errorKind"
    ] == "invalid"
    assert (await rs.abandonSession(user="u2", session=session, reason="x"))[
        "errorKind"
    ] == "not_found"
    assert await status_of(rs, session) == "IN_PROGRESS"
    ok = {"user": "u1", "session": "s", "reason": "hung up"}
    assert errors_of(rs, "abandonSession", ok) == []
    assert errors_of(rs, "abandonSession", {**ok, "reason": ""})[0]["msg"] == "must not be empty"
    assert errors_of(rs, "abandonSession", {**ok, "reason": "x" * 201})


# -- setTranscript ---------------------------------------------------------------------------


async def test_set_transcript_phone_only_encrypted_any_state(rs: ReflectionSession) -> None:
    session = await start(rs, prompts=["A?"])
    assert (
        await rs.setTranscript(user="u1", session=session, transcript="Q: A? / me: partial") == {}
    )
    await answer_all(rs, session, n=1)
    await rs.completeSession(user="u1", session=session)
    assert await rs.setTranscript(user="u1", session=session, transcript="Q: A? / me: full") == {}
    assert "full" not in (await raw(rs, session))["transcript"]
    assert (await rs._session(user="u1", session=session))[0]["transcript"] == "Q: A? / me: full"


async def test_set_transcript_rejected_for_text_sessions_and_others(rs: ReflectionSession) -> None:
    typed = await start(rs, method="TEXT")
    out = await rs.setTranscript(user="u1", session=typed, transcript="x")
    assert out["errorKind"] == "conflict"
    assert "phone" in out["error"]
    assert (await rs.setTranscript(user="u2", session=typed, transcript="x"))[
        "errorKind"
    ] == "not_found"
    assert (await rs._session(user="u1", session=typed))[0]["transcript"] is None
    assert errors_of(rs, "setTranscript", {"user": "u1", "session": "s", "transcript": ""}) == []
    assert errors_of(
        rs, "setTranscript", {"user": "u1", "session": "s", "transcript": "x" * 200_001}
    )


# -- attachRecording -------------------------------------------------------------------------


async def test_attach_recording_after_the_call_ended(rs: ReflectionSession) -> None:
    completed = await start(rs, prompts=["A?"])
    await answer_all(rs, completed, n=1)
    await rs.completeSession(user="u1", session=completed)
    assert await rs.attachRecording(user="u1", session=completed, recordingUrl=URL) == {}
    abandoned = await start(rs)
    await rs.abandonSession(user="u1", session=abandoned, reason="hung up")
    assert await rs.attachRecording(user="u1", session=abandoned, recordingUrl=URL + "2") == {}
    history = await rs._history(user="u1")
    assert [h["hasRecording"] for h in history] == [True, True]
    urls = [
        (await rs._recordingUrl(user="u1", session=s))[0]["recordingUrl"]
        for s in (abandoned, completed)
    ]
    assert urls == [URL + "2", URL]
    assert "twilio" not in (await raw(rs, completed))["recordingUrl"]


async def test_attach_recording_once_same_url_again_is_fine(rs: ReflectionSession) -> None:
    session = await start(rs)
    await rs.attachRecording(user="u1", session=session, recordingUrl=URL)
    assert (
        await rs.attachRecording(user="u1", session=session, recordingUrl=URL) == {}
    )  # webhook retry
    out = await rs.attachRecording(user="u1", session=session, recordingUrl=URL + "-other")
    assert out["errorKind"] == "conflict"
    assert await rs._recordingUrl(user="u1", session=session) == [{"recordingUrl": URL}]


async def test_attach_once_the_first_wins_and_a_repeat_writes_nothing(
    rs: ReflectionSession,
) -> None:
    session = await start(rs, prompts=["A?"])
    await answer_all(rs, session, n=1)
    await rs.completeSession(user="u1", session=session)
    await rs.attachRecording(user="u1", session=session, recordingUrl=URL)  # late, once
    await rs.attachTranscription(user="u1", session=session, text="first")
    kept = await raw(rs, session)
    assert await rs.attachRecording(user="u1", session=session, recordingUrl=URL) == {}
    assert await rs.attachTranscription(user="u1", session=session, text="first") == {}
    assert "error" in await rs.attachRecording(user="u1", session=session, recordingUrl=URL + "2")
    assert "error" in await rs.attachTranscription(user="u1", session=session, text="second")
    assert await raw(rs, session) == kept, "a replay leaves the reflection exactly as it was"


async def test_attach_recording_phone_only_and_owner_only(rs: ReflectionSession) -> None:
    typed = await start(rs, method="TEXT")
    assert (await rs.attachRecording(user="u1", session=typed, recordingUrl=URL))[
        "errorKind"
    ] == "conflict"
    assert (await rs.attachRecording(user="u2", session=typed, recordingUrl=URL))[
        "errorKind"
    ] == "not_found"
    assert (await rs._history(user="u1"))[0]["hasRecording"] is False


@pytest.mark.parametrize(
    "url",
    [
        "http://api.twilio.com/rec.mp3",
        "ftp://example.com/x",
        "https://",
        "https:///path",
        "https://user:pw@example.com/x",
        "https://example.com/a b",
        "https://example.com:99999/x",
        "javascript:alert(1)",
        "//example.com/x",
    ],
)
async def test_attach_recording_needs_an_https_url(rs: ReflectionSession, url: str) -> None:
    session = await start(rs)
    out = await rs.attachRecording(user="u1", session=session, recordingUrl=url)
    assert out["errorKind"] == "invalid"
    assert (await rs._history(user="u1"))[0]["hasRecording"] is False


def test_attach_recording_validation_as_http_sees_it(rs: ReflectionSession) -> None:
    ok = {"user": "u1", "session": "s", "recordingUrl": URL}
    assert errors_of(rs, "attachRecording", ok) == []
    assert errors_of(rs, "attachRecording", {**ok, "recordingUrl": "http://x"})[0]["loc"] == [
        "body",
        "recordingUrl",
    ]
    assert errors_of(rs, "attachRecording", {**ok, "recordingUrl": "https://" + "x" * 2000})


# -- attachTranscription ---------------------------------------------------------------------


async def test_attach_transcription_after_the_end_encrypted(rs: ReflectionSession) -> None:
    session = await start(rs)
    await rs.abandonSession(user="u1", session=session, reason="hung up")
    assert await rs.attachTranscription(user="u1", session=session, text="what I said") == {}
    assert await rs.attachTranscription(user="u1", session=session, text="what I said") == {}
    assert (await rs.attachTranscription(user="u1", session=session, text="other"))[
        "errorKind"
    ] == ("conflict")
    assert "said" not in (await raw(rs, session))["transcriptionText"]
    assert (await rs._session(user="u1", session=session))[0]["transcriptionText"] == "what I said"


async def test_attach_transcription_phone_only_and_owner_only(rs: ReflectionSession) -> None:
    typed = await start(rs, method="TEXT")
    assert (await rs.attachTranscription(user="u1", session=typed, text="x"))[
        "errorKind"
    ] == "conflict"
    phone = await start(rs, user="u2")
    assert (await rs.attachTranscription(user="u1", session=phone, text="x"))[
        "errorKind"
    ] == "not_found"
    assert (await rs._session(user="u2", session=phone))[0]["transcriptionText"] is None
    assert errors_of(
        rs, "attachTranscription", {"user": "u", "session": "s", "text": "x" * 200_001}
    )


# -- deleteAllFor ----------------------------------------------------------------------------


async def test_delete_all_for_removes_every_session_of_the_user_only(rs: ReflectionSession) -> None:
    old = await start(rs, prompts=["A?"])
    await answer_all(rs, old, n=1)
    await rs.completeSession(user="u1", session=old)
    await start(rs)  # one in progress too
    theirs = await start(rs, user="u2")
    assert await rs.deleteAllFor(user="u1") == {"deleted": 2}
    assert await rs._history(user="u1") == []
    assert await rs._active(user="u1") == []
    assert await rs.collection("sessions").count_documents({"user": "u1"}) == 0
    assert [r["session"] for r in await rs._history(user="u2")] == [theirs]
    await start(rs)  # nothing left blocks a new reflection
    assert await rs.deleteAllFor(user="nobody") == {"deleted": 0}


# -- encryption and the action log ------------------------------------------------------------


async def test_nothing_personal_is_stored_in_plaintext(rs: ReflectionSession) -> None:
    session = await start(rs)
    await rs.recordResponse(user="u1", session=session, position=1, text="SECRET-ANSWER")
    await rs.setTranscript(user="u1", session=session, transcript="SECRET-TRANSCRIPT")
    await rs.attachRecording(user="u1", session=session, recordingUrl="https://secret.example/rec")
    await rs.attachTranscription(user="u1", session=session, text="SECRET-TRANSCRIPTION")
    text = repr(await raw(rs, session))
    for secret in ("SECRET-ANSWER", "SECRET-TRANSCRIPT", "secret.example", "SECRET-TRANSCRIPTION"):
        assert secret not in text


async def test_the_prompt_texts_are_stored_only_encrypted(rs: ReflectionSession) -> None:
    asked = ["Where did the heron go?", "What did the tea taste of?"]
    session = await start(rs, method="TEXT", prompts=asked)
    await rs.recordResponse(user="u1", session=session, position=1, text="north")
    stored = await raw(rs, session)
    assert "heron" not in repr(stored) and "the tea" not in repr(stored)
    assert all(Encryptor.is_token(p["text"]) for p in stored["prompts"])
    (shown,) = await rs._session(user="u1", session=session)
    assert [p["text"] for p in shown["prompts"]] == asked
    continued = await rs.startSession(user="u1", method="PHONE", prompts=asked)
    assert continued["prompts"] == [asked[1]] and continued["positions"] == [2]


async def test_a_token_moved_to_another_session_does_not_decrypt(rs: ReflectionSession) -> None:
    a = await start(rs, prompts=["A?"])
    await rs.recordResponse(user="u1", session=a, position=1, text="for a")
    await rs.abandonSession(user="u1", session=a, reason="x")
    b = await start(rs, prompts=["A?"])
    await rs.collection("sessions").update_one(
        {"_id": b}, {"$set": {"responses": (await raw(rs, a))["responses"]}}
    )
    with pytest.raises(WrongContext):
        await rs._session(user="u1", session=b)


def test_personal_fields_are_private_in_the_action_log(rs: ReflectionSession) -> None:
    ops = describe_operations(rs)
    assert "text" in ops["recordResponse"].private
    assert "transcript" in ops["setTranscript"].private
    assert "recordingUrl" in ops["attachRecording"].private
    assert "text" in ops["attachTranscription"].private
    assert "prompts" in ops["startSession"].private


# -- queries ---------------------------------------------------------------------------------


async def test_history_newest_first_paged_and_scoped(rs: ReflectionSession) -> None:
    ids = []
    for _ in range(5):
        session = await start(rs, prompts=["A?"])
        await rs.abandonSession(user="u1", session=session, reason="x")
        ids.append(session)
    await start(rs, user="u2")
    page1 = await rs._history(user="u1", limit=2)
    assert [r["session"] for r in page1] == ids[::-1][:2]
    page2 = await rs._history(user="u1", limit=2, before=page1[-1]["session"])
    assert [r["session"] for r in page2] == ids[::-1][2:4]
    page3 = await rs._history(user="u1", limit=2, before=page2[-1]["session"])
    assert [r["session"] for r in page3] == ids[:1]
    assert set(page1[0]) == {
        "session",
        "method",
        "status",
        "startedAt",
        "endedAt",
        "callRef",
        "abandonReason",
        "rating",
        "prompts",
        "hasRecording",
    }
    assert await rs._history(user="nobody") == []


def test_history_validation(rs: ReflectionSession) -> None:
    assert errors_of(rs, "_history", {"user": "u1"}) == []
    assert errors_of(rs, "_history", {"user": "u1", "limit": 0})
    assert errors_of(rs, "_history", {"user": "u1", "limit": 101})
    assert errors_of(rs, "_history", {"user": "u1", "before": None}) == []


async def test_session_query_is_scoped_to_the_owner(rs: ReflectionSession) -> None:
    session = await start(rs, callRef="call-9")
    (full,) = await rs._session(user="u1", session=session)
    assert (full["callRef"], full["transcript"], full["hasRecording"]) == ("call-9", None, False)
    assert "recordingUrl" not in full
    assert await rs._session(user="u2", session=session) == []
    assert await rs._recordingUrl(user="u1", session=session) == []
    assert await rs._session(user="u1", session="missing") == []


async def test_active_is_empty_without_a_session_in_progress(rs: ReflectionSession) -> None:
    assert await rs._active(user="u1") == []
    session = await start(rs)
    await rs.recordResponse(user="u1", session=session, position=1, text="x")
    (active,) = await rs._active(user="u1")
    assert (active["session"], active["nextPosition"]) == (session, 2)
    assert await rs._active(user="u2") == []


async def test_by_call_ref_lists_every_attempt_with_status(rs: ReflectionSession) -> None:
    first = await start(rs, callRef="call-1")
    await rs.abandonSession(user="u1", session=first, reason="dropped")
    second = await start(rs, callRef="call-1")
    await start(rs, user="u2", callRef="call-1")
    rows = await rs._byCallRef(user="u1", callRef="call-1")
    assert [(r["session"], r["status"]) for r in rows] == [
        (second, "IN_PROGRESS"),
        (first, "ABANDONED"),
    ]
    only = await rs._byCallRef(user="u1", callRef="call-1", status="IN_PROGRESS")
    assert [r["session"] for r in only] == [second]
    assert await rs._byCallRef(user="u1", callRef="call-2") == []
    assert errors_of(rs, "_byCallRef", {"user": "u1", "callRef": "c", "status": "DONE"})


# -- concurrency -------------------------------------------------------------------------------


async def test_concurrent_starts_leave_exactly_one_in_progress(rs: ReflectionSession) -> None:
    outs = await asyncio.gather(
        *(rs.startSession(user="u1", method="TEXT", prompts=PROMPTS) for _ in range(8))
    )
    assert sum("session" in o for o in outs) == 1
    assert all(o["errorKind"] == "conflict" for o in outs if "session" not in o)
    assert len(await rs._active(user="u1")) == 1


async def test_concurrent_phone_starts_share_the_one_reflection_in_progress(rs) -> None:
    """A phone call continues the reflection in progress: racing calls get the same one."""
    outs = await asyncio.gather(
        *(rs.startSession(user="u1", method="PHONE", prompts=PROMPTS) for _ in range(8))
    )
    assert len({o["session"] for o in outs}) == 1
    assert len(await rs._active(user="u1")) == 1


async def test_concurrent_answers_to_one_position_keep_exactly_one(rs: ReflectionSession) -> None:
    session = await start(rs)
    outs = await asyncio.gather(
        *(
            rs.recordResponse(user="u1", session=session, position=1, text=f"t{i}")
            for i in range(6)
        ),
        rs.recordResponse(user="u1", session=session, position=2, text="other"),
    )
    assert sum(o == {} for o in outs[:6]) == 1
    assert outs[6] == {}
    assert len((await raw(rs, session))["responses"]) == 2


async def test_an_answer_racing_abandonment_lands_before_it_or_is_refused(
    rs: ReflectionSession,
) -> None:
    session = await start(rs)
    answer, end = await asyncio.gather(
        rs.recordResponse(user="u1", session=session, position=1, text="late"),
        rs.abandonSession(user="u1", session=session, reason="hung up"),
    )
    assert end == {}
    doc = await raw(rs, session)
    assert doc["status"] == "ABANDONED"
    assert len(doc["responses"]) == (1 if answer == {} else 0)
    assert answer == {} or answer["errorKind"] == "conflict"


async def test_the_reconciler_sees_an_untouched_reflection_and_never_a_closed_one(rs, clock):
    session = await start(rs)
    clock.advance(hours=4)
    later = clock.now()
    rows = await rs._untouched(method="PHONE", before=later)
    assert [r["session"] for r in rows] == [session]
    await rs.closeCall(user="u1", session=session, answers=[], transcript="", reason="test")
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"
    assert await rs.attachRecording(user="u1", session=session, recordingUrl=url) == {}
    assert await rs._untouched(method="PHONE", before=later + dt.timedelta(days=1)) == []
