"""History by day in Chromium (issue 16): the month calendar with its streaks, its list and
its ratings chart, moving by month, and the week's look-back.

The server runs with a fake clock (and a worker on its event loop), so ten days of March 2026
in New York happen in a second: typed reflections, a call cancelled, one left unfinished, a
planned call the service was down for. The page's own clock is set to the same morning.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import httpx
import pytest

from services.app.adapters import adapters_for
from services.app.assembly import server_app
from services.app.clock import FakeClock
from services.app.config import load_config
from services.app.worker_loop import CallWorker
from services.devtools.mock_completion import MockCompletionChecker
from services.storage.database import make_client
from services.storage.embedded_mongo import free_port
from services.telephony.mock import MockTelephony
from tests.browser.conftest import PASSWORD, PHONE, SCREENSHOTS, LiveServer, with_webapp

pytestmark = pytest.mark.browser

NY = ZoneInfo("America/New_York")
NUMBER = "+14155550177"
THREE = ["Rain on the window.", "A long walk.", "Sleep early."]


def local(day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=NY).astimezone(dt.UTC)


@attrs.define
class ClockedServer:
    live: LiveServer
    clock: FakeClock
    loop: asyncio.AbstractEventLoop
    worker: CallWorker

    def run(self, coro: Any) -> Any:
        """Run a coroutine of the server's (the worker's) on the server's own loop."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)


@pytest.fixture(scope="module")
def clocked(mongo_uri: str) -> Iterator[ClockedServer]:
    import uvicorn

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    db_name = f"browser_cal_{uuid.uuid4().hex[:12]}"
    config = load_config(
        {
            "MONGODB_URI": mongo_uri,
            "DB_NAME": db_name,
            "USE_MOCKS": "true",
            "PUBLIC_BASE_URL": base,
            "ENCRYPTION_KEYS": "k1:" + "C" * 43 + "=",
            "RETRY_DELAY_SECONDS": "0",
        },
        env_file=None,
    )
    clock = FakeClock(local(2, 9))
    telephony = MockTelephony(seed=16)
    services = adapters_for(
        config, clock=clock, telephony=telephony, completion=MockCompletionChecker()
    )
    app = with_webapp(server_app(config, services))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    loops: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        loops.append(asyncio.get_running_loop())
        await server.serve()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    worker = CallWorker(app.state.concept_app.engine, clock, worker_id="calendar-test")
    try:
        with httpx.Client(base_url=base, timeout=20) as http:
            yield ClockedServer(LiveServer(base, telephony, http), clock, loops[0], worker)
    finally:
        server.should_exit = True
        thread.join(15)
        client = make_client(mongo_uri)
        try:
            client.drop_database(db_name)
        finally:
            client.close()


def typed(live: LiveServer, token: str, answers: list[str], finish: bool = True) -> str:
    session = live.api("Reflection/startText", {}, token)["session"]
    for position, text in enumerate(answers, 1):
        body = {"session": session, "position": position, "text": text}
        live.api("ReflectionSession/recordResponse", body, token)
    if finish:
        live.api("ReflectionSession/completeSession", {"session": session}, token)
    else:
        body = {"session": session, "reason": "discarded in the web app"}
        live.api("ReflectionSession/abandonSession", body, token)
    return session


def ten_days_of_march(server: ClockedServer) -> str:
    """A user's first ten days of March 2026; returns the session token, as of the 10th."""
    live, clock = server.live, server.clock
    username = f"u{uuid.uuid4().hex[:10]}"
    live.api("Accounts/register", {"username": username, "password": PASSWORD})
    token = live.api("Accounts/login", {"username": username, "password": PASSWORD})["token"]
    profile = {"displayName": "Grace", "phoneNumber": NUMBER, "timezone": "America/New_York"}
    live.api("Profile/createProfile", profile, token)
    live.api("PhoneVerification/start", {"phoneNumber": NUMBER}, token)
    live.api("PhoneVerification/confirm", {"code": live.sms_code(NUMBER)}, token)
    for day, rating in ((2, 1), (3, -1)):
        clock.set(local(day))
        session = typed(live, token, THREE)
        live.api("ReflectionSession/setRating", {"session": session, "rating": rating}, token)
    clock.set(local(4))
    call = live.api("Calls/now", {}, token)["scheduledCall"]
    live.api("CallScheduler/cancel", {"scheduledCall": call}, token)  # skipped
    clock.set(local(5))
    typed(live, token, THREE)
    clock.set(local(6))
    typed(live, token, ["Only the first one today."], finish=False)
    clock.set(local(7))
    session = typed(live, token, THREE)
    live.api("ReflectionSession/setRating", {"session": session, "rating": 2}, token)
    clock.set(local(8, 10))  # a call planned at 12:00, the service down until 15:00: missed
    live.api("Schedule/setDaily", {"timezone": "America/New_York", "time": "12:00"}, token)
    clock.set(local(8, 15))
    server.run(server.worker.plan_due())
    live.api("Schedule/pause", {}, token)
    clock.set(local(9))
    typed(live, token, THREE)
    clock.set(local(10, 8))
    return token


def signed_in(browser: Any, server: ClockedServer, token: str, viewport: dict) -> Any:
    context = browser.new_context(
        base_url=server.live.url, viewport=viewport, locale="en-GB", timezone_id="Europe/Paris"
    )
    context.set_default_timeout(8000)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    page.clock.install(time=local(10, 8))  # the page's "now" is the server's
    page.goto("/login")
    page.evaluate(
        "t => localStorage.setItem('reflection.session', JSON.stringify({token: t}))", token
    )
    return page


def test_the_month_calendar_streaks_list_chart_and_the_week(browser: Any, clocked: ClockedServer):
    from playwright.sync_api import expect

    token = ten_days_of_march(clocked)
    page = signed_in(browser, clocked, token, {"width": 1100, "height": 900})
    page.goto("/history")
    page.get_by_role("navigation", name="History views").get_by_role(
        "link", name="Calendar"
    ).click()
    expect(page).to_have_url(re.compile(r"/calendar$"))
    expect(page.locator("#month-title")).to_have_text("March 2026")
    expect(page.locator("#nav a[aria-current=page]")).to_have_text("History")

    # each day in the profile's zone (the browser is in Paris), done phone/typed or not
    states = page.locator("#month-grid td[data-date]")
    got = {
        states.nth(i).get_attribute("data-date"): states.nth(i).get_attribute("data-state")
        for i in range(states.count())
    }
    assert [got[f"2026-03-{n:02d}"] for n in range(1, 12)] == [
        "none", "done", "done", "skipped", "done", "unfinished",
        "done", "missed", "done", "none", "future",
    ]  # fmt: skip
    assert len(got) == 31
    today = page.locator('#month-grid td[aria-current="date"]')
    expect(today).to_have_attribute("data-date", "2026-03-10")
    expect(
        page.get_by_role("link", name="Monday 2 March: Done, typed, rated Good (+1)")
    ).to_be_visible()
    expect(page.get_by_role("link", name="Sunday 8 March: Missed")).to_be_visible()

    # the streaks: 2, 3, (4 skipped), 5 is the longest; the 8th ended it, the 9th began anew
    expect(page.locator("#streak-current .stat-value")).to_have_text("1 day")
    expect(page.locator("#streak-longest .stat-value")).to_have_text("3 days")

    # the list beside the grid, newest first, and the month in numbers
    items = page.locator("#month-list li")
    expect(items).to_have_count(8)
    expect(items.first).to_contain_text("Mon 9 Mar")
    expect(items.nth(1)).to_contain_text("Missed")
    expect(page.locator("#month-summary")).to_have_text(
        "This month, done: 5, missed: 1, not finished: 1, skipped: 1."
    )

    # the ratings as inline SVG: three rated days, each bar named
    chart = page.locator("svg#month-chart")
    expect(chart).to_have_attribute("role", "img")
    bars = chart.locator("rect.bar")
    expect(bars).to_have_count(3)
    assert [bars.nth(i).get_attribute("data-rating") for i in range(3)] == ["1", "-1", "2"]
    assert "Tuesday 3 March: Hard (-1)" in bars.nth(1).locator("title").text_content()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "calendar-desktop.png"), full_page=True)

    # move by month: February is empty, March has no later month yet; back comes back
    page.get_by_role("link", name="← February 2026").click()
    expect(page.locator("#month-title")).to_have_text("February 2026")
    expect(page.locator("#month-list")).to_have_text("Nothing happened this month.")
    expect(page.locator("svg#month-chart rect.bar")).to_have_count(0)
    page.get_by_role("link", name="March 2026 →").click()
    expect(page.locator("#month-title")).to_have_text("March 2026")
    expect(page.get_by_role("link", name=re.compile("April 2026"))).to_have_count(0)
    page.go_back()
    expect(page.locator("#month-title")).to_have_text("February 2026")
    page.go_back()
    expect(page.locator("#month-title")).to_have_text("March 2026")

    # a day opens its week there: each day's answers, the chart, the day missed
    page.get_by_role("link", name="Friday 6 March: Not finished").click()
    expect(page).to_have_url(re.compile(r"/week\?start=2026-03-02#day-2026-03-06$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your week")
    expect(page.locator("#week-range")).to_contain_text("2 March \u2013 8 March 2026")
    expect(page.locator("section.week-day")).to_have_count(7)
    friday = page.locator("#day-2026-03-06")
    expect(friday.locator(".badge")).to_have_text("Not finished")
    expect(friday).to_contain_text("Only the first one today.")
    expect(friday).to_contain_text("You discarded it (1 of 3 prompts answered).")
    expect(page.locator("#day-2026-03-06 h2")).to_be_focused()
    monday = page.locator("#day-2026-03-02")
    expect(monday.locator(".badge")).to_have_text("Done, typed")
    for answer in THREE:
        expect(monday).to_contain_text(answer)
    expect(monday).to_contain_text("Good (+1)")
    expect(page.locator("#day-2026-03-04")).to_contain_text("The call was called off.")
    sunday = page.locator("#day-2026-03-08")
    expect(sunday.locator(".badge")).to_have_text("Missed")
    expect(sunday).to_contain_text("the service was down at your call time (12:00)")
    expect(page.locator("#week-summary")).to_have_text("4 of 7 days so far done; missed: Sunday.")
    week_bars = page.locator("svg#week-chart rect.bar")
    expect(week_bars).to_have_count(3)
    page.screenshot(path=str(SCREENSHOTS / "week-desktop.png"), full_page=True)

    # the next week: today and days still to come, and no week after it yet
    page.get_by_role("link", name="Next week →").click()
    expect(page.locator("#week-range")).to_contain_text("9 March \u2013 15 March 2026")
    expect(page.locator("#day-2026-03-09 .badge")).to_have_text("Done, typed")
    expect(page.locator("#day-2026-03-10 h2")).to_contain_text("(today)")
    expect(page.locator("#day-2026-03-12")).to_contain_text("Still to come.")
    expect(page.get_by_role("link", name="Next week →")).to_have_count(0)
    expect(page.locator("#week-summary")).to_have_text("1 of 2 days so far done.")
    page.reload()
    expect(page.locator("#week-range")).to_contain_text("9 March \u2013 15 March 2026")
    assert page.js_errors == []


def test_the_calendar_at_phone_width_and_for_a_new_user(browser: Any, clocked: ClockedServer):
    from playwright.sync_api import expect

    clocked.clock.set(local(10, 8))
    _, login = clocked.live.sign_up(timezone="America/New_York")
    page = signed_in(browser, clocked, login["token"], PHONE)
    page.goto("/calendar")
    expect(page.locator("#month-title")).to_have_text("March 2026")
    expect(page.locator("#streak-current .stat-value")).to_have_text("0 days")
    expect(page.locator("#month-list")).to_have_text("Nothing happened this month.")
    grid = page.locator("#month-grid").bounding_box()
    assert grid["x"] >= 0 and grid["x"] + grid["width"] <= PHONE["width"], grid
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways: {width}px"
    page.screenshot(path=str(SCREENSHOTS / "calendar-phone.png"), full_page=True)
    page.goto("/week")
    expect(page.locator("section.week-day")).to_have_count(7)
    expect(page.locator("#week-summary")).to_have_text("0 of 2 days so far done.")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the week scrolls sideways: {width}px"
    assert page.js_errors == []
