"""One whole day with the service, entirely through the browser: sign up to History.

The server is `tests.simulator.world`'s: the web server (web app + phone simulator) under
uvicorn on a real port that is its own PUBLIC_BASE_URL, and a worker engine on the same
database. Here the worker runs its real loop (`CallWorker.run`) in the test's event loop,
so it claims and dials "Call me now" on its own, as `make run`'s worker process would;
that is also why the browser is driven with Playwright's async API.

The journey: sign up in the web app -> create the profile -> ask for the phone
verification code on the Account page -> open the phone simulator in a second tab of the
same browser context (it shares the login through localStorage) and read the SMS code
there -> confirm it in the app -> edit the prompts (change one, reorder, save) -> "Call me
now" on Today -> the simulator rings -> answer -> type an answer to every prompt (one in
two parts: the service keeps listening after the first) -> goodbye -> Today says the call
is done and History shows the reflection with the edited prompts in their new order, and
plays the call's recording (streamed by the service, never the provider's URL).
Then, in a fresh browser context: a wrong password is refused on the login page, and a
second user sees an empty History and none of the first user's reflection or call.

Screenshots: test-output/screenshots/journey-*.png.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api_client import PASSWORD
from tests.simulator.world import World, running_world

from .conftest import BROWSER_TZ, CHROMIUM, CHROMIUM_ARGS, DESKTOP, SCREENSHOTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"needs Debian's Chromium at {CHROMIUM} (run `make browser-deps`)",
    ),
]
async_api = pytest.importorskip(
    "playwright.async_api", reason="browser tests need playwright (pip install playwright)"
)
expect = async_api.expect

PHONE_NUMBER = "+14155552671"
PHONE_VIEWPORT = {"width": 390, "height": 844}
GREETING = "Hi Ada. It's time for your daily reflection."
GOODBYE = "Thank you for reflecting with me today. Goodbye!"
# The defaults are: grateful, went well, carry into tomorrow. The journey changes the
# second and reorders them (see the prompts step), so the call asks these, in this order.
PROMPTS = [
    "What would you like to carry into tomorrow?",
    "What are you grateful for today?",
    "What made you smile today?",
]
# What is typed at each prompt: the second answer in two parts ("for" leaves it open).
ANSWERS = [
    ["Patience with myself."],
    ["I was grateful for", "my sister's call"],
    ["A dog chasing bubbles in the park."],
]
SAVED_ANSWERS = [" ".join(parts) for parts in ANSWERS]


def shot_path(name: str) -> str:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOTS / f"journey-{name}.png")


async def shot(page: Any, name: str) -> None:
    await page.screenshot(path=shot_path(name), full_page=True)


@pytest.fixture
async def world(mongo_uri: str) -> AsyncIterator[World]:
    async with running_world(mongo_uri) as running:
        yield running


@pytest.fixture
async def worker(world: World) -> AsyncIterator[None]:
    """The worker's own loop, claiming and dialling whatever is due (every 0.5 s at most)."""
    task = asyncio.create_task(world.worker.run(), name="journey-worker")
    try:
        yield
    finally:
        world.worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def new_context(chromium: Any, world: World, js_errors: list[str]) -> Any:
    context = await chromium.new_context(
        base_url=world.base_url,
        viewport=DESKTOP,
        locale="en-GB",
        timezone_id=BROWSER_TZ,
        color_scheme="light",
    )
    context.set_default_timeout(10_000)
    context.on("page", lambda page: page.on("pageerror", lambda exc: js_errors.append(str(exc))))
    return context


async def browser_fetch(page: Any, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """A request from inside the page with the token the app stored: what the page could do."""
    return await page.evaluate(
        """async ([method, path, body]) => {
            const {token} = JSON.parse(localStorage.getItem("reflection.session"));
            const init = {method, headers: {Authorization: `Bearer ${token}`}};
            if (body !== null) {
                init.headers["Content-Type"] = "application/json";
                init.body = JSON.stringify(body);
            }
            const response = await fetch(path, init);
            return {status: response.status, body: await response.json()};
        }""",
        [method, path, body],
    )


async def test_sign_up_verify_edit_prompts_take_the_call_and_read_history(
    world: World, worker: None, chromium: Any
) -> None:
    js_errors: list[str] = []
    context = await new_context(chromium, world, js_errors)
    app = await context.new_page()
    username = f"ada{uuid.uuid4().hex[:8]}"

    # -- sign up ---------------------------------------------------------------------------
    await app.goto("/")
    await expect(app).to_have_url(re.compile(r"/$"))
    await app.get_by_role("link", name="Create an account").click()
    await expect(app).to_have_url(re.compile(r"/signup$"))
    await app.get_by_label("Username").fill(username)
    await app.get_by_label("Password", exact=True).fill(PASSWORD)
    await app.get_by_label("Repeat the password").fill(PASSWORD)
    await shot(app, "01-signup")
    await app.get_by_role("button", name="Create account").click()

    # -- the profile -----------------------------------------------------------------------
    await expect(app).to_have_url(re.compile(r"/welcome$"))
    await expect(app.get_by_label("Time zone")).to_have_value(BROWSER_TZ)
    await app.get_by_label("What should we call you?").fill("Ada")
    await app.get_by_label("Phone number").fill(PHONE_NUMBER)
    # the call times are part of the welcome: the default is kept
    await expect(app.get_by_role("group", name="When should we call?")).to_be_visible()
    await shot(app, "02-welcome")
    await app.get_by_role("button", name="Create profile").click()

    # -- phone verification: the code arrives in the simulator tab ----------------------------
    await expect(app).to_have_url(re.compile(r"/account#phone$"))
    await expect(app.locator(".flash")).to_contain_text("Calls are planned at")
    phone_card = app.locator("#phone")
    await expect(phone_card).to_contain_text("not verified yet, so no calls will be placed")
    await phone_card.get_by_role("button", name="Send verification code").click()
    code_input = phone_card.get_by_label("6-digit code")
    await expect(code_input).to_be_focused()

    simulator_link = app.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Phone simulator"
    )
    await expect(simulator_link).to_be_visible()  # mock mode
    async with context.expect_page() as opened:
        await simulator_link.click(modifiers=["ControlOrMeta"])  # a new tab, the app tab stays
    sim = await opened.value
    await sim.set_viewport_size(PHONE_VIEWPORT)
    await sim.bring_to_front()
    await expect(sim).to_have_url(re.compile(r"/simulator$"))
    await expect(sim.locator("#numbers")).to_have_text(PHONE_NUMBER)  # logged in via the app
    sms = sim.locator("#messages > li").first
    await expect(sms).to_contain_text(f"to {PHONE_NUMBER}")
    code = sms.locator(".code")
    await expect(code).to_have_text(re.compile(r"^\d{6}$"))
    await expect(sim.get_by_text("No incoming call.")).to_be_visible()
    await shot(sim, "03-simulator-sms-code")
    texted_code = await code.inner_text()

    await app.bring_to_front()
    await code_input.fill(texted_code)
    await phone_card.get_by_role("button", name="Confirm").click()
    await expect(phone_card.locator("#phone-status")).to_contain_text("Verified")
    await expect(app.locator("#status")).to_contain_text("+1 415-555-2671 is verified")
    await shot(app, "04-phone-verified")

    # -- prompts: change the second, move the third up, the first down; save -------------------
    prompts = app.locator("#prompts")
    await prompts.get_by_label("Prompt 2", exact=True).fill(PROMPTS[2])
    await prompts.get_by_role("button", name="Move prompt 3 up").click()
    await prompts.get_by_role("button", name="Move prompt 1 down").click()
    await prompts.get_by_role("button", name="Save prompts").click()
    await expect(app.locator("#status")).to_have_text("Prompts saved.")
    for i, text in enumerate(PROMPTS, start=1):
        await expect(prompts.get_by_label(f"Prompt {i}", exact=True)).to_have_value(text)
    await prompts.scroll_into_view_if_needed()
    await app.screenshot(path=shot_path("05-prompts-saved"))  # the viewport: the prompts card

    # -- Today: "Call me now"; the worker claims and dials it --------------------------------
    await app.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    await expect(app).to_have_url(re.compile(r"/today$"))
    await expect(app.get_by_role("heading", level=1)).to_have_text("Today")
    await expect(app.locator("main")).not_to_contain_text("isn't verified")
    await app.get_by_role("button", name="Call me now").click()
    await expect(app.locator("#call-status")).to_contain_text("+1 415-555-2671")
    await shot(app, "06-call-queued")

    # -- the simulator rings; answer ----------------------------------------------------------
    await sim.bring_to_front()
    incoming = sim.get_by_role("alertdialog", name="Incoming call")
    await expect(incoming).to_be_visible(timeout=15_000)
    await expect(incoming).to_contain_text(f"calling {PHONE_NUMBER}")
    answer_button = sim.get_by_role("button", name="Answer", exact=True)
    await expect(answer_button).to_be_focused()
    await shot(sim, "07-simulator-ringing")
    await answer_button.click()
    await expect(sim.locator("#call-status")).to_have_text(re.compile(r"^Listening"))

    # the app's Today card follows the call (it refreshes every second while one is under way)
    await app.bring_to_front()
    await expect(app.locator("#call-status")).to_contain_text("On the call", timeout=10_000)
    # typing is not offered while the phone reflection is under way
    await expect(app.locator("#type")).to_contain_text("A phone reflection is in progress")
    await shot(app, "08-today-on-the-call")
    await sim.bring_to_front()

    # -- every prompt, typed; the second answer in two parts -----------------------------------
    await expect(sim.get_by_role("list", name="Conversation")).to_be_visible()
    # by id, not role: after the last answer the goodbye may end the call (and hide the live
    # screen) before the next check; the list keeps its lines, so it can still be read
    transcript = sim.locator("#transcript")
    service_lines = transcript.locator(".line.service .text")
    my_lines = transcript.locator(".line.you .text")
    call_status = sim.locator("#call-status")
    answer_box = sim.get_by_label("Your answer")
    send = sim.get_by_role("button", name="Send", exact=True)
    await expect(service_lines.first).to_have_text(GREETING)
    typed = 0
    for prompt, parts in zip(PROMPTS, ANSWERS, strict=True):
        await expect(service_lines.last).to_have_text(prompt)
        for n, part in enumerate(parts):
            await expect(call_status).to_have_text(re.compile(r"^Listening"))
            said_before = await service_lines.count()
            await answer_box.fill(part)
            await send.click()
            typed += 1
            await expect(my_lines).to_have_count(typed)
            await expect(my_lines.last).to_have_text(part)
            await expect(answer_box).to_have_value("")
            if n < len(parts) - 1:
                # an unfinished answer: the service listens again on the same prompt without
                # a word. The page renders status and transcript from one snapshot of the
                # call, so "Listening" with this answer shown (read together) means the
                # service has already replied to it.
                listening_again = await sim.wait_for_function(
                    """typed => {
                        const status = document.getElementById("call-status").textContent;
                        const mine = document.querySelectorAll("#transcript .line.you");
                        if (!status.startsWith("Listening") || mine.length !== typed) return null;
                        return document.querySelectorAll("#transcript .line.service").length;
                    }""",
                    arg=typed,
                )
                assert await listening_again.json_value() == said_before
                await expect(service_lines.last).to_have_text(prompt)
                await shot(sim, "09-simulator-keeps-listening")

    # -- goodbye ---------------------------------------------------------------------------
    ended = sim.locator("#ended")
    await expect(ended).to_be_visible(timeout=15_000)
    await expect(ended.get_by_role("status")).to_have_text(re.compile(r"said goodbye"))
    await ended.get_by_text("Conversation", exact=True).click()
    goodbye = ended.locator(".line.service .text").last
    await expect(goodbye).to_have_text(GOODBYE)
    await expect(goodbye).to_be_visible()
    await expect(sim.locator("#calls > li").first).to_contain_text("completed")
    await shot(sim, "10-simulator-goodbye")

    # -- back in the app: Today says done, History has the reflection --------------------------
    await app.bring_to_front()
    await expect(app.locator("#call-status")).to_contain_text(
        "Today's call is done", timeout=15_000
    )
    await expect(app.locator("#type")).to_contain_text("Answer today's prompts here instead")
    await shot(app, "11-today-done")
    await app.get_by_role("navigation", name="Main").get_by_role("link", name="History").click()
    await expect(app).to_have_url(re.compile(r"/history$"))
    sessions = app.locator("article.session")
    await expect(sessions).to_have_count(1)
    session = sessions.first
    await expect(session.locator(".session-meta")).to_contain_text("Phone call")
    await expect(session.locator(".session-meta")).to_contain_text("Completed")
    await expect(session.locator(".qa > li .question")).to_have_text(PROMPTS)
    await expect(session.locator(".qa > li .answer")).to_have_text(SAVED_ANSWERS)
    await shot(app, "12-history")
    first_session = await session.get_attribute("data-session")
    assert first_session

    # -- playback: the call's recording, streamed by the service, plays in History --------------
    play = session.get_by_role("button", name="Play the recording")
    for _ in range(40):  # the recording callback may land just after the call's end
        if await play.count():
            break
        await asyncio.sleep(0.25)
        await app.reload()
    async with app.expect_response(re.compile(rf"/api/recordings/{first_session}$")) as fetched:
        await play.click()
    assert (await fetched.value).status == 200
    recording = session.locator("audio")
    await app.wait_for_function(
        "el => el.currentTime > 0.3 && !el.paused", arg=await recording.element_handle()
    )
    assert await recording.evaluate("el => el.src.startsWith('blob:') && el.duration > 8")
    assert "twilio" not in (await app.content()).lower()
    await shot(app, "12b-history-recording")
    (placed,) = world.worker_telephony.calls  # the one call the worker dialled
    assert placed.to == PHONE_NUMBER

    # -- a fresh browser context: a wrong login, then another user --------------------------------
    other_user = f"bob{uuid.uuid4().hex[:8]}"
    await world.api("Accounts/register", {"username": other_user, "password": PASSWORD})
    login = await world.api("Accounts/login", {"username": other_user, "password": PASSWORD})
    profile = {"displayName": "Bob", "phoneNumber": "+14155550199", "timezone": BROWSER_TZ}
    await world.api("Profile/createProfile", profile, login["token"])

    fresh = await new_context(chromium, world, js_errors)
    other = await fresh.new_page()
    await other.goto("/history")
    await expect(other).to_have_url(re.compile(r"/login$"))  # nothing shared with the first
    await other.get_by_label("Username").fill(username)
    await other.get_by_label("Password").fill("not the password")
    await other.get_by_role("button", name="Log in").click()
    await expect(other.locator(".form-error")).to_have_text("Wrong username or password.")
    await expect(other).to_have_url(re.compile(r"/login$"))
    await shot(other, "13-login-error")

    await other.get_by_label("Username").fill(other_user)
    await other.get_by_label("Password").fill(PASSWORD)
    await other.get_by_role("button", name="Log in").click()
    await expect(other).to_have_url(re.compile(r"/history$"))  # the page asked for
    await other.get_by_role("navigation", name="Main").get_by_role("link", name="History").click()
    await expect(other).to_have_url(re.compile(r"/history$"))
    await expect(other.locator("#history-empty")).to_contain_text("No reflections yet")
    await expect(other.locator("article.session")).to_have_count(0)
    await expect(other.locator("main")).not_to_contain_text("sister")
    await shot(other, "14-other-user-history")

    # the first user's reflection and call, asked for with the second user's session
    found = await browser_fetch(
        other, "POST", "/api/ReflectionSession/_session", {"session": first_session}
    )
    assert found == {"status": 200, "body": []}, found
    rated = await browser_fetch(
        other, "POST", "/api/ReflectionSession/setRating", {"session": first_session, "rating": 2}
    )
    assert rated["status"] == 404, rated
    call = await browser_fetch(other, "GET", f"/simulator/api/calls/{placed.sid}")
    assert call["status"] == 404, call
    await other.goto("/simulator")
    await expect(other.locator("#numbers")).to_have_text("+14155550199")
    await expect(other.get_by_text("No calls yet.")).to_be_visible()
    await expect(other.get_by_text("No text messages yet.", exact=False)).to_be_visible()
    await expect(other.locator("main")).not_to_contain_text(PHONE_NUMBER)

    # the first user's History is unchanged (no rating slipped in)
    await app.reload()
    await expect(app.locator("article.session .qa > li .answer")).to_have_text(SAVED_ANSWERS)
    await expect(app.locator("article.session .session-rating")).not_to_contain_text("Your day")

    assert js_errors == []
    await fresh.close()
    await context.close()
