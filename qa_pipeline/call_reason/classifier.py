"""Classify a call's reason from what the customer says: cue phrases plus sentence embeddings.

The reason is usually stated in the customer's first turns, so those weigh most. Keyword hits
(or the customer utterances carrying one of a class's dialogue acts, such as ``complaint``)
and embedding similarity to each class's examples are turned into probabilities and averaged;
below the taxonomy's ``min_confidence`` the call gets the fallback class (e.g. ``other``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from qa_pipeline.call_reason.taxonomy import Taxonomy
from qa_pipeline.emotion.trajectory import (
    COMPLAINT_ACTS,
    COMPLAINT_REPEATED,
    complaint_eligible,
)
from qa_pipeline.rubric.embeddings import CallEmbeddings, Embedder, default_embedder
from qa_pipeline.text import normalize
from qa_pipeline.types import Conversation, Role, Utterance

if TYPE_CHECKING:
    from qa_pipeline.acts.track import ActTrack
    from qa_pipeline.sentiment.base import SentimentTrack


@dataclass(frozen=True, slots=True)
class CallReasonOptions:
    """How the classifier weighs its evidence."""

    # The customer's first N utterances weigh ``early_weight``, later ones 1.
    early_utterances: int = 4
    early_weight: float = 2.0
    # Share of keyword evidence in the final probabilities (the rest is embeddings).
    keyword_share: float = 0.5
    # Softmax temperature over cosine similarities (e5 similarities are compressed, so small).
    temperature: float = 0.02
    max_utterances: int = 12


@dataclass(frozen=True, slots=True)
class CallReason:
    """The predicted reason of one call."""

    label: str
    confidence: float
    probabilities: dict[str, float]
    utterance_indices: tuple[int, ...]
    taxonomy: str
    method: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"label": self.label, "confidence": round(self.confidence, 3),
                "probabilities": {k: round(v, 3) for k, v in self.probabilities.items()},
                "utterance_indices": list(self.utterance_indices), "taxonomy": self.taxonomy,
                "method": self.method}


class CallReasonClassifier:
    """Keyword + embedding classifier over one taxonomy."""

    def __init__(self, taxonomy: Taxonomy, options: CallReasonOptions | None = None,
                 embedder_factory: Callable[[], Embedder] = default_embedder) -> None:
        self.taxonomy = taxonomy
        self.options = options or CallReasonOptions()
        self._classes = [c for c in taxonomy.classes if c.id != taxonomy.fallback]
        self._keywords = [tuple(k for k in (normalize(w) for w in c.keywords) if k)
                          for c in self._classes]
        self._embedder_factory = embedder_factory
        self._embedder: Embedder | None = None
        self._prototypes: list[np.ndarray] | None = None

    def _prototype_vectors(self) -> tuple[Embedder, list[np.ndarray]]:
        if self._embedder is None or self._prototypes is None:
            self._embedder = self._embedder_factory()
            self._prototypes = [self._embedder.embed(list(c.examples)) if c.examples
                                else np.zeros((0, 1), dtype=np.float32) for c in self._classes]
        return self._embedder, self._prototypes

    def prepare(self) -> None:
        """Embed the classes' examples now rather than on the first call."""
        self._prototype_vectors()

    @property
    def uses_acts(self) -> bool:
        """Whether a class of the taxonomy is signalled by dialogue acts."""
        return any(c.acts for c in self._classes)

    def classify(self, conversation: Conversation, embeddings: CallEmbeddings | None = None,
                 acts: ActTrack | None = None,
                 sentiment: SentimentTrack | None = None) -> CallReason:
        """The call's reason with class probabilities and the utterances it rests on.

        Args:
            conversation: the call.
            embeddings: the call's shared utterance embeddings (used when they come from this
                classifier's embedder).
            acts: the call's dialogue acts; without them, classes signalled by acts rest on
                their keywords and examples only.
            sentiment: the call's sentiment; with it, the complaint acts count only on lines
                it reads as negative, as in the rubrics and the emotion stage.
        """
        opts = self.options
        utts = list(conversation.by_role(Role.CUSTOMER)) or list(conversation.utterances)
        utts = [u for u in utts if u.text.strip()][: opts.max_utterances]
        names = [c.id for c in self._classes]
        if not utts:
            return self._fallback(names, (), "no customer speech")
        weights = np.array([opts.early_weight if k < opts.early_utterances else 1.0
                            for k in range(len(utts))])
        labels = sentiment.labels() if sentiment is not None else {}
        kw_hits = self._keyword_hits(utts, acts, labels)
        kw = (kw_hits * weights[:, None]).sum(axis=0)
        emb = self._embedding_scores(utts, weights, embeddings)
        parts, methods = [], []
        if kw.sum() > 0:
            parts.append((opts.keyword_share, kw / kw.sum()))
            methods.append("keywords")
        if emb is not None:
            parts.append((1.0 - opts.keyword_share if parts else 1.0, emb))
            methods.append("embeddings")
        if not parts:
            return self._fallback(names, (), "no cue")
        total = sum(w for w, _ in parts)
        probs = sum(w * p for w, p in parts) / total
        best = int(np.argmax(probs))
        hit_rows = np.nonzero(kw_hits[:, best])[0]
        evidence = tuple(utts[r].index for r in hit_rows[:3]) or (utts[0].index,)
        probabilities = {n: float(p) for n, p in zip(names, probs, strict=True)}
        if probs[best] < self.taxonomy.min_confidence:
            return self._fallback(names, evidence, "+".join(methods), probabilities)
        return CallReason(names[best], float(probs[best]), probabilities, evidence,
                          self.taxonomy.ref, "+".join(methods))

    def _keyword_hits(self, utts: list[Utterance], acts: ActTrack | None,
                      labels: Mapping[int, str]) -> np.ndarray:
        hits = np.zeros((len(utts), len(self._classes)))
        carried: list[set[int]] = [set() for _ in self._classes]
        if acts is not None:
            indices = [u.index for u in utts]
            for c, cls in enumerate(self._classes):
                if cls.acts:
                    # A class signalled by the complaint acts reads them as the rubrics and the
                    # emotion stage do: weaker complaint acts count when they recur, and only
                    # on lines read as negative.
                    complaint = bool(set(cls.acts) & set(COMPLAINT_ACTS))
                    repeated = (COMPLAINT_REPEATED
                                if set(cls.acts) & set(COMPLAINT_REPEATED.acts) else None)
                    eligible = complaint_eligible(indices, labels) if complaint else indices
                    carried[c] = {i for i, _, _ in acts.carriers(eligible, cls.acts, None,
                                                                 repeated)}
        for r, u in enumerate(utts):
            text = normalize(u.text)
            for c, words in enumerate(self._keywords):
                hits[r, c] = float(any(w in text for w in words) or u.index in carried[c])
        return hits

    def _embedding_scores(self, utts: list[Utterance], weights: np.ndarray,
                          embeddings: CallEmbeddings | None) -> np.ndarray | None:
        embedder, prototypes = self._prototype_vectors()
        usable = [c for c, p in enumerate(prototypes) if p.shape[0]]
        if not usable:
            return None
        if embeddings is not None and embeddings.model_id == embedder.model_id:
            vectors = embeddings.rows([u.index for u in utts])
        else:
            vectors = embedder.embed([u.text for u in utts])
        sims = np.full((len(utts), len(self._classes)), -1.0)
        for c in usable:
            sims[:, c] = (vectors @ prototypes[c].T).max(axis=1)
        # Per utterance: a softmax over classes; the call: the weighted mean of those.
        logits = (sims - sims.max(axis=1, keepdims=True)) / self.options.temperature
        per_utt = np.exp(logits)
        per_utt /= per_utt.sum(axis=1, keepdims=True)
        out: np.ndarray = (per_utt * weights[:, None]).sum(axis=0) / weights.sum()
        return out

    def _fallback(self, names: list[str], evidence: tuple[int, ...], method: str,
                  probabilities: dict[str, float] | None = None) -> CallReason:
        return CallReason(self.taxonomy.fallback, 1.0 - max((probabilities or {}).values(),
                                                            default=0.0),
                          probabilities or dict.fromkeys(names, 0.0), evidence,
                          self.taxonomy.ref, method)
