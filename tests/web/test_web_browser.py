"""End-to-end in real headless Chromium (Debian's chromium, driven by Playwright): review an
item and see the score change, seek the audio from evidence and from a word, export a case
pack and open it, and read calibration numbers that match a hand-computed fixture.

`.ci/run` installs chromium; elsewhere the tests skip when it is missing, except under CI
(``CI=true``), where a missing browser is a failure rather than a silent skip.
"""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def serving(app):
    """The app on a free port of 127.0.0.1 (its base URL) until the block ends."""
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
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(app):
    with serving(app) as url:
        yield url


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


# --- issue 26: findings 4, 7, 9, 10 and 11, and blind calibration sessions ------------------

MOODS_RUBRIC = """\
id: moods
version: 1
sections:
  - id: a
    weight: 100
    criteria:
      - id: greeting
        points: 10
        rule: {type: required_phrase, phrases: [hello]}
  - id: obs
    weight: 0
    criteria:
      - id: customer_sentiment_end
        kind: flag
        rule: {type: sentiment, role: customer, at: end, fail_labels: [negative]}
"""


def add_moody_call(world) -> int:
    """A call whose customer ends negative by the end-sentiment criterion (the mean of their
    last two utterances, -0.40) while their last utterance alone is neutral and the emotion
    trajectory's closing valence is positive: what the queue showed before.
    """
    import dataclasses
    import hashlib

    from qa_pipeline.rubric.context import EvaluationContext
    from qa_pipeline.rubric.engine import evaluate
    from qa_pipeline.rubric.loader import load_rubric_text
    from qa_pipeline.scorecard.card import build_scorecard
    from qa_pipeline.sentiment.base import SentimentTrack, UtteranceSentiment
    from tests.helpers import make_conversation
    from tests.review_fixtures import write_tone

    rows = [["agent", 0, 2, "hello"], ["customer", 2, 4, "this is terrible"],
            ["agent", 4, 6, "sorry"], ["customer", 6, 8, "still awful"],
            ["agent", 8, 10, "anything else"], ["customer", 10, 12, "fine"]]
    conv = make_conversation(rows, call_id="call-moody", tenant_id="acme", language="en")
    wav = world.audio_dir / "acme-call-moody.wav"
    write_tone(wav, seconds=13.0)
    conv = dataclasses.replace(conv, sha256=hashlib.sha256(wav.read_bytes()).hexdigest())
    ts = world.store.tenant("acme")
    start = "2026-11-03T15:00:00+08:00"
    ts.save_conversation(conv, frontend_key="k", source_uri=str(wav),
                         meta={"agent_id": "ag-2", "team_id": "team-b", "started_at": start})
    track = SentimentTrack("call-moody", (UtteranceSentiment(1, "negative", -0.8),
                                          UtteranceSentiment(3, "negative", -0.9),
                                          UtteranceSentiment(5, "neutral", 0.1)), "test")
    rubric = load_rubric_text(MOODS_RUBRIC)
    card = build_scorecard(rubric, evaluate(rubric, EvaluationContext(conv, sentiment=track)),
                           call_id="call-moody", tenant_id="acme", provenance={},
                           call={"call_id": "call-moody", "agent_id": "ag-2",
                                 "started_at": start},
                           emotion={"customer": {"end": {"valence": 0.4}}})
    return ts.save_scorecard(card)


def test_queue_sentiment_is_the_cards_end_sentiment(browser, server, world):
    """Finding 4: the queue's sentiment equals the card's customer_sentiment_end, and
    ?sentiment=negative finds the call."""
    sid = add_moody_call(world)
    page = signed_in(browser, server, "monitor")
    row = page.locator(f"#queue tr[data-scorecard='{sid}']")
    assert row.locator(".sentiment").inner_text() == "negative"
    page.click(f"#queue tr[data-scorecard='{sid}'] a")
    flag = page.locator("#item-customer_sentiment_end")
    assert "customer sentiment at end: negative" in flag.inner_text()
    page.goto(f"{server}/t/acme/queue")
    page.select_option("select[name=sentiment]", "negative")
    page.click("form.filters button")
    page.wait_for_url("**sentiment=negative**")
    assert page.locator("#queue tbody tr[data-scorecard]").evaluate_all(
        "rows => rows.map(r => r.dataset.scorecard)") == [str(sid)]
    page.goto(f"{server}/t/acme/queue?sentiment=positive")
    assert page.locator(f"#queue tr[data-scorecard='{sid}']").count() == 0


def test_case_library_criteria_results_tags_and_pack_index(browser, server, world, tmp_path):
    """Finding 7: the criterion is picked from the tenant's rubric, results show its verdict,
    quote and confidence, a tag is removed with its history kept, and the case pack's
    index.html plays clips of the evidence span ± 2 s."""
    page = signed_in(browser, server, "trainer")
    page.goto(f"{server}/t/acme/cases")
    values = page.locator("#criterion-pick option").evaluate_all("os => os.map(o => o.value)")
    assert values == ["", "closing", "customer_thanked", "greeting", "unauthorized_promise"]
    assert page.locator("input[name=criterion_id]:not([type=hidden])").count() == 0
    page.select_option("#criterion-pick", "unauthorized_promise")
    page.click("form.filters button")
    page.wait_for_url("**criterion_id=unauthorized_promise**")
    row = page.locator("#cases tbody tr", has=page.locator("a", has_text="call-fatal"))
    assert row.locator(".verdict").inner_text() == "fail"
    assert row.locator(".quote").inner_text() == "i guarantee a refund tomorrow"
    assert row.locator(".confidence").inner_text() == "0.95"

    page.goto(f"{server}/t/acme/scorecards/{world.card_ids['call-fatal']}")
    page.select_option("#tag-form select[name=label]", "bad")
    page.select_option("#tag-form select[name=criterion_id]", "unauthorized_promise")
    page.fill("#tag-form input[name=note]", "promise example")
    page.click("#tag-form button")
    page.wait_for_function("document.getElementById('status-line').textContent"
                           ".startsWith('tagged as')")
    page.goto(f"{server}/t/acme/cases?label=bad")
    tag = page.locator("#cases .tag-bad")
    assert "unauthorized_promise" in tag.inner_text()
    tag.locator(".untag").click()
    page.wait_for_selector("#cases .tag-bad", state="detached")
    page.reload()
    assert page.locator("#cases .tag").count() == 0
    page.goto(f"{server}/t/acme/scorecards/{world.card_ids['call-fatal']}")
    history = page.locator("#tag-history li")
    assert history.count() == 2
    assert "promise example" in history.nth(0).inner_text()
    assert "trainer" in history.nth(1).inner_text()
    assert history.nth(1).get_attribute("class") == "untagged"

    page.goto(f"{server}/t/acme/cases?criterion_id=unauthorized_promise")
    page.check("#cases input[value=call-fatal]")
    with page.expect_download() as info:
        page.click("#export-pack")
    pack = tmp_path / "pack"
    zipfile.ZipFile(info.value.path()).extractall(pack)
    page.goto((pack / "index.html").as_uri())
    section = page.locator("section#call-fatal")
    assert "unauthorized_promise" in section.locator("table").inner_text()
    assert "fail" in section.locator("table").inner_text()
    assert "i guarantee a refund tomorrow" in section.locator("pre").inner_text()
    assert "1.5–7.5 s" in section.inner_text()  # evidence 3.5–5.5 s ± 2 s, not the call
    page.wait_for_function("document.querySelector('section audio').readyState >= 1 || "
                           "(document.querySelector('section audio').load(), false)",
                           timeout=15000)
    assert abs(page.evaluate("document.querySelector('section audio').duration") - 6.0) < 0.05


def _static_card(tmp_path, language: str):
    """A scorecard.html for a call whose words came from the recogniser split ("3", "20",
    "元") and were joined by the front end, with the closing-emotion table present."""
    from qa_pipeline.alignment.speakers import join_words
    from qa_pipeline.rubric.context import EvaluationContext
    from qa_pipeline.rubric.engine import evaluate
    from qa_pipeline.rubric.loader import load_rubric_text
    from qa_pipeline.scorecard.card import build_scorecard
    from qa_pipeline.scorecard.render import write_scorecard
    from qa_pipeline.sentiment.base import SentimentTrack, UtteranceSentiment
    from qa_pipeline.types import Word
    from tests.helpers import make_conversation
    from tests.review_fixtures import write_tone

    if language == "zh":
        pieces = ["好的", "，", "退款", "3", "20", "元"]
        agent = join_words([Word(k, k + 1, p, 0.9) for k, p in enumerate(pieces)], "zh")
        phrase, customer = "退款", "还是不满意"
    else:
        agent, phrase, customer = "a refund of 320 dollars", "refund", "still unhappy"
    rubric = load_rubric_text(f"""\
id: static
version: 1
sections:
  - id: a
    weight: 100
    criteria:
      - id: refund_promise
        points: 10
        rule: {{type: forbidden_phrase, role: agent, phrases: [{phrase}]}}
  - id: obs
    weight: 0
    criteria:
      - id: customer_sentiment_end
        kind: flag
        rule: {{type: sentiment, role: customer, at: end, fail_labels: [negative]}}
""")
    conv = make_conversation([["agent", 0, 3, agent], ["customer", 3, 5, customer]],
                             call_id=f"static-{language}", tenant_id="acme", language=language)
    track = SentimentTrack(conv.call_id, (UtteranceSentiment(1, "negative", -0.7),), "test")
    phase = {"valence": -0.7, "arousal": 0.5}
    emotion = {"curve": [], "customer": {"start": phase, "middle": phase, "end": phase},
               "escalation": {"detected": False, "reason": "none"},
               "complaint_intent": {"detected": False, "reason": "none"}}
    card = build_scorecard(rubric, evaluate(rubric, EvaluationContext(conv, sentiment=track)),
                           call_id=conv.call_id, tenant_id="acme", provenance={},
                           emotion=emotion)
    wav = tmp_path / "recordings" / f"{conv.call_id}.wav"
    wav.parent.mkdir(parents=True, exist_ok=True)
    write_tone(wav, seconds=6.0)
    return write_scorecard(card, tmp_path / "out", conv, recording=wav)["html"], agent


def test_static_scorecard_html_in_the_browser(browser, tmp_path):
    """Finding 9: the static page says it is a snapshot that reviews do not update, plays
    the recording from its link, takes the call's language, shows the end sentiment once,
    and keeps "320元" whole."""
    context = browser.new_context()
    page = context.new_page()
    for language, html_lang in (("zh", "zh-CN"), ("en", "en")):
        path, agent_text = _static_card(tmp_path / language, language)
        page.goto(path.as_uri())
        assert page.get_attribute("html", "lang") == html_lang
        assert "review app" in page.inner_text("#snapshot")
        assert page.is_visible("#snapshot")
        page.wait_for_function("document.querySelector('audio').readyState >= 1 || "
                               "(document.querySelector('audio').load(), false)",
                               timeout=15000)
        assert abs(page.evaluate("document.querySelector('audio').duration") - 6.0) < 0.05
        href = page.get_attribute("#recording", "href")
        assert not href.startswith("/") and href.endswith(".wav")  # relative to the page
        text = page.inner_text("body")
        assert text.count("sentiment at end") == 1  # the verdict, once
        if language == "zh":
            assert agent_text == "好的，退款320元"
            assert "退款320元" in text and "3 20" not in text
            assert "“好的，退款320元”" in text  # the quote, whole


def test_sessions_sign_out_bad_cookies_and_tenant_audio_roots(browser, server, world,
                                                              settings, app, tmp_path):
    """Finding 10: sign-out revokes the cookie (a copy of it stops working), a non-ASCII
    cookie is a 401, not a 500, and recordings are served only from the call's tenant's
    roots."""
    import dataclasses

    from qa_pipeline.web.app import create_app

    page = signed_in(browser, server, "monitor")
    cookie = next(c for c in page.context.cookies() if c["name"] == "callqa_session")
    page.click("header form[action='/logout'] button")
    page.wait_for_url("**/login")
    thief = browser.new_context()
    thief.add_cookies([cookie])
    stolen = thief.new_page()
    stolen.goto(f"{server}/t/acme/queue")
    assert "/login" in stolen.url
    assert stolen.goto(f"{server}/api/me").status == 401

    odd = browser.new_context().new_page()
    odd.goto(f"{server}/login")
    odd.evaluate("document.cookie = 'callqa_session=质检员.签名; path=/'")
    assert "质检员" in odd.evaluate("document.cookie")  # the browser really sends it
    assert odd.goto(f"{server}/api/me").status == 401
    odd.goto(f"{server}/t/acme/queue")
    assert "/login" in odd.url

    # acme's recordings may come only from an (empty) folder of its own; globex keeps the
    # shared one. The same recordings on disk: acme's are refused, globex's play.
    own = tmp_path / "acme-only"
    own.mkdir()
    split = create_app(world.store, dataclasses.replace(
        settings, tenant_audio_roots={"acme": (own,), "globex": (world.audio_dir,)}))
    with serving(split) as url:
        admin = signed_in(browser, url, "admin")
        admin.goto(f"{url}/t/acme/scorecards/{world.card_ids['call-fatal']}")
        admin.wait_for_function("document.getElementById('player').error !== null")
        assert admin.evaluate("fetch('/api/t/acme/calls/call-fatal/audio')"
                              ".then(r => r.status)") == 404
        admin.goto(f"{url}/t/globex/scorecards/{world.card_ids['call-globex']}")
        admin.wait_for_function("document.getElementById('player').readyState >= 1")


def test_a_store_copied_without_its_wal_warns_in_the_queue(browser, server, world, settings,
                                                           tmp_path):
    """Finding 11: a plain file copy of the live store (its data still in the -wal file)
    opens as an empty store, and the queue says why instead of just "0 calls"."""
    import shutil

    from qa_pipeline.review.users import UserDirectory
    from qa_pipeline.store import Store
    from qa_pipeline.web.app import create_app
    from tests.review_fixtures import PASSWORD

    live = tmp_path / "review.db"
    assert (tmp_path / "review.db-wal").stat().st_size > 0  # the store is open, data in WAL
    copy = tmp_path / "copy.db"
    shutil.copy(live, copy)
    copied = Store(f"sqlite:///{copy}")
    try:
        copied.register_tenant("acme")
        assert copied.tenant("acme").count_scorecards() == 0
        UserDirectory(copied).create("monitor", PASSWORD, role="qa_monitor", tenants=("acme",))
        with serving(create_app(copied, settings)) as url:
            page = signed_in(browser, url, "monitor")
            warning = page.inner_text("#store-warning")
            assert "no scorecards" in warning and "qa-pipeline db backup" in warning
            assert "-wal" in warning
        live_page = signed_in(browser, server, "monitor")  # the original: no warning
        assert live_page.locator("#store-warning").count() == 0
    finally:
        copied.close()


def test_blind_calibration_session_in_the_browser(browser, server, world):
    """A supervisor sets up a session; two monitors score blind (no automated verdicts,
    their call pages closed); once both have handed in, agreement per criterion with the
    hand-computed figures and the sample-size warning."""
    from qa_pipeline.review.users import UserDirectory
    from tests.review_fixtures import PASSWORD

    UserDirectory(world.store).create("monitor2", PASSWORD, role="qa_monitor",
                                      tenants=("acme",))
    boss = signed_in(browser, server, "super")
    boss.click("#nav-sessions")
    boss.fill("#new-session input[name=title]", "Week 45")
    for m in ("monitor", "monitor2"):
        boss.check(f"#new-session input[name=monitor][value={m}]")
    for c in ("call-fatal", "call-unsure"):
        boss.check(f"#new-session input[name=call][value={c}]")
    boss.click("#new-session button")
    boss.wait_for_url("**/calibration/sessions/*")
    session_url = boss.url
    assert boss.locator("#sheet").count() == 0 and boss.is_visible("#close-session")

    # monitor: fatal promise "fail", all else "pass"; monitor2: everything "pass".
    for user, fail_on in (("monitor", {("call-fatal", "unauthorized_promise")}),
                          ("monitor2", set())):
        page = signed_in(browser, server, user)
        response = page.goto(f"{server}/t/acme/scorecards/{world.card_ids['call-fatal']}")
        assert response.status == 403  # blind: the automated verdicts stay hidden
        page.goto(session_url)
        assert page.locator("#session-agreement").count() == 0
        assert page.locator("#sheet .evidence, #sheet .status").count() == 0
        items = page.locator("#sheet .sheet-item")
        assert items.count() == 6  # 2 calls x 3 scored criteria (the flag is not scored)
        for k in range(items.count()):
            item = items.nth(k)
            call = item.evaluate("r => r.closest('.session-call').dataset.call")
            key = (call, item.get_attribute("data-criterion"))
            item.locator("select[name=verdict]").select_option(
                "fail" if key in fail_on else "pass")
        page.click("#submit-sheet")
        page.wait_for_selector("#handed-in, #session-agreement")

    page.reload()  # monitor2, the last to hand in: the session is complete
    promise = page.locator("#session-agreement tr[data-criterion=unauthorized_promise]")
    # call-fatal: fail vs pass (disagree); call-unsure: pass, pass (agree): 1 of 2 pairs.
    # alpha: n_p = 3, n_f = 1, o_pf = o_fp = 1: D_o = 2/4, D_e = 2*3*1/(4*3) = 1/2 -> 0.
    # Automated fail on both calls: of the 4 monitor verdicts 1 agrees.
    assert promise.locator(".pairwise").inner_text() == "50.0%"
    assert promise.locator(".alpha").inner_text() == "0.000"
    assert promise.locator(".ai").inner_text() == "25.0%"
    assert promise.locator(".sample-warning").is_visible()  # 2 calls < 10
    greeting = page.locator("#session-agreement tr[data-criterion=greeting]")
    assert greeting.locator(".pairwise").inner_text() == "100.0%"
    assert greeting.locator(".alpha").inner_text() == "—"  # one verdict throughout
    mon = page.locator("#session-monitors tr[data-user=monitor] .agreement").inner_text()
    # monitor vs automated: greeting p,p (= p,p), promise f,p (vs f,f), closing p,p (vs p,f)
    assert mon == "66.7%"
    assert page.locator("#session-grid tr.disagree").count() == 1
    assert page.goto(
        f"{server}/t/acme/scorecards/{world.card_ids['call-fatal']}").status == 200
