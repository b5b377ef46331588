"""What the action log keeps: everything, except secrets; private values only sealed."""

from __future__ import annotations

from conceptkit import ACTIONS, SECRET, Sync
from tests.conceptkit.sample import Secrets


async def test_secrets_are_never_stored_and_private_values_are_sealed(sample_app):
    out = await sample_app.engine.invoke(
        "Secrets", "store", {"user": "ann", "password": "hunter2", "diary": "dear diary"}
    )
    assert out == {"echo": "dear diary"}
    await sample_app.engine.log.flush()
    doc = await sample_app.engine.db[ACTIONS].find_one({"concept": "Secrets"})
    assert doc["inputs"]["password"] == SECRET
    assert doc["inputs"]["diary"] == {
        "$sealed": "sealed:Secrets.store.in.diary:" + '"dear diary"'[::-1]
    }
    raw = str(doc)
    assert "hunter2" not in raw and "dear diary" not in raw


async def test_without_a_sealer_private_values_are_dropped(async_db):
    from conceptkit import ConceptApp, plugin_manager
    from tests.conceptkit.sample import SamplePlugin

    pm = plugin_manager(load_entry_points=False, extra=[SamplePlugin()])
    app = ConceptApp(pm, async_db, services={})
    async with app.running():
        await app.engine.invoke(
            "Secrets", "store", {"user": "ann", "password": "pw", "diary": "private"}
        )
    doc = await async_db[ACTIONS].find_one({"concept": "Secrets"})
    assert doc["inputs"]["diary"] == "[private]"


async def test_log_records_expire_after_the_retention_period(sample_app):
    info = await sample_app.engine.db[ACTIONS].index_information()
    ttl = [v for v in info.values() if "expireAfterSeconds" in v]
    assert ttl and ttl[0]["expireAfterSeconds"] == 30 * 86400


def test_sync_rendering_reads_top_to_bottom():
    from tests.conceptkit.sample import AuditRich

    text = AuditRich.describe()
    lines = text.splitlines()
    assert lines[0] == "AuditRich"
    assert lines[1].startswith("  when  Ledger.deposit")
    assert "where Ledger._accounts" in lines[2]
    assert "only if balance > 100" in lines[3]
    assert lines[4].startswith("  then  Audit.note")
    assert isinstance(AuditRich, Sync)
    assert Secrets.name == "Secrets"
