"""ReflectionSession.editAnswer: correcting or filling in a finished reflection's answer,
the original kept (docs/concepts/ReflectionSession.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conceptkit import describe_operations
from concepts.reflection_session import ReflectionSession
from services.app.clock import FakeClock
from services.encryption.keys import Encryptor, WrongContext
from tests.concepts.test_reflection_session import raw, start


@pytest.fixture
async def rs(async_db, clock, encryptor) -> ReflectionSession:
    concept = ReflectionSession(async_db, {"clock": clock, "encryption": encryptor})
    await concept.setup()
    return concept


async def finished(rs: ReflectionSession, user: str = "u1", abandon: bool = False) -> str:
    """A phone reflection: 'The walk.', then no answer, then (unless abandoned) 'Tea.'"""
    session = await start(rs, user=user)
    await rs.recordResponse(user=user, session=session, position=1, text="The walk.")
    await rs.recordResponse(user=user, session=session, position=2, text="")
    if abandon:
        assert await rs.abandonSession(user=user, session=session, reason="hung up") == {}
    else:
        await rs.recordResponse(user=user, session=session, position=3, text="Tea.")
        assert await rs.completeSession(user=user, session=session) == {}
    return session


async def rows(rs: ReflectionSession, session: str, user: str = "u1") -> list[dict[str, Any]]:
    (shown,) = await rs._session(user=user, session=session)
    return shown["prompts"]


async def test_principle_fill_a_no_answer_marked_edited_original_kept(
    rs: ReflectionSession, clock: FakeClock
) -> None:
    session = await finished(rs)
    clock.advance(days=1)
    out = await rs.editAnswer(user="u1", session=session, position=2, text="  I'd rest more. ")
    assert out == {"editedAt": clock.now()}
    first, second, third = await rows(rs, session)
    assert second["answer"] == "I'd rest more."
    assert (second["editedAt"], second["original"]) == (clock.now(), "")
    assert "editedAt" not in first and "original" not in first  # untouched rows read as before
    assert (first["answer"], third["answer"]) == ("The walk.", "Tea.")
    (latest,) = await rs._history(user="u1")
    assert latest["status"] == "COMPLETED"
    assert latest["prompts"][1]["answer"] == "I'd rest more."
    assert latest["prompts"][1]["original"] == ""


async def test_a_second_edit_keeps_the_first_original(
    rs: ReflectionSession, clock: FakeClock
) -> None:
    session = await finished(rs)
    await rs.editAnswer(user="u1", session=session, position=1, text="The long walk.")
    clock.advance(minutes=5)
    await rs.editAnswer(user="u1", session=session, position=1, text="The walk by the river.")
    back = await rs.editAnswer(user="u1", session=session, position=1, text="The walk.")
    assert back == {"editedAt": clock.now()}  # back to the original: still an edit
    (row, *_) = await rows(rs, session)
    assert (row["answer"], row["original"], row["editedAt"]) == (
        "The walk.",
        "The walk.",
        clock.now(),
    )


async def test_the_same_text_again_writes_nothing(rs: ReflectionSession, clock: FakeClock) -> None:
    session = await finished(rs)
    before = await raw(rs, session)
    assert await rs.editAnswer(user="u1", session=session, position=1, text=" The walk.") == {
        "editedAt": None
    }
    after = await raw(rs, session)
    assert after["version"] == before["version"] and after["responses"] == before["responses"]
    edited = await rs.editAnswer(user="u1", session=session, position=3, text="Green tea.")
    clock.advance(minutes=1)
    assert await rs.editAnswer(user="u1", session=session, position=3, text="Green tea.") == edited


async def test_empty_text_takes_an_answer_back_to_no_answer(rs: ReflectionSession) -> None:
    """Decision: allowed, as when recording: "" is "no answer". The original is kept."""
    session = await finished(rs)
    assert "editedAt" in await rs.editAnswer(user="u1", session=session, position=1, text="   ")
    (row, *_) = await rows(rs, session)
    assert (row["answer"], row["original"]) == ("", "The walk.")


async def test_an_abandoned_reflection_can_be_filled_in(rs: ReflectionSession) -> None:
    session = await finished(rs, abandon=True)
    await rs.editAnswer(user="u1", session=session, position=3, text="Tea, after all.")
    *_, third = await rows(rs, session)
    assert (third["answer"], third["original"]) == ("Tea, after all.", None)  # none recorded
    assert third["startedAt"] == third["finishedAt"] == third["editedAt"]
    (shown,) = await rs._session(user="u1", session=session)
    assert (shown["status"], shown["abandonReason"]) == ("ABANDONED", "hung up")  # kept as is


async def test_a_reflection_in_progress_is_answered_not_edited(rs: ReflectionSession) -> None:
    session = await start(rs, method="TEXT")
    await rs.recordResponse(user="u1", session=session, position=1, text="So far.")
    refused = await rs.editAnswer(user="u1", session=session, position=1, text="Changed.")
    assert refused["errorKind"] == "conflict" and "in progress" in refused["error"]
    (row, *_) = await rows(rs, session)
    assert row["answer"] == "So far." and "editedAt" not in row


async def test_someone_elses_reflection_is_not_found_and_unchanged(rs: ReflectionSession) -> None:
    theirs = await finished(rs, user="u2")
    before = await raw(rs, theirs)
    for session in (theirs, "0" * 32):
        out = await rs.editAnswer(user="u1", session=session, position=2, text="mine now")
        assert out["errorKind"] == "not_found"
    assert await raw(rs, theirs) == before


async def test_position_out_of_range_and_too_long(rs: ReflectionSession) -> None:
    session = await start(rs, prompts=["Only one?"])
    await rs.recordResponse(user="u1", session=session, position=1, text="yes")
    await rs.completeSession(user="u1", session=session)
    out = await rs.editAnswer(user="u1", session=session, position=2, text="no")
    assert out["errorKind"] == "invalid" and "out of range" in out["error"]
    out = await rs.editAnswer(user="u1", session=session, position=1, text="x" * 10_001)
    assert out["errorKind"] == "invalid"
    ops = describe_operations(rs)["editAnswer"]
    assert ops.check_inputs({"user": "u1", "session": session, "position": 6, "text": ""})[1]
    assert "text" in ops.private


async def test_the_edit_and_the_original_are_stored_only_encrypted(rs: ReflectionSession) -> None:
    session = await start(rs, prompts=["A?"])
    await rs.recordResponse(user="u1", session=session, position=1, text="ORIGINAL-SECRET")
    await rs.completeSession(user="u1", session=session)
    await rs.editAnswer(user="u1", session=session, position=1, text="EDITED-SECRET")
    stored = await raw(rs, session)
    assert "SECRET" not in repr(stored)
    (response,) = stored["responses"]
    assert Encryptor.is_token(response["text"]) and Encryptor.is_token(response["original"])
    crypt = rs.services["encryption"]
    with pytest.raises(WrongContext):  # each bound to its own field: not swappable
        crypt.decrypt(
            response["original"], user="u1", field=f"ReflectionSession.response.1.{session}"
        )


async def test_search_finds_the_edited_text_and_export_has_both(rs: ReflectionSession) -> None:
    session = await finished(rs)
    await rs.editAnswer(user="u1", session=session, position=1, text="The heron flew.")
    assert [r["session"] for r in await rs._search(user="u1", words="heron")] == [session]
    assert await rs._search(user="u1", words="walk") == []  # the original is not searched
    (row,) = await rs._export(user="u1")
    (reflection,) = row["reflections"]
    assert reflection["prompts"][0]["answer"] == "The heron flew."
    assert reflection["prompts"][0]["original"] == "The walk."


async def test_concurrent_edits_keep_the_first_original_once(rs: ReflectionSession) -> None:
    session = await finished(rs)
    texts = [f"edit {i}" for i in range(6)]
    outs = await asyncio.gather(
        *(rs.editAnswer(user="u1", session=session, position=1, text=t) for t in texts)
    )
    assert all("editedAt" in o for o in outs), outs
    (row, *_) = await rows(rs, session)
    assert row["original"] == "The walk." and row["answer"] in texts
