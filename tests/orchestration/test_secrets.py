"""The store's URL, password included, never reaches Prefect: not as a flow-run parameter,
not in a log line, an artifact or a persisted result. Tasks read it from the environment
(or a Prefect Secret block named by ``db_secret``).

A real flow run under the Prefect engine; its input is an empty file, quarantined while
planning, so no model loads.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from flows.distributed import score_calls_distributed
from flows.rescore import rescore
from flows.score_calls import score_calls
from qa_pipeline.store import Store
from tests.store_fixtures import PG_URL, fresh_pg_database

PASSWORD = "S3cr3t-pw-7f2a9c"


def _urls(backend: str, tmp_path: Path) -> tuple[str, object]:
    if backend == "sqlite":
        # SQLite has no passwords; an unknown URI parameter is ignored by SQLite and stands
        # in for one (it is as much a part of the URL as a password).
        return f"sqlite:///file:{tmp_path / 'qa.db'}?uri=true&password={PASSWORD}", None
    from sqlalchemy.engine import make_url

    url, drop = fresh_pg_database()  # trust authentication: the password is ignored
    return make_url(url).set(password=PASSWORD).render_as_string(hide_password=False), drop


def _everything_prefect_kept(run_ids: list[str]) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    APILogWorker.drain_all(timeout=30)
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(
            any_=run_ids)))
        tasks = client.read_task_runs(task_run_filter=TaskRunFilter(
            flow_run_id=TaskRunFilterFlowRunId(any_=run_ids)))
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids)))
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=run_ids)))
    assert len(runs) == len(run_ids) and logs and artifacts  # the check is not vacuous
    assert any("planned:" in log.message for log in logs)
    kept = [json.dumps([x.model_dump(mode="json") for x in items], ensure_ascii=False)
            for items in (runs, tasks, logs, artifacts)]
    results = Path(PREFECT_LOCAL_STORAGE_PATH.value()).expanduser()
    if results.is_dir():
        kept += [p.read_text(encoding="utf-8", errors="replace")
                 for p in results.rglob("*") if p.is_file()]
    return "\n".join(kept)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG_URL, reason="QA_PIPELINE_TEST_PG_URL not set"))])
def test_database_password_never_reaches_prefect(prefect_api, backend, tmp_path, monkeypatch):
    from prefect.blocks.system import Secret

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "empty.wav").write_bytes(b"")
    url, drop = _urls(backend, tmp_path / "env")
    (tmp_path / "env").mkdir()
    try:
        # 1. The URL in the worker's environment.
        monkeypatch.setenv("QA_PIPELINE_DB_URL", url)
        state = score_calls(inputs=[str(inbox)], tenant="default",
                            cache_dir=str(tmp_path / "cache"), return_state=True)
        summary = state.result()
        assert [f["reason"] for f in summary["failed"]] == ["empty"]
        from_env = state.state_details.flow_run_id
        # The quarantine went to the database the environment names.
        assert [q.reason for q in Store(url).tenant("default").quarantined()] == ["empty"]

        # 2. The URL in a Prefect Secret block, named by a (harmless) parameter.
        monkeypatch.delenv("QA_PIPELINE_DB_URL")
        block_db = tmp_path / "block"
        block_db.mkdir()
        block_url = url.replace(str(tmp_path / "env"), str(block_db))
        if backend == "sqlite":
            Secret(value=block_url).save("callqa-test-db", overwrite=True)
        else:
            Secret(value=url).save("callqa-test-db", overwrite=True)
        state = score_calls(inputs=[str(inbox)], tenant="default", db_secret="callqa-test-db",
                            cache_dir=str(tmp_path / "cache"), return_state=True)
        assert [f["reason"] for f in state.result()["failed"]] == ["empty"]
        from_block = state.state_details.flow_run_id
        if backend == "sqlite":
            assert (block_db / "qa.db").exists()

        kept = _everything_prefect_kept([str(from_env), str(from_block)])
        assert PASSWORD not in kept
        assert "callqa-test-db" in kept  # the block's name is a parameter; its value is not
    finally:
        if drop is not None:
            drop()  # type: ignore[operator]


def test_no_flow_takes_a_database_url_or_secret_parameter():
    for f in (score_calls, rescore, score_calls_distributed):
        names = set(inspect.signature(f.fn).parameters)
        assert not {n for n in names if "url" in n or "password" in n or "key" in n}, f.name
        assert "db_secret" in names  # names a Secret block; never the secret itself
