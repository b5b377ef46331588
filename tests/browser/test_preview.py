"""Account's "Hear your call" in Chromium (issue 16): the browser reads out what a call says.

Headless Chromium has no voices (every utterance fails at once), so a spy wraps
``speechSynthesis.speak`` and records each utterance before handing it to the real one. A
second journey needs a voice that takes its time, to stop it midway: there the page gets a
stand-in voice that speaks one line per ``__voice.next()``, as a browser's speech engine
would (``speechSynthesis`` is the browser's, not the app's). The words must be exactly what
the server's ``Calls/script`` gives, which tests/app/test_call_script.py holds equal to
what a real call says.
"""

from __future__ import annotations

import pytest

from syncs.wording import GOODBYE, RATING_QUESTION, TRANSITIONS

from .conftest import screenshot, sign_in_with_token

pytestmark = [pytest.mark.browser]
expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need playwright (pip install playwright)"
).expect

PROMPTS = ["What made you smile?", "Who did you help?", "What will you try tomorrow?"]

SPY = """
window.__spoken = [];
window.__cancels = 0;
const realSpeak = speechSynthesis.speak.bind(speechSynthesis);
const realCancel = speechSynthesis.cancel.bind(speechSynthesis);
speechSynthesis.speak = (u) => { window.__spoken.push(u.text); realSpeak(u); };
speechSynthesis.cancel = () => { window.__cancels += 1; realCancel(); };
"""

# A voice that says one queued line each time the test calls __voice.next().
VOICE = """
window.__spoken = [];
window.__cancels = 0;
const queue = [];
const fire = (u, type, extra = {}) => u.dispatchEvent(Object.assign(new Event(type), extra));
window.__voice = {
  next() {
    const u = queue.shift();
    if (!u) return false;
    fire(u, "end");
    if (queue[0]) fire(queue[0], "start");
    return true;
  },
};
speechSynthesis.speak = (u) => {
  window.__spoken.push(u.text);
  queue.push(u);
  if (queue.length === 1) fire(u, "start");
};
speechSynthesis.cancel = () => {
  window.__cancels += 1;
  for (const u of queue.splice(0)) fire(u, "error", { error: "interrupted" });
};
"""

NO_SPEECH = "delete window.speechSynthesis; delete window.SpeechSynthesisUtterance;"


def user_with_a_rating(live_server) -> tuple[dict, list[str]]:
    _, login = live_server.sign_up()
    token = login["token"]
    live_server.api("Prompts/setPrompts", {"prompts": PROMPTS}, token)
    live_server.api("Profile/updateNamePronunciation", {"namePronunciation": "Grayss"}, token)
    live_server.api("Profile/updateRatingPreference", {"includeRating": True}, token)
    return login, live_server.api("Calls/script", {}, token)["say"]


def spoken(page) -> list[str]:
    return page.evaluate("window.__spoken")


def test_hearing_the_call_speaks_the_servers_script_in_order(page, live_server):
    login, script = user_with_a_rating(live_server)
    assert script == [
        "Hi Grayss. It's time for your daily reflection.",
        PROMPTS[0],
        TRANSITIONS[1],
        PROMPTS[1],
        TRANSITIONS[2],
        PROMPTS[2],
        RATING_QUESTION,
        GOODBYE,
    ]
    page.add_init_script(SPY)
    sign_in_with_token(page, login, "/account")
    preview = page.locator("#preview")
    expect(preview.get_by_role("heading", name="Hear your call")).to_be_visible()
    page.get_by_role("navigation", name="Account sections").get_by_role(
        "link", name="Hear your call"
    ).click()

    preview.get_by_role("button", name="Hear your call").click()
    lines = preview.get_by_role("list", name="What your call says").locator("li")
    expect(lines).to_have_text(script)
    page.wait_for_function(f"window.__spoken.length === {len(script)}")
    assert spoken(page) == script
    # no voice in headless Chromium: the real engine fails, and the page says so
    expect(page.locator("#status")).to_contain_text("could not read it aloud")
    expect(preview.get_by_role("button", name="Stop")).to_be_hidden()
    screenshot(page, "preview-script")

    # the saved pronunciation is what the call says, so it is what is heard next
    page.get_by_label("Name pronunciation (optional)").fill("Gray-ce")
    page.locator("#profile").get_by_role("button", name="Save").click()
    expect(page.locator("#status")).to_contain_text("Saved.")
    page.evaluate("window.__spoken = []")
    preview.get_by_role("button", name="Hear your call").click()
    expect(lines.first).to_have_text("Hi Gray-ce. It's time for your daily reflection.")
    page.wait_for_function(f"window.__spoken.length === {len(script)}")
    assert spoken(page) == ["Hi Gray-ce. It's time for your daily reflection.", *script[1:]]


def test_stop_ends_the_call_midway(page, live_server):
    login, script = user_with_a_rating(live_server)
    page.add_init_script(VOICE)
    sign_in_with_token(page, login, "/account")
    preview = page.locator("#preview")
    lines = preview.get_by_role("list", name="What your call says").locator("li")
    stop = preview.get_by_role("button", name="Stop")

    preview.get_by_role("button", name="Hear your call").click()
    expect(stop).to_be_visible()
    expect(lines.nth(0)).to_have_attribute("aria-current", "true")
    assert spoken(page) == script  # all queued, in order
    page.evaluate("__voice.next()")
    expect(lines.nth(1)).to_have_attribute("aria-current", "true")
    expect(lines.nth(0)).not_to_have_attribute("aria-current", "true")

    cancels = page.evaluate("window.__cancels")
    stop.click()
    expect(stop).to_be_hidden()
    expect(page.locator("#status")).to_contain_text("Stopped.")
    assert page.evaluate("window.__cancels") == cancels + 1
    expect(preview.locator("li[aria-current]")).to_have_count(0)
    assert page.evaluate("__voice.next()") is False  # nothing left to say

    # heard to the end, the Stop control goes away on its own
    preview.get_by_role("button", name="Hear your call").click()
    expect(stop).to_be_visible()
    for _ in script:
        page.evaluate("__voice.next()")
    expect(stop).to_be_hidden()
    expect(page.locator("#status")).not_to_contain_text("could not read it aloud")


def test_without_speech_the_words_are_shown_instead(page, live_server):
    login, script = user_with_a_rating(live_server)
    page.add_init_script(NO_SPEECH)
    sign_in_with_token(page, login, "/account")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Your browser cannot read text aloud")
    expect(preview.get_by_role("button", name="Hear your call")).to_have_count(0)
    expect(page.get_by_role("button", name="Hear it")).to_have_count(0)  # the name's, too
    preview.get_by_role("button", name="Show your call").click()
    expect(preview.get_by_role("list", name="What your call says").locator("li")).to_have_text(
        script
    )
