"""Batch runner: plan / front end / scoring stages, quarantine, skip-if-done, content
cache, re-scoring without ASR, fsspec sources, and crash safety (a killed batch re-run
loses and duplicates nothing).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import func, select

from qa_pipeline.rubric.loader import load_rubric
from qa_pipeline.runner import BatchRunner, RunOptions, list_sources
from qa_pipeline.store import Store
from qa_pipeline.store.tables import QuarantineEntry, ScorecardItemRow, ScorecardRow, StageCost
from tests.conftest import REPO
from tests.runner_fakes import CALLS, scripted_factory
from tests.store_fixtures import db_url  # noqa: F401 - fixture


def voice(seconds: float, seed: int, sr: int = 8000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    env = (np.sin(2 * np.pi * 0.7 * t) > -0.3).astype(np.float32)
    x = 0.2 * np.sin(2 * np.pi * (140 + 20 * seed) * t) * env + 0.01 * rng.standard_normal(t.size)
    return x.astype(np.float32)


@pytest.fixture
def batch(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(3):
        sf.write(d / f"call{i}.wav", voice(6, i), 8000)
    (d / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    (d / "empty.wav").write_bytes(b"")
    return d


def runner(url, tmp_path, **kw):
    opts = RunOptions(cache_dir=tmp_path / "cache", **kw)
    return BatchRunner(Store(url), opts, frontend_factory=scripted_factory())


def count(store, tenant, table):
    with store.session_for(tenant) as s:
        return s.scalar(select(func.count()).select_from(table))


def test_batch_isolates_failures_and_rerun_skips_done_work(batch, tmp_path, db_url):  # noqa: F811
    r1 = runner(db_url, tmp_path, out_dir=tmp_path / "out").run(
        list_sources([batch], "default"))
    assert len(r1.processed) == 3
    assert sorted(f.failure.reason for f in r1.failed) == ["corrupt", "empty"]
    store = Store(db_url)
    t = store.tenant("default")
    assert {q.reason for q in t.quarantined()} == {"corrupt", "empty"}
    assert len(list((tmp_path / "out").glob("*/scorecard.json"))) == 3
    assert len(list((tmp_path / "out" / "default" / "_quarantine").glob("*.json"))) == 2

    asr_before = CALLS["asr"]
    r2 = runner(db_url, tmp_path).run(list_sources([batch], "default"))
    assert (len(r2.processed), len(r2.skipped), len(r2.failed)) == (0, 3, 2)
    assert CALLS["asr"] == asr_before
    assert count(store, "default", ScorecardRow) == 3
    assert [q.attempts for q in t.quarantined()] == [2, 2]  # intact, not duplicated
    # costs: one front-end + acoustics + scoring row per call, from the first run only
    assert count(store, "default", StageCost) == 9
    assert {c.stage for c in t.costs(r1.processed[0].call_id)} == {
        "frontend", "acoustics", "scoring"}


def test_new_rubric_version_rescores_from_cache_without_asr(batch, tmp_path, db_url):  # noqa: F811
    runner(db_url, tmp_path).run(list_sources([batch], "default"))
    asr_before = CALLS["asr"]
    rubric = tmp_path / "v9.yaml"
    default = REPO / "rubrics" / "customer_service_en.yaml"
    shipped = str(load_rubric(default).version)
    rubric.write_text(default.read_text(encoding="utf-8").replace(
        f"\nversion: {shipped}\n", "\nversion: 9\n", 1), encoding="utf-8")
    # A new configuration is new work for the planner, but the front end is a cache hit.
    r = runner(db_url, tmp_path, rubric=str(rubric)).run(list_sources([batch], "default"))
    assert len(r.processed) == 3 and all(p.cached_frontend for p in r.processed)
    assert CALLS["asr"] == asr_before
    # The rescore path reads stored conversations only.
    r3 = runner(db_url, tmp_path, rubric=str(rubric)).rescore("default")
    assert len(r3.processed) == 3 and CALLS["asr"] == asr_before
    versions = sorted(c["rubric_version"] for c in Store(db_url).tenant("default").scorecards())
    assert versions == [shipped] * 3 + ["9"] * 3


def test_unknown_tenant_in_manifest_is_reported_and_others_go_on(batch, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,tenant_id\n{batch / 'call0.wav'},default\n"
                        f"{batch / 'call1.wav'},nosuchtenant\n", encoding="utf-8")
    r = runner(f"sqlite:///{tmp_path / 'q.db'}", tmp_path, out_dir=tmp_path / "out").run(
        list_sources([manifest]))
    assert len(r.processed) == 1
    [f] = r.failed
    assert (f.tenant_id, f.failure.error_type) == ("nosuchtenant", "UnknownTenantError")
    [record] = (tmp_path / "out" / "nosuchtenant" / "_quarantine").glob("call1.wav-*.json")
    assert json.loads(record.read_text())["error_type"] == "UnknownTenantError"


def test_fsspec_source(tmp_path):
    import fsspec

    fs = fsspec.filesystem("memory")
    for i in range(2):
        path = tmp_path / f"m{i}.wav"
        sf.write(path, voice(5, 10 + i), 8000)
        fs.pipe(f"/bucket/calls/m{i}.wav", path.read_bytes())
    fs.pipe("/bucket/calls/notes.txt", b"not audio")
    sources = list_sources(["memory://bucket/calls"], "default")
    assert [s.uri.split("://")[0] for s in sources] == ["memory", "memory"]
    assert [s.uri.rsplit("/", 3)[1:] for s in sources] == [["bucket", "calls", "m0.wav"],
                                                           ["bucket", "calls", "m1.wav"]]
    r = runner(f"sqlite:///{tmp_path / 'q.db'}", tmp_path).run(sources)
    assert len(r.processed) == 2
    stored = Store(f"sqlite:///{tmp_path / 'q.db'}").tenant("default").calls()
    assert sorted(c.source_uri for c in stored) == sorted(s.uri for s in sources)


CRASHING_BATCH = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from qa_pipeline.runner import BatchRunner, RunOptions, list_sources
    from qa_pipeline.store import Store
    from tests.runner_fakes import scripted_factory
    opts = RunOptions(cache_dir=Path({cache!r}))
    r = BatchRunner(Store({url!r}), opts, frontend_factory=scripted_factory(0.7))
    r.run(list_sources([{batch!r}], "default"))
""")


def test_killed_batch_rerun_loses_and_duplicates_nothing(batch, tmp_path, db_url):  # noqa: F811
    for i in range(3, 8):
        sf.write(batch / f"call{i}.wav", voice(6, i), 8000)
    script = CRASHING_BATCH.format(repo=str(REPO), cache=str(tmp_path / "cache"), url=db_url,
                                   batch=str(batch))
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    store = Store(db_url)
    deadline = time.time() + 120
    # Kill it mid-scoring: the front end has cached some calls, some cards are stored.
    while time.time() < deadline:
        if "default" in store.tenant_ids() and count(store, "default", ScorecardRow) >= 1:
            break
        if proc.poll() is not None:
            pytest.fail("batch finished before it could be killed")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored_before = count(store, "default", ScorecardRow)
    assert 1 <= stored_before < 8

    r = runner(db_url, tmp_path).run(list_sources([batch], "default"))
    assert len(r.skipped) == stored_before
    assert len(r.processed) == 8 - stored_before
    assert count(store, "default", ScorecardRow) == 8
    assert count(store, "default", ScorecardItemRow) == 8 * len(
        store.tenant("default").scorecards()[0]["items"])
    assert count(store, "default", QuarantineEntry) == 2
    calls = store.tenant("default").calls()
    assert len(calls) == 8 and {c.status for c in calls} == {"scored"}
    # every stored scorecard parses and belongs to a distinct call
    ids = [c["call_id"] for c in store.tenant("default").scorecards()]
    assert len(set(ids)) == 8
    json.dumps(store.tenant("default").scorecards())


def test_bad_files_are_quarantined_before_any_model_loads(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    (d / "empty.wav").write_bytes(b"")
    sf.write(d / "short.wav", voice(0.4, 1), 8000)
    sf.write(d / "rate.wav", voice(2, 1, sr=96000), 96000)
    (tmp_path / "express").mkdir()
    sf.write(tmp_path / "express" / "mono.wav", voice(3, 2), 8000)  # swift_express is stereo

    def no_models(*_a):
        raise AssertionError("a front end was built for a batch of bad files")

    store = Store(f"sqlite:///{tmp_path / 'q.db'}")
    r1 = BatchRunner(store, RunOptions(cache_dir=tmp_path / "c"), frontend_factory=no_models
                     ).run(list_sources([d], "default"))
    r2 = BatchRunner(store, RunOptions(cache_dir=tmp_path / "c"), frontend_factory=no_models
                     ).run(list_sources([tmp_path / "express"], "swift_express"))
    reasons = {f.source_uri.rsplit("/", 1)[1]: f.failure.reason for f in r1.failed + r2.failed}
    assert len(r1.failed) + len(r2.failed) == 5
    assert reasons == {"corrupt.wav": "corrupt", "empty.wav": "empty", "short.wav": "too_short",
                       "rate.wav": "sample_rate", "mono.wav": "channel_layout"}
    assert r1.processed == [] and r2.processed == []


@pytest.mark.parametrize("bad", ["../../etc/passwd", "a/b", ".hidden", "x" * 200])
def test_manifest_call_ids_cannot_escape_the_output_folder(tmp_path, bad):
    from qa_pipeline.errors import ConfigError

    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,tenant_id,call_id\nx.wav,default,{bad}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=":2: call_id"):
        list_sources([manifest])


def test_claim_output_refuses_paths_outside(tmp_path):
    from qa_pipeline.batch import claim_output
    from qa_pipeline.errors import QAPipelineError

    with pytest.raises(QAPipelineError, match="outside"):
        claim_output(tmp_path, "../x", "default")


def test_frontend_key_changes_with_code_defaults_of_asr_and_vad(monkeypatch):
    # A default no tenant file sets (the ASR VAD threshold) still changes transcripts, so a
    # conversation cached under the old default must not be reused.
    import dataclasses

    from qa_pipeline.runner import keys
    from qa_pipeline.tenants import load_tenant

    tenant = load_tenant("default", REPO / "tenants")
    before = keys.frontend_key(tenant)
    assert keys.frontend_key(tenant) == before
    asr, vad = keys.AsrOptions(), keys.VadOptions()
    monkeypatch.setattr(keys, "AsrOptions", lambda: dataclasses.replace(asr, vad_threshold=0.5))
    assert keys.frontend_key(tenant) != before
    monkeypatch.undo()
    monkeypatch.setattr(keys, "VadOptions",
                        lambda: dataclasses.replace(vad, min_silence_duration_ms=500))
    assert keys.frontend_key(tenant) != before
