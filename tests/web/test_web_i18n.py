"""The review app speaks zh-CN and en (issue 26): every message has a Chinese translation,
the tenant's language is the default, a user's choice sticks, statuses / severities / grades
/ metrics are translated, times are shown in the tenant's time zone and percentages are
formatted, and errors reach browsers as pages, not JSON.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from qa_pipeline.review.users import UserDirectory
from qa_pipeline.web.app import create_app
from qa_pipeline.web.i18n import TenantDisplay, local_time, percent, use_language
from tests.review_fixtures import PASSWORD

WEB = Path(__file__).resolve().parents[2] / "qa_pipeline" / "web"


def _msgids() -> set[str]:
    found: set[str] = set()
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    for _fn, _line, msg, _c, _ctx in extract_from_dir(str(WEB), method_map,
                                                        options_map=options):
        found.update(m for m in (msg if isinstance(msg, tuple) else (msg,)) if m)
    return found


def test_every_message_has_a_chinese_translation():
    with (WEB / "locale" / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f)
    translated = set()
    for m in catalog:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if all(strings):
            translated.update(ids)
    ids = _msgids()
    assert len(ids) > 150
    assert sorted(ids - translated) == []


@pytest.fixture
def zh_app(world, settings):
    zh = dataclasses.replace(settings, tenant_display=lambda t: TenantDisplay(
        ("zh", "en"), "Asia/Shanghai"))
    return create_app(world.store, zh)


def _client(app, user):
    c = TestClient(app)
    c.post("/login", data={"username": user, "password": PASSWORD})
    return c


def test_a_chinese_tenant_gets_the_chinese_interface(zh_app, world):
    c = _client(zh_app, "monitor")
    queue = c.get("/t/acme/queue").text
    assert '<html lang="zh-CN">' in queue
    for text in ("质检队列", "等级", "待复核", "开始时间"):
        assert text in queue, text
    # Start times in the tenant's zone: call-good started 09:00 +08:00.
    assert "2026-11-02 09:00 CST" in queue
    card = c.get(f"/t/acme/scorecards/{world.card_ids['call-fatal']}").text
    for text in ("不通过", "致命", "非致命", "观察项", "E 丁等（≤ 70）", "保存判定"):
        assert text in card, text


def test_the_users_choice_sticks_and_english_is_english(zh_app):
    c = _client(zh_app, "monitor")
    r = c.get("/lang/en?next=/t/acme/queue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/t/acme/queue"
    page = c.get("/t/acme/queue").text
    assert '<html lang="en">' in page and "Review queue" in page and "质检队列" not in page
    c.get("/lang/zh_CN")
    assert "质检队列" in c.get("/t/acme/queue").text
    assert c.get("/lang/xx", follow_redirects=False).status_code == 404


def test_the_language_is_stored_on_the_user_and_follows_them_to_other_devices(zh_app, world):
    laptop, phone = _client(zh_app, "monitor"), _client(zh_app, "monitor")
    laptop.get("/lang/en")
    assert UserDirectory(world.store).get("monitor").language == "en"
    # Another device with no language cookie at all shows the user's choice.
    assert "callqa_lang" not in phone.cookies
    assert '<html lang="en">' in phone.get("/t/acme/queue").text
    # A signed-in user's stored choice wins over a stale cookie from the sign-in page.
    phone.cookies.set("callqa_lang", "zh_CN")
    assert "Review queue" in phone.get("/t/acme/queue").text
    # Other users keep the tenant's default (Chinese here).
    assert "质检队列" in _client(zh_app, "super").get("/t/acme/queue").text


def test_the_cookie_only_serves_pages_before_sign_in(zh_app):
    anonymous = TestClient(zh_app)
    anonymous.get("/lang/zh_CN")
    assert '<html lang="zh-CN">' in anonymous.get("/login").text
    anonymous.get("/lang/en")
    assert '<html lang="en">' in anonymous.get("/login").text
    # Signing in on that browser shows the user's own (unset: the tenant's) language.
    anonymous.post("/login", data={"username": "monitor", "password": PASSWORD})
    assert "质检队列" in anonymous.get("/t/acme/queue").text


def test_english_tenant_defaults_to_english(client_for):
    page = client_for("monitor").get("/t/acme/queue").text
    assert '<html lang="en">' in page and "Review queue" in page


def test_dashboard_shows_percentages(zh_app):
    c = _client(zh_app, "super")
    page = c.get("/t/acme/dashboard?all_time=true&grouping=tenant").text
    assert "0.6667" not in page and "66.7%" in page  # fatal-error accuracy of 3 calls
    assert "致命差错准确率" in page


def test_errors_reach_browsers_as_pages(zh_app, client_for):
    c = _client(zh_app, "monitor")
    html = {"accept": "text/html,application/xhtml+xml"}
    r = c.get("/t/acme/queue?day_from=31-12-2026", headers=html)
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "无法完成此请求" in r.text and "YYYY-MM-DD" in r.text
    r = c.get("/api/t/acme/cases/pack", headers=html)
    assert r.status_code in (403, 422) and r.headers["content-type"].startswith("text/html")
    # Scripts still get JSON.
    r = c.get("/api/t/acme/queue?day_from=31-12-2026")
    assert r.status_code == 422 and r.json()["detail"].startswith("dates are YYYY-MM-DD")


def test_local_time_and_percent_helpers():
    from zoneinfo import ZoneInfo

    assert local_time("2026-11-02T01:00:00", ZoneInfo("Asia/Shanghai")) == "2026-11-02 09:00 CST"
    assert local_time("2026-11-02T09:00:00+08:00", ZoneInfo("UTC")) == "2026-11-02 01:00 UTC"
    use_language("zh_CN")
    assert percent(0.9654) == "96.5%"
    use_language("en")
    assert percent(1.0, 0) == "100%"


def test_the_calls_audit_trail_is_complete_and_readable_in_both_languages(zh_app, world):
    # Before, the call page printed each entry's raw dictionaries ("{'item_status': ...}")
    # and left out assignments, "confirm the rest" and case tags.
    from qa_pipeline.review import CaseLibrary, ReviewDesk

    sid = world.card_ids["call-good"]
    tenant = world.store.tenant("acme")
    desk = ReviewDesk(tenant, world.catalog)
    desk.assign([sid], "monitor", actor="super")
    desk.review_item(sid, "closing", "fail", reviewer="monitor", comment="said it too early",
                     utterances=[2, 0])
    dispute = desk.raise_dispute(sid, "closing", "I did ask", raised_by="agent1")
    desk.decide_dispute(dispute, "upheld", decided_by="super", comment="heard it",
                        verdict="pass")
    desk.confirm_remaining(sid, reviewer="monitor")
    CaseLibrary(tenant).tag("call-good", "good", tagged_by="trainer", note="model opening")
    actions = [a["action"] for a in desk.audit_trail(sid)]
    assert actions == ["review.assign", "review.item", "dispute.raise", "dispute.decide",
                       "review.confirm_remaining", "case.tag"]

    c = _client(zh_app, "monitor")
    page = c.get(f"/t/acme/scorecards/{sid}").text
    audit = page[page.index('<ul id="audit">'):].split("</ul>", 1)[0]
    assert "{" not in audit and "item_status" not in audit, audit
    for text in ("分配了通话", "负责人: — → monitor", "复核了一项", "判定: 通过 → 不通过",
                 "已指认原话: #0, #2", "说明: said it too early", "提出了申诉",
                 "评分项: closing", "裁定了申诉", "裁定: 待处理 → 申诉成立",
                 "判定: 不通过 → 通过", "确认了其余各项", "将通话标为案例",
                 "案例标签: good"):
        assert text in audit, audit
    c.get("/lang/en")
    page = c.get(f"/t/acme/scorecards/{sid}").text
    audit = page[page.index('<ul id="audit">'):].split("</ul>", 1)[0]
    for text in ("reviewed an item", "verdict: pass → fail", "lines pointed at: #0, #2",
                 "decision: open → upheld", "tagged the call as a case"):
        assert text in audit, text
