"""Today and History follow a real call in Chromium: its states, missed days, the next call.

Issue 15, items 1-4. Each test runs the service as `make run` has it (tests.simulator.world:
web server with the phone simulator, a worker on the same database), so the call is dialled
by the worker and played through the real webhooks; the page is never reloaded, so what it
shows comes from its own refreshes. Playwright's clock moves the page's time forward where a
test needs a refresh or a relative time to come round ("Requested 5 minutes ago").
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.app.worker_loop import CallWorker
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

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"needs Debian's Chromium at {CHROMIUM} (make browser-deps)",
    ),
]


@pytest.fixture
async def world(mongo_uri: str):
    async with running_world(mongo_uri) as running:
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


async def signed_in_page(world: World, chromium, token: str, path: str, *, clock: bool = False):
    """A page of the web app, logged in as the token's user (stored as the app stores it)."""
    context = await chromium.new_context(
        base_url=world.base_url, viewport={"width": 1100, "height": 860}, locale="en-GB"
    )
    context.set_default_timeout(10_000)
    page = await context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    if clock:
        await page.clock.install()  # the page's time flows, and can be moved forward
    await page.goto("/login")
    await page.evaluate(
        "t => localStorage.setItem('reflection.session', JSON.stringify({token: t}))", token
    )
    await page.goto(path)
    return page


async def say(world: World, token: str, sid: str, text: str) -> dict:
    """Wait for the service to listen, then say ``text``; returns the call as it was."""
    view = await world.until_call(token, sid, lambda c: c["ended"] or c["listening"])
    assert not view["ended"], view
    await world.sim("POST", f"calls/{sid}/say", token, {"text": text})
    return await world.until_call(
        token, sid, lambda c: any(line["text"] == text for line in c["transcript"])
    )


async def test_today_shows_ringing_on_the_call_finishing_and_done(world: World, chromium):
    """Item 1."""
    from playwright.async_api import expect

    token = await world.sign_up(PHONE, includeRating=True)
    page = await signed_in_page(world, chromium, token, "/today")
    status = page.locator("#call-status")
    typing = page.locator("#type")

    await page.get_by_role("button", name="Call me now").click()
    await expect(status.locator(".badge")).to_have_text("Queued")

    # dialled, not answered: ringing, not "on the call"
    (placed,) = await world.dial_due()
    await expect(status.locator(".badge")).to_have_text("Ringing")
    await expect(status).to_contain_text("Your phone is ringing")
    await expect(typing).not_to_contain_text("in progress")
    await expect(typing.get_by_role("button", name=re.compile("by typing"))).to_be_visible()

    # answered: on the call, at its prompt
    await world.sim("POST", f"calls/{placed.sid}/answer", token)
    await expect(status.locator(".badge")).to_have_text("On the call")
    await expect(status).to_contain_text("prompt 1 of 3")
    await expect(typing).to_contain_text("A phone reflection is in progress")
    for n, answer in enumerate(["My sister called.", "A walk.", "Sleep early."], 1):
        await say(world, token, placed.sid, answer)
        if n < 3:
            await expect(status).to_contain_text(f"prompt {n + 1} of 3")

    # every prompt answered, the rating question asked: finishing
    await expect(status.locator(".badge")).to_have_text("Finishing")
    await expect(status.get_by_role("button", name="Cancel this call")).to_have_count(0)
    await say(world, token, placed.sid, "plus one")

    await expect(status.locator(".badge")).to_have_text("Done")
    await expect(status).to_contain_text("Today's call is done")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "today-call-done.png"), full_page=True)
    assert page.js_errors == []


async def test_a_missed_day_reads_in_plain_words_on_today_history_and_the_simulator(
    world: World, chromium
):
    """Item 2: declined, no answer, voicemail; the missed day in History with its attempts."""
    from playwright.async_api import expect

    token = await world.sign_up(PHONE, maxRetries=3)
    page = await signed_in_page(world, chromium, token, "/today")
    status = page.locator("#call-status")
    await page.get_by_role("button", name="Call me now").click()
    await expect(status.locator(".badge")).to_have_text("Queued")

    scheduled = (await world.api("CallScheduler/_upcoming", {}, token))[0]["scheduledCall"]
    for attempt, decision in enumerate(["decline", "ignore", "voicemail"], 1):
        (placed,) = await world.dial_due()
        await world.until_call(token, placed.sid, lambda c: c["phase"] == "ringing")
        await world.sim("POST", f"calls/{placed.sid}/{decision}", token)
        await world.until_call(token, placed.sid, lambda c: c["ended"])
        await world.scheduled(token, scheduled, lambda r, n=attempt: len(r["attemptLog"]) == n)
        if attempt == 1:
            # the retry says what happened: not "nobody answered"
            await expect(status).to_contain_text(
                "We couldn't reach you (you declined the call, or the line was busy), so we'll try"
            )
            await expect(status).not_to_contain_text("Nobody answered")

    await expect(status.locator(".badge")).to_have_text("Missed", timeout=15_000)
    await expect(status).to_contain_text("We couldn't reach you today: we tried 3 times.")
    attempts = status.get_by_role("list", name="Attempts").get_by_role("listitem")
    await expect(attempts).to_have_count(3)
    await expect(attempts.nth(0)).to_contain_text("You declined the call, or the line was busy")
    await expect(attempts.nth(1)).to_contain_text("No answer")
    await expect(attempts.nth(2)).to_contain_text("It went to voicemail")
    await expect(status).not_to_contain_text("attempt(s)")
    await expect(status).not_to_contain_text("VOICEMAIL")

    # History: the day appears as a missed day, with the same attempts
    await page.get_by_role("link", name="History").click()
    missed = page.locator("article.session-missed")
    await expect(missed).to_have_count(1)
    await expect(missed.locator(".badge")).to_have_text("Missed")
    await expect(missed).to_contain_text("We couldn't reach you: we tried 3 times.")
    history_attempts = missed.get_by_role("list", name="Attempts").get_by_role("listitem")
    await expect(history_attempts).to_have_text(
        [
            re.compile("You declined the call, or the line was busy$"),
            re.compile("No answer$"),
            re.compile("It went to voicemail$"),
        ]
    )
    await expect(page.locator("#history-empty")).to_have_count(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "history-missed-day.png"), full_page=True)

    # the phone simulator's recent calls: declined, no answer, voicemail (not "completed")
    await page.goto("/simulator")
    recent = page.locator(".calls li .status")
    await expect(recent).to_have_text(["voicemail", "no answer", "declined"])
    assert page.js_errors == []


async def test_today_and_history_agree_after_a_hang_up_midway(world: World, chromium):
    """Item 3: "Requested just now" moves on; one prompt answered, then a hang-up: "Not
    finished" on both pages, with the same words."""
    from playwright.async_api import expect

    token = await world.sign_up(PHONE)
    page = await signed_in_page(world, chromium, token, "/today", clock=True)
    status = page.locator("#call-status")
    await page.get_by_role("button", name="Call me now").click()
    await expect(status).to_contain_text("Requested just now")
    await page.clock.fast_forward("05:00")  # the card's refresh comes round
    await expect(status).to_contain_text("Requested 5 minutes ago")

    (placed,) = await world.dial_due()
    sid = placed.sid
    await world.sim("POST", f"calls/{sid}/answer", token)
    await say(world, token, sid, "My dog.")
    await world.until_call(  # the second prompt is asked
        token,
        sid,
        lambda c: c["listening"] and c["transcript"][-1]["speaker"] == "service",
    )
    await world.sim("POST", f"calls/{sid}/hangup", token)

    await expect(status.locator(".badge")).to_have_text("Not finished")
    await expect(status).to_contain_text(
        "You hung up before the last prompt (1 of 3 prompts answered)."
    )
    await expect(status).not_to_contain_text("Thank you for reflecting")

    await page.get_by_role("link", name="What you said is in History").click()
    card = page.locator("article.session")
    await expect(card).to_have_count(1)
    await expect(card.locator(".badge")).to_have_text("Not finished")
    await expect(card).to_contain_text(
        "You hung up before the last prompt (1 of 3 prompts answered)."
    )
    await expect(card).to_contain_text("My dog.")
    assert page.js_errors == []


class Ahead:
    """The worker's clock a few minutes ahead, so a call planned for the next minute is due."""

    def __init__(self, minutes: int) -> None:
        self.shift = dt.timedelta(minutes=minutes)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.shift


def zone_in_daytime(now: dt.datetime) -> str:
    """A time zone where it is daytime now (inside the 08:00-21:00 calling window)."""
    for name in ("Europe/London", "America/New_York", "Asia/Tokyo", "America/Los_Angeles"):
        if 9 <= now.astimezone(ZoneInfo(name)).hour < 20:
            return name
    return "Asia/Kolkata"  # not reached: the four cover every hour


async def test_the_next_call_after_todays_is_tomorrows(world: World, chromium):
    """Item 4: today's planned call happens while Today is open; then the next call shown
    is tomorrow's, not today's time that has passed."""
    from playwright.async_api import expect

    now = dt.datetime.now(dt.UTC)
    zone = zone_in_daytime(now)
    slot = (now + dt.timedelta(minutes=2)).astimezone(ZoneInfo(zone)).strftime("%H:%M")
    token = await world.sign_up(PHONE, timezone=zone)
    await world.api("Schedule/setDaily", {"timezone": zone, "time": slot}, token)

    page = await signed_in_page(world, chromium, token, "/today", clock=True)
    next_call = page.locator("#next-call")
    await expect(next_call).to_contain_text(f"today at {slot}")

    # the worker plans and dials today's call (its clock a little ahead: the slot is due)
    worker = CallWorker(world.worker.engine, Ahead(3), worker_id="ahead")
    assert await worker.plan_due() == 1
    assert await worker.claim_one()
    (placed,) = world.worker_telephony.calls[-1:]
    await world.sim("POST", f"calls/{placed.sid}/answer", token)
    for answer in ["My sister called.", "A walk.", "Sleep early."]:
        await say(world, token, placed.sid, answer)
    await world.until_call(token, placed.sid, lambda c: c["ended"])
    await until(
        lambda: world.api("CallScheduler/_upcoming", {}, token), lambda r: r == [], what="done"
    )

    await page.clock.fast_forward("00:40")  # the idle card's refresh comes round
    status = page.locator("#call-status")
    await expect(status.locator(".badge")).to_have_text("Done")
    await expect(next_call).to_contain_text(f"tomorrow at {slot}")
    await expect(next_call).not_to_contain_text("today")

    # History agrees: the same call, completed
    await page.get_by_role("link", name="History").click()
    await expect(page.locator("article.session .badge")).to_have_text("Completed")
    assert page.js_errors == []
