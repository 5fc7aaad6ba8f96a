from __future__ import annotations

import struct
import tracemalloc

import av
import numpy as np
import pytest
import soundfile as sf

from qa_pipeline.audio import AudioOptions, load_audio, sha256_file
from qa_pipeline.batch import failure_from
from qa_pipeline.errors import (
    AudioDecodeError,
    AudioTooLongError,
    AudioTooShortError,
    ChannelLayoutError,
    DamagedAudioError,
    EmptyAudioError,
    SilentAudioError,
    UnsupportedSampleRateError,
)
from tests.conftest import tone


def _speechlike(duration_s: float, sr: int) -> np.ndarray:
    return tone(duration_s, sr, 330.0, 0.3)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "ULAW", "ALAW"])
@pytest.mark.parametrize("sr", [8000, 16000, 44100, 48000])
def test_wav_subtypes_and_rates(write_wav, subtype, sr):
    path = write_wav(f"a_{subtype}_{sr}.wav", _speechlike(1.5, sr), sr, subtype)
    audio = load_audio(path)
    assert audio.num_channels == 1
    assert audio.sample_rate_hz == 16000
    assert audio.source_sample_rate_hz == sr
    assert abs(audio.duration_s - 1.5) < 0.01
    assert audio.sha256 == sha256_file(path)
    assert audio.call_id == audio.sha256[:16]
    assert 0.2 < float(np.max(np.abs(audio.samples))) < 0.4


@pytest.mark.parametrize("fmt,subtype,suffix", [
    ("FLAC", "PCM_16", ".flac"), ("OGG", "VORBIS", ".ogg"), ("OGG", "OPUS", ".opus"),
    ("MP3", "MPEG_LAYER_III", ".mp3"),
])
def test_compressed_formats(tmp_path, fmt, subtype, suffix):
    path = tmp_path / f"call{suffix}"
    sr = 48000 if subtype == "OPUS" else 16000
    stereo = np.stack([_speechlike(2.0, sr), 0.5 * _speechlike(2.0, sr)])
    sf.write(str(path), stereo.T, sr, format=fmt, subtype=subtype)
    audio = load_audio(path)
    assert audio.num_channels == 2
    assert abs(audio.duration_s - 2.0) < 0.1


def test_m4a_via_ffmpeg(tmp_path):
    path = tmp_path / "call.m4a"
    sr = 16000
    data = _speechlike(2.0, sr)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=sr, layout="mono")
        frame = av.AudioFrame.from_ndarray(data[None, :], format="fltp", layout="mono")
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    audio = load_audio(path)
    assert audio.num_channels == 1
    assert 1.8 < audio.duration_s < 2.2
    assert audio.source_format.startswith("mov")


def test_corrupt_file(tmp_path):
    path = tmp_path / "bad.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage that is not audio" * 3)
    with pytest.raises(AudioDecodeError) as err:
        load_audio(path)
    assert err.value.reason == "corrupt"
    assert "bad.wav" in str(err.value)


def test_text_file_is_corrupt(tmp_path):
    path = tmp_path / "notes.mp3"
    path.write_text("this is not audio")
    with pytest.raises(AudioDecodeError):
        load_audio(path)


def test_missing_file(tmp_path):
    with pytest.raises(AudioDecodeError, match="cannot read"):
        load_audio(tmp_path / "nope.wav")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(EmptyAudioError):
        load_audio(path)


def test_header_only_wav_is_empty(write_wav):
    path = write_wav("header_only.wav", np.zeros(0, dtype=np.float32))
    with pytest.raises(EmptyAudioError):
        load_audio(path)


def test_too_short(write_wav):
    path = write_wav("short.wav", _speechlike(0.5, 16000))
    with pytest.raises(AudioTooShortError, match="shorter than"):
        load_audio(path)


def test_too_long_refused_from_header(write_wav):
    path = write_wav("long.wav", _speechlike(3.0, 8000), 8000)
    with pytest.raises(AudioTooLongError, match="maximum"):
        load_audio(path, AudioOptions(max_duration_s=2.0))


def test_too_big_file(write_wav):
    path = write_wav("big.wav", _speechlike(2.0, 16000))
    with pytest.raises(AudioTooLongError, match="MB"):
        load_audio(path, AudioOptions(max_file_bytes=1000))


def test_digital_silence(write_wav):
    path = write_wav("silence.wav", np.zeros(16000 * 2, dtype=np.float32))
    with pytest.raises(SilentAudioError, match="digital silence"):
        load_audio(path)


@pytest.mark.parametrize("sr", [4000, 96000])
def test_unsupported_sample_rate(write_wav, sr):
    path = write_wav(f"rate_{sr}.wav", _speechlike(1.5, sr), sr)
    with pytest.raises(UnsupportedSampleRateError, match=str(sr)):
        load_audio(path)


def test_channel_map_contradiction(write_wav):
    path = write_wav("mono.wav", _speechlike(1.5, 8000), 8000)
    with pytest.raises(ChannelLayoutError, match="expects stereo"):
        load_audio(path, expected_channels=2)


def test_too_many_channels(write_wav):
    data = np.stack([_speechlike(1.5, 8000)] * 3)
    path = write_wav("three.wav", data, 8000)
    with pytest.raises(ChannelLayoutError, match="3 channels"):
        load_audio(path)


def test_identity_is_content_hash(write_wav, tmp_path):
    a = write_wav("a.wav", _speechlike(1.5, 8000), 8000)
    b = tmp_path / "copy_of_a.wav"
    b.write_bytes(a.read_bytes())
    assert load_audio(a).call_id == load_audio(b).call_id


# --- issue 27, finding 4: damaged audio is recorded, decoding streams -----------------------
def _stereo_48k(tmp_path, seconds: float = 5.0, fmt: str = "WAV"):
    t = np.arange(int(48000 * seconds)) / 48000
    x = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 300 * t)], 1)
    path = tmp_path / f"call.{fmt.lower()}"
    sf.write(str(path), x.astype(np.float32), 48000, format=fmt,
             subtype="PCM_16" if fmt == "WAV" else None)
    return path


def _cut(path, keep: float):
    data = path.read_bytes()
    cut = path.with_name("cut_" + path.name)
    cut.write_bytes(data[:int(len(data) * keep)])
    return cut


def test_truncated_wav_is_loaded_with_a_damage_note(tmp_path):
    audio = load_audio(_cut(_stereo_48k(tmp_path), 0.6))
    assert audio.duration_s == pytest.approx(3.0, abs=0.01)
    assert len(audio.notes) == 1
    assert audio.notes[0].startswith("damaged audio: the WAV header declares 960000 bytes")
    assert "(2.0 s of audio) are missing" in audio.notes[0]


def test_wav_header_claiming_more_data_than_the_file_holds(tmp_path):
    path = _stereo_48k(tmp_path)
    data = bytearray(path.read_bytes())
    i = data.index(b"data")
    data[i + 4:i + 8] = struct.pack("<I", 960000 + 3 * 48000 * 4)
    path.write_bytes(bytes(data))
    audio = load_audio(path)
    assert audio.duration_s == pytest.approx(5.0, abs=0.01)
    assert audio.notes and "(3.0 s of audio) are missing" in audio.notes[0]


def test_whole_files_and_streaming_placeholders_carry_no_note(tmp_path):
    path = _stereo_48k(tmp_path)
    assert load_audio(path).notes == ()
    data = bytearray(path.read_bytes())
    i = data.index(b"data")
    data[i + 4:i + 8] = struct.pack("<I", 0xFFFFFFFF)  # "length unknown" of live writers
    path.write_bytes(bytes(data))
    assert load_audio(path).notes == ()


@pytest.mark.parametrize("fmt", ["FLAC", "MP3"])
def test_truncated_compressed_file_is_loaded_with_a_damage_note(tmp_path, fmt):
    audio = load_audio(_cut(_stereo_48k(tmp_path, fmt=fmt), 0.6))
    assert audio.duration_s < 4.0
    assert any("the header states 5.0 s but only" in n for n in audio.notes), audio.notes
    assert all(n.startswith("damaged audio: ") for n in audio.notes)


def test_damaged_audio_is_quarantined_when_the_tenant_says_so(tmp_path):
    cut = _cut(_stereo_48k(tmp_path), 0.6)
    with pytest.raises(DamagedAudioError, match="WAV header declares") as err:
        load_audio(cut, AudioOptions(damaged_audio="quarantine"))
    failure = failure_from(cut, err.value)  # what the batch runner records
    assert failure.reason == "damaged" and failure.error_type == "DamagedAudioError"


def test_streamed_resampling_equals_whole_file_resampling(tmp_path):
    import soxr

    path = _stereo_48k(tmp_path, seconds=7.3)
    source, _ = sf.read(str(path), dtype="float32", always_2d=True)
    whole = soxr.resample(source, 48000, 16000, quality="HQ").T
    audio = load_audio(path)
    assert audio.samples.shape == whole.shape and audio.samples.flags.c_contiguous
    np.testing.assert_array_equal(audio.samples, whole)


def test_decoding_never_holds_the_source_signal(tmp_path):
    # 60 s of 48 kHz stereo is 23 MB as float32 at the source rate and 7.7 MB at 16 kHz.
    # numpy reports its buffers to tracemalloc, so the traced peak covers every array the
    # decoder makes (soxr's internal state is C memory of a few hundred kB).
    path = _stereo_48k(tmp_path, seconds=60.0)
    output_bytes = 60 * 16000 * 2 * 4
    tracemalloc.start()
    try:
        audio = load_audio(path, sha256="0" * 64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert audio.samples.nbytes == output_bytes
    assert peak < output_bytes + 8 * 1024 * 1024, peak


def test_damage_notes_reach_the_provenance_and_the_scorecard(tmp_path):
    from qa_pipeline.diarization.base import DiarizationOptions
    from qa_pipeline.frontend import FrontEnd
    from qa_pipeline.rubric.context import EvaluationContext
    from qa_pipeline.rubric.engine import evaluate
    from qa_pipeline.rubric.loader import load_rubric_text
    from qa_pipeline.scorecard.card import build_scorecard
    from qa_pipeline.tenants import TenantConfig
    from qa_pipeline.types import Diarization, Segment, SpeakerTurn, Transcript, Word

    class Transcriber:
        name, model_id = "fake", "fake"

        def transcribe(self, samples, call_id, channel=None, hook=None):
            words = (Word(0.1, 0.5, "hello", 0.9),) if channel in (0, None) else ()
            seg = Segment(0.1, 0.5, "hello", words, -0.1, 0.0, 1.0) if words else None
            return Transcript(call_id, "en", 1.0, (seg,) if seg else (), "fake", "fake", channel)

    class Diarizer:
        def diarize(self, audio, options, hook=None):
            return Diarization(audio.call_id, (SpeakerTurn(0.0, 1.0, "spk_0"),), "fake", "fake",
                               audio.duration_s)

    tenant = TenantConfig(id="t", channel_layout="stereo")
    fe = FrontEnd(tenant, Transcriber(), Diarizer(), DiarizationOptions())
    audio = fe.load(_cut(_stereo_48k(tmp_path), 0.6))
    conv = fe.transcribe(audio).conversation
    assert conv.provenance.notes == audio.notes and audio.notes
    rubric = load_rubric_text(
        "id: r\nversion: 1\nsections:\n  - id: s\n    weight: 100\n    criteria:\n"
        "      - id: greet\n        points: 10\n"
        "        rule: {type: required_phrase, phrases: [hello]}\n")
    result = evaluate(rubric, EvaluationContext(conv))
    assert result.review_notes == audio.notes
    card = build_scorecard(rubric, result, call_id="c", tenant_id="t", provenance={})
    assert card.needs_review and card.grade == "A"  # graded, but a human looks first
    assert card.provenance["review_notes"] == list(audio.notes)
