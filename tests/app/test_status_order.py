"""Status callbacks in any order, duplicated, give the final state of in-order delivery."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.devtools.callees import BusyCallee, ScriptedCallee
from tests.app.conftest import Service

ANSWERS = ["Friends.", "A good run.", "Early night."]
IN_ORDER: dict[str, tuple] = {}  # callee kind -> the outcome of in-order delivery


async def final_state(service: Service, callee, delivery) -> tuple:
    token = await service.sign_up(
        maxRetries=1
    )  # a missed call ends it: no retry joins the next example
    scheduled = await service.call_now(token)
    (placed,) = await service.dial_due()
    await service.play(placed, callee, status_delivery=delivery)
    (row,) = [
        r
        for r in await service.api("CallScheduler/_recent", {}, token)
        if r["scheduledCall"] == scheduled
    ]
    sessions = await service.api("ReflectionSession/_history", {}, token)
    return (
        row["status"],
        row["attempts"],
        [s["status"] for s in sessions],
        [[p["answer"] for p in s["prompts"]] for s in sessions],
    )


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
async def test_any_order_and_duplicates_of_status_callbacks_give_the_same_outcome(
    service: Service, data
):
    def deliver(held):
        order = data.draw(st.permutations(list(held)))
        extra = data.draw(st.lists(st.sampled_from(list(held)), max_size=3)) if held else []
        return [*order, *extra]

    for kind, make in (("answered", lambda: ScriptedCallee(ANSWERS)), ("busy", BusyCallee)):
        if kind not in IN_ORDER:  # in-order delivery has one outcome: played once, not per example
            IN_ORDER[kind] = await final_state(service, make(), None)
        shuffled = await final_state(service, make(), deliver)
        assert shuffled == IN_ORDER[kind]
