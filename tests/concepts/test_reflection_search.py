"""ReflectionSession's search and export (docs/concepts/ReflectionSession.md, Queries)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conceptkit import describe_operations
from concepts.reflection_session import ReflectionSession
from concepts.reflection_session.search import fold, parse_terms

PROMPTS = ["What went well today?", "What was hard?", "What will you carry into tomorrow?"]


@pytest.fixture
async def rs(async_db, clock, encryptor) -> ReflectionSession:
    concept = ReflectionSession(async_db, {"clock": clock, "encryption": encryptor})
    await concept.setup()
    return concept


async def typed(rs: ReflectionSession, answers: list[str], user: str = "u1", done=True) -> str:
    out = await rs.startSession(user=user, method="TEXT", prompts=PROMPTS)
    session = out["session"]
    if done:  # a prompt not given an answer here was left blank
        answers = answers + [""] * (len(PROMPTS) - len(answers))
    for position, text in enumerate(answers, 1):
        await rs.recordResponse(user=user, session=session, position=position, text=text)
    if done:
        assert await rs.completeSession(user=user, session=session) == {}
    return session


async def found(rs: ReflectionSession, user: str = "u1", **kw) -> list[str]:
    return [r["session"] for r in await rs._search(user=user, **kw)]


async def test_words_all_found_in_prompts_or_answers_newest_first(rs, clock):
    walk = await typed(rs, ["A long walk by the river", "Nothing", "Patience with Sam"])
    clock.advance(days=1)
    rain = await typed(rs, ["Rain all day", "The walk home was wet", ""])
    clock.advance(days=1)
    other = await typed(rs, ["Coffee", "Café closed", "Tea"])

    assert await found(rs, words="walk") == [rain, walk]
    assert await found(rs, words="WALK river") == [walk]  # every word, any case
    assert await found(rs, words="walk xylophone") == []
    assert await found(rs, words="carry") == [other, rain, walk]  # prompts are searched
    assert await found(rs, words="cafe") == [other]  # accents do not matter
    assert await found(rs, words="CAFÉ") == [other]
    assert await found(rs, words="pati") == [walk]  # a word being typed
    assert await found(rs, words="atience") == []  # but not the middle of a word
    assert await found(rs, words='"by walk"') == []  # a phrase, in that order
    assert await found(rs, words='"long walk"') == [walk]
    assert await found(rs, words='"walk home"') == [rain]
    assert await found(rs, words="") == [other, rain, walk]  # no words: every reflection
    assert await found(rs, words='" , ! "') == [other, rain, walk]  # punctuation only


async def test_the_positions_that_matched_and_the_history_shape(rs):
    session = await typed(rs, ["A walk", "Rain", "Another walk tomorrow"])
    (row,) = await rs._search(user="u1", words="walk")
    assert row["session"] == session and row["matched"] == [1, 3]
    (history,) = await rs._history(user="u1")
    assert {k: v for k, v in row.items() if k != "matched"} == history
    (row,) = await rs._search(user="u1", words="hard rain")
    assert row["matched"] == [2]  # the prompt and the answer of position 2


async def test_a_date_range_is_half_open_and_combines_with_words(rs, clock):
    first_day = clock.now()
    one = await typed(rs, ["walk"])
    clock.advance(days=1)
    two = await typed(rs, ["walk"], done=True)
    clock.advance(days=1)
    three = await typed(rs, ["swim"])
    day = dt.timedelta(days=1)

    assert await found(rs, since=first_day + day) == [three, two]
    assert await found(rs, until=first_day + day) == [one]
    assert await found(rs, since=first_day, until=first_day + 2 * day) == [two, one]
    assert await found(rs, words="walk", since=first_day + day) == [two]
    assert await found(rs, since=first_day + 3 * day) == []


async def test_paging_with_limit_and_before(rs, clock):
    sessions = []
    for i in range(5):
        sessions.append(await typed(rs, [f"walk number {i}"]))
        clock.advance(days=1)
    newest = list(reversed(sessions))
    page = await found(rs, words="walk", limit=2)
    assert page == newest[:2]
    assert await found(rs, words="walk", limit=2, before=page[-1]) == newest[2:4]
    assert await found(rs, words="walk", limit=2, before=newest[3]) == newest[4:]


async def test_only_the_users_own_reflections_are_searched(rs):
    mine = await typed(rs, ["heron at the pond"], user="u1")
    await typed(rs, ["heron at the pond"], user="u2")
    assert await found(rs, user="u1", words="heron") == [mine]
    assert await found(rs, user="u3", words="heron") == []
    assert await found(rs, user="u3") == []


async def test_a_reflection_in_progress_and_unanswered_prompts_are_found(rs):
    open_one = await typed(rs, ["half typed heron"], done=False)
    assert await found(rs, words="heron") == [open_one]
    (row,) = await rs._search(user="u1", words="tomorrow")
    assert row["prompts"][2]["answer"] is None and row["matched"] == [3]


def test_the_inputs_are_bounded(rs):
    ops = describe_operations(rs)
    check = ops["_search"].check_inputs
    assert check({"user": "u1", "words": "x" * 200})[1] == []
    assert check({"user": "u1", "words": "x" * 201})[1]
    assert check({"user": "u1", "limit": 0})[1] and check({"user": "u1", "limit": 101})[1]
    assert check({"user": "u1", "since": "2024-01-01"})[1]  # a date-time, with its zone


def test_terms():
    assert [t.pattern for t in parse_terms("")] == []
    assert len(parse_terms("walk walk WALK")) == 1
    assert len(parse_terms(" ".join(f"w{i}" for i in range(30)))) == 12
    assert parse_terms("Zoë")[0].search(fold("zoe went out"))
    assert not parse_terms("walk")[0].search("sidewalk")
    assert parse_terms('"a b"')[0].search("x a, b y")  # punctuation between is no matter


words = st.text(st.characters(categories=("L", "N")), min_size=1, max_size=12)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.lists(words, max_size=4), word=words, after=st.lists(words, max_size=4))
def test_any_word_of_an_answer_finds_it(before, word, after):
    text = " ".join([*before, word, *after])
    folded = fold(text)
    assert all(term.search(folded) for term in parse_terms(word)), (word, text)
    assert all(term.search(folded) for term in parse_terms(f'"{text}"'))


async def test_export_is_every_reflection_in_full_oldest_first(rs, clock):
    first = await typed(rs, ["walk", "", "rest"])
    clock.advance(days=1)
    phone = (await rs.startSession(user="u1", method="PHONE", prompts=PROMPTS))["session"]
    await rs.closeCall(
        user="u1",
        session=phone,
        answers=[{"position": 1, "text": "spoken"}],
        transcript="Q: What went well today? A: spoken",
        reason="caller hung up",
    )
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"
    await rs.attachRecording(user="u1", session=phone, recordingUrl=url)
    await rs.setRating(user="u1", session=first, rating=2)
    await typed(rs, ["someone else's"], user="u2")

    (row,) = await rs._export(user="u1")
    assert row["at"] == clock.now()
    one, two = row["reflections"]
    assert (one["session"], two["session"]) == (first, phone)
    assert [p["answer"] for p in one["prompts"]] == ["walk", "", "rest"]
    assert one["rating"] == 2 and one["status"] == "COMPLETED"
    assert one["prompts"][0]["finishedAt"] is not None
    assert two["transcript"] == "Q: What went well today? A: spoken"
    assert two["hasRecording"] and "recordingUrl" not in two  # the URL is the service's only
    assert two["status"] == "ABANDONED"
    assert two["abandonReason"] == "caller hung up"
    assert await rs._export(user="u3") == [{"reflections": [], "at": clock.now()}]
