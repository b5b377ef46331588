"""Prompts: which prompt is the follow-up one, whose last answer a call may recall
(docs/concepts/Prompts.md, "The follow-up prompt")."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from conceptkit import describe_operations
from concepts.prompts import Prompts
from services.app.clock import FakeClock
from services.encryption.keys import Encryptor
from tests.concepts.loop_harness import Harness

ASKED = ["How did you sleep?", "What went well?", "What will you carry into tomorrow?"]


@pytest.fixture
async def prompts(async_db, clock, encryptor) -> Prompts:
    concept = Prompts(async_db, {"clock": clock, "encryption": encryptor})
    await concept.setup()
    return concept


async def follow_up(concept: Prompts, user: str = "u1") -> dict[str, Any]:
    (row,) = await concept._followUpPrompt(user=user)
    return row


# -- principle -----------------------------------------------------------------------------


async def test_principle_the_last_prompt_until_another_is_marked_and_the_mark_follows_it(
    prompts: Prompts,
) -> None:
    await prompts.setPrompts(user="u1", prompts=ASKED)
    assert await follow_up(prompts) == {"position": 3, "text": ASKED[2], "marked": False}
    assert await prompts.markFollowUp(user="u1", position=2) == {"position": 2}
    assert await follow_up(prompts) == {"position": 2, "text": ASKED[1], "marked": True}
    await prompts.movePrompt(user="u1", fromPosition=2, toPosition=1)  # it moves with its prompt
    assert await follow_up(prompts) == {"position": 1, "text": ASKED[1], "marked": True}
    await prompts.setPrompts(user="u1", prompts=[ASKED[0], ASKED[2]])  # removed: the last again
    assert await follow_up(prompts) == {"position": 2, "text": ASKED[2], "marked": False}


# -- markFollowUp ----------------------------------------------------------------------------


async def test_mark_follow_up_with_no_position_goes_back_to_the_last(prompts: Prompts) -> None:
    await prompts.setPrompts(user="u1", prompts=ASKED)
    await prompts.markFollowUp(user="u1", position=1)
    assert await prompts.markFollowUp(user="u1") == {"position": 3}
    assert await follow_up(prompts) == {"position": 3, "text": ASKED[2], "marked": False}
    await prompts.setPrompts(user="u1", prompts=[*ASKED, "One more?"])  # the default: the new last
    assert (await follow_up(prompts))["text"] == "One more?"


async def test_the_last_prompt_marked_stays_marked_when_one_is_added(prompts: Prompts) -> None:
    await prompts.setPrompts(user="u1", prompts=ASKED)
    await prompts.markFollowUp(user="u1", position=3)
    await prompts.setPrompts(user="u1", prompts=[*ASKED, "One more?"])
    assert await follow_up(prompts) == {"position": 3, "text": ASKED[2], "marked": True}


async def test_mark_follow_up_refuses_a_position_past_the_list_and_changes_nothing(
    prompts: Prompts,
) -> None:
    await prompts.setPrompts(user="u1", prompts=ASKED[:2])
    await prompts.markFollowUp(user="u1", position=1)
    doc = await prompts.collection("prompts").find_one({"_id": "u1"})
    out = await prompts.markFollowUp(user="u1", position=3)
    assert out == {
        "error": "position 3 is out of range: you have 2 prompt(s)",
        "errorKind": "invalid",
    }
    assert await prompts.collection("prompts").find_one({"_id": "u1"}) == doc


async def test_mark_follow_up_needs_prompts(prompts: Prompts) -> None:
    out = await prompts.markFollowUp(user="u1", position=1)
    assert out == {"error": "you have no prompts yet", "errorKind": "not_found"}
    assert await prompts._followUpPrompt(user="u1") == []


def test_mark_follow_up_validation_as_http_sees_it(prompts: Prompts) -> None:
    spec = describe_operations(prompts)["markFollowUp"]
    assert spec.check_inputs({"user": "u1", "position": 5})[1] == []
    assert spec.check_inputs({"user": "u1", "position": None})[1] == []
    assert spec.check_inputs({"user": "u1"})[1] == []
    for wrong in (0, 6, "2", 1.5, True):
        assert spec.check_inputs({"user": "u1", "position": wrong})[1], wrong


async def test_a_mark_follows_its_prompt_through_a_change_of_case(prompts: Prompts) -> None:
    await prompts.setPrompts(user="u1", prompts=ASKED)
    await prompts.markFollowUp(user="u1", position=2)
    await prompts.setPrompts(user="u1", prompts=["WHAT WENT WELL?", ASKED[0]])
    assert await follow_up(prompts) == {"position": 1, "text": "WHAT WENT WELL?", "marked": True}


async def test_another_users_mark_is_their_own(prompts: Prompts) -> None:
    await prompts.setPrompts(user="u1", prompts=ASKED)
    await prompts.setPrompts(user="u2", prompts=ASKED)
    await prompts.markFollowUp(user="u1", position=1)
    assert (await follow_up(prompts, "u2"))["position"] == 3
    assert await prompts.markFollowUp(user="nobody", position=1) == {
        "error": "you have no prompts yet",
        "errorKind": "not_found",
    }


async def test_the_mark_is_a_position_the_text_stays_sealed(prompts: Prompts) -> None:
    await prompts.setPrompts(user="u1", prompts=ASKED)
    await prompts.markFollowUp(user="u1", position=2)
    doc = await prompts.collection("prompts").find_one({"_id": "u1"})
    assert doc["followUp"] == 2 and "went well" not in str(doc)
    assert "text" in describe_operations(prompts)["_followUpPrompt"].private


# -- a rule over every sequence of edits ------------------------------------------------------

POOL = ["A?", "B?", "C?", "D?", "E?", "F?"]


def key(text: str) -> str:
    return text.casefold()


class FollowUpMachine(RuleBasedStateMachine):
    """Lists set, prompts moved and marked in any order: the follow-up prompt is always the
    marked prompt (by its words, ignoring case) while it is in the list, else the last."""

    harness: Harness

    def __init__(self) -> None:
        super().__init__()
        self.db_name = f"machine_{uuid.uuid4().hex[:12]}"
        services = {"clock": FakeClock(), "encryption": Encryptor([("k1", bytes(32))])}
        self.c = Prompts(self.harness.client[self.db_name], services)
        self.prompts = ["A?", "B?"]
        self.marked: str | None = None  # the marked prompt's words, folded
        self.run(self.c.setPrompts(user="u", prompts=self.prompts))

    def run(self, coro: Any) -> Any:
        return self.harness.run(coro)

    def teardown(self) -> None:
        self.run(self.harness.client.drop_database(self.db_name))

    @rule(
        picked=st.lists(st.sampled_from(POOL), min_size=1, max_size=5, unique=True),
        shout=st.booleans(),
    )
    def set_prompts(self, picked: list[str], shout: bool) -> None:
        new = [p.lower() if shout else p for p in picked]
        assert self.run(self.c.setPrompts(user="u", prompts=new)) == {"prompts": new}
        self.prompts = new
        if self.marked not in {key(p) for p in new}:
            self.marked = None

    @rule(data=st.data())
    def move(self, data: st.DataObject) -> None:
        n = len(self.prompts)
        a, b = data.draw(st.integers(1, n)), data.draw(st.integers(1, n))
        out = self.run(self.c.movePrompt(user="u", fromPosition=a, toPosition=b))
        self.prompts.insert(b - 1, self.prompts.pop(a - 1))
        assert out == {"prompts": self.prompts}

    @rule(position=st.one_of(st.none(), st.integers(1, 5)))
    def mark(self, position: int | None) -> None:
        out = self.run(self.c.markFollowUp(user="u", position=position))
        if position is not None and position > len(self.prompts):
            assert out["errorKind"] == "invalid"
            return
        self.marked = None if position is None else key(self.prompts[position - 1])
        assert out == {"position": position or len(self.prompts)}

    @invariant()
    def the_follow_up_is_the_marked_prompt_else_the_last(self) -> None:
        keys = [key(p) for p in self.prompts]
        position = keys.index(self.marked) + 1 if self.marked else len(self.prompts)
        expected = {
            "position": position,
            "text": self.prompts[position - 1],
            "marked": self.marked is not None,
        }
        assert self.run(self.c._followUpPrompt(user="u")) == [expected]


def test_follow_up_mark_state_machine(harness: Harness) -> None:
    FollowUpMachine.harness = harness
    run_state_machine_as_test(
        FollowUpMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
