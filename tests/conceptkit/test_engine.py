"""Sync semantics: when-patterns within one flow, where-expansion, once per matched set."""

from __future__ import annotations

import pytest

from conceptkit import ACTIONS, ConceptApp, EngineError, Sync, concepts, plugin_manager, vars
from tests.conceptkit.sample import SamplePlugin

L, A = concepts("Ledger Audit")


async def events(app: ConceptApp, owner: str) -> list[str]:
    return [e["event"] for e in await app.engine.query("Audit", "_events", {"owner": owner})]


async def test_a_sync_fires_on_a_successful_action_and_binds_its_outputs(sample_app):
    out = await sample_app.engine.invoke("Ledger", "open", {"owner": "ann"})
    rows = await sample_app.engine.query("Audit", "_events", {"owner": "ann"})
    assert rows == [{"event": "opened", "detail": out["account"]}]


async def test_an_error_pattern_matches_only_failures(sample_app):
    eng = sample_app.engine
    acct = (await eng.invoke("Ledger", "open", {"owner": "ann"}))["account"]
    await eng.invoke("Ledger", "deposit", {"owner": "ann", "account": acct, "amount": 50})
    ok = await eng.invoke("Ledger", "withdraw", {"owner": "ann", "account": acct, "amount": 10})
    assert "error" not in ok
    assert "overdraft" not in await events(sample_app, "ann")
    bad = await eng.invoke("Ledger", "withdraw", {"owner": "ann", "account": acct, "amount": 999})
    assert bad["errorKind"] == "conflict"
    assert (await events(sample_app, "ann")).count("overdraft") == 1


async def test_a_failed_action_changes_nothing(sample_app):
    eng = sample_app.engine
    acct = (await eng.invoke("Ledger", "open", {"owner": "ann"}))["account"]
    await eng.invoke("Ledger", "withdraw", {"owner": "ann", "account": acct, "amount": 5})
    rows = await eng.query("Ledger", "_accounts", {"owner": "ann"})
    assert rows[0]["balance"] == 0


async def test_a_two_pattern_sync_needs_both_actions_in_the_same_flow(sample_app):
    eng = sample_app.engine
    acct = (await eng.invoke("Ledger", "open", {"owner": "ann"}))["account"]
    await eng.invoke(
        "Ledger", "deposit", {"owner": "ann", "account": acct, "amount": 20}, flow="f1"
    )
    await eng.invoke(
        "Ledger", "withdraw", {"owner": "ann", "account": acct, "amount": 5}, flow="f2"
    )
    assert "roundtrip" not in await events(sample_app, "ann")
    await eng.invoke(
        "Ledger", "withdraw", {"owner": "ann", "account": acct, "amount": 5}, flow="f1"
    )
    assert (await events(sample_app, "ann")).count("roundtrip") == 1


async def test_variables_must_agree_across_patterns(sample_app):
    eng = sample_app.engine
    a1 = (await eng.invoke("Ledger", "open", {"owner": "ann"}))["account"]
    a2 = (await eng.invoke("Ledger", "open", {"owner": "ann"}))["account"]
    await eng.invoke("Ledger", "deposit", {"owner": "ann", "account": a1, "amount": 20}, flow="f")
    await eng.invoke("Ledger", "deposit", {"owner": "ann", "account": a2, "amount": 20}, flow="f")
    await eng.invoke("Ledger", "withdraw", {"owner": "ann", "account": a2, "amount": 5}, flow="f")
    rows = await eng.query("Audit", "_events", {"owner": "ann"})
    assert [r["detail"] for r in rows if r["event"] == "roundtrip"] == [a2]


async def test_where_expands_one_frame_per_row_and_filters(sample_app):
    eng = sample_app.engine
    a1 = (await eng.invoke("Ledger", "open", {"owner": "ann"}))["account"]
    a2 = (await eng.invoke("Ledger", "open", {"owner": "ann"}))["account"]
    await eng.invoke("Ledger", "deposit", {"owner": "ann", "account": a1, "amount": 500})
    await eng.invoke("Ledger", "deposit", {"owner": "ann", "account": a2, "amount": 300})
    rows = await eng.query("Audit", "_events", {"owner": "ann"})
    rich = [r["detail"] for r in rows if r["event"] == "rich"]
    # first deposit: only a1 is rich; second: both are.
    assert rich == [a1, a1, a2]


async def test_a_where_that_queries_state_saves_its_frames_and_a_pure_filter_does_not(sample_app):
    eng = sample_app.engine
    acct = (await eng.invoke("Ledger", "open", {"owner": "ann"}))["account"]
    await eng.invoke("Ledger", "deposit", {"owner": "ann", "account": acct, "amount": 6000})
    await eng.invoke("Ledger", "deposit", {"owner": "ann", "account": acct, "amount": 10})
    firings = await eng.db[ACTIONS].find({"firing": {"$exists": True}}).to_list(None)
    # AuditRich queries the accounts: both firings are saved, with their frames sealed
    assert sorted(f["firing"] for f in firings) == ["AuditRich", "AuditRich"]
    assert all("$sealed" in f["frames"] for f in firings)
    # AuditLargeDeposit only filters: nothing saved, yet it fired for the large deposit only
    assert [e for e in await events(sample_app, "ann") if e == "large"] == ["large"]


async def test_sync_caused_actions_join_the_flow_and_name_their_cause(sample_app):
    eng = sample_app.engine
    await eng.invoke("Ledger", "open", {"owner": "ann"}, flow="flow-1")
    await eng.log.flush()
    docs = await eng.db[ACTIONS].find({"flow": "flow-1"}).sort("seq", 1).to_list(None)
    assert [(d["concept"], d["action"], d["sync"]) for d in docs] == [
        ("Ledger", "open", None),
        ("Audit", "note", "AuditOpen"),
    ]
    assert docs[1]["cause"] == [docs[0]["_id"]]
    assert all(d["pending"] is False for d in docs)


async def test_invalid_inputs_from_a_sync_become_an_error_record(sample_app):
    out = await sample_app.engine.invoke(
        "Ledger", "deposit", {"owner": "ann", "account": "x", "amount": "lots"}
    )
    assert out["errorKind"] == "invalid" and "amount" in out["error"]


def test_a_sync_naming_an_unknown_action_fails_at_startup_naming_both_sources(async_db):
    class Bad:
        from conceptkit import hookimpl

        @hookimpl
        def conceptkit_syncs(self):
            (x,) = vars("x")
            return [Sync("Broken", when=[L.open({"owner": x}, {})], then=[L.close({"owner": x})])]

    pm = plugin_manager(load_entry_points=False, extra=[SamplePlugin()])
    pm.register(Bad(), name="bad-plugin")
    with pytest.raises(EngineError) as err:
        ConceptApp(pm, async_db, services={})
    message = str(err.value)
    assert "Broken" in message and "bad-plugin" in message and "Ledger.close" in message
    assert "concept Ledger (from SamplePlugin)" in message


def test_a_then_input_the_action_does_not_take_fails_at_startup(async_db):
    class Bad:
        from conceptkit import hookimpl

        @hookimpl
        def conceptkit_syncs(self):
            (x,) = vars("x")
            return [
                Sync(
                    "Typo",
                    when=[L.open({"owner": x}, {})],
                    then=[A.note({"ownr": x, "event": "e"})],
                )
            ]

    pm = plugin_manager(load_entry_points=False, extra=[SamplePlugin(), Bad()])
    with pytest.raises(EngineError, match="ownr"):
        ConceptApp(pm, async_db, services={})
