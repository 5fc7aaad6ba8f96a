"""Acoustic features per utterance (librosa): pitch, energy, speaking rate -> arousal.

Pitch is YIN on the utterance's own channel (stereo) or the mix (mono) at 8 kHz, which keeps
the telephone band and halves the cost, and only on the frames of the channel's utterances (YIN
is frame by frame, so a frame's pitch does not depend on the frames around it: the result is
that of the whole channel, for the speech alone); frames count as voiced when their energy is
well above the channel's noise floor and the pitch is inside the search range. Arousal compares each
utterance with the same speaker's median in this call (robust z-scores), so a naturally loud or
high-pitched voice does not read as agitated.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from qa_pipeline.conversation.metrics import speech_units
from qa_pipeline.errors import StageError
from qa_pipeline.types import Conversation, LoadedAudio, Utterance

_ANALYSIS_RATE_HZ = 8000


@dataclass(frozen=True, slots=True)
class AcousticOptions:
    """Options of the acoustic stage (units in names)."""

    fmin_hz: float = 65.0
    fmax_hz: float = 400.0
    hop_s: float = 0.010
    frame_s: float = 0.064
    # Voiced frames are at least this far above the channel's 10th-percentile energy.
    voicing_margin_db: float = 12.0
    # Weights of the robust z-scores that make up arousal.
    weight_pitch: float = 0.35
    weight_energy: float = 0.35
    weight_rate: float = 0.15
    weight_pitch_range: float = 0.15
    # With fewer utterances by a speaker there is no baseline, and arousal is 0.
    min_utterances_for_baseline: int = 3


@dataclass(frozen=True, slots=True)
class UtteranceAcoustics:
    """Features of one utterance; pitch fields are None when no frame was voiced."""

    utterance_index: int
    pitch_median_hz: float | None
    pitch_range_semitones: float | None
    energy_db: float
    speech_rate_units_per_s: float
    voiced_fraction: float
    arousal: float  # [-1, 1]: calmer .. more agitated than this speaker's norm in the call

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {"utterance_index": self.utterance_index, "pitch_median_hz": r(self.pitch_median_hz),
                "pitch_range_semitones": r(self.pitch_range_semitones),
                "energy_db": r(self.energy_db),
                "speech_rate_units_per_s": r(self.speech_rate_units_per_s),
                "voiced_fraction": r(self.voiced_fraction), "arousal": r(self.arousal)}


@dataclass(frozen=True, slots=True)
class AcousticTrack:
    """Acoustic features of every utterance of a call."""

    call_id: str
    items: tuple[UtteranceAcoustics, ...]

    def by_index(self) -> dict[int, UtteranceAcoustics]:
        """Items keyed by utterance index."""
        return {i.utterance_index: i for i in self.items}

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"items": [i.to_dict() for i in self.items]}

    @classmethod
    def from_dict(cls, call_id: str, data: dict[str, Any]) -> AcousticTrack:
        """Inverse of :meth:`to_dict` (features stored beside a conversation)."""
        return cls(call_id, tuple(UtteranceAcoustics(**item) for item in data["items"]))


@dataclass(frozen=True, slots=True)
class _Frames:
    f0_hz: np.ndarray
    energy_db: np.ndarray
    voiced: np.ndarray


def extract_acoustics(audio: LoadedAudio, conversation: Conversation,
                      options: AcousticOptions | None = None) -> AcousticTrack:
    """Per-utterance pitch, energy, speaking rate and arousal.

    Raises:
        StageError: librosa is missing or the analysis fails.
    """
    opts = options or AcousticOptions()
    try:
        import librosa
        import soxr
    except ImportError as e:
        raise StageError("acoustics", conversation.call_id, "librosa is not installed") from e
    frames: dict[int, _Frames] = {}
    channels = audio.num_channels if conversation.channels == 2 else 1
    for ch in range(channels):
        signal = audio.samples[ch] if channels == 2 else audio.mono()
        y = soxr.resample(np.asarray(signal, dtype=np.float32), audio.sample_rate_hz,
                          _ANALYSIS_RATE_HZ)
        spans = [_frame_span(u, opts) for u in conversation.utterances
                 if channels == 1 or _channel_of(u) == ch]
        frames[ch] = _frame_features(librosa, y, opts, spans)
    raw = []
    for utt in conversation.utterances:
        ch = _channel_of(utt) if channels == 2 else 0
        raw.append(_utterance_features(utt, frames[ch], opts))
    return AcousticTrack(conversation.call_id,
                         _with_arousal(conversation.utterances, raw, opts))


def prepare_acoustics() -> None:
    """Import the pitch and energy code now rather than on the first call: librosa resolves
    ``yin`` and ``rms`` lazily, and the first access imports its signal-processing stack
    (numba), which costs seconds. Without librosa this does nothing (the stage reports the
    missing library per call).
    """
    try:
        import librosa
    except ImportError:
        return
    librosa.yin  # noqa: B018 - resolving the attribute performs the import
    librosa.feature.rms  # noqa: B018


def _frame_span(utt: Utterance, opts: AcousticOptions) -> tuple[int, int]:
    """The frames ``[a, b)`` an utterance's features are read from."""
    a = int(utt.start_s / opts.hop_s)
    return a, max(a + 1, int(np.ceil(utt.end_s / opts.hop_s)))


def _merged(spans: list[tuple[int, int]], n_frames: int, gap: int) -> list[tuple[int, int]]:
    """Spans clipped to ``[0, n_frames)``, sorted, and joined where less than ``gap`` frames
    apart (one longer YIN call costs less than two short ones).
    """
    out: list[tuple[int, int]] = []
    for a, b in sorted((max(a, 0), min(b, n_frames)) for a, b in spans):
        if a >= b:
            continue
        if out and a - out[-1][1] < gap:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


# Utterances closer than this (in frames) share one YIN call.
_JOIN_GAP_FRAMES = 100


def _frame_features(librosa: Any, y: np.ndarray, opts: AcousticOptions,
                    spans: list[tuple[int, int]] | None = None) -> _Frames:
    """Pitch, energy and voicing per frame (hop ``opts.hop_s``, frames centred as librosa
    centres them). Pitch is computed on the frames of ``spans`` only (all frames when None)
    and is NaN elsewhere, which never counts as voiced.
    """
    hop = int(round(opts.hop_s * _ANALYSIS_RATE_HZ))
    frame = int(2 ** np.ceil(np.log2(opts.frame_s * _ANALYSIS_RATE_HZ)))
    if len(y) < frame:
        y = np.pad(y, (0, frame - len(y)))
    rms = librosa.feature.rms(y=y, frame_length=frame, hop_length=hop)[0]
    energy_db = 20.0 * np.log10(np.maximum(rms, 1e-5))
    # librosa.yin(center=True) pads frame // 2 zeros on each side and frames the result;
    # framing the same padded signal span by span gives the same frames.
    padded = np.pad(y, (frame // 2, frame // 2))
    n_frames = 1 + (len(padded) - frame) // hop
    f0 = np.full(n_frames, np.nan)
    for a, b in _merged(spans if spans is not None else [(0, n_frames)], n_frames,
                        _JOIN_GAP_FRAMES):
        f0[a:b] = librosa.yin(padded[a * hop:(b - 1) * hop + frame], fmin=opts.fmin_hz,
                              fmax=opts.fmax_hz, sr=_ANALYSIS_RATE_HZ, frame_length=frame,
                              hop_length=hop, center=False)
    n = min(len(f0), len(energy_db))
    f0, energy_db = f0[:n], energy_db[:n]
    floor_db = float(np.percentile(energy_db, 10))
    with np.errstate(invalid="ignore"):  # NaN (no pitch computed) is not in range
        in_range = (f0 > opts.fmin_hz * 1.05) & (f0 < opts.fmax_hz * 0.95)
    voiced = in_range & (energy_db > floor_db + opts.voicing_margin_db)
    return _Frames(f0, energy_db, voiced)


def _channel_of(utt: Utterance) -> int:
    if utt.channel is not None:
        return utt.channel
    return 1 if utt.speaker.endswith("1") else 0


def _utterance_features(utt: Utterance, f: _Frames, opts: AcousticOptions
                        ) -> tuple[float | None, float | None, float, float, float]:
    a, b = _frame_span(utt, opts)
    voiced = f.voiced[a:b]
    energy = f.energy_db[a:b]
    pitch = f.f0_hz[a:b][voiced]
    duration = max(utt.end_s - utt.start_s, 1e-3)
    rate = speech_units(utt.text) / duration
    if energy.size == 0:
        return None, None, -100.0, rate, 0.0
    if pitch.size >= 3:
        median = float(np.median(pitch))
        lo, hi = np.percentile(pitch, [10, 90])
        spread = float(12.0 * np.log2(hi / lo))
        loud = float(np.mean(energy[voiced]))
    else:
        median, spread = None, None
        loud = float(np.percentile(energy, 75))
    return median, spread, loud, rate, float(voiced.mean())


def _robust_z(values: list[float | None]) -> list[float]:
    known = np.array([v for v in values if v is not None], dtype=np.float64)
    if known.size < 3:
        return [0.0] * len(values)
    median = float(np.median(known))
    mad = float(np.median(np.abs(known - median))) * 1.4826
    scale = mad if mad > 1e-6 else float(np.std(known)) or 1.0
    return [0.0 if v is None else float(np.clip((v - median) / scale, -4, 4)) for v in values]


def _with_arousal(utterances: tuple[Utterance, ...],
                  raw: list[tuple[float | None, float | None, float, float, float]],
                  opts: AcousticOptions) -> tuple[UtteranceAcoustics, ...]:
    by_speaker: dict[str, list[int]] = defaultdict(list)
    for k, utt in enumerate(utterances):
        by_speaker[utt.speaker].append(k)
    arousal = [0.0] * len(utterances)
    for idx in by_speaker.values():
        if len(idx) < opts.min_utterances_for_baseline:
            continue
        pitch_st = [None if (p := raw[k][0]) is None else 12 * float(np.log2(p / 100.0))
                    for k in idx]
        z_pitch = _robust_z(pitch_st)
        z_range = _robust_z([raw[k][1] for k in idx])
        z_energy = _robust_z([raw[k][2] for k in idx])
        z_rate = _robust_z([raw[k][3] for k in idx])
        for j, k in enumerate(idx):
            combined = (opts.weight_pitch * z_pitch[j] + opts.weight_energy * z_energy[j]
                        + opts.weight_rate * z_rate[j] + opts.weight_pitch_range * z_range[j])
            arousal[k] = float(np.tanh(combined / 1.5))
    return tuple(
        UtteranceAcoustics(utt.index, raw[k][0], raw[k][1], raw[k][2], raw[k][3], raw[k][4],
                           arousal[k])
        for k, utt in enumerate(utterances)
    )
