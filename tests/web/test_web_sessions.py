"""Blind calibration sessions (issue 26): a supervisor sets one up, invited monitors score
the same calls blind, their verdicts change no scorecard, and the completed session shows
agreement per criterion (pairs agreeing, Krippendorff's alpha) and each monitor against the
automated verdicts, checked against hand-computed figures.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from qa_pipeline.errors import ReviewConflictError, ReviewError
from qa_pipeline.review.calibration import calibration
from qa_pipeline.review.calibration_sessions import CalibrationSessions, krippendorff_alpha
from qa_pipeline.review.users import UserDirectory
from qa_pipeline.store.tables import Review, ScorecardRow
from tests.review_fixtures import PASSWORD, build_world
from tests.store_fixtures import db_url  # noqa: F401 - fixture

CALLS = ["call-good", "call-fatal", "call-unsure"]
# Monitor -> criterion -> verdicts on CALLS (p = pass, f = fail).
SHEETS = {
    "monitor": {"greeting": "ppp", "unauthorized_promise": "pff", "closing": "ppf"},
    "monitor2": {"greeting": "ppf", "unauthorized_promise": "pff", "closing": "ppf"},
    "super": {"greeting": "ppp", "unauthorized_promise": "pfp", "closing": "ppf"},
}
CODE = {"p": "pass", "f": "fail"}


def sheet(user: str) -> dict[tuple[str, str], tuple[str, str]]:
    return {(call, crit): (CODE[letters[k]], "")
            for crit, letters in SHEETS[user].items() for k, call in enumerate(CALLS)}


@pytest.fixture
def monitor2(world):
    UserDirectory(world.store).create("monitor2", PASSWORD, role="qa_monitor",
                                      tenants=("acme",))
    return "monitor2"


@pytest.fixture
def any_world(db_url, tmp_path):  # noqa: F811
    """The review world on SQLite and, when configured, PostgreSQL."""
    w = build_world(tmp_path, db_url)
    UserDirectory(w.store).create("monitor2", PASSWORD, role="qa_monitor", tenants=("acme",))
    yield w
    w.store.close()


def test_hand_computed_agreement(any_world):
    cs = CalibrationSessions(any_world.store.tenant("acme"))
    sid = cs.create("November", CALLS, list(SHEETS), created_by="super")
    assert set(cs.criteria(sid)["call-fatal"][i]["criterion_id"] for i in range(3)) == {
        "greeting", "unauthorized_promise", "closing"}  # the observation flag is not scored
    with pytest.raises(ReviewConflictError, match="0 of 3"):
        cs.results(sid)  # blind until complete
    for user in SHEETS:
        cs.submit(sid, user, sheet(user))
    r = {c.criterion_id: c for c in cs.results(sid).criteria}
    # greeting: calls 1 and 2 unanimous (3 + 3 agreeing pairs), call 3 p,f,p (1 of 3):
    # 7/9 pairs. Coincidences o_pp = 7, o_pf = o_fp = 1, n_p = 8, n_f = 1, n = 9:
    # D_o = 2/9, D_e = 2*8*1/(9*8) = 2/9, alpha = 1 - 1 = 0. Automated pass x3: 8/9.
    g = r["greeting"]
    assert (g.calls, g.pairs, g.agreeing_pairs) == (3, 9, 7)
    assert g.pairwise_agreement == pytest.approx(7 / 9)
    assert g.alpha == pytest.approx(0.0, abs=1e-9)
    assert g.ai_agreement == pytest.approx(8 / 9)
    assert g.small_sample  # 3 calls < 10
    # promise: p,p,p / f,f,f / f,f,p: 7/9 pairs; n_p = 4, n_f = 5, o_pf = o_fp = 1:
    # D_o = 2/9, D_e = 2*4*5/(9*8) = 5/9, alpha = 1 - 2/5 = 0.6. Automated p,f,f: 8/9.
    p = r["unauthorized_promise"]
    assert p.pairwise_agreement == pytest.approx(7 / 9)
    assert p.alpha == pytest.approx(0.6)
    assert p.ai_agreement == pytest.approx(8 / 9)
    # closing: unanimous p,p,f; alpha 1; automated p,p,f.
    c = r["closing"]
    assert (c.pairwise_agreement, c.alpha, c.ai_agreement) == (1.0, pytest.approx(1.0), 1.0)
    m = {x.user_id: x for x in cs.results(sid).monitors}
    assert (m["monitor"].items, m["monitor"].agreed, m["monitor"].kappa) == (9, 9, 1.0)
    assert (m["monitor2"].agreed, m["super"].agreed) == (8, 8)


def test_session_verdicts_change_no_scorecard_review_or_calibration(world, monitor2):
    ts = world.store.tenant("acme")
    cs = CalibrationSessions(ts)
    sid = cs.create("blind", CALLS, ["monitor", "monitor2"], created_by="super")
    before = ts.scorecards()
    for user in ("monitor", "monitor2"):
        cs.submit(sid, user, sheet(user))
    assert ts.scorecards() == before
    with ts.session() as s:
        assert s.scalars(select(Review)).all() == []
        assert not any(s.scalars(select(ScorecardRow.human_reviewed)))
    assert calibration(ts) == []


def test_refusals(world, monitor2):
    cs = CalibrationSessions(world.store.tenant("acme"))
    with pytest.raises(ReviewError, match="at least two monitors"):
        cs.create("x", CALLS, ["monitor"], created_by="super")
    with pytest.raises(ReviewError, match="no scorecard for call"):
        cs.create("x", ["call-globex"], ["monitor", "monitor2"], created_by="super")
    sid = cs.create("x", CALLS, ["monitor", "monitor2"], created_by="super")
    with pytest.raises(ReviewError, match="not invited"):
        cs.submit(sid, "super", sheet("super"))
    partial = dict(list(sheet("monitor").items())[:-1])
    with pytest.raises(ReviewError, match="1 item"):
        cs.submit(sid, "monitor", partial)
    wrong = {**sheet("monitor"), ("call-good", "greeting"): ("maybe", "")}
    with pytest.raises(ReviewError, match="unknown verdict"):
        cs.submit(sid, "monitor", wrong)
    cs.submit(sid, "monitor", sheet("monitor"))
    with pytest.raises(ReviewConflictError, match="already handed in"):
        cs.submit(sid, "monitor", sheet("monitor"))
    cs.close(sid, actor="super")
    with pytest.raises(ReviewConflictError, match="closed"):
        cs.submit(sid, "monitor2", sheet("monitor2"))
    # Closed with one monitor: no pairs, alpha undefined, the monitor still against the AI.
    res = cs.results(sid)
    assert all(c.pairs == 0 and c.alpha is None and c.pairwise_agreement is None
               for c in res.criteria)
    assert [m.user_id for m in res.monitors] == ["monitor"]


def test_alpha_is_undefined_for_one_value_throughout():
    assert krippendorff_alpha([{"a": "pass", "b": "pass"}] * 3, ["a", "b"]) is None
    assert krippendorff_alpha([{"a": "pass"}], ["a", "b"]) is None


def _client(client_for, user):
    return client_for(user)


def test_api_roles_blindness_and_results(client_for, world, monitor2):
    boss, mon, mon2 = client_for("super"), client_for("monitor"), client_for("monitor2")
    body = {"title": "Week 45", "call_ids": CALLS, "monitors": ["monitor", "monitor2"]}
    assert mon.post("/api/t/acme/calibration/sessions", json=body).status_code == 403
    assert client_for("trainer").post("/api/t/acme/calibration/sessions",
                                      json=body).status_code == 403
    bad = boss.post("/api/t/acme/calibration/sessions",
                    json={**body, "monitors": ["monitor", "agent1"]})
    assert bad.status_code == 422 and "agent1" in bad.json()["detail"]
    sid = boss.post("/api/t/acme/calibration/sessions", json=body).json()["session_id"]
    # Another tenant's monitor cannot even see it.
    assert client_for("gmonitor").get(
        f"/api/t/acme/calibration/sessions/{sid}").status_code == 404

    view = mon.get(f"/api/t/acme/calibration/sessions/{sid}").json()
    assert view["results"] is None and view["sheet"]["call-fatal"]
    text = str(view["sheet"])
    assert "fail" not in text and "evidence" not in text and "provisional" not in text
    # The invited monitor's own call page (automated verdicts) is closed until they hand in.
    card = world.card_ids["call-fatal"]
    assert mon.get(f"/api/t/acme/scorecards/{card}").status_code == 403
    assert mon.get(f"/t/acme/scorecards/{card}").status_code == 403
    review = f"/api/t/acme/scorecards/{card}/items/greeting/review"
    assert mon.post(review, json={"verdict": "pass"}).status_code == 403
    assert mon.post(f"/api/t/acme/scorecards/{card}/confirm").status_code == 403
    assert boss.get(f"/api/t/acme/scorecards/{card}").status_code == 200  # not invited
    # Nor do the queue (grade, fatal) or the case library (verdict, quote) give them away.
    assert mon.get("/api/t/acme/queue").json()["total"] == 0
    assert boss.get("/api/t/acme/queue").json()["total"] == 3
    assert mon.get("/api/t/acme/cases?criterion_id=unauthorized_promise").json() == []
    exemplars = "/api/t/acme/cases/exemplars?criterion_id=unauthorized_promise"
    assert any(boss.get(exemplars).json().values())
    assert not any(mon.get(exemplars).json().values())
    assert mon.get("/api/t/acme/cases/pack?call_id=call-fatal").status_code == 403
    assert mon.get("/api/t/acme/calls/call-fatal/audio").status_code == 200  # to listen
    page = mon.get(f"/t/acme/calibration/sessions/{sid}").text
    assert 'id="sheet"' in page and "i guarantee a refund tomorrow" in page  # transcript
    assert 'id="session-agreement"' not in page

    verdicts = [{"call_id": c, "criterion_id": k, "verdict": v, "comment": ""}
                for (c, k), (v, _) in sheet("monitor").items()]
    assert boss.post(f"/api/t/acme/calibration/sessions/{sid}/submit",
                     json={"verdicts": verdicts}).status_code == 422  # not invited
    r = mon.post(f"/api/t/acme/calibration/sessions/{sid}/submit", json={"verdicts": verdicts})
    assert r.status_code == 200 and r.json()["submitted"] == 9
    assert mon.get(f"/api/t/acme/scorecards/{card}").status_code == 200
    assert mon.get("/api/t/acme/queue").json()["total"] == 3
    assert len(mon.get("/api/t/acme/cases?criterion_id=unauthorized_promise").json()) == 3
    after = mon.get(f"/api/t/acme/calibration/sessions/{sid}").json()
    assert after["sheet"] is None and after["results"] is None and len(after["own"]) == 9
    # monitor2 still blind: nothing of monitor's verdicts reaches them.
    assert mon2.get(f"/api/t/acme/calibration/sessions/{sid}").json()["results"] is None
    assert mon.post(f"/api/t/acme/calibration/sessions/{sid}/close").status_code == 403
    assert boss.post(f"/api/t/acme/calibration/sessions/{sid}/close").status_code == 200
    assert boss.post(f"/api/t/acme/calibration/sessions/{sid}/close").status_code == 409
    done = mon2.get(f"/api/t/acme/calibration/sessions/{sid}").json()
    assert done["session"]["complete"] and done["sheet"] is None
    assert [m["user_id"] for m in done["results"]["monitors"]] == ["monitor"]
    assert mon2.get(f"/api/t/acme/scorecards/{card}").status_code == 200  # closed: open
    listing = boss.get("/api/t/acme/calibration/sessions").json()
    assert [s["session_id"] for s in listing] == [sid]
    assert "Week 45" in boss.get("/t/acme/calibration/sessions").text


def test_retention_purges_session_calls_and_verdicts(world, monitor2):
    import datetime as dt

    from qa_pipeline.store.tables import CalibrationSessionCall, CalibrationSessionVerdict

    ts = world.store.tenant("acme")
    cs = CalibrationSessions(ts)
    sid = cs.create("old", CALLS, ["monitor", "monitor2"], created_by="super")
    cs.submit(sid, "monitor", sheet("monitor"))
    ts.purge_calls(before=dt.datetime(2026, 11, 3))  # call-good and call-fatal
    with ts.session() as s:
        left = {r.call_id for r in s.scalars(select(CalibrationSessionVerdict))}
        calls = {r.call_id for r in s.scalars(select(CalibrationSessionCall))}
    assert left == calls == {"call-unsure"}
    assert [c for c, _ in cs.session(sid).calls] == ["call-unsure"]


def test_session_pages_in_chinese(world, settings, monitor2):
    import dataclasses

    from fastapi.testclient import TestClient

    from qa_pipeline.web.app import create_app
    from qa_pipeline.web.i18n import TenantDisplay

    zh = create_app(world.store, dataclasses.replace(
        settings, tenant_display=lambda t: TenantDisplay(("zh",), "Asia/Shanghai")))
    cs = CalibrationSessions(world.store.tenant("acme"))
    sid = cs.create("第45周", CALLS, ["monitor", "monitor2"], created_by="super")

    def client(user):
        c = TestClient(zh)
        c.post("/login", data={"username": user, "password": PASSWORD})
        return c

    mon = client("monitor")
    sheet_page = mon.get(f"/t/acme/calibration/sessions/{sid}").text
    assert "提交我的判定" in sheet_page and "致命" in sheet_page and "通过" in sheet_page
    for user in ("monitor", "monitor2"):
        cs.submit(sid, user, sheet(user))
    results = client("super").get(f"/t/acme/calibration/sessions/{sid}").text
    for text in ("质检员之间的一致性（按评分项）", "各质检员与自动判定的一致性", "复核样本不足",
                 "第45周"):
        assert text in results, text
    assert "校准会" in client("super").get("/t/acme/calibration/sessions").text
