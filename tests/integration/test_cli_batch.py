"""CLI batches: bad inputs are quarantined with a specific reason, the rest succeed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from qa_pipeline.cli import app
from tests.integration.conftest import DATA

pytestmark = pytest.mark.integration


def quarantined(tenant_out: Path) -> list[dict[str, str]]:
    """The quarantine records under one tenant's output folder."""
    return [json.loads(p.read_text()) for p in sorted((tenant_out / "_quarantine").glob("*"))]


@pytest.fixture
def batch_dir(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(DATA / "calls" / "en_good_mono_8k.wav", d / "good.wav")
    (d / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    (d / "empty.wav").write_bytes(b"")
    sf.write(d / "silence.wav", np.zeros(8000 * 3, dtype=np.float32), 8000)
    sf.write(d / "short.wav", 0.3 * np.sin(np.arange(4000) / 5).astype(np.float32), 8000)
    sf.write(d / "rate.wav", 0.3 * np.sin(np.arange(96000 * 2) / 5).astype(np.float32), 96000)
    return d


def test_transcribe_batch_isolates_failures(batch_dir, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["transcribe", str(batch_dir), "--tenant", "default",
                                      "--out", str(out), "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 1, result.output
    convs = list(out.glob("*/conversation.json"))
    assert len(convs) == 1
    assert (convs[0].parent / "conversation.rttm").exists()
    q = {Path(v["path"]).name: v for v in quarantined(out / "default")}
    assert {k: v["reason"] for k, v in q.items()} == {
        "corrupt.wav": "corrupt", "empty.wav": "empty", "silence.wav": "silent",
        "short.wav": "too_short", "rate.wav": "sample_rate",
    }
    # Re-running is idempotent: same outputs, same quarantine, nothing duplicated.
    again = CliRunner().invoke(app, ["transcribe", str(batch_dir), "--tenant", "default",
                                     "--out", str(out), "--cache-dir", str(tmp_path / "cache")])
    assert again.exit_code == 1
    assert len(list(out.glob("*/conversation.json"))) == 1
    assert len(list((out / "default" / "_quarantine").glob("*"))) == 5


def test_channel_map_contradiction_is_quarantined(tmp_path):
    out = tmp_path / "out"
    d = tmp_path / "in"
    d.mkdir()
    # swift_express records stereo; a mono file contradicts its channel map.
    shutil.copy(DATA / "calls" / "en_good_mono_8k.wav", d / "mono.wav")
    shutil.copy(DATA / "calls" / "zh_express_stereo_8k.wav", d / "stereo.wav")
    result = CliRunner().invoke(app, ["transcribe", str(d), "--tenant", "swift_express",
                                      "--out", str(out), "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 1
    [q] = quarantined(out / "swift_express")
    assert q["reason"] == "channel_layout" and "expects stereo" in q["message"]
    convs = [json.loads(p.read_text()) for p in out.glob("*/conversation.json")]
    assert len(convs) == 1 and convs[0]["channels"] == 2


def test_unknown_tenant_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["transcribe", str(DATA / "calls"), "--tenant", "nobody",
                                      "--out", str(tmp_path),
                                      "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 1
    assert "unknown tenant 'nobody'" in result.output


def test_rubric_validate_cli(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nversion: 1\nsections:\n  - id: s\n    weight: 1\n    criteria:\n"
                   "      - id: c\n        points: 1\n        rule: {type: nope}\n")
    result = CliRunner().invoke(app, ["rubric", "validate", str(bad)])
    assert result.exit_code == 1
    assert "bad.yaml:9" in result.output and "unknown rule type 'nope'" in result.output
    ok = CliRunner().invoke(app, ["rubric", "validate", str(DATA.parent / "rubrics" /
                                                             "customer_service_zh.yaml")])
    assert ok.exit_code == 0 and "customer_service_zh@7" in ok.output


def test_too_long_is_quarantined_by_tenant_limit(tmp_path, monkeypatch):
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "short_calls.yaml").write_text(
        "id: short_calls\nmax_duration_s: 10\nrubrics: {}\n", encoding="utf-8")
    monkeypatch.setenv("QA_PIPELINE_TENANTS_DIR", str(tenants))
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(DATA / "calls" / "en_good_mono_8k.wav", d / "long.wav")  # 29 s
    data, sr = sf.read(DATA / "calls" / "en_good_mono_8k.wav", dtype="float32")
    sf.write(d / "ok.wav", data[: 8 * sr], sr)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["transcribe", str(d), "--tenant", "short_calls",
                                      "--out", str(out), "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 1
    [q] = quarantined(out / "short_calls")
    assert q["reason"] == "too_long" and "maximum" in q["message"]
    assert len(list(out.glob("*/conversation.json"))) == 1
