"""The phone simulator page in Chromium: read the SMS code, answer the call, type every answer.

Uses its own server + worker (tests.simulator.world), not the web app's session
fixtures: the worker must run in this test's event loop, so Playwright's async API
drives the browser here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.api_client import PASSWORD
from tests.simulator.world import World, running_world, until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
PHONE = "+14155552671"
PHONE_VIEWPORT = {"width": 390, "height": 844}
ANSWERS = ["My sister called me.", "A long walk in the park.", "Go to bed earlier."]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"needs Debian's Chromium at {CHROMIUM} (make browser-deps)",
    ),
]


@pytest.fixture(params=["gather", "relay"])
async def world(mongo_uri: str, request):
    """The simulator on each conversation transport: <Gather> webhooks, or streaming over
    ConversationRelay (typed answers become prompt messages on the call's socket)."""
    settings = {"CONVERSATION_TRANSPORT": request.param}
    async with running_world(mongo_uri, settings=settings) as running:
        yield running


@pytest.fixture
async def chromium():
    async_api = pytest.importorskip(
        "playwright.async_api", reason="needs playwright (pip install playwright)"
    )
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def new_user(world: World) -> str:
    """Signed up with a profile, phone number not verified yet; returns the session token."""
    await world.api("Accounts/register", {"username": "ada", "password": PASSWORD})
    token = (await world.api("Accounts/login", {"username": "ada", "password": PASSWORD}))["token"]
    body = {"displayName": "Ada", "phoneNumber": PHONE, "timezone": "America/New_York"}
    await world.api("Profile/createProfile", body, token)
    return token


async def test_a_whole_call_in_the_simulator_page(world: World, chromium):
    from playwright.async_api import expect

    token = await new_user(world)
    context = await chromium.new_context(
        base_url=world.base_url, viewport=PHONE_VIEWPORT, locale="en-US", color_scheme="light"
    )
    context.set_default_timeout(10_000)
    page = await context.new_page()
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))

    # not logged in: a way to log in
    await page.goto("/simulator")
    await expect(page.get_by_role("link", name="Log in")).to_have_attribute("href", "/login")

    # logged in (the token where the web app keeps it): the SMS code shows up
    await page.evaluate("t => localStorage.setItem('reflection.token', t)", token)
    await page.reload()
    await expect(page.get_by_text(f"Your numbers: {PHONE}")).to_be_visible()
    await world.api("PhoneVerification/start", {"phoneNumber": PHONE}, token)
    code = page.locator(".messages .code").first
    await expect(code).to_have_text(re.compile(r"^\d{6}$"))
    await world.api("PhoneVerification/confirm", {"code": await code.inner_text()}, token)

    # "call me now"; the worker claims and dials; the phone rings
    await world.api("Calls/now", {}, token)
    (placed,) = await world.dial_due()
    incoming = page.get_by_role("alertdialog", name="Incoming call")
    await expect(incoming).to_be_visible()
    await expect(incoming).to_contain_text(f"calling {PHONE}")
    await expect(page.get_by_role("button", name="Answer", exact=True)).to_be_focused()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "simulator-incoming.png"), full_page=True)
    await page.get_by_role("button", name="Answer", exact=True).click()

    # the conversation: read each prompt, type each answer
    prompts = [p["text"] for p in await world.api("Prompts/_prompts", {}, token)]
    transcript = page.get_by_role("list", name="Conversation")
    status = page.get_by_role("status").filter(
        has_text=re.compile("Listening|speaking|Connecting|Streaming")
    )
    answer_box = page.get_by_label("Your answer")
    await expect(transcript).to_contain_text("Hi Ada. It's time for your daily reflection.")
    for i, (prompt, answer) in enumerate(zip(prompts, ANSWERS, strict=True)):
        await expect(transcript.locator(".line.service").last).to_have_text(
            re.compile(re.escape(prompt))
        )
        await expect(status).to_have_text(re.compile("^(Listening|Streaming)"))
        await answer_box.fill(answer)
        if i == 1:
            await page.screenshot(path=str(SCREENSHOTS / "simulator-mid-call.png"), full_page=True)
        await page.get_by_role("button", name="Send", exact=True).click()
        await expect(transcript.locator(".line.you").nth(i)).to_contain_text(answer)
        await expect(answer_box).to_have_value("")

    # the goodbye, then the call is over
    ended = page.locator("#ended")
    await expect(ended).to_be_visible()
    await expect(ended.get_by_role("status")).to_have_text(re.compile("said goodbye"))
    await page.get_by_text("Conversation", exact=True).click()
    await expect(ended.locator(".line.service").last).to_contain_text("Thank you for reflecting")
    await page.screenshot(path=str(SCREENSHOTS / "simulator-call-ended.png"), full_page=True)
    await expect(page.locator(".calls li").first).to_contain_text("completed")

    (session,) = await until(
        lambda: world.api("ReflectionSession/_history", {}, token),
        lambda h: h and h[0]["status"] == "COMPLETED",
        what="the reflection in History",
    )
    assert [p["answer"] for p in session["prompts"]] == ANSWERS
    assert session["method"] == "PHONE"

    await page.get_by_role("button", name="Done", exact=True).click()
    await expect(page.get_by_text("No incoming call.")).to_be_visible()
    assert js_errors == []
    assert placed.to == PHONE
    await context.close()


async def test_the_web_apps_session_key_is_understood_too(world: World, chromium):
    from playwright.async_api import expect

    token = await new_user(world)
    context = await chromium.new_context(base_url=world.base_url, viewport=PHONE_VIEWPORT)
    page = await context.new_page()
    await page.goto("/simulator")
    await page.evaluate(
        "t => localStorage.setItem('reflection.session', JSON.stringify({token: t}))", token
    )
    await page.reload()
    await expect(page.get_by_text(f"Your numbers: {PHONE}")).to_be_visible()
    await expect(page.get_by_role("link", name="Log in")).to_be_hidden()
    await context.close()
