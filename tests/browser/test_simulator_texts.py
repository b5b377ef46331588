"""Replying to a text in the phone simulator page: the reply and the service's answer appear
in the thread, as on a phone."""

from __future__ import annotations

import re

import pytest

from syncs.texts import HELP_TEXT
from tests.browser.test_simulator_call import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    PHONE_VIEWPORT,
    chromium,  # noqa: F401  (a fixture)
    new_user,
)
from tests.simulator.world import World, running_world

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM}"),
]
assert CHROMIUM_ARGS


@pytest.fixture
async def world(mongo_uri: str):
    async with running_world(mongo_uri) as running:
        yield running


async def test_replying_to_a_text_shows_the_services_answer(world: World, chromium):  # noqa: F811
    from playwright.async_api import expect

    token = await new_user(world)
    context = await chromium.new_context(
        base_url=world.base_url, viewport=PHONE_VIEWPORT, locale="en-US"
    )
    context.set_default_timeout(10_000)
    page = await context.new_page()
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    await page.goto("/simulator")
    await page.evaluate("t => localStorage.setItem('reflection.token', t)", token)
    await page.reload()
    reply_box = page.get_by_label("Reply to the latest text, as your phone would")
    await expect(reply_box).to_be_hidden()  # no text to reply to yet
    await world.api("PhoneVerification/start", {"phoneNumber": PHONE}, token)
    code = page.locator(".messages .code").first
    await expect(code).to_have_text(re.compile(r"^\d{6}$"))
    # a reply speaks for the number: it must be yours (verified) first
    await world.api("PhoneVerification/confirm", {"code": await code.inner_text()}, token)

    await reply_box.fill("help")
    await page.get_by_role("button", name="Reply", exact=True).click()
    thread = page.locator(".messages li")
    await expect(thread.first).to_contain_text(HELP_TEXT)
    await expect(thread.nth(1)).to_contain_text(f"you replied from {PHONE}")
    await expect(thread.nth(1)).to_contain_text("help")
    await expect(reply_box).to_have_value("")
    assert js_errors == []
