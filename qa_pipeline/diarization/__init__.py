"""Speaker diarization backends behind one Protocol and an explicit registry."""

from qa_pipeline.diarization.base import DiarizationOptions, Diarizer
from qa_pipeline.diarization.registry import available_diarizers, get_diarizer

__all__ = ["DiarizationOptions", "Diarizer", "available_diarizers", "get_diarizer"]
