"""The store: migrations match the models, tenant isolation is enforced below the
repository, writes are idempotent, costs roll up per business line. Runs on SQLite and,
when a server is configured, PostgreSQL.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from qa_pipeline.errors import NotFoundError, StoreError, TenantScopeError, UnknownTenantError
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.engine import evaluate
from qa_pipeline.rubric.loader import load_rubric_text
from qa_pipeline.scorecard.card import build_scorecard
from qa_pipeline.store import StageSeconds, Store
from qa_pipeline.store.tables import Base, Call, ScorecardItemRow, ScorecardRow, StageCost
from tests.helpers import make_conversation
from tests.store_fixtures import db_url  # noqa: F401 - fixture

RUBRIC = """\
id: mini
version: {version}
sections:
  - id: a
    weight: 100
    criteria:
      - id: greet
        points: 10
        rule: {{type: required_phrase, phrases: [hello]}}
      - id: promise
        severity: fatal
        points: 10
        rule: {{type: forbidden_phrase, phrases: [i guarantee]}}
"""


def conversation(tenant: str, call_id: str = "c1", text: str = "hello there", sha="a" * 64):
    conv = make_conversation([["agent", 0, 2, text], ["customer", 2, 4, "thanks"]],
                             call_id=call_id, tenant_id=tenant, language="en")
    import dataclasses
    return dataclasses.replace(conv, sha256=sha)


def card_for(conv, version="1"):
    rubric = load_rubric_text(RUBRIC.format(version=version))
    result = evaluate(rubric, EvaluationContext(conv))
    return build_scorecard(rubric, result, call_id=conv.call_id, tenant_id=conv.tenant_id,
                           provenance={})


@pytest.fixture
def store(db_url):  # noqa: F811
    s = Store(db_url)
    s.register_tenant("acme")
    s.register_tenant("globex")
    yield s
    s.close()


def test_migrations_build_exactly_the_models(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    store.migrate()  # idempotent


def test_tenant_isolation_same_call_id(store):
    a, g = store.tenant("acme"), store.tenant("globex")
    conv_a = conversation("acme", text="hello acme secret", sha="a" * 64)
    conv_g = conversation("globex", text="hello globex", sha="b" * 64)
    a.save_conversation(conv_a, frontend_key="k")
    g.save_conversation(conv_g, frontend_key="k")
    a.save_scorecard(card_for(conv_a))
    assert a.conversation("c1")[0].utterances[0].text == "hello acme secret"
    assert g.conversation("c1")[0].utterances[0].text == "hello globex"
    assert len(a.scorecards()) == 1 and g.scorecards() == []
    assert a.call("c1").sha256 == "a" * 64 and g.call("c1").sha256 == "b" * 64
    assert [c.tenant_id for c in g.calls()] == ["globex"]
    assert g.done_call("a" * 64, "") is None  # acme's audio is invisible to globex
    assert g.scorecards(call_id="c1") == []
    only_acme = conversation("acme", call_id="c7", sha="c" * 64)
    a.save_conversation(only_acme, frontend_key="k")
    with pytest.raises(NotFoundError):
        g.conversation("c7")
    with pytest.raises(NotFoundError):
        g.call("c7")


def test_guard_scopes_raw_orm_queries_and_refuses_unscoped_ones(store):
    for t in ("acme", "globex"):
        store.tenant(t).save_conversation(conversation(t, sha=t[0] * 64), frontend_key="k")
    # Even a query that forgets its where-clause sees only its tenant's rows.
    with store.session_for("globex") as s:
        assert [c.tenant_id for c in s.scalars(select(Call))] == ["globex"]
        assert s.get(Call, ("acme", "c1")) is None
    with store.session_for("acme") as s:
        assert [c.tenant_id for c in s.scalars(select(Call))] == ["acme"]
    with store._sessions() as s, pytest.raises(TenantScopeError):
        s.scalars(select(Call)).all()
    with store.session_for("acme") as s:
        s.add(Call(tenant_id="globex", call_id="x", sha256="c" * 64))
        with pytest.raises(TenantScopeError):
            s.flush()


def test_scorecard_saves_are_idempotent_and_versioned(store):
    a = store.tenant("acme")
    conv = conversation("acme")
    a.save_conversation(conv, frontend_key="k")
    costs = [StageSeconds("scoring", 0.5, 0.4)]
    for _ in range(3):  # retries of the same work
        a.save_scorecard(card_for(conv), run_id="r1", costs=costs)
    a.save_scorecard(card_for(conv, version="2"), run_id="r2", costs=costs)
    refs = [(c["rubric_id"], c["rubric_version"]) for c in a.scorecards()]
    assert refs == [("mini", "1"), ("mini", "2")]
    with store.session_for("acme") as s:
        assert len(s.scalars(select(ScorecardItemRow)).all()) == 4
        assert len(s.scalars(select(ScorecardRow)).all()) == 2
        assert len(s.scalars(select(StageCost)).all()) == 2  # one per run, not per retry
    assert a.call("c1").status == "scored"


def test_quarantine_is_one_row_per_input_and_lifted_on_success(store):
    a = store.tenant("acme")
    for _ in range(2):
        a.quarantine("sha256:" + "a" * 64, "/in/x.wav", error_type="AudioDecodeError",
                     reason="corrupt", message="bad header")
    [q] = a.quarantined()
    assert (q.reason, q.attempts) == ("corrupt", 2)
    assert store.tenant("globex").quarantined() == []
    conv = conversation("acme")
    a.save_conversation(conv, frontend_key="k")
    a.save_scorecard(card_for(conv))
    assert a.quarantined() == []


def test_cost_rollup_per_business_line(store):
    a = store.tenant("acme")
    for i, line in enumerate(["billing", "billing", "returns"]):
        conv = conversation("acme", call_id=f"c{i}", sha=str(i) * 64)
        a.save_conversation(conv, frontend_key="k", meta={"business_line": line},
                            costs=[StageSeconds("frontend", 2.0, 3.0, 2.0, "cuda")], run_id="r")
        a.save_scorecard(card_for(conv), costs=[StageSeconds("scoring", 0.5, 0.5)], run_id="r")
    rows = {r["business_line"]: r for r in a.cost_rollup()}
    assert rows["billing"]["calls"] == 2 and rows["returns"]["calls"] == 1
    assert rows["billing"]["wall_s"] == pytest.approx(5.0)
    assert rows["billing"]["gpu_s"] == pytest.approx(4.0)
    assert rows["billing"]["wall_s_per_call"] == pytest.approx(2.5)
    assert rows["returns"]["stages"]["frontend"]["cpu_s"] == pytest.approx(3.0)
    assert store.tenant("globex").cost_rollup() == []


def test_agents_serve_several_tenants_and_teams_are_per_tenant(store):
    store.tenant("acme").upsert_call("c1", "a" * 64, {"agent_id": "ag", "team_id": "t1"})
    store.tenant("globex").upsert_call("c1", "b" * 64, {"agent_id": "ag", "team_id": "t9"})
    assert store.agent_tenants("ag") == ["acme", "globex"]


def test_unknown_tenant_and_conflicting_audio_are_refused(store):
    with pytest.raises(UnknownTenantError, match="acme, globex"):
        store.tenant("initech")
    a = store.tenant("acme")
    a.upsert_call("c1", "a" * 64, {})
    with pytest.raises(StoreError, match="other audio"):
        a.upsert_call("c1", "f" * 64, {})
    with pytest.raises(StoreError, match="tenant"):
        a.save_scorecard(card_for(conversation("globex")))


def test_date_range_uses_utc(store):
    a = store.tenant("acme")
    a.upsert_call("early", "1" * 64, {"started_at": "2026-11-02T07:30:00+08:00"})  # 23:30Z
    a.upsert_call("late", "2" * 64, {"started_at": "2026-11-02T01:00:00Z"})
    import datetime as dt
    day = [c.call_id for c in a.calls(since=dt.datetime(2026, 11, 2),
                                       until=dt.datetime(2026, 11, 3))]
    assert day == ["late"]


def test_bad_url_is_a_store_error(tmp_path):
    with pytest.raises(StoreError):
        Store("nosuchdialect://x")
