"""Search and export through the API, the whole service in-process (issue 16).

``POST /api/ReflectionSession/_search`` finds the caller's own reflections by words and dates
(through the caller's own encrypted index, kept by every write and gone with the account);
``POST /api/Account/export`` gives everything of the caller's own as JSON or Markdown, missed
days with each attempt's outcome included. Neither
shows anything of another user's, and the action log keeps no answer in the clear.
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

from services.app.recordings import RECORDING_ROUTE
from services.devtools.callees import BusyCallee, NoAnswerCallee, ScriptedCallee, VoicemailCallee
from syncs.export import missed_days
from tests.app.conftest import Service

ANSWERS = ["Tulips by the heron pond", "Patience with the new puppy", "Carry patience into work"]


async def phone_reflection(service: Service, token: str) -> dict:
    await service.call_now(token)
    (placed,) = await service.dial_due()
    result = await service.play(placed, ScriptedCallee(ANSWERS))
    assert result.final_status == "completed", result.errors
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert session["hasRecording"]
    service.telephony.recordings[result.recording_url] = ("audio/mpeg", b"ID3 the call")
    return session


async def typed_reflection(service: Service, token: str, answers: list[str]) -> str:
    session = (await service.api("Reflection/startText", {}, token))["session"]
    for position, text in enumerate(answers, 1):
        body = {"session": session, "position": position, "text": text}
        await service.api("ReflectionSession/recordResponse", body, token)
    await service.api("ReflectionSession/completeSession", {"session": session}, token)
    return session


async def search(service: Service, token: str, **body) -> list[str]:
    rows = await service.api("ReflectionSession/_search", body, token)
    return [r["session"] for r in rows]


async def test_search_finds_ones_own_reflections_by_words_and_dates(service: Service):
    token = await service.sign_up(timezone="Europe/Paris")
    phone = (await phone_reflection(service, token))["session"]
    service.clock.advance(days=2)
    typed = await typed_reflection(service, token, ["A quiet walk", "", "Rest"])
    other = await service.sign_up()
    await typed_reflection(service, other, ["heron heron heron", "", ""])

    assert await search(service, token, words="heron") == [phone]
    assert await search(service, token, words="PATIENCE puppy") == [phone]
    assert await search(service, token, words="walk") == [typed]
    assert await search(service, token) == [typed, phone]
    between = service.clock.now() - dt.timedelta(days=1)
    assert await search(service, token, since=between.isoformat()) == [typed]
    assert await search(service, token, until=between.isoformat()) == [phone]
    assert await search(service, other, words="tulips") == []  # A's words, B's search

    (row,) = await service.api("ReflectionSession/_search", {"words": "patience"}, token)
    assert row["matched"] == [2, 3]
    assert [p["answer"] for p in row["prompts"]] == ANSWERS
    refused = await service.api("ReflectionSession/_search", {"since": "yesterday"}, token, 422)
    assert refused["detail"][0]["loc"] == ["body", "since"]


async def test_export_as_json_is_complete(service: Service):
    token = await service.sign_up(timezone="Europe/Paris", displayName="Zoë")
    await service.api("Schedule/setDaily", {"timezone": "Europe/Paris", "time": "19:30"}, token)
    phone = await phone_reflection(service, token)
    await service.api(
        "ReflectionSession/setRating", {"session": phone["session"], "rating": -1}, token
    )
    service.clock.advance(days=1)
    typed = await typed_reflection(service, token, ["Soup", "", "Sleep early"])
    await service.api("ReflectionSession/setRating", {"session": typed, "rating": 2}, token)

    data = await service.api("Account/export", {"format": "json"}, token)
    assert (data["format"], data["version"]) == ("daily-reflection-export", 1)
    assert data["profile"]["displayName"] == "Zoë"
    assert data["profile"]["timezone"] == "Europe/Paris"
    assert data["profile"]["followUp"] is False, "the follow-up choice, off by default"
    assert data["account"]["username"]
    assert len(data["prompts"]) == len(phone["prompts"])
    assert data["schedule"]["times"]["mon"] == "19:30"
    assert (data["schedule"]["paused"], data["schedule"]["pausedUntil"]) == (False, None)
    first, second = data["reflections"]
    assert first["session"] == phone["session"] and second["session"] == typed
    assert [p["answer"] for p in first["prompts"]] == ANSWERS
    assert all(p["startedAt"] and p["finishedAt"] for p in first["prompts"])
    assert first["rating"] == -1 and second["rating"] == 2
    assert first["method"] == "PHONE" and first["status"] == "COMPLETED"
    assert ANSWERS[0] in first["transcript"]
    # the recording as the owner's own link, which streams it to their session only
    assert first["recording"] == RECORDING_ROUTE.format(session=phone["session"])
    assert "recordingUrl" not in first and second["recording"] is None
    auth = {"Authorization": f"Bearer {token}"}
    audio = await service.http.get(first["recording"], headers=auth)
    assert (audio.status_code, audio.content) == (200, b"ID3 the call")
    stranger = {"Authorization": f"Bearer {await service.sign_up()}"}
    assert (await service.http.get(first["recording"], headers=stranger)).status_code == 404
    assert [p["answer"] for p in second["prompts"]] == ["Soup", "", "Sleep early"]
    assert dt.datetime.fromisoformat(data["exportedAt"]) == service.clock.now()

    # the action log holds the answer only sealed
    await service.engine.settle()
    await service.engine.log.flush()
    async for record in service.engine.db["conceptkit_actions"].find({}):
        assert "Sleep early" not in json.dumps(record, default=str)


async def test_export_as_markdown_reads_in_the_profiles_time_zone(service: Service):
    token = await service.sign_up(timezone="Asia/Tokyo", displayName="Ada")
    session = await typed_reflection(service, token, ["# Not a heading", "", "line one\nline two"])
    await service.api("ReflectionSession/setRating", {"session": session, "rating": 1}, token)

    text = (await service.api("Account/export", {"format": "markdown"}, token))["markdown"]
    started = service.clock.now().astimezone(dt.timezone(dt.timedelta(hours=9)))
    assert text.startswith("# Daily reflections of Ada\n")
    assert "## Schedule\n\nNo schedule set." in text  # none was set
    assert f"### {started:%A %-d %B %Y, %H:%M}" in text
    assert "> # Not a heading" in text  # the user's text is quoted, never a heading
    assert "> line one\n> line two" in text
    assert "*No answer.*" in text and "- Rating: Good (+1)" in text
    assert "## Reflections (1)" in text
    until = (service.clock.now() + dt.timedelta(days=9)).date().isoformat()
    await service.api("Schedule/setDaily", {"timezone": "Asia/Tokyo", "time": "19:30"}, token)
    await service.api("Schedule/pause", {"until": until}, token)
    text = (await service.api("Account/export", {"format": "markdown"}, token))["markdown"]
    assert f"- Paused: yes, until {until}" in text and "- Mon: 19:30" in text


async def test_export_needs_a_profile_and_a_format(service: Service):
    await service.api("Accounts/register", {"username": "no.profile", "password": "x" * 12})
    login = {"username": "no.profile", "password": "x" * 12}
    token = (await service.api("Accounts/login", login))["token"]
    refused = await service.api("Account/export", {"format": "json"}, token, 409)
    assert refused["error"] == "create your profile first"
    await service.api("Account/export", {"format": "pdf"}, token, 422)
    await service.api("Account/export", {"format": "json"}, None, 401)


async def test_the_search_index_is_sealed_kept_by_calls_and_deleted_with_the_account(
    service: Service,
):
    token = await service.sign_up()
    phone = (await phone_reflection(service, token))["session"]
    typed = await typed_reflection(service, token, ["A quiet walk", "", "Rest"])
    await service.api(
        "ReflectionSession/editAnswer",
        {"session": typed, "position": 2, "text": "An otter"},
        token,
    )
    assert await search(service, token, words="otter") == [typed]
    assert await search(service, token, words="tulips heron") == [phone]  # what the call heard
    index = service.engine.db["ReflectionSession_searchIndex"]
    sessions = service.engine.db["ReflectionSession_sessions"]
    assert await sessions.count_documents({"reindexFor": {"$exists": True}}) == 0
    assert await index.count_documents({}) >= 2  # a month, and the head
    async for doc in index.find({}):
        stored = json.dumps(doc, default=str)  # the index keeps words folded: lower case
        assert "otter" not in stored and "tulips by the heron" not in stored

    body = {"password": "correct horse battery"}
    assert await service.api("Account/delete", body, token) == {"deleted": True}
    assert await index.count_documents({}) == 0


PARIS = ZoneInfo("Europe/Paris")


def paris(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=PARIS).astimezone(dt.UTC)


async def test_the_export_has_each_missed_day_with_what_each_attempt_came_to(service: Service):
    service.clock.set(paris(2, 9))
    token = await service.sign_up(timezone="Europe/Paris", maxRetries=2)
    # the 2nd: a call asked for at 10:00, declined, then not answered: a missed day
    service.clock.set(paris(2, 10))
    asked = await service.call_now(token)
    for callee in (BusyCallee(), NoAnswerCallee()):
        (placed,) = await service.dial_due()
        await service.play(placed, callee)
    # the 3rd: a call that went to voicemail twice, then a reflection typed: a done day
    service.clock.set(paris(3, 10))
    await service.call_now(token)
    for callee in (VoicemailCallee(), VoicemailCallee()):
        (placed,) = await service.dial_due()
        await service.play(placed, callee)
    await typed_reflection(service, token, ["Typed instead", "", ""])
    # the 4th: a call planned for 12:00 while the service was down until 15:00
    service.clock.set(paris(4, 10))
    await service.api("Schedule/setDaily", {"timezone": "Europe/Paris", "time": "12:00"}, token)
    service.clock.set(paris(4, 15))
    await service.worker.plan_due()
    await service.api("Schedule/pause", {}, token)
    service.clock.set(paris(6, 9))

    data = await service.api("Account/export", {"format": "json"}, token)
    assert [d["date"] for d in data["missedDays"]] == ["2026-03-02", "2026-03-04"]
    (call,) = data["missedDays"][0]["calls"]
    assert (call["scheduledCall"], call["origin"], call["outcome"]) == (asked, "now", "NO_ANSWER")
    assert [(a["attempt"], a["outcome"]) for a in call["attempts"]] == [
        (1, "BUSY"),
        (2, "NO_ANSWER"),
    ]
    assert all(dt.datetime.fromisoformat(a["at"]) >= paris(2, 10) for a in call["attempts"])
    (down,) = data["missedDays"][1]["calls"]
    assert (down["origin"], down["outcome"], down["attempts"]) == ("schedule", "NOT_CALLED", [])
    assert dt.datetime.fromisoformat(down["scheduledFor"]) == paris(4, 12)

    text = (await service.api("Account/export", {"format": "markdown"}, token))["markdown"]
    missed = text[text.index("## Missed days (2)") :]
    assert (
        "### Monday 2 March 2026\n\n- The call you asked for at 10:00: not reached, 2 attempts:\n  1. 10:00: you declined the call, or the line was busy\n  2. 10:"
        in missed
    )
    assert "no answer" in missed and "voicemail" not in missed  # the 3rd was reflected on
    assert (
        "### Wednesday 4 March 2026\n\n- The call planned at 12:00: we couldn't call: "
        "the service was down at your call time." in missed
    )
    other = await service.sign_up(timezone="Europe/Paris")
    assert (await service.api("Account/export", {"format": "json"}, other))["missedDays"] == []


def test_a_missed_day_is_a_day_the_calendar_marks_missed():
    """Nothing reflected that day, not even begun: a failed call of a day with an
    unfinished reflection, or a cancelled one, makes no missed day."""

    def failed(day: int, status: str = "FAILED") -> dict:
        log = [{"attempt": 1, "at": paris(day, 20), "outcome": "NO_ANSWER"}]
        return {
            "scheduledCall": f"c{day}",
            "scheduledFor": paris(day, 20),
            "status": status,
            "lastOutcome": "NO_ANSWER" if status == "FAILED" else "CANCELLED",
            "origin": "schedule",
            "attempts": 1,
            "attemptLog": log,
        }

    calls = [failed(2), failed(3), failed(4, "CANCELLED"), failed(5)]
    left = {"session": "s3", "method": "TEXT", "status": "ABANDONED", "startedAt": paris(3, 21)}
    late = {"session": "s5", "method": "TEXT", "status": "COMPLETED", "startedAt": paris(5, 23)}
    days = missed_days([left, late], calls, "Europe/Paris")
    assert [(d["date"], [c["scheduledCall"] for c in d["calls"]]) for d in days] == [
        ("2026-03-02", ["c2"])
    ]
    assert days[0]["calls"][0]["attempts"] == [
        {"attempt": 1, "at": paris(2, 20), "outcome": "NO_ANSWER"}
    ]
    assert [d["date"] for d in missed_days([], calls, "Pacific/Kiritimati")] == [
        "2026-03-03",  # 20:00 in Paris is the next morning at UTC+14
        "2026-03-04",
        "2026-03-06",
    ]
