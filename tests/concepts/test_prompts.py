"""Prompts: each user's one to five reflection questions, in order (docs/concepts/Prompts.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conceptkit import describe_operations
from concepts.prompts import DEFAULT_PROMPTS, Prompts
from tests.concepts.rivalled import RivalledDatabase


@pytest.fixture
async def prompts(async_db, clock, encryptor) -> Prompts:
    concept = Prompts(async_db, {"clock": clock, "encryption": encryptor})
    await concept.setup()
    return concept


def errors_of(concept: Prompts, name: str, inputs: dict[str, Any]) -> list[dict[str, Any]]:
    return describe_operations(concept)[name].check_inputs(inputs)[1]


async def texts(concept: Prompts, user: str) -> list[str]:
    return [row["text"] for row in await concept._prompts(user=user)]


# -- principle -----------------------------------------------------------------------------


async def test_principle_defaults_then_own_prompts_in_order(prompts: Prompts) -> None:
    assert await prompts.setDefaults(user="u1") == {"prompts": list(DEFAULT_PROMPTS)}
    await prompts.setPrompts(user="u1", prompts=["How did you sleep?", "What went well today?"])
    assert await prompts._prompts(user="u1") == [
        {"position": 1, "text": "How did you sleep?"},
        {"position": 2, "text": "What went well today?"},
    ]
    await prompts.movePrompt(user="u1", fromPosition=2, toPosition=1)
    assert await texts(prompts, "u1") == ["What went well today?", "How did you sleep?"]


# -- setDefaults ---------------------------------------------------------------------------


async def test_set_defaults_gives_three_sensible_prompts(prompts: Prompts) -> None:
    out = await prompts.setDefaults(user="u1")
    assert len(out["prompts"]) == 3
    assert await texts(prompts, "u1") == list(DEFAULT_PROMPTS)


async def test_set_defaults_fails_when_prompts_exist_and_changes_nothing(prompts: Prompts) -> None:
    await prompts.setPrompts(user="u1", prompts=["Mine?"])
    out = await prompts.setDefaults(user="u1")
    assert out["errorKind"] == "conflict"
    assert await texts(prompts, "u1") == ["Mine?"]
    assert (await prompts.setDefaults(user="u2"))["prompts"]  # other users unaffected
    assert (await prompts.setDefaults(user="u2"))["errorKind"] == "conflict"


# -- setPrompts ----------------------------------------------------------------------------


async def test_set_prompts_replaces_all_covering_edit_add_remove_reorder(prompts: Prompts) -> None:
    await prompts.setDefaults(user="u1")
    await prompts.setPrompts(user="u1", prompts=["A?", "B?", "C?", "D?", "E?"])  # add
    await prompts.setPrompts(user="u1", prompts=["E?", "B?", "A!"])  # remove, reorder, edit
    assert await texts(prompts, "u1") == ["E?", "B?", "A!"]


async def test_set_prompts_trims_and_collapses_whitespace(prompts: Prompts) -> None:
    out = await prompts.setPrompts(user="u1", prompts=["  What   went\nwell?  ", "\tWhy?"])
    assert out == {"prompts": ["What went well?", "Why?"]}
    assert await texts(prompts, "u1") == ["What went well?", "Why?"]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ([], "1 to 5 prompts"),
        (["a", "b", "c", "d", "e", "f"], "1 to 5 prompts"),
        (["fine?", "   "], "prompt 2 is blank"),
        (["x" * 301], "longer than 300"),
        (["Why?", "why? "], "prompt 2 repeats prompt 1"),
        (["What\x00?"], "control"),
    ],
)
async def test_set_prompts_rejects_invalid_lists_and_changes_nothing(
    prompts: Prompts, given: list[str], message: str
) -> None:
    await prompts.setDefaults(user="u1")
    out = await prompts.setPrompts(user="u1", prompts=given)
    assert out["errorKind"] == "invalid"
    assert message in out["error"]
    assert await texts(prompts, "u1") == list(DEFAULT_PROMPTS)


async def test_set_prompts_accepts_exactly_300_characters_and_five_prompts(
    prompts: Prompts,
) -> None:
    five = ["x" * 300, "b", "c", "d", "e"]
    assert await prompts.setPrompts(user="u1", prompts=five) == {"prompts": five}


def test_set_prompts_validation_as_http_sees_it(prompts: Prompts) -> None:
    assert errors_of(prompts, "setPrompts", {"user": "u1", "prompts": ["a"]}) == []
    assert errors_of(prompts, "setPrompts", {"user": "u1", "prompts": []})[0]["msg"] == (
        "must have at least 1 item"
    )
    too_many = errors_of(prompts, "setPrompts", {"user": "u1", "prompts": list("abcdef")})
    assert too_many[0]["msg"] == "must have at most 5 items"
    too_long = errors_of(prompts, "setPrompts", {"user": "u1", "prompts": ["x" * 301]})
    assert too_long[0]["loc"] == ["body", "prompts", 0]
    assert (
        errors_of(prompts, "setPrompts", {"user": "u1", "prompts": "a"})[0]["type"] == "type_error"
    )
    assert errors_of(prompts, "setPrompts", {"user": "u1"})[0]["type"] == "missing"
    extra = errors_of(prompts, "setPrompts", {"user": "u1", "prompts": ["a"], "x": 1})
    assert extra[0]["type"] == "extra_forbidden"


# -- movePrompt ----------------------------------------------------------------------------


async def test_move_prompt_moves_one_and_keeps_the_others_in_order(prompts: Prompts) -> None:
    await prompts.setPrompts(user="u1", prompts=["A", "B", "C", "D"])
    assert await prompts.movePrompt(user="u1", fromPosition=1, toPosition=3) == {
        "prompts": ["B", "C", "A", "D"]
    }
    await prompts.movePrompt(user="u1", fromPosition=4, toPosition=1)
    assert await texts(prompts, "u1") == ["D", "B", "C", "A"]
    await prompts.movePrompt(user="u1", fromPosition=2, toPosition=2)
    assert await texts(prompts, "u1") == ["D", "B", "C", "A"]


async def test_move_prompt_without_prompts_is_not_found(prompts: Prompts) -> None:
    out = await prompts.movePrompt(user="u1", fromPosition=1, toPosition=1)
    assert out["errorKind"] == "not_found"


async def test_move_prompt_out_of_range_is_invalid_and_changes_nothing(prompts: Prompts) -> None:
    await prompts.setPrompts(user="u1", prompts=["A", "B"])
    out = await prompts.movePrompt(user="u1", fromPosition=3, toPosition=1)
    assert out["errorKind"] == "invalid"
    assert "fromPosition 3" in out["error"]
    out = await prompts.movePrompt(user="u1", fromPosition=1, toPosition=3)
    assert "toPosition 3" in out["error"]
    assert await texts(prompts, "u1") == ["A", "B"]


async def test_concurrent_moves_each_take_effect_as_if_one_after_another(prompts: Prompts) -> None:
    """Four moves of the first prompt to the end, at once: each is a rotation by one, so a
    serial run leaves the list rotated by four and returns each rotation from one to four
    once. A lost update (two moves deciding on the same list) would repeat a rotation."""
    start = ["A?", "B?", "C?", "D?", "E?"]
    await prompts.setPrompts(user="u1", prompts=start)

    def rotated(n: int) -> list[str]:
        return start[n:] + start[:n]

    outs = await asyncio.gather(
        *(prompts.movePrompt(user="u1", fromPosition=1, toPosition=5) for _ in range(4))
    )
    assert sorted(tuple(out["prompts"]) for out in outs) == sorted(
        tuple(rotated(n)) for n in range(1, 5)
    )
    assert await texts(prompts, "u1") == rotated(4)
    doc = await prompts.collection("prompts").find_one({"_id": "u1"})
    assert doc["version"] == 1 + 4  # setPrompts' write, then one write per move


async def test_a_move_that_keeps_losing_races_is_busy_and_changes_nothing(
    async_db, clock, encryptor, prompts: Prompts
) -> None:
    await prompts.setPrompts(user="u1", prompts=["A?", "B?"])
    rivalled = RivalledDatabase(async_db, "Prompts_prompts")
    losing = Prompts(rivalled, {"clock": clock, "encryption": encryptor})
    out = await losing.movePrompt(user="u1", fromPosition=1, toPosition=2)
    assert out == {
        "error": "your prompts are changing too often; try again",
        "errorKind": "unavailable",
    }
    assert rivalled.rivalled["Prompts_prompts"].rival_writes > 1  # it decided again each time
    assert await texts(prompts, "u1") == ["A?", "B?"]


def test_move_prompt_validation_as_http_sees_it(prompts: Prompts) -> None:
    ok = {"user": "u1", "fromPosition": 1, "toPosition": 5}
    assert errors_of(prompts, "movePrompt", ok) == []
    assert (
        errors_of(prompts, "movePrompt", {**ok, "fromPosition": 0})[0]["msg"]
        == "must be at least 1"
    )
    assert (
        errors_of(prompts, "movePrompt", {**ok, "toPosition": 6})[0]["msg"] == "must be at most 5"
    )
    assert errors_of(prompts, "movePrompt", {**ok, "toPosition": "2"})[0]["type"] == "type_error"


# -- deleteAllFor and queries --------------------------------------------------------------


async def test_delete_all_for_forgets_only_that_user(prompts: Prompts) -> None:
    await prompts.setDefaults(user="u1")
    await prompts.setDefaults(user="u2")
    assert await prompts.deleteAllFor(user="u1") == {}
    assert await prompts._prompts(user="u1") == []
    assert await texts(prompts, "u2") == list(DEFAULT_PROMPTS)
    assert "prompts" in await prompts.setDefaults(user="u1")  # a fresh start is possible


async def test_prompts_query_is_empty_for_a_user_who_never_set_any(prompts: Prompts) -> None:
    assert await prompts._prompts(user="nobody") == []
    assert await prompts._promptList(user="nobody") == []


async def test_prompt_list_is_one_row_with_the_whole_list_for_syncs(prompts: Prompts) -> None:
    await prompts.setPrompts(user="u1", prompts=["A", "B", "C"])
    assert await prompts._promptList(user="u1") == [{"prompts": ["A", "B", "C"]}]


def test_prompt_text_is_private_in_the_action_log(prompts: Prompts) -> None:
    ops = describe_operations(prompts)
    for name in ("setDefaults", "setPrompts", "movePrompt"):
        assert "prompts" in ops[name].private


# -- private at rest ---------------------------------------------------------------------


async def test_prompts_are_stored_only_as_one_token_for_their_owner(prompts, encryptor):
    await prompts.setDefaults(user="u1")
    await prompts.setPrompts(user="u1", prompts=["How did the heron fly?", "Why tea?"])
    await prompts.movePrompt(user="u1", fromPosition=2, toPosition=1)
    doc = await prompts.collection("prompts").find_one({"_id": "u1"})
    assert "heron" not in str(doc) and "tea" not in str(doc)
    opened = encryptor.decrypt(doc["prompts"], user="u1", field="Prompts.prompts")
    assert opened == '["Why tea?", "How did the heron fly?"]'
    assert await texts(prompts, "u1") == ["Why tea?", "How did the heron fly?"]
    assert await prompts._promptList(user="u1") == [
        {"prompts": ["Why tea?", "How did the heron fly?"]}
    ]
