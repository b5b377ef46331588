"""Today's breaks in Chromium: "Call me in 10 minutes", skipping today's call (and taking it
back), pausing until a date (calls start again on their own that day) or with no end date."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from .conftest import CHROMIUM, PHONE, screenshot, sign_in_with_token

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM} (make browser-deps)"
    ),
]
expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need playwright (pip install playwright)"
).expect

PROFILE_TZ = "Pacific/Auckland"  # not the browser's zone: "today" is the profile's
NUMBER = "+14155550100"


def verified_user(live_server) -> tuple[str, dict]:
    username, login = live_server.sign_up(timezone=PROFILE_TZ)
    token = login["token"]
    live_server.api("PhoneVerification/start", {"phoneNumber": NUMBER}, token)
    live_server.api("PhoneVerification/confirm", {"code": live_server.sms_code(NUMBER)}, token)
    live_server.api("Schedule/setDaily", {"timezone": PROFILE_TZ, "time": "20:00"}, token)
    return username, login


def long_day(day: dt.date) -> str:
    """As the page writes a day: "Friday, 12 June 2026"."""
    return f"{day:%A}, {day.day} {day:%B %Y}"


def test_snooze_skip_and_pause_from_today(page, live_server, new_page):
    _, login = verified_user(live_server)
    token = login["token"]
    sign_in_with_token(page, login, "/today")
    breaks = page.locator("#breaks")
    status = page.locator("#call-status")
    expect(breaks.get_by_role("heading", name="Not now?")).to_be_visible()

    # -- "Call me in 10 minutes": a call queued for ten minutes from now
    breaks.get_by_role("button", name="Call me in 10 minutes").click()
    expect(page.locator("#status")).to_contain_text("We'll call you")
    expect(status.locator(".badge")).to_have_text("Queued")
    expect(status).to_contain_text("We'll ring")
    (queued,) = live_server.api("CallScheduler/_upcoming", {}, token)
    wait = dt.datetime.fromisoformat(queued["scheduledFor"]) - dt.datetime.fromisoformat(
        queued["createdAt"]
    )
    assert dt.timedelta(minutes=9, seconds=59) < wait <= dt.timedelta(minutes=10)
    # a waiting call: snoozing again would move it, and says so
    expect(breaks).to_contain_text("The call that's waiting moves to 10 minutes from now.")
    status.get_by_role("button", name="Cancel this call").click()
    expect(status).to_contain_text("Today's call was cancelled.")

    # -- skip today, then take it back
    breaks.get_by_role("button", name="Skip today's call").click()
    expect(breaks).to_contain_text("Today's call is skipped.")
    expect(page.locator("#next-call")).not_to_contain_text("today at")
    assert live_server.api("Schedule/_schedule", {}, token)[0]["skippedToday"] is True
    today = dt.datetime.now(ZoneInfo(PROFILE_TZ)).date()
    assert live_server.api("Schedule/_skipped", {}, token) == [{"day": today.isoformat()}]
    breaks.get_by_role("button", name="Call me today after all").click()
    expect(breaks.get_by_role("button", name="Skip today's call")).to_be_visible()
    expect(breaks).not_to_contain_text("Today's call is skipped.")
    assert live_server.api("Schedule/_schedule", {}, token)[0]["skippedToday"] is False

    # -- a holiday: paused until a date, when calls start again on their own
    back = today + dt.timedelta(days=3)
    date_input = breaks.get_by_label("Calls start again on (optional)")
    assert date_input.get_attribute("min") == (today + dt.timedelta(days=1)).isoformat()
    date_input.fill(back.isoformat())
    breaks.get_by_role("button", name="Pause calls").click()
    expect(breaks).to_contain_text(f"Your calls are paused until {long_day(back)}.")
    expect(breaks).to_contain_text("They start again on their own that day.")
    expect(page.locator("#next-call")).to_contain_text(
        f"Your daily calls are paused until {long_day(back)}."
    )
    (row,) = live_server.api("Schedule/_schedule", {}, token)
    assert (row["paused"], row["pausedUntil"]) == (True, back.isoformat())
    (nxt,) = live_server.api("Schedule/_nextCall", {}, token)
    first = dt.datetime.fromisoformat(nxt["at"]).astimezone(ZoneInfo(PROFILE_TZ))
    assert (first.date(), first.strftime("%H:%M")) == (back, "20:00")
    # Account says the same
    page.get_by_role("link", name="Account").click()
    expect(page.locator("#schedule")).to_contain_text(
        f"Daily calls are paused until {long_day(back)}."
    )
    page.get_by_role("link", name="Today").click()
    breaks = page.locator("#breaks")
    breaks.get_by_role("button", name="Resume calls now").click()
    expect(page.locator("#status")).to_contain_text("Calls resumed.")
    expect(breaks.get_by_role("button", name="Skip today's call")).to_be_visible()
    assert live_server.api("Schedule/_schedule", {}, token)[0]["paused"] is False

    # -- a pause with no end date
    breaks.get_by_role("button", name="Pause calls").click()
    expect(breaks).to_contain_text("Your calls are paused, with no end date.")
    expect(page.locator("#next-call")).to_contain_text("Your daily calls are paused.")
    assert live_server.api("Schedule/_nextCall", {}, token) == []
    screenshot(page, "today-paused")
    breaks.get_by_role("button", name="Resume calls now").click()
    expect(breaks.get_by_role("button", name="Skip today's call")).to_be_visible()
    assert page.js_errors == []

    # -- at a phone's width, nothing scrolls sideways
    small = new_page(viewport=PHONE)
    sign_in_with_token(small, login, "/today")
    expect(small.locator("#breaks").get_by_role("button", name="Skip today's call")).to_be_visible()
    width = small.evaluate("document.documentElement.scrollWidth")
    assert width <= small.evaluate("window.innerWidth")
    screenshot(small, "today-breaks-phone")
    assert small.js_errors == []


def test_snooze_without_a_verified_number_says_so_at_the_button(page, live_server):
    _, login = live_server.sign_up(timezone=PROFILE_TZ)
    live_server.api("Schedule/setDaily", {"timezone": PROFILE_TZ, "time": "20:00"}, login["token"])
    sign_in_with_token(page, login, "/today")
    breaks = page.locator("#breaks")
    breaks.get_by_role("button", name="Call me in 10 minutes").click()
    expect(breaks.locator(".snooze-form .form-error")).to_have_text(
        "Verify your phone number first."
    )
    assert live_server.api("CallScheduler/_upcoming", {}, login["token"]) == []
