"""Private at rest: after a full scripted use of the service, no phone number, name,
pronunciation, prompt or answer is anywhere in the database in plaintext: not in any
collection (the action log included), and not in the embedded server's files on disk.

The test runs its own embedded server, so it knows which files hold the data.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest
from bson import json_util

from services.app.adapters import adapters_for
from services.app.assembly import concept_app
from services.app.clock import FakeClock
from services.app.config import load_config
from services.devtools.callees import NoAnswerCallee, ScriptedCallee
from services.devtools.mock_completion import MockCompletionChecker
from services.encryption.keys import Encryptor, parse_keys
from services.encryption.migrate_private import CONVERSIONS, MARKER_ID, migrate_private
from services.encryption.migrate_private import main as migrate_main
from services.encryption.rotate_keys import rotate_database
from services.storage.embedded_mongo import EmbeddedMongo
from services.telephony.mock import MockTelephony
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


async def use_the_service(service: Service, *, follow_up: bool = False) -> str:
    """Sign up, profile, verification of two numbers, prompts, schedule, a call answered in
    full, the history read (and with ``follow_up``, a second call whose greeting recalls
    an answer of the first): returns the user's token."""
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
    if follow_up:
        await recall_an_answer(service, token)
    await service.engine.settle()
    await service.engine.log.flush()
    return token


async def recall_an_answer(service: Service, token: str) -> None:
    """The follow-up on: the script, then the call's greeting, recall the last answer."""
    await service.api("Profile/updateFollowUp", {"enabled": True}, token)
    await service.api("Prompts/markFollowUp", {"position": 2}, token)
    recalled = f"you said: {ANSWERS[1]}"
    assert (await service.api("Calls/script", {}, token))["say"][1].endswith(recalled)
    service.clock.advance(hours=1)
    (again,) = await service.dial_due()  # the missed call's retry
    heard = await service.play(again, ScriptedCallee(ANSWERS))
    assert heard.said[1].endswith(recalled), heard.said


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
        await use_the_service(service, follow_up=True)
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


# -- migrating data stored before this ----------------------------------------------------

USER = "u-legacy"
OLD_RECORDS = 4  # the legacy action log records seeded below


def legacy_app(db: Any) -> Any:
    """The service's engine over ``db``, not started (the migration runs before the start)."""
    config = load_config(
        {"USE_MOCKS": "true", "ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=", "DB_NAME": db.name},
        env_file=None,
    )
    services = adapters_for(
        config,
        clock=FakeClock(dt.datetime.now(dt.UTC)),
        telephony=MockTelephony(seed=3),
        completion=MockCompletionChecker(),
    )
    return concept_app(config, db, services)


async def seed_legacy(app: Any) -> dict[str, Any]:
    """Documents as the service stored them before (plaintext where it now encrypts): made
    by today's actions, then given back their old plaintext form. Returns some ids."""
    db, concepts = app.engine.db, app.engine.concepts
    for concept in concepts.values():
        await concept.setup()
    number = FIRST_NUMBER
    await concepts["Profile"].createProfile(
        user=USER, displayName=NAME, phoneNumber=number, timezone=TIMEZONE
    )
    await db["Profile_profiles"].update_one(
        {"user": USER},
        {"$set": {"displayName": NAME, "phoneNumber": number, "namePronunciation": PRONUNCIATION}},
    )
    await concepts["Prompts"].setPrompts(user=USER, prompts=PROMPTS)
    await db["Prompts_prompts"].update_one({"_id": USER}, {"$set": {"prompts": PROMPTS}})
    pv = concepts["PhoneVerification"]
    await pv.start(user=USER, phoneNumber=number)
    code = pv.services["telephony"].messages[-1].body[-6:]
    await pv.confirm(user=USER, code=code)
    pv.services["clock"].advance(seconds=31)
    await pv.start(user=USER, phoneNumber=SECOND_NUMBER)
    await db["PhoneVerification_pending"].update_one(
        {"user": USER}, {"$set": {"phoneNumber": SECOND_NUMBER}}
    )
    await db["PhoneVerification_verified"].update_one(
        {"user": USER}, {"$set": {"numbers": [number]}}
    )
    old_throttle = "number:" + hashlib.sha256(number.encode()).hexdigest()
    await db["PhoneVerification_throttle"].insert_one({"_id": old_throttle, "sends": []})
    cs = concepts["CallScheduler"]
    now = cs.services["clock"].now()
    scheduled = (await cs.scheduleCall(user=USER, phoneNumber=number, scheduledFor=now))[
        "scheduledCall"
    ]
    claimed = await cs.claimDue(worker="w", now=now)
    call = (
        await concepts["PhoneCall"].initiate(user=USER, scheduledCall=scheduled, toNumber=number)
    )["call"]
    dialled = await concepts["Dialer"].dial(
        user=USER, call=call, scheduledCall=scheduled, attempt=1, to=number
    )
    session = (
        await concepts["ReflectionSession"].startSession(user=USER, method="PHONE", prompts=PROMPTS)
    )["session"]
    # a mark whose action is in the log, and one whose action is gone, both with the number
    claim_mark = {"a": "a-claim", "o": {**claimed, "phoneNumber": number}}
    gone_mark = {"a": "a-gone", "o": {"scheduledCall": scheduled, "phoneNumber": number}}
    await db["CallScheduler_calls"].update_one(
        {"_id": scheduled},
        {"$set": {"phoneNumber": number, "_effects": [claim_mark, gone_mark]}},
    )
    await db["PhoneCall_calls"].update_one({"_id": call}, {"$set": {"toNumber": number}})
    await db["Dialer_attempts"].update_one(
        {"_id": f"{scheduled}:1"}, {"$set": {"to": number}, "$unset": {"toKey": ""}}
    )
    plain_prompts = [{"position": i, "text": t} for i, t in enumerate(PROMPTS, 1)]
    await db["ReflectionSession_sessions"].update_one(
        {"_id": session}, {"$set": {"prompts": plain_prompts}}
    )
    record = {"flow": "f1", "cause": [], "sync": None, "pending": False, "seq": 1}
    await db["conceptkit_actions"].insert_many(
        [
            {
                **record,
                "_id": "a-profile",
                "concept": "Profile",
                "action": "createProfile",
                "inputs": {"user": USER, "displayName": NAME, "phoneNumber": "+1 415 555 7319"},
                "outputs": {"profile": "p"},
            },
            {
                **record,
                "_id": "a-claim",
                "concept": "CallScheduler",
                "action": "claimDue",
                "inputs": {"worker": "w"},
                "outputs": claim_mark["o"],
            },
            {
                **record,
                "_id": "a-dial",
                "concept": "Dialer",
                "action": "dial",
                "inputs": {"user": USER, "call": call, "to": number},
                "outputs": dialled,
            },
            {
                **record,
                "_id": "a-answer",
                "concept": "PhoneCall",
                "action": "finishAnswer",
                "inputs": {"question": PROMPTS[0], "promptIndex": 0},
                "outputs": {"answer": ANSWERS[0]},  # private before: sealed already
            },
        ]
    )
    await db["conceptkit_actions"].update_one(
        {"_id": "a-answer"},
        {
            "$set": {
                "outputs.answer": app.engine.log.seal_value(
                    ANSWERS[0], "PhoneCall.finishAnswer.out.answer"
                )
            }
        },
    )
    return {"scheduled": scheduled, "call": call, "session": session, "sid": dialled["callSid"]}


async def plaintext_hits(db: Any) -> list[str]:
    hits = []
    for name in await db.list_collection_names():
        async for doc in db[name].find({}):
            text = json_util.dumps(doc)
            hits += [f"{name}: {n!r}" for n in needles() if n in text]
    return hits


async def check_migrated(app: Any, ids: dict[str, Any]) -> None:
    """Nothing in plaintext, and every concept reads its data as before."""
    db, concepts, log = app.engine.db, app.engine.concepts, app.engine.log
    assert await plaintext_hits(db) == []
    (shown,) = await concepts["Profile"]._getProfile(user=USER)
    assert (shown["displayName"], shown["phoneNumber"], shown["namePronunciation"]) == (
        NAME,
        FIRST_NUMBER,
        PRONUNCIATION,
    )
    assert await concepts["Prompts"]._promptList(user=USER) == [{"prompts": PROMPTS}]
    pv = concepts["PhoneVerification"]
    assert await pv._isVerified(user=USER, phoneNumber=FIRST_NUMBER) == [{"verified": True}]
    assert (await pv._pendingNumber(user=USER))[0]["phoneNumber"] == SECOND_NUMBER
    assert (
        await db["PhoneVerification_throttle"].count_documents(
            {"_id": {"$regex": "^number:[0-9a-f]{64}$"}}
        )
        == 0
    )
    (scheduled,) = await concepts["CallScheduler"]._recent(user=USER)
    assert scheduled["phoneNumber"] == FIRST_NUMBER
    (active,) = await concepts["PhoneCall"]._activeForUser(user=USER)
    assert active["toNumber"] == FIRST_NUMBER
    assert await concepts["Dialer"]._known_sids(FIRST_NUMBER) == {ids["sid"]}  # by toKey
    (session,) = await concepts["ReflectionSession"]._session(user=USER, session=ids["session"])
    assert [p["text"] for p in session["prompts"]] == PROMPTS
    # the mark of a logged action is sealed as the log seals; the other one is gone
    (mark,) = (await db["CallScheduler_calls"].find_one({"_id": ids["scheduled"]}))["_effects"]
    opened = log.decode_values(mark["o"], "CallScheduler.claimDue.out")
    assert (mark["a"], opened["phoneNumber"]) == ("a-claim", FIRST_NUMBER)
    # the old log records read back as they were written
    profile = await log.find("a-profile")
    assert profile.inputs["displayName"] == NAME
    assert (await log.find("a-dial")).inputs["to"] == FIRST_NUMBER
    assert (await log.find("a-answer")).inputs["question"] == PROMPTS[0]


class Crash(Exception):
    pass


async def test_the_migration_converts_old_data_and_resumes_after_a_crash(async_db: Any):
    app = legacy_app(async_db)
    ids = await seed_legacy(app)
    assert await plaintext_hits(async_db) != []
    writes = 0

    def crash_midway() -> None:
        nonlocal writes
        writes += 1
        if writes == 4:
            raise Crash

    with pytest.raises(Crash):
        await migrate_private(app.engine, app.services["encryption"], on_document=crash_midway)
    assert await async_db["migrations"].count_documents({}) == 0, "not recorded as done"
    (profile,) = await async_db["Profile_profiles"].find({}).to_list(None)
    assert Encryptor.is_token(profile["displayName"]), "the first documents were converted"
    assert await plaintext_hits(async_db) != []

    report = await migrate_private(app.engine, app.services["encryption"])
    assert report.documents == len(CONVERSIONS) - writes  # one legacy document per collection
    assert report.log_records == OLD_RECORDS  # the answer was sealed already, not its question
    assert (report.marks_dropped, report.throttles_dropped) == (1, 1)
    after = {n: await async_db[n].find({}).to_list(None) for n in CONVERSIONS}
    converted = await async_db["Profile_profiles"].find_one({})
    assert converted["displayName"] == profile["displayName"], "not converted twice"
    await check_migrated(app, ids)

    assert (await migrate_private(app.engine, app.services["encryption"])).skipped
    again = await migrate_private(app.engine, app.services["encryption"], force=True)
    assert (again.documents, again.log_records, again.marks_dropped) == (0, 0, 0)
    assert {n: await async_db[n].find({}).to_list(None) for n in CONVERSIONS} == after


async def test_two_processes_migrating_at_once_convert_each_document_once(async_db: Any):
    first, second = legacy_app(async_db), legacy_app(async_db)
    ids = await seed_legacy(first)
    reports = await asyncio.gather(
        migrate_private(first.engine, first.services["encryption"]),
        migrate_private(second.engine, second.services["encryption"]),
    )
    assert not any(r.skipped for r in reports)
    assert sum(r.documents for r in reports) == len(CONVERSIONS)  # each converted once
    assert sum(r.log_records for r in reports) == OLD_RECORDS
    await check_migrated(first, ids)


async def test_the_service_migrates_old_data_when_it_starts(mongo_uri: str, async_db: Any):
    ids = await seed_legacy(legacy_app(async_db))
    async with running_service(mongo_uri, settings={"DB_NAME": async_db.name}) as service:
        assert await async_db["migrations"].count_documents({"_id": MARKER_ID}) == 1
        await check_migrated(service.app.state.concept_app, ids)


def test_the_migration_command_runs_once_then_reports_it_is_done(
    mongo_uri: str, db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {
        "MONGODB_URI": mongo_uri,
        "DB_NAME": db.name,
        "USE_MOCKS": "true",
        "ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=",
    }
    db["Profile_profiles"].insert_one(
        {"_id": "p", "user": USER, "displayName": NAME, "phoneNumber": FIRST_NUMBER}
    )
    assert migrate_main([], environ) == 0
    assert "private-at-rest migration: documents=1 " in capsys.readouterr().out
    assert NAME not in str(db["Profile_profiles"].find_one({"_id": "p"}))
    assert migrate_main([], environ) == 0
    assert capsys.readouterr().out == "private-at-rest migration: done before\n"


# -- key rotation covers all of it -------------------------------------------------------

NEW_KEY = "k2:" + base64.b64encode(bytes(range(32))).decode()


def keyed(value: Any) -> list[str]:
    """Every token and lookup key in a value, however nested."""
    if isinstance(value, str):
        return [value] if Encryptor.is_token(value) or Encryptor.is_lookup_key(value) else []
    if isinstance(value, dict):
        return [k for v in value.values() for k in keyed(v)]
    if isinstance(value, list):
        return [k for v in value for k in keyed(v)]
    return []


async def test_after_a_rotation_the_new_key_alone_reads_everything(own_server: EmbeddedMongo):
    """rotate-keys finds the new tokens and lookup keys; once the old key is gone, every
    concept still reads and finds its data, and the log still opens."""
    async with running_service(own_server.uri) as service:
        token = await use_the_service(service)
        (row,) = await service.engine.query("Accounts", "_userForToken", {"token": token})
        user, name = row["user"], service.engine.db.name
        client = pymongo.MongoClient(own_server.uri)
        try:
            both = Encryptor(parse_keys(f"{NEW_KEY},k1:{'A' * 43}="))
            report = rotate_database(client[name], both)
            assert report.failed == 0 and report.reencrypted > 20 and report.rehashed >= 3
            stored = [
                d for n in client[name].list_collection_names() for d in client[name][n].find({})
            ]
            kids = {
                Encryptor.lookup_header(k).kid
                if Encryptor.is_lookup_key(k)
                else Encryptor.header(k).kid
                for d in stored
                for key, v in d.items()
                if key != "_id"
                for k in keyed(v)
            }
            assert kids == {"k2"}
        finally:
            client.close()
        config = load_config(
            {"USE_MOCKS": "true", "ENCRYPTION_KEYS": NEW_KEY, "DB_NAME": name}, env_file=None
        )
        services = adapters_for(config, telephony=MockTelephony(seed=1))
        after = concept_app(config, service.engine.db, services).engine
        concepts = after.concepts
        (profile,) = await concepts["Profile"]._getProfile(user=user)
        assert (profile["displayName"], profile["phoneNumber"]) == (NAME, SECOND_NUMBER)
        assert await concepts["Profile"]._spokenName(user=user) == [{"name": PRONUNCIATION}]
        assert await concepts["Prompts"]._promptList(user=user) == [{"prompts": PROMPTS}]
        verified = concepts["PhoneVerification"]
        assert await verified._isVerified(user=user, phoneNumber=SECOND_NUMBER) == [
            {"verified": True}
        ]
        assert len(await concepts["Dialer"]._known_sids(SECOND_NUMBER)) == 2  # both calls
        (session, *_) = await concepts["ReflectionSession"]._history(user=user)
        assert [p["text"] for p in session["prompts"]] == PROMPTS
        assert [c["phoneNumber"] for c in await concepts["CallScheduler"]._recent(user=user)] == [
            SECOND_NUMBER,
            SECOND_NUMBER,
        ]
        opened = 0
        async for doc in after.db["conceptkit_actions"].find({}):
            if "firing" in doc:
                after.log.firing_frames(doc)
            else:
                after.log.from_document(doc)
            opened += 1
        assert opened > 50
