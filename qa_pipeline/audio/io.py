"""Decode a recording from any supported container into a validated :class:`LoadedAudio`.

WAV (PCM 16/24/32, float, mu-law, A-law), FLAC and OGG go through libsndfile; MP3, M4A/AAC,
Opus and anything libsndfile rejects go through FFmpeg (PyAV). Both paths yield float32
``(channels, time)`` at the source rate, which is then resampled to the working rate.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa_pipeline.audio import checks
from qa_pipeline.errors import AudioDecodeError, EmptyAudioError
from qa_pipeline.types import LoadedAudio

logger = logging.getLogger(__name__)

WORKING_SAMPLE_RATE_HZ = 16_000


@dataclass(frozen=True, slots=True)
class AudioOptions:
    """Limits and target format for ingest."""

    target_sample_rate_hz: int = WORKING_SAMPLE_RATE_HZ
    min_duration_s: float = 1.0
    max_duration_s: float = 4 * 3600.0
    min_sample_rate_hz: int = 8_000
    max_sample_rate_hz: int = 48_000
    max_file_bytes: int = 2 * 1024**3
    # Peak level below which a recording counts as digital silence.
    silence_peak_dbfs: float = -70.0
    max_channels: int = 2


def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's content (the call's identity)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class AudioHeader:
    """What a recording's container says about it (nothing decoded)."""

    path: str
    size_bytes: int
    sample_rate_hz: int
    channels: int
    duration_s: float
    source_format: str


def probe_audio(
    path: str | os.PathLike[str],
    options: AudioOptions | None = None,
    *,
    expected_channels: int | None = None,
) -> AudioHeader:
    """Validate a recording from its size and container header only (milliseconds): batch
    runs quarantine empty, corrupt, too long / short, wrong-rate and wrong-layout files this
    way before any model is loaded. :func:`load_audio` still checks the decoded signal.

    Raises:
        AudioError: a subclass naming exactly what is wrong with the file.
    """
    opts = options or AudioOptions()
    p = Path(path)
    name = str(p)
    size = _checked_size(p, opts)
    rate, channels, duration_s, fmt = _header(p)
    checks.check_header(rate, channels, duration_s, opts, name)
    checks.check_channels(channels, opts, name, expected_channels)
    if duration_s > 0:  # some containers (raw MP3 streams) carry no duration
        checks.check_duration(duration_s, opts, name)
    return AudioHeader(name, size, rate, channels, duration_s, fmt)


def _header(path: Path) -> tuple[int, int, float, str]:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - libsndfile rejects the container: ask FFmpeg
        return _header_ffmpeg(path)
    if info.frames == 0:
        raise EmptyAudioError("the file holds no audio frames", path=str(path))
    return (int(info.samplerate), int(info.channels), info.frames / max(info.samplerate, 1),
            f"{info.format}/{info.subtype}".lower())


def _header_ffmpeg(path: Path) -> tuple[int, int, float, str]:
    with _open_ffmpeg(path) as container:
        rate, channels, duration_s = _stream_format(container.streams.audio[0], path)
        codec = getattr(container.streams.audio[0].codec_context, "name", "?")
        return rate, channels, duration_s, f"{container.format.name}/{codec}"


def _checked_size(path: Path, opts: AudioOptions) -> int:
    """The file's size, after refusing unreadable, empty and oversized files."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise AudioDecodeError(f"cannot read file: {e.strerror}", path=str(path)) from e
    if size == 0:
        raise EmptyAudioError("file is empty (0 bytes)", path=str(path))
    checks.check_file_size(size, opts.max_file_bytes, str(path))
    return size


def _open_ffmpeg(path: Path) -> Any:
    """An opened PyAV container that has an audio stream (callers close it)."""
    import av

    try:
        container = av.open(str(path))
    except Exception as e:
        raise AudioDecodeError(f"not a readable audio file ({type(e).__name__}: {e})",
                               path=str(path)) from e
    if not container.streams.audio:
        container.close()
        raise AudioDecodeError("file has no audio stream", path=str(path))
    return container


def _stream_format(stream: Any, path: Path) -> tuple[int, int, float]:
    """(sample rate, channels, header duration) of an FFmpeg audio stream. A broken header
    can make PyAV raise AttributeError / ValueError on these fields (found by fuzzing):
    that is a corrupt file, not a crash.
    """
    try:
        ctx = stream.codec_context
        rate = int(getattr(stream, "rate", None) or getattr(ctx, "sample_rate", None) or 0)
        channels = int(getattr(ctx, "channels", None) or 0)
        duration_s = (float(stream.duration * stream.time_base)
                      if stream.duration and stream.time_base else 0.0)
    except (AttributeError, ValueError, TypeError, OverflowError) as e:
        raise AudioDecodeError(f"unreadable stream header ({type(e).__name__}: {e})",
                               path=str(path)) from e
    return rate, channels, duration_s


def load_audio(
    path: str | os.PathLike[str],
    options: AudioOptions | None = None,
    *,
    expected_channels: int | None = None,
    call_id: str | None = None,
    sha256: str | None = None,
) -> LoadedAudio:
    """Decode, validate and resample one recording.

    Args:
        path: audio file.
        options: ingest limits; defaults to :class:`AudioOptions`.
        expected_channels: channel count the tenant's channel map requires (None: any).
        call_id: identity to record; defaults to the first 16 hex digits of the sha256.
        sha256: the file's hash when the caller already computed it (batch runs hash every
            file while planning); otherwise the file is hashed here.

    Raises:
        AudioError: a subclass naming exactly what is wrong with the file.
    """
    opts = options or AudioOptions()
    p = Path(path)
    name = str(p)
    _checked_size(p, opts)
    digest = sha256 or sha256_file(p)

    samples, rate, fmt = _decode(p, opts)
    checks.check_decoded(samples, rate, opts, name, expected_channels)
    if rate != opts.target_sample_rate_hz:
        samples = _resample(samples, rate, opts.target_sample_rate_hz)
    return LoadedAudio(
        call_id=call_id or digest[:16],
        path=name,
        samples=np.ascontiguousarray(samples, dtype=np.float32),
        sample_rate_hz=opts.target_sample_rate_hz,
        source_sample_rate_hz=rate,
        source_format=fmt,
        sha256=digest,
    )


def _decode(path: Path, opts: AudioOptions) -> tuple[np.ndarray, int, str]:
    """Decode with libsndfile, falling back to FFmpeg. Returns (channels x time, rate, format)."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as sf_error:  # libsndfile rejects the container: try FFmpeg
        logger.debug("libsndfile cannot open %s (%s); trying FFmpeg", path, sf_error)
        return _decode_ffmpeg(path, opts)
    checks.check_header(info.samplerate, info.channels, info.frames / max(info.samplerate, 1),
                        opts, str(path))
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioDecodeError(f"corrupt or truncated audio data ({e})", path=str(path)) from e
    fmt = f"{info.format}/{info.subtype}".lower()
    return data.T, int(rate), fmt


def _decode_ffmpeg(path: Path, opts: AudioOptions) -> tuple[np.ndarray, int, str]:
    import av

    with _open_ffmpeg(path) as container:
        stream = container.streams.audio[0]
        rate, channels, header_duration_s = _stream_format(stream, path)
        checks.check_header(rate, channels, header_duration_s, opts, str(path))
        chunks: list[np.ndarray] = []
        decoded_s = 0.0
        try:
            # Planar float keeps channels apart whatever the codec's native sample format.
            resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=rate)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray()
                    chunks.append(arr)
                    decoded_s += arr.shape[1] / rate
                if decoded_s > opts.max_duration_s:
                    checks.check_duration(decoded_s, opts, str(path))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except (av.error.FFmpegError, ValueError) as e:  # ValueError: bad layout (fuzzing)
            if not chunks:
                raise AudioDecodeError(f"corrupt audio data ({e})", path=str(path)) from e
            # A truncated tail is common in recorder exports; keep what decoded cleanly.
            logger.warning("%s: decoding stopped early (%s); using the decoded part", path, e)
        fmt = f"{container.format.name}/{stream.codec_context.name}"
    if not chunks:
        raise EmptyAudioError("no audio frames could be decoded", path=str(path))
    data = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    return data, rate, fmt


def _resample(samples: np.ndarray, source_hz: int, target_hz: int) -> np.ndarray:
    import soxr

    out = [soxr.resample(ch, source_hz, target_hz, quality="HQ") for ch in samples]
    return np.stack(out).astype(np.float32, copy=False)
