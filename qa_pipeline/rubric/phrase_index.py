"""PhraseIndex: every phrase of a rubric looked for in one scan of a call.

A rubric holds a dozen phrase lists (one :class:`CompiledMatcher` per rule condition). Scanning
the call once per list (and, for pinyin, once per phrase) costs a hundred passes over the same
text; an Aho–Corasick automaton over the union of all lists finds every occurrence of every
phrase, overlapping ones included, in one pass. A second automaton over the call's
syllable codes holds, for each pinyin phrase, every syllable sequence a matching window can
show (the phrase with one confusable syllable swapped in, piece by piece for long phrases), so
one pass names every window worth scoring.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import ahocorasick_rs
from pydantic import BaseModel

from qa_pipeline.rubric.call_text import CallText
from qa_pipeline.rubric.matching import (
    SYLLABLE_ID_BYTES,
    CompiledMatcher,
    _allowed_mismatches,
    close_syllables,
    is_chinese,
    syllable_bytes,
    syllable_names,
)
from qa_pipeline.rubric.registry import ParsedRule

__all__ = ["CallScan", "PhraseIndex", "matchers_of", "own_index"]


@dataclass(frozen=True, slots=True)
class CallScan:
    """What one scan of a call found, per matcher (by ``id``)."""

    # utterance index -> normalised phrase of the first exact hit
    exact: dict[int, dict[int, str]]
    # utterance index -> (pinyin phrase position, window start) worth scoring, sorted
    pinyin: dict[int, dict[int, list[tuple[int, int]]]]


@dataclass(frozen=True, slots=True)
class _PinyinAutomaton:
    """The pinyin phrase variants of some matchers, built from the syllables seen so far."""

    automaton: Any  # ahocorasick_rs.BytesAhoCorasick over syllable_bytes, or None
    # Per automaton key: (bucket, back) for each window it may start (it ends at the window
    # start + back); a bucket numbers a (matcher id, phrase position, phrase length in
    # syllables) in bucket_of.
    entries: list[tuple[tuple[int, int], ...]]
    bucket_of: list[tuple[int, int, int]]
    names: int  # syllables seen when built

    @classmethod
    def build(cls, matchers: tuple[CompiledMatcher, ...]) -> _PinyinAutomaton:
        names = len(syllable_names())
        keys: dict[bytes, list[tuple[int, int]]] = {}
        bucket_of: list[tuple[int, int, int]] = []
        for matcher in matchers:
            for position, (_, _, p_ids) in enumerate(matcher.pinyin_phrases):
                bucket = len(bucket_of)
                bucket_of.append((id(matcher), position, len(p_ids)))
                for offset, piece, sequences in _pinyin_pieces(p_ids):
                    back = offset + len(piece) - 1
                    for sequence in sequences:
                        keys.setdefault(syllable_bytes(sequence), []).append(
                            (bucket, back))
        automaton = ahocorasick_rs.BytesAhoCorasick(list(keys)) if keys else None
        return cls(automaton, [tuple(dict.fromkeys(e)) for e in keys.values()], bucket_of,
                   names)


class PhraseIndex:
    """The phrases of several matchers in two Aho–Corasick automata (text and syllables)."""

    def __init__(self, matchers: Iterable[CompiledMatcher]) -> None:
        self.matchers = tuple(dict.fromkeys(matchers))
        owners: dict[str, list[int]] = {}
        for slot, matcher in enumerate(self.matchers):
            for norm in matcher.normalized_phrases:
                owners.setdefault(norm, []).append(slot)
        # Per phrase: (Chinese, length in bytes, owning matchers, phrase). Chinese phrases
        # match anywhere, others only on word boundaries, as in CompiledMatcher's regular
        # expression.
        phrases = [(is_chinese(norm), len(norm.encode("utf-8", "surrogatepass")),
                    tuple(slots), norm) for norm, slots in owners.items()]
        self._automaton = ahocorasick_rs.BytesAhoCorasick(
            [norm.encode("utf-8", "surrogatepass") for norm in owners]) if owners else None
        # Occurrences at one start rank Chinese phrases first, then longer ones (at one start
        # the longer of two occurring phrases is longer in bytes too): per phrase its place in
        # that order, whether it needs word boundaries, and by place (phrase, matchers).
        order = sorted(range(len(phrases)), key=lambda k: (
            not phrases[k][0], -phrases[k][1], phrases[k][3]))
        self._rank = [0] * len(order)
        for place, k in enumerate(order):
            self._rank[k] = place
        self._bounded = [not zh for zh, _, _, _ in phrases]
        self._by_rank = [(phrases[k][3], phrases[k][2]) for k in order]
        self._pinyin_matchers = tuple(m for m in self.matchers if m.pinyin_phrases)
        # Replaced as a whole when rebuilt (a scan in another thread reads one consistent set).
        self._pinyin: _PinyinAutomaton | None = None

    def scan(self, call: CallText) -> CallScan:
        """Exact hits and pinyin candidates of every matcher in ``call``."""
        exact = self.exact_hits(call)
        return CallScan(exact, self.pinyin_candidates(call, exact))

    def pinyin_candidates(self, call: CallText, exact: dict[int, dict[int, str]] | None = None
                          ) -> dict[int, dict[int, list[tuple[int, int]]]]:
        """Per matcher with pinyin phrases (by ``id``): utterance index -> (phrase position,
        window start in :attr:`CallText.joined`) of the windows there that may pass
        :func:`~qa_pipeline.rubric.matching._pinyin_score`, sorted.

        A passing window differs from the phrase in at most one syllable (two for phrases of
        five or more, which are split in two pieces so that one piece differs in at most one),
        and each differing syllable is one the score accepts in its place. The automaton holds
        every such sequence built from the syllables seen so far; it is rebuilt when the call
        brought new ones, so a window can only show syllables it knows.

        Only windows that pinyin matching can use are kept: inside one Chinese utterance, and
        (given ``exact``, :meth:`exact_hits` of the call) in an utterance where the matcher has
        no exact hit (exact beats pinyin). Most windows the automaton finds are the phrases'
        own exact occurrences, so a call usually leaves a matcher none.
        """
        out: dict[int, dict[int, list[tuple[int, int]]]] = {
            id(m): {} for m in self._pinyin_matchers}
        if not out or not any(call.chinese):
            return out
        # Computing the call's syllable ids may name new syllables: before the automaton is
        # checked.
        codes = call.syllable_codes
        pinyin = self._pinyin
        if pinyin is None or pinyin.names != len(syllable_names()):
            pinyin = self._pinyin = _PinyinAutomaton.build(self._pinyin_matchers)
        if pinyin.automaton is None:
            return out
        # Per bucket: the window starts (in syllables) that an occurrence points at.
        starts: list[set[int]] = [set() for _ in pinyin.bucket_of]
        for key, start, end in pinyin.automaton.find_matches_as_indexes(codes, overlapping=True):
            if start % SYLLABLE_ID_BYTES:
                continue  # straddles two syllable ids
            last = end // SYLLABLE_ID_BYTES - 1  # position of the occurrence's last syllable
            for bucket, back in pinyin.entries[key]:
                starts[bucket].add(last - back)
        # Buckets come per matcher in phrase order and each lists its windows by start, so
        # every utterance's list is built sorted.
        for (slot, position, length), bucket_starts in zip(pinyin.bucket_of, starts,
                                                            strict=True):
            skip = {} if exact is None else exact[slot]
            per_utterance = out[slot]
            for start in sorted(bucket_starts):
                i = bisect.bisect_right(call.offsets, start) - 1  # the utterance holding start
                # (i < 0: a long phrase's second piece found where the first cannot fit)
                if i >= 0 and start + length <= call.ends[i] and call.chinese[i] and (
                        i not in skip):
                    per_utterance.setdefault(i, []).append((position, start))
        return out

    def exact_hits(self, call: CallText) -> dict[int, dict[int, str]]:
        """Per matcher (by ``id``): utterance index -> the normalised phrase of its first
        exact hit in the call.

        Equal, utterance by utterance, to the first match of the matcher's own regular
        expression: it tries Chinese phrases before the others and longer phrases first at
        the leftmost position where a valid match starts, so occurrences are ranked the same
        way here.
        """
        per_slot: list[dict[int, str]] = [{} for _ in self.matchers]
        if self._automaton is not None:
            text = call.utf8
            found = [(start, self._rank[key]) for key, start, end
                     in self._automaton.find_matches_as_indexes(text, overlapping=True)
                     if not (self._bounded[key] and (_word_byte(text, start - 1)
                                                     or _word_byte(text, end)))]
            # Earliest first, then by rank: writing in reverse leaves the first occurrence
            # per utterance.
            for start, rank in sorted(found, reverse=True):
                index = bisect.bisect_right(call.utf8_offsets, start) - 1
                phrase, owners = self._by_rank[rank]
                for slot in owners:
                    per_slot[slot][index] = phrase
        return {id(m): first for m, first in zip(self.matchers, per_slot, strict=True)}


# Bytes of [a-z0-9] (in UTF-8 no other character holds them).
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789")


def _word_byte(text: bytes, position: int) -> bool:
    """Whether ``text`` holds a byte of [a-z0-9] at ``position`` (False outside it)."""
    return 0 <= position < len(text) and text[position] in _WORD_BYTES


def _pinyin_pieces(p_ids: tuple[int, ...]
                   ) -> list[tuple[int, tuple[int, ...], list[tuple[int, ...]]]]:
    """(offset, piece, syllable sequences the piece may show) covering every window of the
    phrase that :func:`~qa_pipeline.rubric.matching._pinyin_score` can accept.
    """
    n = len(p_ids)
    if n >= 5:
        # Two mismatches allowed: two pieces such that one of them holds at most one (for five
        # syllables they share the middle one, so that each piece has three).
        half = (n + 1) // 2
        bounds = [(0, 3), (2, 5)] if n == 5 else [(0, half), (half, n)]
    else:
        bounds = [(0, n)]
    strict = n <= 2
    out = []
    for lo, hi in bounds:
        piece = p_ids[lo:hi]
        sequences = [piece]
        if _allowed_mismatches(n):
            for k, syllable in enumerate(piece):
                sequences.extend(piece[:k] + (other,) + piece[k + 1:]
                                 for other in close_syllables(syllable, strict))
        out.append((lo, piece, sequences))
    return out


def matchers_of(rules: Iterable[ParsedRule]) -> list[CompiledMatcher]:
    """Every phrase matcher used by ``rules`` and the rules nested in them."""
    from qa_pipeline.rubric.rules.conditions import Matching

    found: list[CompiledMatcher] = []

    def walk(node: object) -> None:
        if isinstance(node, ParsedRule):
            walk(node.spec)
        elif isinstance(node, BaseModel):
            if isinstance(node, Matching) and (node.phrases or node.patterns):
                found.append(node.compiled_matcher)
            for name in type(node).model_fields:
                walk(getattr(node, name))
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item)

    for rule in rules:
        walk(rule)
    return found


@lru_cache(maxsize=1024)
def own_index(matcher: CompiledMatcher) -> PhraseIndex:
    """An index of one matcher, for rules evaluated outside a rubric."""
    return PhraseIndex((matcher,))
