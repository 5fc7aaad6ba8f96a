"""Validation of decoded audio: each failure raises its own typed error."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from qa_pipeline.errors import (
    AudioDecodeError,
    AudioTooLongError,
    AudioTooShortError,
    ChannelLayoutError,
    EmptyAudioError,
    SilentAudioError,
    UnsupportedSampleRateError,
)
from qa_pipeline.types import DAMAGED_AUDIO_NOTE

if TYPE_CHECKING:
    from qa_pipeline.audio.io import AudioOptions


def check_file_size(size: int, max_bytes: int, path: str) -> None:
    """Reject files larger than the upload limit before decoding them."""
    if size > max_bytes:
        raise AudioTooLongError(
            f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit", path=path
        )


def check_sample_rate(rate: int, opts: AudioOptions, path: str) -> None:
    """Only telephone to studio rates are accepted."""
    if rate <= 0:
        raise AudioDecodeError("header has no sample rate", path=path)
    if not opts.min_sample_rate_hz <= rate <= opts.max_sample_rate_hz:
        raise UnsupportedSampleRateError(
            f"sample rate {rate} Hz is outside the supported "
            f"{opts.min_sample_rate_hz}-{opts.max_sample_rate_hz} Hz range",
            path=path,
        )


def check_duration(duration_s: float, opts: AudioOptions, path: str) -> None:
    """Enforce the configured minimum and maximum duration."""
    if duration_s > opts.max_duration_s:
        raise AudioTooLongError(
            f"recording is {duration_s:.1f} s, over the {opts.max_duration_s:.0f} s maximum "
            "(AudioOptions.max_duration_s)",
            path=path,
        )
    if duration_s < opts.min_duration_s:
        raise AudioTooShortError(
            f"recording is {duration_s:.2f} s, shorter than the "
            f"{opts.min_duration_s:.1f} s minimum",
            path=path,
        )


def check_channels(channels: int, opts: AudioOptions, path: str,
                   expected: int | None = None) -> None:
    """The channel count must match the tenant's channel map when it names one."""
    if channels <= 0:
        raise AudioDecodeError("header has no channels", path=path)
    if channels > opts.max_channels:
        raise ChannelLayoutError(
            f"{channels} channels; only mono or stereo call recordings are supported", path=path
        )
    if expected is not None and channels != expected:
        layout = {1: "mono", 2: "stereo"}.get(expected, f"{expected}-channel")
        raise ChannelLayoutError(
            f"file has {channels} channel(s) but the tenant's channel map expects {layout}",
            path=path,
        )


def check_header(rate: int, channels: int, duration_s: float, opts: AudioOptions,
                 path: str) -> None:
    """Cheap checks from container metadata, before decoding (a 10-hour file is refused fast)."""
    check_sample_rate(rate, opts, path)
    check_channels(channels, opts, path)
    if duration_s > opts.max_duration_s:
        check_duration(duration_s, opts, path)


def damage_note(detail: str) -> str:
    """A provenance note recording damage found while decoding (the rubric engine sends a
    call with such a note to review).
    """
    return f"{DAMAGED_AUDIO_NOTE}{detail}"


class SignalStats:
    """Running statistics of decoded ``(frames, channels)`` blocks at the source rate (the
    source signal is never held whole, so its checks accumulate block by block).
    """

    __slots__ = ("channels", "finite", "frames", "peak")

    def __init__(self) -> None:
        self.frames = 0
        self.channels = 0
        self.peak = 0.0
        self.finite = True

    def add(self, block: np.ndarray) -> None:
        """Account for one block."""
        if block.size == 0:
            return
        self.frames += int(block.shape[0])
        self.channels = int(block.shape[1])
        if not np.isfinite(block).all():
            self.finite = False
        elif self.finite:
            self.peak = max(self.peak, float(np.max(np.abs(block))))


def check_decoded(stats: SignalStats, rate: int, opts: AudioOptions, path: str,
                  expected_channels: int | None) -> None:
    """Full checks on the decoded signal."""
    check_sample_rate(rate, opts, path)
    if stats.frames == 0:
        raise EmptyAudioError("file holds no audio frames", path=path)
    check_channels(stats.channels, opts, path, expected_channels)
    if not stats.finite:
        raise AudioDecodeError("decoded samples contain NaN or infinity", path=path)
    check_duration(stats.frames / rate, opts, path)
    peak_dbfs = 20 * np.log10(stats.peak) if stats.peak > 0 else -np.inf
    if peak_dbfs < opts.silence_peak_dbfs:
        raise SilentAudioError(
            f"recording is digital silence (peak {peak_dbfs:.0f} dBFS, threshold "
            f"{opts.silence_peak_dbfs:.0f} dBFS)",
            path=path,
        )
