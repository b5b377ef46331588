"""Account's "A follow-up from yesterday" in Chromium (issue 16): switched on, with a prompt
chosen, "Hear your call" says what the user last answered to it, as the server's call
script does (tests/app/test_follow_up.py holds that script equal to what a call says)."""

from __future__ import annotations

import pytest

from .conftest import screenshot, sign_in_with_token

pytestmark = [pytest.mark.browser]
expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need playwright (pip install playwright)"
).expect

PROMPTS = ["What made you smile?", "Who did you help?", "What will you try tomorrow?"]
ANSWERS = ["The heron on the pond.", "My neighbour Wilhelmina.", "An early night"]
SPY = "window.__spoken = []; speechSynthesis.speak = (u) => window.__spoken.push(u.text);"


def user_who_typed_a_reflection(live_server) -> tuple[dict, str]:
    _, login = live_server.sign_up()
    token = login["token"]
    live_server.api("Prompts/setPrompts", {"prompts": PROMPTS}, token)
    session = live_server.api("Reflection/startText", {}, token)["session"]
    for position, text in enumerate(ANSWERS, start=1):
        body = {"session": session, "position": position, "text": text}
        live_server.api("ReflectionSession/recordResponse", body, token)
    live_server.api("ReflectionSession/completeSession", {"session": session}, token)
    return login, token


def test_switching_the_follow_up_on_makes_the_call_recall_the_answer(page, live_server):
    login, token = user_who_typed_a_reflection(live_server)
    page.add_init_script(SPY)
    sign_in_with_token(page, login, "/account")
    card = page.locator("#follow-up")
    preview = page.locator("#preview")
    lines = preview.get_by_role("list", name="What your call says").locator("li")
    expect(card.get_by_role("heading", name="A follow-up from yesterday")).to_be_visible()
    switch = card.get_by_label("Begin my call with what I said last time")
    chosen = card.get_by_label("The prompt to follow up")
    expect(switch).not_to_be_checked()  # off by default
    expect(chosen).to_have_value("3")  # the last prompt until another is chosen
    expect(card).to_contain_text("Until you choose one, it is your last prompt.")

    preview.get_by_role("button", name="Hear your call").click()
    expect(lines.nth(1)).to_have_text(PROMPTS[0])  # off: nothing recalled

    switch.check()
    card.get_by_role("button", name="Save").click()
    expect(page.locator("#status")).to_contain_text("Your call will begin with what you said")
    page.evaluate("window.__spoken = []")
    preview.get_by_role("button", name="Hear your call").click()
    recalled = f'Earlier today, when I asked "{PROMPTS[2]}", you said: {ANSWERS[2]}.'
    expect(lines.nth(1)).to_have_text(recalled)
    expect(lines.nth(2)).to_have_text(PROMPTS[0])
    page.wait_for_function("window.__spoken.length > 2")
    assert page.evaluate("window.__spoken")[1] == recalled
    screenshot(page, "follow-up-on")

    # another prompt chosen: its answer is the one recalled, and the choice is kept
    chosen.select_option("1")
    card.get_by_role("button", name="Save").click()
    expect(card).to_contain_text("The call recalls your last answer to this prompt.")
    preview.get_by_role("button", name="Hear your call").click()
    expect(lines.nth(1)).to_have_text(
        f'Earlier today, when I asked "{PROMPTS[0]}", you said: {ANSWERS[0]}'
    )
    assert live_server.api("Calls/script", {}, token)["say"] == lines.all_inner_texts()
    page.reload()
    expect(page.locator("#follow-up").get_by_label("The prompt to follow up")).to_have_value("1")
    expect(
        page.locator("#follow-up").get_by_label("Begin my call with what I said last time")
    ).to_be_checked()


def test_the_choice_follows_its_prompt_when_the_prompts_are_reordered(page, live_server):
    login, token = user_who_typed_a_reflection(live_server)
    live_server.api("Prompts/markFollowUp", {"position": 2}, token)
    sign_in_with_token(page, login, "/account")
    chosen = page.locator("#follow-up").get_by_label("The prompt to follow up")
    expect(chosen).to_have_value("2")
    page.get_by_role("button", name="Move prompt 2 up").click()
    page.locator("#prompts").get_by_role("button", name="Save prompts").click()
    expect(page.locator("#status")).to_contain_text("Prompts saved.")
    expect(chosen).to_have_value("1")  # redrawn: the same prompt, now first
    expect(chosen.locator("option").first).to_have_text(f"1. {PROMPTS[1]}")
