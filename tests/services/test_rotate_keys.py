"""Key rotation against a real (embedded) database: every stale token, however
deeply nested, ends up under the primary key with its plaintext intact, and
nothing else in the documents changes."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymongo.database import Database

from services.encryption.keys import Encryptor
from services.encryption.rotate_keys import (
    RotationReport,
    _rotate_document,
    _rotate_value,
    _Tally,
    main,
    rotate_database,
)

KEY_OLD = bytes(range(32))
KEY_NEW = bytes(range(100, 132))
OLD = Encryptor([("old", KEY_OLD)])
BOTH = Encryptor([("new", KEY_NEW), ("old", KEY_OLD)])
NEW_ONLY = Encryptor([("new", KEY_NEW)])
T = "ReflectionSession.transcript"
A = "ReflectionSession.answers"


def tokens_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if Encryptor.is_token(value) else []
    if isinstance(value, dict):
        return [t for v in value.values() for t in tokens_in(v)]
    if isinstance(value, list):
        return [t for v in value for t in tokens_in(v)]
    return []


def decrypt_all(value: Any, enc: Encryptor) -> Any:
    """Replace every token by its plaintext, to compare documents structurally."""
    if isinstance(value, str) and Encryptor.is_token(value):
        h = Encryptor.header(value)
        return ("plain", enc.decrypt(value, user=h.user, field=h.field))
    if isinstance(value, dict):
        return {k: decrypt_all(v, enc) for k, v in value.items()}
    if isinstance(value, list):
        return [decrypt_all(v, enc) for v in value]
    return value


def seed(db: Database) -> int:
    """Two collections, nested tokens under the old key; returns the stale-token count."""
    db.reflection_sessions.insert_many(
        [
            {
                "_id": "s1",
                "user": "u1",
                "status": "done",
                "transcript": OLD.encrypt("I walked by the sea", user="u1", field=T),
                "answers": [
                    {"q": 1, "text": OLD.encrypt("grateful", user="u1", field=A)},
                    {"q": 2, "text": OLD.encrypt("tired, but ok ✨", user="u1", field=A)},
                ],
                "meta": {"deep": [[{"url": OLD.encrypt("https://r/1", user="u1", field="R.url")}]]},
                "count": 3,
                "notes": ["plain text", "ck1.not.a.token", ""],
            },
            {
                "_id": "s2",
                "user": "u2",
                "transcript": NEW_ONLY.encrypt("already rotated", user="u2", field=T),
                "empty": None,
            },
            {"_id": "s3", "user": "u3", "transcript": OLD.encrypt("", user="u3", field=T)},
        ]
    )
    db.users.insert_one(
        {"_id": "u1", "name": "Ada", "tags": ["x", OLD.encrypt("y", user="u1", field="User.tag")]}
    )
    db.empty_collection.insert_one({"_id": 1})
    return 6


def snapshot(db: Database) -> dict[str, list[dict]]:
    return {
        name: list(db[name].find({}).sort("_id", 1)) for name in sorted(db.list_collection_names())
    }


def test_rotation_moves_every_token_to_primary(db: Database) -> None:
    stale = seed(db)
    before = snapshot(db)

    report = rotate_database(db, BOTH)

    assert report == RotationReport(scanned_docs=5, reencrypted=stale, failed=0)
    after = snapshot(db)
    all_tokens = tokens_in(after)
    assert len(all_tokens) == stale + 1
    assert all(Encryptor.header(t).kid == "new" for t in all_tokens)
    # plaintext preserved and everything else untouched (old key no longer needed)
    assert decrypt_all(after, NEW_ONLY) == decrypt_all(before, BOTH)
    s1 = db.reflection_sessions.find_one({"_id": "s1"})
    assert s1["notes"] == ["plain text", "ck1.not.a.token", ""]
    assert s1["count"] == 3 and s1["status"] == "done"
    # the token already under the primary key was not rewritten
    assert (
        after["reflection_sessions"][1]["transcript"]
        == before["reflection_sessions"][1]["transcript"]
    )


def test_second_run_is_a_no_op(db: Database) -> None:
    seed(db)
    rotate_database(db, BOTH)
    before = snapshot(db)
    assert rotate_database(db, BOTH) == RotationReport(scanned_docs=5, reencrypted=0, failed=0)
    assert snapshot(db) == before


def test_undecryptable_tokens_are_counted_and_left_alone(db: Database) -> None:
    stranger = Encryptor([("gone", bytes(32))]).encrypt("lost", user="u", field=T)
    forged = OLD.encrypt("x", user="u", field=T)[:-3] + "AAA"
    good = OLD.encrypt("fine", user="u", field=T)
    db.c.insert_one({"_id": 1, "a": stranger, "b": [forged, good]})

    report = rotate_database(db, BOTH)

    assert report == RotationReport(scanned_docs=1, reencrypted=1, failed=2)
    doc = db.c.find_one({"_id": 1})
    assert doc["a"] == stranger and doc["b"][0] == forged
    assert NEW_ONLY.decrypt(doc["b"][1], user="u", field=T) == "fine"


def test_concurrent_write_is_not_clobbered(db: Database) -> None:
    db.c.insert_one({"_id": 1, "t": OLD.encrypt("v1", user="u", field=T), "other": "x"})
    stale_read = db.c.find_one({"_id": 1})
    # a writer updates the field after our read, still under the old key
    db.c.update_one({"_id": 1}, {"$set": {"t": OLD.encrypt("v2", user="u", field=T)}})

    tally = _rotate_document(db.c, stale_read, BOTH)

    assert tally == _Tally(reencrypted=1, failed=0)
    doc = db.c.find_one({"_id": 1})
    assert NEW_ONLY.decrypt(doc["t"], user="u", field=T) == "v2"
    assert doc["other"] == "x"


def test_document_deleted_meanwhile_is_skipped(db: Database) -> None:
    db.c.insert_one({"_id": 1, "t": OLD.encrypt("v1", user="u", field=T)})
    stale_read = db.c.find_one({"_id": 1})
    db.c.delete_one({"_id": 1})
    assert _rotate_document(db.c, stale_read, BOTH) == _Tally()
    assert db.c.find_one({"_id": 1}) is None


def test_persistent_race_gives_up_and_reports_failure(db: Database) -> None:
    """A writer that changes the field before every one of our writes wins; we report it."""
    db.c.insert_one({"_id": 1, "t": OLD.encrypt("v1", user="u", field=T)})
    real_find_one = db.c.find_one

    class RacingCollection:
        name = "c"

        def update_one(self, *args: Any, **kwargs: Any) -> Any:
            db.c.update_one({"_id": 1}, {"$set": {"t": OLD.encrypt("v", user="u", field=T)}})
            return db.c.update_one(*args, **kwargs)

        def find_one(self, *args: Any, **kwargs: Any) -> Any:
            return real_find_one(*args, **kwargs)

    tally = _rotate_document(RacingCollection(), real_find_one({"_id": 1}), BOTH)  # type: ignore[arg-type]
    assert tally == _Tally(reencrypted=0, failed=1)
    assert Encryptor.header(real_find_one({"_id": 1})["t"]).kid == "old"


def test_cli_rotates_and_prints_one_line(
    db: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = seed(db)
    host, port = db.client.address
    spec = ",".join(
        f"{k}:{base64.b64encode(v).decode()}" for k, v in [("new", KEY_NEW), ("old", KEY_OLD)]
    )
    monkeypatch.setenv("ENCRYPTION_KEYS", spec)

    assert main(["--uri", f"mongodb://{host}:{port}", "--db", db.name]) == 0

    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert f"scanned_docs=5 reencrypted={stale} rehashed=0 failed=0 primary_kid=new" in out
    assert all(Encryptor.header(t).kid == "new" for t in tokens_in(snapshot(db)))


def test_cli_without_keys_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ENCRYPTION_KEYS", raising=False)
    assert main(["--uri", "mongodb://127.0.0.1:1", "--db", "x"]) == 2
    assert "ENCRYPTION_KEYS is not set" in capsys.readouterr().err


# -- the schema-blind walk itself, without a database -------------------------

leaf = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=10),
    st.text(max_size=10).map(lambda s: OLD.encrypt(s, user="u", field="F.f")),
    st.text(max_size=10).map(lambda s: NEW_ONLY.encrypt(s, user="v", field="G.g")),
)
tree = st.recursive(
    leaf,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=5), kids, max_size=4)
    ),
    max_leaves=20,
)


@given(tree)
def test_walk_rotates_exactly_the_stale_tokens(value: Any) -> None:
    tally = _Tally()
    stale = sum(Encryptor.header(t).kid == "old" for t in tokens_in(value))
    rotated = _rotate_value(value, BOTH, "doc", tally)
    assert tally == _Tally(reencrypted=stale, failed=0)
    assert all(Encryptor.header(t).kid == "new" for t in tokens_in(rotated))
    assert decrypt_all(rotated, NEW_ONLY) == decrypt_all(value, BOTH)
    assert (rotated is value) == (stale == 0)


# -- lookup keys (keyed hashes beside their tokens) ------------------------------------

NUMBER = "+14155552671"
P = "phone"


def test_lookup_keys_are_made_again_from_the_token_beside_them(db: Database) -> None:
    """A lookup key is rotated like a token: found by the walk, remade under the primary
    key from the token in the same dict whose plaintext it matches (top level and nested)."""
    other = "+442079460958"
    db.attempts.insert_one(
        {
            "_id": "s1:1",
            "user": "u1",
            "to": OLD.encrypt(NUMBER, user="u1", field="Dialer.to"),
            "toKey": OLD.lookup_key(NUMBER, purpose=P),
        }
    )
    db.verified.insert_one(
        {
            "_id": "v1",
            "numbers": [
                {
                    "number": OLD.encrypt(n, user="u1", field="V.n"),
                    "key": OLD.lookup_key(n, purpose=P),
                }
                for n in (NUMBER, other)
            ],
        }
    )
    report = rotate_database(db, BOTH)
    assert report == RotationReport(scanned_docs=2, reencrypted=3, failed=0, rehashed=3)
    attempt = db.attempts.find_one({"_id": "s1:1"})
    assert attempt["toKey"] == NEW_ONLY.lookup_key(NUMBER, purpose=P)
    assert NEW_ONLY.decrypt(attempt["to"], user="u1", field="Dialer.to") == NUMBER
    keys = [e["key"] for e in db.verified.find_one({"_id": "v1"})["numbers"]]
    assert keys == [NEW_ONLY.lookup_key(n, purpose=P) for n in (NUMBER, other)]
    # the old key can go now: lookups under the new key alone still find every value
    assert NEW_ONLY.matches_lookup(NUMBER, attempt["toKey"])
    assert rotate_database(db, BOTH) == RotationReport(scanned_docs=2)


def test_a_lookup_key_with_no_token_of_its_value_beside_it_is_counted_and_left(
    db: Database,
) -> None:
    lone = OLD.lookup_key(NUMBER, purpose=P)
    wrong = {"v": OLD.encrypt("+15550000000", user="u", field="F.f"), "k": lone}
    db.c.insert_many([{"_id": 1, "k": lone}, {"_id": 2, "pair": wrong}])
    report = rotate_database(db, BOTH)
    assert (report.failed, report.rehashed, report.reencrypted) == (2, 0, 1)
    assert db.c.find_one({"_id": 1})["k"] == lone
    assert db.c.find_one({"_id": 2})["pair"]["k"] == lone


pair = st.text(max_size=10).map(
    lambda s: {"v": OLD.encrypt(s, user="u", field="F.f"), "k": OLD.lookup_key(s, purpose=P)}
)


@given(st.lists(st.one_of(pair, tree), max_size=4))
def test_walk_remakes_exactly_the_stale_lookup_keys(value: Any) -> None:
    tally = _Tally()
    stale = sum(1 for v in value if isinstance(v, dict) and Encryptor.is_lookup_key(v.get("k")))
    rotated = _rotate_value(value, BOTH, "doc", tally)
    assert (tally.rehashed, tally.failed) == (stale, 0)
    for before, after in zip(value, rotated, strict=True):
        if isinstance(before, dict) and Encryptor.is_lookup_key(before.get("k")):
            plain = NEW_ONLY.decrypt(after["v"], user="u", field="F.f")
            assert after["k"] == NEW_ONLY.lookup_key(plain, purpose=P)
