"""Search and export in Chromium (issue 16): finding one's own reflections by words and dates,
and downloading everything as JSON and as Markdown from Account."""

from __future__ import annotations

import json

import pytest

from .conftest import PHONE, screenshot, sign_in_with_token

pytestmark = [pytest.mark.browser]
expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need playwright (pip install playwright)"
).expect


def typed(live_server, token: str, answers: list[str]) -> str:
    session = live_server.api("Reflection/startText", {}, token)["session"]
    for position, text in enumerate(answers, 1):
        body = {"session": session, "position": position, "text": text}
        live_server.api("ReflectionSession/recordResponse", body, token)
    live_server.api("ReflectionSession/completeSession", {"session": session}, token)
    return session


def test_searching_ones_reflections_by_words_and_dates(page, live_server, new_page):
    _, login = live_server.sign_up(timezone="Europe/Paris")
    token = login["token"]
    prompts = live_server.api("Prompts/_prompts", {}, token)
    n = len(prompts)
    heron = typed(live_server, token, ["Saw a grey héron at the pond"] + [""] * (n - 1))
    walk = typed(live_server, token, ["A long walk"] + [""] * (n - 2) + ["More patience"])
    _, stranger = live_server.sign_up()
    typed(live_server, stranger["token"], ["heron and walk"] + [""] * (n - 1))

    sign_in_with_token(page, login, "/today")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Search").click()
    expect(page).to_have_url(f"{live_server.url}/search")
    expect(page.get_by_role("heading", level=1, name="Search")).to_be_visible()

    page.get_by_label("Words").fill("HERON")
    page.get_by_role("button", name="Search").click()
    results = page.locator("#search-results > li")
    expect(results).to_have_count(1)
    expect(results.first.locator("article")).to_have_attribute("data-session", heron)
    expect(results.first.locator("mark")).to_have_text(["héron"])  # accents do not matter
    expect(page.locator("#search-summary")).to_have_text("1 reflection found, newest first.")
    expect(page).to_have_url(f"{live_server.url}/search?q=HERON")

    page.get_by_label("Words").fill('"long walk" patience')
    page.get_by_role("button", name="Search").click()
    expect(results).to_have_count(1)
    expect(results.first.locator("article")).to_have_attribute("data-session", walk)
    expect(results.first.locator("mark")).to_have_text(["long walk", "patience"])

    page.get_by_label("Words").fill("")
    page.get_by_role("button", name="Search").click()
    expect(results).to_have_count(2)  # no words: all of one's own, the stranger's not
    expect(results.locator("article").first).to_have_attribute("data-session", walk)

    # today's reflections lie inside a range ending today, none before yesterday
    today = page.evaluate(
        "() => new Intl.DateTimeFormat('en-CA', {timeZone: 'Europe/Paris'}).format(new Date())"
    )
    page.get_by_label("From").fill("2020-01-01")
    page.get_by_label("To").fill("2020-12-31")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#search-summary")).to_have_text("No reflections found.")
    page.get_by_label("To").fill(today)
    page.get_by_role("button", name="Search").click()
    expect(results).to_have_count(2)
    page.get_by_label("From").fill(today)
    page.get_by_label("To").fill("2020-01-01")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("The last day is before the first one.")).to_be_visible()

    # the address keeps the search: a reload shows it again
    page.goto("/search?q=walk")
    expect(results).to_have_count(1)
    expect(page.get_by_label("Words")).to_have_value("walk")
    screenshot(page, "search-desktop")

    small = new_page(viewport=PHONE)
    sign_in_with_token(small, login, "/search?q=pond")
    expect(small.locator("#search-results > li")).to_have_count(1)
    width = small.evaluate("document.documentElement.scrollWidth")
    assert width <= small.evaluate("window.innerWidth"), f"the page is {width}px wide"
    screenshot(small, "search-phone")
    assert page.js_errors == [] and small.js_errors == []


def test_downloading_everything_as_json_and_markdown(page, live_server, tmp_path):
    username, login = live_server.sign_up(timezone="Europe/Paris")
    token = login["token"]
    n = len(live_server.api("Prompts/_prompts", {}, token))
    session = typed(live_server, token, ["Bread from the market"] + [""] * (n - 1))
    live_server.api("ReflectionSession/setRating", {"session": session, "rating": 2}, token)

    sign_in_with_token(page, login, "/account")
    page.get_by_role("navigation", name="Account sections").get_by_role(
        "link", name="Your data"
    ).click()
    section = page.locator("#export")
    expect(section.get_by_role("heading", name="Your data")).to_be_visible()

    with page.expect_download() as info:
        section.get_by_role("button", name="Download as JSON").click()
    download = info.value
    assert download.suggested_filename.startswith("daily-reflection-")
    assert download.suggested_filename.endswith(".json")
    data = json.loads(_saved(download, tmp_path))
    assert data["account"]["username"] == username
    assert data["profile"]["displayName"] == "Grace"
    (reflection,) = data["reflections"]
    assert reflection["prompts"][0]["answer"] == "Bread from the market"
    assert reflection["rating"] == 2
    expect(page.locator("#status")).to_have_text("Your export is downloaded.")

    with page.expect_download() as info:
        section.get_by_role("button", name="Download as Markdown").click()
    download = info.value
    assert download.suggested_filename.endswith(".md")
    text = _saved(download, tmp_path)
    assert text.startswith("# Daily reflections of Grace")
    assert "> Bread from the market" in text and "Wonderful (+2)" in text
    assert page.js_errors == []


def _saved(download, tmp_path) -> str:
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    return target.read_text(encoding="utf-8")
