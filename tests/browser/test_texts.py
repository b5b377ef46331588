"""The texts after a missed day in Chromium: the link a TYPE reply sends opens Today at the
typing card, and Account turns the texts off and on."""

from __future__ import annotations

import re

import pytest

from services.webhooks.texts import render_message
from syncs.texts import RepliedType

from .conftest import CHROMIUM, sign_in_with_token

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM} (make browser-deps)"
    ),
]
expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need playwright (pip install playwright)"
).expect


def texted_link(base: str) -> str:
    """The link in the reply TYPE gets, as the phone shows it."""
    (respond,) = RepliedType.then
    text = render_message(respond.inputs["output"], base)
    return re.search(r"https?://\S+?(?=</Message>)", text).group(0)


def test_the_type_link_opens_the_typing_card(page, live_server):
    _, login = live_server.sign_up()
    link = texted_link(live_server.url)
    assert link.startswith(live_server.url + "/today#")
    sign_in_with_token(page, login, link.removeprefix(live_server.url))
    heading = page.get_by_role("heading", name="Prefer typing?")
    expect(heading).to_be_focused()
    expect(
        page.get_by_role("button", name="Answer today's prompts by typing instead")
    ).to_be_visible()


def test_texts_after_a_missed_day_can_be_turned_off_on_account(page, live_server):
    _, login = live_server.sign_up()
    sign_in_with_token(page, login, "/account#texts")
    section = page.locator("#texts")
    expect(section.get_by_role("heading", name="Texts after a missed day")).to_be_visible()
    choice = section.get_by_label("Text me when I miss a day's call")
    expect(section.locator("#texts-last")).to_have_text(re.compile("No text has been sent yet"))
    expect(choice).to_be_checked()
    choice.uncheck()
    section.get_by_role("button", name="Save").click()
    expect(page.get_by_text("No more texts after a missed day.")).to_be_visible()
    assert live_server.api("TextMessages/_texting", {}, login["token"])[0]["on"] is False
    page.reload()
    expect(
        page.locator("#texts").get_by_label("Text me when I miss a day's call")
    ).not_to_be_checked()
