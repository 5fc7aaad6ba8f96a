"""The transcriber Protocol and its options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from qa_pipeline.hooks import StageHook
from qa_pipeline.types import Transcript


@dataclass(frozen=True, slots=True)
class AsrOptions:
    """Options for speech recognition (one object for the stage)."""

    # Registered name (base, large-v3, large-v3-turbo, ...) or a local CTranslate2 directory.
    model: str = "base"
    device: str = "auto"  # auto | cpu | cuda
    compute_type: str = "auto"  # auto: int8 on CPU, float16 on GPU
    cpu_threads: int = 0
    beam_size: int = 1
    # Languages a call may be in; detection is restricted to these. ``language`` forces one.
    languages: tuple[str, ...] = ("zh", "en")
    language: str | None = None
    vad_filter: bool = True
    # Lower than the diarizer's 0.35 (qa_pipeline.vad): at 0.35 Whisper skipped short turns
    # at the edges of the speech chunks (a two-second insult, a closing line). Side by side
    # on the same code (benchmarks/README.md): labelled calls WER 17.9 -> 11.3 %, fatal recall
    # 0.940 -> 0.980; ../shared/eval WER 20.2 -> 19.9 %, CER and DER unchanged.
    vad_threshold: float = 0.2
    # Short VAD silences cut speech into many chunks, and mapping word times back through
    # the chunks skews them; faster-whisper's own defaults (2 s, 400 ms pad) keep them right.
    vad_min_silence_ms: int = 2000
    vad_speech_pad_ms: int = 400
    initial_prompt: str | None = None
    hotwords: tuple[str, ...] = ()
    # >1 uses faster-whisper's batched pipeline (worth it on GPU).
    batch_size: int = 1
    # Hallucination guards (see qa_pipeline.asr.guards).
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    min_segment_rms_dbfs: float = -55.0
    # Simplified Chinese output for zh (Whisper base often writes Traditional characters).
    simplify_chinese: bool = True


@runtime_checkable
class Transcriber(Protocol):
    """Turns 16 kHz mono audio into a word-timed :class:`Transcript`."""

    name: str

    @property
    def model_id(self) -> str:
        """Identifier recorded in provenance."""
        ...

    def transcribe(
        self,
        samples_16k: np.ndarray,
        call_id: str,
        *,
        channel: int | None = None,
        hook: StageHook | None = None,
    ) -> Transcript:
        """Transcribe one mono stream."""
        ...
