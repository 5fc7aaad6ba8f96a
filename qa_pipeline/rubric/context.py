"""EvaluationContext: the one argument every rule receives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from qa_pipeline.rubric.matching import (
    SEPARATOR,
    CompiledMatcher,
    is_chinese,
    normalize,
    pinyin_syllables,
)
from qa_pipeline.types import Conversation, MatchHit, Role, Utterance

if TYPE_CHECKING:
    from qa_pipeline.call_reason import CallReason
    from qa_pipeline.conversation.metrics import ConversationMetrics
    from qa_pipeline.emotion import AcousticTrack, EmotionSummary
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
    acoustics: AcousticTrack | None = None
    emotion: EmotionSummary | None = None
    call_reason: CallReason | None = None
    _embeddings: dict[str, object] = field(default_factory=dict, repr=False)
    _syllables: dict[int, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _exact: dict[int, dict[int, MatchHit]] = field(default_factory=dict, repr=False)
    _tolerant: dict[tuple[int, int], MatchHit | None] = field(default_factory=dict, repr=False)
    _viable: dict[int, tuple[Any, ...]] = field(default_factory=dict, repr=False)

    @cached_property
    def normalized(self) -> tuple[str, ...]:
        """Normalised text per utterance (computed once, shared by all rules)."""
        return tuple(normalize(u.text) for u in self.conversation.utterances)

    @cached_property
    def _joined(self) -> tuple[str, list[int]]:
        offsets = []
        position = 0
        for text in self.normalized:
            offsets.append(position)
            position += len(text) + len(SEPARATOR)
        return SEPARATOR.join(self.normalized), offsets

    def hit(self, matcher: CompiledMatcher, index: int) -> MatchHit | None:
        """The matcher's hit in one utterance.

        Exact matching scans the whole call once per matcher (one regular expression over the
        joined text); the slower tolerant matching (fuzzy, pinyin, regex) runs only for the
        utterances a rule asks about, once each.
        """
        key = id(matcher)
        exact = self._exact.get(key)
        if exact is None:
            joined, offsets = self._joined
            exact = self._exact[key] = matcher.find_exact_all(joined, offsets)
        found = exact.get(index)
        if found is not None or not matcher.tolerant:
            return found
        cache_key = (key, index)
        if cache_key not in self._tolerant:
            norm = self.normalized[index]
            syllables = (self.syllables(index) if matcher.pinyin_phrases and is_chinese(norm)
                         else None)
            self._tolerant[cache_key] = matcher.find_tolerant(
                self.conversation.utterances[index].text, norm, syllables,
                self._viable_pinyin(matcher) if syllables is not None else None)
        return self._tolerant[cache_key]

    def _viable_pinyin(self, matcher: CompiledMatcher) -> tuple[Any, ...]:
        """The matcher's pinyin phrases that could match somewhere in this call (most phrases
        of a rubric cannot, and are then skipped for every utterance).
        """
        key = id(matcher)
        if key not in self._viable:
            self._viable[key] = matcher.viable_pinyin(self._call_syllables)
        return self._viable[key]

    @cached_property
    def _call_syllables(self) -> frozenset[str]:
        """Every pinyin syllable spoken in the call's Chinese utterances."""
        present: set[str] = set()
        for i, norm in enumerate(self.normalized):
            if is_chinese(norm):
                present.update(self.syllables(i))
        return frozenset(present)

    def syllables(self, index: int) -> tuple[str, ...]:
        """Pinyin syllables of an utterance's normalised text (computed once per call)."""
        if index not in self._syllables:
            self._syllables[index] = pinyin_syllables(self.normalized[index])
        return self._syllables[index]

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
    def embedder_used(self) -> Embedder | None:
        """The embedder if any rule used one (for provenance), else None."""
        return self._embeddings.get("__embedder__")  # type: ignore[return-value]

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
