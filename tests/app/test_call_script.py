"""``POST /api/Calls/script``: what the web app reads aloud is what a real call says.

Each test drives a whole call through the webhooks (the call player, as Twilio would) and
compares everything the caller heard with the script the route gave beforehand.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.devtools.callees import ScriptedCallee
from syncs.wording import GOODBYE, RATING_QUESTION, TRANSITIONS, call_script
from tests.app.conftest import Service

PROMPTS = ["What made you smile?", "Who did you help?", "What will you try tomorrow?"]
FIVE = [*PROMPTS, "What did you learn?", "What are you grateful for?"]


async def script(service: Service, token: str) -> list[str]:
    return (await service.api("Calls/script", {}, token))["say"]


async def what_a_call_says(service: Service, token: str, answers: list[str]) -> list[str]:
    await service.call_now(token)
    (placed,) = await service.dial_due()
    result = await service.play(placed, ScriptedCallee(answers))
    assert result.final_status == "completed", result.errors
    return result.said


async def test_the_script_is_what_the_call_says_with_the_pronunciation(service: Service):
    token = await service.sign_up(namePronunciation="Ah-dah")
    await service.api("Prompts/setPrompts", {"prompts": PROMPTS}, token)
    before = await script(service, token)
    assert before == [
        "Hi Ah-dah. It's time for your daily reflection.",
        PROMPTS[0],
        TRANSITIONS[1],
        PROMPTS[1],
        TRANSITIONS[2],
        PROMPTS[2],
        GOODBYE,
    ]
    said = await what_a_call_says(service, token, ["A joke.", "My neighbour.", "Running."])
    assert said == before
    # the script's answer, like the profile it is made from, is kept nowhere in the clear
    db = service.engine.db
    for collection in await db.list_collection_names():
        async for doc in db[collection].find({}):
            assert "Ah-dah" not in str(doc) and PROMPTS[1] not in str(doc), collection


async def test_with_a_rating_five_prompts_and_the_display_name(service: Service):
    token = await service.sign_up(displayName="Grace", includeRating=True)
    await service.api("Prompts/setPrompts", {"prompts": FIVE}, token)
    await service.api("Prompts/movePrompt", {"fromPosition": 5, "toPosition": 1}, token)
    before = await script(service, token)
    assert before[:2] == ["Hi Grace. It's time for your daily reflection.", FIVE[4]]
    assert before[-2:] == [RATING_QUESTION, GOODBYE]
    answers = ["Family.", "Work went well.", "My sister.", "Patience.", "Sleep early.", "plus one"]
    said = await what_a_call_says(service, token, answers)
    assert said == before


async def test_the_script_follows_the_saved_profile(service: Service):
    token = await service.sign_up(displayName="Ada")
    assert (await script(service, token))[0].startswith("Hi Ada.")
    await service.api("Profile/updateNamePronunciation", {"namePronunciation": "Ay-da"}, token)
    await service.api("Profile/updateRatingPreference", {"includeRating": True}, token)
    after = await script(service, token)
    assert after[0].startswith("Hi Ay-da.") and after[-2:] == [RATING_QUESTION, GOODBYE]


async def test_no_script_without_a_profile(service: Service):
    await service.api("Accounts/register", {"username": "noprofile", "password": "a long password"})
    login = {"username": "noprofile", "password": "a long password"}
    token = (await service.api("Accounts/login", login))["token"]
    refused = await service.api("Calls/script", {}, token, expect=409)
    assert refused["error"] == "create your profile first"
    await service.api("Calls/script", {}, None, expect=401)


@given(
    st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=5, unique=True),
    st.booleans(),
)
def test_call_script_asks_every_prompt_once_in_order(prompts: list[str], rating: bool):
    said = call_script("Ada", prompts, rating)
    assert said[1::2][: len(prompts)] == prompts  # a prompt after each greeting or transition
    assert said[2 : 2 * len(prompts) : 2] == [
        TRANSITIONS[i % len(TRANSITIONS)] for i in range(1, len(prompts))
    ]
    assert said[2 * len(prompts) :] == ([RATING_QUESTION] if rating else []) + [GOODBYE]
