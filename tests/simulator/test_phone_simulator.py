"""The phone simulator end to end: worker dials, the server's simulator rings, a person answers.

Everything goes through the server over HTTP (see conftest): the worker's call reaches
the server only through the database, and the call player drives the real webhooks.
"""

from __future__ import annotations

import asyncio

from services.devtools.phone_simulator import COLLECTION
from tests.simulator.world import World, until

ADA = "+14155552671"
BOB = "+14155552672"
ANSWERS = [
    "I was grateful for my sister's call.",
    "A long walk in the park.",
    "Rest more tomorrow.",
]


async def answer_every_prompt(world: World, token: str, sid: str, answers: list[str]) -> dict:
    """Say each answer when the service listens; returns the call once it has ended."""
    heard = 0
    for text in answers:
        view = await world.until_call(
            token,
            sid,
            lambda c, h=heard: c["ended"] or (c["listening"] and len(c["transcript"]) > h),
        )
        assert not view["ended"], view
        await world.sim("POST", f"calls/{sid}/say", token, {"text": text})
        heard = len(view["transcript"]) + 1
    return await world.until_call(token, sid, lambda c: c["ended"])


async def test_the_page_and_its_status_are_served(world: World):
    r = await world.http.get("/simulator")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert (
        'src="/simulator/simulator.js"' in r.text
        and "default-src 'self'" in r.headers["content-security-policy"]
    )
    js = await world.http.get("/simulator/simulator.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    css = await world.http.get("/simulator/simulator.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert (await world.sim("GET", "status", None)) == {"mock": True}


async def test_sms_and_calls_are_recorded_and_shown_only_to_their_user(world: World):
    ada = await world.sign_up(ADA)
    bob = await world.sign_up(BOB)

    inbox = await world.sim("GET", "inbox", ada)
    assert inbox["numbers"] == [ADA]
    (sms,) = inbox["messages"]
    assert sms["to"] == ADA and sms["code"] in sms["body"]

    scheduled, sid = await world.call_now(ada)
    stored = await world.worker_db[COLLECTION].find_one({"_id": sid})
    assert stored["kind"] == "call" and stored["to"] == ADA, "the worker's bridge recorded the call"
    assert stored["answerUrl"].startswith(f"{world.base_url}/webhooks/twilio/voice")

    inbox = await until(
        lambda: world.sim("GET", "inbox", ada),
        lambda i: i["active"] == sid,
        what="the call to ring",
    )
    (call,) = inbox["calls"]
    assert call["phase"] == "ringing" and call["to"] == ADA and not call["ended"]

    # bob sees none of it and cannot touch it
    other = await world.sim("GET", "inbox", bob)
    assert other["calls"] == [] and [m["to"] for m in other["messages"]] == [BOB]
    assert (await world.sim("GET", f"calls/{sid}", bob, expect=404))["error"] == "no such call"
    for action in ("answer", "decline", "ignore", "voicemail", "say", "silence", "hangup"):
        await world.sim("POST", f"calls/{sid}/{action}", bob, {"text": "hi"}, expect=404)
    assert (await world.call(ada, sid))["phase"] == "ringing", "bob's attempts changed nothing"

    await world.sim("POST", f"calls/{sid}/decline", ada)
    await world.until_call(ada, sid, lambda c: c["ended"])
    await world.scheduled(ada, scheduled, lambda r: r["attempts"] == 1)


async def test_answering_and_speaking_every_answer_completes_the_reflection(world: World):
    token = await world.sign_up(ADA)
    scheduled, sid = await world.call_now(token)
    await world.until_call(
        token, sid, lambda c: c["phase"] == "ringing" and c["status"] == "ringing"
    )

    answered = await world.sim("POST", f"calls/{sid}/answer", token)
    assert answered["decision"] == "answer" and answered["phase"] in ("connecting", "live")
    greeting = await world.until_call(token, sid, lambda c: c["listening"])
    assert greeting["phase"] == "live" and greeting["status"] == "in-progress"
    assert greeting["transcript"][0] == {
        "speaker": "service",
        "text": "Hi Ada. It's time for your daily reflection.",
    }
    assert 0 < greeting["listenRemainingS"] <= 30
    assert greeting["streaming"] is False  # a Gather call: the page sends no partials

    # interim speech a page might still send is not an answer on a Gather
    await world.sim("POST", f"calls/{sid}/partial", token, {"text": "I was"})
    ended = await answer_every_prompt(world, token, sid, ANSWERS)
    assert (
        ended["finalStatus"] == "completed" and ended["phase"] == "ended" and ended["errors"] == []
    )
    spoken = [line["text"] for line in ended["transcript"] if line["speaker"] == "you"]
    assert spoken == ANSWERS
    assert ended["transcript"][-1]["text"].startswith("Thank you for reflecting")

    (session,) = await until(
        lambda: world.api("ReflectionSession/_history", {}, token),
        lambda h: h and h[0]["status"] == "COMPLETED",
        what="the reflection to complete",
    )
    assert session["method"] == "PHONE"
    assert [p["answer"] for p in session["prompts"]] == ANSWERS
    await world.scheduled(token, scheduled, lambda r: r["status"] == "COMPLETED")

    # what the person said lives in the server's memory only, never in the simulator's documents
    async for doc in world.worker_db[COLLECTION].find({}):
        assert "sister" not in str(doc)

    inbox = await world.sim("GET", "inbox", token)
    assert inbox["active"] is None and inbox["calls"][0]["finalStatus"] == "completed"
    await world.sim("POST", f"calls/{sid}/say", token, {"text": "hello?"}, expect=409)


async def test_staying_silent_is_heard_as_silence(world: World):
    token = await world.sign_up(ADA)
    _, sid = await world.call_now(token)
    await world.sim("POST", f"calls/{sid}/answer", token)
    first = await world.until_call(token, sid, lambda c: c["listening"])
    await world.sim("POST", f"calls/{sid}/silence", token)
    again = await world.until_call(
        token, sid, lambda c: c["listening"] and len(c["transcript"]) > len(first["transcript"])
    )
    lines = [line["text"] for line in again["transcript"]]
    assert "(silence)" in lines and "Take your time." in lines
    await world.sim("POST", f"calls/{sid}/hangup", token)


async def test_pressing_9_on_the_keypad_ends_the_call_keeping_what_was_said(world: World):
    token = await world.sign_up(ADA)
    scheduled, sid = await world.call_now(token)
    await world.sim("POST", f"calls/{sid}/answer", token)
    await world.until_call(token, sid, lambda c: c["listening"])
    for key in ("x", "12", 9, None):
        error = await world.sim("POST", f"calls/{sid}/key", token, {"key": key}, expect=422)
        assert error["detail"][0]["loc"] == ["body", "key"]
    await world.sim("POST", f"calls/{sid}/key", token, {"key": "1"})  # skip the first prompt
    second = await world.until_call(
        token,
        sid,
        lambda c: c["listening"] and any("(pressed 1)" in x["text"] for x in c["transcript"]),
    )
    await world.sim("POST", f"calls/{sid}/say", token, {"text": "A long walk in the park."})
    await world.until_call(
        token,
        sid,
        lambda c: c["listening"] and len(c["transcript"]) > len(second["transcript"]) + 1,
    )
    await world.sim("POST", f"calls/{sid}/key", token, {"key": "9"})
    ended = await world.until_call(token, sid, lambda c: c["ended"])
    assert ended["endedBy"] == "service" and ended["finalStatus"] == "completed"

    (session,) = await until(
        lambda: world.api("ReflectionSession/_history", {}, token),
        lambda h: h and h[0]["status"] != "IN_PROGRESS",
        what="the session to end",
    )
    assert [p["answer"] for p in session["prompts"]] == ["", "A long walk in the park.", None]
    await world.scheduled(token, scheduled, lambda r: r["status"] == "COMPLETED")  # not retried


async def test_declining_makes_the_call_busy_and_it_is_retried(world: World):
    token = await world.sign_up(ADA)
    scheduled, sid = await world.call_now(token)
    await world.sim("POST", f"calls/{sid}/decline", token)
    ended = await world.until_call(token, sid, lambda c: c["ended"])
    assert ended["finalStatus"] == "busy" and ended["decision"] == "busy"
    assert ended["transcript"] == []
    await world.scheduled(
        token, scheduled, lambda r: (r["attempts"], r["status"]) == (1, "PENDING")
    )
    assert await world.api("ReflectionSession/_history", {}, token) == []

    # the retry rings again (RETRY_DELAY_SECONDS=0); this time nobody picks up
    (retry,) = await world.dial_due()
    await world.sim("POST", f"calls/{retry.sid}/ignore", token)
    assert (await world.until_call(token, retry.sid, lambda c: c["ended"]))[
        "finalStatus"
    ] == "no-answer"
    await world.scheduled(token, scheduled, lambda r: r["attempts"] == 2)


async def test_voicemail_is_hung_up_on_and_retried(world: World):
    token = await world.sign_up(ADA)
    scheduled, sid = await world.call_now(token)
    await world.sim("POST", f"calls/{sid}/voicemail", token)
    ended = await world.until_call(token, sid, lambda c: c["ended"])
    assert ended["finalStatus"] == "completed" and ended["decision"] == "voicemail"
    assert [line for line in ended["transcript"] if line["speaker"] == "service"] == []
    await world.scheduled(
        token, scheduled, lambda r: (r["attempts"], r["status"]) == (1, "PENDING")
    )


async def test_hanging_up_midway_abandons_the_reflection(world: World):
    token = await world.sign_up(ADA)
    scheduled, sid = await world.call_now(token)
    await world.sim("POST", f"calls/{sid}/answer", token)
    await world.until_call(token, sid, lambda c: c["listening"])
    await world.sim("POST", f"calls/{sid}/say", token, {"text": "My dog."})
    await world.until_call(
        token,
        sid,
        lambda c: c["listening"] and any(line["text"] == "My dog." for line in c["transcript"]),
    )
    ended = await world.sim("POST", f"calls/{sid}/hangup", token)
    assert ended["ended"] and ended["endedBy"] == "callee" and ended["finalStatus"] == "completed"

    (session,) = await until(
        lambda: world.api("ReflectionSession/_history", {}, token),
        lambda h: h and h[0]["status"] != "IN_PROGRESS",
        what="the session to end",
    )
    assert session["status"] == "ABANDONED"
    assert session["prompts"][0]["answer"] == "My dog."
    await world.scheduled(token, scheduled, lambda r: r["status"] == "COMPLETED")  # not retried
    await world.sim("POST", f"calls/{sid}/hangup", token, expect=409)


async def test_a_call_nobody_picks_up_rings_out_as_no_answer(world: World):
    world.simulator.ring_timeout_s = 1.0
    token = await world.sign_up(ADA)
    scheduled, sid = await world.call_now(token)
    ended = await world.until_call(token, sid, lambda c: c["ended"], timeout=10)
    assert ended["finalStatus"] == "no-answer"
    await world.scheduled(
        token, scheduled, lambda r: (r["attempts"], r["status"]) == (1, "PENDING")
    )
    await world.sim("POST", f"calls/{sid}/answer", token, expect=409)


async def test_cancelling_a_ringing_call_from_the_app_ends_it(world: World):
    token = await world.sign_up(ADA)
    scheduled, sid = await world.call_now(token)
    await world.until_call(token, sid, lambda c: c["status"] == "ringing")
    # the server's own mock never placed this call: the bridge hands the hang-up over
    await world.api("CallScheduler/cancel", {"scheduledCall": scheduled}, token)
    ended = await world.until_call(token, sid, lambda c: c["ended"])
    assert ended["finalStatus"] == "canceled"
    await world.scheduled(token, scheduled, lambda r: r["status"] == "CANCELLED")


async def test_unauthenticated_requests_are_refused(world: World):
    token = await world.sign_up(ADA)
    _, sid = await world.call_now(token)
    for method, path in [
        ("GET", "inbox"),
        ("GET", f"calls/{sid}"),
        ("POST", f"calls/{sid}/answer"),
        ("POST", f"calls/{sid}/say"),
    ]:
        body = await world.sim(method, path, None, expect=401)
        assert "log in" in body["error"]
        body = await world.sim(method, path, "not-a-session", expect=401)
        assert "expired" in body["error"]
    assert (await world.call(token, sid))["phase"] == "ringing"


async def test_bad_requests_get_json_errors(world: World):
    token = await world.sign_up(ADA)
    _, sid = await world.call_now(token)
    await world.sim("GET", "calls/CA123", token, expect=404)
    await world.sim("GET", "calls/CA" + "0" * 32, token, expect=404)
    assert (await world.sim("POST", f"calls/{sid}/dance", token, expect=404))["error"].startswith(
        "no such action"
    )
    assert (await world.sim("GET", f"calls/{sid}/answer", token, expect=405))["error"]
    assert (
        "not been answered"
        in (await world.sim("POST", f"calls/{sid}/say", token, {"text": "hi"}, expect=409))["error"]
    )
    await world.sim("POST", f"calls/{sid}/hangup", token, expect=409)

    await world.sim("POST", f"calls/{sid}/answer", token)
    assert (await world.sim("POST", f"calls/{sid}/answer", token, expect=409))[
        "error"
    ] == "the phone is no longer ringing"
    await world.sim("POST", f"calls/{sid}/decline", token, expect=409)
    for body, kind in [
        ({}, "missing"),
        ({"text": 5}, "type_error"),
        ({"text": "   "}, "value_error"),
        ({"text": "x" * 2001}, "value_error"),
    ]:
        error = await world.sim("POST", f"calls/{sid}/say", token, body, expect=422)
        assert error["detail"][0]["loc"] == ["body", "text"] and error["detail"][0]["type"] == kind
    r = await world.http.post(
        f"/simulator/api/calls/{sid}/say",
        content=b"{nope",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and "error" in r.json()
    await world.until_call(token, sid, lambda c: c["listening"])
    await world.sim("POST", f"calls/{sid}/hangup", token)


async def test_a_call_answered_before_the_server_noticed_it_still_connects(world: World):
    """Answer clicked the moment the call is recorded: the decision waits in the database."""
    token = await world.sign_up(ADA)
    await world.api("Calls/now", {}, token)
    claim = asyncio.ensure_future(world.dial_due())
    (placed,) = await claim
    await world.sim("POST", f"calls/{placed.sid}/answer", token)
    view = await world.until_call(token, placed.sid, lambda c: c["listening"])
    assert view["transcript"][0]["text"].startswith("Hi Ada.")
    await world.sim("POST", f"calls/{placed.sid}/hangup", token)
