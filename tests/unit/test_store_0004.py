"""Migration 0004: the session tables and ``users.language`` appear, and item rows of
observation flags written by old versions (severity ``non_fatal``) read as flags, out of
the failure tallies. SQLite always; PostgreSQL when ``QA_PIPELINE_TEST_PG_URL`` is set.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.engine import evaluate
from qa_pipeline.rubric.loader import load_rubric_text
from qa_pipeline.scorecard.card import build_scorecard
from qa_pipeline.store import Store
from qa_pipeline.store.tables import FailureTally, ScorecardItemRow
from tests.helpers import make_conversation
from tests.store_fixtures import PG_URL, fresh_pg_database

RUBRIC = """\
id: flags
version: 1
sections:
  - id: a
    weight: 100
    criteria:
      - id: greet
        points: 10
        rule: {type: required_phrase, phrases: [hello]}
  - id: obs
    weight: 0
    criteria:
      - id: thanked
        kind: flag
        rule: {type: forbidden_phrase, role: customer, phrases: [thanks]}
"""


def _at(url: str, revision: str) -> None:
    from alembic import command

    s = Store(url, migrate="skip")
    cfg = s._alembic_config()
    with s.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()
    s.close()


def _old_store_with_a_failing_flag(url: str) -> None:
    """A 0003 store whose flag item row carries ``non_fatal`` and is tallied as a failure,
    as versions before flags were kept apart wrote it.
    """
    _at(url, "0003")
    store = Store(url, migrate="skip")
    store.register_tenant("acme")
    ts = store.tenant("acme")
    conv = make_conversation([["agent", 0, 2, "bye"], ["customer", 2, 4, "okay thanks"]],
                             call_id="c1", tenant_id="acme", language="en")
    ts.save_conversation(conv, frontend_key="k", meta={"agent_id": "ag-1",
                                                        "started_at": "2026-11-02T09:00:00"})
    rubric = load_rubric_text(RUBRIC)
    card = build_scorecard(rubric, evaluate(rubric, EvaluationContext(conv)), call_id="c1",
                           tenant_id="acme", provenance={})
    ts.save_scorecard(card)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE scorecard_items SET severity = 'non_fatal' "
                          "WHERE criterion_id = 'thanked'"))
        conn.execute(text("DELETE FROM failure_tallies"))
        conn.execute(text(
            "INSERT INTO failure_tallies (tenant_id, call_day, agent_id, team_id, "
            "criterion_id, severity, failures) SELECT tenant_id, call_day, agent_id, team_id, "
            "criterion_id, severity, count(*) FROM scorecard_items WHERE verdict = 'fail' "
            "GROUP BY tenant_id, call_day, agent_id, team_id, criterion_id, severity"))
    store.close()


def _check_upgraded(url: str) -> None:
    store = Store(url, migrate="upgrade")
    try:
        assert store.schema_revision() == store.head_revision()
        with store.tenant("acme").session() as s:
            rows = {r.criterion_id: r for r in s.scalars(select(ScorecardItemRow))}
            tallies = {(t.criterion_id, t.severity): t.failures
                       for t in s.scalars(select(FailureTally)) if t.failures}
        assert rows["thanked"].verdict == "fail"
        assert rows["thanked"].severity == "flag"
        assert rows["greet"].severity == "non_fatal"  # scored criteria keep theirs
        # The greeting failed on both tally levels (agent and '*'); the flag on neither.
        assert set(tallies) == {("greet", "non_fatal")}
        from qa_pipeline.review.dashboard import DashboardFilter, summary

        top = summary(store.tenant("acme"), "tenant", DashboardFilter("", "", "", ""))
        assert [t["criterion_id"] for t in top["top_failing"]] == ["greet"]
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM users WHERE language <> ''")
                                ).scalar() == 0
            assert conn.execute(text("SELECT count(*) FROM calibration_sessions")
                                ).scalar() == 0
    finally:
        store.close()


def test_old_flag_rows_read_as_flags_after_upgrade_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _old_store_with_a_failing_flag(url)
    with Store(url, migrate="skip").engine.connect() as conn:  # the old shape, as found
        assert conn.execute(text("SELECT severity FROM scorecard_items WHERE criterion_id = "
                                 "'thanked'")).scalar() == "non_fatal"
    _check_upgraded(url)


@pytest.mark.skipif(not PG_URL, reason="QA_PIPELINE_TEST_PG_URL not set")
def test_old_flag_rows_read_as_flags_after_upgrade_postgresql():
    url, drop = fresh_pg_database(upgrade=False)
    try:
        _old_store_with_a_failing_flag(url)
        _check_upgraded(url)
    finally:
        drop()  # type: ignore[operator]


def test_downgrade_to_0003_and_up_again(tmp_path):
    from alembic import command

    url = f"sqlite:///{tmp_path / 'db.db'}"
    store = Store(url)
    cfg = store._alembic_config()
    with store.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
        conn.commit()
    assert store.schema_revision() == "0003"
    store.migrate()
    assert store.schema_revision() == store.head_revision()
    store.close()
