"""A follow-up from yesterday: with the opt-in on, the call's greeting recalls what the user
last said to their follow-up prompt, on Gather and on ConversationRelay, and the call
script (``POST /api/Calls/script``) says the same; with it off, or with nothing to recall,
the greeting is as before. Never another user's answer."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from services.devtools.call_model import Press
from services.devtools.callees import ScriptedCallee
from tests.app.conftest import Service, running_service

PROMPTS = ["What made you smile?", "Who did you help?", "What will you carry into tomorrow?"]
ANSWERS = ["A joke.", "My neighbour.", "patience"]
RECALLED = 'Yesterday, when I asked "What will you carry into tomorrow?", you said: patience.'
HELLO = "Hi Ada. It's time for your daily reflection."


async def user_with_a_reflection(service: Service, answers: list = ANSWERS) -> str:
    """Ada, with PROMPTS, who answered a call yesterday with ``answers``."""
    token = await service.sign_up(displayName="Ada", timezone="Europe/Paris")
    await service.api("Prompts/setPrompts", {"prompts": PROMPTS}, token)
    await service.call_now(token)
    (placed,) = await service.dial_due()
    result = await service.play(placed, ScriptedCallee(answers))
    assert result.final_status == "completed", result.errors
    service.clock.advance(days=1)
    return token


async def script(service: Service, token: str) -> list[str]:
    return (await service.api("Calls/script", {}, token))["say"]


async def a_call_says(service: Service, token: str) -> list[str]:
    await service.call_now(token)
    (placed,) = await service.dial_due()
    result = await service.play(placed, ScriptedCallee(["Fine.", "Nobody.", "Rest."]))
    assert result.final_status == "completed", result.errors
    return result.said


async def greeting_twiml(service: Service, token: str) -> ET.Element:
    """The answered call's TwiML, as the voice webhook gives it to Twilio."""
    await service.call_now(token)
    (placed,) = await service.dial_due()
    call = re.search(r"call=([0-9a-f]+)", placed.answer_url).group(1)
    r = await service.webhook("voice", {"CallSid": placed.sid, "AnsweredBy": "human"}, call=call)
    assert r.status_code == 200, r.text
    return ET.fromstring(r.text)


async def test_on_the_greeting_recalls_yesterdays_answer_and_the_script_says_it_too(
    service: Service,
):
    token = await user_with_a_reflection(service)
    assert (await service.api("Profile/_getProfile", {}, token))[0]["followUp"] is False
    assert await service.api("Profile/updateFollowUp", {"enabled": True}, token) == {}
    before = await script(service, token)
    assert before[:3] == [HELLO, RECALLED, PROMPTS[0]]
    assert await a_call_says(service, token) == before  # the preview is the call


async def test_the_gather_twiml_says_the_recall_before_the_first_prompt(service: Service):
    token = await user_with_a_reflection(service)
    await service.api("Profile/updateFollowUp", {"enabled": True}, token)
    root = await greeting_twiml(service, token)
    said = [s.text for s in root.iter("Say")]
    assert said[:3] == [HELLO, RECALLED, PROMPTS[0]], ET.tostring(root)
    assert root.find("Gather") is not None


async def test_off_the_greeting_and_the_script_recall_nothing(service: Service):
    token = await user_with_a_reflection(service)
    before = await script(service, token)
    assert before[:2] == [HELLO, PROMPTS[0]]
    said = await a_call_says(service, token)
    assert said == before and not [s for s in said if "patience" in s]
    # switched on, then off again
    await service.api("Profile/updateFollowUp", {"enabled": True}, token)
    await service.api("Profile/updateFollowUp", {"enabled": False}, token)
    root = await greeting_twiml(service, token)
    assert [s.text for s in root.iter("Say")][:2] == [HELLO, PROMPTS[0]]


async def test_the_marked_prompt_is_recalled_and_a_skipped_answer_is_not(service: Service):
    token = await user_with_a_reflection(service, ["A joke.", Press("1"), "patience"])
    await service.api("Profile/updateFollowUp", {"enabled": True}, token)
    assert await service.api("Prompts/markFollowUp", {"position": 1}, token) == {"position": 1}
    assert (await script(service, token))[1] == (
        'Yesterday, when I asked "What made you smile?", you said: A joke.'
    )
    await service.api("Prompts/markFollowUp", {"position": 2}, token)  # skipped yesterday
    assert (await script(service, token))[:2] == [HELLO, PROMPTS[0]]
    (row,) = await service.api("Prompts/_followUpPrompt", {}, token)
    assert row == {"position": 2, "text": PROMPTS[1], "marked": True}
    refused = await service.api("Prompts/markFollowUp", {"position": 4}, token, expect=422)
    assert refused["errorKind"] == "invalid"
    assert (await service.api("Prompts/_followUpPrompt", {}, token)) == [row]


async def test_an_edited_typed_answer_two_days_ago_is_recalled_as_edited(service: Service):
    token = await service.sign_up(displayName="Ada", timezone="Europe/Paris")
    await service.api("Prompts/setPrompts", {"prompts": PROMPTS}, token)
    session = (await service.api("Reflection/startText", {}, token))["session"]
    for position, text in enumerate(["x", "y", "Patients, and more sleep"], start=1):
        body = {"session": session, "position": position, "text": text}
        await service.api("ReflectionSession/recordResponse", body, token)
    await service.api("ReflectionSession/completeSession", {"session": session}, token)
    edit = {"session": session, "position": 3, "text": "Patience, and more sleep"}
    await service.api("ReflectionSession/editAnswer", edit, token)
    await service.api("Profile/updateFollowUp", {"enabled": True}, token)
    service.clock.advance(days=2)
    recalled = (await script(service, token))[1]
    assert recalled.endswith(
        'when I asked "What will you carry into tomorrow?", you said: Patience, and more sleep.'
    )
    assert recalled.startswith("On ") and not recalled.startswith("Yesterday")


async def test_another_users_answer_is_never_recalled(service: Service):
    other = await user_with_a_reflection(service, ["Theirs.", "Theirs.", "their secret word"])
    assert (await script(service, other))[:2] == [HELLO, PROMPTS[0]]
    token = await service.sign_up(displayName="Ada", timezone="Europe/Paris")
    await service.api("Prompts/setPrompts", {"prompts": PROMPTS}, token)  # the same prompts
    await service.api("Profile/updateFollowUp", {"enabled": True}, token)
    before = await script(service, token)
    assert before[:2] == [HELLO, PROMPTS[0]]
    said = await a_call_says(service, token)
    assert said == before and not [s for s in said if "secret word" in s]
    # ...and once the user has a reflection of their own, it is theirs that is recalled
    service.clock.advance(days=1)
    assert (await script(service, token))[1].endswith("you said: Rest.")


async def answered_by_typing_yesterday(service: Service) -> str:
    token = await service.sign_up(displayName="Ada", timezone="Europe/Paris")
    await service.api("Prompts/setPrompts", {"prompts": PROMPTS}, token)
    session = (await service.api("Reflection/startText", {}, token))["session"]
    for position, text in enumerate(ANSWERS, start=1):
        body = {"session": session, "position": position, "text": text}
        await service.api("ReflectionSession/recordResponse", body, token)
    await service.api("ReflectionSession/completeSession", {"session": session}, token)
    service.clock.advance(days=1)
    return token


def welcome(root: ET.Element) -> str:
    relay = root.find("Connect/ConversationRelay")
    assert relay is not None, ET.tostring(root)
    return relay.get("welcomeGreeting")


async def test_the_relay_welcome_greeting_says_the_recall_when_on(mongo_uri):
    settings = {"CONVERSATION_TRANSPORT": "relay"}
    async with running_service(mongo_uri, settings=settings) as service:
        off = await answered_by_typing_yesterday(service)
        assert welcome(await greeting_twiml(service, off)) == f"{HELLO} {PROMPTS[0]}"
        on = await answered_by_typing_yesterday(service)
        await service.api("Profile/updateFollowUp", {"enabled": True}, on)
        greeting = welcome(await greeting_twiml(service, on))
        assert greeting == f"{HELLO} {RECALLED} {PROMPTS[0]}"
        assert greeting == " ".join((await script(service, on))[:3])
