"""Benchmark manifests: every supported format, reference files, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa_pipeline.bench.suite import load_suite, read_rttm, read_uem
from qa_pipeline.errors import ConfigError
from tests.conftest import DATA_SAMPLES, SHARED_EVAL

RTTM = """SPEAKER dev00 1 1.0 2.0 <NA> <NA> A <NA> <NA>
SPEAKER dev00 1 3.5 1.5 <NA> <NA> B <NA> <NA>
SPEAKER dev01 1 0.0 4.0 <NA> <NA> C <NA> <NA>
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_rttm_and_uem_filtered_by_uri(tmp_path):
    rttm = _write(tmp_path / "x.rttm", RTTM)
    assert read_rttm(rttm, "dev00") == ((1.0, 3.0, "A"), (3.5, 5.0, "B"))
    assert len(read_rttm(rttm)) == 3
    uem = _write(tmp_path / "x.uem", "dev00 NA 0.000 30.000\ndev01 NA 1.0 2.0\n")
    assert read_uem(uem, "dev01") == ((1.0, 2.0),)
    with pytest.raises(ConfigError, match="no SPEAKER lines for 'nope'"):
        read_rttm(rttm, "nope")
    bad = _write(tmp_path / "bad.rttm", "SPEAKER dev00 1 x 2.0 <NA> <NA> A\n")
    with pytest.raises(ConfigError, match=r"bad.rttm:1: malformed RTTM"):
        read_rttm(bad)


def test_call_manifest_uses_reference_folder_beside_it():
    suite = load_suite([DATA_SAMPLES / "manifest.csv"])
    assert len(suite.calls) == 5 and not suite.asr
    case = next(c for c in suite.calls if c.name == "zh_good_stereo_8k")
    assert case.meta.tenant_id == "default" and case.meta.agent_id == "agent-001"
    assert case.turns and {t[2] for t in case.turns} == {"agent", "customer"}
    assert case.transcript and case.transcript.startswith("您好")
    assert case.labels and case.labels["greeting"] == "pass"
    assert not case.force_mono


def test_call_manifest_explicit_reference_columns(tmp_path):
    _write(tmp_path / "refs" / "a.rttm", "SPEAKER a 1 0 1 <NA> <NA> agent <NA> <NA>\n")
    _write(tmp_path / "refs" / "a.txt", "hello there")
    _write(tmp_path / "refs" / "a.json", json.dumps({"expected": {"greeting": "fail"}}))
    m = _write(tmp_path / "m.csv", "path,tenant_id,rttm,transcript,labels,num_speakers\n"
               "a.wav,default,refs/a.rttm,refs/a.txt,refs/a.json,2\n")
    (case,) = load_suite([m]).calls
    assert case.turns == ((0.0, 1.0, "agent"),) and case.transcript == "hello there"
    assert case.labels == {"greeting": "fail"} and case.num_speakers == 2


def test_labels_with_unknown_outcome_are_refused(tmp_path):
    _write(tmp_path / "a.json", json.dumps({"expected": {"greeting": "ok"}}))
    m = _write(tmp_path / "m.csv", "path,tenant_id,labels\na.wav,default,a.json\n")
    with pytest.raises(ConfigError, match="unknown outcome"):
        load_suite([m])


def test_diarization_manifest_counts_speakers_from_rttm_and_resolves_from_parent(tmp_path):
    _write(tmp_path / "audio" / "dev00.wav", "")
    _write(tmp_path / "refs" / "debug.rttm", RTTM)
    _write(tmp_path / "refs" / "debug.uem", "dev00 NA 0.000 30.000\n")
    m = _write(tmp_path / "manifests" / "der.tsv",
               "audio\trttm\tuem\tnum_speakers\tnotes\n"
               "audio/dev00.wav\trefs/debug.rttm\trefs/debug.uem\t(see rttm)\tx\n")
    (case,) = load_suite([m], default_tenant="default").calls
    assert case.num_speakers == 2 and case.force_mono
    assert case.uem == ((0.0, 30.0),) and case.meta.call_id == "dev00"
    assert case.source == "der.tsv:audio"


def test_asr_manifest_channels_and_spans(tmp_path):
    _write(tmp_path / "a.wav", "")
    m = _write(tmp_path / "asr.tsv", "audio\tstart_s\tend_s\treference\tsource\tnotes\n"
               "a.wav#ch2\t1.5\t3.0\thi there\tset1\t\n"
               "a.wav\t\t\t你好\tset2\t\n")
    first, second = load_suite([m]).asr
    assert (first.channel, first.start_s, first.end_s, first.source) == (1, 1.5, 3.0, "set1")
    assert second.channel is None and second.start_s is None and second.reference == "你好"
    bad = _write(tmp_path / "bad.tsv", "audio\treference\na.wav#chX\thi\n")
    with pytest.raises(ConfigError, match=r"bad.tsv:2: channel"):
        load_suite([bad])


def test_sentiment_sets_in_both_formats(tmp_path):
    corpus = _write(tmp_path / "s.txt", "neg\tthis is awful\npos\tthank you so much\n")
    table = _write(tmp_path / "t.csv", "label,text\nneutral,ok\n")
    suite = load_suite([corpus, table])
    assert [c.label for c in suite.sentiment] == ["negative", "positive", "neutral"]
    bad = _write(tmp_path / "u.csv", "label,text\nangry,grr\n")
    with pytest.raises(ConfigError, match="u.csv:2"):
        load_suite([bad])


def test_unknown_format_and_missing_files_fail_clearly(tmp_path):
    m = _write(tmp_path / "x.csv", "foo,bar\n1,2\n")
    with pytest.raises(ConfigError, match="not a benchmark manifest"):
        load_suite([m])
    with pytest.raises(ConfigError, match="no such manifest"):
        load_suite([tmp_path / "missing.csv"])
    m = _write(tmp_path / "m.tsv", "audio\treference\nnowhere.wav\thi\n")
    with pytest.raises(ConfigError, match="'nowhere.wav' found neither"):
        load_suite([m])


def test_limited_keeps_the_first_cases_per_source():
    suite = load_suite([DATA_SAMPLES / "manifest.csv"]).limited(2)
    assert [c.name for c in suite.calls] == ["zh_good_stereo_8k", "zh_bad_mono_16k"]


@pytest.mark.skipif(not SHARED_EVAL.is_dir(), reason="../shared/eval not present")
def test_shared_eval_manifests_load():
    m = SHARED_EVAL / "manifests"
    suite = load_suite([m / "der.tsv", m / "asr_zh.tsv", m / "asr_en.tsv"])
    assert len(suite.calls) == 15 and len(suite.asr) == 56 + 176
    assert all(c.turns for c in suite.calls)
    assert sum(a.channel is not None for a in suite.asr) == 165
