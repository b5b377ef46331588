"""Getting started and moving around, in Chromium (issue 15, items 6, 7 and 11): the landing
page, call times in the welcome flow, a password reset by texted code, returning to the page
asked for after logging in, a warning before unsaved prompt edits are lost, and the app's own
dialog instead of the browser's confirm()."""

from __future__ import annotations

import re
import uuid

import pytest

from .conftest import PASSWORD, screenshot, sign_in_with_token

pytestmark = [pytest.mark.browser]
expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need playwright (pip install playwright)"
).expect

PHONE_390 = {"width": 390, "height": 844}
NEW_PASSWORD = "a brand new passphrase"


def native_dialogs(page) -> list[str]:
    """Every alert/confirm/prompt the browser itself shows (dismissed): none is expected."""
    seen: list[str] = []

    def dismiss(dialog) -> None:
        seen.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", dismiss)
    return seen


def no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.evaluate("window.innerWidth"), f"the page is {width}px wide"


def verified_user(live_server, phone: str) -> tuple[str, dict]:
    username, login = live_server.sign_up()
    token = login["token"]
    live_server.api("Profile/updatePhoneNumber", {"phoneNumber": phone}, token)
    live_server.api("PhoneVerification/start", {"phoneNumber": phone}, token)
    live_server.api("PhoneVerification/confirm", {"code": live_server.sms_code(phone)}, token)
    return username, login


# -- 6. the landing page, and call times in the welcome flow ---------------------------------


def test_a_visitor_lands_on_a_page_that_says_what_the_service_does(page, new_page):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("A short phone call each day")
    expect(page.locator("main")).to_contain_text("we phone you")
    expect(page.get_by_role("list", name="How it works").get_by_role("listitem")).to_have_count(3)
    expect(page.get_by_role("link", name="Log in")).to_have_attribute("href", "/login")
    screenshot(page, "landing")
    page.get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(re.compile(r"/signup$"))
    page.get_by_role("link", name="Daily Reflection").click()  # the brand leads home
    expect(page).to_have_url(re.compile(r"/$"))

    small = new_page(viewport=PHONE_390)
    small.goto("/")
    expect(small.get_by_role("link", name="Create an account")).to_be_visible()
    no_horizontal_scroll(small)
    screenshot(small, "landing-390x844")
    assert page.js_errors == [] and small.js_errors == []


def test_the_welcome_flow_plans_the_calls_with_a_default_time(page, live_server):
    _, login = live_server.sign_up(profile=False)
    sign_in_with_token(page, login, "/welcome")
    when = page.get_by_role("group", name="When should we call?")
    time = when.get_by_label("Call me at")
    expect(time).to_have_value("20:00")  # the default
    expect(when.get_by_label("Every day")).to_be_checked()
    page.get_by_label("What should we call you?").fill("Ada")
    page.get_by_label("Phone number").fill("+14155550142")
    page.get_by_label("Time zone").select_option("Europe/Paris")

    # a time outside 08:00-21:00 is refused at the time, before anything is created
    time.fill("22:30")
    page.get_by_role("button", name="Create profile").click()
    expect(time).to_have_attribute("aria-invalid", "true")
    expect(time).to_be_focused()
    expect(when.locator(".field-error")).to_contain_text("between 08:00 and 21:00")
    assert live_server.api("Profile/_getProfile", {}, login["token"]) == []

    time.fill("19:15")
    when.get_by_label("Weekdays only").check()
    screenshot(page, "welcome-schedule")
    page.get_by_role("button", name="Create profile").click()
    expect(page).to_have_url(re.compile(r"/account#phone$"))
    expect(page.locator(".flash")).to_contain_text("Calls are planned at 19:15 on weekdays")
    (plan,) = live_server.api("Schedule/_schedule", {}, login["token"])
    assert plan["timezone"] == "Europe/Paris"
    assert plan["times"] == {
        **dict.fromkeys(["mon", "tue", "wed", "thu", "fri"], "19:15"),
        "sat": None,
        "sun": None,
    }
    expect(
        page.locator("#schedule").get_by_role("textbox", name="Monday", exact=True)
    ).to_have_value("19:15")

    # once the phone is verified, the app names the next call instead of "we can call you now"
    phone_card = page.locator("#phone")
    phone_card.get_by_role("button", name="Send verification code").click()
    phone_card.get_by_label("6-digit code").fill(live_server.sms_code("+14155550142"))
    phone_card.get_by_role("button", name="Confirm").click()
    expect(page.locator("#status")).to_contain_text("is verified. Your next call is")
    expect(page.locator("#status")).to_contain_text("19:15")
    expect(page.locator("#status")).not_to_contain_text("We can call you now")
    assert page.js_errors == []


# -- 7. password reset by a code texted to the verified phone ------------------------------


def test_a_forgotten_password_is_reset_with_a_texted_code(page, live_server, new_page):
    phone = "+14155550143"
    username, old = verified_user(live_server, phone)
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page).to_have_url(re.compile(r"/reset$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset your password")
    page.get_by_label("Username").fill(username)
    page.get_by_role("button", name="Text me a code").click()
    sent = page.locator("#reset-sent")
    expect(sent).to_contain_text(
        f"If “{username}” has a verified phone number, we've texted a code"
    )
    code = live_server.sms_code(phone, containing="reset code")
    code_input = page.get_by_label("6-digit code")
    expect(code_input).to_be_focused()

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    code_input.fill(wrong)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(code_input).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field:has(.code-input) .field-error")).to_contain_text(
        "That code is wrong or has expired"
    )
    code_input.fill(code)
    page.get_by_role("button", name="Set the new password").click()
    expect(page).to_have_url(re.compile(r"/today$"))
    expect(page.locator(".flash")).to_contain_text("Your password is changed")
    screenshot(page, "reset-done")
    live_server.api("Accounts/_account", {}, old["token"], expect=401)  # other sessions end
    live_server.api("Accounts/login", {"username": username, "password": NEW_PASSWORD})
    live_server.api("Accounts/login", {"username": username, "password": PASSWORD}, expect=401)

    # a username nobody has: the same words, and no text goes anywhere
    texts = len(live_server.telephony.messages)
    other = new_page(viewport=PHONE_390)
    other.goto("/reset")
    nobody = f"nobody{uuid.uuid4().hex[:6]}"
    other.get_by_label("Username").fill(nobody)
    other.get_by_role("button", name="Text me a code").click()
    expect(other.locator("#reset-sent")).to_contain_text(
        f"If “{nobody}” has a verified phone number, we've texted a code"
    )
    assert len(live_server.telephony.messages) == texts
    no_horizontal_scroll(other)
    assert page.js_errors == [] and other.js_errors == []


# -- 11. navigation --------------------------------------------------------------------------


def test_logging_in_returns_to_the_page_asked_for(page, live_server):
    username, _ = live_server.sign_up()
    page.goto("/history")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/history$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("History")

    # a reload of the login page keeps where to go; a plain visit goes to Today
    page.evaluate("localStorage.clear()")
    page.goto("/account#prompts")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.reload()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/account#prompts$"))


def test_unsaved_prompt_edits_are_not_lost_without_asking(page, live_server):
    dialogs = native_dialogs(page)
    _, login = live_server.sign_up()
    sign_in_with_token(page, login, "/today")
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Account").click()
    prompt = page.locator("#prompts").get_by_label("Prompt 1", exact=True)
    prompt.fill("What did I learn today?")

    # a link: the app asks, and staying keeps the edit
    nav.get_by_role("link", name="History").click()
    ask = page.get_by_role("dialog", name="Leave without saving?")
    expect(ask).to_be_visible()
    expect(ask).to_contain_text("your prompts")
    expect(ask.get_by_role("button", name="Stay on this page")).to_be_focused()
    screenshot(page, "unsaved-dialog")
    ask.get_by_role("button", name="Stay on this page").click()
    expect(ask).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(prompt).to_have_value("What did I learn today?")

    # the back button: asked too; Escape stays
    page.go_back()
    expect(ask).to_be_visible()
    page.keyboard.press("Escape")
    expect(ask).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(prompt).to_have_value("What did I learn today?")

    # leaving on purpose
    nav.get_by_role("link", name="History").click()
    ask.get_by_role("button", name="Leave without saving").click()
    expect(page).to_have_url(re.compile(r"/history$"))

    # once saved, nothing is asked
    nav.get_by_role("link", name="Account").click()
    page.locator("#prompts").get_by_label("Prompt 1", exact=True).fill("What did I learn today?")
    page.get_by_role("button", name="Save prompts").click()
    expect(page.locator("#status")).to_have_text("Prompts saved.")
    nav.get_by_role("link", name="Today").click()
    expect(page).to_have_url(re.compile(r"/today$"))
    assert dialogs == []
    assert page.js_errors == []


def test_discarding_a_reflection_asks_in_the_apps_own_dialog(page, live_server):
    dialogs = native_dialogs(page)
    _, login = live_server.sign_up()
    token = login["token"]
    session = live_server.api("Reflection/startText", {}, token)["session"]
    body = {"session": session, "position": 1, "text": "A calm morning"}
    live_server.api("ReflectionSession/recordResponse", body, token)
    sign_in_with_token(page, login, "/today")
    typing = page.locator("#type")
    expect(typing).to_contain_text("A calm morning")

    typing.get_by_role("button", name="Discard this reflection").click()
    ask = page.get_by_role("dialog", name="Discard this reflection?")
    expect(ask).to_be_visible()
    expect(ask.get_by_role("button", name="Keep it")).to_be_focused()
    ask.get_by_role("button", name="Keep it").click()
    expect(ask).to_have_count(0)
    expect(typing).to_contain_text("A calm morning")
    assert live_server.api("ReflectionSession/_active", {}, token) != []

    typing.get_by_role("button", name="Discard this reflection").click()
    ask.get_by_role("button", name="Discard").click()
    expect(page.locator("#status")).to_have_text("Reflection discarded.")
    assert live_server.api("ReflectionSession/_active", {}, token) == []
    assert dialogs == []  # the browser's confirm() never showed
    assert page.js_errors == []
