"""EvaluationContext: the one argument every rule receives."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from qa_pipeline.rubric.call_text import CallText
from qa_pipeline.rubric.matching import CompiledMatcher
from qa_pipeline.types import Conversation, MatchHit, Role, Utterance

if TYPE_CHECKING:
    from qa_pipeline.acts.track import ActTrack
    from qa_pipeline.call_reason import CallReason
    from qa_pipeline.conversation.metrics import ConversationMetrics
    from qa_pipeline.emotion import AcousticTrack, EmotionSummary
    from qa_pipeline.judge import Judge
    from qa_pipeline.rubric.embeddings import Embedder
    from qa_pipeline.rubric.phrase_index import PhraseIndex
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
    # Judges by name for ``question`` rules (a tenant's or rubric's judges; None: none).
    judges: Mapping[str, Judge] | None = None
    # Dialogue acts: a track given as is (tests, acts reviewed by a person), else the one
    # ``act_track_factory`` returns on first use (the pipeline's, tagged once per call from the
    # shared utterance embeddings), else the packaged model's. Rules without acts never tag.
    act_track: ActTrack | None = None
    act_track_factory: Callable[[], ActTrack] | None = None
    _embeddings: dict[str, object] = field(default_factory=dict, repr=False)
    # Per matcher (by id): utterance index -> hit or None, for the utterances matched so far.
    _matched: dict[int, dict[int, MatchHit | None]] = field(default_factory=dict, repr=False)
    _scopes: dict[tuple[Role | None, float | None, float | None], tuple[Utterance, ...]] = field(
        default_factory=dict, repr=False)
    # id(scope) -> (scope, its utterance indices); the scope is kept so the id stays its own.
    _indices: dict[int, tuple[tuple[Utterance, ...], tuple[int, ...]]] = field(
        default_factory=dict, repr=False)
    # id(scope) -> (scope, its utterance indices as a set once asked for), per scope that
    # utterances() returned.
    _scope_members_of: dict[int, tuple[tuple[Utterance, ...], frozenset[int] | None]] = field(
        default_factory=dict, repr=False)
    # Considered utterances -> confidence_of's answer.
    _confidence: dict[tuple[int, ...], tuple[float, float] | None] = field(
        default_factory=dict, repr=False)
    # Per matcher id, from one scan of the call (see use_index): utterance index -> phrase of
    # the first exact hit, and utterance index -> pinyin windows worth scoring.
    _exact: dict[int, dict[int, str]] = field(default_factory=dict, repr=False)
    _pinyin: dict[int, dict[int, list[tuple[int, int]]]] = field(default_factory=dict,
                                                                   repr=False)
    # Per scanned matcher id: utterance index -> hit, over the whole call.
    _scanned: dict[int, dict[int, MatchHit]] = field(default_factory=dict, repr=False)

    def use_index(self, index: PhraseIndex) -> None:
        """Scan the call for all of ``index``'s matchers now, in one pass (rules then look
        their hits up instead of scanning once per phrase list).
        """
        if not all(id(m) in self._exact for m in index.matchers):
            scan = index.scan(self.text)
            self._exact.update(scan.exact)
            self._pinyin.update(scan.pinyin)

    @cached_property
    def text(self) -> CallText:
        """The call's normalised text laid out for call-level matching (built once)."""
        return CallText(tuple(u.text for u in self.conversation.utterances))

    @cached_property
    def word_stats(self) -> tuple[list[float], list[int], list[float]]:
        """Per utterance: sum of word probabilities, word count, role confidence (the review
        policy averages them over the utterances a verdict considered, for many criteria).
        """
        utterances = self.conversation.utterances
        return ([sum(w.probability for w in u.words) for u in utterances],
                [len(u.words) for u in utterances], [u.role_confidence for u in utterances])

    @property
    def normalized(self) -> tuple[str, ...]:
        """Normalised text per utterance (computed once, shared by all rules)."""
        return self.text.normalized

    def confidence_of(self, considered: tuple[int, ...]) -> tuple[float, float] | None:
        """(mean word probability, lowest role confidence) over utterances ``considered``
        (indices out of range ignored), or None when none is in range. Criteria with the same
        scope consider the same utterances: each set is averaged once per call.
        """
        cached = self._confidence.get(considered, _UNSET)
        if cached is not _UNSET:
            return cached  # type: ignore[return-value]
        sums, counts, roles = self.word_stats
        valid = [i for i in considered if 0 <= i < len(sums)]
        result = None
        if valid:
            n_words = sum(counts[i] for i in valid)
            result = (sum(sums[i] for i in valid) / n_words if n_words else 1.0,
                      min(roles[i] for i in valid))
        self._confidence[considered] = result
        return result

    def hit(self, matcher: CompiledMatcher, index: int) -> MatchHit | None:
        """The matcher's hit in one utterance, or None."""
        return self.hits(matcher, (self.conversation.utterances[index],)).get(index)

    def hits(self, matcher: CompiledMatcher, utterances: tuple[Utterance, ...]
             ) -> dict[int, MatchHit]:
        """The matcher's hits among ``utterances`` (utterance index -> hit)."""
        return {u.index: hit for u, hit in self.hit_pairs(matcher, utterances)}

    def hit_pairs(self, matcher: CompiledMatcher, utterances: tuple[Utterance, ...]
                  ) -> list[tuple[Utterance, MatchHit]]:
        """(utterance, hit) for each of ``utterances`` the matcher matches, in order.

        Each utterance is matched once per matcher and call; the utterances not yet matched
        are matched together.
        """
        if matcher.scanned:
            # Exact and pinyin phrases only: the call's scan already names every hit.
            hits = self._scanned_hits(matcher)
            if len(hits) * 4 < len(utterances):
                members = self._scope_members(utterances)
                if members is not None:
                    # Few hits in a wide scope (in call order): look the hits up in the scope
                    # rather than the scope in them.
                    utts = self.conversation.utterances
                    return [(utts[i], hits[i]) for i in sorted(hits) if i in members]
            return [(u, hits[u.index]) for u in utterances if u.index in hits]
        done = self._matched.get(id(matcher))
        if done is None:
            done = self._matched[id(matcher)] = {}
        todo = [u.index for u in utterances if u.index not in done]
        if todo:
            found = self._match(matcher, todo)
            for i in todo:
                done[i] = found.get(i)
        return [(u, hit) for u in utterances if (hit := done[u.index]) is not None]

    def first_hit(self, matcher: CompiledMatcher, utterances: Sequence[Utterance],
                  accept: Callable[[Utterance, MatchHit], bool] | None = None
                  ) -> tuple[Utterance, MatchHit] | None:
        """The first of ``utterances`` (in order) the matcher matches and ``accept`` approves,
        or None: the first element of :meth:`hit_pairs` that passes ``accept``.

        Rules that need only the first hit (order and anchor rules) call this: every exact
        (and pinyin) hit is known from the call's scan, so fuzzy and regex matching run only
        on the utterances before the next exact hit, not on the whole scope.
        """
        if matcher.scanned:  # every hit is a lookup: no matching left to save
            return next((pair for pair in self.hit_pairs(matcher, tuple(utterances))
                         if accept is None or accept(*pair)), None)
        done = self._matched.get(id(matcher))
        if done is None:
            done = self._matched[id(matcher)] = {}
        exact = self._exact_hits(matcher)
        fuzzy_only = matcher.options.fuzzy is not None and not (matcher.pinyin_phrases or
                                                                matcher.patterns)
        lo, n = 0, len(utterances)
        while lo < n:
            # Up to the next utterance whose hit is already certain (known, or exact).
            hi = lo
            while hi < n - 1:
                i = utterances[hi].index
                if done.get(i) is not None or (i not in done and i in exact):
                    break
                hi += 1
            for k in range(lo, hi + 1):
                u = utterances[k]
                if u.index not in done:
                    tail = [v.index for v in utterances[k:hi + 1] if v.index not in done]
                    if fuzzy_only:  # fuzzy matching stops at the first hit
                        self._match_until_first_hit(matcher, tail, done)
                    else:
                        found = self._match(matcher, tail)
                        for i in tail:
                            done[i] = found.get(i)
                hit = done[u.index]
                if hit is not None and (accept is None or accept(u, hit)):
                    return u, hit
            lo = hi + 1
        return None

    def _match_until_first_hit(self, matcher: CompiledMatcher, todo: list[int],
                               done: dict[int, MatchHit | None]) -> None:
        """Record in ``done`` the hits of a fuzzy-only matcher among utterances ``todo`` (in
        call order) up to the first one that has a hit (as :meth:`_match` would record them).
        """
        exact = self._exact_hits(matcher)
        limit = next((k for k, i in enumerate(todo) if i in exact), len(todo))
        normalized = self.text.normalized
        found = matcher.first_fuzzy_hit([(i, normalized[i]) for i in todo[:limit]])
        for i in todo[:limit]:
            if found is not None and i == found[0]:
                done[i] = found[1]
                return
            done[i] = None
        if limit < len(todo):  # exact beats fuzzy
            done[todo[limit]] = matcher.exact_hit_of[exact[todo[limit]]]

    def _scanned_hits(self, matcher: CompiledMatcher) -> dict[int, MatchHit]:
        """Utterance index -> hit of a scanned matcher, over the whole call (built once per
        call from the scan: the exact hits, and the pinyin windows it left to score, which lie
        only in utterances without an exact hit).
        """
        found = self._scanned.get(id(matcher))
        if found is None:
            hit_of = matcher.exact_hit_of
            found = {i: hit_of[norm] for i, norm in self._exact_hits(matcher).items()}
            candidates = self._pinyin.get(id(matcher))
            if candidates:
                found.update(matcher.pinyin_hits(self.text, candidates))
            self._scanned[id(matcher)] = found
        return found

    def _exact_hits(self, matcher: CompiledMatcher) -> dict[int, str]:
        """Utterance index -> phrase of the matcher's first exact hit there (scanning the call
        for this matcher alone when it is not part of the rubric's index).
        """
        if id(matcher) not in self._exact:
            from qa_pipeline.rubric.phrase_index import own_index

            self.use_index(own_index(matcher))
        return self._exact[id(matcher)]

    def _match(self, matcher: CompiledMatcher, todo: list[int]) -> dict[int, MatchHit]:
        """Hits of a matcher that is not scanned among utterances ``todo``: exact beats fuzzy
        beats pinyin beats regex.
        """
        exact = self._exact_hits(matcher)
        call = self.text
        hit_of = matcher.exact_hit_of
        found = {i: hit_of[norm] for i in todo if (norm := exact.get(i)) is not None}
        rest = [i for i in todo if i not in found]
        if rest and matcher.options.fuzzy is not None:
            found.update(matcher.fuzzy_hits({i: call.normalized[i] for i in rest}))
            rest = [i for i in rest if i not in found]
        if rest and matcher.pinyin_phrases:
            found.update(matcher.pinyin_hits(call, self._pinyin[id(matcher)], rest))
            rest = [i for i in rest if i not in found]
        if rest and matcher.patterns:
            utts = self.conversation.utterances
            for i in rest:
                hit = matcher.regex_hit(utts[i].text, call.normalized[i])
                if hit is not None:
                    found[i] = hit
        return found

    def utterances(self, role: Role | None = None, within_s: float | None = None,
                   last_s: float | None = None) -> tuple[Utterance, ...]:
        """Utterances by ``role`` (None: any) that start in the first ``within_s`` seconds or
        end in the last ``last_s`` seconds of the call.
        """
        scope = (role, within_s, last_s)
        cached = self._scopes.get(scope)
        if cached is not None:
            return cached
        conv = self.conversation
        if within_s is None and last_s is None:
            found = conv.utterances if role is None else tuple(
                u for u in conv.utterances if u.role is role)
        else:  # a time window of the role's utterances (cached above)
            since = -float("inf") if last_s is None else conv.duration_s - last_s
            until = float("inf") if within_s is None else within_s
            found = tuple(u for u in self.utterances(role)
                          if u.start_s <= until and u.end_s >= since)
        self._scopes[scope] = found
        self._scope_members_of[id(found)] = (found, None)
        return found

    def indices(self, utterances: tuple[Utterance, ...]) -> tuple[int, ...]:
        """The indices of ``utterances`` (a scope from :meth:`utterances`: computed once per
        scope and call, and the same tuple each time, so :meth:`confidence_of` finds it).
        """
        found = self._indices.get(id(utterances))
        if found is None or found[0] is not utterances:
            found = self._indices[id(utterances)] = (utterances,
                                                     tuple(u.index for u in utterances))
        return found[1]

    def _scope_members(self, utterances: tuple[Utterance, ...]) -> frozenset[int] | None:
        """The indices of ``utterances`` as a set when it is a scope of :meth:`utterances`
        (computed once per scope and call), else None.
        """
        scope = self._scope_members_of.get(id(utterances))
        if scope is None or scope[0] is not utterances:
            return None
        if scope[1] is None:
            scope = self._scope_members_of[id(utterances)] = (
                utterances, frozenset(self.indices(utterances)))
        return scope[1]

    @property
    def acts(self) -> ActTrack:
        """The call's dialogue acts (tagged on first use, once per call)."""
        if self.act_track is None:
            if self.act_track_factory is None:
                from qa_pipeline.acts import load_embedded_act_model
                from qa_pipeline.acts.track import tag_conversation

                self.act_track = tag_conversation(self.conversation, load_embedded_act_model())
            else:
                self.act_track = self.act_track_factory()
        return self.act_track

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


_UNSET = object()  # confidence_of: "not computed yet" (None is an answer)
