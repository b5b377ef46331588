"""Issue 15, items 5, 13 and 14 in Chromium: History plays a call's recording; the
simulator's polls stay out of the access log; every page has an icon.

The world is `make run`'s in mock mode (tests/simulator/world.py): the worker dials, the
simulator plays the call, and its recording is the conversation made audio. History
offers "Play the recording": the page fetches the audio from the service
(``GET /api/recordings/<session>`` with the session token) and plays it in an <audio>
element; the provider's URL is nowhere in the page or in what it was sent.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from services.app.logs import setup_logging
from tests.simulator.test_simulator_recording import a_completed_call_with_its_recording
from tests.simulator.world import World, running_world, until

from .conftest import BROWSER_TZ, CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, SCREENSHOTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM}"),
]
async_api = pytest.importorskip("playwright.async_api", reason="browser tests need playwright")
expect = async_api.expect


@pytest.fixture
async def world(mongo_uri: str) -> AsyncIterator[World]:
    async with running_world(mongo_uri) as running:
        yield running


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


async def signed_in_page(chromium: Any, world: World, token: str, path: str) -> Any:
    context = await chromium.new_context(
        base_url=world.base_url, viewport=PHONE, locale="en-GB", timezone_id=BROWSER_TZ
    )
    context.set_default_timeout(10_000)
    page = await context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    await page.goto("/login")
    await page.evaluate(
        "token => localStorage.setItem('reflection.session', JSON.stringify({token}))", token
    )
    await page.goto(path)
    return page


async def playing(page: Any, audio: Any) -> dict[str, Any]:
    """Wait until the element has played some of the audio; its state then."""
    await page.wait_for_function(
        "el => el.currentTime > 0.3 && el.readyState >= 2", arg=await audio.element_handle()
    )
    return await audio.evaluate(
        "el => ({src: el.src, paused: el.paused, duration: el.duration, error: el.error})"
    )


async def test_history_plays_the_recording_streamed_by_the_service(
    world: World, chromium: Any
) -> None:
    token, session, _ = await a_completed_call_with_its_recording(world)
    page = await signed_in_page(chromium, world, token, "/history")
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    card = page.locator(f'article.session[data-session="{session}"]')
    await expect(card).to_be_visible()
    play = card.get_by_role("button", name="Play the recording")
    await expect(play).to_be_visible()
    assert await card.get_by_role("link").count() == 0  # no link to the provider any more

    async with page.expect_response(re.compile(rf"/api/recordings/{session}$")) as fetched:
        await play.click()
    response = await fetched.value
    assert response.status == 200 and response.headers["content-type"] == "audio/wav"
    audio = card.locator("audio")
    await expect(audio).to_have_attribute("aria-label", re.compile(r"^Recording of the call on "))
    state = await playing(page, audio)
    assert state["src"].startswith("blob:") and state["error"] is None
    assert not state["paused"] and state["duration"] > 8  # the whole conversation, playing
    await page.screenshot(path=str(SCREENSHOTS / "recording-history-playing.png"), full_page=True)

    # the provider's URL is in nothing the page shows, asks for, or could ask for
    assert "twilio" not in (await page.content()).lower()
    assert all(url.startswith((world.base_url, "blob:")) for url in seen), seen
    history = await page.evaluate(
        """async () => {
            const {token} = JSON.parse(localStorage.getItem("reflection.session"));
            const response = await fetch("/api/ReflectionSession/_history", {
                method: "POST",
                headers: {Authorization: `Bearer ${token}`, "Content-Type": "application/json"},
                body: "{}",
            });
            return await response.text();
        }"""
    )
    assert session in history and "recordingUrl" not in history and "twilio" not in history
    assert page.js_errors == []


async def test_a_recording_that_is_gone_says_so_beside_the_button(
    world: World, chromium: Any
) -> None:
    token, session, sid = await a_completed_call_with_its_recording(world)
    # the recording callback can beat the simulator's own bookkeeping of the ended call
    await until(
        lambda: asyncio.sleep(0, result=sid in world.simulator._finished),
        lambda over: over,
        what="the simulator to file the ended call",
    )
    world.simulator._finished.pop(sid)  # the server restarted: mock audio lives in memory
    page = await signed_in_page(chromium, world, token, "/history")
    card = page.locator(f'article.session[data-session="{session}"]')
    await card.get_by_role("button", name="Play the recording").click()
    await expect(card.get_by_role("alert")).to_have_text("This recording is no longer available.")
    await expect(card.locator("audio")).to_have_count(0)
    assert page.js_errors == []


# -- item 13: a flooded terminal -------------------------------------------------------------


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    """The server's access log as `make run` configures it (setup_logging), at INFO."""
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate) for n in names}
    access = logging.getLogger("uvicorn.access")
    saved_level = access.level
    stream = io.StringIO()
    setup_logging("INFO", "text", stream=stream)
    access.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.handlers[:], _ = saved_root
        root.setLevel(saved_root[1])
        for name, (handlers, propagate) in saved.items():
            logging.getLogger(name).handlers[:] = handlers
            logging.getLogger(name).propagate = propagate
        access.setLevel(saved_level)


async def test_the_simulator_polls_without_flooding_the_log(
    world: World, chromium: Any, access_log: io.StringIO
) -> None:
    token = await world.sign_up("+14155552671")
    page = await signed_in_page(chromium, world, token, "/simulator")
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/simulator/api/" in r.url else None)
    await expect(page.get_by_text("No incoming call.")).to_be_visible()
    await page.wait_for_function(
        "() => performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes('/simulator/api/inbox')).length >= 6"
    )
    # a poll that fails is still worth a line
    status = await page.evaluate(
        "async () => (await fetch('/simulator/api/inbox', "
        "{headers: {Authorization: 'Bearer nope'}})).status"
    )
    assert status == 401
    await page.wait_for_timeout(200)  # the last access line is written after the answer
    log = access_log.getvalue()
    requested = [line for line in log.splitlines() if "uvicorn.access" in line]
    assert any('"GET /simulator HTTP/1.1" 200' in line for line in requested), log
    assert any('"GET /simulator/api/inbox HTTP/1.1" 401' in line for line in requested), log
    answered_polls = [line for line in requested if "/simulator/api/" in line and '" 200' in line]
    assert len([url for url in polls if url.endswith("/inbox")]) >= 5
    assert answered_polls == []  # polled many times, logged never
    assert page.js_errors == []


# -- item 14: a missing icon ---------------------------------------------------------------------

ICON_OF_THE_PAGE = """async () => {
    const link = document.querySelector('link[rel~="icon"]');
    const href = link ? link.href : new URL("/favicon.ico", location.href).href;
    const response = await fetch(href);
    return {href, status: response.status, type: response.headers.get("content-type")};
}"""


@pytest.mark.parametrize("path", ["/simulator", "/docs", "/today"])
async def test_every_page_has_an_icon_and_nothing_is_missing(
    world: World, chromium: Any, path: str
) -> None:
    token = await world.sign_up("+14155552671", verify=False)
    failed: list[str] = []
    context = await chromium.new_context(base_url=world.base_url, viewport=DESKTOP)
    page = await context.new_page()
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    await page.goto("/login")
    await page.evaluate(
        "token => localStorage.setItem('reflection.session', JSON.stringify({token}))", token
    )
    await page.goto(path)
    await page.wait_for_load_state("networkidle")
    icon = await page.evaluate(ICON_OF_THE_PAGE)
    assert (icon["status"], icon["type"]) == (200, "image/svg+xml"), icon
    assert failed == []
    await context.close()
