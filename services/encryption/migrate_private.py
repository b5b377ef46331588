"""Migrate data stored before "private at rest": encrypt the plaintext that is now kept
only encrypted, add the lookup keys, and seal what the action log now keeps private.

What it converts (see docs/encryption.md, "Migrating existing data"):

- concept documents: names, pronunciations, prompt texts and phone numbers become tokens
  (the same labels the concepts use), numbers that are looked up get their lookup key;
  the per-number send throttles kept under an unkeyed SHA-256 are deleted;
- the marks (``_effects``) on those documents: outputs that are now private are sealed
  (a mark whose action is no longer in the log, holding such an output, is dropped);
- the action log: inputs and outputs that are now private are sealed, as the log seals
  them today.

Each document is converted by one compare-and-set write on the values it read, and a
value already converted is left as it is, so the migration is idempotent, safe to run in
several processes at once, and resumable: after a crash midway, the next run converts
what is left. When a run completes it records that in ``migrations``; later runs then
return at once. It runs at start-up (``services/app/assembly.py``, before the engine starts)
and as a command:

    python -m services.encryption.migrate_private [--force]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from conceptkit import ACTIONS, FIRING_PREFIX, MARKS, PRIVATE, SECRET
from concepts import call_scheduler, dialer, phone_call, phone_verification, profile, prompts
from services.encryption.keys import PHONE, Encryptor

__all__ = ["MARKER_ID", "MigrationReport", "main", "migrate_private"]

log = logging.getLogger("services.encryption.migrate_private")

MIGRATIONS = "migrations"
MARKER_ID = "private-at-rest-v1"

_OLD_THROTTLE = re.compile(r"number:[0-9a-f]{64}")  # an unkeyed SHA-256 of the number
Convert = Callable[[Encryptor, dict[str, Any]], dict[str, Any]]


@attrs.define
class MigrationReport:
    documents: int = 0  # concept documents converted
    log_records: int = 0  # action log records whose private values were sealed
    marks_dropped: int = 0
    throttles_dropped: int = 0
    skipped: bool = False  # an earlier run completed

    def __str__(self) -> str:
        if self.skipped:
            return "private-at-rest migration: done before"
        return (
            f"private-at-rest migration: documents={self.documents} "
            f"log_records={self.log_records} marks_dropped={self.marks_dropped} "
            f"throttles_dropped={self.throttles_dropped}"
        )


def _plain(value: Any) -> bool:
    return isinstance(value, str) and not Encryptor.is_token(value)


def _fields(enc: Encryptor, doc: dict[str, Any], labels: Mapping[str, str], user: str) -> dict:
    return {
        name: enc.encrypt(doc[name], user=user, field=label)
        for name, label in labels.items()
        if _plain(doc.get(name))
    }


def _profile(enc: Encryptor, doc: dict[str, Any]) -> dict[str, Any]:
    return _fields(enc, doc, profile.FIELD_LABELS, doc["user"])


def _prompts(enc: Encryptor, doc: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(doc.get("prompts"), list):
        return {}
    text = json.dumps(doc["prompts"], ensure_ascii=False)
    return {"prompts": enc.encrypt(text, user=doc["_id"], field=prompts.FIELD_PROMPTS)}


def _pending(enc: Encryptor, doc: dict[str, Any]) -> dict[str, Any]:
    labels = {"phoneNumber": phone_verification.FIELD_NUMBER}
    return _fields(enc, doc, labels, doc["user"])


def _verified(enc: Encryptor, doc: dict[str, Any]) -> dict[str, Any]:
    numbers = doc.get("numbers") or []
    if not any(isinstance(n, str) for n in numbers):
        return {}
    label, user = phone_verification.FIELD_NUMBER, doc["user"]
    entries = [
        {
            "number": enc.encrypt(n, user=user, field=label),
            "key": enc.lookup_key(n, purpose=PHONE),
        }
        if isinstance(n, str)
        else n
        for n in numbers
    ]
    return {"numbers": entries}


def _scheduled(enc: Encryptor, doc: dict[str, Any]) -> dict[str, Any]:
    return _fields(enc, doc, {"phoneNumber": call_scheduler.FIELD_NUMBER}, doc["user"])


def _attempt(enc: Encryptor, doc: dict[str, Any]) -> dict[str, Any]:
    if not _plain(doc.get("to")):
        return {}
    to = doc["to"]
    return {
        "to": enc.encrypt(to, user=doc["user"], field=dialer.FIELD_TO),
        "toKey": enc.lookup_key(to, purpose=PHONE),
    }


def _call(enc: Encryptor, doc: dict[str, Any]) -> dict[str, Any]:
    return _fields(enc, doc, {"toNumber": phone_call.FIELD_TO}, doc["user"])


def _session(enc: Encryptor, doc: dict[str, Any]) -> dict[str, Any]:
    asked = doc.get("prompts") or []
    if not any(_plain(p.get("text")) for p in asked):
        return {}
    user, session = doc["user"], doc["_id"]
    return {
        "prompts": [
            {
                **p,
                "text": enc.encrypt(
                    p["text"],
                    user=user,
                    field=f"ReflectionSession.prompt.{p['position']}.{session}",
                ),
            }
            if _plain(p.get("text"))
            else p
            for p in asked
        ]
    }


# collection -> how one of its documents is converted ({} when it needs nothing)
CONVERSIONS: dict[str, Convert] = {
    "Profile_profiles": _profile,
    "Prompts_prompts": _prompts,
    "PhoneVerification_pending": _pending,
    "PhoneVerification_verified": _verified,
    "CallScheduler_calls": _scheduled,
    "Dialer_attempts": _attempt,
    "PhoneCall_calls": _call,
    "ReflectionSession_sessions": _session,
}


def _sealed(value: Any) -> bool:
    return (
        value is None
        or value in (SECRET, PRIVATE)
        or (isinstance(value, dict) and "$sealed" in value)
    )


class _Migration:
    def __init__(self, engine: Any, encryptor: Encryptor, on_document: Callable[[], None]) -> None:
        self.db = engine.db
        self.log = engine.log  # seal_value: sealed exactly as the log seals
        self.operations = engine.operations
        self.enc = encryptor
        self.on_document = on_document
        self.report = MigrationReport()

    def _seal_private(self, concept: str, action: str, values: Any, way: str) -> Any:
        """``values`` (inputs or outputs) with the action's private ones sealed."""
        spec = self.operations.get((concept, action))
        if spec is None or not isinstance(values, dict):
            return values
        ctx = f"{concept}.{action}.{way}"
        return {
            k: v if k not in spec.private or _sealed(v) else self.log.seal_value(v, f"{ctx}.{k}")
            for k, v in values.items()
        }

    async def _write(self, coll: Any, doc: dict[str, Any], changes: dict[str, Any]) -> bool:
        """Set ``changes`` only if every changed field still holds what was read."""
        guard = [{"$eq": [f"${k}", {"$literal": doc[k]}]} for k in changes if k in doc]
        find = {"_id": doc["_id"], **({"$expr": {"$and": guard}} if guard else {})}
        res = await coll.update_one(find, {"$set": changes})
        self.on_document()
        return res.matched_count == 1

    async def _marks(self, concept: str, marks: list[Any]) -> list[Any]:
        """The marks with the outputs now private sealed; unplaceable ones holding such an
        output dropped (their action is gone from the log, so nothing replays it)."""
        private = {n for (c, _), s in self.operations.items() if c == concept for n in s.private}
        out = []
        for mark in marks:
            outputs = mark.get("o") if isinstance(mark, dict) else None
            if not isinstance(outputs, dict):
                out.append(mark)
                continue
            found = await self.db[ACTIONS].find_one(
                {"_id": mark.get("a")}, {"concept": 1, "action": 1}
            )
            placed = found is not None and (found["concept"], found["action"]) in self.operations
            if placed:
                sealed = self._seal_private(found["concept"], found["action"], outputs, "out")
                out.append({**mark, "o": sealed})
            elif any(k in private and not _sealed(v) for k, v in outputs.items()):
                self.report.marks_dropped += 1
            else:
                out.append(mark)
        return out

    async def concept_documents(self) -> None:
        for name, convert in CONVERSIONS.items():
            coll, concept = self.db[name], name.split("_", 1)[0]
            async for doc in coll.find({}):
                for _ in range(5):  # a lost race: read again and convert what is left
                    changes = convert(self.enc, doc)
                    if not changes:
                        break
                    if doc.get(MARKS):
                        changes[MARKS] = await self._marks(concept, doc[MARKS])
                    if await self._write(coll, doc, changes):
                        self.report.documents += 1
                        break
                    doc = await coll.find_one({"_id": doc["_id"]})
                    if doc is None:
                        break
        throttle = self.db["PhoneVerification_throttle"]
        async for doc in throttle.find({}, {"_id": 1}):
            if isinstance(doc["_id"], str) and _OLD_THROTTLE.fullmatch(doc["_id"]):
                res = await throttle.delete_one({"_id": doc["_id"]})
                self.report.throttles_dropped += res.deleted_count

    async def action_log(self) -> None:
        actions = sorted({a for (_, a), s in self.operations.items() if s.private})
        coll = self.db[ACTIONS]
        async for doc in coll.find({"action": {"$in": actions}}):
            if str(doc["_id"]).startswith(FIRING_PREFIX) or "concept" not in doc:
                continue
            concept, action = doc["concept"], doc["action"]
            changes = {
                part: sealed
                for part, way in (("inputs", "in"), ("outputs", "out"))
                if (sealed := self._seal_private(concept, action, doc.get(part), way))
                != doc.get(part)
            }
            if changes and await self._write(coll, doc, changes):
                self.report.log_records += 1
        async for doc in coll.find({"firing": {"$exists": True}}):
            if isinstance(doc.get("frames"), list):  # written without a sealer
                sealed = self.log.seal_value(doc["frames"], f"firing.{doc.get('firing')}")
                if await self._write(coll, doc, {"frames": sealed}):
                    self.report.log_records += 1


async def migrate_private(
    engine: Any,
    encryptor: Encryptor,
    *,
    force: bool = False,
    on_document: Callable[[], None] = lambda: None,
) -> MigrationReport:
    """Convert what is left to convert (everything, with ``force``, even after a completed
    run); ``on_document`` is told of each write (tests stop a run midway with it)."""
    marker = engine.db[MIGRATIONS]
    if not force and await marker.find_one({"_id": MARKER_ID}, {"_id": 1}):
        return MigrationReport(skipped=True)
    if engine.log.sealer is None:
        raise RuntimeError("the private-at-rest migration needs the log sealer")
    run = _Migration(engine, encryptor, on_document)
    await run.concept_documents()
    await run.action_log()
    done = {"done": dt.datetime.now(dt.UTC), "report": attrs.asdict(run.report)}
    await marker.update_one({"_id": MARKER_ID}, {"$set": done}, upsert=True)
    if run.report.documents or run.report.log_records:
        log.warning("%s", run.report)
    return run.report


async def _main(force: bool, environ: Mapping[str, str] | None) -> int:
    from services.app.assembly import concept_app
    from services.app.config import ensure_local_key, load_config
    from services.storage.database import make_async_client

    config = ensure_local_key(load_config(environ))
    client = make_async_client(config.mongodb_uri or "mongodb://127.0.0.1:27017")
    try:
        app = concept_app(config, client[config.db_name])
        report = await migrate_private(app.engine, app.services["encryption"], force=force)
    finally:
        await client.close()
    print(report)
    return 0


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """CLI: migrate the configured database (``MONGODB_URI``, ``DB_NAME``, the keys, as
    for the service); ``--force`` runs it again even if a run completed."""
    parser = argparse.ArgumentParser(prog="python -m services.encryption.migrate_private")
    parser.add_argument("--force", action="store_true", help="run even if a run completed")
    return asyncio.run(_main(parser.parse_args(argv).force, environ))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(main())
