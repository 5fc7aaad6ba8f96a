"""Per-utterance sentiment: the track rubric rules read (scorers plug in behind a Protocol)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from qa_pipeline.types import Conversation

Label = Literal["negative", "neutral", "positive"]


@dataclass(frozen=True, slots=True)
class UtteranceSentiment:
    """Sentiment of one utterance: a label and a score in [-1, 1] (negative..positive)."""

    utterance_index: int
    label: Label
    score: float
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"utterance_index": self.utterance_index, "label": self.label,
                "score": round(self.score, 4), "confidence": round(self.confidence, 4)}


@dataclass(frozen=True, slots=True)
class SentimentTrack:
    """Sentiment of every scored utterance of a call, from one model."""

    call_id: str
    items: tuple[UtteranceSentiment, ...]
    model_id: str

    def for_indices(self, indices: set[int]) -> tuple[UtteranceSentiment, ...]:
        """Items of the given utterances, in call order."""
        return tuple(i for i in self.items if i.utterance_index in indices)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"model_id": self.model_id, "items": [i.to_dict() for i in self.items]}


class SentimentScorer(Protocol):
    """Scores every utterance of a conversation."""

    model_id: str

    def score(self, conversation: Conversation) -> SentimentTrack:
        """A track covering the conversation's utterances."""
        ...
