"""The review library: queue, verdicts that re-score cards, disputes, sampling plan,
calibration, dashboards, case library, users, and the 0002 migration of existing data.
Runs on SQLite and, when a server is configured, PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
from sqlalchemy import text

from qa_pipeline.errors import AuthenticationError, NotFoundError, ReviewError
from qa_pipeline.review import (
    CaseLibrary,
    CaseQuery,
    DashboardFilter,
    QueueFilter,
    ReviewDesk,
    UserDirectory,
    calibration,
    cohen_kappa,
    kpi_table,
)
from qa_pipeline.review.dashboard import (
    coverage,
    grade_distribution,
    to_csv,
    to_xlsx,
    top_failing_criteria,
)
from qa_pipeline.review.users import hash_password, verify_password
from qa_pipeline.scorecard.kpi import kpi_rollup
from tests.review_fixtures import PASSWORD, build_world
from tests.store_fixtures import db_url  # noqa: F401 - fixture


@pytest.fixture
def world(tmp_path, db_url):  # noqa: F811
    w = build_world(tmp_path, db_url)
    yield w
    w.store.close()


def desk(world, tenant="acme", agent=""):
    return ReviewDesk(world.store.tenant(tenant), world.catalog, only_agent=agent)


def test_queue_puts_items_awaiting_review_first_and_filters(world):
    page = desk(world).queue(QueueFilter())
    assert [r.call_id for r in page.rows] == ["call-unsure", "call-fatal", "call-good"]
    assert page.total == 3
    assert [r.call_id for r in desk(world).queue(QueueFilter(has_fatal=True)).rows] == [
        "call-fatal"]
    assert [r.call_id for r in desk(world).queue(QueueFilter(team_id="team-b")).rows] == [
        "call-unsure"]
    assert [r.call_id for r in desk(world).queue(QueueFilter(grade="A")).rows] == ["call-good"]
    day = dt.datetime(2026, 11, 3)
    assert [r.call_id for r in desk(world).queue(QueueFilter(since=day)).rows] == [
        "call-unsure"]
    failed = desk(world).queue(QueueFilter(criterion_failed="unauthorized_promise")).rows
    assert [r.call_id for r in failed] == ["call-fatal"]  # the unsure one awaits review
    paged = desk(world).queue(QueueFilter(), offset=1, limit=1)
    assert [r.call_id for r in paged.rows] == ["call-fatal"] and paged.total == 3
    with pytest.raises(ReviewError, match="sentiment"):
        QueueFilter(sentiment="angry")


def test_agent_view_shows_only_their_calls(world):
    mine = desk(world, agent="ag-1")
    assert {r.call_id for r in mine.queue(QueueFilter()).rows} == {"call-good", "call-fatal"}
    with pytest.raises(NotFoundError):
        mine.card(world.card_ids["call-unsure"])


def test_other_tenants_cards_are_not_found(world):
    with pytest.raises(NotFoundError):
        desk(world, "acme").card(world.card_ids["call-globex"])
    with pytest.raises(NotFoundError):
        desk(world, "acme").review_item(world.card_ids["call-globex"], "greeting", "fail",
                                        reviewer="monitor")
    assert desk(world, "globex").queue(QueueFilter()).total == 1


def test_confirming_a_pending_fatal_zeroes_the_call_and_is_audited(world):
    sid = world.card_ids["call-unsure"]
    d = desk(world)
    before = d.card(sid)
    assert before["pending_fatal"] and not before["has_fatal"] and before["total_score"] == 20.0
    new = d.review_item(sid, "unauthorized_promise", "fail", reviewer="monitor",
                        comment="clearly promised")
    assert new["has_fatal"] and new["total_score"] == 0.0 and not new["needs_review"]
    item = next(i for i in new["items"] if i["criterion_id"] == "unauthorized_promise")
    assert item["automated_status"] == "needs_review"
    assert item["review"]["reviewer"] == "monitor"
    row = d.queue(QueueFilter(has_fatal=True)).rows
    assert {r.call_id for r in row} == {"call-fatal", "call-unsure"}
    trail = d.audit_trail(sid)
    assert trail[-1]["before"] == {"item_status": "needs_review", "total_score": 20.0,
                                   "grade": "E", "has_fatal": False}
    assert trail[-1]["after"]["has_fatal"] is True and trail[-1]["actor"] == "monitor"


def test_overturning_restores_points_and_a_second_review_replaces_the_first(world):
    sid = world.card_ids["call-fatal"]
    d = desk(world)
    with pytest.raises(ReviewError, match="needs a comment"):  # issue 26: no silent overturn
        d.review_item(sid, "unauthorized_promise", "pass", reviewer="monitor", comment="  ")
    new = d.review_item(sid, "unauthorized_promise", "pass", reviewer="monitor",
                        comment="a refusal in context")
    # greeting 10/10 of 20 weight, promise + closing 20/20 of 80 -> 100
    assert new["total_score"] == 100.0 and new["grade"] == "A" and not new["has_fatal"]
    again = d.review_item(sid, "unauthorized_promise", "fail", reviewer="super")
    assert again["total_score"] == 0.0 and again["has_fatal"]
    item = next(i for i in again["items"] if i["criterion_id"] == "unauthorized_promise")
    assert item["automated_status"] == "fail" and item["review"]["reviewer"] == "super"
    with pytest.raises(ReviewError, match="verdict"):
        d.review_item(sid, "greeting", "maybe", reviewer="monitor")
    with pytest.raises(NotFoundError):
        d.review_item(sid, "no_such_item", "pass", reviewer="monitor")


def test_dispute_upheld_rescored_rejected_kept(world):
    sid = world.card_ids["call-fatal"]
    d = desk(world)
    did = d.raise_dispute(sid, "unauthorized_promise", "I said we cannot guarantee",
                          raised_by="agent1")
    with pytest.raises(ReviewError, match="already"):
        d.raise_dispute(sid, "unauthorized_promise", "again", raised_by="agent1")
    with pytest.raises(ReviewError, match="verdict"):
        d.decide_dispute(did, "upheld", decided_by="monitor")
    rec = d.decide_dispute(did, "upheld", decided_by="monitor", verdict="pass",
                           comment="context shows a refusal")
    assert rec.status == "upheld" and rec.decided_by == "monitor"
    assert d.card(sid)["total_score"] == 100.0
    with pytest.raises(ReviewError, match="already"):
        d.decide_dispute(did, "rejected", decided_by="monitor")
    with pytest.raises(ReviewError, match="did not fail"):  # issue 26: only failed items
        d.raise_dispute(sid, "closing", "I did ask", raised_by="agent1")
    unsure = world.card_ids["call-unsure"]
    did2 = d.raise_dispute(unsure, "closing", "I did ask", raised_by="agent2")
    d.decide_dispute(did2, "rejected", decided_by="super", comment="not in the recording")
    assert d.card(sid)["total_score"] == 100.0
    assert [x.status for x in d.disputes()] == ["rejected", "upheld"]
    assert [a["action"] for a in d.audit_trail(sid)] == ["dispute.raise", "dispute.decide"]
    assert [a["action"] for a in d.audit_trail(unsure)] == ["dispute.raise", "dispute.decide"]


def test_sampling_plan_picks_one_call_per_agent_until_reviewed(world):
    d = desk(world)
    plan = {c.agent_id: c for c in d.sampling_plan(dt.date(2026, 11, 2))}
    assert set(plan) == {"ag-1"} and plan["ag-1"].calls == 2
    assert plan["ag-1"].scorecard_id in (world.card_ids["call-good"], world.card_ids["call-fatal"])
    assert d.sampling_plan(dt.date(2026, 11, 2)) == list(plan.values())  # stable
    plan3 = d.sampling_plan(dt.date(2026, 11, 3))
    assert plan3[0].scorecard_id == world.card_ids["call-unsure"]  # awaiting review first
    # One confirmed item is not a monitored call (issue 26: coverage could be gamed).
    d.review_item(world.card_ids["call-good"], "greeting", "pass", reviewer="monitor")
    assert d.sampling_plan(dt.date(2026, 11, 2))[0].reviewed_calls == 0
    d.confirm_remaining(world.card_ids["call-good"], reviewer="monitor")
    covered = d.sampling_plan(dt.date(2026, 11, 2))[0]
    assert covered.scorecard_id is None and covered.reviewed_calls == 1


def test_cohen_kappa_matches_a_hand_computed_fixture():
    # 10 items: auto fail x4 (human fail x3, pass x1), auto pass x6 (human pass x5, fail x1)
    pairs = [("fail", "fail")] * 3 + [("fail", "pass")] + [("pass", "pass")] * 5 + [
        ("pass", "fail")]
    p_o, kappa = cohen_kappa(pairs)
    # p_o = 8/10; p_e = (4*4 + 6*6) / 100 = 0.52; kappa = (0.8 - 0.52) / 0.48
    assert p_o == pytest.approx(0.8)
    assert kappa == pytest.approx(0.28 / 0.48)
    assert cohen_kappa([("pass", "pass")] * 3) == (1.0, None)
    assert cohen_kappa([("pass", "fail"), ("fail", "pass")])[1] == pytest.approx(-1.0)


def test_calibration_per_criterion_with_alert(world):
    d = desk(world)
    # greeting: automated pass everywhere; reviewers agree twice, overturn once.
    d.review_item(world.card_ids["call-good"], "greeting", "pass", reviewer="monitor")
    d.review_item(world.card_ids["call-fatal"], "greeting", "pass", reviewer="monitor")
    d.review_item(world.card_ids["call-unsure"], "greeting", "fail", reviewer="monitor")
    d.review_item(world.card_ids["call-fatal"], "closing", "pass", reviewer="monitor")
    d.review_item(world.card_ids["call-unsure"], "closing", "fail", reviewer="monitor")
    rows = {a.criterion_id: a for a in calibration(world.store.tenant("acme"), min_items=2)}
    g = rows["greeting"]
    assert (g.n, g.agreed) == (3, 2) and g.percent_agreement == pytest.approx(2 / 3)
    assert g.kappa == pytest.approx(0.0)  # p_e = (3*2)/9 = 2/3 -> (2/3 - 2/3)/(1/3)
    assert g.alert
    c = rows["closing"]
    assert (c.n, c.agreed, c.kappa, c.alert) == (2, 2, 1.0, False)
    none = calibration(world.store.tenant("acme"), since=dt.datetime(2026, 12, 1))
    assert none == []
    assert calibration(world.store.tenant("globex")) == []


def test_dashboard_kpis_agree_with_the_domain_rollup(world):
    ts = world.store.tenant("acme")
    cards = ts.scorecards()
    for grouping, dims in (("tenant", ("tenant",)), ("agent", ("tenant", "agent")),
                           ("day", ("tenant", "day")), ("team_day", ("tenant", "team", "day"))):
        expected = [r.to_dict() for r in kpi_rollup(cards, dims)]
        assert kpi_table(ts, grouping) == expected, grouping
    assert grade_distribution(ts) == {"A": 1, "E": 2}
    # The unsure call's promise awaits review: not a failure yet.
    assert top_failing_criteria(ts) == [
        {"criterion_id": "closing", "severity": "non_fatal", "failures": 1},
        {"criterion_id": "unauthorized_promise", "severity": "fatal", "failures": 1}]
    assert [(r["agent"], r["days"], r["days_covered"], r["calls"]) for r in coverage(ts)] == [
        ("ag-1", 1, 0, 2), ("ag-2", 1, 0, 1)]
    desk(world).review_item(world.card_ids["call-good"], "greeting", "pass", reviewer="m")
    assert coverage(ts)[0]["days_covered"] == 0  # one item is not a completed review
    desk(world).confirm_remaining(world.card_ids["call-good"], reviewer="m")
    ag1 = coverage(ts)[0]
    assert (ag1["days_covered"], ag1["monitored"], ag1["coverage_rate"], ag1["meets_target"]) == (
        1, 1, 1.0, True)
    only = kpi_table(ts, "tenant", DashboardFilter(day_from="2026-11-03"))
    assert only[0]["calls"] == 1
    assert kpi_table(ts, "agent", only_agent="ag-2")[0]["agent"] == "ag-2"
    with pytest.raises(ReviewError, match="grouping"):
        kpi_table(ts, "planet")


def test_exports_round_trip(world):
    rows = kpi_table(world.store.tenant("acme"), "agent")
    csv_text = to_csv(rows).decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("tenant,agent,calls")
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(to_xlsx({"kpis": rows})))
    values = list(wb["kpis"].values)
    assert values[0][:3] == ("tenant", "agent", "calls") and len(values) == 1 + len(rows)


def test_case_library_search_tag_exemplars_and_pack(world):
    lib = CaseLibrary(world.store.tenant("acme"), audio_roots=[world.audio_dir])
    assert {r["call_id"] for r in lib.search(CaseQuery(criterion_id="unauthorized_promise",
                                                      outcome="fail"))} == {"call-fatal"}
    assert {r["call_id"] for r in lib.search(CaseQuery(criterion_id="unauthorized_promise",
                                                      outcome="needs_review"))} == {
        "call-unsure"}
    assert {r["call_id"] for r in lib.search(CaseQuery(phrase="refund tomorrow"))} == {
        "call-fatal"}
    assert lib.search(CaseQuery(phrase="globex secret")) == []  # another tenant's words
    tid = lib.tag("call-fatal", "bad", tagged_by="trainer", criterion_id="unauthorized_promise",
                  note="promise of a refund date")
    assert {r["call_id"] for r in lib.search(CaseQuery(label="bad"))} == {"call-fatal"}
    ex = lib.exemplars("unauthorized_promise")
    assert [e.call_id for e in ex["fail"]] == ["call-fatal"]
    assert "call-unsure" not in [e.call_id for e in ex["fail"] + ex["pass"]]  # low confidence
    pack = zipfile.ZipFile(io.BytesIO(lib.case_pack(["call-fatal"],
                                                    criterion_id="unauthorized_promise")))
    names = set(pack.namelist())
    assert {"index.json", "call-fatal/scorecard.json", "call-fatal/excerpt.txt",
            "call-fatal/clip.wav"} <= names
    index = json.loads(pack.read("index.json"))
    assert index["calls"][0]["span_s"] == [1.5, 7.5]  # evidence 3.5-5.5 s, 2 s padding
    import soundfile as sf

    clip, rate = sf.read(io.BytesIO(pack.read("call-fatal/clip.wav")))
    assert rate == 8000 and len(clip) == 6 * 8000
    assert "i guarantee a refund tomorrow" in pack.read("call-fatal/excerpt.txt").decode()
    lib.untag(tid, actor="trainer")
    assert lib.tags("call-fatal") == []
    with pytest.raises(NotFoundError):
        lib.tag("call-globex", "good", tagged_by="trainer")
    with pytest.raises(ReviewError, match="label"):
        lib.tag("call-fatal", "great", tagged_by="trainer")


def test_case_pack_clips_each_evidence_moment_and_has_a_readable_index(world):
    """Issue 26: clips spanned almost the whole call; the pack had no page to open."""
    lib = CaseLibrary(world.store.tenant("acme"), audio_roots=[world.audio_dir])
    # call-good: greeting evidence at 0-2 s and closing at 3.5-5.5 s overlap once padded;
    # the flag's evidence is not a failure of the call.
    pack = zipfile.ZipFile(io.BytesIO(lib.case_pack(["call-good"], criterion_id="greeting")))
    index = json.loads(pack.read("index.json"))["calls"][0]
    assert index["clips_s"] == [[0.0, 4.0]] and index["clips"] == ["clip.wav"]
    flags = zipfile.ZipFile(io.BytesIO(lib.case_pack(["call-good"],
                                                     criterion_id="customer_thanked")))
    moments = json.loads(flags.read("index.json"))["calls"][0]
    # "okay thanks" at 2.0-3.5 and 5.5-7.0 s: padded by 2 s they overlap and merge.
    assert moments["clips_s"] == [[0.0, 9.0]]
    page = flags.read("index.html").decode()
    assert "<audio" in page and "call-good/clip.wav" in page and "okay thanks" in page
    from qa_pipeline.review.cases import _evidence_spans

    far = {"items": [{"criterion_id": "x", "kind": "error", "status": "fail", "evidence": [
        {"start_s": s, "end_s": s + 2.0} for s in (10.0, 100.0, 200.0, 300.0, 301.0)]}]}
    # Moments far apart get their own clips (at most three), not one clip of the whole call.
    assert _evidence_spans(far, "x") == [(8.0, 14.0), (98.0, 104.0), (198.0, 204.0)]


def test_case_pack_without_reachable_audio_says_why(world, tmp_path):
    lib = CaseLibrary(world.store.tenant("acme"), audio_roots=[tmp_path / "elsewhere"])
    pack = zipfile.ZipFile(io.BytesIO(lib.case_pack(["call-good"])))
    assert "outside the served audio folders" in pack.read(
        "call-good/clip_missing.txt").decode()


def test_passwords_users_and_authentication(world):
    h = hash_password("s3cret-pass")
    assert verify_password("s3cret-pass", h) and not verify_password("s3cret-pasS", h)
    assert h != hash_password("s3cret-pass")  # salted
    users = UserDirectory(world.store)
    assert users.authenticate("monitor", PASSWORD).role == "qa_monitor"
    for user, pw in (("monitor", "wrong password"), ("nobody", PASSWORD)):
        with pytest.raises(AuthenticationError, match="wrong user name or password"):
            users.authenticate(user, pw)
    tag = users.get("monitor").credential_tag
    users.set_password("monitor", "another password")
    assert users.get("monitor").credential_tag != tag
    users.set_disabled("monitor", True)
    with pytest.raises(AuthenticationError):
        users.authenticate("monitor", "another password")
    with pytest.raises(ReviewError, match="unknown role"):
        users.create("x", PASSWORD, role="boss", tenants=("acme",))
    with pytest.raises(ReviewError, match="unknown tenant"):
        users.create("x", PASSWORD, role="trainer", tenants=("initech",))
    with pytest.raises(ReviewError, match="at least 8"):
        users.create("x", "short", role="trainer", tenants=("acme",))
    with pytest.raises(ReviewError, match="agent id"):
        users.create("x", PASSWORD, role="agent", tenants=("acme",))


def test_migration_0002_backfills_existing_cards(tmp_path):
    """A store scored before the review app keeps every item and gains the new columns."""
    from alembic import command
    from alembic.config import Config

    from qa_pipeline.store import Store
    from qa_pipeline.store.store import _MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Store(url, migrate=False)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with old.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    card = {"call_id": "c1", "tenant_id": "acme", "total_score": 0, "grade": "E",
            "call": {"started_at": "2026-11-05T10:00:00+08:00"},
            "emotion": {"customer": {"end": {"valence": -0.5}}},
            "call_reason": {"label": "complaint"},
            "items": [{"criterion_id": "promise", "status": "needs_review",
                       "provisional_status": "fail",
                       "evidence": [{"utterance_index": 1, "word_probability": 0.4}]}]}
    with old.engine.begin() as conn:
        conn.execute(text("INSERT INTO tenants VALUES ('acme', 'acme', '2026-11-05')"))
        conn.execute(text(
            "INSERT INTO calls (tenant_id, call_id, sha256, source_uri, agent_id, team_id, "
            "business_line, started_at, started_at_utc, direction, channel_layout, language, "
            "config_key, status, updated_at) VALUES ('acme', 'c1', 'x', '', 'ag', 'tm', '', "
            "'2026-11-05T10:00:00+08:00', '2026-11-05 02:00:00', '', '', 'en', '', 'scored', "
            "'2026-11-05')"))
        for rid, version in ((1, "1"), (2, "2")):
            conn.execute(text(
                "INSERT INTO scorecards (id, tenant_id, call_id, rubric_id, rubric_version, "
                "total_score, grade, has_fatal, has_non_fatal_error, needs_review, data, "
                "run_id, created_at) VALUES (:id, 'acme', 'c1', 'r', :v, 0, 'E', 0, 0, 1, "
                ":data, '', '2026-11-05')"), {"id": rid, "v": version, "data": json.dumps(card)})
            conn.execute(text(
                "INSERT INTO scorecard_items (tenant_id, scorecard_id, criterion_id, severity, "
                "status, points_earned, points_possible) VALUES ('acme', :id, 'promise', "
                "'fatal', 'needs_review', 0, 10)"), {"id": rid})
    old.close()
    store = Store(url)
    with store.engine.connect() as conn:
        cards = conn.execute(text(
            "SELECT id, current, agent_id, team_id, call_day, sentiment_end, call_reason "
            "FROM scorecards ORDER BY id")).all()
        items = conn.execute(text(
            "SELECT scorecard_id, provisional_status, evidence_confidence, verdict, current, "
            "call_day, agent_id FROM scorecard_items ORDER BY scorecard_id")).all()
    assert [tuple(c) for c in cards] == [
        (1, False, "ag", "tm", "2026-11-05", "negative", "complaint"),
        (2, True, "ag", "tm", "2026-11-05", "negative", "complaint")]
    assert [tuple(i) for i in items] == [
        (1, "fail", 0.4, "needs_review", False, "2026-11-05", "ag"),
        (2, "fail", 0.4, "needs_review", True, "2026-11-05", "ag")]
    assert store.tenant("acme").scorecards()[0]["call_reason"] == {"label": "complaint"}
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scorecard_documents")).scalar() == 2
    store.close()


def test_retention_purge_removes_reviews_disputes_and_tags(world):
    from sqlalchemy import func, select

    from qa_pipeline.store.tables import (
        TENANT_OWNED,
        AgentAssignment,
        AuditEntry,
        BusinessLine,
        Team,
    )

    d = desk(world)
    sid = world.card_ids["call-fatal"]
    d.review_item(sid, "greeting", "pass", reviewer="monitor")
    d.raise_dispute(sid, "unauthorized_promise", "I refused", raised_by="agent1")
    CaseLibrary(world.store.tenant("acme")).tag("call-fatal", "bad", tagged_by="trainer")
    purged = world.store.tenant("acme").purge_calls(before=dt.datetime(2100, 1, 1))
    assert {c.call_id for c in purged} == {"call-good", "call-fatal", "call-unsure"}
    with world.store.admin_session() as s:
        for table in TENANT_OWNED:
            if table in (AuditEntry, Team, BusinessLine, AgentAssignment):
                continue  # the purge's own audit record; the organisation, not call data
            n = s.scalar(select(func.count()).select_from(table).where(
                table.tenant_id == "acme"))  # type: ignore[attr-defined]
            assert n == 0, table.__tablename__
    assert desk(world, "globex").queue(QueueFilter()).total == 1


def test_rescoring_supersedes_the_old_card_and_its_items(world):
    from sqlalchemy import select

    from qa_pipeline.rubric.context import EvaluationContext
    from qa_pipeline.rubric.engine import evaluate
    from qa_pipeline.rubric.loader import load_rubric_text
    from qa_pipeline.scorecard.card import build_scorecard
    from qa_pipeline.store.tables import ScorecardItemRow
    from tests.review_fixtures import RUBRIC

    ts = world.store.tenant("acme")
    conv, _ = ts.conversation("call-fatal")
    rubric = load_rubric_text(RUBRIC.replace("version: 3", "version: 4").replace(
        "phrases: [i guarantee]", "phrases: [never said]"))
    card = build_scorecard(rubric, evaluate(rubric, EvaluationContext(conv)),
                           call_id="call-fatal", tenant_id="acme", provenance={},
                           call={"agent_id": "ag-1", "started_at": "2026-11-02T10:00:00+08:00"})
    new_id = ts.save_scorecard(card)
    rows = desk(world).queue(QueueFilter()).rows
    assert [r.scorecard_id for r in rows if r.call_id == "call-fatal"] == [new_id]
    assert "unauthorized_promise" not in [t["criterion_id"] for t in top_failing_criteria(ts)]
    assert kpi_table(ts, "tenant")[0]["calls"] == 3  # the call counts once
    with ts.session() as s:
        old_items = s.scalars(select(ScorecardItemRow.current).where(
            ScorecardItemRow.scorecard_id == world.card_ids["call-fatal"])).all()
    assert old_items and not any(old_items)


def _recount(ts):
    """Top failing criteria counted from the item rows themselves (what the tallies keep)."""
    from collections import Counter

    from sqlalchemy import select

    from qa_pipeline.store.tables import ScorecardItemRow as i

    with ts.session() as s:
        rows = s.execute(select(i.criterion_id, i.severity).where(
            i.current.is_(True), i.verdict == "fail", i.severity != "flag")).tuples().all()
    return Counter(rows)


def _tallied(ts, **filters):
    f = DashboardFilter(**filters)
    return {(r["criterion_id"], r["severity"]): r["failures"]
            for r in top_failing_criteria(ts, f, limit=100)}


def _recount_of(ts, agent):
    from collections import Counter

    from sqlalchemy import select

    from qa_pipeline.store.tables import ScorecardItemRow as i

    with ts.session() as s:
        return Counter(s.execute(select(i.criterion_id, i.severity).where(
            i.current.is_(True), i.verdict == "fail", i.agent_id == agent,
            i.severity != "flag")).tuples().all())


def test_failure_tallies_follow_reviews_disputes_rescoring_and_purges(world):
    ts = world.store.tenant("acme")
    d = desk(world)
    assert _tallied(ts) == _recount(ts) == {("closing", "non_fatal"): 1,
                                            ("unauthorized_promise", "fatal"): 1}
    d.review_item(world.card_ids["call-unsure"], "unauthorized_promise", "fail",
                  reviewer="monitor")
    assert _tallied(ts)[("unauthorized_promise", "fatal")] == 2
    d.review_item(world.card_ids["call-unsure"], "unauthorized_promise", "pass",
                  reviewer="super", comment="a refusal in context")
    did = d.raise_dispute(world.card_ids["call-fatal"], "unauthorized_promise", "refused",
                          raised_by="agent1")
    d.decide_dispute(did, "upheld", decided_by="monitor", verdict="pass")
    assert _tallied(ts) == _recount(ts)
    for agent in ("ag-1", "ag-2"):  # the per-agent rows agree with the day totals' story
        assert _tallied(ts, agent_id=agent) == _recount_of(ts, agent)
    assert _tallied(ts, team_id="team-a") == _recount_of(ts, "ag-1")
    test_rescoring_supersedes_the_old_card_and_its_items(world)
    assert _tallied(ts) == _recount(ts)
    ts.purge_calls(before=dt.datetime(2026, 11, 3))  # the calls of 2026-11-02
    assert _tallied(ts) == _recount(ts) == {("closing", "non_fatal"): 1}
    from sqlalchemy import func, select

    from qa_pipeline.store.tables import FailureTally

    with ts.session() as s:  # no zero rows naming agents of purged calls
        assert s.scalar(select(func.min(FailureTally.failures))) == 1


def test_ungraded_calls_stay_ungraded_after_review_and_do_not_lift_means(tmp_path):
    """Issue 24: a call in which the agent says nothing has no grade; a review of its items
    must not bring a grade back, and its meaningless total stays out of mean scores.
    """
    from qa_pipeline.review.rescore import HumanVerdict, apply_verdicts
    from qa_pipeline.rubric.context import EvaluationContext
    from qa_pipeline.rubric.engine import evaluate
    from qa_pipeline.rubric.loader import load_rubric
    from qa_pipeline.scorecard.card import build_scorecard
    from qa_pipeline.scorecard.kpi import kpi_rollup
    from tests.helpers import make_conversation
    from tests.review_fixtures import RUBRIC

    path = tmp_path / "r.yaml"
    path.write_text(RUBRIC, encoding="utf-8")
    rubric = load_rubric(path)
    conv = make_conversation([["customer", 0.0, 2.0, "hello is anyone there", 0.9]],
                             call_id="silent", tenant_id="acme", language="en")
    card = build_scorecard(rubric, evaluate(rubric, EvaluationContext(conv)), call_id="silent",
                           tenant_id="acme", provenance={}).to_dict()
    assert card["grade"] == "" and card["ungraded_reason"]
    verdicts = {i["criterion_id"]: HumanVerdict("pass", "m", "checked", "2026-12-06T00:00:00Z")
                for i in card["items"]}
    reviewed = apply_verdicts(card, rubric, verdicts)
    assert reviewed["grade"] == "" and reviewed["ungraded_reason"] == card["ungraded_reason"]
    graded = {**card, "grade": "E", "total_score": 20.0, "ungraded_reason": ""}
    (row,) = kpi_rollup([card, graded])
    assert row.calls == 2 and row.mean_score == 20.0
