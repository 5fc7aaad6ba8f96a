from __future__ import annotations

import av
import numpy as np
import pytest
import soundfile as sf

from qa_pipeline.audio import AudioOptions, load_audio, sha256_file
from qa_pipeline.errors import (
    AudioDecodeError,
    AudioTooLongError,
    AudioTooShortError,
    ChannelLayoutError,
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
