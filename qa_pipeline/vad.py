"""Voice activity detection with the Silero VAD model bundled in faster-whisper (ONNX)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa_pipeline.errors import BackendUnavailableError

SAMPLE_RATE_HZ = 16_000


@dataclass(frozen=True, slots=True)
class VadOptions:
    """Silero VAD parameters (see faster_whisper.vad.VadOptions)."""

    # 0.5 (Silero's default) misses band-limited telephone speech; 0.35 keeps it while still
    # rejecting line noise.
    threshold: float = 0.35
    min_speech_duration_ms: int = 200
    min_silence_duration_ms: int = 300
    speech_pad_ms: int = 100


def speech_regions(samples_16k: np.ndarray, options: VadOptions | None = None
                   ) -> list[tuple[float, float]]:
    """Return ``(start_s, end_s)`` speech regions of a 16 kHz mono signal."""
    opts = options or VadOptions()
    try:
        from faster_whisper.vad import VadOptions as FwVadOptions
        from faster_whisper.vad import get_speech_timestamps
    except ImportError as e:  # pragma: no cover - faster-whisper is a core dependency
        raise BackendUnavailableError("Silero VAD needs faster-whisper installed") from e
    fw_opts = FwVadOptions(
        threshold=opts.threshold,
        min_speech_duration_ms=opts.min_speech_duration_ms,
        min_silence_duration_ms=opts.min_silence_duration_ms,
        speech_pad_ms=opts.speech_pad_ms,
    )
    stamps = get_speech_timestamps(np.asarray(samples_16k, dtype=np.float32), fw_opts)
    return [(s["start"] / SAMPLE_RATE_HZ, s["end"] / SAMPLE_RATE_HZ) for s in stamps]
