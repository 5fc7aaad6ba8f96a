"""Issue 26 findings on the review app's server side: sessions end on sign-out, malformed
cookies are 401 (not 500), audio comes only from the call's tenant's folders, a call is
monitored only when its review is complete, disputes only on failed scored items, and
``serve`` warns about a store without scorecards.
"""

from __future__ import annotations

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
