"""The link a TYPE reply to the missed-day text sends opens Today at the typing card, focused."""

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
