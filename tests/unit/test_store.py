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
from tests.store_fixtures import PG_URL, db_url, fresh_pg_database  # noqa: F401 - fixture

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


# --- explicit migrations and backups ---------------------------------------------------------

def _at_first_revision(url: str) -> None:
    """A database with the oldest schema (as an earlier release left it)."""
    from alembic import command

    s = Store(url, migrate="skip")
    cfg = s._alembic_config()
    with s.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.commit()
    s.close()


def test_embedded_sqlite_upgrades_on_open(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _at_first_revision(url)
    store = Store(url)
    assert store.embedded and store.schema_revision() == store.head_revision()


def test_old_schema_is_refused_with_the_upgrade_command(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _at_first_revision(url)
    with pytest.raises(StoreError, match="qa-pipeline db upgrade") as err:
        Store(url, migrate="check")
    assert "0001" in str(err.value)
    with pytest.raises(StoreError, match=r"\(empty\).*qa-pipeline db upgrade"):
        Store(f"sqlite:///{tmp_path / 'empty.db'}", migrate="check")


def test_db_upgrade_command_then_check_passes(tmp_path):
    from typer.testing import CliRunner

    from qa_pipeline.cli import app

    url = f"sqlite:///{tmp_path / 'old.db'}"
    _at_first_revision(url)
    result = CliRunner().invoke(app, ["db", "upgrade", "--db", url])
    assert result.exit_code == 0, result.output
    assert "0001 ->" in result.output
    store = Store(url, migrate="check")  # no longer refused
    assert store.schema_revision() == store.head_revision()
    again = CliRunner().invoke(app, ["db", "upgrade", "--db", url])
    assert again.exit_code == 0 and "already at" in again.output


def test_server_database_is_checked_not_migrated_on_open(monkeypatch, tmp_path):
    # "auto" decides by dialect: only the embedded SQLite engine upgrades on open.
    calls: list[str] = []
    monkeypatch.setattr(Store, "migrate", lambda self: calls.append("migrate"))
    monkeypatch.setattr(Store, "check_schema", lambda self: calls.append("check"))
    Store(f"sqlite:///{tmp_path / 'a.db'}")
    monkeypatch.setattr(Store, "embedded", property(lambda self: False))
    Store(f"sqlite:///{tmp_path / 'b.db'}")
    assert calls == ["migrate", "check"]
    with pytest.raises(StoreError, match="auto, upgrade, check, skip"):
        Store(f"sqlite:///{tmp_path / 'c.db'}", migrate="sometimes")  # type: ignore[arg-type]


@pytest.mark.skipif(not PG_URL, reason="QA_PIPELINE_TEST_PG_URL not set")
def test_postgresql_old_schema_refuses_until_upgraded():
    url, drop = fresh_pg_database(upgrade=False)
    try:
        with pytest.raises(StoreError, match="qa-pipeline db upgrade"):
            Store(url)
        _at_first_revision(url)
        with pytest.raises(StoreError, match="0001.*qa-pipeline db upgrade"):
            Store(url)
        Store(url, migrate="upgrade").close()
        Store(url).close()
    finally:
        drop()  # type: ignore[operator]


def test_backup_includes_calls_still_in_the_wal(tmp_path):
    import shutil
    import sqlite3

    from typer.testing import CliRunner

    from qa_pipeline.cli import app

    db = tmp_path / "live.db"
    store = Store(f"sqlite:///{db}")
    store.register_tenant("acme")
    t = store.tenant("acme")
    for i in range(3):
        t.upsert_call(f"c{i}", f"{i}" * 64, {})
    # The store stays open: its writes are in live.db-wal, not yet in live.db. A plain copy
    # of the main file misses them (this is what the backup must not do).
    assert (tmp_path / "live.db-wal").stat().st_size > 0
    naive = tmp_path / "naive.db"
    shutil.copy(db, naive)
    with sqlite3.connect(naive) as c:
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master")}
        assert "calls" not in tables or c.execute("SELECT count(*) FROM calls").fetchone()[0] == 0

    result = CliRunner().invoke(app, ["db", "backup", str(tmp_path / "copy.db"),
                                      "--db", f"sqlite:///{db}"])
    assert result.exit_code == 0, result.output
    assert "backed up 3 calls" in result.output
    with sqlite3.connect(tmp_path / "copy.db") as c:
        ids = sorted(r[0] for r in c.execute("SELECT call_id FROM calls"))
    assert ids == ["c0", "c1", "c2"]
    store.close()


def test_backup_refuses_server_urls_and_existing_files(tmp_path):
    from qa_pipeline.store import backup_sqlite

    with pytest.raises(StoreError, match="pg_dump"):
        backup_sqlite("postgresql+psycopg://u:pw@127.0.0.1:1/x", tmp_path / "x.db")
    db = tmp_path / "a.db"
    Store(f"sqlite:///{db}").close()
    (tmp_path / "taken.db").write_bytes(b"")
    with pytest.raises(StoreError, match="exists"):
        backup_sqlite(f"sqlite:///{db}", tmp_path / "taken.db")


def test_an_old_schema_is_not_retried_as_a_transient_error(tmp_path):
    from flows.common import retry_transient
    from qa_pipeline.errors import SchemaOutdatedError

    class Failed:
        def __init__(self, error: Exception) -> None:
            self.error = error

        def result(self):
            raise self.error

    url = f"sqlite:///{tmp_path / 'old.db'}"
    _at_first_revision(url)
    with pytest.raises(SchemaOutdatedError) as err:
        Store(url, migrate="check")
    assert retry_transient(None, None, Failed(err.value)) is False
    assert retry_transient(None, None, Failed(StoreError("database restarting"))) is True
