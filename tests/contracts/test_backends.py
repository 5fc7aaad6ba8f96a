"""Contract tests run against every registered diarization backend and the ASR backend
(STYLE principle 14): timestamps sane, within duration, exclusive where promised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa_pipeline.asr import get_transcriber
from qa_pipeline.audio import load_audio
from qa_pipeline.diarization import DiarizationOptions, available_diarizers, get_diarizer
from qa_pipeline.diarization.pyannote import PyannoteDiarizer, load_pyannote_pipeline
from qa_pipeline.errors import ChannelLayoutError, ModelUnavailableError
from qa_pipeline.types import Diarization

DATA = Path(__file__).resolve().parents[2] / "data_samples" / "calls"


class FakePyannotePipeline:
    """Stands in for pyannote's SpeakerDiarization: records its inputs, returns an
    Annotation-backed output with an exclusive view, as pyannote 4 does."""

    def __init__(self):
        self.calls = []

    def __call__(self, file, **kwargs):
        from pyannote.core import Annotation, Segment

        self.calls.append((file, kwargs))
        duration = file["waveform"].shape[1] / file["sample_rate"]
        overlapping, exclusive = Annotation(), Annotation()
        overlapping[Segment(0.5, 4.0)] = "SPEAKER_00"
        overlapping[Segment(3.5, 8.0)] = "SPEAKER_01"
        exclusive[Segment(0.5, 3.75)] = "SPEAKER_00"
        exclusive[Segment(3.75, min(8.0, duration))] = "SPEAKER_01"

        class Output:
            speaker_diarization = overlapping
            exclusive_speaker_diarization = exclusive
        return Output()


def _diarizer(name):
    if name == "pyannote":
        fake = FakePyannotePipeline()
        return PyannoteDiarizer(loader=lambda options: fake), fake
    return get_diarizer(name), None


def _audio_for(name):
    path = DATA / ("zh_good_stereo_8k.wav" if name == "channel" else "zh_bad_mono_16k.wav")
    return load_audio(path)


def assert_valid_diarization(d: Diarization, duration_s: float, exclusive: bool) -> None:
    assert d.turns, "no speech found"
    assert d.backend and d.model_id
    last = -1.0
    for t in d.turns:
        assert 0.0 <= t.start_s < t.end_s <= duration_s + 1e-6, t
        assert t.start_s >= last - 1e-9, "turns sorted by start"
        last = t.start_s
        assert isinstance(t.speaker, str) and t.speaker
    if exclusive:
        for a, b in zip(d.turns, d.turns[1:], strict=False):
            assert a.end_s <= b.start_s + 1e-6, (a, b)
    assert len(d.speakers) >= 2
    rttm = d.to_rttm().splitlines()
    assert len(rttm) == len(d.turns) and rttm[0].split()[0] == "SPEAKER"


@pytest.mark.parametrize("name", available_diarizers())
def test_diarizer_contract(name):
    diarizer, _ = _diarizer(name)
    audio = _audio_for(name)
    d = diarizer.diarize(audio, DiarizationOptions())
    # Channel turns may overlap across speakers (both parties talking); the others promise
    # exclusive turns so each word has one speaker.
    assert_valid_diarization(d, audio.duration_s, exclusive=name != "channel")


def test_channel_backend_refuses_mono_and_dual_mono():
    diarizer = get_diarizer("channel")
    mono = load_audio(DATA / "zh_bad_mono_16k.wav")
    with pytest.raises(ChannelLayoutError):
        diarizer.diarize(mono, DiarizationOptions())
    dual = type(mono)(mono.call_id, mono.path, np.stack([mono.samples[0]] * 2),
                      mono.sample_rate_hz, mono.source_sample_rate_hz, mono.source_format,
                      mono.sha256)
    with pytest.raises(ChannelLayoutError, match="dual-mono"):
        diarizer.diarize(dual, DiarizationOptions())


def test_pyannote_gets_speaker_bounds_and_in_memory_audio():
    diarizer, fake = _diarizer("pyannote")
    audio = _audio_for("pyannote")
    diarizer.diarize(audio, DiarizationOptions(num_speakers=None, min_speakers=2,
                                               max_speakers=3))
    file, kwargs = fake.calls[-1]
    assert kwargs == {"min_speakers": 2, "max_speakers": 3}
    assert file["sample_rate"] == 16000 and tuple(file["waveform"].shape) == (
        1, audio.samples.shape[1])
    d = diarizer.diarize(audio, DiarizationOptions(num_speakers=2))
    assert fake.calls[-1][1] == {"num_speakers": 2}
    # the exclusive view was used: no overlap although the regular output overlaps
    assert d.turns[0].end_s == pytest.approx(3.75)


def test_pyannote_hub_id_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError, match="local directory"):
        load_pyannote_pipeline(DiarizationOptions(pyannote_model="pyannote/some-pipeline"))


@pytest.mark.integration
def test_transcriber_contract():
    audio = load_audio(DATA / "en_good_mono_8k.wav")
    tr = get_transcriber("faster_whisper")
    t = tr.transcribe(audio.mono()[: 16000 * 12], audio.call_id)
    assert t.language == "en" and 0.5 < t.language_probability <= 1.0
    assert t.backend == "faster_whisper" and "base" in t.model_id
    prev = -1.0
    for s in t.segments:
        assert s.words and s.start_s <= s.end_s <= 12.0 + 1e-6
        for w in s.words:
            assert 0 <= w.start_s <= w.end_s <= 12.0 + 1e-6
            assert w.start_s >= prev - 1e-6
            prev = w.start_s
            assert 0.0 <= w.probability <= 1.0 and w.text.strip()
    assert "thank you for calling" in " ".join(w.text for w in t.words).lower()


@pytest.mark.integration
def test_batched_transcription_path():
    """faster-whisper's batched pipeline (used on GPU nodes with asr.batch_size > 1)."""
    from qa_pipeline.asr import AsrOptions

    audio = load_audio(DATA / "en_good_mono_8k.wav")
    tr = get_transcriber("faster_whisper", AsrOptions(batch_size=4))
    t = tr.transcribe(audio.mono(), audio.call_id)
    text = " ".join(w.text for w in t.words).lower()
    assert t.language == "en" and "thank you for calling" in text
    assert all(a.start_s <= b.start_s + 1e-6 for a, b in zip(t.words, t.words[1:], strict=False))
