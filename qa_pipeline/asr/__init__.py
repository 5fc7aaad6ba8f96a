"""Speech recognition backends behind one Protocol and an explicit registry."""

from qa_pipeline.asr.base import AsrOptions, Transcriber
from qa_pipeline.asr.registry import available_transcribers, get_transcriber

__all__ = ["AsrOptions", "Transcriber", "available_transcribers", "get_transcriber"]
