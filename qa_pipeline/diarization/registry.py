"""Name -> diarizer factory. Unknown names fail listing the valid ones."""

from __future__ import annotations

from collections.abc import Callable

from qa_pipeline.diarization.base import Diarizer
from qa_pipeline.errors import UnknownBackendError


def _channel() -> Diarizer:
    from qa_pipeline.diarization.channel import ChannelDiarizer

    return ChannelDiarizer()


def _offline() -> Diarizer:
    from qa_pipeline.diarization.offline import OfflineDiarizer

    return OfflineDiarizer()


def _pyannote() -> Diarizer:
    from qa_pipeline.diarization.pyannote import PyannoteDiarizer

    return PyannoteDiarizer()


_REGISTRY: dict[str, Callable[[], Diarizer]] = {
    "channel": _channel,
    "offline": _offline,
    "pyannote": _pyannote,
}


def available_diarizers() -> list[str]:
    """Registered backend names."""
    return sorted(_REGISTRY)


def get_diarizer(name: str) -> Diarizer:
    """Build the named backend."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise UnknownBackendError("diarization", name, _REGISTRY) from None
    return factory()
