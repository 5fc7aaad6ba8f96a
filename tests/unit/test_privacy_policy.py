"""Tenant privacy policy in batch runs (redact before storage) and retention (deletion is
complete: rows in every table, cached transcripts, output files; other tenants untouched).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil

import pytest
import soundfile as sf
from sqlalchemy import func, select

from qa_pipeline.runner import BatchRunner, RunOptions, list_sources
from qa_pipeline.runner.retention import purge_tenant
from qa_pipeline.store import Store
from qa_pipeline.store import tables as T
from tests.conftest import REPO
from tests.runner_fakes import ScriptedFrontEnd
from tests.unit.test_runner import voice


class PiiFrontEnd(ScriptedFrontEnd):
    def transcribe(self, audio, hook=None, *, load_s=0.0):
        result = super().transcribe(audio, hook, load_s=load_s)
        conv = result.conversation
        u = conv.utterances[1]
        words = (*u.words[:2], dataclasses.replace(u.words[2], text="13800138000"))
        u = dataclasses.replace(u, text="my number 13800138000", words=words)
        conv = dataclasses.replace(conv, utterances=(conv.utterances[0], u,
                                                     *conv.utterances[2:]))
        return dataclasses.replace(result, conversation=conv)


def policy_tenant(tmp_path, monkeypatch, tenant_id, privacy):
    """A tenants folder with ``default`` and ``tenant_id`` (``privacy``: its YAML flow map)
    and an inbox of two recordings; returns the inbox.
    """
    d = tmp_path / "tenants"
    d.mkdir()
    shutil.copy(REPO / "tenants" / "default.yaml", d / "default.yaml")
    (d / f"{tenant_id}.yaml").write_text(
        f"id: {tenant_id}\nrubrics: {{en: rubrics/customer_service_en.yaml}}\n"
        f"privacy: {privacy}\n", encoding="utf-8")
    monkeypatch.setenv("QA_PIPELINE_TENANTS_DIR", str(d))
    inbox = tmp_path / "in"
    inbox.mkdir()
    for i in range(2):
        sf.write(inbox / f"c{i}.wav", voice(5, i), 8000)
    return inbox


@pytest.fixture
def tenants(tmp_path, monkeypatch):
    return policy_tenant(tmp_path, monkeypatch, "private_co",
                         "{mode: redact_before_storage, retention_days: 30}")


def run(tmp_path, inbox, tenant, **kw):
    store = Store(f"sqlite:///{tmp_path / 'qa.db'}")
    opts = RunOptions(cache_dir=tmp_path / "cache", out_dir=tmp_path / "out" / tenant, **kw)
    report = BatchRunner(store, opts, frontend_factory=lambda t, o: PiiFrontEnd(t, o)).run(
        list_sources([inbox], tenant))
    return store, report


def test_redact_before_storage_leaves_no_trace_on_disk(tmp_path, tenants):
    store, report = run(tmp_path, tenants, "private_co")
    assert len(report.processed) == 2
    conv, _ = store.tenant("private_co").conversation(report.processed[0].call_id)
    assert conv.utterances[1].text == "my number [PHONE]"
    assert any("redacted before storage: 1 mention(s) (phone)" in n
               for n in conv.provenance.notes)
    for path in [*(tmp_path / "cache").rglob("*.json"), *(tmp_path / "out").rglob("*.*"),
                 tmp_path / "qa.db"]:
        assert b"13800138000" not in path.read_bytes(), path
    # A tenant without the policy keeps its transcripts as recognised.
    store, report = run(tmp_path, tenants, "default")
    conv, _ = store.tenant("default").conversation(report.processed[0].call_id)
    assert conv.utterances[1].text == "my number 13800138000"


def test_retention_deletes_everything_of_old_calls_only(tmp_path, tenants):
    store, report = run(tmp_path, tenants, "private_co")
    run(tmp_path, tenants, "default")
    t = store.tenant("private_co")
    t.quarantine("sha256:" + t.call(report.processed[0].call_id).sha256, "x",
                 error_type="E", reason="r", message="m")
    later = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(days=31)
    early = purge_tenant(store, "private_co", days=None, now=later - dt.timedelta(days=2),
                         cache_dir=tmp_path / "cache", out_dir=tmp_path / "out" / "private_co")
    assert early.call_ids == []  # within the tenant's 30 days
    purged = purge_tenant(store, "private_co", now=later, cache_dir=tmp_path / "cache",
                          out_dir=tmp_path / "out" / "private_co")
    assert sorted(purged.call_ids) == sorted(p.call_id for p in report.processed)
    with store.session_for("private_co") as s:
        for table in (T.Call, T.ConversationRow, T.ScorecardRow, T.ScorecardItemRow,
                      T.StageCost, T.QuarantineEntry, T.Review):
            assert s.scalar(select(func.count()).select_from(table)) == 0, table
    assert list((tmp_path / "cache" / "frontend" / "private_co").rglob("*.json")) == []
    for call_id in purged.call_ids:
        assert not (tmp_path / "out" / "private_co" / call_id).exists()
        assert (tmp_path / "out" / "default" / call_id).exists()
    [entry] = store.tenant("private_co").audit_log()
    assert entry["action"] == "retention.purge" and entry["after"]["deleted"]["calls"] == 2
    # The other tenant (same audio, no retention policy) keeps everything.
    assert store.tenant("default").count_scorecards() == 2
    assert purge_tenant(store, "default", now=later).call_ids == []
    assert json.dumps(store.tenant("default").scorecards())
