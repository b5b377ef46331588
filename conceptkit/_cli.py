"""The ``conceptkit`` command: ``syncs`` lists every sync; ``trace`` prints a flow's causal tree."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import attrs

from ._plugins import plugin_manager
from ._registry import load_registry


def render_syncs(markdown: bool = False, block: Sequence[str] = ()) -> str:
    """Every sync in registration order (each plugin's own reading order), grouped by plugin,
    then each plugin's invariants (what the reconciler checks, and how it repairs)."""
    registry = load_registry(plugin_manager(block=block))
    groups: dict[str, list[str]] = {}
    for sync in registry.syncs:
        groups.setdefault(sync.source, []).append(attrs.evolve(sync, source="").describe())
    for invariant in registry.invariants:
        groups.setdefault(f"{invariant.source}: invariants", []).append(
            attrs.evolve(invariant, source="").describe()
        )
    if not groups:
        return "(no syncs registered)\n"
    parts = []
    for source, blocks in groups.items():
        body = "\n\n".join(blocks)
        parts.append(
            f"## {source}\n\n```\n{body}\n```\n" if markdown else f"# {source}\n\n{body}\n"
        )
    return "\n".join(parts)


def _short(values: dict[str, Any]) -> str:
    text = json.dumps(values, default=str, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def render_trace(records: list[dict[str, Any]], focus: str | None = None) -> str:
    """A tree: each action under the newest of the records whose sync caused it."""
    by_id = {r["_id"]: r for r in records}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for r in records:
        causes = [c for c in r.get("cause") or [] if c in by_id]
        parent = max(causes, key=lambda c: by_id[c].get("seq", 0)) if causes else None
        children.setdefault(parent, []).append(r)
    lines: list[str] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        marker = " <==" if node["_id"] == focus else ""
        via = f"   [sync {node['sync']}]" if node.get("sync") else ""
        when = node.get("finished")
        stamp = when.strftime("%H:%M:%S.%f")[:-3] if when else "?"
        lines.append(
            f"{'  ' * depth}{stamp} {node['concept']}.{node['action']} {_short(node.get('inputs', {}))}"
            f" -> {_short(node.get('outputs', {}))}{via}{marker}"
        )
        for child in sorted(children.get(node["_id"], []), key=lambda c: c.get("seq", 0)):
            walk(child, depth + 1)

    for root in sorted(children.get(None, []), key=lambda c: c.get("seq", 0)):
        walk(root, 0)
    return "\n".join(lines) + "\n"


def trace(identifier: str, uri: str, db_name: str) -> str:
    import pymongo

    from ._log.actionlog import ACTIONS

    client = pymongo.MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=3000)
    try:
        actions = client[db_name][ACTIONS]
        record = actions.find_one({"_id": identifier})
        flow = record["flow"] if record else identifier
        records = list(actions.find({"flow": flow}).sort("seq", 1))
        if not records:
            return f"no action or flow with id {identifier}\n"
        return f"flow {flow}\n" + render_trace(records, identifier if record else None)
    finally:
        client.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conceptkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_syncs = sub.add_parser("syncs", help="list every synchronization")
    p_syncs.add_argument("--markdown", action="store_true", help="wrap in a Markdown code block")
    p_syncs.add_argument(
        "--block",
        action="append",
        default=[],
        metavar="PLUGIN",
        help="leave out an installed plugin",
    )
    p_trace = sub.add_parser("trace", help="print the causal tree of a flow or action")
    p_trace.add_argument("id", help="a flow id or an action id")
    p_trace.add_argument(
        "--uri", default=os.environ.get("MONGODB_URI"), help="MongoDB URI (default $MONGODB_URI)"
    )
    p_trace.add_argument(
        "--db",
        default=os.environ.get("DB_NAME", "reflection"),
        help="database name (default $DB_NAME)",
    )
    args = parser.parse_args(argv)
    if args.command == "syncs":
        sys.stdout.write(render_syncs(args.markdown, args.block))
        return 0
    if not args.uri:
        parser.error("trace needs --uri or $MONGODB_URI")
    sys.stdout.write(trace(args.id, args.uri, args.db))
    return 0
