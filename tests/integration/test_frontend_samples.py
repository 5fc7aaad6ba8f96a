"""The speech front end on the synthesized sample calls, with the real embedded models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from qa_pipeline.conversation.export import (
    read_conversation,
    to_rttm,
    to_srt,
    to_vtt,
    write_conversation,
)
from qa_pipeline.types import Role
from tests.helpers import assert_valid_conversation
from tests.integration.conftest import DATA

pytestmark = pytest.mark.integration


def _reference_turns(name):
    turns = []
    for line in (DATA / "reference" / f"{name}.rttm").read_text().splitlines():
        p = line.split()
        turns.append((float(p[3]), float(p[3]) + float(p[4]), p[7]))
    return turns


def _role_accuracy(conv, name):
    """Role accuracy by speech time: over 50 ms frames where both the reference and the
    hypothesis have speech, the share where every role the hypothesis has speaking is
    speaking in the reference. Frames the hypothesis misses are missed speech (a diarization
    error), not role errors."""
    step = 0.05
    ref = _reference_turns(name)
    total = correct = 0
    for start, end, _ in ref:
        for t in np.arange(start, end, step):
            truth = {r for s, e, r in ref if s <= t < e}
            hyp = {u.role.value for u in conv.utterances if u.start_s <= t < u.end_s}
            if not hyp:
                continue
            total += 1
            correct += hyp <= truth
    return correct / total


def test_contract_on_every_sample(sample_conversations):
    for name, conv in sample_conversations.items():
        assert_valid_conversation(conv)
        assert conv.language == name[:2], name
        assert conv.provenance.asr_model_id.startswith("base@pypi")


def test_stereo_uses_channel_map(sample_conversations):
    conv = sample_conversations["zh_express_stereo_8k"]  # agent on the RIGHT channel
    assert conv.provenance.diarization_backend == "channel"
    assert {u.channel for u in conv.by_role(Role.AGENT)} == {1}
    assert all(u.role_confidence == 1.0 for u in conv.utterances)


def test_mono_uses_offline_diarizer(sample_conversations):
    conv = sample_conversations["zh_bad_mono_16k"]
    assert conv.provenance.diarization_backend == "offline"


@pytest.mark.parametrize("name,minimum", [
    ("zh_good_stereo_8k", 0.99), ("en_bad_stereo_8k", 0.99), ("zh_express_stereo_8k", 0.99),
    ("zh_bad_mono_16k", 0.85), ("en_good_mono_8k", 0.85),
])
def test_role_accuracy_by_speech_time(sample_conversations, name, minimum):
    assert _role_accuracy(sample_conversations[name], name) >= minimum


def test_simplified_chinese_output(sample_conversations):
    text = "".join(u.text for u in sample_conversations["zh_good_stereo_8k"].utterances)
    assert "谢谢" in text or "感谢" in text
    for traditional in "謝們這來電為務":
        assert traditional not in text


def test_key_phrases_survive_asr(sample_conversations):
    en = " ".join(u.text for u in sample_conversations["en_bad_stereo_8k"].utterances).lower()
    assert "guarantee" in en and "refund" in en
    zh = "".join(u.text for u in sample_conversations["zh_bad_mono_16k"].utterances)
    assert "不知道" in zh and "投诉" in zh


def test_exports_round_trip(sample_conversations, tmp_path):
    conv = sample_conversations["en_good_mono_8k"]
    path = write_conversation(conv, tmp_path / "c" / "conversation.json")
    again = read_conversation(path)
    # Times are stored to the millisecond; the serialised form is a fixed point.
    assert again.to_dict() == conv.to_dict()
    assert len(again.utterances) == len(conv.utterances)
    data = json.loads(path.read_text())
    assert data["schema_version"] == 1 and data["sha256"] == conv.sha256
    rttm = to_rttm(conv).splitlines()
    assert len(rttm) == len(conv.utterances) and rttm[0].startswith(f"SPEAKER {conv.call_id} 1 ")
    assert to_srt(conv).startswith("1\n00:00:")
    assert to_vtt(conv).startswith("WEBVTT") and "<v agent>" in to_vtt(conv)


def test_dual_mono_falls_back_without_duplicated_text(frontends, tmp_path):
    data, sr = sf.read(DATA / "calls" / "zh_bad_mono_16k.wav", dtype="float32")
    path = tmp_path / "dual_mono.wav"
    sf.write(path, np.stack([data, data], axis=1), sr)
    fe = frontends("default")
    conv = fe.transcribe(fe.load(path)).conversation
    assert conv.provenance.diarization_backend == "offline"
    assert any("dual-mono" in n for n in conv.provenance.notes)
    text = "".join(u.text for u in conv.utterances)
    assert text.count("不归我管") == 1


def test_silence_only_stretch_produces_no_text(frontends, tmp_path):
    """Guard against hallucinated text: 20 s of line noise after a real call part."""
    data, sr = sf.read(DATA / "calls" / "en_good_mono_8k.wav", dtype="float32")
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 10 ** (-60 / 20), 20 * sr).astype(np.float32)
    path = tmp_path / "tail_noise.wav"
    sf.write(path, np.concatenate([data[: 6 * sr], noise]), sr)
    fe = frontends("default")
    conv = fe.transcribe(fe.load(path)).conversation
    assert conv.utterances
    assert max(u.end_s for u in conv.utterances) < 8.0
