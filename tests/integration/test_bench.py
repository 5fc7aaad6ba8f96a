"""`qa-pipeline bench` end to end with the embedded models on a sample call, a clip and a
sentiment set: every section measured, a broken file reported without stopping the run.
"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from qa_pipeline.cli import app
from tests.conftest import DATA_SAMPLES


def test_bench_cli_measures_accuracy_speed_and_naive_baseline(tmp_path):
    ref = DATA_SAMPLES / "reference"
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt junk that is not audio")
    calls = tmp_path / "calls.csv"
    calls.write_text(
        "path,tenant_id,agent_id,rttm,transcript,labels\n"
        f"{DATA_SAMPLES / 'calls' / 'zh_good_stereo_8k.wav'},default,agent-001,"
        f"{ref / 'zh_good_stereo_8k.rttm'},{ref / 'zh_good_stereo_8k.transcript.tsv'},"
        f"{ref / 'zh_good_stereo_8k.labels.json'}\n"
        f"{broken},default,agent-002,,,\n", encoding="utf-8")
    clips = tmp_path / "asr.tsv"
    clips.write_text(
        "audio\tstart_s\tend_s\treference\tsource\n"
        f"{DATA_SAMPLES / 'calls' / 'zh_good_stereo_8k.wav'}#ch1\t0.4\t6.8\t"
        "您好，很高兴为您服务，我是客服小王，请问有什么可以帮您？\tsample\n", encoding="utf-8")
    sentiment = tmp_path / "sentiment.csv"
    sentiment.write_text("label,text\nnegative,this is the worst service ever I am furious\n"
                         "positive,thank you so much that was really helpful\n"
                         "neutral,my order number is in the email\n", encoding="utf-8")
    out = tmp_path / "result.json"
    result = CliRunner().invoke(app, ["bench", str(calls), str(clips), str(sentiment),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    markdown = out.with_suffix(".md").read_text(encoding="utf-8")

    calls_part = data["calls"]
    summary = calls_part["summary"]
    assert (summary["calls"], summary["failed"]) == (2, 1)
    failed = next(r for r in calls_part["per_call"] if "error" in r)
    assert failed["call"] == "broken" and "AudioDecodeError" in failed["error"]
    source = summary["by_source"]["calls.csv"]
    assert source["diarization"]["der"] < 0.3
    assert source["roles"]["accuracy"] > 0.9
    assert source["asr"]["char"]["rate"] < 0.3
    for counts in (c["counts"] for c in summary["criteria"].values()):
        assert counts["tp"] + counts["fp"] + counts["fn"] + counts["tn"] == 1
    assert summary["kpi"]["fatal_error_accuracy"]["reference"] == 1.0
    assert summary["kpi"]["labelled_calls"] == 1

    speed = calls_part["speed"]
    assert speed["pipeline"]["calls"] == 1 and speed["naive"]["calls"] == 1
    assert speed["same_verdicts"] == {"calls": 1, "of": 1}
    assert speed["speedup_vs_naive"] > 0
    assert speed["pipeline"]["cpu_s"] > 0 and speed["pipeline"]["peak_rss_mb"] > 100
    assert speed["pipeline"]["stage_wall_s"]["asr"] > 0

    asr = data["asr"]["summary"]["all"]["char"]
    assert asr["items"] == 1 and asr["rate"] < 0.5
    assert data["sentiment"]["by_source"]["all"]["sentences"] == 3
    assert "Speed-up over the naive baseline" in markdown and "| calls.csv | 1 |" in markdown
