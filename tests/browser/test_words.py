"""Words, formats and errors in Chromium (issue 15, items 8, 9, 10 and 12).

Errors say plainly what is wrong, next to the control at fault, and link to the control
that fixes it when that is elsewhere; every clock time on a page has the reader's locale's
format; phone numbers are grouped as phonenumbers groups them; toasts never cover a
control; a browser opening a wrong address gets a page, not JSON; the API reference reads
for the people calling it and fits a phone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import phonenumbers
import pytest

from .conftest import (
    BROWSER_TZ,
    CHROMIUM,
    DESKTOP,
    SCREENSHOTS,
    LiveServer,
    sign_in_with_token,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM} (make browser-deps)"
    ),
]
expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need playwright (pip install playwright)"
).expect

PHONE_390 = {"width": 390, "height": 844}
WINDOW = "08:00\u201321:00"  # with an en dash, as the page writes a range
TWENTY_FOUR_HOUR = re.compile(r"\b(?:1[3-9]|2[0-3]):[0-5]\d\b")  # 13:00-23:59 in any text


@pytest.fixture
def us_page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A page whose reader's locale writes 12-hour times (en-US)."""
    context = browser.new_context(
        base_url=live_server.url,
        viewport=DESKTOP,
        locale="en-US",
        timezone_id=BROWSER_TZ,
        color_scheme="light",
    )
    context.set_default_timeout(8000)
    try:
        yield context.new_page()
    finally:
        context.close()


def signed_in(page: Any, live_server: LiveServer, path: str = "/account") -> str:
    """A new user with a profile (number +14155550100), the page signed in at ``path``."""
    _, login = live_server.sign_up()
    sign_in_with_token(page, login, path)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    return login["token"]


# -- item 8: plain errors, at their control, linking to the one that fixes them ----------------


def test_a_blank_prompt_is_named_plainly_and_links_to_its_remove_button(page, live_server):
    signed_in(page, live_server)
    prompts = page.locator("#prompts")
    prompts.get_by_role("button", name="Add a prompt").click()
    prompts.get_by_role("button", name="Save prompts").click()
    error = prompts.locator(".prompt-item").nth(3).locator(".field-error")
    expect(error).to_have_text("Prompt 4 is empty. Write a question, or remove it.")
    new_prompt = prompts.get_by_label("Prompt 4", exact=True)
    expect(new_prompt).to_have_attribute("aria-invalid", "true")
    expect(new_prompt).to_be_focused()
    expect(prompts).not_to_contain_text("characters")
    error.get_by_role("link", name="remove it").click()
    expect(prompts.get_by_role("button", name="Remove prompt 4")).to_be_focused()


def test_the_api_says_an_empty_value_in_words_never_1_characters(live_server):
    _, login = live_server.sign_up()
    body = {"prompts": ["What went well?", "  "]}
    answer = live_server.api("Prompts/setPrompts", body, login["token"], expect=422)
    assert [d["msg"] for d in answer["detail"]] == ["must not be empty"]


def test_a_late_daily_time_is_refused_at_its_field_with_a_link_to_the_consent(page, live_server):
    signed_in(page, live_server)
    schedule = page.locator("#schedule")
    daily = schedule.locator(".daily-form")
    daily.get_by_label("Time").fill("22:30")
    daily.get_by_role("button", name="Use this time every day").click()
    time_input = daily.get_by_label("Time")
    expect(time_input).to_have_attribute("aria-invalid", "true")
    error = daily.locator(".field-error")
    expect(error).to_have_text(
        f"22:30 is outside {WINDOW}, the hours we call in. Change it, or allow calls "
        "outside these hours."
    )
    expect(daily).not_to_contain_text("Monday")  # one time, not a list of every weekday
    expect(daily.locator(".form-error")).to_be_hidden()
    # the link takes the reader to the checkbox, wherever it is on the page
    error.get_by_role("link", name="allow calls outside these hours").click()
    consent = schedule.get_by_label(f"Also allow calls outside {WINDOW}")
    expect(consent).to_be_focused()
    expect(consent).to_be_in_viewport()
    consent.check()
    daily.get_by_role("button", name="Use this time every day").click()
    expect(page.locator("#status")).to_have_text("Calls set for 22:30 every day.")
    expect(schedule.locator("#schedule-next")).to_contain_text("22:30")


def test_weekly_times_outside_the_window_are_named_by_day_with_the_fix_linked(page, live_server):
    signed_in(page, live_server)
    schedule = page.locator("#schedule")
    schedule.get_by_label("No call on Monday").uncheck()
    schedule.get_by_role("textbox", name="Monday", exact=True).fill("07:15")
    schedule.get_by_label("No call on Friday").uncheck()
    schedule.get_by_role("textbox", name="Friday", exact=True).fill("22:45")
    schedule.get_by_role("button", name="Save schedule").click()
    message = schedule.locator(".weekly-form .form-error")
    expect(message).to_have_text(
        f"Monday 07:15 and Friday 22:45 are outside {WINDOW}, the hours we call in. "
        "Change them, or allow calls outside these hours."
    )
    message.get_by_role("link", name="allow calls outside these hours").click()
    expect(schedule.get_by_label(f"Also allow calls outside {WINDOW}")).to_be_focused()


def test_the_login_wait_is_said_in_the_readers_own_time_never_utc(page, live_server):
    # the server's 429 (the backoff after wrong passwords), as it answers it: the wait as data
    body = {
        "error": "too many failed attempts; try again in 2 minutes",
        "errorKind": "rate_limited",
        "retryAfter": 120,
    }
    page.route(
        "**/api/Accounts/login",
        lambda route: route.fulfill(status=429, json=body, headers={"Retry-After": "120"}),
    )
    page.goto("/login")
    page.get_by_label("Username").fill("someone")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    error = page.locator(".form-error")
    expect(error).to_have_text(
        re.compile(r"^Too many attempts\. Try again in 2 minutes \(at \d\d:\d\d\)\.$")
    )
    shown = re.search(r"at (\d\d:\d\d)", error.inner_text()).group(1)
    in_zone = page.evaluate(
        """() => new Intl.DateTimeFormat("en-GB", {hour: "2-digit", minute: "2-digit",
             timeZone: "America/New_York"}).format(new Date(Date.now() + 120000))"""
    )
    minutes = lambda hhmm: int(hhmm[:2]) * 60 + int(hhmm[3:])  # noqa: E731
    assert abs(minutes(shown) - minutes(in_zone)) % (24 * 60) <= 1  # the browser's zone
    expect(error).not_to_contain_text("UTC")


# -- item 9: one time format, the locale's; numbers grouped; toasts clear of controls ---------


def test_every_time_on_the_account_page_is_in_the_readers_12_hour_format(us_page, live_server):
    page = us_page
    signed_in(page, live_server)
    schedule = page.locator("#schedule")
    expect(schedule.get_by_label("Also allow calls outside 08:00 AM\u201309:00 PM")).to_be_visible()
    expect(schedule).to_contain_text("we only call between 08:00 AM and 09:00 PM your time")
    expect(page.locator("#call-settings")).to_contain_text("(08:00 PM stays 08:00 PM)")
    daily = schedule.locator(".daily-form")
    daily.get_by_label("Time").fill("19:30")  # the input's own value is always 24-hour
    daily.get_by_role("button", name="Use this time every day").click()
    expect(page.locator("#status")).to_have_text("Calls set for 07:30 PM every day.")
    expect(schedule.locator("#schedule-next")).to_contain_text("07:30 PM")
    text = page.locator("main").inner_text() + page.locator("#status").inner_text()
    assert not TWENTY_FOUR_HOUR.search(text), TWENTY_FOUR_HOUR.search(text).group(0)


def test_phone_numbers_are_shown_grouped(page, live_server):
    token = signed_in(page, live_server)
    phone = page.locator("#phone")
    expect(phone.locator("#phone-status")).to_contain_text("+1 415-555-0100 is not verified yet")
    number = phone.get_by_label("Phone number")
    expect(number).to_have_value("+1 415-555-0100")
    phone.get_by_role("button", name="Send verification code").click()
    expect(page.locator("#status")).to_have_text("We texted a code to +1 415-555-0100.")
    expect(phone).to_contain_text("Sent to +1 415-555-0100.")
    phone.get_by_label("6-digit code").fill(live_server.sms_code("+14155550100"))
    phone.get_by_role("button", name="Confirm").click()
    expect(phone.locator("#phone-status")).to_have_text(
        re.compile(r"^\+1 415-555-0100\s+Verified$")
    )
    # the grouped number in the field is the same number: saving it changes nothing
    phone.get_by_role("button", name="Save number").click()
    expect(page.locator("#status")).to_have_text("Saved. +1 415-555-0100 is already verified.")
    assert live_server.api("Profile/_getProfile", {}, token)[0]["phoneNumber"] == "+14155550100"
    expect(page.locator("main")).not_to_contain_text("+14155550100")


def test_format_phone_groups_every_countrys_numbers_as_phonenumbers_does(page, live_server):
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (
            phonenumbers.PhoneNumberType.FIXED_LINE,
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.TOLL_FREE,
        ):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                numbers.append(example)
    e164 = [phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164) for n in numbers]
    wanted = [
        phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.INTERNATIONAL) for n in numbers
    ]
    page.goto("/login")
    shown = page.evaluate(
        """async (numbers) => {
             const { formatPhone } = await import("/static/format.js");
             return numbers.map(formatPhone);
           }""",
        e164,
    )
    wrong = [(n, s, w) for n, s, w in zip(e164, shown, wanted, strict=True) if s != w]
    assert len(numbers) > 500 and wrong == []


def test_a_toast_never_covers_a_control(new_page, live_server):
    page = new_page(viewport=PHONE_390)
    signed_in(page, live_server)
    save = page.locator("#prompts").get_by_role("button", name="Save prompts")
    save.scroll_into_view_if_needed()
    # the button the reader presses sits at the bottom of the window, where toasts appeared
    save.evaluate("b => window.scrollBy(0, b.getBoundingClientRect().bottom - innerHeight + 16)")
    save.click()
    toast = page.locator("#status")
    expect(toast).to_have_text("Prompts saved.")
    expect(toast).to_have_class(re.compile(r"\bis-visible\b"))
    page.wait_for_function(
        "() => getComputedStyle(document.getElementById('status')).opacity === '1'"
    )
    covered = page.evaluate(
        """() => {
             const t = document.getElementById("status").getBoundingClientRect();
             const hit = [];
             for (const el of document.querySelectorAll("a[href], button, input, select, textarea, summary, label")) {
               const r = el.getBoundingClientRect();
               if (!r.width || !r.height) continue;
               if (r.left < t.right && t.left < r.right && r.top < t.bottom && t.top < r.bottom)
                 hit.push(el.outerHTML.slice(0, 80));
             }
             return hit;
           }"""
    )
    assert covered == []
    box = toast.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE_390["height"]
    page.screenshot(path=str(SCREENSHOTS / "toast-390x844.png"))  # the window, as seen


# -- item 10: a browser's wrong address is a page ----------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "heading"),
    [
        ("/nope", 404, "Page not found"),
        ("/today/extra", 404, "Page not found"),
        ("/api/Profile/_getProfile", 405, "This address is for programs"),
        ("/api/Nope/nothing", 404, "This address is for programs"),
    ],
)
def test_a_wrong_address_in_the_browser_is_a_page_with_a_way_home(
    page, live_server, path, status, heading
):
    response = page.goto(path)
    assert response.status == status
    assert response.headers["content-type"].startswith("text/html")
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.locator("main")).to_contain_text(path)
    page.screenshot(path=str(SCREENSHOTS / f"error-page-{status}.png"))
    page.get_by_role("link", name="Go to the start page").click()
    expect(page).not_to_have_url(re.compile(re.escape(path)))
    assert page.js_errors == []


def test_api_clients_still_get_json_errors(live_server):
    for path, status in [("/nope", 404), ("/api/Profile/_getProfile", 405)]:
        for accept in ("*/*", "application/json"):
            r = live_server.http.get(path, headers={"Accept": accept})
            assert r.status_code == status
            assert r.headers["content-type"].startswith("application/json")
            assert "error" in json.loads(r.text)


def test_the_error_page_escapes_the_address(page, live_server):
    page.goto("/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    expect(page.locator("main code")).to_have_text("/<script>alert(1)</script>")
    assert page.locator("main script").count() == 0


# -- item 12: the API reference --------------------------------------------------------------


def test_the_api_reference_fits_a_phone_links_home_and_speaks_to_its_callers(new_page):
    page = new_page(viewport=PHONE_390)
    page.goto("/docs")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Daily reflection calls: API reference"
    )
    routes = page.locator("#routes")
    expect(routes.locator("details").first).to_be_visible()
    routes.locator("details", has_text="/api/Accounts/login").locator("summary").first.click()
    page.screenshot(path=str(SCREENSHOTS / "docs-390x844.png"))
    # open every route at once (one click each took a round trip apiece, about 10 s under
    # load): their fields and schemas must fit too
    opened = page.evaluate(
        "() => { const closed = document.querySelectorAll('#routes > details:not([open])');"
        " closed.forEach(d => { d.open = true; }); return closed.length; }"
    )
    assert opened > 20, f"only {opened} routes were listed"
    expect(routes.locator(":scope > details:not([open])")).to_have_count(0)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_390["width"], f"the page is {width}px wide"
    text = routes.inner_text()
    for jargon in ("synchronization", "Requesting.respond", "setDefaults", "Request /"):
        assert jargon not in text, jargon
    now = routes.locator("details", has_text="/api/Calls/now")
    expect(now).to_contain_text("queue a call to your verified number")
    expect(now).to_contain_text("needs a session")
    login = routes.locator("details", has_text="/api/Accounts/login")
    expect(login.locator(".fields").first).to_contain_text("username string required")
    page.get_by_role("link", name="← Back to Daily Reflection").click()
    expect(page).not_to_have_url(re.compile(r"/docs$"))
    assert page.js_errors == []
