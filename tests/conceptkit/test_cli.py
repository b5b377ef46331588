"""The conceptkit command: `syncs` lists syncs; `trace` prints why an action happened."""

from __future__ import annotations

import subprocess
import sys

from conceptkit._cli import main, render_trace, trace
from tests.conceptkit.database import sync_client


def test_syncs_lists_every_registered_sync(capsys):
    assert main(["syncs"]) == 0
    out = capsys.readouterr().out
    assert "# notes (package conceptkit-notes" in out and "\nCountNotes\n" in out
    assert "  when  Notes.post" in out and "  then  NoteCounter.count" in out


def test_the_console_script_is_installed():
    out = subprocess.run(
        [sys.executable, "-m", "conceptkit.cli", "syncs", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("## ") and "```" in out and "CountNotes" in out


async def test_trace_prints_the_causal_tree_of_a_flow(sample_app, mongo_uri):
    eng = sample_app.engine
    out = await eng.invoke("Ledger", "open", {"owner": "ann"}, flow="flow-trace")
    await eng.log.flush()
    text = trace("flow-trace", mongo_uri, eng.db.name)
    lines = text.splitlines()
    assert lines[0] == "flow flow-trace"
    assert "Ledger.open" in lines[1] and out["account"] in lines[1]
    assert lines[2].startswith("  ") and "Audit.note" in lines[2] and "[sync AuditOpen]" in lines[2]
    # by the id of the child action: the same tree, with the child marked
    child = sync_client(mongo_uri)[eng.db.name]["conceptkit_actions"].find_one({"concept": "Audit"})
    assert trace(child["_id"], mongo_uri, eng.db.name).splitlines()[2].endswith("<==")
    assert "no action or flow" in trace("missing", mongo_uri, eng.db.name)


def test_render_trace_nests_by_newest_cause():
    recs = [
        {"_id": "a", "seq": 1, "concept": "X", "action": "one", "cause": []},
        {"_id": "b", "seq": 2, "concept": "X", "action": "two", "cause": []},
        {"_id": "c", "seq": 3, "concept": "Y", "action": "both", "cause": ["a", "b"], "sync": "S"},
    ]
    lines = render_trace(recs).splitlines()
    assert [line.strip().split(" ")[1] for line in lines] == ["X.one", "X.two", "Y.both"]
    assert lines[2].startswith("  ")
