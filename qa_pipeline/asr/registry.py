"""Name -> transcriber factory. Unknown names fail listing the valid ones."""

from __future__ import annotations

from collections.abc import Callable

from qa_pipeline.asr.base import AsrOptions, Transcriber
from qa_pipeline.errors import UnknownBackendError


def _faster_whisper(options: AsrOptions) -> Transcriber:
    from qa_pipeline.asr.faster_whisper import FasterWhisperTranscriber

    return FasterWhisperTranscriber(options)


_REGISTRY: dict[str, Callable[[AsrOptions], Transcriber]] = {
    "faster_whisper": _faster_whisper,
}


def available_transcribers() -> list[str]:
    """Registered backend names."""
    return sorted(_REGISTRY)


def register_transcriber(name: str, factory: Callable[[AsrOptions], Transcriber]) -> None:
    """Add a backend (rejects duplicates)."""
    if name in _REGISTRY:
        raise ValueError(f"transcriber {name!r} is already registered")
    _REGISTRY[name] = factory


def get_transcriber(name: str, options: AsrOptions | None = None) -> Transcriber:
    """Build the named backend."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise UnknownBackendError("asr", name, _REGISTRY) from None
    return factory(options or AsrOptions())
