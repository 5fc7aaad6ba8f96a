"""Flows under the real Prefect engine (prefect_test_harness) with the real embedded models:
bad files are quarantined while the rest succeed, a re-run skips done work, and rescore
writes new scorecards without running ASR.
"""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from flows.rescore import rescore
from flows.score_calls import _shard_cache_key, score_calls
from qa_pipeline.store import Store
from tests.conftest import DATA_SAMPLES, REPO

pytestmark = pytest.mark.integration


def test_score_calls_quarantines_skips_and_rescores_without_asr(prefect_api, count_asr,
                                                                tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(DATA_SAMPLES / "calls" / "en_good_mono_8k.wav", inbox / "good.wav")
    (inbox / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    (inbox / "empty.wav").write_bytes(b"")
    db = f"sqlite:///{tmp_path / 'qa.db'}"
    monkeypatch.setenv("QA_PIPELINE_DB_URL", db)  # never a flow parameter
    params = dict(inputs=[str(inbox)], tenant="default",
                  cache_dir=str(tmp_path / "cache"), out_dir=str(tmp_path / "out"))

    first = score_calls(**params)
    assert len(first["processed"]) == 1 and first["skipped"] == []
    assert sorted(f["reason"] for f in first["failed"]) == ["corrupt", "empty"]
    assert count_asr["n"] == 1
    t = Store(db).tenant("default")
    assert t.count_scorecards() == 1
    assert {q.reason for q in t.quarantined()} == {"corrupt", "empty"}
    call_id = first["processed"][0]["call_id"]
    assert (tmp_path / "out" / call_id / "scorecard.html").exists()

    again = score_calls(**params)
    assert again["processed"] == [] and [s["call_id"] for s in again["skipped"]] == [call_id]
    assert count_asr["n"] == 1
    assert t.count_scorecards() == 1 and len(t.quarantined()) == 2

    shipped = (REPO / "rubrics" / "customer_service_en.yaml").read_text(encoding="utf-8")
    version = int(yaml.safe_load(shipped)["version"])  # the shipped rubric's, whatever it is
    rubric = tmp_path / "en_next.yaml"
    rubric.write_text(shipped.replace(f"version: {version}", f"version: {version + 1}", 1),
                      encoding="utf-8")
    backfill = rescore(tenant="default", rubric=str(rubric))
    assert [p["call_id"] for p in backfill["processed"]] == [call_id]
    assert count_asr["n"] == 1
    versions = sorted(c["rubric_version"] for c in t.scorecards(call_id=call_id))
    assert versions == [str(version), str(version + 1)]
    assert {c.stage for c in t.costs(call_id)} >= {"frontend", "scoring", "rescoring"}


def test_shard_cache_key_is_content_keyed():
    def call(sha, path, fkey="f1"):
        return {"source": {"uri": path, "meta": {"tenant_id": "default"}}, "sha256": sha,
                "frontend_key": fkey, "local_path": path}

    a = _shard_cache_key(None, {"calls": [call("1", "/a.wav"), call("2", "/b.wav")]})
    moved = _shard_cache_key(None, {"calls": [call("2", "/x/b.wav"), call("1", "/x/a.wav")]})
    other_model = _shard_cache_key(None, {"calls": [call("1", "/a.wav", "f2"),
                                                    call("2", "/b.wav", "f2")]})
    assert a == moved and a != other_model


def test_readme_main_job_run_command(prefect_api, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import cli_app

    app = cli_app()

    out, db = tmp_path / "out", f"sqlite:///{tmp_path / 'qa.db'}"
    args = ["run", str(DATA_SAMPLES / "manifest.csv"), "--out", str(out), "--db", db,
            "--cache-dir", str(tmp_path / "cache")]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "processed: 5, skipped as already done: 0, quarantined: 0" in first.output
    assert len(list(out.glob("*/scorecard.json"))) == 5
    store = Store(db)
    assert store.tenant_ids() == ["default", "swift_express"]
    assert store.tenant("default").count_scorecards() == 4
    assert store.tenant("swift_express").count_scorecards() == 1
    assert store.agent_tenants("agent-001") == ["default", "swift_express"]
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "processed: 0, skipped as already done: 5" in again.output
    costs = CliRunner().invoke(app, ["costs", "--tenant", "default", "--db", db, "--json"])
    assert costs.exit_code == 0, costs.output
    lines = {r["business_line"]: r for r in json.loads(costs.output)}
    assert set(lines) == {"billing", "after_sales"}
    assert lines["billing"]["calls"] == 2 and lines["billing"]["cpu_s"] > 0
