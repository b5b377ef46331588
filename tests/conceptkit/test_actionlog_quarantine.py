"""A record the log cannot store is kept redacted in its place and never blocks the others.

Before, one such record (a lone surrogate in a login's username) made every later
flush fail and retry forever, and shutdown failed with the queue unwritten.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import re
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conceptkit import ACTIONS, ActionRecord, ConceptApp, InvocationError, new_id, plugin_manager
from conceptkit._log.actionlog import ActionLog, UnstorableRecord, next_seq
from conceptkit._log.quarantine import MAX_DOCUMENT_BYTES
from conceptkit._log.records import QUARANTINED
from tests.conceptkit.conftest import TestSealer
from tests.conceptkit.database import async_client
from tests.conceptkit.sample import SamplePlugin
from tests.faults import FaultyDatabase, Rule, on

NONE: frozenset[str] = frozenset()
BIG = "x" * (MAX_DOCUMENT_BYTES + 1)

# inputs no database can store, and the error the stand-in names
BAD = {
    "surrogate in a value": ({"user": "\ud800"}, "UnicodeEncodeError"),
    "surrogate as a key": ({"data": {"\udfff": 1}}, "UnicodeEncodeError"),
    "NUL in a key": ({"data": {"a\x00b": 1}}, "InvalidDocument"),
    "$ at the start of a key": ({"data": {"$where": "1"}}, "DollarKey"),
    "an int beyond 64 bits": ({"n": 2**70}, "OverflowError"),
    "a document over 16 MiB": ({"blob": BIG}, "DocumentTooLarge"),
}


def doc(log: ActionLog, inputs: dict[str, Any], pending: bool = False) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    record = ActionRecord(
        id=new_id(),
        seq=next_seq(),
        flow="flow-1",
        concept="Probe",
        action="take",
        inputs=inputs,
        outputs={"ok": True},
        cause=["cause-1"],
        started=now,
        finished=now,
    )
    return log.to_document(record, NONE, NONE, pending=pending)


class Counted:
    """The log's quarantine reports, as the metrics observer hears them."""

    def __init__(self, log: ActionLog) -> None:
        self.reasons: list[str] = []
        log.quarantine_observers.append(self.reasons.append)


async def new_log(db: Any) -> tuple[ActionLog, Counted]:
    log = ActionLog(db, TestSealer())
    await log.setup(background=False)
    return log, Counted(log)


async def write(log: ActionLog, path: str, document: dict[str, Any]) -> None:
    if path == "later":
        log.write_later(document)
    elif path == "commit":
        assert await log.commit([], [document], [])
    elif path == "now":
        await log.write_now(document)
    elif path == "replace":
        await log.replace_now(document)
    await log.flush()


def assert_stand_in(stored: dict[str, Any] | None, original: dict[str, Any], reason: str) -> None:
    assert stored is not None
    for key in ("_id", "flow", "concept", "action", "seq", "cause"):
        assert stored[key] == original[key], key
    assert stored["quarantined"] == f"unstorable: {reason}"
    assert stored["inputs"] == {}
    assert stored["outputs"][QUARANTINED] is True
    assert stored["pending"] is False and stored["retryAt"] is None


@pytest.mark.parametrize("path", ["later", "commit", "now", "replace"])
@pytest.mark.parametrize("case", list(BAD))
async def test_an_unstorable_record_is_kept_redacted_and_the_next_ones_are_stored(
    async_db, case, path
):
    log, counted = await new_log(async_db)
    inputs, reason = BAD[case]
    bad = doc(log, inputs, pending=path == "now")
    await write(log, path, bad)
    good = doc(log, {"user": "ann"})
    await write(log, path, good)
    await log.flush()  # nothing left to fail on
    await log.close()

    stored = await async_db[ACTIONS].find_one({"_id": bad["_id"]})
    assert_stand_in(stored, bad, reason)
    assert "xxxxxxxx" not in str(stored) and "where" not in str(stored)
    assert (await async_db[ACTIONS].find_one({"_id": good["_id"]}))["inputs"] == {"user": "ann"}
    assert counted.reasons == [reason]
    read = await log.find(bad["_id"])
    assert read is not None and not read.completed  # no sync matches a stand-in


async def test_an_id_that_cannot_be_sent_does_not_stop_done_marks_or_heartbeats(async_db):
    log, counted = await new_log(async_db)
    bad, good = doc(log, {}, pending=True), doc(log, {}, pending=True)
    bad["_id"] = "id-\ud800"
    await log.write_now(bad)
    await log.write_now(good)
    await log.extend([bad["_id"], good["_id"]], 60.0)  # the heartbeat
    log.mark_done(bad["_id"])
    log.mark_done(good["_id"])
    await log.flush()
    kept = await async_db[ACTIONS].find_one({"_id": "id-\\ud800"})  # written as text
    assert kept["quarantined"] == "unstorable: UnicodeEncodeError" and not kept["pending"]
    assert (await async_db[ACTIONS].find_one({"_id": good["_id"]}))["pending"] is False
    assert counted.reasons == ["UnicodeEncodeError"]


async def test_a_commit_keeps_its_order_around_an_unstorable_record(async_db):
    log, counted = await new_log(async_db)
    firing = log.firing_document("k1", "SomeSync", ["cause-1"], [{"x": 1}])
    records = [doc(log, {"n": 1}), doc(log, {"n": 2**70}), doc(log, {"n": 3})]
    assert await log.commit([firing], records, ["cause-1"])
    await log.flush()
    stored = await log.flow_records("flow-1")
    assert [r.id for r in stored] == [r["_id"] for r in records]
    assert [r.inputs for r in stored] == [{"n": 1}, {}, {"n": 3}]
    assert await log.load_firing("k1") is not None
    assert counted.reasons == ["OverflowError"]


async def test_a_firing_that_cannot_be_stored_is_kept_without_its_frames(async_db):
    log, counted = await new_log(async_db)
    firing = log.firing_document("k2", "BigSync", ["r1"], [{"blob": BIG}])
    await log.write_firing(firing)
    after = log.firing_document("k3", "SmallSync", ["r2"], [{"x": 1}])
    await log.write_firing(after)
    kept = await log.load_firing("k2")
    assert kept["records"] == ["r1"] and kept["firing"] == "BigSync"
    assert kept["quarantined"] == "unstorable: DocumentTooLarge"
    assert log.firing_frames(kept) is None  # a replay derives them again
    assert log.firing_frames(await log.load_firing("k3")) == [{"x": 1}]
    assert counted.reasons == ["DocumentTooLarge"]


async def test_an_intent_that_cannot_be_stored_is_refused_and_nothing_is_written(async_db):
    log, counted = await new_log(async_db)
    intent = log.intent_document(
        new_id(), "flow-2", "Probe", "take", {"user": "\ud800"}, [],
        dt.datetime.now(dt.UTC), NONE, NONE, [{"c": "Probe_things", "id": "t1"}],
    )  # fmt: skip
    with pytest.raises(UnstorableRecord):
        await log.write_now(intent)
    assert await async_db[ACTIONS].count_documents({}) == 0
    assert counted.reasons == []  # the failed action's own record is what gets reported


@pytest.mark.skipif(bool(os.environ.get("MONGODB_URI")), reason="the embedded server refuses it")
async def test_a_record_the_server_refuses_is_reported_once_even_across_an_outage(async_db):
    faulty = FaultyDatabase(async_db, [Rule("fail", nth=3, matches=on(ACTIONS))])
    log, counted = await new_log(faulty)
    first, refused, last = doc(log, {"n": 1}), doc(log, {"p": re.compile("a")}), doc(log, {})
    for document in (first, refused, last):
        log.write_later(document)
    # insert_many lands `first`; the server refuses `refused`; its stand-in's write
    # meets a dropped connection: the flush fails, to be retried
    with pytest.raises(Exception, match="injected"):
        await log.flush()
    await log.flush()
    assert_stand_in(
        await async_db[ACTIONS].find_one({"_id": refused["_id"]}), refused, "WriteError"
    )
    assert await async_db[ACTIONS].count_documents({}) == 3
    assert counted.reasons == ["WriteError"]


async def test_a_database_that_is_away_is_still_retried_not_quarantined(async_db):
    faulty = FaultyDatabase(async_db, [Rule("fail", matches=on(ACTIONS))])
    log, counted = await new_log(faulty)
    good = doc(log, {"n": 1})
    log.write_later(good)
    with pytest.raises(Exception, match="injected"):
        await log.flush()
    await log.flush()
    stored = await async_db[ACTIONS].find_one({"_id": good["_id"]})
    assert stored["inputs"] == {"n": 1} and "quarantined" not in stored
    assert counted.reasons == []


# -- through the engine -------------------------------------------------------------


@pytest.fixture
async def app(async_db):
    pm = plugin_manager(load_entry_points=False, extra=[SamplePlugin()])
    return ConceptApp(pm, async_db, services={"log_sealer": TestSealer()})


async def test_a_login_with_a_lone_surrogate_does_not_poison_the_log(app, async_db, caplog):
    caplog.set_level(logging.WARNING, "conceptkit")
    async with app.running():  # the background flusher runs, as in the service
        engine = app.engine
        counted = Counted(engine.log)
        bad = {"user": "\ud800", "password": "wrong"}
        out = await engine.invoke("Sessions", "login", bad, validated=True)
        assert out["errorKind"] == "unauthorized"
        await engine.invoke("Sessions", "login", {"user": "ann", "password": "pw"})
        await engine.invoke("Ledger", "open", {"owner": "ann"})
        await engine.log.flush()
    # shutdown flushed everything, once, without an error
    logins = await async_db[ACTIONS].find({"concept": "Sessions"}).sort("seq", 1).to_list(None)
    assert [d.get("quarantined") for d in logins] == ["unstorable: UnicodeEncodeError", None]
    assert logins[1]["inputs"]["user"] == "ann"
    assert await async_db[ACTIONS].count_documents({"concept": "Ledger"}) == 1
    assert await async_db[ACTIONS].count_documents({"concept": "Audit"}) == 1
    assert counted.reasons == ["UnicodeEncodeError"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [w for w in warnings if "flush failed" in w]
    assert len([w for w in warnings if "cannot be stored" in w]) == 1


async def test_a_root_whose_intent_cannot_be_stored_takes_no_effect_and_owes_nothing(app, async_db):
    await app.engine.start(background=False)
    counted = Counted(app.engine.log)
    with pytest.raises(InvocationError):
        await app.engine.invoke("Ledger", "open", {"owner": "\ud800"}, validated=True)
    await app.engine.invoke("Ledger", "open", {"owner": "bo"})
    await app.engine.log.flush()
    assert await async_db["Ledger_accounts"].count_documents({}) == 1  # bo's only
    assert await async_db[ACTIONS].count_documents({"pending": True}) == 0
    assert await app.engine.recover() == 0
    (attempt,) = await async_db[ACTIONS].find({"quarantined": {"$exists": True}}).to_list(None)
    assert (attempt["concept"], attempt["action"]) == ("Ledger", "open")
    assert counted.reasons == ["UnicodeEncodeError"]
    await app.engine.close()


# -- any value ----------------------------------------------------------------------

keys = st.text(alphabet=st.characters(codec=None), max_size=6)
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(alphabet=st.characters(codec=None), max_size=12)
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=10,
)


def test_no_value_in_a_record_stops_later_records_from_being_stored(mongo_uri):
    loop = asyncio.new_event_loop()
    client = async_client(mongo_uri)
    db = client[f"quarantine_{uuid.uuid4().hex[:12]}"]
    log, counted = loop.run_until_complete(new_log(db))
    try:

        @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(inputs=st.dictionaries(keys, values, max_size=4), commit=st.booleans())
        @example(inputs={"a": {"b": "\udc00"}}, commit=False)
        @example(inputs={"a": [2**64]}, commit=True)
        def check(inputs: dict[str, Any], commit: bool) -> None:
            async def run() -> None:
                reported = len(counted.reasons)
                hostile, good = doc(log, inputs), doc(log, {"n": 1})
                if commit:
                    assert await log.commit([], [hostile, good], [])
                else:
                    log.write_later(hostile)
                    log.write_later(good)
                await log.flush()
                kept = await db[ACTIONS].find_one({"_id": hostile["_id"]})
                assert kept is not None
                assert len(counted.reasons) - reported == ("quarantined" in kept)
                assert (await db[ACTIONS].find_one({"_id": good["_id"]}))["inputs"] == {"n": 1}

            loop.run_until_complete(run())

        check()
        loop.run_until_complete(log.close())
        assert "UnicodeEncodeError" in counted.reasons and "OverflowError" in counted.reasons
    finally:
        loop.run_until_complete(client.drop_database(db.name))
        loop.run_until_complete(client.close())
        loop.close()
