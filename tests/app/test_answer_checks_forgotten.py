"""AnswerCheck's verdicts name a call, not its user: they are forgotten when the call ends,
and with the account (issue 13: forgetCall was never invoked, and deletion left them)."""

from __future__ import annotations

import datetime as dt

from services.devtools.callees import HangUpAfter, ScriptedCallee
from tests.api_client import PASSWORD
from tests.app.conftest import Service

ANSWERS = ["I was grateful for my sister's call.", "A long walk.", "Rest more."]


async def judgements(service: Service, sid: str) -> int:
    return await service.engine.db["AnswerCheck_judgements"].count_documents({"callSid": sid})


async def test_a_completed_call_leaves_no_verdicts(service: Service):
    token = await service.sign_up()
    await service.call_now(token)
    (placed,) = await service.dial_due()
    result = await service.play(placed, ScriptedCallee(ANSWERS))
    assert result.final_status == "completed", result.errors
    judged = await service.engine.db["conceptkit_actions"].count_documents(
        {"concept": "AnswerCheck", "action": "judge"}
    )
    assert judged >= len(ANSWERS), "the answers were judged"
    assert await judgements(service, placed.sid) == 0


async def test_a_call_hung_up_midway_leaves_no_verdicts(service: Service):
    token = await service.sign_up()
    await service.call_now(token)
    (placed,) = await service.dial_due()
    await service.play(placed, HangUpAfter(2, ANSWERS))
    (session,) = await service.api("ReflectionSession/_history", {}, token)
    assert session["status"] == "ABANDONED"
    assert await judgements(service, placed.sid) == 0


async def test_deleting_the_account_forgets_the_verdicts_of_its_calls(service: Service):
    token = await service.sign_up()
    await service.call_now(token)
    (placed,) = await service.dial_due()
    await service.play(placed, ScriptedCallee(ANSWERS))
    # a verdict left from before calls forgot theirs (or by a turn that came too late)
    await service.engine.db["AnswerCheck_judgements"].insert_one(
        {
            "_id": "left-over",
            "callSid": placed.sid,
            "promptIndex": 0,
            "complete": True,
            "confidence": 0.9,
            "source": "local",
            "at": dt.datetime.now(dt.UTC),
        }
    )
    await service.api("Account/delete", {"password": PASSWORD}, token)
    assert await judgements(service, placed.sid) == 0
