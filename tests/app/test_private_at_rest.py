"""Private at rest: after a full scripted use of the service, no phone number, name,
pronunciation, prompt or answer is anywhere in the database in plaintext: not in any
collection (the action log included), and not in the embedded server's files on disk.

The test runs its own embedded server, so it knows which files hold the data.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from bson import json_util

from services.callees import NoAnswerCallee, ScriptedCallee
from services.embedded_mongo import EmbeddedMongo
from tests.app.conftest import Service, running_service

NAME = "Zephyrine Quillfeather"
PRONUNCIATION = "Zeff-ih-reen Kwill"
FIRST_NUMBER = "+14155557319"
SECOND_NUMBER = "+442079460377"
PROMPTS = [
    "Which heron crossed the marsh this morning?",
    "What did the cardamom tea remind you of?",
]
ANSWERS = ["The grey one by the sluice gate.", "My grandmother's kitchen in Tampere."]
TIMEZONE = "America/Los_Angeles"  # not private: proves the scan sees what was stored


def needles() -> list[str]:
    """Every private value, in the spellings it could be stored in."""
    out = [NAME, *NAME.split(), PRONUNCIATION, *PROMPTS, *ANSWERS]
    out += ["heron crossed", "cardamom", "sluice gate", "Tampere"]
    for number in (FIRST_NUMBER, SECOND_NUMBER):
        digits = number[1:]
        out += [number, digits, digits[-9:]]  # E.164, without +, without the country code
    return out


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedMongo]:
    with EmbeddedMongo(tmp_path / "data") as server:
        yield server


async def use_the_service(service: Service) -> str:
    """Sign up, profile, verification of two numbers, prompts, schedule, a call answered in
    full, the history read: returns the user's token."""
    token = await service.sign_up(
        phone=FIRST_NUMBER, displayName=NAME, timezone=TIMEZONE, includeRating=False
    )
    await service.api(
        "Profile/updateNamePronunciation", {"namePronunciation": PRONUNCIATION}, token
    )
    await service.api("Prompts/setPrompts", {"prompts": PROMPTS}, token)
    await service.api("Prompts/movePrompt", {"fromPosition": 2, "toPosition": 1}, token)
    await service.api("Prompts/movePrompt", {"fromPosition": 2, "toPosition": 1}, token)
    await service.api("Schedule/setDaily", {"timezone": TIMEZONE, "time": "18:30"}, token)
    service.clock.advance(seconds=31)  # past the resend interval
    await service.api("Profile/updatePhoneNumber", {"phoneNumber": "+44 20 7946 0377"}, token)
    await service.verify_phone(token, SECOND_NUMBER)
    await service.call_now(token)
    (placed,) = await service.dial_due()
    assert placed.to == SECOND_NUMBER
    result = await service.play(placed, ScriptedCallee(ANSWERS))
    assert result.final_status == "completed", result.errors
    assert result.said[0].startswith("Hi Zeff-ih-reen Kwill.")
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert [p["text"] for p in session["prompts"]] == PROMPTS
    assert [p["answer"] for p in session["prompts"]] == ANSWERS
    (profile,) = await service.api("Profile/_getProfile", {}, token)
    assert (profile["displayName"], profile["phoneNumber"]) == (NAME, SECOND_NUMBER)
    verified = await service.api("PhoneVerification/_verifiedNumbers", {}, token)
    assert [v["phoneNumber"] for v in verified] == [FIRST_NUMBER, SECOND_NUMBER]
    # the planned call: queued by the worker at its time, dialled, not answered
    (planned,) = await service.api("Schedule/_nextCall", {}, token)
    service.clock.set(dt.datetime.fromisoformat(planned["at"]) + dt.timedelta(minutes=1))
    assert await service.worker.plan_due() >= 1
    (retried,) = await service.dial_due()
    await service.play(retried, NoAnswerCallee())
    await service.worker.reconcile()
    calls = await service.api("CallScheduler/_recent", {}, token)
    assert [c["phoneNumber"] for c in calls] == [SECOND_NUMBER, SECOND_NUMBER]
    await service.engine.settle()
    await service.engine.log.flush()
    return token


def scan_files(directory: Path, found: list[str]) -> tuple[int, int, list[str]]:
    """(files, bytes, hits) over every file under ``directory``; ``found`` must be seen."""
    files = size = 0
    hits: list[str] = []
    seen: set[str] = set()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        data = path.read_bytes()
        files, size = files + 1, size + len(data)
        hits += [f"{path.name}: {n!r}" for n in needles() if n.encode() in data]
        seen |= {f for f in found if f.encode() in data}
    assert seen == set(found), "the scan did not see data known to be stored"
    return files, size, hits


async def test_nothing_private_is_stored_in_plaintext_anywhere(own_server: EmbeddedMongo):
    async with running_service(own_server.uri) as service:
        await use_the_service(service)
        db = service.engine.db
        names = sorted(await db.list_collection_names())
        assert {"conceptkit_actions", "Profile_profiles", "Dialer_attempts"} <= set(names)
        dumped = 0
        hits: list[str] = []
        for name in names:
            async for doc in db[name].find({}):
                text = json_util.dumps(doc)
                dumped += 1
                hits += [f"{name}: {n!r}" for n in needles() if n in text]
        assert dumped > 50
        assert hits == []
        files, size, file_hits = scan_files(own_server.data_dir, [TIMEZONE])
        print(
            f"\nprivate-at-rest scan: {dumped} documents in {len(names)} collections; "
            f"{files} files, {size} bytes on disk; hits={len(file_hits)}"
        )
        assert file_hits == []


def test_the_needles_would_be_found(tmp_path: Path) -> None:
    """The scan itself: a file holding one private value is a hit."""
    (tmp_path / "x.db").write_bytes(b"\x00\x01" + PROMPTS[0].encode() + TIMEZONE.encode())
    _, _, hits = scan_files(tmp_path, [TIMEZONE])
    assert any(re.search("heron", h) for h in hits)
