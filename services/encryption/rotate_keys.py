"""Re-encrypt every token in a database under the primary key, and make lookup keys again.

Schema-blind on purpose: tokens carry their own user and field, so this walks
every document of every collection (through nested dicts and lists) instead of
knowing which fields are sensitive. A lookup key (a keyed hash of a value, for
finding it by equality) is stored in the same dict as the token of its value: it is
made again under the primary key from the token beside it whose plaintext it
matches. Writes are conditional on the read value so a concurrent writer is never
clobbered; a lost race is re-read and retried.

    ENCRYPTION_KEYS=new:...,old:... python -m services.encryption.rotate_keys --uri mongodb://... --db NAME
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

import attrs
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database

from services.encryption.keys import EncryptionError, Encryptor, encryptor_from_env

__all__ = ["RotationReport", "main", "rotate_database"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # per document, when a concurrent writer keeps winning the race


@attrs.frozen
class RotationReport:
    scanned_docs: int = 0
    reencrypted: int = 0
    failed: int = 0
    rehashed: int = 0  # lookup keys made again under the primary key

    def __str__(self) -> str:
        return (
            f"key rotation: scanned_docs={self.scanned_docs} "
            f"reencrypted={self.reencrypted} rehashed={self.rehashed} failed={self.failed}"
        )


@attrs.define
class _Tally:
    reencrypted: int = 0
    failed: int = 0
    rehashed: int = 0

    def add(self, other: _Tally) -> None:
        self.reencrypted += other.reencrypted
        self.failed += other.failed
        self.rehashed += other.rehashed


def _rekey(value: dict[str, Any], enc: Encryptor, where: str, tally: _Tally) -> dict[str, Any]:
    """``value`` with its stale lookup keys made again under the primary key, each from the
    token beside it (in the same dict) whose plaintext it is the key of."""
    stale = [k for k, v in value.items() if enc.is_lookup_key(v) and enc.needs_rotation(v)]
    if not stale:
        return value
    plaintexts = []
    for v in value.values():
        if isinstance(v, str) and enc.is_token(v):
            header = enc.header(v)
            with contextlib.suppress(EncryptionError):  # counted where the token is rotated
                plaintexts.append(enc.decrypt(v, user=header.user, field=header.field))
    out = dict(value)
    for key in stale:
        found = next((p for p in plaintexts if enc.matches_lookup(p, value[key])), None)
        if found is None:  # left as is; the old key must not be retired yet
            log.warning("cannot make the lookup key %s.%s again: no token beside it", where, key)
            tally.failed += 1
            continue
        out[key] = enc.lookup_key(found, purpose=enc.lookup_header(value[key]).purpose)
        tally.rehashed += 1
    return out


def _rotate_value(value: Any, enc: Encryptor, where: str, tally: _Tally) -> Any:
    """Return value with stale tokens re-encrypted (same object if nothing changed)."""
    if isinstance(value, str):
        if not enc.is_token(value) or not enc.needs_rotation(value):
            return value
        try:
            new = enc.reencrypt(value)
        except EncryptionError as exc:  # left as is; the old key must not be retired yet
            log.warning("cannot re-encrypt %s: %s: %s", where, type(exc).__name__, exc)
            tally.failed += 1
            return value
        tally.reencrypted += 1
        return new
    if isinstance(value, dict):
        out = {k: _rotate_value(v, enc, f"{where}.{k}", tally) for k, v in value.items()}
        out = _rekey(out, enc, where, tally)
        return value if all(out[k] is value[k] for k in value) else out
    if isinstance(value, list):
        items = [_rotate_value(v, enc, f"{where}.{i}", tally) for i, v in enumerate(value)]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


def _rotate_document(coll: Collection, doc: dict[str, Any], enc: Encryptor) -> _Tally:
    """Rotate one document, retrying on a lost race; returns what was written/failed."""
    doc_id = doc["_id"]
    for _ in range(MAX_ATTEMPTS):
        tally = _Tally()
        changes: dict[str, tuple[Any, Any]] = {}
        where = f"{coll.name}[{doc_id!r}]"
        top = {k: v for k, v in doc.items() if k != "_id"}
        top_tally = _Tally()  # the lookup keys of the document's own fields
        rekeyed = _rekey(top, enc, where, top_tally)
        for key, old in top.items():
            field_tally = _Tally()
            new = _rotate_value(old, enc, f"{where}.{key}", field_tally)
            if rekeyed[key] is not old:
                new = rekeyed[key]
                field_tally.rehashed += 1
            tally.failed += field_tally.failed
            if new is old:
                continue
            if "." in key or key.startswith("$"):  # not addressable by $set/$expr paths
                log.warning("cannot write %s.%s: unaddressable key", where, key)
                tally.failed += field_tally.reencrypted + field_tally.rehashed
                continue
            changes[key] = (old, new)
            tally.reencrypted += field_tally.reencrypted
            tally.rehashed += field_tally.rehashed
        tally.failed += top_tally.failed
        if not changes:
            return tally
        # Only if every changed top-level field still holds what we read ($literal so
        # values are compared, not evaluated; $expr because the embedded server
        # rejects plain dict/list equality filters).
        guard = {
            "_id": doc_id,
            "$expr": {
                "$and": [{"$eq": [f"${k}", {"$literal": old}]} for k, (old, _) in changes.items()]
            },
        }
        result = coll.update_one(guard, {"$set": {k: new for k, (_, new) in changes.items()}})
        if result.matched_count:
            return tally
        fresh = coll.find_one({"_id": doc_id})
        if fresh is None:  # deleted meanwhile: nothing left to rotate
            return _Tally()
        doc = fresh
    log.warning(
        "gave up on %s[%r]: concurrently modified %d times", coll.name, doc_id, MAX_ATTEMPTS
    )
    return _Tally(failed=tally.failed + tally.reencrypted + tally.rehashed)


def rotate_database(db: Database, encryptor: Encryptor) -> RotationReport:
    """Re-encrypt every token not under encryptor.primary_kid, in every collection."""
    scanned, total = 0, _Tally()
    for name in sorted(db.list_collection_names(filter={"type": "collection"})):
        if name.startswith("system."):
            continue
        coll = db[name]
        for doc in coll.find({}):
            scanned += 1
            total.add(_rotate_document(coll, doc, encryptor))
    return RotationReport(
        scanned_docs=scanned,
        reencrypted=total.reencrypted,
        failed=total.failed,
        rehashed=total.rehashed,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: exit 0 when everything is under the primary key, 1 if any token or lookup key
    failed (do not retire old keys then), 2 on bad configuration."""
    parser = argparse.ArgumentParser(
        prog="python -m services.encryption.rotate_keys",
        description="Re-encrypt all tokens under the first key in ENCRYPTION_KEYS.",
    )
    parser.add_argument("--uri", required=True, help="MongoDB connection URI")
    parser.add_argument("--db", required=True, help="database name")
    args = parser.parse_args(argv)
    try:
        encryptor = encryptor_from_env()
    except EncryptionError as exc:
        print(f"key rotation: {exc}", file=sys.stderr)
        return 2
    client: MongoClient = MongoClient(args.uri)
    try:
        report = rotate_database(client[args.db], encryptor)
    finally:
        client.close()
    print(f"{report} primary_kid={encryptor.primary_kid}")
    return 0 if report.failed == 0 else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(main())
