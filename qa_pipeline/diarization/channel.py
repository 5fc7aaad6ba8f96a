"""Channel diarization: a stereo recorder keeps agent and customer on separate channels."""

from __future__ import annotations

import numpy as np

from qa_pipeline.diarization.base import DiarizationOptions
from qa_pipeline.errors import ChannelLayoutError
from qa_pipeline.hooks import StageHook
from qa_pipeline.types import Diarization, LoadedAudio, SpeakerTurn
from qa_pipeline.vad import speech_regions

# Level difference beyond which one channel is treated as empty (the "stereo" file then
# carries a single mix, like dual-mono).
_EMPTY_CHANNEL_DB = 40.0


def channel_speaker(channel: int) -> str:
    """Speaker label of a channel."""
    return f"ch{channel}"


def is_dual_mono(samples: np.ndarray, threshold: float = 0.97) -> bool:
    """True when both channels carry the same mix (or one is empty).

    Recorders that duplicate a mono mix into two channels would otherwise produce every word
    twice, once per "speaker".
    """
    if samples.shape[0] != 2:
        return False
    left = samples[0].astype(np.float64)
    right = samples[1].astype(np.float64)
    e_left = float(np.mean(left**2))
    e_right = float(np.mean(right**2))
    if min(e_left, e_right) <= 0.0:
        return True
    if abs(10 * np.log10(e_left / e_right)) > _EMPTY_CHANNEL_DB:
        return True
    left -= left.mean()
    right -= right.mean()
    denom = float(np.sqrt(np.sum(left**2) * np.sum(right**2)))
    corr = float(np.sum(left * right) / denom) if denom > 0 else 1.0
    return corr >= threshold


class ChannelDiarizer:
    """One speaker per channel; turns come from Silero VAD on each channel."""

    name = "channel"
    model_id = "silero-vad-v6 (faster-whisper bundle)"

    def check_layout(self, audio: LoadedAudio, options: DiarizationOptions) -> None:
        """Refuse audio that is not a true two-party stereo recording.

        Raises:
            ChannelLayoutError: mono, or dual-mono; callers fall back to a mono diarizer.
        """
        if audio.num_channels != 2:
            raise ChannelLayoutError(
                f"channel diarization needs stereo audio, got {audio.num_channels} channel(s)",
                path=audio.path,
            )
        if is_dual_mono(audio.samples, options.dual_mono_correlation):
            raise ChannelLayoutError(
                "both channels carry the same mix (dual-mono); use a mono diarizer",
                path=audio.path,
            )

    def diarize(
        self, audio: LoadedAudio, options: DiarizationOptions, hook: StageHook | None = None
    ) -> Diarization:
        """Speaker turns per channel.

        Raises:
            ChannelLayoutError: the audio is not a true two-party stereo recording (mono, or
                dual-mono); callers fall back to a mono diarizer.
        """
        self.check_layout(audio, options)
        return self.turns(audio, hook)

    def turns(self, audio: LoadedAudio, hook: StageHook | None = None) -> Diarization:
        """Speaker turns per channel of audio whose layout :meth:`check_layout` accepted."""
        turns: list[SpeakerTurn] = []
        for ch in range(2):
            for start, end in speech_regions(audio.samples[ch]):
                end = min(end, audio.duration_s)
                turns.append(SpeakerTurn(start, end, channel_speaker(ch), ch))
            if hook:
                hook("diarization", completed=ch + 1, total=2)
        turns.sort(key=lambda t: (t.start_s, t.end_s))
        return Diarization(audio.call_id, tuple(turns), self.name, self.model_id, audio.duration_s)
