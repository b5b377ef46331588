"""ReflectionSession's search index (docs/concepts/ReflectionSession.md, *The search index*).

A search over the index must answer exactly what reading and decrypting every session
answers (``brute_force`` below is the search as it was before the index), whatever was
written, edited, interrupted or lost: a state machine drives random reflections, edits,
crashes between the session's write and the index's, and lost indexes, and compares the
two searches on random queries. Then the repairs one by one, and deletion.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from concepts.reflection_session import ReflectionSession
from concepts.reflection_session.index import INDEX
from concepts.reflection_session.search import SEARCHED
from concepts.reflection_session.terms import fold, parse_terms
from services.app.clock import FakeClock
from services.encryption.keys import Encryptor
from tests.concepts.loop_harness import Harness

PROMPTS = ["What went well today?", "What was hard?", "What will you carry into tomorrow?"]


async def brute_force(
    rs: ReflectionSession,
    user: str,
    words: str = "",
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 50,
    before: str | None = None,
) -> list[dict[str, Any]]:
    """The search before the index: every session of the user read, decrypted and matched."""
    terms = parse_terms(words)
    filt: dict[str, Any] = {"user": user}
    if before is not None:
        filt["_id"] = {"$lt": before}
    if since is not None or until is not None:
        filt["startedAt"] = {
            **({"$gte": since} if since is not None else {}),
            **({"$lt": until} if until is not None else {}),
        }
    docs = [d async for d in rs.collection("sessions").find(filt, SEARCHED)]
    docs.sort(key=lambda d: d["_id"], reverse=True)
    found: list[dict[str, Any]] = []
    for doc in docs:
        started = doc["startedAt"]
        if (since is not None and started < since) or (until is not None and started >= until):
            continue
        matched = _matched(rs, doc, terms)
        if matched is not None:
            found.append({**rs._summary(doc), "matched": matched})
            if len(found) == limit:
                break
    return found


def _matched(rs: ReflectionSession, doc: dict, terms: list[re.Pattern[str]]) -> list[int] | None:
    if not terms:
        return []
    user, session = doc["user"], doc["_id"]
    answers = {
        r["position"]: fold(rs._open(r["text"], user, session, f"response.{r['position']}"))
        for r in doc.get("responses", [])
    }
    prompts = {p["position"]: fold(rs._prompt(doc, p) or "") for p in doc["prompts"]}
    rest = [t for t in terms if not any(t.search(a) for a in answers.values())]
    if not all(any(t.search(p) for p in prompts.values()) for t in rest):
        return None
    return [
        pos
        for pos in sorted(prompts.keys() | answers.keys())
        if any(t.search(prompts.get(pos, "")) or t.search(answers.get(pos, "")) for t in terms)
    ]


# -- the state machine: random reflections, edits, crashes, lost indexes -------------------

VOCAB = [
    "walk",
    "walked",
    "Walk-in",
    "sidewalk",
    "Café",
    "cafe",
    "ZOË",
    "zoe",
    "rain",
    "x_y",
    "don't",
    "3pm",
]
GAPS = [" ", ", ", "! ", "\n", " -- ", "...", "\t"]
text = st.lists(st.tuples(st.sampled_from(VOCAB), st.sampled_from(GAPS)), max_size=6).map(
    lambda parts: "".join(w + g for w, g in parts)
)
prompt_text = st.lists(st.sampled_from(VOCAB), min_size=1, max_size=3).map(" ".join)
query_word = st.sampled_from(VOCAB) | st.sampled_from(VOCAB).map(lambda w: w[: max(1, len(w) // 2)])
query = st.lists(
    query_word | st.tuples(query_word, query_word).map(lambda p: f'"{p[0]} {p[1]}"'), max_size=3
).map(" ".join)
users = st.sampled_from(["u1", "u2"])


def mostly_none(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), st.none(), st.none(), strategy)


# where an action stops: after its session write (the index never told), after the index
# write (the flag never removed), or not at all
crashes = st.sampled_from([None, None, "before the index", "before the flag is removed"])


class IndexedSearchMachine(RuleBasedStateMachine):
    harness: Harness

    def __init__(self) -> None:
        super().__init__()
        self.db_name = f"index_{uuid.uuid4().hex[:12]}"
        self.clock = FakeClock(dt.datetime(2026, 1, 28, 23, 0, 0, 123456, tzinfo=dt.UTC))
        services = {"clock": self.clock, "encryption": Encryptor([("k1", bytes(32))])}
        self.rs = ReflectionSession(self.harness.client[self.db_name], services)
        self.run(self.rs.setup())
        self.starts: list[dt.datetime] = []
        self.sessions: list[str] = []
        self.owners: dict[str, str] = {}
        self.open: dict[str, str] = {}  # user -> their reflection in progress
        self.marks = 0
        self.kept: list[str] = []  # the words of their own of the answers written
        self.written: list[str] = []  # the words written, latest last: what searches look for

    def marked(self, answer: str) -> str:
        """The answer with a word of its own, so that a search finds it and nothing else."""
        self.marks += 1
        return f"{answer} m{self.marks}x"

    def note(self, out: dict, *texts: str) -> None:
        for t in texts if "error" not in out else ():
            self.kept += re.findall(r"m\d+x", t)
            self.written += re.findall(r"\w+", t)

    def run(self, coro: Any) -> Any:
        return self.harness.run(coro)

    def teardown(self) -> None:
        self.run(self.harness.client.drop_database(self.db_name))

    def act(self, crash: str | None, coro_fn: Any) -> Any:
        """Run an action, stopping where ``crash`` says (the rest of its writes never made)."""

        async def nothing(*args: Any, **kw: Any) -> None:
            return None

        if crash == "before the index":
            self.rs._reindex = nothing  # type: ignore[method-assign]
        elif crash == "before the flag is removed":
            self.rs._unflag = nothing  # type: ignore[method-assign]
        try:
            return self.run(coro_fn())
        finally:
            self.rs.__dict__.pop("_reindex", None)
            self.rs.__dict__.pop("_unflag", None)

    def active(self, user: str) -> dict | None:
        rows = self.run(self.rs._active(user=user))
        return rows[0] if rows else None

    @rule(
        user=users,
        method=st.sampled_from(["TEXT", "PHONE"]),
        prompts=st.lists(prompt_text, min_size=1, max_size=3),
        crash=crashes,
    )
    def start(self, user: str, method: str, prompts: list[str], crash: str | None) -> None:
        out = self.act(
            crash, lambda: self.rs.startSession(user=user, method=method, prompts=prompts)
        )
        if "error" not in out and not out["resumed"]:
            self.sessions.append(out["session"])
            self.owners[out["session"]] = user
            self.open[user] = out["session"]
            self.starts.append(self.clock.now())
            self.note(out, *prompts)

    def some_open(self, which: int) -> tuple[str, str]:
        user = sorted(self.open)[which % len(self.open)]
        return user, self.open[user]

    @precondition(lambda self: self.open)
    @rule(which=st.integers(0, 1), position=st.integers(1, 3), answer=text, crash=crashes)
    def record(self, which: int, position: int, answer: str, crash: str | None) -> None:
        user, session = self.some_open(which)
        answer = self.marked(answer)
        out = self.act(
            crash,
            lambda: self.rs.recordResponse(
                user=user, session=session, position=position, text=answer
            ),
        )
        self.note(out, answer)

    @precondition(lambda self: self.open)
    @rule(
        which=st.integers(0, 1),
        how=st.sampled_from(["complete", "abandon", "close"]),
        answer=text,
        crash=crashes,
    )
    def finish(self, which: int, how: str, answer: str, crash: str | None) -> None:
        user, session = self.some_open(which)
        answer = self.marked(answer)
        self.finish_one(user, session, how, answer, crash)
        if self.active(user) is None:
            del self.open[user]

    def finish_one(self, user: str, session: str, how: str, answer: str, crash: str | None) -> None:
        if how == "complete":
            self.act(crash, lambda: self.rs.completeSession(user=user, session=session))
        elif how == "abandon":
            self.act(
                crash, lambda: self.rs.abandonSession(user=user, session=session, reason="gone")
            )
        else:
            answers = [{"position": p, "text": answer} for p in (1, 2, 3)]
            out = self.act(
                crash,
                lambda: self.rs.closeCall(
                    user=user, session=session, answers=answers, transcript="", reason="hung up"
                ),
            )
            self.note(out, answer)

    @precondition(lambda self: self.sessions)
    @rule(which=st.integers(0, 50), position=st.integers(1, 3), answer=text, crash=crashes)
    def edit(self, which: int, position: int, answer: str, crash: str | None) -> None:
        session = self.sessions[-1 - which % len(self.sessions)]
        user = self.owners[session]
        answer = self.marked(answer)
        out = self.act(
            crash,
            lambda: self.rs.editAnswer(user=user, session=session, position=position, text=answer),
        )
        self.note(out, answer)

    @rule(micros=st.integers(0, 12 * 24 * 3600 * 10**6))
    def advance(self, micros: int) -> None:
        self.clock.advance(microseconds=micros)

    @rule(user=users, what=st.sampled_from(["head", "all"]))
    def lose_the_index(self, user: str, what: str) -> None:
        """The index (or only its head) is gone: an upgrade, an operator, a bad restore."""
        filt = {"user": user} if what == "all" else {"_id": f"{user}/head"}
        self.run(self.rs.collection(INDEX).delete_many(filt))

    @precondition(lambda self: self.sessions)
    @rule(
        stranger=st.integers(0, 3),
        words=query,
        recent=st.lists(
            st.tuples(
                st.integers(0, 12), st.sampled_from(["mark", "mark", "word", "prefix", "phrase"])
            ),
            max_size=2,
        ),
        since=mostly_none(
            st.tuples(
                st.integers(0, 50), st.sampled_from([-1000, -1, 0, 1, 999, 1000, 86400 * 10**6])
            )
        ),
        until=mostly_none(st.tuples(st.integers(0, 50), st.sampled_from([-1, 0, 1, 2, 86400]))),
        limit=st.integers(1, 6),
        before=mostly_none(st.integers(0, 50)),
    )
    def search(
        self,
        stranger: int,
        words: str,
        recent: list[tuple[int, str]],
        since: Any,
        until: Any,
        limit: int,
        before: Any,
    ) -> None:
        def when(pick: Any, unit: dt.timedelta) -> dt.datetime | None:
            if pick is None or not self.starts:
                return None
            start = self.starts[pick[0] % len(self.starts)]
            if unit.seconds:  # a whole second: see test_a_range_is_compared_to_the_millisecond
                start = start.replace(microsecond=0)
            return start + pick[1] * unit

        for back, how in recent if self.written else ():  # words just written, mostly
            at = max(0, len(self.written) - 1 - back)
            word = self.written[at]
            if how == "mark":  # the word of its own of a recent answer
                word = self.kept[-1 - back % len(self.kept)] if self.kept else word
            elif how == "prefix":
                word = word[: max(1, len(word) - 2)]
            elif how == "phrase" and at + 1 < len(self.written):
                word = f'"{word} {self.written[at + 1]}"'
            words = f"{word} {words}" if back % 4 == 3 else word

        user = self.owners[self.sessions[-1]]  # the latest writer, mostly
        if stranger == 0:
            user = "u2" if user == "u1" else "u1"
        kw = {
            "words": words,
            "since": when(since, dt.timedelta(microseconds=1)),
            "until": when(until, dt.timedelta(seconds=1)),
            "limit": limit,
            "before": None
            if before is None or not self.sessions
            else self.sessions[before % len(self.sessions)],
        }
        expected = self.run(brute_force(self.rs, user, **kw))
        assert self.run(self.rs._search(user=user, **kw)) == expected, kw


def test_indexed_search_answers_as_reading_every_reflection(harness: Harness) -> None:
    IndexedSearchMachine.harness = harness
    run_state_machine_as_test(
        IndexedSearchMachine,
        settings=settings(
            max_examples=75,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# -- the repairs, one by one ----------------------------------------------------------------


@pytest.fixture
async def rs(async_db, clock, encryptor) -> ReflectionSession:
    concept = ReflectionSession(async_db, {"clock": clock, "encryption": encryptor})
    await concept.setup()
    return concept


async def typed(rs: ReflectionSession, answers: list[str], user: str = "u1") -> str:
    session = (await rs.startSession(user=user, method="TEXT", prompts=PROMPTS))["session"]
    answers = answers + [""] * (len(PROMPTS) - len(answers))
    for position, answer in enumerate(answers, 1):
        await rs.recordResponse(user=user, session=session, position=position, text=answer)
    await rs.completeSession(user=user, session=session)
    return session


async def found(rs: ReflectionSession, user: str = "u1", **kw: Any) -> list[str]:
    return [r["session"] for r in await rs._search(user=user, **kw)]


async def flagged(rs: ReflectionSession) -> list[str]:
    return [
        d["_id"] async for d in rs.collection("sessions").find({"reindexFor": {"$exists": True}})
    ]


async def entries(rs: ReflectionSession, user: str = "u1") -> dict[str, Any]:
    out: dict[str, Any] = {}
    async for bucket in rs.collection(INDEX).find({"user": user, "key": {"$ne": "head"}}):
        out.update(json.loads(rs._open(bucket["entries"], user, bucket["key"], INDEX)))
    return out


async def nothing(*args: Any, **kw: Any) -> None:
    return None


async def test_each_write_keeps_the_index_and_leaves_no_flag(rs, clock):
    one = await typed(rs, ["A heron by the river"])
    clock.advance(days=40)  # another month: another bucket
    two = await typed(rs, ["Rain"])
    assert await flagged(rs) == []
    index = await entries(rs)
    assert set(index) == {one, two}
    assert index[one][3]["1"] == "a heron by the river"  # folded words, no punctuation
    keys = [d["key"] async for d in rs.collection(INDEX).find({"user": "u1"}).sort("key", 1)]
    assert keys == ["2026-03", "2026-04", "head"]
    await rs.editAnswer(user="u1", session=one, position=1, text="An egret, then.")
    assert (await entries(rs))[one][3]["1"] == "an egret then"
    assert await found(rs, words="egret") == [one] and await found(rs, words="heron") == []


async def test_a_crash_before_the_index_write_is_repaired_by_the_next_search(rs):
    session = await typed(rs, ["A heron"])
    rs._reindex = nothing  # the process dies after the session's write
    await rs.editAnswer(user="u1", session=session, position=2, text="an otter too")
    del rs._reindex
    assert await flagged(rs) == [session]
    assert "otter" not in json.dumps(await entries(rs))
    assert await found(rs, words="otter") == [session]  # found: the search repaired it
    assert await flagged(rs) == []
    assert (await entries(rs))[session][3]["2"] == "an otter too"


async def test_a_crash_before_the_flag_is_removed_costs_one_repair(rs):
    rs._unflag = nothing
    session = await typed(rs, ["A heron"])
    del rs._unflag
    assert await flagged(rs) == [session]
    assert await found(rs, words="heron") == [session]
    assert await flagged(rs) == []


async def test_a_lost_race_for_a_bucket_leaves_the_session_flagged(rs):
    first = await typed(rs, ["A heron"])
    real = rs._write_bucket

    async def lost(*args: Any, **kw: Any) -> bool:
        return False  # someone else wrote the bucket first

    rs._write_bucket = lost
    second = await typed(rs, ["An otter"])
    assert second in await flagged(rs)
    rs._write_bucket = real
    assert await found(rs, words="otter") == [second]
    assert await found(rs) == [second, first] and await flagged(rs) == []


async def test_a_user_without_an_index_is_indexed_at_the_first_search(rs, clock):
    sessions = []
    for day in range(3):
        sessions.append(await typed(rs, [f"walk {day}"]))
        clock.advance(days=20)
    await rs.collection(INDEX).delete_many({})  # from before the index, or lost
    assert await found(rs, words="walk") == sessions[::-1]
    assert set(await entries(rs)) == set(sessions)
    assert await rs.collection(INDEX).find_one({"_id": "u1/head"}) is not None
    await rs.collection(INDEX).delete_many({"key": "head"})  # a head lost alone
    assert await found(rs, words="walk 1") == [sessions[1]]


async def test_a_new_user_has_a_complete_index_from_the_first_reflection(rs):
    await typed(rs, ["walk"])
    assert await rs.collection(INDEX).find_one({"_id": "u1/head"}) is not None


async def test_an_index_that_is_wrong_never_shows_what_the_reflection_does_not_hold(rs):
    session = await typed(rs, ["A heron"])
    rs._reindex = nothing
    await rs.editAnswer(user="u1", session=session, position=1, text="An otter")
    del rs._reindex
    # against the rule (the flag is gone, the entry is old): the reflection is read anyway
    await rs.collection("sessions").update_one({"_id": session}, {"$unset": {"reindexFor": ""}})
    assert await found(rs, words="heron") == []


async def test_a_range_is_compared_to_the_millisecond_as_the_database_compares(rs, clock):
    """A start is kept to the millisecond (BSON), and MongoDB compares ``until`` as it is
    sent, to the millisecond, so the search did; the index does the same. (The embedded
    server compares dates to the second, so the search as it was gave a different answer
    there for an ``until`` within the second of a start: the web app sends midnights.)"""
    clock.set(dt.datetime(2026, 3, 31, 23, 59, 59, 999_600, tzinfo=dt.UTC))
    session = await typed(rs, ["walk"])  # stored as ...59.999, in March
    stored = (await rs.collection("sessions").find_one({"_id": session}))["startedAt"]
    assert stored.microsecond == 999_000
    micro, milli = dt.timedelta(microseconds=1), dt.timedelta(milliseconds=1)
    assert await found(rs, since=stored) == [session]
    assert await found(rs, since=stored + micro) == []
    assert await found(rs, until=stored + 500 * micro) == []  # sent as ...59.999 itself
    assert await found(rs, until=stored + milli) == [session]  # April, to the bucket
    paris_april = dt.datetime(2026, 4, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert await found(rs, since=paris_april) == [session]  # 23:00 UTC, still March
    assert await found(rs, since=paris_april + dt.timedelta(hours=1)) == []


async def test_the_index_holds_no_word_in_the_clear(rs):
    await typed(rs, ["Tulips by the heron pond"])
    async for doc in rs.collection(INDEX).find({}):
        assert "heron" not in json.dumps(doc, default=str).lower()


async def test_deleting_the_reflections_deletes_the_index(rs):
    await typed(rs, ["A heron"])
    await typed(rs, ["mine"], user="u2")
    assert (await rs.deleteAllFor(user="u1"))["deleted"] == 1
    assert await rs.collection(INDEX).count_documents({"user": "u1"}) == 0
    assert await rs.collection(INDEX).count_documents({"user": "u2"}) == 2
    assert await found(rs, words="heron") == [] and await found(rs) == []


async def test_entries_of_reflections_deleted_meanwhile_are_not_shown(rs):
    """A deletion that stopped between the sessions and the index (or a search that
    rebuilt the index while they were being deleted) leaves entries without a reflection."""
    keep = await typed(rs, ["walk"])
    gone = await typed(rs, ["walk"])
    await rs.collection("sessions").delete_one({"_id": gone})
    assert gone in await entries(rs)
    assert await found(rs, words="walk") == [keep]
    assert await found(rs, words="walk", limit=1) == [keep]  # the page is filled past it


async def test_a_call_is_indexed_once_when_it_ends_and_found_while_it_is_on(rs):
    """A call's turns do not wait on the index: its prompts and answers stay flagged
    while it is on (a search meanwhile indexes them first), and are indexed when it ends,
    a new user's head with them."""
    started = await rs.startSession(user="u1", method="PHONE", prompts=PROMPTS, callRef="c1")
    session = started["session"]
    await rs.recordResponse(user="u1", session=session, position=1, text="A heron at dawn")
    assert await flagged(rs) == [session] and await entries(rs) == {}
    assert await rs.collection(INDEX).find_one({"_id": "u1/head"}) is None
    await rs.recordResponse(user="u1", session=session, position=2, text="An otter")
    closed = await rs.closeCall(
        user="u1", session=session, answers=[], transcript="", reason="hung up"
    )
    assert closed["status"] == "ABANDONED"
    assert await flagged(rs) == []
    assert (await entries(rs))[session][3] == {"1": "a heron at dawn", "2": "an otter"}
    assert await rs.collection(INDEX).find_one({"_id": "u1/head"}) is not None
    assert await found(rs, words="otter") == [session]


async def test_a_search_during_a_call_finds_what_it_has_heard(rs):
    session = (await rs.startSession(user="u1", method="PHONE", prompts=PROMPTS))["session"]
    await rs.recordResponse(user="u1", session=session, position=1, text="A heron at dawn")
    assert await found(rs, words="heron") == [session]
    assert await flagged(rs) == []  # the search indexed it
