"""Error kinds read from an operation's code: what the API document lists."""

from __future__ import annotations

from typing import Any

from conceptkit import Concept, action, fail
from conceptkit._concept import ERROR_KINDS
from conceptkit._error_kinds import error_kinds_of


def _refuse_locked() -> dict[str, Any]:
    return fail("locked", "forbidden")


class Doors(Concept):
    """A toy concept whose refusals come from everywhere an author might put them."""

    @action
    async def open(self, door: str) -> dict[str, Any]:
        if door == "":
            return fail("name a door", kind="invalid")
        if door == "x":
            return _refuse_locked()
        return await self._check(door)

    async def _check(self, door: str) -> dict[str, Any]:
        if door == "gone":
            return {"error": "no such door", "errorKind": "not_found"}
        return fail("it is open already") if door == "open" else {"door": door}

    @action
    async def knock(self, door: str, how: str) -> dict[str, Any]:
        return fail("no", how)  # a kind only known at run time

    @action
    async def look(self, door: str) -> dict[str, Any]:
        return {"door": door}


def test_kinds_are_found_in_the_action_its_helpers_and_module_functions():
    assert error_kinds_of(Doors, "open") == {"invalid", "forbidden", "not_found", "conflict"}


def test_a_kind_that_is_not_a_literal_counts_as_every_kind():
    assert error_kinds_of(Doors, "knock") == set(ERROR_KINDS)


def test_an_action_that_never_refuses_has_no_kinds():
    assert error_kinds_of(Doors, "look") == frozenset()
