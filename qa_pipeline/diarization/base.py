"""The diarizer Protocol and its options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from qa_pipeline.hooks import StageHook
from qa_pipeline.types import Diarization, LoadedAudio


@dataclass(frozen=True, slots=True)
class DiarizationOptions:
    """Options shared by all diarization backends (each uses what applies to it)."""

    num_speakers: int | None = 2
    min_speakers: int | None = None
    max_speakers: int | None = None
    # channel backend: correlation above which a stereo file counts as dual-mono.
    dual_mono_correlation: float = 0.97
    # offline backend: embedding windows.
    window_s: float = 1.6
    hop_s: float = 1.0
    min_turn_s: float = 0.25
    # Same-speaker turns separated by a pause this short are one turn (a breath, not a
    # hand-over); pyannote calls this min_duration_off.
    fill_gap_s: float = 0.5
    # pyannote backend: local directory or hub id, and device ("auto", "cpu", "cuda").
    pyannote_model: str = "pyannote/speaker-diarization-community-1"
    hf_token: str | None = None
    device: str = "auto"


@runtime_checkable
class Diarizer(Protocol):
    """Turns audio into speaker turns."""

    name: str

    def diarize(
        self, audio: LoadedAudio, options: DiarizationOptions, hook: StageHook | None = None
    ) -> Diarization:
        """Return non-overlapping speaker turns for ``audio``."""
        ...
