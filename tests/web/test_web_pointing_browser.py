"""In headless Chromium, in English and in Chinese: a monitor points at the transcript line
the automation missed, with the mouse and with the keyboard only (P, Tab, Space, Esc), saves
the verdict, and sees the line on the card after a reload (issue 24).
"""

from __future__ import annotations

import pytest

from tests.web.test_web_browser import _browser_available, browser, server, signed_in  # noqa: F401

pytestmark = pytest.mark.skipif(not _browser_available(), reason="no Chromium")


def test_point_at_the_missed_line_with_the_mouse_in_english(browser, server, world):  # noqa: F811
    page = signed_in(browser, server, "monitor")
    page.goto(f"{server}/t/acme/scorecards/{world.card_ids['call-good']}")
    item = page.locator("#item-closing")
    assert not page.is_visible("#utt-2 .pick")  # the checkboxes show only while pointing
    item.locator(".point-button", has_text="Point at lines").click()
    assert item.locator(".point-button").get_attribute("aria-pressed") == "true"
    assert page.is_visible("#pointing-hint")
    page.check("#utt-2 .pick")
    assert "#2" in item.locator(".pointed-list").inner_text()
    item.locator("select[name=verdict]").select_option("fail")
    item.locator("button", has_text="Save verdict").click()
    page.wait_for_function("document.getElementById('status-line').textContent"
                           ".includes('saved')")
    assert not page.is_visible("#utt-2 .pick")  # saving ends the pointing
    page.reload()
    shown = item.locator(".pointed-utt")
    assert shown.count() == 1 and shown.get_attribute("data-utt") == "2"
    assert "Reviewer's evidence" in item.inner_text()
    assert "is there anything else" in shown.inner_text()
    assert "lines pointed at: #2" in page.inner_text("#audit")


def test_point_with_the_keyboard_only_in_chinese(browser, server, world):  # noqa: F811
    page = signed_in(browser, server, "monitor")
    page.click("#language-switch a[hreflang=zh-CN]")
    page.wait_for_selector("text=质检队列")
    page.goto(f"{server}/t/acme/scorecards/{world.card_ids['call-fatal']}")
    item = page.locator("#item-closing")
    assert "指认原话" in item.locator(".point-button").inner_text()
    page.locator("body").click(position={"x": 1, "y": 1})
    # J selects the first scored item (greeting), J again the promise, J again closing.
    for _ in range(3):
        page.keyboard.press("j")
    assert "selected" in (item.get_attribute("class") or "")
    page.keyboard.press("p")
    assert page.evaluate("document.activeElement.className") == "pick"
    assert page.evaluate("document.activeElement.value") == "0"
    assert "判定依据" in page.evaluate("document.activeElement.getAttribute('aria-label')")
    for _ in range(4):  # to utterance 4, the agent's closing line
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.value") == "4"
    page.keyboard.press("Space")
    page.wait_for_function("document.getElementById('status-line').textContent"
                           ".includes('已指认原话 #4')")
    assert "“anything else”" in item.locator(".pointed-list").inner_text()  # as said
    page.keyboard.press("Escape")
    assert not page.is_visible("#utt-4 .pick")
    assert item.locator(".point-button").get_attribute("aria-pressed") == "false"
    item.locator("button", has_text="保存判定").click()  # confirms closing's verdict (pass)
    page.wait_for_function("document.getElementById('status-line').textContent"
                           ".includes('已保存')")
    page.reload()
    assert "质检员指认的原话" in item.inner_text()
    assert item.locator(".pointed-utt").get_attribute("data-utt") == "4"
