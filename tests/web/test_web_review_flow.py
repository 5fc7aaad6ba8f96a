"""Issue 26 findings on the review app's server side: sessions end on sign-out, malformed
cookies are 401 (not 500), audio comes only from the call's tenant's folders, a call is
monitored only when its review is complete, disputes only on failed scored items, and
``serve`` warns about a store without scorecards.
"""

from __future__ import annotations

import pytest

from qa_pipeline.store import Store
from qa_pipeline.web.app import create_app, empty_store_warning
from qa_pipeline.web.settings import WebSettings, parse_audio_roots


def test_sign_out_revokes_the_session_on_the_server(client_for):
    c = client_for("monitor")
    cookie = c.cookies.get("callqa_session")
    assert c.get("/api/me").status_code == 200
    c.post("/logout", follow_redirects=False)
    c.cookies.clear()
    c.cookies.set("callqa_session", cookie)  # a copy of the cookie taken before sign-out
    assert c.get("/api/me").status_code == 401


def test_malformed_and_non_ascii_cookies_are_401(client_for):
    c = client_for(None)
    for value in ("é.x", "abc.déf", "a.b.c", ".", "eyJ1IjoxfQ.x"):
        r = c.get("/api/me", headers={"cookie": f"callqa_session={value}".encode()})
        assert r.status_code == 401, value
    r = c.get("/t/acme/queue", headers={"cookie": "callqa_session=é.x".encode()},
              follow_redirects=False)
    assert r.status_code == 303


def test_audio_only_from_the_calls_tenant_roots(world, tmp_path):
    # acme's recordings live in world.audio_dir; give acme another folder: its call's file
    # (inside the shared root) must no longer be served.
    other = tmp_path / "acme-only"
    other.mkdir()
    settings = WebSettings(secret_key=b"k" * 32, rubric_paths=(world.rubric_dir,),
                           audio_roots=(world.audio_dir,),
                           tenant_audio_roots={"acme": (other,)})
    from fastapi.testclient import TestClient

    from tests.review_fixtures import PASSWORD

    c = TestClient(create_app(world.store, settings))
    c.post("/login", data={"username": "monitor", "password": PASSWORD})
    assert c.get("/api/t/acme/calls/call-unsure/audio").status_code == 404
    shared = WebSettings(secret_key=b"k" * 32, rubric_paths=(world.rubric_dir,),
                         audio_roots=(world.audio_dir,))
    c2 = TestClient(create_app(world.store, shared))
    c2.post("/login", data={"username": "monitor", "password": PASSWORD})
    assert c2.get("/api/t/acme/calls/call-unsure/audio").status_code == 200


def test_audio_root_options_split_per_tenant(tmp_path):
    shared, per = parse_audio_roots([str(tmp_path), "acme=/data/acme", "acme=/data/acme2"])
    assert shared == (tmp_path,)
    assert {k: [str(p) for p in v] for k, v in per.items()} == {
        "acme": ["/data/acme", "/data/acme2"]}


def test_saving_one_verdict_does_not_complete_a_review(client_for, world):
    c = client_for("monitor")
    sid = world.card_ids["call-good"]
    r = c.post(f"/api/t/acme/scorecards/{sid}/items/greeting/review", json={"verdict": "pass"})
    assert r.status_code == 200
    rows = {x["call_id"]: x for x in c.get("/api/t/acme/queue").json()["rows"]}
    assert rows["call-good"]["human_reviewed"] is False
    r = c.post(f"/api/t/acme/scorecards/{sid}/confirm")
    assert r.status_code == 200 and r.json()["human_reviewed"] is True
    rows = {x["call_id"]: x for x in c.get("/api/t/acme/queue").json()["rows"]}
    assert rows["call-good"]["human_reviewed"] is True


def test_confirm_all_refuses_while_items_need_review(client_for, world):
    c = client_for("monitor")
    sid = world.card_ids["call-unsure"]
    r = c.post(f"/api/t/acme/scorecards/{sid}/confirm")
    assert r.status_code == 422 and "unauthorized_promise" in r.json()["detail"]


def test_fatal_overturn_without_comment_is_refused(client_for, world):
    c = client_for("monitor")
    sid = world.card_ids["call-fatal"]
    url = f"/api/t/acme/scorecards/{sid}/items/unauthorized_promise/review"
    assert c.post(url, json={"verdict": "pass", "comment": ""}).status_code == 422
    assert c.post(url, json={"verdict": "pass", "comment": "refused in context"}
                  ).status_code == 200


def test_agents_cannot_dispute_passing_items(client_for, world):
    c = client_for("agent1")
    sid = world.card_ids["call-fatal"]
    base = f"/api/t/acme/scorecards/{sid}/items"
    r = c.post(f"{base}/greeting/disputes", json={"reason": "fine"})
    assert r.status_code == 422 and "did not fail" in r.json()["detail"]
    assert c.post(f"{base}/unauthorized_promise/disputes",
                  json={"reason": "I refused"}).status_code == 200


def test_empty_store_warning(world, tmp_path):
    assert empty_store_warning(world.store) == ""
    # A plain file copy of a WAL-mode store taken while data sits in the -wal file.
    db = tmp_path / "empty.db"
    empty = Store(f"sqlite:///{db}")
    try:
        empty.register_tenant("acme")
        warning = empty_store_warning(empty)
        assert "no scorecards" in warning and "db backup" in warning
    finally:
        empty.close()


def test_flags_are_not_failures_nor_disputable(client_for, world):
    """Issue 26 item 3: an observation flag that fired is not an agent failure."""
    sid = world.card_ids["call-good"]
    c = client_for("super")
    card = c.get(f"/api/t/acme/scorecards/{sid}").json()["card"]
    flag = next(i for i in card["items"] if i["criterion_id"] == "customer_thanked")
    assert flag["kind"] == "flag" and flag["status"] == "fail"  # the flag fired
    top = c.get("/api/t/acme/dashboard?all_time=true").json()["top_failing"]
    assert "customer_thanked" not in {r["criterion_id"] for r in top}
    r = client_for("agent1").post(
        f"/api/t/acme/scorecards/{sid}/items/customer_thanked/disputes", json={"reason": "x"})
    assert r.status_code == 422 and "observation" in r.json()["detail"]


def test_dashboard_defaults_to_the_latest_data_and_all_time_wins(client_for, world):
    c = client_for("super")
    d = c.get("/api/t/acme/dashboard").json()
    # The sample calls are from 2026-11; "today" in the app is later, yet they show.
    assert sum(r["calls"] for r in d["kpis"]) == 3
    page = c.get("/t/acme/dashboard").text
    assert "2026-10-05" in page and "2026-11-03" in page  # the period is named
    every = c.get("/api/t/acme/dashboard?all_time=true&day_from=2026-11-03").json()
    assert sum(r["calls"] for r in every["kpis"]) == 3  # the checkbox is not ignored


def test_empty_exports_carry_headers(client_for):
    c = client_for("super")
    r = c.get("/api/t/acme/dashboard/export.csv?day_from=2020-01-01&day_to=2020-01-02")
    assert r.status_code == 200
    text = r.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("tenant,agent,calls,fatal_error_calls")
    import io

    from openpyxl import load_workbook

    r = c.get("/api/t/acme/dashboard/export.xlsx?day_from=2020-01-01&day_to=2020-01-02")
    wb = load_workbook(io.BytesIO(r.content))
    assert next(wb["kpis"].iter_rows(values_only=True))[:2] == ("tenant", "agent")
    assert next(wb["coverage"].iter_rows(values_only=True))[0] == "agent"


def test_case_tags_need_a_real_criterion_and_keep_notes(client_for, world):
    c = client_for("trainer")
    r = c.post("/api/t/acme/cases/tags", json={"call_id": "call-fatal", "label": "bad",
                                              "criterion_id": "unauthorised_promise"})
    assert r.status_code == 422 and "unauthorized_promise" in r.json()["detail"]  # a typo
    for note in ("promised a refund", "use in week 2 training"):
        assert c.post("/api/t/acme/cases/tags", json={
            "call_id": "call-fatal", "label": "bad", "criterion_id": "unauthorized_promise",
            "note": note}).status_code == 200
    rows = c.get("/api/t/acme/cases?criterion_id=unauthorized_promise&outcome=fail").json()
    assert len(rows) == 1
    row = rows[0]
    assert row["verdict"] == "fail" and "i guarantee" in row["quote"]
    assert row["confidence"] == pytest.approx(0.95)
    (tag,) = row["tags"]
    assert tag["note"] == "promised a refund\nuse in week 2 training"
    assert c.delete(f"/api/t/acme/cases/tags/{tag['tag_id']}").status_code == 200
    assert c.get("/api/t/acme/cases?label=bad").json() == []
    from qa_pipeline.review.cases import CaseLibrary

    history = CaseLibrary(world.store.tenant("acme")).history("call-fatal")
    assert [h["action"] for h in history] == ["case.tag", "case.tag", "case.untag"]


def test_queue_sorts_and_shows_length(client_for):
    c = client_for("monitor")
    rows = c.get("/api/t/acme/queue?sort=score").json()["rows"]
    scores = [r["total_score"] for r in rows if not r["needs_review"]]
    assert scores == sorted(scores)
    assert all(r["duration_s"] and r["duration_s"] > 0 for r in rows)
    assert c.get("/api/t/acme/queue?sort=bogus").status_code == 422


def test_only_matched_words_are_highlighted(client_for, world):
    html = client_for("monitor").get(f"/t/acme/scorecards/{world.card_ids['call-fatal']}").text
    import re

    hits = re.findall(r'<span class="w hit"[^>]*>([^<]+)</span>', html)
    assert "guarantee" in hits and "i" in hits
    assert "refund" not in hits and "tomorrow" not in hits  # quoted, but not matched
    from qa_pipeline.web.app import word_is_hit

    assert word_is_hit("投诉", ["我要投诉你们"]) and not word_is_hit("你好", ["我要投诉"])


def test_calls_are_assigned_to_monitors(client_for, world):
    """Issue 26: assignment to a monitor, and a queue of one's own assignments."""
    s = client_for("super")
    ids = [world.card_ids["call-good"], world.card_ids["call-unsure"]]
    r = s.post("/api/t/acme/queue/assign", json={"scorecard_ids": ids, "assignee": "monitor"})
    assert r.status_code == 200 and r.json()["assigned"] == 2
    assert s.post("/api/t/acme/queue/assign", json={"scorecard_ids": ids,
                                                    "assignee": "trainer"}).status_code == 422
    assert s.post("/api/t/acme/queue/assign", json={
        "scorecard_ids": [world.card_ids["call-globex"]], "assignee": "monitor"}
    ).status_code == 404  # another tenant's card
    m = client_for("monitor")
    mine = m.get("/api/t/acme/queue?assignee=me").json()["rows"]
    assert {r["call_id"] for r in mine} == {"call-good", "call-unsure"}
    assert all(r["assignee"] == "monitor" for r in mine)
    assert client_for("agent1").post("/api/t/acme/queue/assign", json={
        "scorecard_ids": ids, "assignee": ""}).status_code == 403
