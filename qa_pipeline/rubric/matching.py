"""Phrase matching that survives ASR errors.

Matching is exact on normalised text (:func:`qa_pipeline.text.normalize`), then optionally
fuzzy (edit similarity) and, for Chinese, pinyin with merged easily-confused sounds (zh/z,
ch/c, sh/s, n/l, -ng/-n), so ASR homophones such as 克服 for 客服 or 投注 for 投诉 still match.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache, lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from qa_pipeline.rubric.patterns import compile_pattern
from qa_pipeline.text import is_chinese, normalize
from qa_pipeline.types import MatchHit

if TYPE_CHECKING:
    from qa_pipeline.rubric.call_text import CallText

__all__ = [
    "SEPARATOR", "CompiledMatcher", "MatchOptions", "RuleBudgetSpent", "check_budget",
    "compile_matcher", "is_chinese", "match_phrase", "normalize", "pinyin_syllables",
    "rule_deadline", "syllable_ids",
]

# --- time budget -------------------------------------------------------------------------------
# (deadline, clock) of the rule being evaluated: set by the engine around each criterion, so
# the matching loops below (one step per utterance, per phrase or per pattern) can stop a
# single runaway rule, not only the rules after it. None outside rubric evaluation.
_DEADLINE: ContextVar[tuple[float, Callable[[], float]] | None] = ContextVar(
    "rule_deadline", default=None)


class RuleBudgetSpent(Exception):  # noqa: N818  (a signal, not an error: the engine catches it)
    """The rubric's time budget ran out inside a rule (:func:`check_budget`); the engine
    turns the criterion into ``needs_review``. Never escapes
    :func:`~qa_pipeline.rubric.engine.evaluate`.
    """


@contextmanager
def rule_deadline(deadline: float, clock: Callable[[], float]) -> Iterator[None]:
    """Make :func:`check_budget` stop the rule evaluated inside once ``clock()`` passes
    ``deadline``.
    """
    token = _DEADLINE.set((deadline, clock))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_budget() -> None:
    """Raise :class:`RuleBudgetSpent` when the running rule is past its deadline (a no-op
    outside :func:`rule_deadline`). Called once per step of every per-utterance loop.
    """
    limit = _DEADLINE.get()
    if limit is not None and limit[1]() > limit[0]:
        raise RuleBudgetSpent

# --- pinyin ------------------------------------------------------------------------------------
_PINYIN_MERGES = (("zh", "z"), ("ch", "c"), ("sh", "s"))
_FINAL_MERGES = (("ang", "an"), ("eng", "en"), ("ing", "in"))


def _fuzzy_syllable(syl: str) -> str:
    for a, b in _PINYIN_MERGES:
        if syl.startswith(a):
            syl = b + syl[len(a):]
            break
    if syl.startswith("n"):
        syl = "l" + syl[1:]
    for a, b in _FINAL_MERGES:
        if syl.endswith(a):
            syl = syl[: -len(a)] + b
            break
    return syl


@cache
def _char_syllable(ch: str) -> str:
    from pypinyin import Style, lazy_pinyin

    syl = lazy_pinyin(ch, style=Style.NORMAL)
    return _fuzzy_syllable(syl[0].lower()) if syl else ch


# Joins a call's normalised utterances for one-pass scanning; no phrase can contain it.
SEPARATOR = "\x1f"


# Syllable ids: equal ids, same merged pinyin. Id 0 is unused and id 1 the utterance
# separator, which matches nothing; the others are handed out on first sight of a syllable.
# Names only grow, so an id keeps its meaning for the life of the process.
_SYLLABLE_NAMES: list[str] = ["", SEPARATOR]
_ID_OF_NAME: dict[str, int] = {}
_ID_OF_CHAR: dict[str, int] = {SEPARATOR: 1}
_SYLLABLE_LOCK = threading.Lock()  # rules may be evaluated in several threads


def _syllable_id(ch: str) -> int:
    sid = _ID_OF_CHAR.get(ch)
    if sid is None:
        with _SYLLABLE_LOCK:
            name = _char_syllable(ch)
            sid = _ID_OF_NAME.get(name)
            if sid is None:
                sid = _ID_OF_NAME[name] = len(_SYLLABLE_NAMES)
                _SYLLABLE_NAMES.append(name)
            _ID_OF_CHAR[ch] = sid
    return sid


def syllable_names() -> list[str]:
    """Every syllable name seen so far, by id (grows as new characters are seen)."""
    return _SYLLABLE_NAMES


# (syllable id, strict) -> (names checked so far, ids of the close ones among them)
_NEIGHBOURS: dict[tuple[int, bool], tuple[int, list[int]]] = {}


def close_syllables(syllable_id: int, strict: bool) -> list[int]:
    """Ids of the syllables seen so far that :func:`_pinyin_score` accepts in place of
    ``syllable_id`` (itself excluded). Names only grow, so each is checked once.
    """
    names = _SYLLABLE_NAMES
    checked, found = _NEIGHBOURS.get((syllable_id, strict), (2, []))
    if checked < len(names):
        name = names[syllable_id]
        found = found + [j for j in range(checked, len(names))
                         if j != syllable_id and _syllables_close(name, names[j], strict)]
        _NEIGHBOURS[(syllable_id, strict)] = (len(names), found)
    return found


def syllable_ids(text: str) -> list[int]:
    """One syllable id per character of ``text`` (equal ids: same merged pinyin)."""
    return [_syllable_id(ch) for ch in text]


# Bytes per syllable id in syllable_bytes.
SYLLABLE_ID_BYTES = 4


def syllable_bytes(ids: Sequence[int]) -> bytes:
    """Syllable ids as little-endian integers of :data:`SYLLABLE_ID_BYTES` bytes, for
    byte-level automaton scans; a scan keeps only the occurrences that start on a multiple of
    that width.
    """
    return np.asarray(ids, dtype="<u4").tobytes()


def pinyin_syllables(text: str) -> tuple[str, ...]:
    """Tone-less, confusion-merged pinyin, one entry per character (non-Han kept as is).

    Characters are read one by one with their default reading: phrase-level segmentation
    would fix a few polyphones (银行 hang) but is much slower, and both the phrase and the
    utterance are read the same way, so matching stays consistent.
    """
    return tuple(_SYLLABLE_NAMES[i] for i in syllable_ids(text))


@dataclass(frozen=True, slots=True)
class MatchOptions:
    """How tolerant phrase matching is."""

    fuzzy: float | None = None  # edit similarity 0..1 (e.g. 0.85); None: exact only
    pinyin: bool = False  # homophone-tolerant matching for Chinese phrases
    # Score of a pinyin match: 1 - mismatched syllables / (2 * syllables).
    pinyin_threshold: float = 0.75


class CompiledMatcher:
    """A list of phrases and patterns compiled once and matched against many utterances.

    Exact matching is one regular expression over the normalised text (Chinese phrases as
    substrings, other phrases on word boundaries). Over a whole call (:class:`CallText`),
    :class:`~qa_pipeline.rubric.phrase_index.PhraseIndex` finds the exact hits and the pinyin
    windows worth scoring of many matchers in one scan; fuzzy and regex matching test the
    utterances one by one. Per utterance, exact beats fuzzy beats pinyin beats regex.
    """

    def __init__(self, phrases: tuple[str, ...], patterns: tuple[str, ...],
                 options: MatchOptions) -> None:
        self.options = options
        self.by_norm: dict[str, str] = {}
        zh: list[str] = []
        other: list[str] = []
        for phrase in phrases:
            norm = normalize(phrase)
            if not norm:
                continue
            self.by_norm.setdefault(norm, phrase)
            (zh if is_chinese(norm) else other).append(norm)
        self.normalized_phrases = tuple(self.by_norm)
        # The hit of each phrase found exactly (one shared object per phrase: calls find the
        # same phrases again and again).
        self.exact_hit_of = {norm: MatchHit(phrase, "exact", 1.0, norm)
                             for norm, phrase in self.by_norm.items()}
        alternatives = []
        if zh:
            alternatives.append("|".join(re.escape(p) for p in sorted(zh, key=len, reverse=True)))
        if other:
            # Word boundaries: a phrase may not start right after [a-z0-9] (checked in
            # _exact_matches: a leading look-behind would keep the regex engine from skipping
            # ahead to a phrase's first character) nor end right before one.
            words = "|".join(re.escape(p) for p in sorted(other, key=len, reverse=True))
            alternatives.append(rf"(?:{words})(?![a-z0-9])")
        self.exact = re.compile("|".join(f"(?:{a})" for a in alternatives)) if alternatives \
            else None
        self._zh_exact = frozenset(zh)
        self.pinyin_phrases = tuple(
            (self.by_norm[n], n, tuple(syllable_ids(n))) for n in zh
        ) if options.pinyin else ()
        # RE2, not re: rubric patterns are untrusted (linear-time matching, see patterns.py).
        self.patterns = tuple((p, compile_pattern(p)) for p in patterns)

    @property
    def scanned(self) -> bool:
        """Whether one scan of a call names every hit (exact and pinyin matching only, see
        :class:`~qa_pipeline.rubric.phrase_index.PhraseIndex`); fuzzy and regex matching
        test utterances one by one.
        """
        return self.options.fuzzy is None and not self.patterns

    def _exact_matches(self, text: str, start: int = 0,
                       end: int | None = None) -> Iterator[re.Match[str]]:
        """Exact matches in ``text[start:end]`` that do not start inside a word."""
        if self.exact is None:
            return
        end = len(text) if end is None else end
        m = self.exact.search(text, start, end)
        while m is not None:
            if self._starts_word(text, m):
                yield m
                m = self.exact.search(text, m.end(), end)
            else:
                m = self.exact.search(text, m.start() + 1, end)

    def _starts_word(self, text: str, m: re.Match[str]) -> bool:
        """Whether a non-Chinese phrase match does not start inside a word."""
        start = m.start()
        return start == 0 or m.group(0) in self._zh_exact or not _WORD_CHAR.match(text, start - 1)

    def find(self, text: str, normalized: str | None = None) -> MatchHit | None:
        """The best match in one utterance, or None."""
        norm = normalized if normalized is not None else normalize(text)
        if norm:
            m = next(self._exact_matches(norm), None)
            if m:
                return self.exact_hit_of[m.group(0)]
        return self.find_tolerant(text, norm)

    def find_tolerant(self, text: str, norm: str) -> MatchHit | None:
        """Fuzzy, pinyin and regex matching in one utterance (after exact matching failed)."""
        if self.options.fuzzy is not None and norm:
            hit = self.fuzzy_hits({0: norm}).get(0)
            if hit is not None:
                return hit
        if self.pinyin_phrases and norm and is_chinese(norm):
            ids = syllable_ids(norm)
            for phrase, _, p_ids in self.pinyin_phrases:
                check_budget()
                best = self._best_pinyin_window(p_ids, ids, range(len(ids) - len(p_ids) + 1))
                if best is not None:
                    return MatchHit(phrase, "pinyin", best[0], norm[best[1]:best[1] + len(p_ids)])
        return self.regex_hit(text, norm)

    def regex_hit(self, text: str, norm: str) -> MatchHit | None:
        """The first pattern found in the raw or the normalised text."""
        for pattern, compiled in self.patterns:
            check_budget()
            m = compiled.search(text) or compiled.search(norm)
            if m:
                return MatchHit(pattern, "regex", 1.0, m.group(0))
        return None

    def fuzzy_hits(self, texts: Mapping[int, str]) -> dict[int, MatchHit]:
        """Fuzzy hits among normalised utterances ``texts`` (index -> text); each utterance
        gets the first phrase, in list order, that matches it (:meth:`_fuzzy_pass`).
        """
        if self.options.fuzzy is None:
            return {}
        found: dict[int, MatchHit] = {}
        for index in sorted(texts):
            hit = self._first_fuzzy_phrase(texts[index])
            if hit is not None:
                found[index] = hit
        return found

    def first_fuzzy_hit(self, texts: list[tuple[int, str]]) -> tuple[int, MatchHit] | None:
        """The first of ``texts`` (utterance index, normalised text; in call order) that has a
        fuzzy hit, with that hit (the first phrase, in list order, that matches it).
        """
        if self.options.fuzzy is None:
            return None
        for index, text in texts:
            hit = self._first_fuzzy_phrase(text)
            if hit is not None:
                return index, hit
        return None

    def _first_fuzzy_phrase(self, text: str) -> MatchHit | None:
        """The hit of the first phrase, in list order, that matches ``text`` fuzzily."""
        for p_norm in self.normalized_phrases:
            check_budget()
            hit = self._fuzzy_pass(p_norm, text)
            if hit is not None:
                return hit
        return None

    def _fuzzy_pass(self, p_norm: str, text: str) -> MatchHit | None:
        """The hit of one phrase in one utterance, or None: a partial-ratio gate (it bounds
        the window scores of :func:`_fuzzy` from above, so it rules out no hit), then
        :func:`_fuzzy`.
        """
        threshold = self.options.fuzzy
        assert threshold is not None
        m = len(p_norm)
        if len(text) < threshold * m / (2 - threshold):
            return None  # too short to reach the threshold (never a candidate)
        if not fuzz.partial_ratio(p_norm, text, score_cutoff=threshold * 100):
            return None
        hit = _fuzzy(p_norm, text, threshold)
        return None if hit is None else MatchHit(self.by_norm[p_norm], "fuzzy", hit[0], hit[1])

    def pinyin_hits(self, call: CallText, candidates: Mapping[int, Sequence[tuple[int, int]]],
                    indices: Iterable[int] | None = None) -> dict[int, MatchHit]:
        """Pinyin hits among the utterances ``candidates`` names (those of ``indices`` only,
        when given): each gets the first phrase, in list order, with a window that matches,
        and that phrase's best window.

        ``candidates`` maps an utterance to the (phrase position in :attr:`pinyin_phrases`,
        window start in :attr:`CallText.joined`) pairs worth scoring there, sorted: every
        window that can pass must be among them
        (:meth:`~qa_pipeline.rubric.phrase_index.PhraseIndex.pinyin_candidates` finds them in
        one scan).
        """
        hits: dict[int, MatchHit] = {}
        chosen = candidates if indices is None else [i for i in indices if i in candidates]
        for i in chosen:
            check_budget()
            for position, windows in itertools.groupby(candidates[i], key=_FIRST):
                phrase, _, p_ids = self.pinyin_phrases[position]
                best = self._best_pinyin_window(p_ids, call.syllables,
                                                [start for _, start in windows])
                if best is not None:
                    score, start = best
                    hits[i] = MatchHit(phrase, "pinyin", score,
                                       call.joined[start:start + len(p_ids)])
                    break
        return hits

    def _best_pinyin_window(self, p_ids: tuple[int, ...], ids: Sequence[int],
                            starts: Iterable[int]) -> tuple[float, int] | None:
        """(score, start) of the best-scoring window among ``starts`` (the first on ties)."""
        best: tuple[float, int] | None = None
        for start in starts:
            score = _pinyin_score(p_ids, ids[start:start + len(p_ids)])
            if score is not None and score >= self.options.pinyin_threshold and (
                    best is None or score > best[0]):
                best = (score, start)
        return best


@lru_cache(maxsize=4096)
def compile_matcher(phrases: tuple[str, ...], patterns: tuple[str, ...] = (),
                    options: MatchOptions = MatchOptions()) -> CompiledMatcher:
    """Compiled matcher for a phrase list (cached: rubrics reuse their lists on every call)."""
    return CompiledMatcher(phrases, patterns, options)


def match_phrase(phrase: str, text: str, options: MatchOptions) -> MatchHit | None:
    """Best way ``phrase`` occurs in ``text`` (both raw), or None."""
    return compile_matcher((phrase,), (), options).find(text)


def _fuzzy(phrase: str, text: str, threshold: float) -> tuple[float, str] | None:
    if is_chinese(phrase):
        if len(text) < len(phrase):
            # A text shorter than the phrase is compared whole: aligned inside the phrase,
            # 我管 would score 100 against 这不归我管.
            whole = fuzz.ratio(phrase, text) / 100.0
            return (whole, text) if whole >= threshold else None
        result = fuzz.partial_ratio_alignment(phrase, text)
        if result is None:
            return None
        score = result.score / 100.0
        return (score, text[result.dest_start:result.dest_end]) if score >= threshold else None
    # English: compare against word windows of the phrase's length (+-1).
    words = text.split()
    n = len(phrase.split())
    sizes = sorted({max(1, n - 1), n, n + 1})
    if " ".join(words) == text:  # normalised text: each window is a slice of it
        offsets = list(itertools.accumulate((len(w) + 1 for w in words), initial=0))
        windows = [text[offsets[i]:offsets[min(i + size, len(words))] - 1] for size in sizes
                   for i in range(0, max(1, len(words) - size + 1))]
    else:
        windows = [" ".join(words[i:i + size]) for size in sizes
                   for i in range(0, max(1, len(words) - size + 1))]
    # The best window, the first of equals (scored in C); the threshold is checked again as
    # a fraction, as the other fuzzy tests compare it, so rounding in threshold * 100 cannot
    # drop a window that scores exactly the threshold.
    best = process.extractOne(phrase, windows, scorer=fuzz.ratio,
                              score_cutoff=threshold * 100 - 1e-6)
    if best is None or best[1] / 100.0 < threshold:
        return None
    return best[1] / 100.0, best[0]


_WORD_CHAR = re.compile("[a-z0-9]")
_FIRST = itemgetter(0)


def _allowed_mismatches(n: int) -> int:
    return 0 if n == 1 else 1 if n <= 4 else 2


def _pinyin_score(p_ids: tuple[int, ...], window: Sequence[int]) -> float | None:
    """Score of a syllable-wise pinyin match of a window, or None: every syllable equal after
    merging confusable sounds, except at most one (two for phrases of five or more syllables)
    within one edit. Score: 1 - mismatched syllables / (2 * syllables).

    A plain similarity threshold over the whole pinyin string lets two half-matching
    syllables through (理赔给您 ~ 时内给您); counting syllables does not.
    """
    n = len(p_ids)
    if n == 0 or len(window) < n:
        return None
    allowed = _allowed_mismatches(n)
    # In a two-syllable phrase one wrong syllable is half the phrase: only a confusable
    # initial with the same final counts (投诉 ~ 投注), not any one-letter change (你好 ≁ 机号).
    strict = n <= 2
    names = _SYLLABLE_NAMES
    mismatches = 0
    for a, b in zip(p_ids, window, strict=True):
        if a == b:
            continue
        mismatches += 1
        if mismatches > allowed or b == 1 or not _syllables_close(names[a], names[b], strict):
            return None
    return 1.0 - mismatches / (2 * n)


_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q",
             "x", "r", "z", "c", "s", "y", "w")
# Initials that ASR (and speakers' accents) confuse; zh/ch/sh and n are already merged away.
_CONFUSABLE = tuple(frozenset(g) for g in ("zcs", "bp", "dt", "gk", "jqx", "fh", "lr"))


@lru_cache(maxsize=8192)
def _split_syllable(syl: str) -> tuple[str, str]:
    for ini in _INITIALS:
        if syl.startswith(ini) and len(syl) > len(ini):
            return ini, syl[len(ini):]
    return "", syl


@lru_cache(maxsize=65536)
def _syllables_close(a: str, b: str, strict: bool) -> bool:
    """Whether two (merged) syllables may stand for each other in a pinyin match."""
    if not strict:
        return _edit_distance(a, b) <= 1
    ia, fa = _split_syllable(a)
    ib, fb = _split_syllable(b)
    return fa == fb and any(ia in g and ib in g for g in _CONFUSABLE)


def _edit_distance(a: str, b: str) -> int:
    return int(Levenshtein.distance(a, b))
