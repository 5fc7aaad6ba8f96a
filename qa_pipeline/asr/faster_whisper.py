"""faster-whisper (CTranslate2) transcription backend."""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import Any

import numpy as np

from qa_pipeline import weights
from qa_pipeline.asr.base import AsrOptions
from qa_pipeline.asr.guards import drop_reason
from qa_pipeline.errors import BackendUnavailableError, StageError
from qa_pipeline.hooks import StageHook
from qa_pipeline.text import to_simplified
from qa_pipeline.types import Segment, Transcript, Word

logger = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when CTranslate2 sees a GPU, else ``cpu``."""
    if device != "auto":
        return device
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except Exception:  # noqa: BLE001 - no CUDA runtime means CPU
        return "cpu"


def resolve_compute_type(compute_type: str, device: str) -> str:
    """int8 on CPU, float16 on GPU unless set explicitly."""
    if compute_type != "auto":
        return compute_type
    return "float16" if device == "cuda" else "int8"


# Held while a model loads: a warm-up thread and the first call may ask at once, and the
# second must wait for the first's model rather than load a copy beside it.
_LOADING = threading.Lock()


def _load_model(path: str, device: str, compute_type: str, cpu_threads: int
                ) -> tuple[Any, threading.Lock]:
    with _LOADING:
        return _cached_model(path, device, compute_type, cpu_threads)


# One model per (path, device, compute type, threads) per process; a lock serialises use of
# the model from threads (CTranslate2 models are not re-entrant for generate on one device).
@lru_cache(maxsize=4)
def _cached_model(path: str, device: str, compute_type: str, cpu_threads: int
                  ) -> tuple[Any, threading.Lock]:
    try:
        from faster_whisper import WhisperModel
    except ImportError as e:
        raise BackendUnavailableError(
            "the faster_whisper backend needs `pip install faster-whisper`"
        ) from e
    try:
        model = WhisperModel(path, device=device, compute_type=compute_type,
                             cpu_threads=cpu_threads, local_files_only=True)
    except (RuntimeError, ValueError) as e:
        hint = ""
        if device == "cuda":
            hint = (" (CTranslate2 4.x needs CUDA 12 and cuDNN 9 libraries on the node; "
                    "check `python -c 'import ctranslate2; "
                    "print(ctranslate2.get_cuda_device_count())'`)")
        raise BackendUnavailableError(f"cannot load Whisper model at {path} on {device}{hint}: {e}"
                                      ) from e
    return model, threading.Lock()


def release_models() -> None:
    """Drop cached models (batch flows release a stage's model before the next stage)."""
    with _LOADING:
        _cached_model.cache_clear()


class FasterWhisperTranscriber:
    """Word-timed transcription with faster-whisper, restricted language detection and
    hallucination guards.
    """

    name = "faster_whisper"

    def __init__(self, options: AsrOptions) -> None:
        self.options = options
        self._resolved = weights.resolve("whisper", options.model)
        self.device = resolve_device(options.device)
        self.compute_type = resolve_compute_type(options.compute_type, self.device)

    @property
    def model_id(self) -> str:
        """Model identity plus how it ran (recorded in provenance)."""
        return f"{self._resolved.model_id} [{self.device}/{self.compute_type}]"

    def load(self) -> None:
        """Load the model now (it is cached per process) instead of on the first call."""
        self._model()

    def _model(self) -> tuple[Any, threading.Lock]:
        return _load_model(str(self._resolved.path), self.device, self.compute_type,
                           self.options.cpu_threads)

    def _vad_parameters(self) -> Any:
        from faster_whisper.vad import VadOptions

        return VadOptions(threshold=self.options.vad_threshold,
                          min_silence_duration_ms=self.options.vad_min_silence_ms,
                          speech_pad_ms=self.options.vad_speech_pad_ms)

    def transcribe(
        self,
        samples_16k: np.ndarray,
        call_id: str,
        *,
        channel: int | None = None,
        hook: StageHook | None = None,
    ) -> Transcript:
        """Transcribe one 16 kHz mono stream (a whole call, or one channel)."""
        opts = self.options
        audio = np.asarray(samples_16k, dtype=np.float32)
        model, lock = self._model()
        kwargs: dict[str, Any] = dict(
            beam_size=opts.beam_size,
            word_timestamps=True,
            vad_filter=opts.vad_filter,
            vad_parameters=self._vad_parameters(),
            initial_prompt=opts.initial_prompt,
            hotwords=" ".join(opts.hotwords) or None,
            no_speech_threshold=opts.no_speech_threshold,
            log_prob_threshold=opts.log_prob_threshold,
            compression_ratio_threshold=opts.compression_ratio_threshold,
            # Conditioning on previous text propagates hallucination loops across windows.
            condition_on_previous_text=False,
        )
        # Language detection happens inside transcribe (on VAD-filtered speech, no extra
        # pass); a language outside the tenant's set is replaced by the likeliest allowed one.
        language, raw, probs = self._run(model, lock, audio, opts.language, kwargs, call_id)
        if opts.language is None and language not in opts.languages:
            allowed = {lang: p for lang, p in probs.items() if lang in opts.languages}
            fallback = max(allowed, key=lambda k: allowed[k]) if allowed else opts.languages[0]
            logger.info("%s: detected %s, not in %s; using %s", call_id, language,
                        opts.languages, fallback)
            language, raw, _ = self._run(model, lock, audio, fallback, kwargs, call_id)
        allowed_total = sum(p for lang, p in probs.items() if lang in opts.languages)
        language_p = (probs.get(language, 0.0) / allowed_total if allowed_total > 0
                      else (1.0 if opts.language else 0.0))

        segments: list[Segment] = []
        dropped = 0
        for i, s in enumerate(raw):
            seg = self._convert(s, language, channel)
            reason = drop_reason(
                seg, audio,
                no_speech_threshold=opts.no_speech_threshold,
                log_prob_threshold=opts.log_prob_threshold,
                compression_ratio_threshold=opts.compression_ratio_threshold,
                min_rms_dbfs=opts.min_segment_rms_dbfs,
            )
            if reason:
                dropped += 1
                logger.debug("%s: dropped segment %r (%s)", call_id, seg.text, reason)
                continue
            segments.append(seg)
            if hook:
                hook("asr", completed=i + 1, total=None)
        return Transcript(call_id, language, language_p, tuple(segments), self.name,
                          self.model_id, channel, dropped)

    def _run(self, model: Any, lock: threading.Lock, audio: np.ndarray, language: str | None,
             kwargs: dict[str, Any], call_id: str) -> tuple[str, list[Any], dict[str, float]]:
        """One faster-whisper pass: (language, segments, language probabilities)."""
        try:
            with lock:
                if self.options.batch_size > 1:
                    from faster_whisper import BatchedInferencePipeline

                    pipe = BatchedInferencePipeline(model)
                    segments, info = pipe.transcribe(audio, language=language,
                                                     batch_size=self.options.batch_size,
                                                     **kwargs)
                else:
                    segments, info = model.transcribe(audio, language=language, **kwargs)
                raw = list(segments)  # consume the generator inside the lock
        except Exception as e:
            raise StageError("asr", call_id, f"faster-whisper failed: {e}") from e
        probs = dict(info.all_language_probs or [])
        if language and language not in probs:
            probs[language] = 1.0
        return str(info.language or language), raw, probs

    def _convert(self, s: Any, language: str, channel: int | None) -> Segment:
        simplify = self.options.simplify_chinese and language == "zh"
        words = []
        for w in s.words or ():
            text = w.word.strip()
            if simplify:
                text = to_simplified(text)
            if not text:
                continue
            start = max(0.0, float(w.start))
            end = max(start, float(w.end))
            words.append(Word(start, end, text, float(w.probability)))
        text = s.text.strip()
        if simplify:
            text = to_simplified(text)
        return Segment(
            start_s=float(words[0].start_s if words else s.start),
            end_s=float(words[-1].end_s if words else s.end),
            text=text,
            words=tuple(words),
            avg_logprob=float(s.avg_logprob),
            no_speech_prob=float(s.no_speech_prob),
            compression_ratio=float(s.compression_ratio),
            channel=channel,
        )
