"""Acoustic features (librosa) and the customer's emotion trajectory."""

from qa_pipeline.emotion.acoustic import (
    AcousticOptions,
    AcousticTrack,
    UtteranceAcoustics,
    extract_acoustics,
    prepare_acoustics,
)
from qa_pipeline.emotion.trajectory import (
    COMPLAINT_REPEATED,
    COMPLAINT_SENTIMENT,
    DEFAULT_COMPLAINT_CUES,
    EmotionOptions,
    EmotionSummary,
    Finding,
    PhaseEmotion,
    complaint_eligible,
    summarize_emotion,
)

__all__ = [
    "COMPLAINT_REPEATED",
    "COMPLAINT_SENTIMENT",
    "DEFAULT_COMPLAINT_CUES",
    "AcousticOptions",
    "AcousticTrack",
    "EmotionOptions",
    "EmotionSummary",
    "Finding",
    "PhaseEmotion",
    "UtteranceAcoustics",
    "complaint_eligible",
    "extract_acoustics",
    "prepare_acoustics",
    "summarize_emotion",
]
