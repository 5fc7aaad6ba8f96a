"""Per-utterance sentiment: the track rubric rules read, and the Protocol scorers implement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from qa_pipeline.types import Conversation

if TYPE_CHECKING:
    from qa_pipeline.rubric.embeddings import CallEmbeddings

Label = Literal["negative", "neutral", "positive"]
LABELS: tuple[Label, ...] = ("negative", "neutral", "positive")


@dataclass(frozen=True, slots=True)
class UtteranceSentiment:
    """Sentiment of one utterance.

    ``score`` is P(positive) - P(negative) in [-1, 1]; ``confidence`` is the probability of
    ``label``.
    """

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

    def labels(self) -> dict[int, Label]:
        """Utterance index -> label, for the utterances the model scored."""
        return {i.utterance_index: i.label for i in self.items}

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"model_id": self.model_id, "items": [i.to_dict() for i in self.items]}


class SentimentScorer(Protocol):
    """Scores every utterance of a conversation."""

    model_id: str

    def score(self, conversation: Conversation, embeddings: CallEmbeddings | None = None
              ) -> SentimentTrack:
        """A track covering the conversation's utterances (``embeddings``: the call's
        shared utterance embeddings, for scorers that read sentence embeddings).
        """
        ...


class TextClassifier(Protocol):
    """Class probabilities (negative, neutral, positive) for a batch of texts."""

    model_id: str

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), 3)`` rows summing to 1, columns in ``LABELS`` order."""
        ...


@runtime_checkable
class EmbeddingTextClassifier(TextClassifier, Protocol):
    """A classifier over sentence embeddings: it can reuse a call's shared embedding pass."""

    embedder_id: str

    def predict_embeddings(self, vectors: np.ndarray) -> np.ndarray:
        """Class probabilities from the texts' embeddings (by ``embedder_id``)."""
        ...


@dataclass(frozen=True, slots=True)
class SentimentOptions:
    """Options of the sentiment stage.

    Attributes:
        backend: ``embedded`` (offline default, zh + en), ``transformers`` or ``none``.
        model: for ``transformers``: a hub id (``owner/name``), a name registered under
            ``sentiment`` in models/manifest.yaml, or a local directory.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda[:N]``.
        batch_size: texts per forward pass.
        max_length_tokens: longer utterances are truncated.
        label_map: the model's own label names -> negative / neutral / positive, for models
            whose labels are not recognised automatically (e.g. emotion classes).
    """

    backend: str = "embedded"
    model: str | None = None
    device: str = "auto"
    batch_size: int = 32
    max_length_tokens: int = 128
    label_map: dict[str, Label] = field(default_factory=dict)


def track_from_probabilities(conversation: Conversation, probabilities: np.ndarray,
                             model_id: str) -> SentimentTrack:
    """A track from per-utterance class probabilities (rows in utterance order)."""
    items = []
    for utt, row in zip(conversation.utterances, probabilities, strict=True):
        best = int(np.argmax(row))
        items.append(UtteranceSentiment(utt.index, LABELS[best], float(row[2] - row[0]),
                                        float(row[best])))
    return SentimentTrack(conversation.call_id, tuple(items), model_id)


class ClassifierScorer:
    """A :class:`SentimentScorer` over any :class:`TextClassifier` (one batch per call)."""

    def __init__(self, classifier: TextClassifier) -> None:
        self._classifier = classifier
        self.model_id = classifier.model_id

    def score(self, conversation: Conversation, embeddings: CallEmbeddings | None = None
              ) -> SentimentTrack:
        """Classify every utterance's text (from ``embeddings`` when the classifier reads
        the same embedder's vectors, so the call is not embedded twice).
        """
        texts = [u.text for u in conversation.utterances]
        clf = self._classifier
        if not texts:
            probs = np.zeros((0, 3), dtype=np.float32)
        elif (embeddings is not None and isinstance(clf, EmbeddingTextClassifier)
              and clf.embedder_id == embeddings.model_id):
            probs = clf.predict_embeddings(embeddings.vectors)
        else:
            probs = clf.predict_proba(texts)
        return track_from_probabilities(conversation, probs, self.model_id)


def labelled_among(indices: Sequence[int], labels: Mapping[int, str],
                   wanted: Sequence[str]) -> list[int]:
    """The utterances of ``indices`` whose label (``labels``: utterance index -> label) is one
    of ``wanted``; an utterance without a label is kept, and so is every one when ``wanted``
    is empty.
    """
    if not wanted:
        return list(indices)
    return [i for i in indices if i not in labels or labels[i] in wanted]
