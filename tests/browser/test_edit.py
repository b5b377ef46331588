"""Editing a past answer in Chromium (issue 16): fill in a "No answer" from History, see it
marked edited, show the original; by keyboard only; Cancel and Escape change nothing."""

from __future__ import annotations

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


def test_filling_a_no_answer_shows_edited_and_the_original(page, live_server):
    _, login = live_server.sign_up()
    token = login["token"]
    prompts = live_server.api("Prompts/_prompts", {}, token)
    n = len(prompts)
    session = typed(live_server, token, ["A slow breakfast"] + [""] * (n - 1))

    sign_in_with_token(page, login, "/history")
    card = page.locator(f'article[data-session="{session}"]')
    second = card.locator('.qa > li[data-position="2"]')
    expect(second.locator(".answer")).to_have_text("No answer")
    expect(second.get_by_text("Edited")).to_have_count(0)

    # Cancel and Escape leave the answer as it was, focus back on Edit
    edit = second.get_by_role("button", name=f"Edit your answer to: {prompts[1]['text']}")
    edit.click()
    second.get_by_label(f"Your answer to: {prompts[1]['text']}").fill("not this")
    second.get_by_role("button", name="Cancel").click()
    expect(second.locator(".answer")).to_have_text("No answer")
    expect(edit).to_be_focused()
    page.keyboard.press("Enter")  # the focused Edit opens the form again
    box = second.get_by_label(f"Your answer to: {prompts[1]['text']}")
    expect(box).to_be_focused()
    page.keyboard.press("Escape")
    expect(second.locator("textarea")).to_have_count(0)
    (row,) = live_server.api("ReflectionSession/_history", {}, token)
    assert row["prompts"][1]["answer"] == "" and "editedAt" not in row["prompts"][1]

    # by keyboard: Edit, type, Tab to Save, Enter
    page.keyboard.press("Enter")
    expect(box).to_be_focused()
    page.keyboard.type("I rang my sister")
    page.keyboard.press("Tab")
    expect(second.get_by_role("button", name="Save answer")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_have_text("Answer saved.")
    expect(second.locator(".answer").first).to_have_text("I rang my sister")
    expect(second.locator(".edited-mark")).to_contain_text("Edited")
    original = second.locator("details.answer-original")
    expect(original.locator(".answer")).not_to_be_visible()
    original.get_by_text("Show the original").click()
    expect(original.locator(".answer")).to_have_text("No answer")
    screenshot(page, "history-edited-answer")

    # the service has it: the edit, marked, and the original kept; a reload shows the same
    (row,) = live_server.api("ReflectionSession/_history", {}, token)
    assert (row["prompts"][1]["answer"], row["prompts"][1]["original"]) == ("I rang my sister", "")
    assert row["prompts"][1]["editedAt"]
    assert "editedAt" not in row["prompts"][0]
    page.reload()
    second = page.locator(f'article[data-session="{session}"] .qa > li[data-position="2"]')
    expect(second.locator(".answer").first).to_have_text("I rang my sister")
    second.get_by_text("Show the original").click()
    expect(second.locator("details.answer-original .answer")).to_have_text("No answer")
    # an answer never edited has no mark
    first = page.locator(f'article[data-session="{session}"] .qa > li[data-position="1"]')
    expect(first.locator(".edited-mark")).to_have_count(0)
    expect(first).to_have_text(f"{prompts[0]['text']}A slow breakfastEdit")  # nothing else
    assert page.js_errors == []


def test_correcting_an_answer_on_a_phone_and_no_edit_while_in_progress(new_page, live_server):
    page = new_page(viewport=PHONE)
    _, login = live_server.sign_up()
    token = login["token"]
    n = len(live_server.api("Prompts/_prompts", {}, token))
    done = typed(live_server, token, ["Tulips"] + ["x"] * (n - 1))
    open_one = live_server.api("Reflection/startText", {}, token)["session"]
    live_server.api(
        "ReflectionSession/recordResponse",
        {"session": open_one, "position": 1, "text": "still typing"},
        token,
    )

    sign_in_with_token(page, login, "/history")
    in_progress = page.locator(f'article[data-session="{open_one}"]')
    expect(in_progress.locator(".answer").first).to_have_text("still typing")
    expect(in_progress.get_by_role("button", name="Edit", exact=False)).to_have_count(0)

    first = page.locator(f'article[data-session="{done}"] .qa > li[data-position="1"]')
    first.get_by_role("button", name="Edit", exact=False).click()
    first.locator("textarea").fill("Tulips and daffodils")
    first.get_by_role("button", name="Save answer").click()
    expect(first.locator(".answer").first).to_have_text("Tulips and daffodils")
    first.get_by_text("Show the original").click()
    expect(first.locator("details.answer-original .answer")).to_have_text("Tulips")
    screenshot(page, "history-edited-answer-phone")
    assert page.js_errors == []
