"""Editing a past answer through the API, the whole service in-process (issue 16).

``POST /api/ReflectionSession/editAnswer`` corrects or fills in an answer of one's own
finished reflection; History, search and the export then show the edited text, marked
edited, with the original kept beside it. Nobody else's reflection can be edited.
"""

from __future__ import annotations

import datetime as dt
import json

from tests.app.conftest import Service
from tests.app.test_search_export import ANSWERS, phone_reflection, typed_reflection

EDIT = "ReflectionSession/editAnswer"


async def test_fill_a_no_answer_then_search_and_export_show_the_edit(service: Service):
    token = await service.sign_up(timezone="Europe/Paris")
    session = await typed_reflection(service, token, ["Soup", "", "Sleep early"])
    service.clock.advance(days=1)
    body = {"session": session, "position": 2, "text": "A long bath"}
    out = await service.api(EDIT, body, token)
    assert dt.datetime.fromisoformat(out["editedAt"]) == service.clock.now()
    (shown,) = await service.api("ReflectionSession/_history", {}, token)
    edited = shown["prompts"][1]
    assert (edited["answer"], edited["original"]) == ("A long bath", "")
    stored = dt.datetime.fromisoformat(edited["editedAt"])  # as stored: to the millisecond
    assert abs(stored - service.clock.now()) < dt.timedelta(milliseconds=1)
    assert "editedAt" not in shown["prompts"][0]

    rows = await service.api("ReflectionSession/_search", {"words": "bath"}, token)
    assert [r["session"] for r in rows] == [session] and rows[0]["matched"] == [2]
    data = await service.api("Account/export", {"format": "json"}, token)
    (reflection,) = data["reflections"]
    assert reflection["prompts"][1]["answer"] == "A long bath"
    assert reflection["prompts"][1]["original"] == ""
    text = (await service.api("Account/export", {"format": "markdown"}, token))["markdown"]
    assert "> A long bath\n\n*Edited " in text and ". The original:*\n\n*No answer.*" in text

    # the action log holds the edit only sealed
    await service.engine.settle()
    await service.engine.log.flush()
    async for record in service.engine.db["conceptkit_actions"].find({}):
        assert "A long bath" not in json.dumps(record, default=str)


async def test_a_phone_answer_corrected_keeps_the_call_and_its_transcript(service: Service):
    token = await service.sign_up()
    phone = await phone_reflection(service, token)
    body = {"session": phone["session"], "position": 1, "text": "Tulips by the duck pond"}
    await service.api(EDIT, body, token)
    (full,) = await service.api("ReflectionSession/_session", {"session": phone["session"]}, token)
    assert full["prompts"][0]["answer"] == "Tulips by the duck pond"
    assert full["prompts"][0]["original"] == ANSWERS[0]
    assert ANSWERS[0] in full["transcript"]  # the call's transcript is as the call left it
    assert full["hasRecording"] and full["status"] == "COMPLETED"


async def test_in_progress_refused_and_someone_elses_not_found(service: Service):
    token = await service.sign_up()
    session = (await service.api("Reflection/startText", {}, token))["session"]
    body = {"session": session, "position": 1, "text": "changed"}
    await service.api("ReflectionSession/recordResponse", {**body, "text": "first"}, token)
    refused = await service.api(EDIT, body, token, expect=409)
    assert refused["errorKind"] == "conflict"

    await service.api(
        "ReflectionSession/abandonSession", {"session": session, "reason": "x"}, token
    )
    other = await service.sign_up()
    assert (await service.api(EDIT, body, other, expect=404))["errorKind"] == "not_found"
    await service.api(EDIT, body, None, expect=401)
    (shown,) = await service.api("ReflectionSession/_history", {}, token)
    assert shown["prompts"][0]["answer"] == "first" and "editedAt" not in shown["prompts"][0]
    assert (await service.api(EDIT, {**body, "position": 9}, token, expect=422))["detail"]
