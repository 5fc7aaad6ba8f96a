"""Harness pieces that need no model: GPU-mode overrides, stage clock, summaries, peaks."""

from __future__ import annotations

import time

import pytest

from qa_pipeline.bench.harness import (
    BenchOptions,
    _summarise_calls,
    _Tenants,
    sample_peaks,
    stage_totals,
    to_jsonable,
)
from qa_pipeline.bench.metrics import DiarizationScore
from qa_pipeline.bench.suite import CallCase
from qa_pipeline.manifest import CallMeta
from qa_pipeline.runner.costs import Meter, scoring_device


def _case(**kw) -> CallCase:
    return CallCase(meta=CallMeta(path="x.wav", tenant_id="default"), source="m.csv", **kw)


def test_gpu_mode_overrides_reach_tenant_config_without_a_gpu():
    tenants = _Tenants(BenchOptions(device="cuda", compute_type="float16", asr_batch_size=16))
    cfg = tenants.for_case(_case(num_speakers=4, force_mono=True))
    assert (cfg.asr.device, cfg.asr.compute_type, cfg.asr.batch_size) == ("cuda", "float16", 16)
    assert cfg.sentiment.device == "cuda"
    assert cfg.diarization.num_speakers == 4 and cfg.channel_layout == "mono"
    # The embedded sentiment head is numpy: scoring holds no GPU even in GPU mode.
    assert scoring_device(cfg) == "cpu"
    gpu_sentiment = cfg.model_copy(update={"sentiment": cfg.sentiment.model_copy(
        update={"backend": "transformers"})})
    assert scoring_device(gpu_sentiment) == "cuda"
    # Configs are built once per (tenant, speakers, layout): one model set each.
    assert tenants.for_case(_case(num_speakers=4, force_mono=True)) is cfg
    plain = _Tenants(BenchOptions()).for_case(_case())
    assert plain.asr.device == "auto" and plain.diarization.num_speakers == 2


def test_stage_totals_count_gpu_seconds_only_for_cuda_stages():
    clock = Meter()
    with clock.stage("asr", "cuda"):
        time.sleep(0.02)
    with clock.stage("asr", "cuda:1"):
        time.sleep(0.02)
    with clock.stage("scoring"):
        time.sleep(0.01)
    totals = stage_totals(clock)
    assert totals["asr"]["gpu_s"] == pytest.approx(totals["asr"]["wall_s"])
    assert totals["asr"]["wall_s"] >= 0.04
    assert totals["scoring"]["gpu_s"] == 0.0


def test_call_summary_pools_criteria_and_computes_domain_kpis():
    def row(name, fatal_truth, fatal_pred, nf_truth, nf_pred, review="pass"):
        return {"call": name, "source": "m.csv", "criteria": {
            "abuse": {"expected": fatal_truth, "provisional": fatal_pred,
                      "status": review if fatal_pred == "fail" else fatal_pred,
                      "severity": "fatal", "kind": "error"},
            "closing": {"expected": nf_truth, "provisional": nf_pred, "status": nf_pred,
                        "severity": "non_fatal", "kind": "error"},
            "complaint": {"expected": "fail", "provisional": "fail", "status": "fail",
                          "severity": "non_fatal", "kind": "flag"}},
            "diarization": DiarizationScore(1.0, 0.0, 0.0, 10.0)}

    rows = [row("a", "fail", "fail", "pass", "pass", review="needs_review"),
            row("b", "fail", "pass", "fail", "fail"),
            row("c", "pass", "pass", "pass", "fail"),
            row("d", "pass", "pass", "pass", "pass"),
            {"call": "e", "source": "m.csv", "error": "AudioDecodeError: x"}]
    s = _summarise_calls(rows)
    assert (s["calls"], s["failed"]) == (5, 1)
    assert s["by_source"]["m.csv"]["diarization"].total_s == 40.0
    abuse = s["criteria"]["abuse"]
    assert (abuse["counts"].tp, abuse["counts"].fn, abuse["needs_review"]) == (1, 1, 1)
    # The flag is listed but not pooled into the non-fatal figures.
    assert s["non_fatal"].tp == 1 and s["non_fatal"].fp == 1 and s["non_fatal"].tn == 2
    k = s["kpi"]
    assert k["fatal_error_accuracy"]["reference"] == pytest.approx(0.5)   # a, b of 4
    assert k["fatal_error_accuracy"]["pipeline"] == pytest.approx(0.75)   # a only
    assert k["fatal_error_accuracy"]["call_agreement"] == pytest.approx(0.75)
    assert k["non_fatal_error_accuracy"]["reference"] == pytest.approx(0.75)
    assert k["non_fatal_error_accuracy"]["pipeline"] == pytest.approx(0.5)
    json_ready = to_jsonable(s)
    assert json_ready["by_source"]["m.csv"]["diarization"]["der"] == pytest.approx(0.1)


def test_peak_sampler_sees_memory_growth(monkeypatch):
    """The sampler keeps the highest RSS it sampled, including a rise that is gone again by
    the end of the block (issue 25: the test allocated a 64 MB buffer and expected the real
    RSS to rise by 50 MB, which allocator reuse broke). RSS is scripted here, and each step
    waits until the sampler has read it: no timing and no allocator behaviour is assumed.
    """
    import threading

    from qa_pipeline.bench import harness

    rss = {"now": 100 * 2**20}
    reads = threading.Condition()
    count = [0]

    def scripted_rss() -> int:
        with reads:
            count[0] += 1
            reads.notify_all()
            return rss["now"]

    def set_rss_and_wait_for_a_read(mb: int) -> None:
        with reads:
            rss["now"] = mb * 2**20
            seen = count[0]
            assert reads.wait_for(lambda: count[0] > seen, timeout=120)

    monkeypatch.setattr(harness, "_rss_bytes", scripted_rss)
    with sample_peaks(interval_s=0.001) as peak:
        assert peak.rss_mb >= 100  # the RSS at the start
        set_rss_and_wait_for_a_read(300)
        # The sampler reads again only after it has recorded its previous read.
        set_rss_and_wait_for_a_read(150)
        assert peak.rss_mb == 300
        set_rss_and_wait_for_a_read(120)
    assert peak.rss_mb == 300
