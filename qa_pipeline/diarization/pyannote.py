"""pyannote.audio diarization (GPU when present), from a local directory or a hub id."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa_pipeline.diarization.base import DiarizationOptions
from qa_pipeline.errors import BackendUnavailableError, ModelUnavailableError, StageError
from qa_pipeline.hooks import StageHook
from qa_pipeline.types import Diarization, LoadedAudio, SpeakerTurn
from qa_pipeline.weights import hub_reachable

logger = logging.getLogger(__name__)

PipelineLoader = Callable[[DiarizationOptions], Any]


def load_pyannote_pipeline(options: DiarizationOptions) -> Any:
    """Load ``Pipeline.from_pretrained`` from a local directory or hub id, on GPU if present."""
    source = options.pyannote_model
    if not Path(source).expanduser().exists() and not hub_reachable():
        raise ModelUnavailableError(
            f"pyannote pipeline {source!r} is not a local directory and the Hugging Face hub is "
            "unreachable (offline). Download it where there is network "
            f"(`huggingface-cli download {source} --local-dir DIR`), copy DIR here and set "
            "diarization.pyannote_model to that path."
        )
    try:
        import torch
        from pyannote.audio import Pipeline
    except Exception as e:  # ImportError, or CUDA-linked torchaudio failing on CPU machines
        raise BackendUnavailableError(
            "the pyannote backend needs pyannote.audio: `pip install qa-pipeline[pyannote]` "
            f"(see docs/pyannote.md for CPU-only machines); import failed: {e}"
        ) from e
    try:
        pipeline = Pipeline.from_pretrained(str(Path(source).expanduser()) if
                                            Path(source).expanduser().exists() else source,
                                            token=options.hf_token)
    except Exception as e:
        raise ModelUnavailableError(f"cannot load pyannote pipeline {source!r}: {e}") from e
    if pipeline is None:  # pyannote returns None instead of raising on gated repos
        raise ModelUnavailableError(
            f"pyannote pipeline {source!r} could not be loaded (gated model: accept its terms "
            "and pass hf_token)"
        )
    device = options.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    pipeline.to(torch.device(device))
    return pipeline


class PyannoteDiarizer:
    """Runs a pyannote speaker-diarization pipeline; uses its exclusive (non-overlapping)
    output so every word maps to exactly one speaker.
    """

    name = "pyannote"

    def __init__(self, loader: PipelineLoader = load_pyannote_pipeline) -> None:
        self._loader = loader
        self._pipeline: Any = None
        self._loaded_for: str | None = None

    def diarize(
        self, audio: LoadedAudio, options: DiarizationOptions, hook: StageHook | None = None
    ) -> Diarization:
        """Speaker turns from pyannote."""
        if self._pipeline is None or self._loaded_for != options.pyannote_model:
            self._pipeline = self._loader(options)
            self._loaded_for = options.pyannote_model
        import torch

        waveform = torch.from_numpy(audio.mono()).unsqueeze(0)
        kwargs: dict[str, Any] = {}
        if options.num_speakers is not None:
            kwargs["num_speakers"] = options.num_speakers
        else:
            if options.min_speakers is not None:
                kwargs["min_speakers"] = options.min_speakers
            if options.max_speakers is not None:
                kwargs["max_speakers"] = options.max_speakers
        try:
            output = self._pipeline(
                {"waveform": waveform, "sample_rate": audio.sample_rate_hz}, **kwargs
            )
        except Exception as e:
            raise StageError("diarization", audio.call_id, f"pyannote failed: {e}") from e
        annotation = getattr(output, "exclusive_speaker_diarization", None)
        if annotation is None:  # pyannote 3.x returns the Annotation itself
            annotation = getattr(output, "speaker_diarization", output)
        turns = [
            SpeakerTurn(float(seg.start), min(float(seg.end), audio.duration_s), str(label))
            for seg, _, label in annotation.itertracks(yield_label=True)
            if seg.end > seg.start
        ]
        turns.sort(key=lambda t: t.start_s)
        if hook:
            hook("diarization", completed=1, total=1)
        return Diarization(audio.call_id, tuple(turns), self.name,
                           f"pyannote:{options.pyannote_model}", audio.duration_s)
