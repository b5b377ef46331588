"""The web app in Chromium against a live server: the main journeys a person takes."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from .conftest import BROWSER_TZ, CHROMIUM, PASSWORD, PHONE, screenshot, sign_in_with_token

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM} (make browser-deps)"
    ),
]
expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need playwright (pip install playwright)"
).expect

PROFILE_TZ = "Pacific/Auckland"  # not the browser's zone: dates must follow the profile
PHONE_NUMBER = "+14155552671"


def no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"page is {width}px wide in a {viewport}px window"


def test_sign_up_verify_edit_call_type_and_read_history(page, live_server, new_page):
    username = f"ada{uuid.uuid4().hex[:8]}"

    # -- sign up
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/$"))  # the landing page
    page.get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(re.compile(r"/signup$"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    # -- first time: the profile comes before anything else
    expect(page).to_have_url(re.compile(r"/welcome$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Let's set you up")
    zone = page.get_by_label("Time zone")
    expect(zone).to_have_value(BROWSER_TZ)  # the browser's zone is preselected
    page.get_by_label("What should we call you?").fill("Ada")
    page.get_by_label("Phone number").fill("12345")
    zone.select_option(PROFILE_TZ)
    page.get_by_role("button", name="Create profile").click()
    # the API's complaint appears under the phone field, which is marked invalid
    phone = page.get_by_label("Phone number")
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field:has(input[type=tel]) .field-error")).to_contain_text(
        "international form"
    )
    phone.fill(PHONE_NUMBER)
    page.get_by_role("button", name="Create profile").click()

    # -- verify the phone with the texted code
    expect(page).to_have_url(re.compile(r"/account#phone$"))
    phone_card = page.locator("#phone")
    expect(phone_card).to_contain_text("not verified yet, so no calls will be placed")
    phone_card.get_by_role("button", name="Send verification code").click()
    code_input = phone_card.get_by_label("6-digit code")
    expect(code_input).to_be_focused()
    code_input.fill("000000")
    phone_card.get_by_role("button", name="Confirm").click()
    expect(phone_card.locator(".code-form .field-error")).to_contain_text("Wrong code")
    code_input.fill(live_server.sms_code(PHONE_NUMBER))
    phone_card.get_by_role("button", name="Confirm").click()
    expect(phone_card.locator("#phone-status")).to_contain_text("Verified")
    expect(phone_card).not_to_contain_text("not verified")
    expect(page.get_by_text("Next: verify your phone number")).to_have_count(0)  # done

    # -- prompts: move the third up twice, add one, save; a reload shows the new order
    prompts = page.locator("#prompts")
    prompts.get_by_role("button", name="Move prompt 3 up").click()
    prompts.get_by_role("button", name="Move prompt 2 up").click()
    prompts.get_by_role("button", name="Add a prompt").click()
    prompts.get_by_label("Prompt 4", exact=True).fill("What surprised you today?")
    prompts.get_by_role("button", name="Save prompts").click()
    expect(page.locator("#status")).to_have_text("Prompts saved.")
    page.reload()
    expected_prompts = [
        "What would you like to carry into tomorrow?",
        "What are you grateful for today?",
        "What went well today?",
        "What surprised you today?",
    ]
    for i, text in enumerate(expected_prompts, start=1):
        expect(page.locator("#prompts").get_by_label(f"Prompt {i}", exact=True)).to_have_value(text)

    # -- schedule: the same time every day, then no call on Sundays
    schedule = page.locator("#schedule")
    schedule.locator(".daily-form").get_by_label("Time").fill("09:30")
    schedule.get_by_role("button", name="Use this time every day").click()
    expect(schedule.locator("#schedule-next")).to_contain_text("09:30")
    expect(schedule.get_by_role("textbox", name="Wednesday", exact=True)).to_have_value("09:30")
    schedule.get_by_label("No call on Sunday").check()
    schedule.get_by_role("textbox", name="Saturday", exact=True).fill("22:15")
    schedule.get_by_role("button", name="Save schedule").click()
    # outside 08:00-21:00 without the opt-in: refused, next to Saturday
    expect(schedule.get_by_role("textbox", name="Saturday", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(schedule.locator(".weekly-form .form-error")).to_contain_text("is outside 08:00")
    schedule.get_by_role("textbox", name="Saturday", exact=True).fill("10:00")
    schedule.get_by_role("button", name="Save schedule").click()
    expect(page.locator("#status")).to_have_text("Schedule saved.")
    page.reload()
    expect(
        page.locator("#schedule").get_by_role("textbox", name="Sunday", exact=True)
    ).to_be_disabled()
    expect(
        page.locator("#schedule").get_by_role("textbox", name="Saturday", exact=True)
    ).to_have_value("10:00")
    screenshot(page, "account")

    # -- today: call me now queues a call; it can be cancelled
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    expect(page).to_have_url(re.compile(r"/today$"))
    expect(page.locator("#next-call")).to_contain_text("09:30")
    page.get_by_role("button", name="Call me now").click()
    status = page.locator("#call-status")
    expect(status).to_contain_text("Queued")
    expect(status).to_contain_text("+1 415-555-2671")  # PHONE_NUMBER, grouped
    expect(page.locator("#status")).to_contain_text("Call queued")
    screenshot(page, "today")
    status.get_by_role("button", name="Cancel this call").click()
    expect(page.locator("#call-status")).to_contain_text("Cancelled")
    expect(page.get_by_role("button", name="Call me now")).to_be_visible()

    # -- answer today's prompts by typing instead; leaving halfway and coming back resumes
    page.get_by_role("button", name="Answer today's prompts by typing instead").click()
    answer_box = page.get_by_label(expected_prompts[0])
    expect(answer_box).to_be_focused()
    answer_box.fill("Calm mornings & <b>tea</b>")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_label(expected_prompts[1]).fill("My sister's call")
    page.get_by_role("button", name="Save and continue").click()
    page.reload()
    expect(page.locator("#type")).to_contain_text("Calm mornings & <b>tea</b>")
    page.get_by_label(expected_prompts[2]).fill("")  # skipped
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_label(expected_prompts[3]).fill("How warm it was")
    page.get_by_role("button", name="Save answer").click()
    page.get_by_role("button", name="Finish reflection").click()
    expect(page.locator("#type")).to_contain_text("Today's reflection is saved")

    # -- history: the answers, with the date in the profile's time zone
    page.locator("#type").get_by_role("link", name="Read it in History").click()
    expect(page).to_have_url(re.compile(r"/history$"))
    session = page.locator("article.session").first
    now = datetime.now(ZoneInfo(PROFILE_TZ))
    expect(session.get_by_role("heading", level=2)).to_have_text(
        re.compile(rf"^{now:%A},? {now.day} {now:%B %Y}$")
    )
    expect(session).to_contain_text("Typed")
    expect(session).to_contain_text("Completed")
    for question, answer in zip(
        expected_prompts,
        ["Calm mornings & <b>tea</b>", "My sister's call", "No answer", "How warm it was"],
        strict=True,
    ):
        item = session.locator(".qa > li", has_text=question)
        expect(item.locator(".answer")).to_have_text(answer)
    # no rating yet: set one
    session.get_by_role("radio", name="+1 Good").check()
    session.get_by_role("button", name="Save rating").click()
    expect(session.locator(".session-rating")).to_contain_text("Good (+1)")
    screenshot(page, "history")
    assert page.js_errors == []

    # -- the same pages on a phone-sized screen
    phone_page = new_page(viewport=PHONE)
    login = live_server.api("Accounts/login", {"username": username, "password": PASSWORD})
    sign_in_with_token(phone_page, login, "/today")
    expect(phone_page.get_by_role("heading", level=1)).to_have_text("Today")
    expect(phone_page.locator("#call-status")).to_be_visible()
    for name, path in [("today", "/today"), ("history", "/history"), ("account", "/account")]:
        phone_page.goto(path)
        expect(phone_page.locator("main h1")).to_be_visible()
        phone_page.wait_for_load_state("networkidle")
        no_horizontal_scroll(phone_page)
        screenshot(phone_page, f"{name}-375x812")


def test_wrong_login_shows_an_error(page, live_server, new_page):
    username, _ = live_server.sign_up()
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".form-error")).to_have_text("Wrong username or password.")
    expect(page).to_have_url(re.compile(r"/login$"))
    screenshot(page, "login-error")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/today$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Today")

    fresh = new_page()
    fresh.goto("/login")
    expect(fresh.get_by_role("button", name="Log in")).to_be_visible()
    screenshot(fresh, "login")
    small = new_page(viewport=PHONE)
    small.goto("/login")
    expect(small.get_by_role("button", name="Log in")).to_be_visible()
    no_horizontal_scroll(small)
    screenshot(small, "login-375x812")


def test_an_expired_session_goes_back_to_log_in(page, live_server):
    sign_in_with_token(
        page, {"token": "no-such-token", "expiresAt": "2999-01-01T00:00:00Z", "user": "x"}
    )
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator(".notice")).to_contain_text("log in again")


def reflect(live_server, token: str, text: str) -> None:
    session = live_server.api("Reflection/startText", {}, token)["session"]
    for position in (1, 2, 3):
        body = {"session": session, "position": position, "text": f"{text} {position}"}
        live_server.api("ReflectionSession/recordResponse", body, token)
    live_server.api("ReflectionSession/completeSession", {"session": session}, token)


def test_another_user_cannot_see_my_reflections(page, live_server, new_page):
    _, first = live_server.sign_up()
    for n in range(12):
        reflect(live_server, first["token"], f"secret {n}")

    # newest first, ten at a time
    sign_in_with_token(page, first, "/history")
    sessions = page.locator("article.session")
    expect(sessions).to_have_count(10)
    expect(sessions.first).to_contain_text("secret 11 2")
    page.get_by_role("button", name="Show older reflections").click()
    expect(sessions).to_have_count(12)
    expect(sessions.last).to_contain_text("secret 0 3")
    expect(page.get_by_role("button", name="Show older reflections")).to_have_count(0)

    _, second = live_server.sign_up()
    other = new_page()
    sign_in_with_token(other, second, "/history")
    expect(other.locator("#history-empty")).to_contain_text("No reflections yet")
    expect(other.locator("article.session")).to_have_count(0)
    expect(other.locator("main")).not_to_contain_text("secret")


def test_change_password_log_out_and_delete_the_account(page, live_server):
    username, login = live_server.sign_up()
    new_password = "a much longer passphrase"
    sign_in_with_token(page, login, "/account")

    security = page.locator("#security")
    security.get_by_label("Current password").fill("not my password")
    security.get_by_label("New password", exact=True).fill(new_password)
    security.get_by_label("Repeat the new password").fill(new_password)
    security.get_by_role("button", name="Change password").click()
    expect(security.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")
    expect(security).to_contain_text("That is not your current password.")
    security.get_by_label("Current password").fill(PASSWORD)
    security.get_by_role("button", name="Change password").click()
    expect(page.locator("#status")).to_contain_text("Password changed")

    # the new token was kept: still logged in after a reload
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account")
    page.locator("#security").get_by_role("button", name="Log out", exact=True).click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator(".notice")).to_contain_text("logged out")
    page.goto("/today")
    expect(page).to_have_url(re.compile(r"/login$"))

    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(new_password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/today$"))

    page.goto("/account#delete")
    danger = page.locator("#delete")
    danger.get_by_text("Delete my account…").click()
    danger.get_by_label("Your password").fill(PASSWORD)  # the old one
    danger.get_by_role("button", name="Delete my account permanently").click()
    expect(danger.get_by_label("Your password")).to_have_attribute("aria-invalid", "true")
    expect(danger).to_contain_text("That is not your password.")
    danger.get_by_label("Your password").fill(new_password)
    danger.get_by_role("button", name="Delete my account permanently").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator(".notice")).to_contain_text("deleted")
    live_server.api("Accounts/login", {"username": username, "password": new_password}, expect=401)


def test_simulator_link_only_in_mock_mode(page, live_server):
    _, login = live_server.sign_up()
    sign_in_with_token(page, login, "/today")
    link = page.get_by_role("navigation", name="Main").get_by_role("link", name="Phone simulator")
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", "/simulator")
