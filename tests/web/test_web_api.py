"""Every endpoint of the review app: sign-in, roles, tenant scoping (another tenant's
calls, audio and exports answer 404), the agent's own-calls view, JSON-only mutations,
login throttling, and that recordings outside the audio roots are never served.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from qa_pipeline.store.tables import Call


def ids(world):
    return world.card_ids


def tenant_urls(world):
    """GET endpoints of tenant acme (scorecard = the unsure call's)."""
    sid = ids(world)["call-unsure"]
    return [
        "/t/acme/queue", "/api/t/acme/queue", "/api/t/acme/sampling?day=2026-11-02",
        f"/t/acme/scorecards/{sid}", f"/api/t/acme/scorecards/{sid}",
        "/api/t/acme/calls/call-unsure/audio", "/t/acme/disputes", "/api/t/acme/disputes",
        "/t/acme/calibration", "/api/t/acme/calibration",
        "/api/t/acme/calibration/greeting/disagreements", "/t/acme/cases",
        "/api/t/acme/cases", "/api/t/acme/cases/exemplars?criterion_id=greeting",
        "/api/t/acme/cases/pack?call_id=call-unsure", "/t/acme/dashboard",
        "/api/t/acme/dashboard", "/api/t/acme/dashboard/export.csv",
        "/api/t/acme/dashboard/export.xlsx"]


def test_health_and_login_page(client_for):
    c = client_for(None)
    assert c.get("/healthz").json()["status"] == "ok"
    assert "Sign in" in c.get("/login").text


def test_signed_out_api_is_401_and_pages_redirect(client_for, world):
    c = client_for(None)
    for url in tenant_urls(world):
        r = c.get(url, follow_redirects=False)
        if url.startswith("/api/"):
            assert r.status_code == 401, url
        else:
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), url
    assert c.post("/api/t/acme/cases/tags", json={}).status_code == 401


def test_wrong_password_then_throttled(client_for):
    c = client_for(None)
    for _ in range(3):
        r = c.post("/login", data={"username": "monitor", "password": "nope nope"})
        assert r.status_code == 401 and "wrong user name or password" in r.text
    from tests.review_fixtures import PASSWORD

    r = c.post("/login", data={"username": "monitor", "password": PASSWORD})
    assert r.status_code == 429  # even the right password waits out the lockout


def test_forged_or_stale_session_is_rejected(client_for, world):
    c = client_for("monitor")
    cookie = c.cookies.get("callqa_session")
    body, mac = cookie.split(".")
    assert c.get("/api/me").json()["user_id"] == "monitor"
    import base64

    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["u"] = "admin"  # claim another user with the old signature
    other = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    c.cookies.clear()
    c.cookies.set("callqa_session", cookie)
    assert c.get("/api/me").status_code == 200  # the jar works: a set cookie is sent
    for forged in (body + "." + mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB"),
                   other + "." + mac, "garbage", cookie + "x"):
        c.cookies.clear()
        c.cookies.set("callqa_session", forged)
        assert c.get("/api/me").status_code == 401, forged
    c2 = client_for("monitor")
    from qa_pipeline.review import UserDirectory

    UserDirectory(world.store).set_password("monitor", "a brand new password")
    assert c2.get("/api/me").status_code == 401  # password change ends sessions


def test_login_redirect_stays_on_site(client_for):
    from tests.review_fixtures import PASSWORD

    c = client_for(None)
    r = c.post("/login", data={"username": "monitor", "password": PASSWORD,
                               "next": "//evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/"


@pytest.mark.parametrize("user", ["admin", "monitor", "super", "trainer"])
def test_every_get_endpoint_answers_for_allowed_roles(client_for, world, user):
    c = client_for(user)
    denied = {"monitor": {"export"}, "trainer": {"export", "sampling"},
              "admin": set(), "super": set()}[user]
    for url in tenant_urls(world):
        r = c.get(url)
        kind = "export" if "/export." in url else "sampling" if "sampling" in url else ""
        expected = 403 if kind in denied else 200
        assert r.status_code == expected, (user, url, r.text[:200])


def test_other_tenants_data_is_404_everywhere(client_for, world):
    c = client_for("monitor")  # acme only
    g = ids(world)["call-globex"]
    for url in [u.replace("/acme/", "/globex/") for u in tenant_urls(world)]:
        assert c.get(url).status_code == 404, url
    # globex's ids through acme's routes
    for url in (f"/api/t/acme/scorecards/{g}", f"/t/acme/scorecards/{g}",
                "/api/t/acme/calls/call-globex/audio",
                "/api/t/acme/cases/pack?call_id=call-globex"):
        assert c.get(url).status_code == 404, url
    r = c.post(f"/api/t/acme/scorecards/{g}/items/greeting/review", json={"verdict": "fail"})
    assert r.status_code == 404
    assert c.post(f"/api/t/globex/scorecards/{g}/items/greeting/review",
                  json={"verdict": "fail"}).status_code == 404
    assert c.post(f"/api/t/acme/scorecards/{g}/items/greeting/disputes",
                  json={"reason": "x"}).status_code == 403  # role first: reveals nothing
    s = client_for("super")
    assert s.post(f"/api/t/acme/scorecards/{g}/items/greeting/disputes",
                  json={"reason": "x"}).status_code == 404
    from qa_pipeline.review import CaseLibrary

    globex_tag = CaseLibrary(world.store.tenant("globex")).tag("call-globex", "good",
                                                               tagged_by="gmonitor")
    assert s.delete(f"/api/t/acme/cases/tags/{globex_tag}").status_code == 404
    assert CaseLibrary(world.store.tenant("globex")).tags("call-globex") != []
    assert s.get("/api/t/globex/dashboard/export.csv").status_code == 404
    assert s.get("/api/t/globex/dashboard/export.xlsx").status_code == 404
    # and nothing of globex leaks into acme's lists
    assert "globex" not in json.dumps(c.get("/api/t/acme/queue").json())
    assert c.get("/api/t/acme/cases?phrase=globex").json() == []


def test_admin_of_two_tenants_sees_both(client_for, world):
    c = client_for("admin")
    assert c.get("/api/t/globex/queue").json()["total"] == 1
    assert c.get("/api/t/acme/queue").json()["total"] == 3


def test_queue_api_filters_and_validates(client_for):
    c = client_for("monitor")
    rows = c.get("/api/t/acme/queue?needs_review=true").json()["rows"]
    assert [r["call_id"] for r in rows] == ["call-unsure"]
    assert c.get("/api/t/acme/queue?fatal=true&team=team-a").json()["total"] == 1
    assert c.get("/api/t/acme/queue?day_from=2026-11-03").json()["total"] == 1
    assert c.get("/api/t/acme/queue?fatal=perhaps").status_code == 422
    assert c.get("/api/t/acme/queue?day_from=03/11/2026").status_code == 422
    assert c.get("/api/t/acme/queue?sentiment=angry").status_code == 422
    assert c.get("/api/t/acme/queue?limit=5000").status_code == 422


def test_review_changes_score_and_is_audited(client_for, world):
    c = client_for("monitor")
    sid = ids(world)["call-unsure"]
    url = f"/api/t/acme/scorecards/{sid}/items/unauthorized_promise/review"
    r = c.post(url, json={"verdict": "fail", "comment": "heard the promise"})
    assert r.status_code == 200
    assert (r.json()["total_score"], r.json()["has_fatal"]) == (0.0, True)
    bundle = c.get(f"/api/t/acme/scorecards/{sid}").json()
    assert bundle["card"]["total_score"] == 0.0
    assert bundle["audit"][-1]["actor"] == "monitor"
    assert bundle["audit"][-1]["after"]["comment"] == "heard the promise"
    assert c.post(url, json={"verdict": "perhaps"}).status_code == 422
    assert c.post(url, content=b"verdict=fail",
                  headers={"content-type": "application/x-www-form-urlencoded"}
                  ).status_code == 415  # JSON only: a cross-site form cannot post here
    assert c.post(url, content=b"{not json", headers={"content-type": "application/json"}
                  ).status_code == 400
    assert c.post(url, content=b"[1]", headers={"content-type": "application/json"}
                  ).status_code == 400


def test_roles_that_may_not_review_or_tag(client_for, world):
    sid = ids(world)["call-unsure"]
    url = f"/api/t/acme/scorecards/{sid}/items/greeting/review"
    assert client_for("trainer").post(url, json={"verdict": "fail"}).status_code == 403
    assert client_for("monitor").post("/api/t/acme/cases/tags", json={
        "call_id": "call-good", "label": "good"}).status_code == 403
    assert client_for("trainer").post(
        f"/api/t/acme/scorecards/{sid}/items/greeting/disputes",
        json={"reason": "x"}).status_code == 403


def test_agent_sees_and_disputes_only_own_calls(client_for, world):
    a = client_for("agent1")  # agent ag-1: call-good and call-fatal
    assert {r["call_id"] for r in a.get("/api/t/acme/queue").json()["rows"]} == {
        "call-good", "call-fatal"}
    assert a.get(f"/api/t/acme/scorecards/{ids(world)['call-unsure']}").status_code == 404
    assert a.get("/api/t/acme/calls/call-unsure/audio").status_code == 404
    assert a.get("/api/t/acme/calls/call-fatal/audio").status_code == 200
    assert a.get("/api/t/acme/cases").status_code == 403
    assert a.get("/api/t/acme/calibration").status_code == 403
    kpis = a.get("/api/t/acme/dashboard?grouping=agent&all_time=true").json()["kpis"]
    assert [k["agent"] for k in kpis] == ["ag-1"]
    sid = ids(world)["call-fatal"]
    r = a.post(f"/api/t/acme/scorecards/{sid}/items/unauthorized_promise/disputes",
               json={"reason": "I refused to promise"})
    assert r.status_code == 200
    did = r.json()["dispute_id"]
    assert a.post(f"/api/t/acme/scorecards/{sid}/items/unauthorized_promise/disputes",
                  json={"reason": "again"}).status_code == 409
    assert a.post(f"/api/t/acme/disputes/{did}/decision",
                  json={"decision": "upheld", "verdict": "pass"}).status_code == 403
    m = client_for("monitor")
    r = m.post(f"/api/t/acme/disputes/{did}/decision",
               json={"decision": "upheld", "verdict": "pass", "comment": "agreed"})
    assert r.status_code == 200 and r.json()["status"] == "upheld"
    assert m.get(f"/api/t/acme/scorecards/{sid}").json()["card"]["total_score"] == 100.0
    assert [d["status"] for d in a.get("/api/t/acme/disputes").json()] == ["upheld"]
    assert m.post(f"/api/t/acme/disputes/{did}/decision",
                  json={"decision": "rejected"}).status_code == 409
    g = client_for("gmonitor")
    assert g.post(f"/api/t/globex/disputes/{did}/decision",
                  json={"decision": "rejected"}).status_code == 404


def test_audio_is_streamed_with_ranges_and_never_outside_roots(client_for, world):
    c = client_for("monitor")
    r = c.get("/api/t/acme/calls/call-good/audio", headers={"Range": "bytes=0-43"})
    assert r.status_code == 206 and r.content[:4] == b"RIFF" and len(r.content) == 44
    assert r.headers["cache-control"] == "private, no-store"
    secret = world.audio_dir.parent / "secret.wav"
    secret.write_bytes((world.audio_dir / "acme-call-good.wav").read_bytes())
    for uri in (str(secret), str(world.audio_dir / ".." / "secret.wav"), "s3://bucket/x.wav",
                "file:///etc/passwd"):
        with world.store.tenant("acme").session() as s:
            s.get(Call, ("acme", "call-good")).source_uri = uri
        assert c.get("/api/t/acme/calls/call-good/audio").status_code == 404, uri
    link = world.audio_dir / "link.wav"
    link.symlink_to(secret)
    with world.store.tenant("acme").session() as s:
        s.get(Call, ("acme", "call-good")).source_uri = str(link)
    assert c.get("/api/t/acme/calls/call-good/audio").status_code == 404
    assert c.get("/api/t/acme/calls/..%2F..%2Fetc%2Fpasswd/audio").status_code == 404


def test_case_library_endpoints(client_for, world):
    t = client_for("trainer")
    r = t.post("/api/t/acme/cases/tags", json={"call_id": "call-fatal", "label": "bad",
                                               "criterion_id": "unauthorized_promise",
                                               "note": "refund date promised"})
    assert r.status_code == 200
    tag_id = r.json()["tag_id"]
    found = t.get("/api/t/acme/cases?label=bad").json()
    assert [f["call_id"] for f in found] == ["call-fatal"]
    assert found[0]["tags"][0]["note"] == "refund date promised"
    assert t.get("/api/t/acme/cases?outcome=fail").status_code == 422  # needs a criterion
    ex = t.get("/api/t/acme/cases/exemplars?criterion_id=unauthorized_promise").json()
    assert [e["call_id"] for e in ex["fail"]] == ["call-fatal"]
    r = t.get("/api/t/acme/cases/pack?call_id=call-fatal&criterion_id=unauthorized_promise")
    assert r.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert "call-fatal/clip.wav" in z.namelist()
    assert json.loads(z.read("index.json"))["calls"][0]["tags"][0]["label"] == "bad"
    assert t.delete(f"/api/t/acme/cases/tags/{tag_id}").status_code == 200
    assert t.delete(f"/api/t/acme/cases/tags/{tag_id}").status_code == 404
    assert t.post("/api/t/acme/cases/tags", json={"call_id": "call-globex",
                                                  "label": "good"}).status_code == 404
    many = "&".join(f"call_id=c{i}" for i in range(51))
    assert t.get(f"/api/t/acme/cases/pack?{many}").status_code == 422


def test_calibration_and_dashboard_endpoints(client_for, world):
    m = client_for("monitor")
    for call in ("call-good", "call-fatal"):
        m.post(f"/api/t/acme/scorecards/{ids(world)[call]}/items/greeting/review",
               json={"verdict": "pass"})
    m.post(f"/api/t/acme/scorecards/{ids(world)['call-unsure']}/items/greeting/review",
           json={"verdict": "fail"})
    rows = m.get("/api/t/acme/calibration").json()
    assert rows == [{"criterion_id": "greeting", "n": 3, "agreed": 2,
                     "percent_agreement": 0.6667, "kappa": 0.0, "alert": False}]
    page = m.get("/t/acme/calibration").text
    assert "66.7%" in page and "0.000" in page
    over = m.get("/api/t/acme/calibration/greeting/disagreements").json()
    assert [(d["call_id"], d["automated"], d["human"], d["reviewer"]) for d in over] == [
        ("call-unsure", "pass", "fail", "monitor")]
    assert "call-unsure" in m.get("/t/acme/calibration?criterion=greeting").text
    assert client_for("agent1").get(
        "/api/t/acme/calibration/greeting/disagreements").status_code == 403
    assert m.get("/api/t/globex/calibration/greeting/disagreements").status_code == 404
    d = m.get("/api/t/acme/dashboard?grouping=day&all_time=true").json()
    assert [(k["day"], k["calls"]) for k in d["kpis"]] == [("2026-11-02", 2), ("2026-11-03", 1)]
    assert d["trend"] == d["kpis"]  # the per-day chart
    assert d["top_failing"][0]["failures"] == 1 and d["grades"] == {"A": 1, "E": 2}
    assert "trend-chart" in m.get("/t/acme/dashboard?all_time=true").text
    assert m.get("/api/t/acme/dashboard?grouping=planet").status_code == 422
    s = client_for("super")
    r = s.get("/api/t/acme/dashboard/export.csv?grouping=agent&day_from=2026-11-01")
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("tenant,agent,calls") and len(lines) == 3
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(s.get("/api/t/acme/dashboard/export.xlsx").content))
    assert set(wb.sheetnames) == {"kpis", "coverage", "top_failing", "grades", "call_reasons"}
    assert s.get("/api/t/acme/dashboard/export.pdf").status_code == 404


def test_openapi_lists_the_api(client_for):
    spec = client_for(None).get("/api/openapi.json").json()
    assert "/api/t/{tenant}/scorecards/{scorecard_id}/items/{criterion_id}/review" in spec[
        "paths"]


def test_dashboards_default_to_the_30_days_up_to_the_newest_data(world, settings):
    import dataclasses
    import datetime as dt

    from fastapi.testclient import TestClient

    from qa_pipeline.web.app import create_app
    from tests.review_fixtures import PASSWORD

    later = dataclasses.replace(settings, today=lambda: dt.date(2026, 12, 31))
    c = TestClient(create_app(world.store, later))
    c.post("/login", data={"username": "super", "password": PASSWORD})
    tenant_kpis = "/api/t/acme/dashboard?grouping=tenant&"
    # Calls of 2026-11-02/03 still show in December (issue 26: the page was empty).
    assert c.get(tenant_kpis).json()["kpis"][0]["calls"] == 3
    assert c.get(tenant_kpis + "all_time=true").json()["kpis"][0]["calls"] == 3
    assert c.get(tenant_kpis + "day_from=2026-11-03").json()["kpis"][0]["calls"] == 1
    assert c.get(tenant_kpis + "day_from=2026-12-01").json()["kpis"] == []
    assert 'value="2026-10-05"' in c.get("/t/acme/dashboard").text  # the window is shown


def test_cached_dashboards_follow_reviews_rescoring_and_purges(client_for, world):
    s = client_for("super")
    url = "/api/t/acme/dashboard?grouping=tenant&all_time=true"
    first = s.get(url).json()["kpis"][0]
    assert first["fatal_error_calls"] == 1 and s.get(url).json()["kpis"][0] == first
    m = client_for("monitor")
    m.post(f"/api/t/acme/scorecards/{ids(world)['call-unsure']}/items/unauthorized_promise/"
           "review", json={"verdict": "fail"})
    assert s.get(url).json()["kpis"][0]["fatal_error_calls"] == 2  # not the cached 1
    # Re-scoring the newest card under the same rubric version replaces it (same id can
    # come back in SQLite); its creation time still moves the version.
    ts = world.store.tenant("acme")
    from qa_pipeline.rubric.context import EvaluationContext
    from qa_pipeline.rubric.engine import evaluate
    from qa_pipeline.scorecard.card import build_scorecard

    rubric = world.catalog.get("review_demo@3")
    conv, _ = ts.conversation("call-unsure")
    card = build_scorecard(rubric, evaluate(rubric, EvaluationContext(conv)),
                           call_id="call-unsure", tenant_id="acme", provenance={},
                           call={"agent_id": "ag-2", "started_at": "2026-11-03T11:00:00+08:00"})
    ts.save_scorecard(card)  # the human verdict is gone with the replaced card
    assert s.get(url).json()["kpis"][0]["fatal_error_calls"] == 1
    import datetime as dt

    ts.purge_calls(before=dt.datetime(2026, 11, 3))
    assert s.get(url).json()["kpis"][0]["calls"] == 1
