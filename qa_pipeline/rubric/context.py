"""EvaluationContext: the one argument every rule receives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from qa_pipeline.rubric.matching import normalize
from qa_pipeline.types import Conversation, Role, Utterance

if TYPE_CHECKING:
    from qa_pipeline.conversation.metrics import ConversationMetrics
    from qa_pipeline.rubric.embeddings import Embedder
    from qa_pipeline.sentiment import SentimentTrack


@dataclass
class EvaluationContext:
    """A conversation plus everything computed about it that rules may read.

    Rules read only this object (never audio or models directly), so a rubric can be
    re-evaluated from a stored ``conversation.json`` without re-running ASR.
    """

    conversation: Conversation
    metrics: ConversationMetrics | None = None
    sentiment: SentimentTrack | None = None
    embedder_factory: Callable[[], Embedder] | None = None
    _embeddings: dict[str, object] = field(default_factory=dict, repr=False)

    @cached_property
    def normalized(self) -> tuple[str, ...]:
        """Normalised text per utterance (computed once, shared by all rules)."""
        return tuple(normalize(u.text) for u in self.conversation.utterances)

    def utterances(self, role: Role | None = None, within_s: float | None = None,
                   last_s: float | None = None) -> tuple[Utterance, ...]:
        """Utterances by ``role`` (None: any) that start in the first ``within_s`` seconds or
        end in the last ``last_s`` seconds of the call.
        """
        conv = self.conversation
        out = []
        for u in conv.utterances:
            if role is not None and u.role is not role:
                continue
            if within_s is not None and u.start_s > within_s:
                continue
            if last_s is not None and u.end_s < conv.duration_s - last_s:
                continue
            out.append(u)
        return tuple(out)

    @property
    def embedder(self) -> Embedder:
        """The sentence embedder for similarity rules (built on first use)."""
        if "__embedder__" not in self._embeddings:
            if self.embedder_factory is None:
                from qa_pipeline.rubric.embeddings import default_embedder

                self._embeddings["__embedder__"] = default_embedder()
            else:
                self._embeddings["__embedder__"] = self.embedder_factory()
        return self._embeddings["__embedder__"]  # type: ignore[return-value]
