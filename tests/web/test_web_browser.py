"""End-to-end in real headless Chromium (Debian's chromium, driven by Playwright): review an
item and see the score change, seek the audio from evidence and from a word, export a case
pack and open it, and read calibration numbers that match a hand-computed fixture.

`.ci/run` installs chromium; elsewhere the tests skip when it is missing, except under CI
(``CI=true``), where a missing browser is a failure rather than a silent skip.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import threading
import time
import zipfile

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required", "--mute-audio"]


def _browser_available() -> bool:
    return os.path.exists(CHROMIUM)


if not _browser_available() and os.environ.get("CI") != "true":
    pytest.skip("Debian chromium not installed (apt-get install chromium)",
                allow_module_level=True)


@pytest.fixture
def server(app):
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser():
    assert _browser_available(), f"no Chromium at {CHROMIUM}"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


def signed_in(browser, server, user, tmp_path=None):
    from tests.review_fixtures import PASSWORD

    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto(f"{server}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/t/*/queue")
    return page


def test_review_an_item_and_see_the_score_change(browser, server, world):
    page = signed_in(browser, server, "monitor")
    # The queue lists the call awaiting review first; open the fatal one from the list.
    rows = page.locator("#queue tbody tr")
    assert rows.first.get_attribute("data-scorecard") == str(world.card_ids["call-unsure"])
    assert "ag-2" in rows.first.inner_text()  # agent and local time, not a bare hash
    page.click("#queue a[title=call-fatal]")
    assert page.inner_text("#total-score") == "0.0"
    assert page.is_visible("#fatal-flag")
    item = page.locator("#item-unauthorized_promise")
    item.locator("select[name=verdict]").select_option("pass")
    item.locator("input[name=comment]").fill("agent refused to promise")
    item.locator("button", has_text="Save verdict").click()
    page.wait_for_function("document.getElementById('total-score').textContent === '100.0'")
    assert page.inner_text("#grade") == "A"
    assert not page.is_visible("#fatal-flag")
    assert item.locator(".status").inner_text() == "pass"
    page.reload()  # persisted, with the audit entry
    assert page.inner_text("#total-score") == "100.0"
    assert "agent refused to promise" in page.inner_text("#audit")


def test_seek_audio_from_evidence_and_words(browser, server, world):
    page = signed_in(browser, server, "monitor")
    page.goto(f"{server}/t/acme/scorecards/{world.card_ids['call-fatal']}")
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    evidence = page.locator("#item-unauthorized_promise .evidence").first
    start = float(evidence.get_attribute("data-start"))
    assert start == 3.5
    evidence.click()
    page.wait_for_function(
        "Math.abs(document.getElementById('player').currentTime - 3.5) < 0.6")
    page.wait_for_selector("#utt-2.current")  # the quoted utterance is highlighted
    word = page.locator("#utt-4 .w").first  # 'anything' at 7.0 s
    word.click()
    page.wait_for_function(
        "Math.abs(document.getElementById('player').currentTime - 7.0) < 0.6")
    page.wait_for_selector("#utt-4.current")
    assert page.locator(".utt.current").count() == 1


def test_export_a_case_pack_and_open_it(browser, server, world, tmp_path):
    page = signed_in(browser, server, "trainer")
    page.goto(f"{server}/t/acme/cases?criterion_id=unauthorized_promise&outcome=fail")
    assert page.locator("#cases tbody tr").count() == 1
    assert "call-fatal" in page.inner_text(".exemplars-fail")
    page.check("#cases input[value=call-fatal]")
    with page.expect_download() as info:
        page.click("#export-pack")
    target = tmp_path / "pack.zip"
    info.value.save_as(target)
    z = zipfile.ZipFile(io.BytesIO(target.read_bytes()))
    assert {"index.json", "call-fatal/clip.wav", "call-fatal/excerpt.txt",
            "call-fatal/scorecard.json"} <= set(z.namelist())
    assert "i guarantee a refund tomorrow" in z.read("call-fatal/excerpt.txt").decode()
    assert json.loads(z.read("index.json"))["criterion_id"] == "unauthorized_promise"
    import soundfile as sf

    clip, rate = sf.read(io.BytesIO(z.read("call-fatal/clip.wav")))
    assert rate == 8000 and len(clip) == 6 * 8000


def test_calibration_page_matches_a_hand_computed_fixture(browser, server, world):
    # Hand-computed: greeting automated pass on 3 calls; humans say pass, pass, fail.
    # agreement 2/3 = 66.7 %; p_e = (3/3)(2/3) = 2/3, kappa = (2/3 - 2/3)/(1 - 2/3) = 0.
    # closing automated pass, fail on two calls; humans agree: agreement 100 %, kappa 1.
    page = signed_in(browser, server, "monitor")
    for call, criterion, verdict in (("call-good", "greeting", "pass"),
                                     ("call-fatal", "greeting", "pass"),
                                     ("call-unsure", "greeting", "fail"),
                                     ("call-fatal", "closing", "pass"),
                                     ("call-unsure", "closing", "fail")):
        page.goto(f"{server}/t/acme/scorecards/{world.card_ids[call]}")
        item = page.locator(f"#item-{criterion}")
        item.locator("select[name=verdict]").select_option(verdict)
        item.locator("button", has_text="Save verdict").click()
        page.wait_for_function(f"document.getElementById('status-line').textContent"
                               f".startsWith('{criterion}: saved')")
    page.goto(f"{server}/t/acme/calibration")
    greeting = page.locator("#calibration tr[data-criterion=greeting]")
    assert greeting.locator(".agreement").inner_text() == "66.7%"
    assert greeting.locator(".kappa").inner_text() == "0.000"
    closing = page.locator("#calibration tr[data-criterion=closing]")
    assert closing.locator(".agreement").inner_text() == "100.0%"
    assert closing.locator(".kappa").inner_text() == "1.000"


def test_keyboard_review_confirms_and_completes_a_call(browser, server, world):
    """Issue 26: J/K move between items, C confirms, A confirms all, N opens the next call."""
    page = signed_in(browser, server, "monitor")
    page.goto(f"{server}/t/acme/scorecards/{world.card_ids['call-good']}")
    assert not page.is_visible("#reviewed-flag")
    page.keyboard.press("j")
    assert page.locator(".item.selected").get_attribute("data-criterion") == "greeting"
    page.keyboard.press("c")
    page.wait_for_function("document.getElementById('status-line').textContent"
                           ".startsWith('greeting: saved')")
    assert not page.is_visible("#reviewed-flag")  # one item is not a completed review
    page.keyboard.press("a")
    page.wait_for_selector("#reviewed-flag", state="visible")
    page.keyboard.press("n")
    page.wait_for_function(f"!location.pathname.endsWith('/{world.card_ids['call-good']}')")
    assert "/t/acme/scorecards/" in page.url
    page.keyboard.press("Space")
    page.wait_for_function("!document.getElementById('player').paused")
    page.keyboard.press("Space")
    page.wait_for_function("document.getElementById('player').paused")


def test_flags_apart_and_disputes_refresh_the_page(browser, server, world):
    page = signed_in(browser, server, "agent1")
    page.goto(f"{server}/t/acme/scorecards/{world.card_ids['call-fatal']}")
    flag = page.locator("#item-customer_thanked")
    assert "observation" in flag.inner_text() and flag.locator(".dispute-form").count() == 0
    assert page.locator("#item-greeting .dispute-form").count() == 0  # passed: no dispute
    item = page.locator("#item-unauthorized_promise")
    item.locator("input[name=reason]").fill("I refused to promise")
    item.locator("button", has_text="Dispute").click()
    page.wait_for_function("document.getElementById('disputes').textContent"
                           ".includes('I refused to promise')")


def test_chinese_interface_in_the_browser(browser, server, world):
    page = signed_in(browser, server, "monitor")
    page.click("#language-switch a[hreflang=zh-CN]")
    page.wait_for_selector("text=质检队列")
    assert page.get_attribute("html", "lang") == "zh-CN"
    page.goto(f"{server}/t/acme/scorecards/{world.card_ids['call-fatal']}")
    assert "不通过" in page.inner_text("#item-unauthorized_promise .status")
    assert "致命" in page.inner_text("#item-unauthorized_promise .sev")
    item = page.locator("#item-unauthorized_promise")
    item.locator("select[name=verdict]").select_option("pass")
    item.locator("button", has_text="保存判定").click()  # no comment on a fatal overturn
    page.wait_for_function("document.getElementById('status-line').textContent"
                           ".includes('必须填写说明')")


def test_dashboard_all_time_and_empty_case_pack_in_the_browser(browser, server, world):
    page = signed_in(browser, server, "super")
    page.goto(f"{server}/t/acme/dashboard?day_from=2026-11-03&day_to=2026-11-03&grouping=tenant")
    assert page.locator("#kpis tbody tr td").nth(1).inner_text() == "1"
    page.check("#all-time")
    page.click("#dashboard-filters button")
    page.wait_for_url("**all_time=true**")
    assert page.locator("#kpis tbody tr td").nth(1).inner_text() == "3"
    assert "%" in page.locator("#kpis tbody tr td").nth(6).inner_text()
    page.goto(f"{server}/t/acme/cases")
    page.click("#export-pack")  # nothing ticked
    page.wait_for_function("document.getElementById('status-line').textContent.length > 0")
    assert page.url.endswith("/t/acme/cases")  # no raw JSON page


def test_waveform_shows_evidence_regions(browser, server, world):
    """Issue 26: a waveform (vendored wavesurfer.js) with the evidence as regions."""
    page = signed_in(browser, server, "monitor")
    page.goto(f"{server}/t/acme/scorecards/{world.card_ids['call-fatal']}")
    page.wait_for_selector("#waveform[data-regions]", timeout=20000)
    expected = page.locator(".item .evidence").count()
    assert int(page.get_attribute("#waveform", "data-regions")) == expected > 0
    assert page.locator("#waveform").evaluate(
        "el => !!(el.shadowRoot || el.querySelector('div'))")


def test_assign_calls_from_the_queue(browser, server, world):
    page = signed_in(browser, server, "super")
    page.check(f"#queue tr[data-scorecard='{world.card_ids['call-fatal']}'] .pick")
    page.select_option("#assign-form select[name=assignee]", "monitor")
    page.click("#assign-form button")
    page.wait_for_selector(
        f"#queue tr[data-scorecard='{world.card_ids['call-fatal']}'] .assignee:text('monitor')")
